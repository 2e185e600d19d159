import type { RulesetFlag } from '../../sdk/core/types.js'
import type { LoggedSegment } from './changelog.js'
import type { StoreContext } from './context.js'
import { envKeys } from './keys.js'

/** SSCAN page size: members of a 1,000,000-id segment are read in ~100 round trips, never in one blocking reply. */
const SCAN_COUNT = 10_000

/** An environment's flags and segment metadata exactly as of change-log id `base`. */
export interface StateAt {
  base: string
  flags: Record<string, RulesetFlag>
  segments: Record<string, { meta: LoggedSegment; version: number }>
}

/**
 * The reads a ruleset snapshot is assembled from (src/services/ruleset.ts
 * holds how they combine with the change log into a consistent one).
 */
export class SnapshotReader {
  constructor(private readonly ctx: StoreContext) {}

  /** One MULTI: the last log id, the flags, the segment metadata and versions — a state exactly at that id. */
  async state(env: string): Promise<StateAt> {
    const k = envKeys(env)
    const res = await this.ctx.redis
      .multi()
      .xrevrange(k.log, '+', '-', 'COUNT', 1)
      .hgetall(k.flags)
      .hgetall(k.segments)
      .hgetall(k.segmentVersions)
      .exec()
    if (res === null) throw new Error('ruleset snapshot: MULTI aborted')
    for (const [err] of res) if (err) throw err
    const last = res[0]![1] as Array<[string, string[]]>
    const flags: Record<string, RulesetFlag> = {}
    for (const [key, raw] of Object.entries(res[1]![1] as Record<string, string>))
      flags[key] = JSON.parse(raw) as RulesetFlag
    const versions = res[3]![1] as Record<string, string>
    const segments: StateAt['segments'] = {}
    for (const [key, raw] of Object.entries(res[2]![1] as Record<string, string>))
      segments[key] = { meta: JSON.parse(raw) as LoggedSegment, version: Number(versions[key] ?? 0) }
    return { base: last[0]?.[0] ?? '0-0', flags, segments }
  }

  /**
   * Every member of one list of a segment, read page by page (SSCAN), not
   * atomically: each id's membership is that at the time of the state read or
   * that of a later change, which the change-log replay then settles.
   */
  async members(env: string, segment: string, list: 'included' | 'excluded', into: Set<string>): Promise<void> {
    const k = envKeys(env)
    const key = list === 'included' ? k.included(segment) : k.excluded(segment)
    let cursor = '0'
    do {
      const [next, batch] = await this.ctx.redis.sscan(key, cursor, 'COUNT', SCAN_COUNT)
      for (const id of batch) into.add(id)
      cursor = next
    } while (cursor !== '0')
  }
}
