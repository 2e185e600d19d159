/**
 * One environment's channel on this instance: its reader, compiled state and streams (see EnvChannel).
 */
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import {
  affectedFlags,
  applyFlag,
  applySegment,
  applySegmentDelta,
  compile,
  type Compiled,
  evaluateAll,
  evaluateDetail,
  removeFlag,
  removeSegment,
} from '../../sdk/core/index.js'
import { SSE_EVENTS } from '../../sdk/core/protocol.js'
import type { Context, RulesetFlag } from '../../sdk/core/types.js'
import type { Snapshot } from '../services/ruleset.js'
import { exponentialDelay } from '../../sdk/transport/backoff.js'
import { type ChangeLogTail, compareIds, idTime, type LogEntry, parseEntry, revokedToken } from '../store/changelog.js'
import { ENTRY_EVENT, entryWire, sseFrame, wireSegment } from './changelog.js'
import { clientValueJson } from './client-context.js'
import { type Wire, wire } from './sse.js'

import type { HubOptions, StreamHub } from './hub.js'

export type DropReason = 'slow' | 'revoked' | 'resync' | 'shutdown' | 'deleted'

/** Why a channel (an environment's reader and compiled state) stopped. */
export type ChannelStopReason = 'idle' | 'deleted' | 'shutdown'

export const DEFAULT_IDLE_CHANNEL_MS = 300_000
const ACK_COALESCE_MS = 100

export interface Sub {
  readonly kind: 'server' | 'client'
  readonly res: ServerResponse
  /** The response's socket: shared pre-framed chunks are written here directly (null: through `res`). */
  readonly sock: Socket | null
  readonly tokenId: string
  closed: boolean
  /** Bytes of a `put` still allowed in the socket buffer on top of the limit (a big ruleset is not a slow client). */
  allowance: number
}

export interface ServerSub extends Sub {
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

export interface ClientSub extends Sub {
  kind: 'client'
  context: Context
  key: string | null
  /** Last value JSON sent per flag key. */
  values: Map<string, string>
  /** Id of the last event (put, patch or ack) written to this stream. */
  sentId: string
}

export const PING = wire(': ping\n\n')

const READ_BLOCK_MS = 5000
const READ_COUNT = 500
export const SYNC_TIMEOUT_MS = 2000
const isClientSide = (f: RulesetFlag) => f.clientSide === true

/**
 * One environment on this instance: the compiled engine state (kept current
 * from the change log, shared by evaluations and every browser stream), the
 * streams, and ONE reader (XREAD BLOCK on its own connection, a blocking
 * command must not share the app's connection).
 */
export class EnvChannel {
  state!: Compiled
  /** Id of the last change-log entry applied to `state`. */
  lastId = '0-0'
  readonly servers = new Set<ServerSub>()
  readonly clients = new Set<ClientSub>()
  private readonly byKey = new Map<string, Set<ClientSub>>()
  readonly ready: Promise<void>
  private tail: ChangeLogTail | null = null
  private stopped = false
  private needsCheck = false
  /** The environment's `generation` (envKeys(env).meta) when this channel started. */
  private generation: string | null = null
  /** Last stream, evaluation or poll (for the idle shutdown). */
  lastUse = Date.now()
  private ackTimer: NodeJS.Timeout | null = null
  private waiters: Array<{ id: string; resolve: () => void }> = []
  private putCache: Put | null = null
  private putBuilding: Promise<Put> | null = null
  /** Ends holdWhileReset() when the channel stops. */
  private holdRelease: (() => void) | null = null

  constructor(
    readonly env: string,
    private readonly hub: StreamHub,
  ) {
    this.ready = this.start()
  }

  private get o(): HubOptions {
    return this.hub.o
  }

  get isStopped(): boolean {
    return this.stopped
  }

  private async start(): Promise<void> {
    // Read before the snapshot: a deletion after this read is seen by the first XREAD's check.
    this.generation = await this.o.store.environments.generation(this.env)
    const snap = await this.o.rulesets.snapshot(this.env)
    this.state = compile(snap.ruleset)
    this.lastId = snap.id
    this.putCache = toPut(snap)
    if (this.stopped) return
    this.tail = this.o.store.changelog.tail(this.env, READ_BLOCK_MS)
    void this.loop()
  }

