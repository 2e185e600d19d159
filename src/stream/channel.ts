/**
 * One environment's channel on this instance: its reader, compiled state, rules streams and read-your-writes
 * (see EnvChannel). Browser streams are the ClientFanout's; writes and closing are the StreamWriter's; the
 * owner (the hub) is reached only through ChannelHost.
 */
import type { FastifyBaseLogger } from 'fastify'
import {
  applyFlag,
  applySegment,
  applySegmentDelta,
  compile,
  type Compiled,
  removeFlag,
  removeSegment,
} from '../../sdk/core/index.js'
import { SSE_EVENTS } from '../../sdk/core/protocol.js'
import type { RulesetService, Snapshot } from '../services/ruleset.js'
import type { StoreMonitor } from '../store/marker.js'
import type { Store } from '../store/store.js'
import { exponentialDelay } from '../../sdk/transport/backoff.js'
import {
  type ChangeLogTail,
  compareIds,
  idTime,
  type LogEntry,
  parseEntry,
  revokedToken,
  wireSegment,
} from '../store/changelog.js'
import { batchWire, ENTRY_EVENT, entryWire } from './changelog.js'
import { ClientFanout } from './client-fanout.js'
import type { StreamMetrics } from './metrics.js'
import type { ClientSub, Put, ServerSub, StreamWriter, Sub } from './subscriber.js'

/** Why a channel (an environment's reader and compiled state) stopped. */
export type ChannelStopReason = 'idle' | 'deleted' | 'shutdown'

export const DEFAULT_IDLE_CHANNEL_MS = 300_000

/** What a channel needs to run: its sources, its writer and a clock; the same for every channel of a hub. */
export interface ChannelOptions {
  store: Store
  rulesets: RulesetService
  metrics: StreamMetrics
  /** Writes to the streams and closes them (a dropped stream is removed from its channel by the writer's owner). */
  io: StreamWriter
  /** Milliseconds since the epoch (the app's injected clock): last use, change-log lag. */
  now: () => number
  /** Tells a lost store (STORE_RESET) from a deleted environment. */
  storeMonitor?: StoreMonitor | undefined
  log?: FastifyBaseLogger | undefined
}

/**
 * What the channel's reader asks of its owner, for the entries that concern
 * more than this channel. The channel never reaches further into its owner.
 */
export interface ChannelHost {
  /**
   * The environment's deletion count changed: it was deleted (and maybe
   * re-created). The owner stops this channel and closes its streams; the
   * reader has already stopped reading.
   */
  environmentGone(ch: EnvChannel): void
  /** A token.revoke entry: every stream of that token, in any environment, is closed. */
  revoke(tokenId: string): void
}

const READ_BLOCK_MS = 5000
const READ_COUNT = 500
export const SYNC_TIMEOUT_MS = 2000

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
  private readonly fanout: ClientFanout
  readonly ready: Promise<void>
  private tail: ChangeLogTail | null = null
  private stopped = false
  private needsCheck = false
  /** The environment's `generation` (envKeys(env).meta) when this channel started. */
  private generation: string | null = null
  /** Last stream, evaluation or poll (for the idle shutdown). */
  lastUse: number
  private waiters: Array<{ id: string; resolve: () => void }> = []
  private putCache: Put | null = null
  private putBuilding: Promise<Put> | null = null
  /** Entries of the current read not yet sent to the rules streams (flushServers). */
  private batch: LogEntry[] = []
  /** Ends holdWhileReset() when the channel stops. */
  private holdRelease: (() => void) | null = null

  constructor(
    readonly env: string,
    private readonly o: ChannelOptions,
    private readonly host: ChannelHost,
  ) {
    this.lastUse = o.now()
    this.fanout = new ClientFanout(this, o.io, o.metrics)
    this.ready = this.start()
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
          this.host.environmentGone(this)
          return
        }
        for (const raw of entries) {
          const e = parseEntry(raw)
          if (e !== null) this.ingest(e)
          else {
            this.lastId = raw[0]
            const revoked = revokedToken(raw)
            if (revoked === null) continue
            // The entries before the revocation reach every stream first, as they would one by one.
            this.flushServers()
            this.host.revoke(revoked)
          }
        }
        this.flushServers()
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
    this.fanout.cancelAck()
    // Server streams reconnect with Last-Event-ID and get a fresh put; browsers get a new put on reconnect too.
    for (const s of this.streams) this.o.io.drop(s, 'resync')
  }

  /**
   * Applies one change to the compiled state; the browser streams get their values now, the rules
   * streams with the rest of the read (flushServers).
   */
  private ingest(e: LogEntry): void {
    const before = this.state
    this.state = nextState(before, e)
    this.lastId = e.id
    this.o.metrics.lag.observe(Math.max(0, this.o.now() - idTime(e.id)) / 1000)
    if (this.servers.size > 0) this.batch.push(e)
    if (this.fanout.size > 0) this.fanout.ingest(before, e)
  }

  /**
   * Sends the entries of one read to every rules stream: the frames of all of them as ONE shared
   * chunk, so a burst of changes costs each stream one socket write, not one per change (the write
   * is a system call; its cost, not the encoding, dominates the fan-out). Per stream, in order:
   * buffered while its snapshot or replay is sent, or only the entries above what the replay sent.
   */
  private flushServers(): void {
    const batch = this.batch
    if (batch.length === 0) return
    this.batch = []
    const io = this.o.io
    const all = batchWire(batch)
    let n = 0
    for (const s of this.servers) {
      if (s.pending !== null) {
        for (const e of batch) s.pending.push(e)
        continue
      }
      const upTo = s.sentUpTo
      if (upTo === null) {
        if (io.write(s, all)) n++
        continue
      }
      const from = batch.findIndex((e) => compareIds(e.id, upTo) > 0)
      if (from === -1) continue
      s.sentUpTo = null
      const rest = batch.slice(from)
      if (io.write(s, from === 0 ? all : batchWire(rest))) this.countEvents(rest, 1)
    }
    if (n > 0) this.countEvents(batch, n)
  }

  private countEvents(entries: LogEntry[], streams: number): void {
    for (const e of entries) this.o.metrics.events.inc({ event: ENTRY_EVENT[e.type] }, streams)
  }

  /** Every open stream of this environment, rules and browser. */
  get streams(): Sub[] {
    return [...this.servers, ...this.fanout.clients]
  }

  addClient(s: ClientSub): void {
    this.fanout.add(s)
  }

  removeSub(s: Sub): void {
    this.lastUse = this.o.now()
    if (s.kind === 'server') this.servers.delete(s as ServerSub)
    else this.fanout.remove(s as ClientSub)
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
      this.o.io.writePut(s, put)
      this.o.metrics.events.inc({ event: SSE_EVENTS.put })
      upTo = this.replay(s, entries, put.id)
    }
    const pending = s.pending
    s.pending = null
    for (const e of pending) {
      if (compareIds(e.id, upTo) > 0) {
        this.o.io.write(s, entryWire(e))
        upTo = e.id
      }
    }
    s.sentUpTo = upTo
  }

  private replay(s: ServerSub, entries: LogEntry[], from: string): string {
    for (const e of entries)
      if (this.o.io.write(s, entryWire(e))) this.o.metrics.events.inc({ event: ENTRY_EVENT[e.type] })
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
    return this.servers.size === 0 && this.fanout.size === 0 && this.waiters.length === 0 && this.putBuilding === null
  }

  stop(): void {
    this.stopped = true
    this.fanout.stop()
    this.tail?.close()
    this.tail = null
    this.holdRelease?.()
    for (const w of this.waiters) w.resolve()
    this.waiters = []
  }
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
