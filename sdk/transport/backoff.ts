/**
 * Reconnect delays: exponential backoff with full jitter (a uniform delay in
 * [0, min(max, initial · 2^attempt)]), reset once a connection has been stable
 * for `resetAfterMs`. Full jitter spreads thousands of SDKs that lost the same
 * server so they do not come back in one wave.
 */

/**
 * The one exponential growth curve of the code base: `initialMs · 2^attempt`, capped at `maxMs`
 * (attempt 0 is the first retry). The SDK's {@link Backoff} draws full jitter under it; the server's
 * Redis retry strategies, embedded redis-server restarts and change-log reader retries call it with
 * their own numbers. The exponent is bounded so huge attempt counts cannot overflow to Infinity·0.
 */
export function exponentialDelay(attempt: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(0, attempt), 30))
}

/** Options of {@link Backoff}. */
export interface BackoffOptions {
  /** First delay cap in ms (default 1000). */
  initialMs?: number
  /** Largest delay cap in ms (default 30000). */
  maxMs?: number
  /** A connection up this long resets the attempt count (default 60000). */
  resetAfterMs?: number
  /** Random source in [0, 1); injectable for tests. */
  random?: () => number
  /** Clock in ms; injectable for tests. */
  now?: () => number
}

/** Backoff state of one connection. */
export class Backoff {
  private attempt = 0
  private connectedAt: number | null = null
  private initialMs: number
  private readonly maxMs: number
  private readonly resetAfterMs: number
  private readonly random: () => number
  private readonly now: () => number

  constructor(o: BackoffOptions = {}) {
    this.initialMs = Math.max(1, o.initialMs ?? 1000)
    this.maxMs = Math.max(this.initialMs, o.maxMs ?? 30000)
    this.resetAfterMs = o.resetAfterMs ?? 60000
    this.random = o.random ?? Math.random
    this.now = o.now ?? Date.now
  }

  /** The server's `retry:` hint replaces the initial delay (bounded by the maximum). */
  setInitial(ms: number): void {
    this.initialMs = Math.min(Math.max(1, ms), this.maxMs)
  }

  /** The cap of the next delay, before jitter. */
  get cap(): number {
    return exponentialDelay(this.attempt, this.initialMs, this.maxMs)
  }

  /** A connection has been established. */
  connected(): void {
    this.connectedAt = this.now()
  }

  /** The connection failed or dropped: the delay before the next try. */
  fail(): number {
    if (this.connectedAt !== null && this.now() - this.connectedAt >= this.resetAfterMs) this.attempt = 0
    this.connectedAt = null
    const delay = Math.floor(this.random() * this.cap)
    this.attempt++
    return delay
  }

  /** Forget all failures. */
  reset(): void {
    this.attempt = 0
    this.connectedAt = null
  }
}
