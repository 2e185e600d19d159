/**
 * The client shared by both modes: options, events, readiness, last-known-good,
 * staleness, metrics and evaluation guards. A {@link Store} holds the data; a
 * {@link Sync} keeps it current. No `node:` imports (browser-safe).
 */
import type { Context, EvaluationDetail, JsonValue } from '../core/types.js'
import type { SseEvent } from '../transport/sse-parser.js'
import { Sync } from '../transport/sync.js'
import { errorText, joinUrl, SwitchyardError, unquoteEtag } from '../transport/http.js'
import type {
  ClientEventName,
  ClientEvents,
  ClientOptions,
  ClientStatus,
  DataSource,
  Logger,
  SwitchyardClient,
  Widen,
} from '../types.js'
import { fnv1a, LastKnownGood, type Snapshot } from './last-known-good.js'
import { Reporter } from './reporter.js'
import { SDK_VERSION } from '../version.js'
import type { Store } from './store.js'

/** What differs between server and client mode. */
export interface ModeSpec {
  mode: 'server' | 'client'
  store: Store
  streamPath: string
  pollPath: string
  /** Query string for the current context ('' in server mode). */
  query(context: Context | undefined, signature: string | undefined): string
  /** Use the applied change id as the poll ETag (server mode: ETag = change-log id). */
  etagIsAppliedId: boolean
  /** Fields every metrics report carries (server mode: application, runtime, facts). */
  report?: Record<string, unknown>
  /** JSON.parse for wire and cache text (server mode packs large member lists straight from it); absent: JSON.parse. */
  parse?: (text: string, snapshot?: boolean) => unknown
  /** Evaluation counts the mode keeps itself (server mode: per compiled flag), taken for each report. */
  collect?: () => Record<string, number[]>
}

type Listener = (payload: never) => void

const CLOSE_FLUSH_TIMEOUT_MS = 1000

function randomId(random: () => number): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto
  if (c?.randomUUID) return c.randomUUID()
  let s = ''
  for (let i = 0; i < 32; i++) s += Math.floor(random() * 16).toString(16)
  return s
}

const closedError = (): SwitchyardError => new SwitchyardError('CLOSED', 'the client was closed')

const consoleLogger: Logger = {
  warn: (m) => console.warn(`[switchyard] ${m}`),
  error: (m) => console.error(`[switchyard] ${m}`),
}

/** Implementation of {@link SwitchyardClient}. */
export class Client implements SwitchyardClient {
  private readonly o: ClientOptions
  private readonly spec: ModeSpec
  private readonly store: Store
  private readonly log: Logger
  private readonly setT: (fn: () => void, ms: number) => unknown
  private readonly clearT: (h: unknown) => void
  private readonly now: () => number
  private readonly sync: Sync
  private readonly listeners = new Map<string, Set<Listener>>()
  private readonly staleAfterMs: number
  protected context: Context | undefined
  private signature: string | undefined
  private applied: string | null = null
  private pollEtagValue: string | null = null
  private src: DataSource | null = null
  /**
   * The client's condition, written only by {@link setStatus} (as ioredis's `status` or OpenFeature's
   * ProviderStatus), which emits what a change means: `stale` on entering stale, `fresh` on leaving stale
   * or error. Two facts stay apart from it because they are not conditions of the moment:
   * - `everReady`, readiness as a latch: ready() resolves and `ready` fires once, on the first usable data,
   *   whatever the status is then (data can arrive while stale, since staleness is the data's age and its
   *   clock starts at creation; a cache can answer while the token is refused);
   * - `fatalError`, the 401/403 behind `error` (set and cleared with it), which ready() rejects with while
   *   never ready, also after close(), and which is logged once per code.
   * Most severe first, closed > error > stale > ready > initializing: closed is final, and error outranks
   * stale (a refused client is not reported stale on top; the stale check restarts when the server answers).
   */
  private current: ClientStatus = 'initializing'
  private everReady = false
  private fatalError: SwitchyardError | null = null
  private readyWaiters: { resolve(): void; reject(e: Error): void }[] = []
  private identifyWaiters: { resolve(): void; reject(e: Error): void }[] = []
  private awaitingContext = false
  /** The server has failed at least once: from then on a cached snapshot may make the client ready. */
  private attemptFailed = false
  /** Failing since the last answer: the failure is logged once, and its recovery. */
  private failing = false
  private lastSyncAt: number
  private staleTimer: unknown = null
  protected readonly reporter: Reporter | null
  private readonly cache: LastKnownGood | null

