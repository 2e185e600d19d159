/**
 * Keeps the SDK's data in step with the server: an SSE stream read from a
 * `fetch` body, reconnected with backoff and `Last-Event-ID`; a heartbeat
 * watchdog; after repeated stream failures, ETag polling with stream probes,
 * back to streaming as soon as a probe works. 401/403 keep the handlers' data
 * and probe again every `authRetryMs`.
 *
 * It knows nothing of flags: events and poll bodies go to the handlers.
 */
import { Backoff } from './backoff.js'
import { SseParser, type SseEvent } from './sse-parser.js'
import { errorText, httpError, SwitchyardError, type FetchLike } from './http.js'

/** Timers with a clock. */
export interface SyncTimers {
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
  now(): number
}

/** Settings and URL builders of a {@link Sync}. */
export interface SyncConfig {
  fetch: FetchLike
  timers: SyncTimers
  warn(msg: string): void
  debug(msg: string): void
  streaming: boolean
  pollIntervalMs: number
  heartbeatTimeoutMs: number
  initialRetryMs: number
  maxRetryMs: number
  stableAfterMs: number
  streamFailuresBeforePolling: number
  streamRetryIntervalMs: number
  authRetryMs: number
  random: () => number
  streamUrl(): string
  pollUrl(): string
  /** Authorization and any other request headers. */
  headers(): Record<string, string>
  /** The id of the last applied change, sent as Last-Event-ID. */
  lastEventId(): string | null
  /** The If-None-Match value for the next poll (quoted), or null. */
  pollEtag(): string | null
}

/** What a {@link Sync} reports. Exceptions thrown by onEvent / onPoll count as protocol errors. */
export interface SyncHandlers {
  onEvent(event: SseEvent): void
  onPoll(body: unknown, etag: string | null): void
  /** The server confirmed the data is current (each stream chunk, after its events; poll 200 or 304). */
  onAlive(): void
  /** One failed attempt (fatal ones, 401/403, pause the Sync until the next auth probe). */
  onFailure(err: SwitchyardError): void
}

function asError(e: unknown, code: string, what: string): SwitchyardError {
  if (e instanceof SwitchyardError) return e
  return new SwitchyardError(code, `${what}: ${errorText(e)}`, { cause: e })
}

/** Stream-or-poll state machine. */
export class Sync {
  private readonly c: SyncConfig
  private readonly h: SyncHandlers
  /** Reconnect delays of the stream; of failed polls when polling is all there is (`streaming: false`). */
  private readonly backoff: Backoff
  /** Outcome of the last poll while polling (null: none yet since polling began). */
  private pollOk: boolean | null = null
  private gen = 0
  private stopped = true
  private failures = 0
  private streamCtrl: AbortController | null = null
  private pollCtrl: AbortController | null = null
  private streamTimer: unknown = null
  private pollTimer: unknown = null
  private isPolling = false
  private isStreaming = false

  constructor(config: SyncConfig, handlers: SyncHandlers) {
    this.c = config
    this.h = handlers
    this.backoff = new Backoff({
      initialMs: config.initialRetryMs,
      maxMs: config.maxRetryMs,
      resetAfterMs: config.stableAfterMs,
      random: config.random,
      now: config.timers.now,
    })
  }

  /** True while polling (fallback, or `streaming: false`). */
  get polling(): boolean {
    return this.isPolling
  }

  /** True while a stream is open and has delivered its first event. */
  get streaming(): boolean {
    return this.isStreaming
  }

  /** Start (or restart, e.g. after identify) from a clean state. */
  start(): void {
    this.stopped = false
    this.begin()
  }

  private begin(): void {
    this.halt()
    this.failures = 0
    this.backoff.reset()
    const gen = ++this.gen
    if (this.c.streaming) void this.openStream(gen)
    else this.enterPolling(gen)
  }

  /** Stop everything; in-flight requests are aborted. */
  stop(): void {
    this.stopped = true
    this.gen++
    this.halt()
  }

  private halt(): void {
    this.streamCtrl?.abort()
    this.pollCtrl?.abort()
    this.streamCtrl = this.pollCtrl = null
    this.clear('streamTimer')
    this.clear('pollTimer')
    this.isPolling = false
    this.isStreaming = false
  }

  private clear(which: 'streamTimer' | 'pollTimer'): void {
    if (this[which] !== null) this.c.timers.clearTimeout(this[which])
    this[which] = null
  }

  private live(gen: number): boolean {
    return !this.stopped && gen === this.gen
  }