  private async loop(): Promise<void> {
    // Consecutive failed reads: the retry waits 50 ms, 100 ms, … capped at 2 s, no jitter.
    let failures = 0
    while (!this.stopped && this.tail !== null) {
      try {
        if (this.needsCheck) await this.checkContinuity()
        // The generation is read in the same round trip, right after the entries (ChangeLogTail.read).
        const { entries, generation } = await this.tail.read(this.lastId, READ_COUNT)
        failures = 0
        if (this.stopped) return
        if (generation !== this.generation) {
          if (await this.holdWhileReset()) continue
          // Deleted (and maybe re-created): nothing of this state may be served again.
          this.hub.environmentGone(this)
          return
        }
        for (const raw of entries) {
          const e = parseEntry(raw)
          if (e !== null) this.ingest(e)
          else {
            this.lastId = raw[0]
            const revoked = revokedToken(raw)
            if (revoked !== null) this.hub.revoke(revoked)
          }
        }
        this.resolveWaiters()
      } catch (err) {
        if (this.stopped) return
        this.o.metrics.readerErrors.inc()
        this.o.log?.warn({ err, env: this.env }, 'change-log reader failed; retrying')
        // The log may have been trimmed past lastId, or Redis may have lost data, while we could not read.
        this.needsCheck = true
        await new Promise((r) => setTimeout(r, exponentialDelay(failures++, 50, 2000)))
      }
    }
  }

  /**
   * A store that lost its data (StoreMonitor) is not an environment that was
   * deleted, nor a log that was trimmed: keep the state and the streams as
   * they are (SDKs keep last-known-good, nobody is told to delete anything)
   * until the store is restored or re-initialised, then check again.
   * True when it waited.
   */
  private async holdWhileReset(): Promise<boolean> {
    const monitor = this.o.storeMonitor
    if (monitor === undefined || !(await monitor.check())) return false
    this.o.log?.debug({ env: this.env }, "store reset: this environment's streams keep their last-known-good state")
    this.needsCheck = true
    this.o.metrics.held.inc()
    try {
      await Promise.race([monitor.whenRestored(), new Promise<void>((res) => (this.holdRelease = res))])
    } finally {
      this.holdRelease = null
      this.o.metrics.held.dec()
    }
    return true
  }

  /** After a read failure: if entries after lastId may be lost, rebuild from a snapshot and restart streams. */
  private async checkContinuity(): Promise<void> {
    const entries = await this.o.rulesets.readAfter(this.env, this.lastId)
    if (entries === null && (await this.holdWhileReset())) return
    this.needsCheck = false
    if (entries !== null) return
    const snap = await this.o.rulesets.snapshot(this.env)
    this.o.log?.warn(
      { env: this.env, from: this.lastId, to: snap.id },
      'change log discontinuous; resynchronised from a snapshot',
    )
    this.state = compile(snap.ruleset)
    this.lastId = snap.id
    this.putCache = toPut(snap)
    this.cancelAck()
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
      const frame = entryWire(e)
      let n = 0
      for (const s of this.servers) {
        if (s.pending !== null) s.pending.push(e)
        else if (s.sentUpTo !== null && compareIds(e.id, s.sentUpTo) <= 0) continue
        else {
          s.sentUpTo = null
          if (this.hub.write(s, frame)) n++
        }
      }
      if (n > 0) this.o.metrics.events.inc({ event: ENTRY_EVENT[e.type] }, n)
    }
    if (this.clients.size > 0) {
      this.dispatchClients(before, e)
      this.scheduleAck()
    }
  }