  constructor(options: ClientOptions, spec: ModeSpec) {
    if (!options || typeof options.url !== 'string' || !/^https?:\/\//.test(options.url)) {
      throw new SwitchyardError(
        'INVALID_OPTIONS',
        'createClient: `url` must be the http(s) base URL of the Switchyard API',
      )
    }
    if (typeof options.token !== 'string' || options.token === '') {
      throw new SwitchyardError(
        'INVALID_OPTIONS',
        'createClient: `token` is required (an sdk-server or sdk-client token)',
      )
    }
    const fetchFn = options.fetch ?? (globalThis.fetch ? globalThis.fetch.bind(globalThis) : undefined)
    if (!fetchFn) throw new SwitchyardError('INVALID_OPTIONS', 'createClient: no global fetch; pass the `fetch` option')
    // The options are kept for the client's lifetime: not the bootstrap document (it can be large, and
    // once compiled it is garbage). No closure below may capture `options` either, for the same reason.
    const { bootstrap, ...kept } = options
    this.o = kept
    this.spec = spec
    this.store = spec.store
    this.log = options.logger ?? consoleLogger
    const timers = options.timers
    this.setT = timers ? (fn, ms) => timers.setTimeout(fn, ms) : (fn, ms) => setTimeout(fn, ms)
    this.clearT = timers ? (h) => timers.clearTimeout(h) : (h) => clearTimeout(h as ReturnType<typeof setTimeout>)
    this.now = timers?.now ? () => (timers.now as () => number)() : Date.now
    this.context = options.context
    this.signature = options.signature
    this.staleAfterMs = options.staleAfterMs ?? 120000
    const random = options.random ?? Math.random
    this.lastSyncAt = this.now()

    const url = options.url
    const token = options.token
    this.sync = new Sync(
      {
        fetch: fetchFn,
        timers: { setTimeout: this.setT, clearTimeout: this.clearT, now: this.now },
        warn: (m) => this.log.warn?.(m),
        debug: (m) => this.log.debug?.(m),
        streaming: options.streaming ?? true,
        pollIntervalMs: options.pollIntervalMs ?? 30000,
        heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 37500,
        initialRetryMs: options.initialRetryMs ?? 1000,
        maxRetryMs: options.maxRetryMs ?? 2000,
        stableAfterMs: options.stableAfterMs ?? 60000,
        streamFailuresBeforePolling: options.streamFailuresBeforePolling ?? 3,
        streamRetryIntervalMs: options.streamRetryIntervalMs ?? 60000,
        authRetryMs: options.authRetryMs ?? 60000,
        random,
        streamUrl: () => joinUrl(url, spec.streamPath) + spec.query(this.context, this.signature),
        pollUrl: () => joinUrl(url, spec.pollPath) + spec.query(this.context, this.signature),
        headers: () => ({ Authorization: `Bearer ${token}` }),
        lastEventId: () => this.applied,
        pollEtag: () => this.pollEtagValue ?? (spec.etagIsAppliedId && this.applied ? `"${this.applied}"` : null),
      },
      {
        onEvent: (ev) => this.onStreamEvent(ev),
        onPoll: (body, etag) => this.onPollBody(body, etag),
        onAlive: () => this.onAlive(),
        onFailure: (err) => this.onFailure(err),
      },
    )

    if (bootstrap !== undefined) this.applyBootstrap(bootstrap)
    this.reporter =
      options.sendMetrics === false
        ? null
        : new Reporter({
            url,
            token: options.token,
            fields: {
              sdkId: randomId(random),
              sdkVersion: SDK_VERSION,
              mode: spec.mode,
              startedAt: new Date(this.now()).toISOString(),
              ...spec.report,
            },
            fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
            setT: this.setT,
            clearT: this.clearT,
            now: this.now,
            intervalMs: options.metricsIntervalMs ?? 60000,
            debounceMs: options.metricsDebounceMs ?? 1000,
            appliedId: () => this.applied,
            log: this.log,
            collect: spec.collect,
          })
    const storage = options.storage
    this.cache = storage
      ? new LastKnownGood({
          storage,
          setT: this.setT,
          clearT: this.clearT,
          log: this.log,
          scope: () => this.scope(),
          parse: spec.parse,
          snapshot: () =>
            this.store.hasData && this.src === 'server'
              ? { mode: spec.mode, appliedId: this.applied, syncedAt: this.lastSyncAt, data: this.store.snapshot() }
              : null,
        })
      : null
    // A cache is only used when nothing else answers (bootstrap wins).
    const loading = this.cache && this.src === null ? this.cache.load((snap) => this.useCache(snap)) : null
    if (loading && this.cache) this.cache.startAfter(loading, options.storageTimeoutMs ?? 2000, () => this.sync.start())
    else this.sync.start()
    this.scheduleStaleCheck()
    this.reporter?.start()
  }

