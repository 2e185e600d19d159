/**
 * The SDK's reports to POST /api/v1/sdk/metrics: evaluation counts, the
 * change-log id applied and when it was applied, and a last report on
 * close() so the server stops expecting this instance. No `node:` imports
 * (browser-safe).
 */
import type { FetchLike } from '../transport/http.js'
import { errorText, joinUrl } from '../transport/http.js'
import type { Logger } from '../types.js'

export interface ReporterConfig {
  url: string
  token: string
  /**
   * What every report repeats: sdkId, sdkVersion, mode, startedAt, and in server mode the application,
   * its runtime and facts. One object built once (also fewer bytes in the browser bundle).
   */
  fields: Record<string, unknown>
  fetch: FetchLike
  setT: (fn: () => void, ms: number) => unknown
  clearT: (h: unknown) => void
  now: () => number
  /** Periodic report (metricsIntervalMs). */
  intervalMs: number
  /** Delay of the report after a change was applied (metricsDebounceMs). */
  debounceMs: number
  /** The change-log id the client serves now. */
  appliedId: () => string | null
  log: Logger
  /** Counts kept elsewhere (server mode: per compiled flag), taken before each report. */
  collect?: (() => Record<string, number[]>) | undefined
}

const bag = () => Object.create(null)

/** Evaluation counts and applied-change reports of one client. */
export class Reporter {
  private timer: unknown = null
  private debounce: unknown = null
  private stopped = false
  private everSent = false
  /** The id whose application time is known, and that time (SDK clock). */
  private noted: { id: string; at: number } | null = null
  /**
   * Evaluations per flag since the last report: slot 0 = default, slot i + 1 = variation i. Without a
   * prototype: app code may ask for any key, and `counts.__proto__ ??= []` would count into Object.prototype.
   */
  private counts: Record<string, number[]> = bag()

  constructor(private readonly c: ReporterConfig) {}

  start(): void {
    this.timer = this.c.setT(() => {
      this.timer = null
      if (this.stopped) return
      void this.send()
      this.start()
    }, this.c.intervalMs)
  }

  count(key: string, variation: number): void {
    // biome-ignore lint/suspicious/noAssignInExpressions: get-or-create in one step (runs on every evaluation)
    const slots = (this.counts[key] ??= [])
    slots[variation + 1] = (slots[variation + 1] ?? 0) + 1
  }

  /** The client now serves change `id`: its application time is kept for the report sent soon after. */
  applied(id: string | null): void {
    if (id !== null && this.noted?.id !== id) this.noted = { id, at: this.c.now() }
    if (this.stopped || this.debounce !== null) return
    this.debounce = this.c.setT(() => {
      this.debounce = null
      if (!this.stopped) void this.send()
    }, this.c.debounceMs)
  }

  /** Stops the timers and says goodbye (with the last counts) when the server knows this instance. */
  async close(timeoutMs: number): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const t of [this.timer, this.debounce]) if (t !== null) this.c.clearT(t)
    this.timer = this.debounce = null
    if (this.everSent || this.c.appliedId() !== null || Object.keys(this.counts).length > 0)
      await this.send(timeoutMs, true)
  }

  /** Adds `counts` (a failed report's, or those kept elsewhere) to the ones not reported yet. */
  add(counts: Record<string, number[]> | undefined): void {
    for (const k in counts) {
      // biome-ignore lint/suspicious/noAssignInExpressions: get-or-create in one step
      const into = (this.counts[k] ??= [])
      const from = counts[k] as number[]
      for (let i = 0; i < from.length; i++) if (from[i]) into[i] = (into[i] ?? 0) + (from[i] as number)
    }
  }

  private async send(timeoutMs = 10000, closing = false): Promise<void> {
    this.add(this.c.collect?.())
    const counts = this.counts
    this.counts = bag()
    // The wire form of the counts: `{ flag: { default | "<index>": n } }`.
    const wire: Record<string, Record<string, number>> = bag()
    for (const k in counts) {
      const byVar: Record<string, number> = {}
      const slots = counts[k] as number[]
      for (let i = 0; i < slots.length; i++)
        if (slots[i]) byVar[i === 0 ? 'default' : String(i - 1)] = slots[i] as number
      wire[k] = byVar
    }
    const appliedId = this.c.appliedId()
    const ctrl = new AbortController()
    const timer = this.c.setT(() => ctrl.abort(), timeoutMs)
    try {
      const res = await this.c.fetch(joinUrl(this.c.url, '/api/v1/sdk/metrics'), {
        method: 'POST',
        headers: { Authorization: `Bearer ${this.c.token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({
          ...this.c.fields,
          appliedId,
          // Both times by this SDK's clock: the server uses only their difference, so clock skew does not matter.
          ...(appliedId !== null &&
            this.noted?.id === appliedId && { appliedAt: new Date(this.noted.at).toISOString() }),
          sentAt: new Date(this.c.now()).toISOString(),
          counts: wire,
          ...(closing && { closing: true }),
        }),
        signal: ctrl.signal,
      })
      if (!res.ok) throw new Error(`HTTP ${res.status}`)
      this.everSent = true
    } catch (e) {
      this.add(counts) // for the next report
      this.c.log.debug?.(`metrics not sent: ${errorText(e)}`)
    } finally {
      this.c.clearT(timer)
    }
  }
}
