import { EventEmitter } from 'node:events'
import type { ServerResponse } from 'node:http'
import type { FastifyBaseLogger } from 'fastify'
import { compile, type Compiled } from '../../sdk/core/index.js'
import type { Context } from '../../sdk/core/types.js'
import type { RulesetService } from '../services/ruleset.js'
import type { StoreMonitor } from '../store/marker.js'
import type { Store } from '../store/store.js'
import { StreamLimiter, type StreamLimits } from './limits.js'
import type { StreamMetrics } from './metrics.js'
import {
  type ChannelOptions,
  type ChannelHost,
  type ChannelStopReason,
  DEFAULT_IDLE_CHANNEL_MS,
  EnvChannel,
  SYNC_TIMEOUT_MS,
} from './channel.js'
import { clientValues } from './client-fanout.js'
import { clientSub, type OpenStream, PING, type Put, serverSub, StreamWriter, type Sub } from './subscriber.js'

export { type ChannelStopReason, DEFAULT_IDLE_CHANNEL_MS } from './channel.js'

export interface HubOptions {
  store: Store
  rulesets: RulesetService
  metrics: StreamMetrics
  heartbeatMs: number
  maxBufferBytes: number
  tokenRecheckMs: number
  /** An environment's reader stops after this long without streams or evaluations (STREAM_IDLE_CHANNEL_MS). */
  idleChannelMs?: number
  /** STREAM_MAX_PER_INSTANCE (after the file-descriptor check), STREAM_MAX_PER_TOKEN, STREAM_MAX_PER_IP; unlimited when absent. */
  limits?: StreamLimits
  /** Tells a lost store (STORE_RESET) from deleted environments and revoked tokens. */
  storeMonitor?: StoreMonitor
  log?: FastifyBaseLogger
  /**
   * Milliseconds since the epoch (the app passes its injected clock): when a
   * channel was last used, the change-log lag. The timers (heartbeat, sweep,
   * token re-check) keep real time.
   */
  now: () => number
}

/**
 * The fan-out hub of one API instance: environment channels created lazily
 * (first stream or evaluation) and stopped after STREAM_IDLE_CHANNEL_MS
 * without either, or when their environment is deleted; one heartbeat timer
 * for every stream, a periodic check that the streams' tokens still exist,
 * and bounded buffers (its StreamWriter). The registry of streams is here:
 * a stream closed by the writer or by its client is forgotten by its channel
 * through `unregister`. Channels reach the hub only as their ChannelHost.
 *
 * `events` emits 'channel-start' (env) and 'channel-stop' (env, reason).
 */
export class StreamHub implements ChannelHost {
  readonly events = new EventEmitter()
  private readonly channels = new Map<string, EnvChannel>()
  private readonly subs = new Map<Sub, EnvChannel>()
  private heartbeat: NodeJS.Timeout | null = null
  private recheck: NodeJS.Timeout | null = null
  private sweeper: NodeJS.Timeout | null = null
  private readonly idleMs: number
  private closing = false
  private readonly limiter: StreamLimiter
  private readonly io: StreamWriter
  private readonly channelOptions: ChannelOptions

  constructor(private readonly o: HubOptions) {
    this.idleMs = o.idleChannelMs ?? DEFAULT_IDLE_CHANNEL_MS
    const unlimited = Number.MAX_SAFE_INTEGER
    this.limiter = new StreamLimiter(o.limits ?? { perInstance: unlimited, perToken: unlimited, perIp: 0 }, (limit) =>
      o.metrics.refusals.inc({ limit }),
    )
    this.io = new StreamWriter({
      maxBufferBytes: o.maxBufferBytes,
      metrics: o.metrics,
      closed: (s) => this.unregister(s),
    })
    this.channelOptions = {
      store: o.store,
      rulesets: o.rulesets,
      metrics: o.metrics,
      io: this.io,
      now: o.now,
      storeMonitor: o.storeMonitor,
      log: o.log,
    }
  }

