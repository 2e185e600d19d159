/** Public types of the Switchyard SDK (both modes). */
import type { Context, EvaluationDetail, FactValue, JsonValue, Ruleset } from './core/types.js'
import type { ClientValues } from './core/protocol.js'
import type { FetchLike, SwitchyardError } from './transport/http.js'

export type {
  Context,
  EvaluationDetail,
  JsonValue,
  Reason,
  Ruleset,
  RulesetFlag,
  Segment,
  SegmentDelta,
} from './core/types.js'

// The wire payloads of client mode are part of the protocol's vocabulary.
export type { ClientFlagValue, ClientValues } from './core/protocol.js'

/** Injected timers (tests, or runtimes without globals). */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
  /** Clock in ms (default `Date.now`). */
  now?(): number
}

/** Last-known-good storage. `load` may be sync or async; `save` is fire-and-forget. */
export interface StorageProvider {
  load(): Promise<string | null> | string | null
  save(snapshot: string): void | Promise<void>
}

/** Where log lines go. Missing methods are skipped. */
export interface Logger {
  debug?(msg: string): void
  info?(msg: string): void
  warn?(msg: string): void
  error?(msg: string): void
}

/** Options of `createClient`. */
export interface ClientOptions {
  /** Base URL of the Switchyard API, e.g. `https://flags.example.com`. */
  url: string
  /** `sdk-server` token (server mode) or `sdk-client` token (client mode). */
  token: string
  /** `server` (full rules, local evaluation; default in Node) or `client` (one context's values; the browser entry's only mode). */
  mode?: 'server' | 'client'
  /** Client mode: the context whose values to fetch. Server mode: the default context of evaluations. */
  context?: Context
  /** Client mode: the context's signature, computed by your backend with signContext (`@switchyard/sdk/sign`) over exactly this `context`. */
  signature?: string
  /**
   * Data to answer with before the server does: a Ruleset (server mode) or `{flags}` values (client mode).
   * Compiled at creation; the client keeps no reference to the document (it can be garbage-collected).
   */
  bootstrap?: Ruleset | ClientValues
  /** `fetch` to use (default: global fetch). */
  fetch?: FetchLike
  /** Timers and clock (default: globals). */
  timers?: Timers
  /** Last-known-good storage (`fileStorage(path)` in Node, `localStorageStorage(key)` in browsers). */
  storage?: StorageProvider
  /**
   * How long the first connection waits for an asynchronous `storage.load()` (default 2000 ms), so it
   * resumes from the cached change id (Last-Event-ID) instead of downloading everything. A storage that
   * takes longer is not waited for (a warning says so); its data is still used when it arrives.
   */
  storageTimeoutMs?: number
  /** Logger (default: console for warnings and errors). */
  logger?: Logger
  /** Stream changes over SSE (default true); false polls only. */
  streaming?: boolean
  /** Polling interval in ms, when polling (default 30000). */
  pollIntervalMs?: number
  /** Emit `stale` when nothing was confirmed by the server for this long (default 120000). */
  staleAfterMs?: number
  /** Silence on an open stream longer than this means it is dead (default 37500, 2.5 × the server's 15 s heartbeat). */
  heartbeatTimeoutMs?: number
  /** First reconnect delay cap in ms (default 1000); the server's `retry:` replaces it. */
  initialRetryMs?: number
  /**
   * Largest reconnect delay cap in ms (default 2000): with full jitter, the first attempt after the API
   * answers again comes within this long, also from the polling fallback.
   */
  maxRetryMs?: number
  /** A stream up this long resets the backoff (default 60000). */
  stableAfterMs?: number
  /** Consecutive stream failures before falling back to polling (default 3). */
  streamFailuresBeforePolling?: number
  /**
   * In the polling fallback, while polls work but the stream does not (a proxy that breaks SSE), try the
   * stream this often (default 60000). While polls fail too, the stream is tried at reconnect pace.
   */
  streamRetryIntervalMs?: number
  /**
   * After a 401/403 the SDK keeps its data and tries again once per this many ms (default 60000; each
   * delay is jittered in [½, 1] × this), so it recovers by itself when the token is valid again.
   */
  authRetryMs?: number
  /** Send evaluation counts and the applied change id (default true). */
  sendMetrics?: boolean
  /** Metrics interval in ms (default 60000); metrics are also sent ~1 s after each applied change. */
  metricsIntervalMs?: number
  /** Delay between an applied change and its metrics report (default 1000). */
  metricsDebounceMs?: number
  /**
   * Server mode: the application embedding the SDK, reported with the metrics so the API shows which
   * versions of which applications are connected to each environment (and `diff` their drift).
   */
  application?: { name: string; version?: string }
  /**
   * Server mode: facts about this application (framework version, schema it expects, …), reported with
   * the metrics; at most 50, each a string, number, boolean or list of strings.
   */
  facts?: Record<string, FactValue>
  /** Random source in [0, 1) for jitter (tests). */
  random?: () => number
}

