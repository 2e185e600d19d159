import { type RulesDelete, type RulesPatch, SSE_EVENTS, type SseEventName } from '../../sdk/core/protocol.js'
import type { SegmentDelta } from '../../sdk/core/types.js'
import { type ChangeType, type LogEntry, wireSegment } from '../store/changelog.js'
import { type Wire, wire } from './sse.js'

// The change log itself (entry types, append, parse, stream ids) is src/store/changelog.ts; this module
// is what its entries become on the server stream.

/** The SSE event each change type becomes: the one mapping (frames and the events metric use it). */
export const ENTRY_EVENT = {
  'flag.put': SSE_EVENTS.patch,
  'flag.delete': SSE_EVENTS.delete,
  'segment.put': SSE_EVENTS.patch,
  'segment.delete': SSE_EVENTS.delete,
  'segment.members': SSE_EVENTS.segmentDelta,
} as const satisfies Record<ChangeType, SseEventName>

/** The payload of an entry's SSE event, in the protocol's types. */
function entryPayload(e: LogEntry): RulesPatch | RulesDelete | SegmentDelta {
  switch (e.type) {
    case 'flag.put':
      return { kind: 'flag', flag: e.data.flag }
    case 'flag.delete':
      return { kind: 'flag', key: e.data.key }
    case 'segment.put':
      return { kind: 'segment', segment: wireSegment(e.data.segment) }
    case 'segment.delete':
      return { kind: 'segment', key: e.data.key }
    case 'segment.members': {
      const { key, list, add, remove, version } = e.data
      return { key, list, add, remove, version }
    }
  }
}

/** The SSE event (name and data) an entry becomes on the server stream. */
export function entryEvent(e: LogEntry): { event: SseEventName; data: string } {
  return { event: ENTRY_EVENT[e.type], data: JSON.stringify(entryPayload(e)) }
}

/** One SSE frame. `data` must not contain line breaks (JSON.stringify output never does). */
export function sseFrame(event: SseEventName, data: string, id?: string): string {
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${data}\n\n`
}

const framed = new WeakMap<LogEntry, Wire>()

/** The server-stream frame of an entry, formatted and encoded once (also as an HTTP chunk), shared by every stream. */
export function entryWire(e: LogEntry): Wire {
  let f = framed.get(e)
  if (f === undefined) {
    const { event, data } = entryEvent(e)
    f = wire(sseFrame(event, data, e.id))
    framed.set(e, f)
  }
  return f
}

/** The frames of consecutive entries as one shared chunk (one entry: its own cached frame). */
export function batchWire(entries: LogEntry[]): Wire {
  if (entries.length === 1) return entryWire(entries[0]!)
  return wire(Buffer.concat(entries.map((e) => entryWire(e).frame)))
}