  /**
   * Takes a stream slot for this response before the stream opens, or throws
   * TOO_MANY_STREAMS; the slot is released when the response closes.
   */
  admit(res: ServerResponse, tokenId: string, ip: string): void {
    this.limiter.admit(res, tokenId, ip)
  }

  start(): void {
    this.heartbeat = setInterval(() => this.ping(), this.o.heartbeatMs)
    this.heartbeat.unref()
    if (this.o.tokenRecheckMs > 0) {
      this.recheck = setInterval(() => void this.recheckTokens(), this.o.tokenRecheckMs)
      this.recheck.unref()
    }
    this.armSweeper()
  }

  private armSweeper(): void {
    if (this.sweeper !== null) clearInterval(this.sweeper)
    // Checked at a fraction of the idle time: a channel stops between idleMs and 1.25 × idleMs after its last use.
    this.sweeper = setInterval(() => this.stopIdleChannels(), Math.max(10, Math.min(this.idleMs / 4, 30_000)))
    this.sweeper.unref()
  }

  private stopIdleChannels(): void {
    const cutoff = this.o.now() - this.idleMs
    for (const ch of [...this.channels.values()]) {
      if (ch.lastUse <= cutoff && ch.idle && !ch.isStopped) this.stopChannel(ch, 'idle')
    }
  }

  private stopChannel(ch: EnvChannel, reason: ChannelStopReason): void {
    if (this.channels.get(ch.env) === ch) this.channels.delete(ch.env)
    if (ch.isStopped) return
    ch.stop()
    this.o.metrics.channels.set(this.channels.size)
    this.o.metrics.channelStops.inc({ reason })
    this.o.log?.debug({ env: ch.env, reason }, 'environment channel stopped')
    this.events.emit('channel-stop', ch.env, reason)
  }

  /**
   * The channel's reader saw the environment's deletion count change: it was
   * deleted (and possibly re-created with the same key). Its streams are
   * closed (an SDK reconnecting to a re-created environment gets a fresh
   * `put`; to a deleted one, 404) and the compiled state is discarded.
   */
  environmentGone(ch: EnvChannel): void {
    this.o.log?.info({ env: ch.env }, 'environment deleted: its streams are closed and its state discarded')
    this.stopChannel(ch, 'deleted')
    for (const s of ch.streams) this.io.drop(s, 'deleted')
  }

  private async channel(env: string): Promise<EnvChannel> {
    for (;;) {
      if (this.closing) throw new Error('the stream hub is closing')
      let ch = this.channels.get(env)
      if (!ch) {
        ch = new EnvChannel(env, this.channelOptions, this)
        this.channels.set(env, ch)
        this.o.metrics.channels.set(this.channels.size)
        this.events.emit('channel-start', env)
        const created = ch
        created.ready.catch(() => {
          // Redis was unreachable: forget the channel so the next request tries again.
          if (this.channels.get(env) === created) this.channels.delete(env)
          this.o.metrics.channels.set(this.channels.size)
          created.stop()
        })
      }
      ch.lastUse = this.o.now()
      await ch.ready
      // Stopped meanwhile (environment deleted): use the new one.
      if (!ch.isStopped) {
        ch.lastUse = this.o.now()
        return ch
      }
    }
  }

  /** The compiled state of an environment including every change written before this call (read-your-writes). */
  async compiled(env: string): Promise<{ state: Compiled; id: string }> {
    const ch = await this.channel(env)
    const last = await this.o.store.lastChangeId(env)
    if ((await ch.waitFor(last, SYNC_TIMEOUT_MS)) && !ch.isStopped) return { state: ch.state, id: ch.lastId }
    // The reader is behind (Redis trouble) or was stopped: correctness first, compile a fresh snapshot.
    const snap = await this.o.rulesets.snapshot(env)
    return { state: compile(snap.ruleset), id: snap.id }
  }

  /** The state this instance serves now, without waiting for later writes (to check SDK reports against the flags). */
  async current(env: string): Promise<Compiled> {
    return (await this.channel(env)).state
  }

