import { flagsUsing } from '../../sdk/core/index.js'
import type { RulesetFlag, SegmentRule } from '../../sdk/core/types.js'
import { AppError, appError } from '../errors.js'
import type { MemberCheck, MembersChange, SegmentInput, SegmentView } from '../schemas/segment.js'
import { type Check, chunked, type Command } from '../store/atomic.js'
import { envKeys } from '../store/keys.js'
import { isUint64 } from '../store/store.js'
import { type Actor, checkVersion, MAX_RETRIES, type ServiceDeps } from './context.js'
import { checkSegment } from './validation.js'

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

/** A segment write and the change-log id of its change (answered as X-Change-Id, like flag writes). */
export interface SegmentWrite<T> {
  result: T
  changeId: string
}

/** How many ids an audit record quotes from a membership change. */
const AUDIT_SAMPLE = 20

export class SegmentService {
  constructor(private readonly deps: ServiceDeps) {}

  private get store() {
    return this.deps.store
  }

  private async requireEnv(env: string): Promise<void> {
    await this.store.requireEnv(env)
  }

  async list(env: string): Promise<SegmentView[]> {
    await this.requireEnv(env)
    const k = envKeys(env)
    const metas = await this.store.hgetAllJson<SegmentMeta>(k.segments)
    const out = await Promise.all(
      Object.keys(metas)
        .sort()
        .map((key) => this.get(env, key)),
    )
    return out
  }

  async get(env: string, key: string): Promise<SegmentView> {
    const k = envKeys(env)
    const [raw, ver, inc, exc] = await Promise.all([
      this.store.redis.hget(k.segments, key),
      this.store.redis.hget(k.segmentVersions, key),
      this.store.redis.scard(k.included(key)),
      this.store.redis.scard(k.excluded(key)),
    ])
    if (raw === null || ver === null) {
      await this.requireEnv(env)
      throw appError('SEGMENT_NOT_FOUND', key)
    }
    return {
      ...(JSON.parse(raw) as SegmentMeta),
      environment: env,
      version: Number(ver),
      includedCount: inc,
      excludedCount: exc,
    }
  }

