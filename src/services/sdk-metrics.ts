import type { Counter } from 'prom-client'
import { appError } from '../errors.js'
import { compareIds, idTime, isStreamId } from '../stream/changelog.js'
import { envKeys } from '../store/keys.js'
import type { Store } from '../store/store.js'

/** What an SDK sends to POST /api/v1/sdk/metrics. */
export interface SdkReportInput {
  sdkId: string
  sdkVersion?: string
  mode: 'server' | 'client'
  appliedId: string | null
  startedAt?: string
  counts?: Record<string, Record<string, number>>
}

/** One SDK instance's latest report, as stored. */
export interface SdkReport {
  sdkId: string
  sdkVersion?: string
  mode: 'server' | 'client'
  appliedId: string | null
  startedAt?: string
  reportedAt: string
  /** When each recent applied id was first reported (newest last), to tell how long a change took to arrive. */
  history: Array<{ appliedId: string; at: string }>
}

export interface SdkStatus {
  changeId: string
  changeAt: string
  total: number
  applied: number
  pending: string[]
  instances: Array<{
    sdkId: string
    mode: 'server' | 'client'
    sdkVersion?: string
    appliedId: string | null
    reportedAt: string
    applied: boolean
    /** First report that showed this change (or a later one) applied; absent when not applied or not known. */
    appliedAt?: string
    /** appliedAt − changeAt: an upper bound of the propagation time (SDKs report ~1 s after applying). */
    lagMs?: number
  }>
}

/** Reports older than this are not counted and are deleted when read. */
export const REPORT_TTL_MS = 10 * 60_000
/** Instances kept per environment; beyond it (after pruning stale ones) reports are refused with 429. */
const MAX_INSTANCES = 20_000
const HISTORY = 20
const VARIATION = /^(?:\d{1,4}|default)$/

/**
 * SDK reports: the latest per instance (a hash field per sdkId) and the
 * evaluation counter. Browser tokens are public, so nothing here trusts the
 * input: counters are only kept for flags that exist (bounded label values).
 */
export class SdkMetricsService {
  constructor(
    private readonly store: Store,
    private readonly evaluations: Counter<'env' | 'flag' | 'variation'>,
    private readonly now: () => Date,
  ) {}

  async report(env: string, input: SdkReportInput): Promise<void> {
    const key = envKeys(env).sdkReports
    const redis = this.store.redis
    const [prevRaw, size, flagKeys] = await Promise.all([redis.hget(key, input.sdkId), redis.hlen(key), input.counts ? redis.hkeys(envKeys(env).flags) : Promise.resolve([])])
    if (prevRaw === null && size >= MAX_INSTANCES) {
      await this.prune(env, await redis.hgetall(key))
      if ((await redis.hlen(key)) >= MAX_INSTANCES) throw appError('RATE_LIMITED')
    }
    const at = this.now().toISOString()
    const prev = prevRaw === null ? null : (JSON.parse(prevRaw) as SdkReport)
    const history = prev?.history ?? []
    if (input.appliedId !== null && isStreamId(input.appliedId) && history[history.length - 1]?.appliedId !== input.appliedId) {
      history.push({ appliedId: input.appliedId, at })
    }
    const rec: SdkReport = {
      sdkId: input.sdkId,
      mode: input.mode,
      appliedId: input.appliedId,
      reportedAt: at,
      history: history.slice(-HISTORY),
      ...(input.sdkVersion !== undefined && { sdkVersion: input.sdkVersion }),
      ...(input.startedAt !== undefined && { startedAt: input.startedAt }),
    }
    await redis.hset(key, input.sdkId, JSON.stringify(rec))
    const known = new Set(flagKeys)
    for (const [flag, byVariation] of Object.entries(input.counts ?? {})) {
      if (!known.has(flag)) continue
      for (const [variation, n] of Object.entries(byVariation)) {
        if (VARIATION.test(variation) && Number.isSafeInteger(n) && n > 0) this.evaluations.inc({ env, flag, variation }, n)
      }
    }
  }

  /** Which SDK instances (reporting in the last 10 minutes) have applied `changeId`, and when. */
  async status(env: string, changeId: string): Promise<SdkStatus> {
    if (!isStreamId(changeId)) throw appError('VALIDATION_FAILED', 'changeId must be a change-log id such as "1700000000000-0"')
    const all = await this.store.redis.hgetall(envKeys(env).sdkReports)
    const live = await this.prune(env, all)
    const changeMs = idTime(changeId)
    const instances: SdkStatus['instances'] = live
      .sort((a, b) => a.sdkId.localeCompare(b.sdkId))
      .map((r) => {
        const applied = r.appliedId !== null && isStreamId(r.appliedId) && compareIds(r.appliedId, changeId) >= 0
        const first = applied ? r.history.find((h) => isStreamId(h.appliedId) && compareIds(h.appliedId, changeId) >= 0) : undefined
        return {
          sdkId: r.sdkId,
          mode: r.mode,
          ...(r.sdkVersion !== undefined && { sdkVersion: r.sdkVersion }),
          appliedId: r.appliedId,
          reportedAt: r.reportedAt,
          applied,
          ...(first && { appliedAt: first.at, lagMs: Math.max(0, Date.parse(first.at) - changeMs) }),
        }
      })
    return {
      changeId,
      changeAt: new Date(changeMs).toISOString(),
      total: instances.length,
      applied: instances.filter((i) => i.applied).length,
      pending: instances.filter((i) => !i.applied).map((i) => i.sdkId),
      instances,
    }
  }

  /** Parses the reports, deletes the stale ones, returns the live ones. */
  private async prune(env: string, all: Record<string, string>): Promise<SdkReport[]> {
    const cutoff = this.now().getTime() - REPORT_TTL_MS
    const live: SdkReport[] = []
    const stale: string[] = []
    for (const [id, raw] of Object.entries(all)) {
      let r: SdkReport | null = null
      try {
        r = JSON.parse(raw) as SdkReport
      } catch {
        // unreadable: drop it
      }
      if (r !== null && Date.parse(r.reportedAt) >= cutoff) live.push(r)
      else stale.push(id)
    }
    for (let i = 0; i < stale.length; i += 1000) await this.store.redis.hdel(envKeys(env).sdkReports, ...stale.slice(i, i + 1000))
    return live
  }
}