  /** The ruleset of an environment including every change written before this call (polling route). */
  async rules(env: string): Promise<Put> {
    const ch = await this.channel(env)
    await ch.waitFor(await this.o.store.lastChangeId(env), SYNC_TIMEOUT_MS)
    return ch.currentPut()
  }

  /** Evaluated client-side values for one context (polling route). */
  async clientValues(env: string, context: Context): Promise<{ json: string; id: string }> {
    const { state, id } = await this.compiled(env)
    await this.channel(env)
    return { json: clientValues(state, context).json, id }
  }

  /** Serves a rules stream on an already opened event-stream response. */
  async serveRules(env: string, stream: OpenStream, tokenId: string, lastEventId: string | null): Promise<void> {
    const s = serverSub(stream, tokenId)
    const ch = await this.register(env, s)
    if (!ch) return
    try {
      await ch.addServer(s, lastEventId)
    } catch (err) {
      this.o.log?.warn({ err, env }, 'rules stream failed to start')
      this.io.drop(s, 'resync')
    }
  }

  /** Serves a browser values stream on an already opened event-stream response. */
  async serveClient(env: string, stream: OpenStream, tokenId: string, context: Context): Promise<void> {
    const s = clientSub(stream, tokenId, context)
    const ch = await this.register(env, s)
    if (ch) ch.addClient(s)
  }

  private async register(env: string, s: Sub): Promise<EnvChannel | null> {
    s.res.on('close', () => this.unregister(s))
    s.res.on('error', () => {})
    let ch: EnvChannel
    try {
      ch = await this.channel(env)
    } catch (err) {
      this.o.log?.warn({ err, env }, 'stream could not start')
      s.res.destroy()
      return null
    }
    if (s.closed || s.res.destroyed) return null
    if (this.closing) {
      // closeStreams() ran while this stream was starting: it would keep the HTTP server from closing.
      s.closed = true
      s.res.destroy()
      return null
    }
    this.subs.set(s, ch)
    this.o.metrics.connections.inc({ kind: s.kind })
    return ch
  }

  private unregister(s: Sub): void {
    s.closed = true
    const ch = this.subs.get(s)
    if (!ch) return
    this.subs.delete(s)
    ch.removeSub(s)
    this.o.metrics.connections.dec({ kind: s.kind })
  }

  private ping(): void {
    for (const s of this.subs.keys()) this.io.write(s, PING)
  }

  /** Closes every stream of a revoked token on this instance (from the change log's token.revoke entry). */
  revoke(tokenId: string): void {
    for (const s of [...this.subs.keys()]) if (s.tokenId === tokenId) this.io.drop(s, 'revoked')
  }

  /** Streams whose token was revoked are closed (checked every STREAM_TOKEN_RECHECK_MS, in case an entry was missed). */
  private async recheckTokens(): Promise<void> {
    const ids = [...new Set([...this.subs.keys()].map((s) => s.tokenId))]
    if (ids.length === 0) return
    try {
      const found = await this.o.store.tokens.exist(ids)
      const gone = new Set(ids.filter((_, i) => !found[i]))
      if (gone.size === 0) return
      // Every token vanishes with a lost store: SDKs keep their streams and last-known-good rules.
      if (await this.o.storeMonitor?.check()) return
      for (const s of [...this.subs.keys()]) if (gone.has(s.tokenId)) this.io.drop(s, 'revoked')
    } catch {
      // Redis unreachable: try again next time.
    }
  }

  /** Ends every stream (before the HTTP server closes, so app.close() does not wait on them). */
  closeStreams(): void {
    this.closing = true
    for (const s of [...this.subs.keys()]) this.io.drop(s, 'shutdown')
  }

  /** Stops the readers and timers. */
  stop(): void {
    this.closeStreams()
    if (this.heartbeat) clearInterval(this.heartbeat)
    if (this.recheck) clearInterval(this.recheck)
    if (this.sweeper) clearInterval(this.sweeper)
    this.sweeper = null
    for (const ch of [...this.channels.values()]) this.stopChannel(ch, 'shutdown')
    this.channels.clear()
  }
}
