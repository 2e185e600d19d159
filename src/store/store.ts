import type { RedisClient } from '../redis/connect.js'
import type { RulesetFlag } from '../../sdk/core/types.js'
import { type AtomicResult, type AtomicWrite, type Check, type Command, defineAtomic, runAtomic } from './atomic.js'
import { appendCommand, type EntryData, type EntryType } from './changelog.js'
import { envKeys, globalKeys } from './keys.js'
import { appError } from '../errors.js'
import type { AuditRecord } from '../schemas/audit.js'

/** Whether `s` (digits) fits Redis's unsigned 64-bit stream-id parts and SSCAN cursors; Redis refuses larger ones. */
export function isUint64(s: string): boolean {
  return /^\d{1,20}$/.test(s) && BigInt(s) < 2n ** 64n
}

/**
 * The only code that knows Redis keys. Reads are plain commands; every write
 * goes through `atomic()` (one Lua script: checks, state, history, audit,
 * change log).
 */
export class Store {
  readonly redis: RedisClient
  readonly changelogMaxLen: number

  /** Audit records kept per stream (0: all). */
  readonly auditMaxLen: number
  /** Versions of a flag configuration kept in its history (0: all). */
  readonly historyMaxVersions: number

  constructor(
    redis: RedisClient,
    opts: { changelogMaxLen: number; auditMaxLen?: number; historyMaxVersions?: number },
  ) {
    this.redis = redis
    this.changelogMaxLen = opts.changelogMaxLen
    this.auditMaxLen = opts.auditMaxLen ?? 0
    this.historyMaxVersions = opts.historyMaxVersions ?? 0
    defineAtomic(redis)
  }

  atomic(write: AtomicWrite): Promise<AtomicResult> {
    return runAtomic(this.redis, write)
  }

  // ---- command builders (no I/O) ----

  auditCommand(auditKey: string, record: AuditRecord): Command {
    // Approximate trimming (~) keeps XADD O(1): Redis drops whole macro nodes.
    if (this.auditMaxLen > 0)
      return ['XADD', auditKey, 'MAXLEN', '~', this.auditMaxLen, '*', 'r', JSON.stringify(record)]
    return ['XADD', auditKey, '*', 'r', JSON.stringify(record)]
  }

  /** Appends one change-log entry, capped at CHANGELOG_MAXLEN (src/store/changelog.ts). */
  changeCommand<T extends EntryType>(env: string, type: T, data: EntryData[T]): Command {
    return appendCommand(this.changelogMaxLen, env, type, data)
  }

  /**
   * Checks that no flag of `env` changed, appeared or disappeared since
   * `flags` was read: a delete that verified "nobody refers to this" stays
   * true at the moment it is written.
   */
  flagsUnchanged(env: string, flags: Record<string, RulesetFlag>): Check[] {
    const k = envKeys(env)
    const all = Object.values(flags)
    return [
      { key: k.flagVersions, field: '', op: 'len', value: String(all.length) },
      ...all.map((f): Check => ({ key: k.flagVersions, field: f.key, op: 'eq', value: String(f.version) })),
    ]
  }

  // ---- reads ----

  async hgetJson<T>(key: string, field: string): Promise<T | null> {
    const s = await this.redis.hget(key, field)
    return s === null ? null : (JSON.parse(s) as T)
  }

  async hgetAllJson<T>(key: string): Promise<Record<string, T>> {
    const all = await this.redis.hgetall(key)
    const out: Record<string, T> = {}
    for (const [k, v] of Object.entries(all)) out[k] = JSON.parse(v) as T
    return out
  }

  getFlag(env: string, key: string): Promise<RulesetFlag | null> {
    return this.hgetJson<RulesetFlag>(envKeys(env).flags, key)
  }

  getFlags(env: string): Promise<Record<string, RulesetFlag>> {
    return this.hgetAllJson<RulesetFlag>(envKeys(env).flags)
  }

  async envExists(env: string): Promise<boolean> {
    return (await this.redis.hexists(globalKeys.envs, env)) === 1
  }

  /** The one environment-exists check of routes and services: ENVIRONMENT_NOT_FOUND when it does not. */
  async requireEnv(env: string): Promise<void> {
    if (!(await this.envExists(env))) throw appError('ENVIRONMENT_NOT_FOUND', env)
  }

  /** Last id of an environment's change log ('0-0' when empty). */
  async lastChangeId(env: string): Promise<string> {
    const r = (await this.redis.xrevrange(envKeys(env).log, '+', '-', 'COUNT', 1)) as Array<[string, string[]]>
    return r[0]?.[0] ?? '0-0'
  }
}