  /**
   * 401/403: retrying at reconnect pace would not help and would hammer the
   * auth path, but the token may become valid again (a store wiped and
   * restored, a permission fixed), so stream and polls pause and one probe
   * runs after a delay in [½, 1] × authRetryMs (jittered so a fleet that got
   * 401 together does not probe together). The handlers keep their data.
   */
  private authFailed(gen: number, err: SwitchyardError): void {
    this.halt()
    this.h.onFailure(err)
    if (!this.live(gen)) return
    const delay = Math.floor(this.c.authRetryMs * (0.5 + this.c.random() / 2))
    this.streamTimer = this.c.timers.setTimeout(() => {
      this.streamTimer = null
      if (this.live(gen)) this.begin()
    }, delay)
  }

  private async openStream(gen: number): Promise<void> {
    const { timers } = this.c
    const ctrl = new AbortController()
    this.streamCtrl = ctrl
    let up = false
    let timedOut = false
    let lastActivity = timers.now()
    let watchdog: unknown = null
    const watch = (ms: number): void => {
      watchdog = timers.setTimeout(() => {
        const idle = timers.now() - lastActivity
        if (idle >= this.c.heartbeatTimeoutMs) {
          timedOut = true
          ctrl.abort()
        } else watch(this.c.heartbeatTimeoutMs - idle)
      }, ms)
    }
    watch(this.c.heartbeatTimeoutMs)
    try {
      const headers: Record<string, string> = { ...this.c.headers(), Accept: 'text/event-stream' }
      const last = this.c.lastEventId()
      if (last) headers['Last-Event-ID'] = last
      this.c.debug(`stream: connecting${last ? ` from ${last}` : ''}`)
      const res = await this.c.fetch(this.c.streamUrl(), { headers, signal: ctrl.signal })
      if (!res.ok) {
        throw await httpError(res, 'stream')
      }
      const type = res.headers.get('content-type') ?? ''
      if (!type.includes('text/event-stream') || !res.body) {
        throw new SwitchyardError('PROTOCOL_ERROR', `stream: expected text/event-stream, got "${type}"`)
      }
      const parser = new SseParser({
        onEvent: (ev) => {
          if (!this.live(gen)) return
          try {
            this.h.onEvent(ev)
          } catch (e) {
            throw asError(e, 'PROTOCOL_ERROR', `stream: cannot apply "${ev.type}" ${ev.id}`)
          }
        },
        onRetry: (ms) => this.backoff.setInitial(ms),
      })
      const reader = res.body.getReader()
      // Each chunk is handled in this callback, not in the suspended loop below: an awaited chunk
      // stays in the async frame's registers until the next one arrives, which kept the last put
      // (megabytes) alive for as long as the stream stayed quiet.
      // true: read on; false: the server ended the stream; null: this stream was replaced or stopped.
      const take = ({ done, value }: ReadableStreamReadResult<Uint8Array>): boolean | null => {
        if (done) return false
        if (!this.live(gen)) return null
        lastActivity = timers.now()
        // The first bytes (the server always starts with `retry:`) prove the stream is
        // really flowing, also when a Last-Event-ID replay has nothing to send.
        if (!up) {
          up = true
          this.streamUp()
        }
        parser.feed(value)
        this.h.onAlive()
        return true
      }
      for (;;) {
        const more = await reader.read().then(take)
        if (more === null) return
        if (!more) break
      }
      throw new SwitchyardError('STREAM_ENDED', 'stream: the server closed the stream')
    } catch (e) {
      if (!this.live(gen) || this.streamCtrl !== ctrl) return
      const err = timedOut
        ? new SwitchyardError(
            'STREAM_TIMEOUT',
            `stream: no data or heartbeat for ${this.c.heartbeatTimeoutMs} ms (heartbeatTimeoutMs)`,
          )
        : asError(e, 'NETWORK_ERROR', 'stream')
      this.streamDown(gen, err, up)
    } finally {
      if (watchdog !== null) timers.clearTimeout(watchdog)
      ctrl.abort()
      if (this.streamCtrl === ctrl) this.streamCtrl = null
    }
  }

  private streamUp(): void {
    this.backoff.connected()
    this.failures = 0
    this.isStreaming = true
    if (this.isPolling) {
      this.c.debug('stream: working again, polling stops')
      this.isPolling = false
      this.pollCtrl?.abort()
      this.pollCtrl = null
      this.clear('pollTimer')
    }
  }

