import type { ServerResponse } from 'node:http'
import type { FastifyBaseLogger } from 'fastify'
import type { Redis } from 'ioredis'
import {
  applyFlag, applySegment, applySegmentDelta, compile, type Compiled, evaluateAll, evaluateDetail, removeFlag, removeSegment,
} from '../../sdk/core/index.js'
import type { Context, RulesetFlag } from '../../sdk/core/types.js'
import type { RulesetService, Snapshot } from '../services/ruleset.js'
import { globalKeys, envKeys } from '../store/keys.js'
import type { Store } from '../store/store.js'
import { compareIds, entryFrame, idTime, type LogEntry, parseEntry, sseFrame, wireSegment } from './changelog.js'
import { clientValueJson } from './client-context.js'
import type { StreamMetrics } from './metrics.js'

export interface HubOptions {
  redis: Redis
  store: Store
  rulesets: RulesetService
  metrics: StreamMetrics
  heartbeatMs: number
  maxBufferBytes: number
  tokenRecheckMs: number
  log?: FastifyBaseLogger
}

type DropReason = 'slow' | 'revoked' | 'resync' | 'shutdown'

interface Sub {
  readonly kind: 'server' | 'client'
  readonly res: ServerResponse
  readonly tokenId: string
  closed: boolean
  /** Bytes of a `put` still allowed in the socket buffer on top of the limit (a big ruleset is not a slow client). */
  allowance: number
}

interface ServerSub extends Sub {
  kind: 'server'
  /** Live entries buffered while the snapshot or replay is being sent; null once live. */
  pending: LogEntry[] | null
  /**
   * Id of the last entry sent by the snapshot/replay, which reads Redis and can
   * be ahead of this instance's reader: live entries up to it are skipped.
   * Null once the reader has passed it.
   */
  sentUpTo: string | null
}

interface ClientSub extends Sub {
  kind: 'client'
  context: Context
  key: string | null
  /** Last value JSON sent per flag key. */
  values: Map<string, string>
}

const PING = Buffer.from(': ping\n\n')
const READ_BLOCK_MS = 5000
const READ_COUNT = 500
const SYNC_TIMEOUT_MS = 2000
const isClientSide = (f: RulesetFlag) => f.clientSide === true

/**
 * One environment on this instance: the compiled engine state (kept current
 * from the change log, shared by evaluations and every browser stream), the
 * streams, and ONE reader (XREAD BLOCK on its own connection, a blocking
 * command must not share the app's connection).
 */
class EnvChannel {
  state!: Compiled
  /** Id of the last change-log entry applied to `state`. */
  lastId = '0-0'
  readonly servers = new Set<ServerSub>()
  readonly clients = new Set<ClientSub>()
  private readonly byKey = new Map<string, Set<ClientSub>>()
  readonly ready: Promise<void>
  private conn: Redis | null = null
  private stopped = false
  private needsCheck = false
  private waiters: Array<{ id: string; resolve: () => void }> = []
  private putCache: Put | null = null
  private putBuilding: Promise<Put> | null = null

  constructor(
    readonly env: string,
    private readonly hub: StreamHub,
  ) {
    this.ready = this.start()
  }

  private get o(): HubOptions {
    return this.hub.o
  }

  private async start(): Promise<void> {
    const snap = await this.o.rulesets.snapshot(this.env)
    this.state = compile(snap.ruleset)
    this.lastId = snap.id
    this.putCache = toPut(snap)
    if (this.stopped) return
    this.conn = this.o.redis.duplicate({ lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: null, retryStrategy: (n: number) => Math.min(100 * 2 ** n, 2000) })
    this.conn.on('error', () => {})
    void this.loop()
  }

  private async loop(): Promise<void> {
    const key = envKeys(this.env).log
    let backoff = 50
    while (!this.stopped && this.conn !== null) {
      try {
        if (this.needsCheck) await this.checkContinuity()
        const res = (await this.conn.xread('COUNT', READ_COUNT, 'BLOCK', READ_BLOCK_MS, 'STREAMS', key, this.lastId)) as
          | Array<[string, Array<[string, string[]]>]>
          | null
        backoff = 50
        if (this.stopped) return
        for (const [, entries] of res ?? []) {
          for (const raw of entries) {
            const e = parseEntry(raw)
            if (e !== null) this.ingest(e)
            else this.lastId = raw[0]
          }
        }
        this.resolveWaiters()
      } catch (err) {
        if (this.stopped) return
        this.o.metrics.readerErrors.inc()
        this.o.log?.warn({ err, env: this.env }, 'change-log reader failed; retrying')
        // The log may have been trimmed past lastId, or Redis may have lost data, while we could not read.
        this.needsCheck = true
        await new Promise((r) => setTimeout(r, backoff))
        backoff = Math.min(backoff * 2, 2000)
      }
    }
  }

