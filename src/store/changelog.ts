import type { RulesetFlag, Segment, SegmentDelta } from '../../sdk/core/types.js'
import { blockingConnection, type RedisClient } from '../redis/connect.js'
import type { Command } from './atomic.js'
import type { StoreContext } from './context.js'
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

/** The wire segment (Segment fields only; members only when the write replaced them). */
export function wireSegment(s: LoggedSegment): LoggedSegment {
  const { createdAt: _c, updatedAt: _u, ...rest } = s
  return rest
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

/** appendCommand with the store's cap: what repositories put into their atomic writes. */
export function changeCommand<T extends EntryType>(
  ctx: StoreContext,
  env: string,
  type: T,
  data: EntryData[T],
): Command {
  return appendCommand(ctx.limits.changelogMaxLen, env, type, data)
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

/** XRANGE page size. */
const RANGE_COUNT = 1_000

/** Control entries: appended on their own, outside any atomic write (see ChangeLog.announce). */
export type ControlType = typeof ENV_DELETED_TYPE | typeof TOKEN_REVOKED_TYPE

/** What one read of a change-log tail returns. */
export interface TailRead {
  /** Raw entries after the id read from (parseEntry / revokedToken turn them into changes). */
  entries: Array<[string, string[]]>
  /** The environment's `generation` right after the read (null: deleted). */
  generation: string | null
}

/**
 * A reader following one environment's change log on a connection of its own
 * (XREAD BLOCK holds a connection: see blockingConnection). One per stream
 * channel; close() ends it.
 */
export class ChangeLogTail {
  private readonly conn: RedisClient

  constructor(
    redis: RedisClient,
    private readonly env: string,
    private readonly blockMs: number,
  ) {
    this.conn = blockingConnection(redis, blockMs)
    // Failures surface as rejected reads, which the reader retries.
    this.conn.on('error', () => {})
  }

  /** The entries after `lastId` (waits up to blockMs for one), and the generation read in the same round trip. */
  async read(lastId: string, count: number): Promise<TailRead> {
    const k = envKeys(this.env)
    // The HGET runs right after the XREAD returns (same connection, same round trip): entries
    // of a re-created environment can only exist once the generation changed.
    const replies = await this.conn
      .pipeline()
      .xread('COUNT', count, 'BLOCK', this.blockMs, 'STREAMS', k.log, lastId)
      .hget(k.meta, 'generation')
      .exec()
    if (replies === null) throw new Error('change-log read: pipeline aborted')
    for (const [err] of replies) if (err) throw err
    const res = replies[0]![1] as Array<[string, Array<[string, string[]]>]> | null
    return { entries: (res ?? []).flatMap(([, entries]) => entries), generation: replies[1]![1] as string | null }
  }

  close(): void {
    this.conn.disconnect()
  }
}

/** Reading the change log, and appending its control entries. */
export class ChangeLog {
  constructor(private readonly ctx: StoreContext) {}

  /** Last id of an environment's change log ('0-0' when empty). */
  async lastId(env: string): Promise<string> {
    const r = (await this.ctx.redis.xrevrange(envKeys(env).log, '+', '-', 'COUNT', 1)) as Array<[string, string[]]>
    return r[0]?.[0] ?? '0-0'
  }

  /** A tail reader of `env`'s log on its own blocking connection (the caller closes it). */
  tail(env: string, blockMs: number): ChangeLogTail {
    return new ChangeLogTail(this.ctx.redis, env, blockMs)
  }

  /**
   * Appends a control entry on its own. Deliberately outside the atomic write
   * of the change it announces: an environment's log lives in that
   * environment's hash slot, while token and environment records are global
   * ({global}), and one Lua script cannot span two slots. A crash in between
   * loses only the wake-up: readers also notice by generation and by the
   * periodic token recheck.
   */
  async announce<T extends ControlType>(env: string, type: T, data: EntryData[T]): Promise<void> {
    await this.ctx.redis.call(...changeCommand(this.ctx, env, type, data))
  }

  /**
   * The log entries after `fromId` (exclusive), in order; null when the log
   * cannot prove nothing was lost after it: a malformed id, an id no longer
   * (or never) in the log, or `0-0` once entries were trimmed.
   */
  async after(env: string, fromId: string): Promise<LogEntry[] | null> {
    if (!isStreamId(fromId)) return null
    const key = envKeys(env).log
    const redis = this.ctx.redis
    const out: LogEntry[] = []
    let start: string
    if (fromId === '0-0') {
      // An empty log had id 0-0: a replay from the start is complete only if nothing was ever trimmed.
      const maxDeleted = await this.maxDeletedId(env)
      if (maxDeleted !== null && maxDeleted !== '0-0') return null
      start = '-'
    } else {
      // Inclusive first page: it must start with fromId itself, which proves nothing after it was trimmed.
      const page = (await redis.xrange(key, fromId, '+', 'COUNT', RANGE_COUNT)) as Array<[string, string[]]>
      if (page[0]?.[0] !== fromId) return null
      for (const raw of page.slice(1)) pushParsed(out, raw)
      if (page.length < RANGE_COUNT) return out
      start = `(${page[page.length - 1]![0]}`
    }
    for (;;) {
      const page = (await redis.xrange(key, start, '+', 'COUNT', RANGE_COUNT)) as Array<[string, string[]]>
      for (const raw of page) pushParsed(out, raw)
      if (page.length < RANGE_COUNT) return out
      start = `(${page[page.length - 1]![0]}`
    }
  }

  /** `max-deleted-entry-id` of the log (Redis ≥ 7.0); null when the log does not exist. */
  private async maxDeletedId(env: string): Promise<string | null> {
    let info: unknown[]
    try {
      info = (await this.ctx.redis.xinfo('STREAM', envKeys(env).log)) as unknown[]
    } catch (e) {
      if (/no such key/i.test((e as Error).message)) return null
      throw e
    }
    for (let i = 0; i + 1 < info.length; i += 2) if (info[i] === 'max-deleted-entry-id') return String(info[i + 1])
    // Redis < 7.0 does not say what was trimmed: assume something was.
    return 'unknown'
  }
}

function pushParsed(out: LogEntry[], raw: [string, string[]]): void {
  const e = parseEntry(raw)
  if (e !== null) out.push(e)
}