  // ---- public API -------------------------------------------------------

  get appliedId(): string | null {
    return this.applied
  }

  get source(): DataSource | null {
    return this.src
  }

  get stale(): boolean {
    return this.current === 'stale'
  }

  get polling(): boolean {
    return this.sync.polling
  }

  get status(): ClientStatus {
    return this.current
  }

  isEnabled(key: string, context?: Context, defaultValue = false): boolean {
    return this.variation(key, context, defaultValue)
  }

  variation<T extends JsonValue>(key: string, context: Context | undefined, defaultValue: T): Widen<T> {
    // The hot path: the engine's value path, no detail object, no string per count.
    let value: JsonValue = defaultValue
    let index = -1
    try {
      if (this.store.hasData) {
        value = this.store.value(key, context ?? this.context ?? {}, defaultValue)
        index = this.store.lastVariation()
      }
    } catch (e) {
      this.log.debug?.(`evaluation of "${key}" failed: ${errorText(e)}`)
      value = defaultValue
      index = -1
    }
    this.reporter?.count(key, index)
    return value as Widen<T>
  }

  variationDetail<T extends JsonValue>(
    key: string,
    context: Context | undefined,
    defaultValue: T,
  ): EvaluationDetail<Widen<T>> {
    let d: EvaluationDetail
    try {
      if (!this.store.hasData) {
        d = { value: defaultValue, variation: null, reason: { kind: 'ERROR', errorKind: 'PROVIDER_NOT_READY' } }
      } else {
        d = this.store.detail(key, context ?? this.context ?? {}, defaultValue)
      }
    } catch (e) {
      this.log.debug?.(`evaluation of "${key}" failed: ${errorText(e)}`)
      d = { value: defaultValue, variation: null, reason: { kind: 'ERROR', errorKind: 'GENERAL' } }
    }
    this.reporter?.count(key, d.variation ?? -1)
    return d as EvaluationDetail<Widen<T>>
  }

  allFlags(context?: Context): Record<string, JsonValue> {
    try {
      return this.store.hasData ? this.store.all(context ?? this.context ?? {}) : {}
    } catch {
      return {}
    }
  }

  ready(opts: { timeoutMs?: number } = {}): Promise<void> {
    if (this.everReady) return Promise.resolve()
    if (this.fatalError) return Promise.reject(this.fatalError)
    if (this.current === 'closed') return Promise.reject(closedError())
    return new Promise<void>((resolve, reject) => {
      let timer: unknown = null
      const w = {
        resolve: () => {
          if (timer !== null) this.clearT(timer)
          resolve()
        },
        reject: (e: Error) => {
          if (timer !== null) this.clearT(timer)
          reject(e)
        },
      }
      this.readyWaiters.push(w)
      if (opts.timeoutMs !== undefined) {
        timer = this.setT(() => {
          this.readyWaiters = this.readyWaiters.filter((x) => x !== w)
          reject(
            new SwitchyardError(
              'READY_TIMEOUT',
              `no flag data within ${opts.timeoutMs} ms; defaults answer until it arrives`,
            ),
          )
        }, opts.timeoutMs)
      }
    })
  }