  /** After a read failure: if entries after lastId may be lost, rebuild from a snapshot and restart streams. */
  private async checkContinuity(): Promise<void> {
    const entries = await this.o.rulesets.readAfter(this.env, this.lastId)
    this.needsCheck = false
    if (entries !== null) return
    const snap = await this.o.rulesets.snapshot(this.env)
    this.o.log?.warn({ env: this.env, from: this.lastId, to: snap.id }, 'change log discontinuous; resynchronised from a snapshot')
    this.state = compile(snap.ruleset)
    this.lastId = snap.id
    this.putCache = toPut(snap)
    // Server streams reconnect with Last-Event-ID and get a fresh put; browsers get a new put on reconnect too.
    for (const s of [...this.servers, ...this.clients]) this.hub.drop(s, 'resync')
  }

  /** Applies one change to the compiled state and sends it to every stream of this environment. */
  private ingest(e: LogEntry): void {
    const before = this.state
    this.state = nextState(before, e)
    this.lastId = e.id
    this.o.metrics.lag.observe(Math.max(0, Date.now() - idTime(e.id)) / 1000)
    if (this.servers.size > 0) {
      const frame = entryFrame(e)
      let n = 0
      for (const s of this.servers) {
        if (s.pending !== null) s.pending.push(e)
        else if (s.sentUpTo !== null && compareIds(e.id, s.sentUpTo) <= 0) continue
        else {
          s.sentUpTo = null
          if (this.hub.write(s, frame)) n++
        }
      }
      if (n > 0) this.o.metrics.events.inc({ event: eventName(e) }, n)
    }
    if (this.clients.size > 0) this.dispatchClients(before, e)
  }

  // ---- browser streams ----

  private dispatchClients(before: Compiled, e: LogEntry): void {
    let subs: Iterable<ClientSub> = this.clients
    let keys: string[] | 'all' = 'all'
    if (e.type === 'segment.members') {
      // Membership of a key changes only the answers of contexts with that key.
      const touched = new Set<ClientSub>()
      for (const list of [e.data.add, e.data.remove]) for (const id of list) for (const s of this.byKey.get(id) ?? []) touched.add(s)
      subs = touched
    } else if (e.type === 'flag.put' || e.type === 'flag.delete') {
      const key = e.type === 'flag.put' ? e.data.flag.key : e.data.key
      keys = affectedFlags(this.state, key).filter((k) => this.state.flags.get(k)?.flag.clientSide === true)
      if (before.flags.get(key)?.flag.clientSide === true && !keys.includes(key)) keys.push(key)
      if (keys.length === 0) return
    }
    let n = 0
    for (const s of subs) if (this.sendClientChanges(s, keys, e.id)) n++
    if (n > 0) this.o.metrics.events.inc({ event: 'patch' }, n)
  }

  private sendClientChanges(s: ClientSub, keys: string[] | 'all', id: string): boolean {
    if (s.closed) return false
    const list = keys === 'all' ? new Set([...this.clientFlagKeys(), ...s.values.keys()]) : keys
    const changed: string[] = []
    const removed: string[] = []
    for (const k of list) {
      const f = this.state.flags.get(k)
      if (f === undefined || f.flag.clientSide !== true) {
        if (s.values.delete(k)) removed.push(k)
        continue
      }
      const json = clientValueJson(evaluateDetail(this.state, k, s.context, null))
      if (s.values.get(k) !== json) {
        s.values.set(k, json)
        changed.push(`${JSON.stringify(k)}:${json}`)
      }
    }
    if (changed.length === 0 && removed.length === 0) return false
    return this.hub.write(s, sseFrame('patch', `{"flags":{${changed.join(',')}},"removed":${JSON.stringify(removed)}}`, id))
  }