  private streamDown(gen: number, err: SwitchyardError, wasUp: boolean): void {
    this.isStreaming = false
    if (err.fatal) {
      this.authFailed(gen, err)
      return
    }
    if (!wasUp) this.failures++
    this.h.onFailure(err)
    if (!this.live(gen)) return
    if (this.isPolling) {
      // A probe from polling mode failed. While polls fail too, the API or its store is down:
      // probe at reconnect pace, so the stream is back within maxRetryMs of the API answering.
      // While polls work and only the stream fails (a proxy that breaks SSE), probe rarely.
      const delay = this.pollOk === true ? this.c.streamRetryIntervalMs : this.retryDelay(err)
      this.streamTimer = this.c.timers.setTimeout(() => this.probe(gen), delay)
      return
    }
    if (!wasUp && this.failures >= this.c.streamFailuresBeforePolling) {
      this.c.warn(
        `stream failed ${this.failures} times in a row (${err.code}); polling every ${this.c.pollIntervalMs} ms until it works again`,
      )
      this.enterPolling(gen)
      return
    }
    const delay = this.retryDelay(err)
    this.c.debug(`stream: ${err.code}; reconnecting in ${delay} ms`)
    this.streamTimer = this.c.timers.setTimeout(() => {
      this.streamTimer = null
      if (this.live(gen)) void this.openStream(gen)
    }, delay)
  }

  /** The next reconnect delay: jittered backoff, lengthened by a Retry-After hint up to maxRetryMs. */
  private retryDelay(err: SwitchyardError): number {
    return Math.max(this.backoff.fail(), Math.min(err.retryAfterMs, this.c.maxRetryMs))
  }

  private probe(gen: number): void {
    this.streamTimer = null
    if (this.live(gen) && this.isPolling) void this.openStream(gen)
  }

  private enterPolling(gen: number): void {
    this.isPolling = true
    this.pollOk = null
    void this.poll(gen)
    if (this.c.streaming) this.streamTimer = this.c.timers.setTimeout(() => this.probe(gen), this.backoff.fail())
  }

  /**
   * Polls answer again after failing: the API is back. Probe the stream now
   * rather than at the pending probe's time (unless an attempt is in flight).
   */
  private pollRecovered(gen: number): void {
    if (!this.c.streaming || this.streamCtrl !== null || !this.live(gen)) return
    this.clear('streamTimer')
    void this.openStream(gen)
  }

  private async poll(gen: number): Promise<void> {
    this.pollTimer = null
    const ctrl = new AbortController()
    this.pollCtrl = ctrl
    const timeout = this.c.timers.setTimeout(() => ctrl.abort(), this.c.heartbeatTimeoutMs)
    let failed: SwitchyardError | null = null
    try {
      const headers: Record<string, string> = { ...this.c.headers(), Accept: 'application/json' }
      const etag = this.c.pollEtag()
      if (etag) headers['If-None-Match'] = etag
      const res = await this.c.fetch(this.c.pollUrl(), { headers, signal: ctrl.signal })
      if (res.status === 304) {
        if (this.live(gen) && this.isPolling) this.h.onAlive()
      } else if (!res.ok) {
        throw await httpError(res, 'poll')
      } else {
        const body: unknown = await res.json()
        if (!this.live(gen) || !this.isPolling) return
        try {
          this.h.onPoll(body, res.headers.get('etag'))
        } catch (e) {
          throw asError(e, 'PROTOCOL_ERROR', 'poll: cannot apply the response')
        }
        this.h.onAlive()
      }
    } catch (e) {
      if (!this.live(gen) || !this.isPolling) return
      failed = ctrl.signal.aborted
        ? new SwitchyardError('NETWORK_ERROR', `poll: no answer within ${this.c.heartbeatTimeoutMs} ms`)
        : asError(e, 'NETWORK_ERROR', 'poll')
      if (failed.fatal) return this.authFailed(gen, failed)
      this.h.onFailure(failed)
    } finally {
      this.c.timers.clearTimeout(timeout)
      if (this.pollCtrl === ctrl) this.pollCtrl = null
    }
    if (!this.live(gen) || !this.isPolling) return
    const recovered = failed === null && this.pollOk === false
    this.pollOk = failed === null
    // Polling only: a failed poll is retried at reconnect pace (never slower than the interval), so
    // the first poll after an outage comes within maxRetryMs of the API answering. In the fallback
    // the stream probes do that, and polls keep their interval.
    let delay = this.c.pollIntervalMs
    if (!this.c.streaming) {
      if (failed === null) this.backoff.reset()
      else delay = Math.min(delay, this.retryDelay(failed))
    }
    this.pollTimer = this.c.timers.setTimeout(() => void this.poll(gen), delay)
    if (recovered) this.pollRecovered(gen)
  }
}
