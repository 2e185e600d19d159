import type { RedisClient } from '../redis/connect.js'
import { type AtomicResult, type AtomicWrite, defineAtomic, runAtomic } from './atomic.js'

/** The store's limits (config: CHANGELOG_MAXLEN, AUDIT_MAXLEN, HISTORY_MAX_VERSIONS). */
export interface StoreLimits {
  changelogMaxLen: number
  /** Audit records kept per stream (0: all). */
  auditMaxLen: number
  /** Versions of a flag configuration kept in its history (0: all). */
  historyMaxVersions: number
}

/**
 * What every repository of src/store/ shares: the one client, the atomic
 * script and the limits. Internal to src/store/: nothing outside it gets a
 * StoreContext (test/unit/imports.test.ts keeps it so).
 */
export class StoreContext {
  constructor(
    readonly redis: RedisClient,
    readonly limits: StoreLimits,
  ) {
    defineAtomic(redis)
  }

  atomic(write: AtomicWrite): Promise<AtomicResult> {
    return runAtomic(this.redis, write)
  }

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
}