  identify(context: Context, signature?: string): Promise<void> {
    this.context = context
    this.signature = signature
    if (this.spec.mode === 'server' || this.current === 'closed') return Promise.resolve()
    // Even after a 401/403: the token may be valid again, and the attempt says so either way.
    this.cache?.stopWaiting()
    // Old values answer until the new context's arrive; if that first attempt fails they are dropped
    // (onFailure), so a user never keeps running on another user's values.
    this.applied = null
    this.pollEtagValue = null
    this.awaitingContext = true
    const p = new Promise<void>((resolve, reject) => this.identifyWaiters.push({ resolve, reject }))
    this.sync.start()
    return p
  }

  on<E extends ClientEventName>(event: E, fn: (payload: ClientEvents[E]) => void): void {
    let set = this.listeners.get(event)
    if (!set) {
      set = new Set()
      this.listeners.set(event, set)
    }
    set.add(fn as Listener)
  }

  off<E extends ClientEventName>(event: E, fn: (payload: ClientEvents[E]) => void): void {
    this.listeners.get(event)?.delete(fn as Listener)
  }

  async close(): Promise<void> {
    if (this.current === 'closed') return
    this.setStatus('closed')
    this.sync.stop()
    if (this.staleTimer !== null) this.clearT(this.staleTimer)
    this.staleTimer = null
    const closedErr = closedError()
    for (const w of this.readyWaiters.splice(0)) w.reject(closedErr)
    for (const w of this.identifyWaiters.splice(0)) w.reject(closedErr)
    const flushes: Promise<unknown>[] = []
    if (this.cache) flushes.push(this.cache.close())
    if (this.reporter) flushes.push(this.reporter.close(CLOSE_FLUSH_TIMEOUT_MS))
    await Promise.allSettled(flushes)
  }

  // ---- events -----------------------------------------------------------

  private emit<E extends ClientEventName>(event: E, payload: ClientEvents[E]): void {
    const set = this.listeners.get(event)
    if (!set) return
    for (const fn of [...set]) {
      try {
        ;(fn as (p: ClientEvents[E]) => void)(payload)
      } catch (e) {
        this.log.error?.(`a "${event}" listener threw: ${errorText(e)}`)
      }
    }
  }

  // ---- status -----------------------------------------------------------

  /** The one writer of `status` (see `current`). Leaving stale or error is `fresh`, and the stale check restarts. */
  private setStatus(next: ClientStatus): void {
    const prev = this.current
    if (prev === next || prev === 'closed' || (prev === 'error' && next === 'stale')) return
    this.current = next
    const at = { since: this.lastSyncAt }
    if (next === 'stale') this.emit('stale', at)
    else if (next !== 'closed' && (prev === 'stale' || prev === 'error')) {
      this.emit('fresh', at)
      this.scheduleStaleCheck()
    }
  }

  /** The latch: the first usable data. The status follows unless stale or error, which only the server ends. */
  private markReady(source: DataSource): void {
    if (this.everReady) return
    this.everReady = true
    for (const w of this.readyWaiters.splice(0)) w.resolve()
    if (this.current === 'initializing') this.setStatus('ready')
    // Asynchronous, so listeners added right after createClient still hear it.
    queueMicrotask(() => this.emit('ready', { source }))
  }

  /** The server answered: the data's age starts again, and the client is no longer refused. */
  private confirmed(): void {
    this.lastSyncAt = this.now()
    this.fatalError = null
    this.setStatus(this.everReady ? 'ready' : 'initializing')
  }

  private applyBootstrap(doc: unknown): void {
    try {
      this.store.replace(doc)
      this.src = 'bootstrap'
      this.markReady('bootstrap')
    } catch (e) {
      this.log.warn?.(`bootstrap ignored: ${errorText(e)}`)
    }
  }

  // ---- data from the network ------------------------------------------

  private onStreamEvent(ev: SseEvent): void {
    // `ack`: the server has nothing for this context, but says which change it is current with.
    // Only on top of data from this stream (the put comes first), so the applied id stays honest.
    if (ev.type === 'ack') {
      if (ev.id && this.store.hasData && this.src === 'server' && !this.awaitingContext) this.afterServerData([], ev.id)
      return
    }
    if (ev.type !== 'put' && ev.type !== 'patch' && ev.type !== 'delete' && ev.type !== 'segment-delta') {
      this.log.debug?.(`ignoring unknown stream event "${ev.type}"`)
      return
    }
    const data: unknown = (this.spec.parse ?? JSON.parse)(ev.data)
    this.pollEtagValue = null
    if (ev.type === 'put') this.applyAll(data, ev.id || null)
    else this.afterServerData(this.store.apply(ev.type, data), ev.id || this.applied)
  }

