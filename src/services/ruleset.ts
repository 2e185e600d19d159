import type { Ruleset, RulesetFlag, Segment } from '../../sdk/core/types.js'
import { type LogEntry, wireSegment } from '../store/changelog.js'
import type { Store } from '../store/store.js'

/** A ruleset and the change-log id it corresponds to (every entry up to `id` is in it, none after). */
export interface Snapshot {
  ruleset: Ruleset
  id: string
}

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
    const at = await this.store.snapshot.state(env)
    const flags = new Map<string, RulesetFlag>(Object.entries(at.flags))
    const segments = new Map<string, SegmentState>()
    for (const [key, { meta: m, version }] of Object.entries(at.segments)) {
      const meta = wireSegment({ ...m, version })
      segments.set(key, { meta, included: new Set(), excluded: new Set() })
    }
    for (const [key, s] of segments) {
      await this.store.snapshot.members(env, key, 'included', s.included)
      await this.store.snapshot.members(env, key, 'excluded', s.excluded)
    }
    const entries = await this.readAfter(env, at.base)
    if (entries === null) return null
    for (const e of entries) applyEntry(flags, segments, e)
    const id = entries.length > 0 ? entries[entries.length - 1]!.id : at.base
    return { id, ruleset: toRuleset(env, flags, segments) }
  }

  /**
   * The log entries after `fromId` (exclusive), in order; null when the log
   * cannot prove nothing was lost after it (ChangeLog.after).
   */
  readAfter(env: string, fromId: string): Promise<LogEntry[] | null> {
    return this.store.changelog.after(env, fromId)
  }
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
