import type { Ruleset, RulesetFlag, Segment } from '../../sdk/core/types.js'
import { isStreamId, type LogEntry, type LoggedSegment, parseEntry } from '../store/changelog.js'
import { wireSegment } from '../stream/changelog.js'
import { envKeys } from '../store/keys.js'
import type { Store } from '../store/store.js'

/** A ruleset and the change-log id it corresponds to (every entry up to `id` is in it, none after). */
export interface Snapshot {
  ruleset: Ruleset
  id: string
}

/** SSCAN page size: members of a 1,000,000-id segment are read in ~100 round trips, never in one blocking reply. */
const SCAN_COUNT = 10_000
/** XRANGE page size. */
const RANGE_COUNT = 1_000
/** A snapshot whose base id was trimmed away while members were scanned is retried this often. */
const SNAPSHOT_ATTEMPTS = 5

interface SegmentState {
  meta: Omit<Segment, 'included' | 'excluded'>
  included: Set<string>
  excluded: Set<string>
}

/**
 * Ruleset assembly, consistent with the change log.
 *
 * Approach (chosen over one MULTI/Lua that would return up to millions of
 * members in one reply and block Redis meanwhile):
 *  1. One MULTI reads the last log id X, the flags, the segment metadata and
 *     the segment versions: a state exactly at X.
 *  2. Members are read afterwards with SSCAN, not atomically: each id's
 *     membership is that at X or that of a later change.
 *  3. Every log entry after X is replayed on top, in order. Each entry sets
 *     its target outright (flag put/delete, segment put/delete, members
 *     add/remove per id), so replay is idempotent: an id changed after X ends
 *     with its last change; an id not changed after X was read correctly by
 *     SSCAN (an element present, or absent, throughout a scan is reported
 *     accordingly). The snapshot's id is the last replayed entry's id.
 *  If X was trimmed away before the replay could start (more than
 *  CHANGELOG_MAXLEN writes during the scan) the whole read is retried.
 */
export class RulesetService {
  constructor(private readonly store: Store) {}

  /** A consistent snapshot of an environment (see the class comment). */
  async snapshot(env: string): Promise<Snapshot> {
    for (let attempt = 1; ; attempt++) {
      const s = await this.trySnapshot(env)
      if (s !== null) return s
      if (attempt >= SNAPSHOT_ATTEMPTS)
        throw new Error(
          `ruleset of ${env}: the change log was trimmed ${attempt} times during the read; raise CHANGELOG_MAXLEN`,
        )
    }
  }

  private async trySnapshot(env: string): Promise<Snapshot | null> {
    const k = envKeys(env)
    const redis = this.store.redis
    const res = await redis
      .multi()
      .xrevrange(k.log, '+', '-', 'COUNT', 1)
      .hgetall(k.flags)
      .hgetall(k.segments)
      .hgetall(k.segmentVersions)
      .exec()
    if (res === null) throw new Error('ruleset snapshot: MULTI aborted')
    for (const [err] of res) if (err) throw err
    const last = res[0]![1] as Array<[string, string[]]>
    const base = last[0]?.[0] ?? '0-0'
    const flags = new Map<string, RulesetFlag>()
    for (const [key, raw] of Object.entries(res[1]![1] as Record<string, string>))
      flags.set(key, JSON.parse(raw) as RulesetFlag)
    const versions = res[3]![1] as Record<string, string>
    const segments = new Map<string, SegmentState>()
    for (const [key, raw] of Object.entries(res[2]![1] as Record<string, string>)) {
      const m = JSON.parse(raw) as LoggedSegment
      const meta = wireSegment({ ...m, version: Number(versions[key] ?? 0) })
      segments.set(key, { meta, included: new Set(), excluded: new Set() })
    }
    for (const [key, s] of segments) {
      await this.scanInto(k.included(key), s.included)
      await this.scanInto(k.excluded(key), s.excluded)
    }
    const entries = await this.readAfter(env, base)
    if (entries === null) return null
    for (const e of entries) applyEntry(flags, segments, e)
    const id = entries.length > 0 ? entries[entries.length - 1]!.id : base
    return { id, ruleset: toRuleset(env, flags, segments) }
  }

  private async scanInto(key: string, into: Set<string>): Promise<void> {
    let cursor = '0'
    do {
      const [next, batch] = await this.store.redis.sscan(key, cursor, 'COUNT', SCAN_COUNT)
      for (const id of batch) into.add(id)
      cursor = next
    } while (cursor !== '0')
  }

  /**
   * The log entries after `fromId` (exclusive), in order; null when the log
   * cannot prove nothing was lost after it: a malformed id, an id no longer
   * (or never) in the log, or `0-0` once entries were trimmed.
   */
  async readAfter(env: string, fromId: string): Promise<LogEntry[] | null> {
    if (!isStreamId(fromId)) return null
    const key = envKeys(env).log
    const redis = this.store.redis
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
      info = (await this.store.redis.xinfo('STREAM', envKeys(env).log)) as unknown[]
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

/** Replays one log entry on a ruleset being assembled (idempotent per target; see RulesetService). */
function applyEntry(flags: Map<string, RulesetFlag>, segments: Map<string, SegmentState>, e: LogEntry): void {
  switch (e.type) {
    case 'flag.put':
      flags.set(e.data.flag.key, e.data.flag)
      return
    case 'flag.delete':
      flags.delete(e.data.key)
      return
    case 'segment.put': {
      const { included, excluded, ...rest } = wireSegment(e.data.segment)
      const prev = segments.get(rest.key)
      segments.set(rest.key, {
        meta: rest,
        included: included ? new Set(included) : (prev?.included ?? new Set()),
        excluded: excluded ? new Set(excluded) : (prev?.excluded ?? new Set()),
      })
      return
    }
    case 'segment.delete':
      segments.delete(e.data.key)
      return
    case 'segment.members': {
      const s = segments.get(e.data.key)
      // Versions at or below the snapshot's were already in the data read (same rule as applySegmentDelta).
      if (s === undefined || !(e.data.version > s.meta.version)) return
      const set = e.data.list === 'excluded' ? s.excluded : s.included
      for (const id of e.data.add) set.add(id)
      for (const id of e.data.remove) set.delete(id)
      s.meta = { ...s.meta, version: e.data.version }
      return
    }
  }
}

function toRuleset(env: string, flags: Map<string, RulesetFlag>, segments: Map<string, SegmentState>): Ruleset {
  const out: Ruleset = { specVersion: 1, environment: env, flags: {}, segments: {} }
  for (const key of [...flags.keys()].sort()) out.flags[key] = flags.get(key)!
  for (const key of [...segments.keys()].sort()) {
    const s = segments.get(key)!
    out.segments[key] = { ...s.meta, included: [...s.included], excluded: [...s.excluded] }
  }
  return out
}
