import type { Counter } from 'prom-client'
import type { FactValue } from '../../sdk/core/types.js'
import { appError } from '../errors.js'
import { compareIds, idTime, isStreamId } from '../store/changelog.js'
import { envKeys } from '../store/keys.js'
import type { Store } from '../store/store.js'

/** Who sent a report: the kind of its token (never the body's `mode`, which anyone can write). */
export type ReporterKind = 'server' | 'client'

/** What an SDK sends to POST /api/v1/sdk/metrics. */
export interface SdkReportInput {
  sdkId: string
  sdkVersion?: string
  mode: 'server' | 'client'
  appliedId: string | null
  /** When the SDK applied `appliedId`, by its own clock. */
  appliedAt?: string
  /** When the SDK sent this report, by the same clock: with `appliedAt` it gives how long ago the change was applied. */
  sentAt?: string
  startedAt?: string
  counts?: Record<string, Record<string, number>>
  /** The SDK's last report (close()): it is forgotten instead of waiting 10 minutes as pending. */
  closing?: boolean
  /** The application embedding a server SDK, its runtime and the facts it passed to createClient. */
  application?: { name: string; version?: string }
  runtime?: string
  facts?: Record<string, FactValue>
}

/** The server SDK instances of one application version connected to an environment. */
export interface ConnectedApplication {
  name: string
  version: string | null
  instances: number
  runtimes: string[]
  sdkVersions: string[]
  /** The facts of the instance that reported last. */
  facts: Record<string, FactValue>
  lastReportAt: string
}

/** One SDK instance's latest report, as stored. */
export interface SdkReport {
  sdkId: string
  sdkVersion?: string
  mode: 'server' | 'client'
  appliedId: string | null
  startedAt?: string
  reportedAt: string
  /** When each recent applied id was applied, on this server's clock (newest last). */
  history: Array<{ appliedId: string; at: string }>
  application?: { name: string; version?: string }
  runtime?: string
  facts?: Record<string, FactValue>
}

interface Tally {
  total: number
  applied: number
  /** The cap of tracked instances is reached: instances beyond it are not in these numbers. */
  capped: boolean
}

export interface SdkStatus extends Tally {
  changeId: string
  changeAt: string
  pending: string[]
  instances: Array<{
    sdkId: string
    mode: 'server' | 'client'
    sdkVersion?: string
    appliedId: string | null
    reportedAt: string
    applied: boolean
    /** When this instance applied this change (or a later one), on this server's clock; absent when not applied or not known. */
    appliedAt?: string
    /** appliedAt − changeAt, never negative: the delivery time of the change to this instance. */
    lagMs?: number
  }>
  /** Browser SDKs (sdk-client tokens): counted apart, since their public token lets anyone report. */
  clients: Tally & { pending: number }
}

export interface SdkMetricsOptions {
  /** Server SDK instances tracked per environment (SDK_MAX_SERVER_INSTANCES). */
  maxServerInstances: number
  /** Browser SDK instances tracked per environment (SDK_MAX_CLIENT_INSTANCES). */
  maxClientInstances: number
  /** The number of variations of each flag the environment serves (undefined: no such flag). */
  variationsOf: (env: string) => Promise<(flag: string) => number | undefined>
  /** Reports of new instances beyond the cap, by kind. */
  untracked: Counter<'kind'>
  /** Evaluations reported for flags or variations that do not exist (not counted as labels). */
  dropped: Counter
}

/** Reports older than this are not counted and are deleted when read. */
export const REPORT_TTL_MS = 10 * 60_000
const HISTORY = 20
/** At a full cap, stale reports are looked for at most this often (a flood of new ids must not read the hash each time). */
const PRUNE_EVERY_MS = 10_000

/** HSET only when the field exists or the hash is under the cap: the cap holds under concurrent reports. */
const TRACK = `if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 or redis.call('HLEN', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0`

/**
 * SDK reports: the latest per instance (a hash field per sdkId, server and
 * browser SDKs in separate hashes) and the evaluation counter. Browser tokens
 * are public, so nothing here trusts the input: instances are capped per
 * environment and kind, and counters are only kept for flags and variations
 * that exist (bounded label values).
 */
export class SdkMetricsService {
  private readonly lastPrune = new Map<string, number>()

