/**
 * The browser streams of one environment (sdk-client tokens): they get values
 * evaluated for their own context, never rules. After each change only the
 * client-side flags it can affect are re-evaluated (the engine's dependency
 * index, sdk/core/dependents.ts), and a stream gets a `patch` only when one of
 * its values changed, else a coalesced `ack`.
 */
import { affectedFlags, type Compiled, evaluateAll, evaluateDetail } from '../../sdk/core/index.js'
import { SSE_EVENTS } from '../../sdk/core/protocol.js'
import type { Context, RulesetFlag } from '../../sdk/core/types.js'
import type { LogEntry } from '../store/changelog.js'
import { sseFrame } from './changelog.js'
import { clientValueJson } from './client-context.js'
import type { StreamMetrics } from './metrics.js'
import { type Wire, wire } from './sse.js'
import type { ClientSub, StreamWriter } from './subscriber.js'

const ACK_COALESCE_MS = 100
const isClientSide = (f: RulesetFlag) => f.clientSide === true

/** What the fan-out reads from its channel: the compiled state and the id of the last entry applied to it. */
export interface FanoutSource {
  readonly state: Compiled
  readonly lastId: string
}

/** Values of the client-side flags for one context, as `{"flags":{…}}` JSON, and the per-flag JSON. */
export function clientValues(state: Compiled, context: Context): { json: string; values: Map<string, string> } {
  const values = new Map<string, string>()
  const parts: string[] = []
  for (const [k, d] of Object.entries(evaluateAll(state, context, isClientSide))) {
    const json = clientValueJson(d)
    values.set(k, json)
    parts.push(`${JSON.stringify(k)}:${json}`)
  }
  return { json: `{"flags":{${parts.join(',')}}}`, values }
}

export class ClientFanout {
  readonly clients = new Set<ClientSub>()
  private readonly byKey = new Map<string, Set<ClientSub>>()
  private ackTimer: NodeJS.Timeout | null = null
  private stopped = false

  constructor(
    private readonly source: FanoutSource,
    private readonly io: StreamWriter,
    private readonly metrics: Pick<StreamMetrics, 'events'>,
  ) {}

  get size(): number {
    return this.clients.size
  }

  add(s: ClientSub): void {
    // Synchronous with the state: the put reflects lastId and every later entry reaches this stream.
    const { json, values } = clientValues(this.source.state, s.context)
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
    const id = this.source.lastId
    s.sentId = id
    this.io.write(s, sseFrame(SSE_EVENTS.put, json, id), true)
    this.metrics.events.inc({ event: SSE_EVENTS.put })
  }

  remove(s: ClientSub): void {
    this.clients.delete(s)
    if (s.key !== null) {
      const set = this.byKey.get(s.key)
      set?.delete(s)
      if (set?.size === 0) this.byKey.delete(s.key)
    }
  }

  /** After the channel applied `e` (its state was `before`): patches for the streams whose values changed. */
  ingest(before: Compiled, e: LogEntry): void {
    this.dispatch(before, e)
    this.scheduleAck()
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

  /** Forgets a pending ack (the state was replaced, or the channel stops). */
  cancelAck(): void {
    if (this.ackTimer !== null) clearTimeout(this.ackTimer)
    this.ackTimer = null
  }

  private flushAcks(): void {
    const id = this.source.lastId
    let frame: Wire | null = null
    let n = 0
    for (const s of this.clients) {
      if (s.sentId === id) continue
      frame ??= wire(sseFrame(SSE_EVENTS.ack, '{}', id))
      if (this.io.write(s, frame)) {
        s.sentId = id
        n++
      }
    }
    if (n > 0) this.metrics.events.inc({ event: SSE_EVENTS.ack }, n)
  }

  /**
   * Re-evaluates, for each browser stream, only the client-side flags whose
   * values the entry can change (the engine's dependency index says which).
   */
  private dispatch(before: Compiled, e: LogEntry): void {
    const state = this.source.state
    let subs: Iterable<ClientSub> = this.clients
    let keys: string[]
    if (e.type === 'flag.put' || e.type === 'flag.delete') {
      const key = e.type === 'flag.put' ? e.data.flag.key : e.data.key
      keys = affectedFlags(state, [key]).filter((k) => state.flags.get(k)?.flag.clientSide === true)
      if (before.flags.get(key)?.flag.clientSide === true && !keys.includes(key)) keys.push(key)
    } else {
      // A segment change: the flags testing it (through segments too) and their dependents; no
      // flag's clientSide changes, so streams hold values of client-side flags only. In the state's
      // order, as a full re-evaluation would send them.
      const affected = new Set(affectedFlags(state, [], [e.type === 'segment.put' ? e.data.segment.key : e.data.key]))
      keys = affected.size === 0 ? [] : clientFlagKeys(state).filter((k) => affected.has(k))
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
    for (const s of subs) if (this.sendChanges(s, state, keys, e.id)) n++
    if (n > 0) this.metrics.events.inc({ event: SSE_EVENTS.patch }, n)
  }

  private sendChanges(s: ClientSub, state: Compiled, keys: string[], id: string): boolean {
    if (s.closed) return false
    const changed: string[] = []
    const removed: string[] = []
    for (const k of keys) {
      const f = state.flags.get(k)
      if (f === undefined || f.flag.clientSide !== true) {
        if (s.values.delete(k)) removed.push(k)
        continue
      }
      const json = clientValueJson(evaluateDetail(state, k, s.context, null))
      if (s.values.get(k) !== json) {
        s.values.set(k, json)
        changed.push(`${JSON.stringify(k)}:${json}`)
      }
    }
    if (changed.length === 0 && removed.length === 0) return false
    if (
      !this.io.write(
        s,
        sseFrame(SSE_EVENTS.patch, `{"flags":{${changed.join(',')}},"removed":${JSON.stringify(removed)}}`, id),
      )
    )
      return false
    s.sentId = id
    return true
  }

  stop(): void {
    this.stopped = true
    this.cancelAck()
  }
}

function clientFlagKeys(state: Compiled): string[] {
  const out: string[] = []
  for (const [k, f] of state.flags) if (f.flag.clientSide === true) out.push(k)
  return out
}
