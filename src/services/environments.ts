import { randomBytes, randomUUID } from 'node:crypto'
import { appError } from '../errors.js'
import type { FlagDefinitionRecord } from '../schemas/flag.js'
import { ENV_DELETED_TYPE } from '../store/changelog.js'
import { factKeys } from '../store/facts.js'
import { envKeys, globalKeys, RESERVED_ENV_KEYS } from '../store/keys.js'
import { type Actor, checkVersion, type ServiceDeps } from './context.js'
import type { FlagService } from './flags.js'

/** Fields of the environment's meta hash holding the secret replaced by the last rotation, and when it stops verifying. */
const PREVIOUS_SECRET = 'previousSigningSecret'
const PREVIOUS_SECRET_UNTIL = 'previousSigningSecretUntil'

export interface Environment {
  key: string
  name: string
  description?: string
  /** Browser streams must present a context signed with the environment's secret. */
  requireSignedContext: boolean
  createdAt: string
  /** 1 at creation, +1 per update: the ETag, checked against If-Match. */
  version: number
}

export interface CreateEnvironment {
  key: string
  name?: string
  description?: string
  requireSignedContext?: boolean
}

/** Environments written before versions existed are at version 1. */
function withVersion(e: Environment): Environment {
  return e.version === undefined ? { ...e, version: 1 } : e
}