/** Where the client's current data came from. */
export type DataSource = 'server' | 'bootstrap' | 'cache'

/** Payloads of client events. */
export interface ClientEvents {
  /** First usable data (once). */
  ready: { source: DataSource }
  /** Keys of flags whose configuration or value changed. */
  change: string[]
  /** A failure; `fatal` errors (401/403) pause the SDK until the next probe (`authRetryMs`). */
  error: SwitchyardError
  /** Nothing was confirmed by the server for `staleAfterMs`; answers come from old data. */
  stale: { since: number }
  /** The server confirmed the data again after `stale`, or after a 401/403 (the token works again). */
  fresh: { since: number }
}

/** Event names. */
export type ClientEventName = keyof ClientEvents

/** Widens literal defaults: `variation(k, c, 'a')` is a string, not `'a'`. */
export type Widen<T> = T extends boolean ? boolean : T extends string ? string : T extends number ? number : T

/**
 * The client's condition, most severe first: `closed` after close(); `error` while the server's last word
 * was a 401/403 (the data is kept, the SDK probes every `authRetryMs`); `stale` between `stale` and
 * `fresh`; `ready` once usable data arrived (the `ready` event); `initializing` before that. It maps onto
 * OpenFeature's ProviderStatus (NOT_READY, READY, STALE, ERROR). Where the data came from (`source`) and
 * the transport (`polling`) are separate: any of them can go with any status.
 */
export type ClientStatus = 'initializing' | 'ready' | 'stale' | 'error' | 'closed'

/** A Switchyard SDK client. Every evaluation answers synchronously from memory and never throws. */
export interface SwitchyardClient {
  /** Boolean flag value; `defaultValue` (false) when unknown, off without offVariation, or not boolean. */
  isEnabled(key: string, context?: Context, defaultValue?: boolean): boolean
  /** Flag value, or `defaultValue` on any error (including a type different from the default's). */
  variation<T extends JsonValue>(key: string, context: Context | undefined, defaultValue: T): Widen<T>
  /** Flag value with its variation index and reason. */
  variationDetail<T extends JsonValue>(
    key: string,
    context: Context | undefined,
    defaultValue: T,
  ): EvaluationDetail<Widen<T>>
  /** Values of every flag for the context (client mode: every client-side flag of the identified context). */
  allFlags(context?: Context): Record<string, JsonValue>
  /** Resolves on first usable data; rejects with READY_TIMEOUT after `timeoutMs`, with the fatal error on 401/403, with CLOSED on close. */
  ready(opts?: { timeoutMs?: number }): Promise<void>
  /** Client mode: switch to another context and reconnect; resolves when its values arrive. Server mode: sets the default context. */
  identify(context: Context, signature?: string): Promise<void>
  /** The change-log id of the last applied change (null before any server data). */
  readonly appliedId: string | null
  /** Where the current data came from (null while nothing is known). */
  readonly source: DataSource | null
  /** True while `status` is `stale`: between `stale` and `fresh` (a refused client is `error`, not also stale). */
  readonly stale: boolean
  /** True while the SDK polls instead of streaming. */
  readonly polling: boolean
  /** The client's condition (see {@link ClientStatus}); changes come with the `ready`, `stale`, `fresh` and `error` events. */
  readonly status: ClientStatus
  on<E extends ClientEventName>(event: E, fn: (payload: ClientEvents[E]) => void): void
  off<E extends ClientEventName>(event: E, fn: (payload: ClientEvents[E]) => void): void
  /** Stop streaming, polling and timers; flush metrics and last-known-good. */
  close(): Promise<void>
}