  constructor(
    private readonly store: Store,
    private readonly evaluations: Counter<'env' | 'flag' | 'variation'>,
    private readonly now: () => Date,
    private readonly o: SdkMetricsOptions,
  ) {}

  private key(env: string, kind: ReporterKind): string {
    const k = envKeys(env)
    return kind === 'server' ? k.sdkReports : k.sdkClientReports
  }

  /** `sinceArrivalMs`: how long ago the request arrived (authentication and reads must not count as delivery time). */
  async report(env: string, kind: ReporterKind, input: SdkReportInput, sinceArrivalMs = 0): Promise<void> {
    const key = this.key(env, kind)
    const redis = this.store.redis
    const [prevRaw, variations] = await Promise.all([
      input.closing ? Promise.resolve(null) : redis.hget(key, input.sdkId),
      input.counts ? this.o.variationsOf(env) : Promise.resolve(null),
    ])
    if (variations !== null) this.count(env, input.counts ?? {}, variations)
    if (input.closing) {
      await redis.hdel(key, input.sdkId)
      return
    }
    const now = this.now()
    const prev = prevRaw === null ? null : (JSON.parse(prevRaw) as SdkReport)
    const history = prev?.history ?? []
    if (
      input.appliedId !== null &&
      isStreamId(input.appliedId) &&
      history[history.length - 1]?.appliedId !== input.appliedId
    ) {
      history.push({
        appliedId: input.appliedId,
        at: new Date(appliedTime(input, now.getTime() - Math.max(0, sinceArrivalMs))).toISOString(),
      })
    }
    const rec: SdkReport = {
      sdkId: input.sdkId,
      mode: input.mode,
      appliedId: input.appliedId,
      reportedAt: now.toISOString(),
      history: history.slice(-HISTORY),
      ...(input.sdkVersion !== undefined && { sdkVersion: input.sdkVersion }),
      ...(input.startedAt !== undefined && { startedAt: input.startedAt }),
      ...(input.application !== undefined && { application: input.application }),
      ...(input.runtime !== undefined && { runtime: input.runtime }),
      ...(input.facts !== undefined && { facts: input.facts }),
    }
    const cap = kind === 'server' ? this.o.maxServerInstances : this.o.maxClientInstances
    const track = () => redis.eval(TRACK, 1, key, input.sdkId, JSON.stringify(rec), cap) as Promise<number>
    if ((await track()) === 1) return
    const last = this.lastPrune.get(key) ?? -Infinity
    if (now.getTime() - last >= PRUNE_EVERY_MS) {
      this.lastPrune.set(key, now.getTime())
      await this.prune(key, await redis.hgetall(key))
      if ((await track()) === 1) return
    }
    this.o.untracked.inc({ kind })
  }

  private count(
    env: string,
    counts: Record<string, Record<string, number>>,
    variations: (flag: string) => number | undefined,
  ): void {
    let dropped = 0
    for (const [flag, byVariation] of Object.entries(counts)) {
      const n = variations(flag)
      for (const [variation, c] of Object.entries(byVariation)) {
        if (!Number.isSafeInteger(c) || c <= 0) continue
        // Only label values that exist: at most (variations + 1) series per flag and environment.
        if (
          n !== undefined &&
          (variation === 'default' || (/^(?:0|[1-9]\d{0,3})$/.test(variation) && Number(variation) < n))
        ) {
          this.evaluations.inc({ env, flag, variation }, c)
        } else dropped += c
      }
    }
    if (dropped > 0) this.o.dropped.inc(dropped)
  }