export class EnvironmentService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly flags: FlagService,
  ) {}

  async list(): Promise<Environment[]> {
    const all = await this.deps.store.hgetAllJson<Environment>(globalKeys.envs)
    return Object.values(all)
      .map(withVersion)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.key.localeCompare(b.key))
  }

  async get(key: string): Promise<Environment> {
    const e = await this.deps.store.hgetJson<Environment>(globalKeys.envs, key)
    if (!e) throw appError('ENVIRONMENT_NOT_FOUND', key)
    return withVersion(e)
  }

  /** The HMAC secret a site's backend uses to sign browser contexts. */
  async signingSecret(key: string): Promise<string> {
    await this.get(key)
    const k = envKeys(key).meta
    await this.deps.store.redis.hsetnx(k, 'signingSecret', randomBytes(32).toString('base64url'))
    return (await this.deps.store.redis.hget(k, 'signingSecret')) as string
  }

  /**
   * The secrets a context signature may be made with now: the current one and,
   * until its grace period after a rotation ends, the previous one.
   */
  async verifyingSecrets(key: string): Promise<string[]> {
    const [current, previous, until] = await this.deps.store.redis.hmget(
      envKeys(key).meta,
      'signingSecret',
      PREVIOUS_SECRET,
      PREVIOUS_SECRET_UNTIL,
    )
    const secrets = [current ?? (await this.signingSecret(key))]
    if (previous && until && Date.parse(until) > this.deps.now().getTime()) secrets.push(previous)
    return secrets
  }

  /**
   * Replaces the signing secret; the old one keeps verifying for `graceSeconds`
   * (0: at once no longer), so site backends can switch without refusals.
   * A previous secret still in its grace period is dropped: only one is kept.
   */
  async rotateSigningSecret(
    key: string,
    graceSeconds: number,
    actor: Actor,
  ): Promise<{ signingSecret: string; previousValidUntil: string | null }> {
    const old = await this.signingSecret(key)
    const { store } = this.deps
    const at = this.deps.now()
    const next = randomBytes(32).toString('base64url')
    const until = graceSeconds > 0 ? new Date(at.getTime() + graceSeconds * 1000).toISOString() : null
    const k = envKeys(key)
    const r = await store.atomic({
      checks: [{ key: k.meta, field: 'signingSecret', op: 'eq', value: old }],
      commands: [
        until === null
          ? ['HDEL', k.meta, PREVIOUS_SECRET, PREVIOUS_SECRET_UNTIL]
          : ['HSET', k.meta, PREVIOUS_SECRET, old, PREVIOUS_SECRET_UNTIL, until],
        ['HSET', k.meta, 'signingSecret', next],
        // Never the secrets themselves.
        store.auditCommand(k.audit, {
          at: at.toISOString(),
          actor: actor.name,
          actorTokenId: actor.tokenId,
          action: 'environment.signing-secret.rotate',
          env: key,
          target: { type: 'environment', key },
          details: { graceSeconds, previousValidUntil: until },
          ...(actor.requestId && { requestId: actor.requestId }),
        }),
      ],
    })
    if (!r.ok) throw appError('WRITE_CONFLICT', `the signing secret of ${key}`)
    return { signingSecret: next, previousValidUntil: until }
  }

  async create(input: CreateEnvironment, actor: Actor): Promise<Environment> {
    if (RESERVED_ENV_KEYS.has(input.key))
      throw appError('RESERVED_NAME', input.key, 'its data would share Redis keys with global data')
    const env: Environment = {
      key: input.key,
      name: input.name ?? input.key,
      requireSignedContext: input.requireSignedContext ?? false,
      createdAt: this.deps.now().toISOString(),
      version: 1,
      ...(input.description !== undefined && { description: input.description }),
    }
    const { store } = this.deps
    const r = await store.atomic({
      checks: [{ key: globalKeys.envs, field: env.key, op: 'absent' }],
      commands: [
        ['HSET', globalKeys.envs, env.key, JSON.stringify(env)],
        store.auditCommand(globalKeys.audit, {
          at: env.createdAt,
          actor: actor.name,
          actorTokenId: actor.tokenId,
          action: 'environment.create',
          env: env.key,
          target: { type: 'environment', key: env.key },
          ...(actor.requestId && { requestId: actor.requestId }),
        }),
      ],
    })
    if (!r.ok) throw appError('ENVIRONMENT_EXISTS', env.key)
    await store.redis.hset(envKeys(env.key).meta, 'generation', randomUUID())
    await store.redis.hsetnx(envKeys(env.key).meta, 'signingSecret', randomBytes(32).toString('base64url'))
    const defs = await store.hgetAllJson<FlagDefinitionRecord>(globalKeys.flagDefs)
    for (const def of Object.values(defs)) await this.flags.ensureConfig(env.key, def, actor)
    return env
  }

  async update(
    key: string,
    patch: { name?: string; description?: string; requireSignedContext?: boolean },
    actor: Actor,
    ifMatch?: number,
  ): Promise<Environment> {
    const { store } = this.deps
    const raw = await store.redis.hget(globalKeys.envs, key)
    if (raw === null) throw appError('ENVIRONMENT_NOT_FOUND', key)
    const cur = withVersion(JSON.parse(raw) as Environment)
    checkVersion(cur.version, ifMatch)
    const next = { ...cur, ...patch, version: cur.version + 1 }
    const r = await store.atomic({
      checks: [{ key: globalKeys.envs, field: key, op: 'eq', value: raw }],
      commands: [
        ['HSET', globalKeys.envs, key, JSON.stringify(next)],
        store.auditCommand(globalKeys.audit, {
          at: this.deps.now().toISOString(),
          actor: actor.name,
          actorTokenId: actor.tokenId,
          action: 'environment.update',
          env: key,
          target: { type: 'environment', key },
          details: patch,
          ...(actor.requestId && { requestId: actor.requestId }),
        }),
      ],
    })
    if (!r.ok) {
      // Someone else's update won: a caller who named a version learns it is stale.
      if (ifMatch !== undefined) checkVersion((await this.get(key)).version, ifMatch)
      throw appError('WRITE_CONFLICT', `environment ${key}`)
    }
    return next
  }

  /**
   * Start-up repair: a flag created while a process died half-way may lack its
   * configuration in some environments; write the default (off) one there.
   */
  async repair(): Promise<void> {
    const actor = { name: 'system', tokenId: 'system' }
    const { store } = this.deps
    const defs = await store.hgetAllJson<FlagDefinitionRecord>(globalKeys.flagDefs)
    for (const env of await store.redis.hkeys(globalKeys.envs)) {
      await store.redis.hsetnx(envKeys(env).meta, 'generation', randomUUID())
      const have = new Set(await store.redis.hkeys(envKeys(env).flagVersions))
      for (const def of Object.values(defs)) if (!have.has(def.key)) await this.flags.ensureConfig(env, def, actor)
    }
  }

  /** Deletes the environment and every key it owns. */
  async remove(key: string, actor: Actor, ifMatch?: number): Promise<void> {
    const { store } = this.deps
    const raw = await store.redis.hget(globalKeys.envs, key)
    if (raw === null) throw appError('ENVIRONMENT_NOT_FOUND', key)
    checkVersion(withVersion(JSON.parse(raw) as Environment).version, ifMatch)
    const r = await store.atomic({
      // With If-Match, the version checked must still be the one deleted.
      checks: ifMatch === undefined ? [] : [{ key: globalKeys.envs, field: key, op: 'eq', value: raw }],
      commands: [
        ['HDEL', globalKeys.envs, key],
        store.auditCommand(globalKeys.audit, {
          at: this.deps.now().toISOString(),
          actor: actor.name,
          actorTokenId: actor.tokenId,
          action: 'environment.delete',
          env: key,
          target: { type: 'environment', key },
          ...(actor.requestId && { requestId: actor.requestId }),
        }),
      ],
    })
    if (!r.ok) {
      checkVersion((await this.get(key)).version, ifMatch)
      throw appError('WRITE_CONFLICT', `environment ${key}`)
    }
    const k = envKeys(key)
    // First the generation (readers compare it after each read), then the entry that wakes them.
    await store.redis.hdel(k.meta, 'generation')
    // Wakes the readers blocked on the log (XREAD) so they notice at once; entry types they do not know are skipped.
    await store.redis.call(...store.changeCommand(key, ENV_DELETED_TYPE, {}))
    const [flags, segs] = await Promise.all([store.redis.hkeys(k.flagVersions), store.redis.hkeys(k.segmentVersions)])
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
      ...Object.values(factKeys(key)),
    ]
    for (let i = 0; i < doomed.length; i += 500) await store.redis.unlink(...doomed.slice(i, i + 500))
  }
}
