import { randomBytes, randomUUID } from 'node:crypto'
import type { Environment } from '../schemas/environment.js'
import { type AuditRecord, auditCommand } from './audit.js'
import { ENV_DELETED_TYPE, type ChangeLog } from './changelog.js'
import type { StoreContext } from './context.js'
import type { FactRepository } from './facts.js'
import { envKeys, globalKeys } from './keys.js'
import type { PlanRepository } from './plans.js'

export { RESERVED_ENV_KEYS } from './keys.js'

/** Fields of the environment's meta hash holding the secret replaced by the last rotation, and when it stops verifying. */
const PREVIOUS_SECRET = 'previousSigningSecret'
const PREVIOUS_SECRET_UNTIL = 'previousSigningSecretUntil'

export type { Environment } from '../schemas/environment.js'

/** An environment as read, with the stamp a conditional write compares (its stored form). */
export interface StampedEnvironment {
  env: Environment
  stamp: string
}

/** A fresh signing secret: 256 random bits. */
function newSecret(): string {
  return randomBytes(32).toString('base64url')
}

/**
 * Environments: their records (global), and each one's meta hash (signing
 * secrets, `generation`). Record writes are atomic with their audit record.
 */
export class EnvironmentRepository {
  constructor(
    private readonly ctx: StoreContext,
    private readonly changelog: ChangeLog,
    /** Its keys go with the environment's on delete. */
    private readonly plans: PlanRepository,
    /** Its keys go with the environment's on delete. */
    private readonly facts: FactRepository,
  ) {}

  all(): Promise<Record<string, Environment>> {
    return this.ctx.hgetAllJson<Environment>(globalKeys.envs)
  }

  get(key: string): Promise<Environment | null> {
    return this.ctx.hgetJson<Environment>(globalKeys.envs, key)
  }

  async stamped(key: string): Promise<StampedEnvironment | null> {
    const raw = await this.ctx.redis.hget(globalKeys.envs, key)
    return raw === null ? null : { env: JSON.parse(raw) as Environment, stamp: raw }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.ctx.redis.hexists(globalKeys.envs, key)) === 1
  }

  keys(): Promise<string[]> {
    return this.ctx.redis.hkeys(globalKeys.envs)
  }

  /**
   * Writes a new environment's record; false when one with that key exists.
   * Then its meta hash: a new `generation` (readers tell a re-created
   * environment from the deleted one by it) and a signing secret. Those live
   * in the environment's own hash slot, not the record's ({global}), so they
   * cannot join its atomic write; they carry no history, and a crash before
   * them is repaired (ensureGeneration at start-up, signingSecret on first use).
   */
  async create(env: Environment, audit: AuditRecord): Promise<boolean> {
    const r = await this.ctx.atomic({
      checks: [{ key: globalKeys.envs, field: env.key, op: 'absent' }],
      commands: [['HSET', globalKeys.envs, env.key, JSON.stringify(env)], auditCommand(this.ctx, null, audit)],
    })
    if (!r.ok) return false
    const meta = envKeys(env.key).meta
    await this.ctx.redis.hset(meta, 'generation', randomUUID())
    await this.ctx.redis.hsetnx(meta, 'signingSecret', newSecret())
    return true
  }

  /** False when the record is no longer the one read as `stamp`. */
  async replace(next: Environment, stamp: string, audit: AuditRecord): Promise<boolean> {
    const r = await this.ctx.atomic({
      checks: [{ key: globalKeys.envs, field: next.key, op: 'eq', value: stamp }],
      commands: [['HSET', globalKeys.envs, next.key, JSON.stringify(next)], auditCommand(this.ctx, null, audit)],
    })
    return r.ok
  }

  /**
   * Deletes the record (only if it is still `stamp`, when given; false
   * otherwise), then every key the environment owns. The purge is outside the
   * record's atomic write (another hash slot, and possibly millions of
   * members): first the generation (readers compare it after each read), then
   * a change-log entry that wakes readers blocked on the log, then the keys.
   */
  async delete(key: string, stamp: string | undefined, audit: AuditRecord): Promise<boolean> {
    const r = await this.ctx.atomic({
      checks: stamp === undefined ? [] : [{ key: globalKeys.envs, field: key, op: 'eq', value: stamp }],
      commands: [['HDEL', globalKeys.envs, key], auditCommand(this.ctx, null, audit)],
    })
    if (!r.ok) return false
    const { redis } = this.ctx
    const k = envKeys(key)
    await redis.hdel(k.meta, 'generation')
    await this.changelog.announce(key, ENV_DELETED_TYPE, {})
    const [flags, segs] = await Promise.all([redis.hkeys(k.flagVersions), redis.hkeys(k.segmentVersions)])
    const doomed = [
      ...flags.map((f) => k.history(f)),
      ...segs.flatMap((s) => [k.included(s), k.excluded(s)]),
      k.flags,
      k.flagVersions,
      k.segments,
      k.segmentVersions,
      k.log,
      k.audit,
      k.meta,
      k.sdkReports,
      ...this.facts.keysOf(key),
      ...this.plans.keysOf(key),
    ]
    for (let i = 0; i < doomed.length; i += 500) await redis.unlink(...doomed.slice(i, i + 500))
    return true
  }

  /** The environment's `generation` (null: deleted, or never created by this version). */
  generation(key: string): Promise<string | null> {
    return this.ctx.redis.hget(envKeys(key).meta, 'generation')
  }

  /** Start-up repair: an environment without a generation (from before them, or a crash at creation) gets one. */
  async ensureGeneration(key: string): Promise<void> {
    await this.ctx.redis.hsetnx(envKeys(key).meta, 'generation', randomUUID())
  }

  /** The current signing secret, created on first use. */
  async signingSecret(key: string): Promise<string> {
    const meta = envKeys(key).meta
    await this.ctx.redis.hsetnx(meta, 'signingSecret', newSecret())
    return (await this.ctx.redis.hget(meta, 'signingSecret')) as string
  }

  /** The current secret (null: none yet), the previous one and until when it verifies. */
  async secrets(key: string): Promise<{ current: string | null; previous: string | null; until: string | null }> {
    const [current, previous, until] = await this.ctx.redis.hmget(
      envKeys(key).meta,
      'signingSecret',
      PREVIOUS_SECRET,
      PREVIOUS_SECRET_UNTIL,
    )
    return { current: current ?? null, previous: previous ?? null, until: until ?? null }
  }

  /**
   * Replaces the signing secret `old` by a new one, which it returns; `old`
   * keeps verifying until `until` (null: not at all). Null when the secret is
   * no longer `old` (a concurrent rotation). Never audits the secrets themselves.
   */
  async rotateSecret(key: string, old: string, until: string | null, audit: AuditRecord): Promise<string | null> {
    const k = envKeys(key)
    const next = newSecret()
    const r = await this.ctx.atomic({
      checks: [{ key: k.meta, field: 'signingSecret', op: 'eq', value: old }],
      commands: [
        until === null
          ? ['HDEL', k.meta, PREVIOUS_SECRET, PREVIOUS_SECRET_UNTIL]
          : ['HSET', k.meta, PREVIOUS_SECRET, old, PREVIOUS_SECRET_UNTIL, until],
        ['HSET', k.meta, 'signingSecret', next],
        auditCommand(this.ctx, key, audit),
      ],
    })
    return r.ok ? next : null
  }
}
