import type { RulesetFlag, SegmentRule } from '../../sdk/core/types.js'
import { type Check, chunked, type Command } from './atomic.js'
import { type AuditRecord, auditCommand } from './audit.js'
import { changeCommand } from './changelog.js'
import type { StoreContext } from './context.js'
import { flagsUnchanged } from './flags.js'
import { envKeys } from './keys.js'

/** Segment fields stored in the segments hash; members live in two sets. */
export interface SegmentMeta {
  key: string
  name?: string
  description?: string
  rules: SegmentRule[]
  salt: string
  createdAt: string
  updatedAt: string
}

export type MemberList = 'included' | 'excluded'

/** What a membership change did (the counts Redis replied). */
export interface MembersChanged {
  added: number
  removed: number
  /** Members of the list afterwards. */
  count: number
  changeId: string
}

/**
 * Segments of one environment: metadata, version, and two member sets each.
 * Every write is one atomic step with its audit record and change-log entry.
 */
export class SegmentRepository {
  constructor(private readonly ctx: StoreContext) {}

  private members(env: string, key: string, list: MemberList): string {
    const k = envKeys(env)
    return list === 'included' ? k.included(key) : k.excluded(key)
  }

  /** Keys of the segments of `env` (from the metadata hash). */
  async keys(env: string): Promise<string[]> {
    return Object.keys(await this.ctx.redis.hgetall(envKeys(env).segments))
  }

  /** Keys of the segments of `env` that a flag may refer to (from their versions). */
  async versioned(env: string): Promise<Set<string>> {
    return new Set(await this.ctx.redis.hkeys(envKeys(env).segmentVersions))
  }

  /** Metadata and version; null when the segment does not exist. */
  async get(env: string, key: string): Promise<{ meta: SegmentMeta; version: number } | null> {
    const k = envKeys(env)
    const [raw, ver] = await Promise.all([
      this.ctx.redis.hget(k.segments, key),
      this.ctx.redis.hget(k.segmentVersions, key),
    ])
    return raw === null || ver === null ? null : { meta: JSON.parse(raw) as SegmentMeta, version: Number(ver) }
  }

  /** Metadata, version and the size of each member list; null when the segment does not exist. */
  async view(
    env: string,
    key: string,
  ): Promise<{ meta: SegmentMeta; version: number; includedCount: number; excludedCount: number } | null> {
    const k = envKeys(env)
    const [raw, ver, inc, exc] = await Promise.all([
      this.ctx.redis.hget(k.segments, key),
      this.ctx.redis.hget(k.segmentVersions, key),
      this.ctx.redis.scard(k.included(key)),
      this.ctx.redis.scard(k.excluded(key)),
    ])
    if (raw === null || ver === null) return null
    return { meta: JSON.parse(raw) as SegmentMeta, version: Number(ver), includedCount: inc, excludedCount: exc }
  }

  async version(env: string, key: string): Promise<number | null> {
    const ver = await this.ctx.redis.hget(envKeys(env).segmentVersions, key)
    return ver === null ? null : Number(ver)
  }

  /**
   * Creates (`expected` 'absent') or replaces (`expected`: the current
   * version) a segment at `version`; member lists given replace the stored
   * ones and travel in the `segment.put` entry. The change id, or the version
   * found instead of the expected one (null: absent).
   */
  async put(
    env: string,
    meta: SegmentMeta,
    version: number,
    expected: number | 'absent',
    members: { included?: string[]; excluded?: string[] },
    audit: AuditRecord,
  ): Promise<{ ok: true; changeId: string } | { ok: false; actual: number | null }> {
    const k = envKeys(env)
    const key = meta.key
    const commands: Command[] = [
      ['HSET', k.segments, key, JSON.stringify(meta)],
      ['HSET', k.segmentVersions, key, version],
    ]
    if (members.included) commands.push(['DEL', k.included(key)], ...chunked('SADD', k.included(key), members.included))
    if (members.excluded) commands.push(['DEL', k.excluded(key)], ...chunked('SADD', k.excluded(key), members.excluded))
    commands.push(
      auditCommand(this.ctx, env, audit),
      // Members travel in the event only when this write replaced them.
      changeCommand(this.ctx, env, 'segment.put', {
        segment: {
          ...meta,
          version,
          ...(members.included && { included: members.included }),
          ...(members.excluded && { excluded: members.excluded }),
        },
      }),
    )
    const check: Check =
      expected === 'absent'
        ? { key: k.segmentVersions, field: key, op: 'absent' }
        : { key: k.segmentVersions, field: key, op: 'eq', value: String(expected) }
    const r = await this.ctx.atomic({ checks: [check], commands })
    // The change-log XADD is the last command: its reply is the change's id.
    if (r.ok) return { ok: true, changeId: String(r.replies[r.replies.length - 1]) }
    return { ok: false, actual: r.actual === null ? null : Number(r.actual) }
  }