  private clientFlagKeys(): string[] {
    const out: string[] = []
    for (const [k, f] of this.state.flags) if (f.flag.clientSide === true) out.push(k)
    return out
  }

  /** Values of the client-side flags for one context, as `{"flags":{…}}` JSON, and the per-flag JSON. */
  clientValues(context: Context, state: Compiled = this.state): { json: string; values: Map<string, string> } {
    const values = new Map<string, string>()
    const parts: string[] = []
    for (const [k, d] of Object.entries(evaluateAll(state, context, isClientSide))) {
      const json = clientValueJson(d)
      values.set(k, json)
      parts.push(`${JSON.stringify(k)}:${json}`)
    }
    return { json: `{"flags":{${parts.join(',')}}}`, values }
  }

  addClient(s: ClientSub): void {
    // Synchronous with the state: the put reflects lastId and every later entry reaches this stream.
    const { json, values } = this.clientValues(s.context)
    s.values = values
    this.clients.add(s)
    if (s.key !== null) {
      let set = this.byKey.get(s.key)
      if (!set) this.byKey.set(s.key, (set = new Set()))
      set.add(s)
    }
    this.hub.write(s, sseFrame('put', json, this.lastId), true)
    this.o.metrics.events.inc({ event: 'put' })
  }

  removeSub(s: Sub): void {
    if (s.kind === 'server') this.servers.delete(s as ServerSub)
    else {
      const c = s as ClientSub
      this.clients.delete(c)
      if (c.key !== null) {
        const set = this.byKey.get(c.key)
        set?.delete(c)
        if (set?.size === 0) this.byKey.delete(c.key)
      }
    }
  }

  // ---- server (rules) streams ----

  /**
   * Sends the snapshot (or the replay after `lastEventId`) up to some id X,
   * then the live entries buffered meanwhile whose id is above X: nothing
   * missed, nothing twice.
   */
  async addServer(s: ServerSub, lastEventId: string | null): Promise<void> {
    s.pending = []
    this.servers.add(s)
    let upTo: string | null = null
    if (lastEventId !== null) {
      const entries = await this.o.rulesets.readAfter(this.env, lastEventId)
      if (entries !== null) upTo = this.replay(s, entries, lastEventId)
    }
    for (let attempt = 0; upTo === null; attempt++) {
      if (attempt >= 3) throw new Error(`could not assemble a put for ${this.env}`)
      const put = await this.currentPut()
      const entries = await this.o.rulesets.readAfter(this.env, put.id)
      if (entries === null) {
        this.putCache = null
        continue
      }
      if (s.closed) return
      this.hub.writePut(s, put)
      this.o.metrics.events.inc({ event: 'put' })
      upTo = this.replay(s, entries, put.id)
    }
    const pending = s.pending
    s.pending = null
    for (const e of pending) {
      if (compareIds(e.id, upTo) > 0) {
        this.hub.write(s, entryFrame(e))
        upTo = e.id
      }
    }
    s.sentUpTo = upTo
  }

  private replay(s: ServerSub, entries: LogEntry[], from: string): string {
    for (const e of entries) if (this.hub.write(s, entryFrame(e))) this.o.metrics.events.inc({ event: eventName(e) })
    return entries.length > 0 ? entries[entries.length - 1]!.id : from
  }

  /**
   * The ruleset as JSON bytes and its id, shared by every stream and poll
   * while nothing changed: one snapshot per change, not one per client.
   */
  currentPut(): Promise<Put> {
    const c = this.putCache
    if (c !== null && compareIds(c.id, this.lastId) >= 0) return Promise.resolve(c)
    this.putBuilding ??= this.o.rulesets
      .snapshot(this.env)
      .then((snap) => {
        const p = toPut(snap)
        this.putCache = p
        return p
      })
      .finally(() => {
        this.putBuilding = null
      })
    return this.putBuilding
  }

  // ---- read-your-writes for evaluations ----

