import type { RulesetFlag, Segment, SegmentDelta } from '../../sdk/core/types.js'
import type { Command } from './atomic.js'
import { envKeys } from './keys.js'

/**
 * The change log: one Redis stream per environment (envKeys(env).log), each
 * entry `t` (its type) and `d` (its JSON data). This module is its only
 * definition: the entry types, how an entry is appended (one builder, one
 * cap) and how it is read. The SSE frames an entry becomes live in
 * src/stream/changelog.ts.
 */

/** A segment as the change log carries it: members present only when that write replaced them. */
export interface LoggedSegment extends Omit<Segment, 'included' | 'excluded'> {
  included?: string[]
  excluded?: string[]
  createdAt?: string
  updatedAt?: string
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

/** The data of each entry type, as written and as read. */
export interface EntryData {
  'flag.put': { flag: RulesetFlag }
  'flag.delete': { key: string }
  'segment.put': { segment: LoggedSegment }
  'segment.delete': { key: string }
  'segment.members': SegmentDelta
  [ENV_DELETED_TYPE]: Record<string, never>
  [TOKEN_REVOKED_TYPE]: { tokenId: string }
}

/** Every entry type the log holds. */
export type EntryType = keyof EntryData

/** Change types: the entries parseEntry returns, which the stream hub forwards to SDKs. */
export type ChangeType = Exclude<EntryType, typeof ENV_DELETED_TYPE | typeof TOKEN_REVOKED_TYPE>

/** One parsed change-log entry. */
export type LogEntry = { [T in ChangeType]: { id: string; type: T; data: EntryData[T] } }[ChangeType]

/**
 * The XADD that appends one entry to `env`'s log; the only way entries are
 * written. Always capped at `maxLen` (CHANGELOG_MAXLEN) with approximate
 * trimming (~), which keeps XADD O(1): Redis drops whole macro nodes.
 */
export function appendCommand<T extends EntryType>(maxLen: number, env: string, type: T, data: EntryData[T]): Command {
  return ['XADD', envKeys(env).log, 'MAXLEN', '~', maxLen, '*', 't', type, 'd', JSON.stringify(data)]
}

const CHANGE_TYPES = new Set<string>([
  'flag.put',
  'flag.delete',
  'segment.put',
  'segment.delete',
  'segment.members',
] satisfies ChangeType[])

/** Parses an XRANGE/XREAD entry; null for an entry this version does not understand (and for control entries). */
export function parseEntry(raw: [string, string[]]): LogEntry | null {
  const [id, fields] = raw
  let t: string | undefined
  let d: string | undefined
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 't') t = fields[i + 1]
    else if (fields[i] === 'd') d = fields[i + 1]
  }
  if (t === undefined || d === undefined || !CHANGE_TYPES.has(t)) return null
  try {
    // The data was written by appendCommand for this type: trusted, not re-validated.
    return { id, type: t, data: JSON.parse(d) } as LogEntry
  } catch {
    return null
  }
}

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