  /** Which SDK instances (reporting in the last 10 minutes, not closed) have applied `changeId`, and when. */
  async status(env: string, changeId: string): Promise<SdkStatus> {
    if (!isStreamId(changeId))
      throw appError('VALIDATION_FAILED', 'changeId must be a change-log id such as "1700000000000-0"')
    const [servers, clients] = (await Promise.all(
      (['server', 'client'] as const).map(async (kind) => {
        const key = this.key(env, kind)
        const live = await this.prune(key, await this.store.redis.hgetall(key))
        return {
          live,
          capped: live.length >= (kind === 'server' ? this.o.maxServerInstances : this.o.maxClientInstances),
        }
      }),
    )) as [{ live: SdkReport[]; capped: boolean }, { live: SdkReport[]; capped: boolean }]
    const changeMs = idTime(changeId)
    const instances: SdkStatus['instances'] = servers.live
      .sort((a, b) => a.sdkId.localeCompare(b.sdkId))
      .map((r) => {
        const applied = hasApplied(r, changeId)
        const first = applied
          ? r.history.find((h) => isStreamId(h.appliedId) && compareIds(h.appliedId, changeId) >= 0)
          : undefined
        return {
          sdkId: r.sdkId,
          mode: r.mode,
          ...(r.sdkVersion !== undefined && { sdkVersion: r.sdkVersion }),
          appliedId: r.appliedId,
          reportedAt: r.reportedAt,
          applied,
          // Negative when this server's clock is behind Redis's (which stamps change ids): clamped.
          ...(first && { appliedAt: first.at, lagMs: Math.max(0, Date.parse(first.at) - changeMs) }),
        }
      })
    const clientsApplied = clients.live.filter((r) => hasApplied(r, changeId)).length
    return {
      changeId,
      changeAt: new Date(changeMs).toISOString(),
      total: instances.length,
      applied: instances.filter((i) => i.applied).length,
      pending: instances.filter((i) => !i.applied).map((i) => i.sdkId),
      capped: servers.capped,
      instances,
      clients: {
        total: clients.live.length,
        applied: clientsApplied,
        pending: clients.live.length - clientsApplied,
        capped: clients.capped,
      },
    }
  }

  /**
   * The applications connected to an environment: live server SDK reports (sdk-server tokens, the last
   * 10 minutes) grouped by application name and version; `unnamed` counts instances that name none.
   */
  async applications(env: string): Promise<{ items: ConnectedApplication[]; unnamed: number }> {
    const key = this.key(env, 'server')
    const live = await this.prune(key, await this.store.redis.hgetall(key))
    const groups = new Map<string, ConnectedApplication>()
    let unnamed = 0
    for (const r of live) {
      if (!r.application) {
        unnamed++
        continue
      }
      const version = r.application.version ?? null
      const id = JSON.stringify([r.application.name, version])
      let g = groups.get(id)
      if (!g) {
        g = {
          name: r.application.name,
          version,
          instances: 0,
          runtimes: [],
          sdkVersions: [],
          facts: {},
          lastReportAt: '',
        }
        groups.set(id, g)
      }
      g.instances++
      if (r.runtime && !g.runtimes.includes(r.runtime)) g.runtimes.push(r.runtime)
      if (r.sdkVersion && !g.sdkVersions.includes(r.sdkVersion)) g.sdkVersions.push(r.sdkVersion)
      if (r.reportedAt > g.lastReportAt) {
        g.lastReportAt = r.reportedAt
        g.facts = r.facts ?? {}
      }
    }
    const items = [...groups.values()].sort(
      (a, b) => a.name.localeCompare(b.name) || String(a.version).localeCompare(String(b.version)),
    )
    for (const g of items) {
      g.runtimes.sort()
      g.sdkVersions.sort()
    }
    return { items, unnamed }
  }

  /** Parses the reports, deletes the stale ones, returns the live ones. */
  private async prune(key: string, all: Record<string, string>): Promise<SdkReport[]> {
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
    for (let i = 0; i < stale.length; i += 1000) await this.store.redis.hdel(key, ...stale.slice(i, i + 1000))
    return live
  }
}

function hasApplied(r: SdkReport, changeId: string): boolean {
  return r.appliedId !== null && isStreamId(r.appliedId) && compareIds(r.appliedId, changeId) >= 0
}

/**
 * When the SDK applied its change, on this server's clock: the report's
 * arrival minus how long before sending the SDK applied it (sentAt −
 * appliedAt, one clock, so the skew between the SDK's clock and ours
 * cancels out; the report's transit time is added, a few ms). Without those
 * fields (older SDKs): the arrival of the first report that shows it, an
 * upper bound.
 */
function appliedTime(input: SdkReportInput, receivedMs: number): number {
  const applied = input.appliedAt === undefined ? NaN : Date.parse(input.appliedAt)
  const sent = input.sentAt === undefined ? NaN : Date.parse(input.sentAt)
  if (!Number.isFinite(applied) || !Number.isFinite(sent)) return receivedMs
  return receivedMs - Math.min(REPORT_TTL_MS, Math.max(0, sent - applied))
}