  /** Resolves once `state` includes the entry `id` (false on timeout). */
  waitFor(id: string, timeoutMs: number): Promise<boolean> {
    if (compareIds(this.lastId, id) >= 0) return Promise.resolve(true)
    return new Promise((resolve) => {
      const w = { id, resolve: () => { clearTimeout(timer); resolve(true) } }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w)
        resolve(false)
      }, timeoutMs)
      this.waiters.push(w)
    })
  }

  private resolveWaiters(): void {
    if (this.waiters.length === 0) return
    const keep: typeof this.waiters = []
    for (const w of this.waiters) {
      if (compareIds(this.lastId, w.id) >= 0) w.resolve()
      else keep.push(w)
    }
    this.waiters = keep
  }

  stop(): void {
    this.stopped = true
    this.conn?.disconnect()
    this.conn = null
    for (const w of this.waiters) w.resolve()
    this.waiters = []
  }
}

/** A ruleset ready to send: the JSON as bytes (encoded once) and its change-log id. */
export interface Put {
  id: string
  body: Buffer
}

function toPut(snap: Snapshot): Put {
  return { id: snap.id, body: Buffer.from(JSON.stringify(snap.ruleset)) }
}

function eventName(e: LogEntry): string {
  return e.type === 'segment.members' ? 'segment-delta' : e.type.endsWith('.delete') ? 'delete' : 'patch'
}

/** The engine state after one change (incremental: only the changed flag or segment is compiled). */
function nextState(c: Compiled, e: LogEntry): Compiled {
  switch (e.type) {
    case 'flag.put':
      return applyFlag(c, e.data.flag)
    case 'flag.delete':
      return removeFlag(c, e.data.key)
    case 'segment.put': {
      const { included, excluded, ...meta } = wireSegment(e.data.segment)
      const prev = c.segments.get(meta.key)
      const next = applySegment(c, { ...meta, included: included ?? [], excluded: excluded ?? [] })
      if ((included && excluded) || prev === undefined) return next
      // Members unchanged by this write: keep the compiled member sets (never re-read 1M ids).
      const seg = next.segments.get(meta.key)!
      ;(next.segments as Map<string, typeof seg>).set(meta.key, {
        ...seg,
        included: included ? seg.included : prev.included,
        excluded: excluded ? seg.excluded : prev.excluded,
      })
      return next
    }
    case 'segment.delete':
      return removeSegment(c, e.data.key)
    case 'segment.members':
      return applySegmentDelta(c, e.data)
  }
}

/** `key` and every flag that has it as a (transitive) prerequisite. */
function affectedFlags(c: Compiled, key: string): string[] {
  const dependents = new Map<string, string[]>()
  for (const [k, f] of c.flags) {
    for (const p of f.flag.prerequisites ?? []) {
      let l = dependents.get(p.flag)
      if (!l) dependents.set(p.flag, (l = []))
      l.push(k)
    }
  }
  const seen = new Set([key])
  const queue = [key]
  while (queue.length > 0) for (const d of dependents.get(queue.pop()!) ?? []) if (!seen.has(d)) { seen.add(d); queue.push(d) }
  return [...seen]
}

/**
 * The fan-out hub of one API instance: environment channels created lazily
 * (first stream or evaluation), one heartbeat timer for every stream, a
 * periodic check that the streams' tokens still exist, and bounded buffers.
 */
export class StreamHub {
  private readonly channels = new Map<string, EnvChannel>()
  private readonly subs = new Map<Sub, EnvChannel>()
  private heartbeat: NodeJS.Timeout | null = null
  private recheck: NodeJS.Timeout | null = null
  private closing = false

  constructor(readonly o: HubOptions) {}

  start(): void {
    this.heartbeat = setInterval(() => this.ping(), this.o.heartbeatMs)
    this.heartbeat.unref()
    if (this.o.tokenRecheckMs > 0) {
      this.recheck = setInterval(() => void this.recheckTokens(), this.o.tokenRecheckMs)
      this.recheck.unref()
    }
  }

  private async channel(env: string): Promise<EnvChannel> {
    if (this.closing) throw new Error('the stream hub is closing')
    let ch = this.channels.get(env)
    if (!ch) {
      ch = new EnvChannel(env, this)
      this.channels.set(env, ch)
      const created = ch
      created.ready.catch(() => {
        // Redis was unreachable: forget the channel so the next request tries again.
        if (this.channels.get(env) === created) this.channels.delete(env)
        created.stop()
      })
    }
    await ch.ready
    return ch
  }

