import type { RulesetFlag, Segment, SegmentDelta } from '../../sdk/core/types.js'
import type { ChangeType } from '../store/store.js'
import { type Wire, wire } from './sse.js'

/** A segment as the change log carries it: members present only when that write replaced them. */
export interface LoggedSegment extends Omit<Segment, 'included' | 'excluded'> {
  included?: string[]
  excluded?: string[]
  createdAt?: string
  updatedAt?: string
}

/** One parsed change-log entry. */
export type LogEntry =
  | { id: string; type: 'flag.put'; data: { flag: RulesetFlag } }
  | { id: string; type: 'flag.delete'; data: { key: string } }
  | { id: string; type: 'segment.put'; data: { segment: LoggedSegment } }
  | { id: string; type: 'segment.delete'; data: { key: string } }
  | { id: string; type: 'segment.members'; data: SegmentDelta }

const ID = /^(\d{1,20})-(\d{1,20})$/

/** True for a well-formed stream id (`<ms>-<seq>`). */
export function isStreamId(id: string): boolean {
  return ID.test(id)
}

/** Compares two stream ids numerically (-1, 0, 1). Both must be well formed. */
export function compareIds(a: string, b: string): number {
  if (a === b) return 0
  const [am, as] = a.split('-') as [string, string]
  const [bm, bs] = b.split('-') as [string, string]
  // Ids can exceed 2^53: compare as digit strings (no leading zeros from Redis; strip any from clients).
  const c = cmpDigits(am, bm)
  return c !== 0 ? c : cmpDigits(as, bs)
}

function cmpDigits(a: string, b: string): number {
  const x = a.replace(/^0+(?=\d)/, '')
  const y = b.replace(/^0+(?=\d)/, '')
  if (x.length !== y.length) return x.length < y.length ? -1 : 1
  return x < y ? -1 : x > y ? 1 : 0
}

/** Milliseconds part of a stream id: when Redis wrote the entry. */
export function idTime(id: string): number {
  return Number(id.split('-')[0])
}

/**
 * Type of the entry appended to an environment's log when the environment is
 * deleted: it wakes the readers blocked on the log. parseEntry skips it (as
 * every type it does not know); readers notice the deletion by the
 * environment's `generation` (envKeys(env).meta).
 */
export const ENV_DELETED_TYPE = 'env.delete'

/**
 * Type of the entry appended to an SDK token's environment log when the token
 * is revoked (`d`: {"tokenId"}): every instance closes that token's streams at
 * once. Never forwarded to SDKs (parseEntry skips it).
 */
export const TOKEN_REVOKED_TYPE = 'token.revoke'

/** The token id of a TOKEN_REVOKED_TYPE entry, or null for any other entry. */
export function revokedToken(raw: [string, string[]]): string | null {
  const f = raw[1]
  for (let i = 0; i + 1 < f.length; i += 2) {
    if (f[i] === 't' && f[i + 1] !== TOKEN_REVOKED_TYPE) return null
  }
  for (let i = 0; i + 1 < f.length; i += 2) {
    if (f[i] === 'd') {
      try {
        const d = JSON.parse(f[i + 1] as string) as { tokenId?: unknown }
        return typeof d.tokenId === 'string' ? d.tokenId : null
      } catch {
        return null
      }
    }
  }
  return null
}

const TYPES = new Set<ChangeType>(['flag.put', 'flag.delete', 'segment.put', 'segment.delete', 'segment.members'])

/** Parses an XRANGE/XREAD entry; null for an entry this version does not understand. */
export function parseEntry(raw: [string, string[]]): LogEntry | null {
  const [id, fields] = raw
  let t: string | undefined
  let d: string | undefined
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 't') t = fields[i + 1]
    else if (fields[i] === 'd') d = fields[i + 1]
  }
  if (t === undefined || d === undefined || !TYPES.has(t as ChangeType)) return null
  try {
    return { id, type: t, data: JSON.parse(d) } as LogEntry
  } catch {
    return null
  }
}

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
