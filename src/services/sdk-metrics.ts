import type { Counter } from 'prom-client'
import type { FactValue } from '../../sdk/core/types.js'
import { appError } from '../errors.js'
import { compareIds, idTime, isStreamId } from '../store/changelog.js'
import type { SdkReportInput, SdkStatus } from '../schemas/sdk.js'
import type { ReportKind } from '../store/sdk-reports.js'
import type { Store } from '../store/store.js'

/** Who sent a report: the kind of its token (never the body's `mode`, which anyone can write). */
export type ReporterKind = ReportKind

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
export interface SdkReport extends Pick<SdkReportInput, 'sdkId' | 'sdkVersion' | 'mode' | 'appliedId' | 'startedAt'> {
  reportedAt: string
  /** When each recent applied id was applied, on this server's clock (newest last). */
  history: Array<{ appliedId: string; at: string }>
  application?: { name: string; version?: string }
  runtime?: string
  facts?: Record<string, FactValue>
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

  /** `sinceArrivalMs`: how long ago the request arrived (authentication and reads must not count as delivery time). */
  async report(env: string, kind: ReporterKind, input: SdkReportInput, sinceArrivalMs = 0): Promise<void> {
    const reports = this.store.sdkReports
    const [prevRaw, variations] = await Promise.all([
      input.closing ? Promise.resolve(null) : reports.get(env, kind, input.sdkId),
      input.counts ? this.o.variationsOf(env) : Promise.resolve(null),
    ])
    if (variations !== null) this.count(env, input.counts ?? {}, variations)
    if (input.closing) {
      await reports.forget(env, kind, [input.sdkId])
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
    // A stale report (an older change than the one stored, from a report that finished late) is dropped:
    // its counts are counted above, and the stored report is the fresher one.
    const track = () => reports.track(env, kind, input.sdkId, JSON.stringify(rec), input.appliedId, cap)
    if ((await track()) !== 'untracked') return
    const pruneKey = `${kind}:${env}`
    const last = this.lastPrune.get(pruneKey) ?? -Infinity
    if (now.getTime() - last >= PRUNE_EVERY_MS) {
      this.lastPrune.set(pruneKey, now.getTime())
      await this.prune(env, kind)
      if ((await track()) !== 'untracked') return
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
        const live = await this.prune(env, kind)
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
    const live = await this.prune(env, 'server')
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

  /** Reads and parses the reports, deletes the stale ones, returns the live ones. */
  private async prune(env: string, kind: ReporterKind): Promise<SdkReport[]> {
    const all = await this.store.sdkReports.all(env, kind)
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
    await this.store.sdkReports.forget(env, kind, stale)
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