  /**
   * Browser streams only get an event when their own values change, yet
   * their SDK reports the id it has applied as the proof a change arrived.
   * So after entries that changed nothing for a stream, it gets a tiny
   * `event: ack` carrying the newest id: at most one per stream per
   * ACK_COALESCE_MS (one timer per environment), and none when a real event
   * already carried that id.
   */
  private scheduleAck(): void {
    if (this.ackTimer !== null || this.stopped) return
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null
      this.flushAcks()
    }, ACK_COALESCE_MS)
    this.ackTimer.unref()
  }

  private cancelAck(): void {
    if (this.ackTimer !== null) clearTimeout(this.ackTimer)
    this.ackTimer = null
  }

  private flushAcks(): void {
    const id = this.lastId
    let frame: Wire | null = null
    let n = 0
    for (const s of this.clients) {
      if (s.sentId === id) continue
      frame ??= wire(sseFrame(SSE_EVENTS.ack, '{}', id))
      if (this.hub.write(s, frame)) {
        s.sentId = id
        n++
      }
    }
    if (n > 0) this.o.metrics.events.inc({ event: SSE_EVENTS.ack }, n)
  }

  // ---- browser streams ----

  /**
   * Re-evaluates, for each browser stream, only the client-side flags whose
   * values the entry can change (the engine's dependency index says which).
   */
  private dispatchClients(before: Compiled, e: LogEntry): void {
    let subs: Iterable<ClientSub> = this.clients
    let keys: string[]
    if (e.type === 'flag.put' || e.type === 'flag.delete') {
      const key = e.type === 'flag.put' ? e.data.flag.key : e.data.key
      keys = affectedFlags(this.state, [key]).filter((k) => this.state.flags.get(k)?.flag.clientSide === true)
      if (before.flags.get(key)?.flag.clientSide === true && !keys.includes(key)) keys.push(key)
    } else {
      // A segment change: the flags testing it (through segments too) and their dependents; no
      // flag's clientSide changes, so streams hold values of client-side flags only. In the state's
      // order, as a full re-evaluation would send them.
      const affected = new Set(
        affectedFlags(this.state, [], [e.type === 'segment.put' ? e.data.segment.key : e.data.key]),
      )
      keys = affected.size === 0 ? [] : this.clientFlagKeys().filter((k) => affected.has(k))
      if (e.type === 'segment.members') {
        // Membership of a key changes only the answers of contexts with that key.
        const touched = new Set<ClientSub>()
        for (const list of [e.data.add, e.data.remove])
          for (const id of list) for (const s of this.byKey.get(id) ?? []) touched.add(s)
        subs = touched
      }
    }
    if (keys.length === 0) return
    let n = 0
    for (const s of subs) if (this.sendClientChanges(s, keys, e.id)) n++
    if (n > 0) this.o.metrics.events.inc({ event: SSE_EVENTS.patch }, n)
  }

  private sendClientChanges(s: ClientSub, keys: string[], id: string): boolean {
    if (s.closed) return false
    const changed: string[] = []
    const removed: string[] = []
    for (const k of keys) {
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
    if (
      !this.hub.write(
        s,
        sseFrame(SSE_EVENTS.patch, `{"flags":{${changed.join(',')}},"removed":${JSON.stringify(removed)}}`, id),
      )
    )
      return false
    s.sentId = id
    return true
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
      if (!set) {
        set = new Set()
        this.byKey.set(s.key, set)
      }
      set.add(s)
    }
    s.sentId = this.lastId
    this.hub.write(s, sseFrame(SSE_EVENTS.put, json, this.lastId), true)
    this.o.metrics.events.inc({ event: SSE_EVENTS.put })
  }

  removeSub(s: Sub): void {
    this.lastUse = Date.now()
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
      this.o.metrics.events.inc({ event: SSE_EVENTS.put })
      upTo = this.replay(s, entries, put.id)
    }
    const pending = s.pending
    s.pending = null
    for (const e of pending) {
      if (compareIds(e.id, upTo) > 0) {
        this.hub.write(s, entryWire(e))
        upTo = e.id
      }
    }
    s.sentUpTo = upTo
  }

  private replay(s: ServerSub, entries: LogEntry[], from: string): string {
    for (const e of entries)
      if (this.hub.write(s, entryWire(e))) this.o.metrics.events.inc({ event: ENTRY_EVENT[e.type] })
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
      const w = {
        id,
        resolve: () => {
          clearTimeout(timer)
          resolve(true)
        },
      }
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

  /** True when nothing uses this channel: no stream, no evaluation waiting, no put being built. */
  get idle(): boolean {
    return this.servers.size === 0 && this.clients.size === 0 && this.waiters.length === 0 && this.putBuilding === null
  }

  stop(): void {
    this.stopped = true
    this.cancelAck()
    this.tail?.close()
    this.tail = null
    this.holdRelease?.()
    for (const w of this.waiters) w.resolve()
    this.waiters = []
  }
}

/** A ruleset ready to send: the JSON as bytes (encoded once) and its change-log id. */
export interface Put {
  id: string
  body: Buffer
}

export function toPut(snap: Snapshot): Put {
  return { id: snap.id, body: Buffer.from(JSON.stringify(snap.ruleset)) }
}

/** The engine state after one change (incremental: only the changed flag or segment is compiled). */
export function nextState(c: Compiled, e: LogEntry): Compiled {
  switch (e.type) {
    case 'flag.put':
      return applyFlag(c, e.data.flag)
    case 'flag.delete':
      return removeFlag(c, e.data.key)
    case 'segment.put':
      // A segment.put without member lists keeps the compiled member sets (never re-reads 1M ids).
      return applySegment(c, wireSegment(e.data.segment))
    case 'segment.delete':
      return removeSegment(c, e.data.key)
    case 'segment.members':
      return applySegmentDelta(c, e.data)
  }
}
