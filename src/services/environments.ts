import { appError } from '../errors.js'
import type { CreateEnvironment, Environment, PatchEnvironment, SigningSecretRotation } from '../schemas/environment.js'
import { RESERVED_ENV_KEYS } from '../store/environments.js'
import { type Actor, auditRecord, checkVersion, type ServiceDeps } from './context.js'
import type { FlagService } from './flags.js'

export type { Environment } from '../schemas/environment.js'
export { RESERVED_ENV_KEYS } from '../store/environments.js'

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
    const all = await this.deps.store.environments.all()
    return Object.values(all)
      .map(withVersion)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.key.localeCompare(b.key))
  }

  async get(key: string): Promise<Environment> {
    const e = await this.deps.store.environments.get(key)
    if (!e) throw appError('ENVIRONMENT_NOT_FOUND', key)
    return withVersion(e)
  }

  /** The HMAC secret a site's backend uses to sign browser contexts. */
  async signingSecret(key: string): Promise<string> {
    await this.get(key)
    return this.deps.store.environments.signingSecret(key)
  }

  /**
   * The secrets a context signature may be made with now: the current one and,
   * until its grace period after a rotation ends, the previous one.
   */
  async verifyingSecrets(key: string): Promise<string[]> {
    const { current, previous, until } = await this.deps.store.environments.secrets(key)
    const secrets = [current ?? (await this.signingSecret(key))]
    if (previous && until && Date.parse(until) > this.deps.now().getTime()) secrets.push(previous)
    return secrets
  }

  /**
   * Replaces the signing secret; the old one keeps verifying for `graceSeconds`
   * (0: at once no longer), so site backends can switch without refusals.
   * A previous secret still in its grace period is dropped: only one is kept.
   */
  async rotateSigningSecret(key: string, graceSeconds: number, actor: Actor): Promise<SigningSecretRotation> {
    const old = await this.signingSecret(key)
    const at = this.deps.now()
    const until = graceSeconds > 0 ? new Date(at.getTime() + graceSeconds * 1000).toISOString() : null
    const next = await this.deps.store.environments.rotateSecret(
      key,
      old,
      until,
      auditRecord(
        actor,
        at.toISOString(),
        'environment.signing-secret.rotate',
        key,
        { type: 'environment', key },
        {
          details: { graceSeconds, previousValidUntil: until },
        },
      ),
    )
    if (next === null) throw appError('WRITE_CONFLICT', `the signing secret of ${key}`)
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
    const created = await store.environments.create(
      env,
      auditRecord(actor, env.createdAt, 'environment.create', env.key, { type: 'environment', key: env.key }),
    )
    if (!created) throw appError('ENVIRONMENT_EXISTS', env.key)
    const defs = await store.flags.definitions()
    for (const def of Object.values(defs)) await this.flags.ensureConfig(env.key, def, actor)
    return env
  }

  async update(key: string, patch: PatchEnvironment, actor: Actor, ifMatch?: number): Promise<Environment> {
    const { store } = this.deps
    const stamped = await store.environments.stamped(key)
    if (stamped === null) throw appError('ENVIRONMENT_NOT_FOUND', key)
    const cur = withVersion(stamped.env)
    checkVersion(cur.version, ifMatch)
    const next = { ...cur, ...patch, version: cur.version + 1 }
    const replaced = await store.environments.replace(
      next,
      stamped.stamp,
      auditRecord(
        actor,
        this.deps.now().toISOString(),
        'environment.update',
        key,
        { type: 'environment', key },
        {
          details: patch,
        },
      ),
    )
    if (!replaced) {
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
    const defs = await store.flags.definitions()
    for (const env of await store.environments.keys()) {
      await store.environments.ensureGeneration(env)
      const have = await store.flags.configured(env)
      for (const def of Object.values(defs)) if (!have.has(def.key)) await this.flags.ensureConfig(env, def, actor)
    }
  }

  /** Deletes the environment and every key it owns. */
  async remove(key: string, actor: Actor, ifMatch?: number): Promise<void> {
    const { store } = this.deps
    const stamped = await store.environments.stamped(key)
    if (stamped === null) throw appError('ENVIRONMENT_NOT_FOUND', key)
    checkVersion(withVersion(stamped.env).version, ifMatch)
    const deleted = await store.environments.delete(
      key,
      // With If-Match, the version checked must still be the one deleted.
      ifMatch === undefined ? undefined : stamped.stamp,
      auditRecord(actor, this.deps.now().toISOString(), 'environment.delete', key, { type: 'environment', key }),
    )
    if (!deleted) {
      checkVersion((await this.get(key)).version, ifMatch)
      throw appError('WRITE_CONFLICT', `environment ${key}`)
    }
  }
}
