import type { LogEntry, LoggedSegment } from '../store/changelog.js'
import { type Wire, wire } from './sse.js'

// The change log itself (entry types, append, parse, stream ids) is src/store/changelog.ts; this module
// is what its entries become on the server stream.

/** The wire segment (Segment fields only; members only when the write replaced them). */
export function wireSegment(s: LoggedSegment): LoggedSegment {
  const { createdAt: _c, updatedAt: _u, ...rest } = s
  return rest
}

/** The SSE event (name and data) an entry becomes on the server stream. */
export function entryEvent(e: LogEntry): { event: string; data: string } {
  switch (e.type) {
    case 'flag.put':
      return { event: 'patch', data: JSON.stringify({ kind: 'flag', flag: e.data.flag }) }
    case 'flag.delete':
      return { event: 'delete', data: JSON.stringify({ kind: 'flag', key: e.data.key }) }
    case 'segment.put':
      return { event: 'patch', data: JSON.stringify({ kind: 'segment', segment: wireSegment(e.data.segment) }) }
    case 'segment.delete':
      return { event: 'delete', data: JSON.stringify({ kind: 'segment', key: e.data.key }) }
    case 'segment.members': {
      const { key, list, add, remove, version } = e.data
      return { event: 'segment-delta', data: JSON.stringify({ key, list, add, remove, version }) }
    }
  }
}

/** One SSE frame. `data` must not contain line breaks (JSON.stringify output never does). */
export function sseFrame(event: string, data: string, id?: string): string {
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