  /**
   * Deletes a segment at `version` and its members, provided no flag of `env`
   * changed since `flags` was read (nobody started using it meanwhile). The
   * change id; null when either check failed.
   */
  async delete(
    env: string,
    key: string,
    version: number,
    flags: Record<string, RulesetFlag>,
    audit: AuditRecord,
  ): Promise<string | null> {
    const k = envKeys(env)
    const r = await this.ctx.atomic({
      checks: [{ key: k.segmentVersions, field: key, op: 'eq', value: String(version) }, ...flagsUnchanged(env, flags)],
      commands: [
        ['HDEL', k.segments, key],
        ['HDEL', k.segmentVersions, key],
        ['UNLINK', k.included(key)],
        ['UNLINK', k.excluded(key)],
        auditCommand(this.ctx, env, audit),
        changeCommand(this.ctx, env, 'segment.delete', { key }),
      ],
    })
    return r.ok ? String(r.replies[r.replies.length - 1]) : null
  }

  /**
   * Adds and removes ids of one list at version `expected`, raising it by one,
   * with the audit record and a `segment.members` entry carrying only the ids
   * given. Null when the version is no longer `expected`.
   */
  async changeMembers(
    env: string,
    key: string,
    list: MemberList,
    add: string[],
    remove: string[],
    expected: number,
    audit: AuditRecord,
  ): Promise<MembersChanged | null> {
    const k = envKeys(env)
    const setKey = this.members(env, key, list)
    const version = expected + 1
    const removes = chunked('SREM', setKey, remove)
    const adds = chunked('SADD', setKey, add)
    const r = await this.ctx.atomic({
      checks: [{ key: k.segmentVersions, field: key, op: 'eq', value: String(expected) }],
      commands: [
        ...removes,
        ...adds,
        ['SCARD', setKey],
        ['HSET', k.segmentVersions, key, version],
        auditCommand(this.ctx, env, audit),
        changeCommand(this.ctx, env, 'segment.members', { key, list, add, remove, version }),
      ],
    })
    if (!r.ok) return null
    const replies = r.replies as number[]
    const sum = (from: number, n: number) => replies.slice(from, from + n).reduce((a, b) => a + Number(b), 0)
    return {
      removed: sum(0, removes.length),
      added: sum(removes.length, adds.length),
      count: Number(replies[removes.length + adds.length]),
      changeId: String(replies[replies.length - 1]),
    }
  }

  /**
   * One page of a member list from `cursor` (an SSCAN cursor, '0' for the
   * first page); nextCursor null on the last page.
   */
  async page(
    env: string,
    key: string,
    list: MemberList,
    cursor: string,
    limit: number,
  ): Promise<{ items: string[]; nextCursor: string | null }> {
    const setKey = this.members(env, key, list)
    const items: string[] = []
    let at = cursor
    // SSCAN's COUNT is a hint; loop until the page is full or the scan ends.
    do {
      const [next, batch] = await this.ctx.redis.sscan(setKey, at, 'COUNT', Math.max(10, limit - items.length))
      items.push(...batch)
      at = next
    } while (at !== '0' && items.length < limit)
    return { items, nextCursor: at === '0' ? null : at }
  }

  /** Whether `id` is in each list of the segment. */
  async membership(env: string, key: string, id: string): Promise<{ included: boolean; excluded: boolean }> {
    const [inc, exc] = await Promise.all([
      this.ctx.redis.sismember(this.members(env, key, 'included'), id),
      this.ctx.redis.sismember(this.members(env, key, 'excluded'), id),
    ])
    return { included: inc === 1, excluded: exc === 1 }
  }
}
