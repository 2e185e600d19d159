import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { Gauge, type Registry } from 'prom-client'
import type { RedisClient } from '../redis/connect.js'
import { globalKeys } from './keys.js'

export interface StoreMonitorOptions {
  redis: RedisClient
  registry: Registry
  /** How often the marker is checked besides readiness probes, reconnects and stream readers (STORE_CHECK_MS). */
  checkMs: number
  now: () => Date
  log?: FastifyBaseLogger
  /**
   * Runs while the store is reset until it succeeds once (the app re-creates
   * the ADMIN_TOKEN bootstrap admin, so operators can act on the empty store).
   */
  onReset?: () => Promise<void>
}

/**
 * Notices that Redis lost its data. A marker key is written when a process
 * first finds a store without one (a new store, or one from before markers);
 * from then on this process expects it. Redis only loses it with everything
 * else — FLUSHALL, a restart on an empty or wrong data directory, a failover
 * to an empty replica — and an empty store reads as "no environments, no
 * tokens", which without the marker would look like a legitimate state.
 *
 * While the marker is missing the store is "reset": readiness fails with
 * STORE_RESET, `switchyard_store_reset` is 1, one error is logged, and
 * stream readers keep their last-known-good state instead of telling SDKs
 * that environments were deleted. It ends when the marker is back (the data
 * was restored) or an admin re-initialises the store (`initialise`).
 */
export class StoreMonitor {
  private known: string | null = null
  private reset = false
  private adminRestored = false
  private inFlight: Promise<boolean> | null = null
  private timer: NodeJS.Timeout | null = null
  private restored: Array<() => void> = []
  private readonly gauge: Gauge
  private readonly onReady = () => void this.check().catch(() => {})

  constructor(private readonly o: StoreMonitorOptions) {
    this.gauge = new Gauge({
      name: 'switchyard_store_reset',
      help: "1 while the store's instance marker is missing: Redis lost its data (readiness fails with STORE_RESET)",
      registers: [o.registry],
      // WORKERS > 1: every worker sees the same store, so the cluster's value is one worker's, not their sum.
      aggregator: 'max',
    })
    this.gauge.set(0)
  }

  start(): void {
    this.timer = setInterval(this.onReady, this.o.checkMs)
    this.timer.unref()
    // A reconnect is when a restarted (possibly empty) Redis shows up.
    this.o.redis.on('ready', this.onReady)
    if (this.o.redis.status === 'ready') this.onReady()
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    this.o.redis.off('ready', this.onReady)
  }

  get isReset(): boolean {
    return this.reset
  }

  /** Reads the marker now (concurrent callers share one read); true while the store is reset. Rejects when Redis fails. */
  check(): Promise<boolean> {
    this.inFlight ??= this.read().finally(() => {
      this.inFlight = null
    })
    return this.inFlight
  }

  /** Resolves once the store is no longer reset (waiters that give up race it with their own signal). */
  whenRestored(): Promise<void> {
    if (!this.reset) return Promise.resolve()
    return new Promise((res) => this.restored.push(res))
  }

  /**
   * An admin declares the current contents the store from now on (after a
   * deliberate wipe, or after giving up on a restore): a new marker.
   */
  async initialise(): Promise<string> {
    const value = this.markerValue()
    await this.o.redis.set(globalKeys.marker, value)
    this.o.log?.warn('store re-initialised by an admin: a new instance marker was written')
    this.adopt(value)
    return value
  }

  private markerValue(): string {
    return JSON.stringify({ id: randomUUID(), createdAt: this.o.now().toISOString() })
  }

  private async read(): Promise<boolean> {
    let value = await this.o.redis.get(globalKeys.marker)
    if (value === null && this.known === null) {
      // Nothing to compare with: this process has never seen this store, so it is new (or from before markers).
      const written = await this.o.redis.set(globalKeys.marker, this.markerValue(), 'NX')
      value = await this.o.redis.get(globalKeys.marker)
      if (written === 'OK')
        this.o.log?.info('store initialised: instance marker written (a new store, or one from before markers)')
    }
    if (value === null) {
      if (!this.reset) {
        this.reset = true
        this.adminRestored = false
        this.gauge.set(1)
        this.o.log?.error(
          { marker: this.known },
          "STORE_RESET: the store's instance marker is gone, Redis lost its data. Readiness fails and SDK streams keep their last-known-good rules until the data is restored or an admin re-initialises the store (POST /api/v1/store/initialise); see docs/deploy.md",
        )
      }
      if (!this.adminRestored && this.o.onReset) {
        try {
          await this.o.onReset()
          this.adminRestored = true
        } catch (err) {
          this.o.log?.warn({ err }, 'could not re-create the bootstrap admin token yet')
        }
      }
      return true
    }
    this.adopt(value)
    return false
  }

  private adopt(value: string): void {
    if (this.known !== null && this.known !== value)
      this.o.log?.warn(
        { from: this.known, to: value },
        "the store's instance marker changed: the store was re-initialised or replaced",
      )
    this.known = value
    if (!this.reset) return
    this.reset = false
    this.gauge.set(0)
    this.o.log?.warn("the store's instance marker is back: ready again")
    this.wake()
  }

  private wake(): void {
    for (const r of this.restored.splice(0)) r()
  }
}