  /** Creates (POST, `create: true`) or creates-or-replaces (PUT) a segment. Members given replace the lists. */
  async put(
    env: string,
    key: string,
    input: SegmentInput,
    actor: Actor,
    opts: { create: boolean; ifMatch?: number },
  ): Promise<SegmentWrite<SegmentView>> {
    await this.requireEnv(env)
    const k = envKeys(env)
    const at = this.deps.now().toISOString()
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const [raw, ver] = await Promise.all([
        this.store.redis.hget(k.segments, key),
        this.store.redis.hget(k.segmentVersions, key),
      ])
      const exists = raw !== null && ver !== null
      if (exists && opts.create) throw appError('SEGMENT_EXISTS', key)
      if (opts.ifMatch !== undefined && (!exists || Number(ver) !== opts.ifMatch)) {
        if (!exists) throw appError('SEGMENT_NOT_FOUND', key)
        throw new AppError('VERSION_CONFLICT', [Number(ver)], { currentVersion: Number(ver) })
      }
      const prev = exists ? (JSON.parse(raw) as SegmentMeta) : null
      const name = input.name ?? prev?.name
      const description = input.description ?? prev?.description
      const meta: SegmentMeta = {
        key,
        rules: (input.rules as SegmentRule[] | undefined) ?? prev?.rules ?? [],
        salt: prev?.salt ?? key,
        createdAt: prev?.createdAt ?? at,
        updatedAt: at,
        ...(name !== undefined && { name }),
        ...(description !== undefined && { description }),
      }
      checkSegment(meta)
      const version = exists ? Number(ver) + 1 : 1
      const commands: Command[] = [
        ['HSET', k.segments, key, JSON.stringify(meta)],
        ['HSET', k.segmentVersions, key, version],
      ]
      if (input.included) commands.push(['DEL', k.included(key)], ...chunked('SADD', k.included(key), input.included))
      if (input.excluded) commands.push(['DEL', k.excluded(key)], ...chunked('SADD', k.excluded(key), input.excluded))
      commands.push(
        this.store.auditCommand(k.audit, {
          at,
          actor: actor.name,
          actorTokenId: actor.tokenId,
          action: exists ? 'segment.update' : 'segment.create',
          env,
          target: { type: 'segment', key },
          fromVersion: exists ? Number(ver) : null,
          toVersion: version,
          ...(input.reason && { reason: input.reason }),
          ...(actor.requestId && { requestId: actor.requestId }),
        }),
        // Members travel in the event only when this write replaced them.
        this.store.changeCommand(env, 'segment.put', {
          segment: {
            ...meta,
            version,
            ...(input.included && { included: input.included }),
            ...(input.excluded && { excluded: input.excluded }),
          },
        }),
      )
      const check: Check = exists
        ? { key: k.segmentVersions, field: key, op: 'eq', value: String(ver) }
        : { key: k.segmentVersions, field: key, op: 'absent' }
      const r = await this.store.atomic({ checks: [check], commands })
      // The change-log XADD is the last command: its reply is the change's id.
      if (r.ok) return { result: await this.get(env, key), changeId: String(r.replies[r.replies.length - 1]) }
      if (opts.create) throw appError('SEGMENT_EXISTS', key)
      if (opts.ifMatch !== undefined)
        throw new AppError('VERSION_CONFLICT', [Number(r.actual)], { currentVersion: Number(r.actual) })
    }
    throw appError('WRITE_CONFLICT', `segment ${key}`)
  }

  async remove(env: string, key: string, actor: Actor, reason?: string, ifMatch?: number): Promise<string> {
    const k = envKeys(env)
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const seg = await this.get(env, key)
      checkVersion(seg.version, ifMatch)
      const flags = await this.store.hgetAllJson<RulesetFlag>(k.flags)
      const users = flagsUsing(Object.values(flags), { segment: key })
      if (users.length > 0) throw new AppError('SEGMENT_IN_USE', [key], { flags: users })
      const r = await this.store.atomic({
        checks: [
          { key: k.segmentVersions, field: key, op: 'eq', value: String(seg.version) },
          // No flag may have started using the segment since it was checked.
          ...this.store.flagsUnchanged(env, flags),
        ],
        commands: [
          ['HDEL', k.segments, key],
          ['HDEL', k.segmentVersions, key],
          ['UNLINK', k.included(key)],
          ['UNLINK', k.excluded(key)],
          this.store.auditCommand(k.audit, {
            at: this.deps.now().toISOString(),
            actor: actor.name,
            actorTokenId: actor.tokenId,
            action: 'segment.delete',
            env,
            target: { type: 'segment', key },
            fromVersion: seg.version,
            toVersion: null,
            ...(reason && { reason }),
            ...(actor.requestId && { requestId: actor.requestId }),
          }),
          this.store.changeCommand(env, 'segment.delete', { key }),
        ],
      })
      if (r.ok) return String(r.replies[r.replies.length - 1])
    }
    throw appError('WRITE_CONFLICT', `segment ${key}`)
  }

  /** Bulk membership delta: one atomic step; the change log carries only the ids given. */
  async changeMembers(
    env: string,
    key: string,
    delta: { add: string[]; remove: string[]; list: 'included' | 'excluded'; reason?: string },
    actor: Actor,
    ifMatch?: number,
  ): Promise<SegmentWrite<MembersChange>> {
    const k = envKeys(env)
    const setKey = delta.list === 'included' ? k.included(key) : k.excluded(key)
    const add = [...new Set(delta.add)]
    const removeSet = new Set(delta.remove)
    for (const id of add) removeSet.delete(id) // an id in both lists ends up added
    const remove = [...removeSet]
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const ver = await this.store.redis.hget(k.segmentVersions, key)
      if (ver === null) {
        await this.requireEnv(env)
        throw appError('SEGMENT_NOT_FOUND', key)
      }
      // A concurrent change makes the retry see a newer version: 412 for a caller who named one.
      checkVersion(Number(ver), ifMatch)
      const version = Number(ver) + 1
      const removes = chunked('SREM', setKey, remove)
      const adds = chunked('SADD', setKey, add)
      const at = this.deps.now().toISOString()
      const r = await this.store.atomic({
        checks: [{ key: k.segmentVersions, field: key, op: 'eq', value: ver }],
        commands: [
          ...removes,
          ...adds,
          ['SCARD', setKey],
          ['HSET', k.segmentVersions, key, version],
          this.store.auditCommand(k.audit, {
            at,
            actor: actor.name,
            actorTokenId: actor.tokenId,
            action: 'segment.members',
            env,
            target: { type: 'segment', key },
            fromVersion: Number(ver),
            toVersion: version,
            details: {
              list: delta.list,
              requestedAdd: add.length,
              requestedRemove: remove.length,
              sampleAdded: add.slice(0, AUDIT_SAMPLE),
              sampleRemoved: remove.slice(0, AUDIT_SAMPLE),
            },
            ...(delta.reason && { reason: delta.reason }),
            ...(actor.requestId && { requestId: actor.requestId }),
          }),
          this.store.changeCommand(env, 'segment.members', { key, list: delta.list, add, remove, version }),
        ],
      })
      if (!r.ok) continue
      const replies = r.replies as number[]
      const sum = (from: number, n: number) => replies.slice(from, from + n).reduce((a, b) => a + Number(b), 0)
      const result = {
        key,
        list: delta.list,
        removed: sum(0, removes.length),
        added: sum(removes.length, adds.length),
        count: Number(replies[removes.length + adds.length]),
        version,
      }
      return { result, changeId: String(replies[replies.length - 1]) }
    }
    throw appError('WRITE_CONFLICT', `segment ${key}`)
  }

  async listMembers(
    env: string,
    key: string,
    opts: { list: 'included' | 'excluded'; cursor?: string; limit: number },
  ): Promise<{ items: string[]; nextCursor: string | null }> {
    if (opts.cursor !== undefined && !isUint64(opts.cursor))
      throw appError('VALIDATION_FAILED', 'cursor is not a cursor from a previous page')
    await this.get(env, key)
    const k = envKeys(env)
    const setKey = opts.list === 'included' ? k.included(key) : k.excluded(key)
    const items: string[] = []
    let cursor = opts.cursor ?? '0'
    // SSCAN's COUNT is a hint; loop until the page is full or the scan ends.
    do {
      const [next, batch] = await this.store.redis.sscan(
        setKey,
        cursor,
        'COUNT',
        Math.max(10, opts.limit - items.length),
      )
      items.push(...batch)
      cursor = next
    } while (cursor !== '0' && items.length < opts.limit)
    return { items, nextCursor: cursor === '0' ? null : cursor }
  }

  async checkMember(env: string, key: string, id: string): Promise<MemberCheck> {
    await this.get(env, key)
    const k = envKeys(env)
    const [inc, exc] = await Promise.all([
      this.store.redis.sismember(k.included(key), id),
      this.store.redis.sismember(k.excluded(key), id),
    ])
    return { id, included: inc === 1, excluded: exc === 1, member: inc === 1 && exc === 0 }
  }
}