  private onPollBody(body: unknown, etag: string | null): void {
    this.pollEtagValue = etag
    this.applyAll(body, unquoteEtag(etag))
  }

  private applyAll(data: unknown, id: string | null): void {
    const hadData = this.store.hasData
    const changed = this.store.replace(data)
    this.afterServerData(hadData ? changed : [], id)
  }

  private afterServerData(changed: string[], id: string | null): void {
    this.applied = id
    this.src = 'server'
    if (this.awaitingContext) {
      this.awaitingContext = false
      for (const w of this.identifyWaiters.splice(0)) w.resolve()
    }
    this.markReady('server')
    this.confirmed()
    if (changed.length > 0) this.emit('change', changed)
    this.cache?.schedule()
    this.reporter?.applied(id)
  }

  private onAlive(): void {
    if (this.failing) {
      this.failing = false
      this.log.info?.('connection to Switchyard restored')
    }
    // A stream resumed from cache with Last-Event-ID may have nothing to replay: the cache is current.
    if (this.src === 'cache' && this.applied !== null && !this.awaitingContext) {
      this.src = 'server'
      this.markReady('server')
    }
    this.confirmed()
  }

  private onFailure(err: SwitchyardError): void {
    if (this.current === 'closed') return
    if (err.fatal) {
      // Logged once per state change: the SDK probes every authRetryMs and each probe would repeat it.
      if (this.fatalError?.code !== err.code) this.log.error?.(err.message)
      else this.log.debug?.(err.message)
      this.fatalError = err
      this.failing = true
      this.setStatus('error')
    } else if (!this.failing) {
      this.failing = true
      this.log.warn?.(`${err.message} (retrying; answers come from ${this.src ?? 'defaults'})`)
    } else {
      this.log.debug?.(err.message)
    }
    this.attemptFailed = true
    if (this.awaitingContext) {
      this.awaitingContext = false
      const dropped = this.store.clear()
      this.src = null
      if (dropped.length > 0) this.emit('change', dropped)
      if (err.fatal) for (const w of this.identifyWaiters.splice(0)) w.reject(err)
      // Non-fatal: identify() stays pending; the Sync keeps trying for the new context.
      this.awaitingContext = !err.fatal
    }
    if (!this.everReady) {
      if (this.src === 'cache') this.markReady('cache')
      else if (err.fatal) for (const w of this.readyWaiters.splice(0)) w.reject(err)
    }
    this.emit('error', err)
  }

  // ---- last-known-good --------------------------------------------------

  private scope(): string {
    const ctx = this.spec.mode === 'client' ? JSON.stringify(this.context ?? {}) : ''
    return fnv1a(`${this.spec.mode}\n${this.o.url}\n${this.o.token}\n${ctx}`)
  }

  /** A snapshot of this scope was loaded: answer from it unless something else already does. */
  private useCache(snap: Snapshot): void {
    if (this.src !== null) return
    this.store.replace(snap.data)
    this.src = 'cache'
    this.applied = snap.appliedId
    this.lastSyncAt = Math.min(this.lastSyncAt, snap.syncedAt)
    this.scheduleStaleCheck()
    // Ready from the cache only once the server has failed us at least once.
    if (this.attemptFailed || this.fatalError) this.markReady('cache')
  }

  // ---- staleness --------------------------------------------------------

  private scheduleStaleCheck(): void {
    if (this.current === 'closed' || this.current === 'stale') return
    if (this.staleTimer !== null) this.clearT(this.staleTimer)
    const due = Math.max(0, this.lastSyncAt + this.staleAfterMs - this.now())
    this.staleTimer = this.setT(() => {
      this.staleTimer = null
      // Lazy: one timer, re-armed for the remainder, instead of a reset on every heartbeat.
      if (this.now() - this.lastSyncAt >= this.staleAfterMs) this.setStatus('stale')
      else this.scheduleStaleCheck()
    }, due)
  }
}