  /** The compiled state of an environment including every change written before this call (read-your-writes). */
  async compiled(env: string): Promise<{ state: Compiled; id: string }> {
    const ch = await this.channel(env)
    const last = await this.o.store.lastChangeId(env)
    if (await ch.waitFor(last, SYNC_TIMEOUT_MS)) return { state: ch.state, id: ch.lastId }
    // The reader is behind (Redis trouble): correctness first, compile a fresh snapshot.
    const snap = await this.o.rulesets.snapshot(env)
    return { state: compile(snap.ruleset), id: snap.id }
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
    const ch = await this.channel(env)
    return { json: ch.clientValues(context, state).json, id }
  }

  /** Serves a rules stream on an already opened event-stream response. */
  async serveRules(env: string, res: ServerResponse, tokenId: string, lastEventId: string | null): Promise<void> {
    const s: ServerSub = { kind: 'server', res, tokenId, closed: false, allowance: 0, pending: null, sentUpTo: null }
    const ch = await this.register(env, s)
    if (!ch) return
    try {
      await ch.addServer(s, lastEventId)
    } catch (err) {
      this.o.log?.warn({ err, env }, 'rules stream failed to start')
      this.drop(s, 'resync')
    }
  }

  /** Serves a browser values stream on an already opened event-stream response. */
  async serveClient(env: string, res: ServerResponse, tokenId: string, context: Context): Promise<void> {
    const s: ClientSub = { kind: 'client', res, tokenId, closed: false, allowance: 0, context, key: typeof context.key === 'string' ? context.key : null, values: new Map() }
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

  /**
   * Writes one frame. A stream whose unsent bytes exceed STREAM_MAX_BUFFER_BYTES
   * is closed instead (it resumes later with Last-Event-ID), so a client that
   * does not read never grows this process's memory without bound.
   */
  write(s: Sub, frame: string | Buffer, isPut = false): boolean {
    if (s.closed) return false
    if (!isPut && s.res.writableLength > this.o.maxBufferBytes + s.allowance) {
      this.drop(s, 'slow')
      return false
    }
    const flushed = s.res.write(frame)
    if (isPut) {
      s.allowance = flushed ? 0 : frame.length
      if (!flushed) s.res.once('drain', () => { s.allowance = 0 })
    }
    return true
  }

  /** Writes a `put` frame (the ruleset bytes are shared, not copied into a string per stream). */
  writePut(s: Sub, put: Put): void {
    if (s.closed) return
    s.res.write(`id: ${put.id}\nevent: put\ndata: `)
    s.res.write(put.body)
    if (s.res.write('\n\n')) return
    // A big ruleset still in the socket buffer is not a slow client.
    s.allowance = put.body.length
    s.res.once('drain', () => {
      s.allowance = 0
    })
  }

  drop(s: Sub, reason: DropReason): void {
    if (s.closed) return
    this.o.metrics.disconnects.inc({ reason })
    s.closed = true
    if (reason === 'slow') s.res.destroy()
    else s.res.end()
    this.unregister(s)
  }

  private ping(): void {
    for (const s of this.subs.keys()) this.write(s, PING)
  }

  /** Streams whose token was revoked are closed (checked every STREAM_TOKEN_RECHECK_MS). */
  private async recheckTokens(): Promise<void> {
    const ids = [...new Set([...this.subs.keys()].map((s) => s.tokenId))]
    if (ids.length === 0) return
    try {
      const found = await this.o.redis.hmget(globalKeys.tokens, ...ids)
      const gone = new Set(ids.filter((_, i) => found[i] === null))
      if (gone.size === 0) return
      for (const s of [...this.subs.keys()]) if (gone.has(s.tokenId)) this.drop(s, 'revoked')
    } catch {
      // Redis unreachable: try again next time.
    }
  }

  /** Counts of open streams (tests, diagnostics). */
  streamCount(): number {
    return this.subs.size
  }

  /** Ends every stream (before the HTTP server closes, so app.close() does not wait on them). */
  closeStreams(): void {
    this.closing = true
    for (const s of [...this.subs.keys()]) this.drop(s, 'shutdown')
  }

  /** Stops the readers and timers. */
  stop(): void {
    this.closeStreams()
    if (this.heartbeat) clearInterval(this.heartbeat)
    if (this.recheck) clearInterval(this.recheck)
    for (const ch of this.channels.values()) ch.stop()
    this.channels.clear()
  }
}
