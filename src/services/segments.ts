import { flagsUsing } from '../../sdk/core/index.js'
import type { SegmentRule } from '../../sdk/core/types.js'
import { AppError, appError } from '../errors.js'
import type { MemberCheck, MembersChange, SegmentInput, SegmentView } from '../schemas/segment.js'
import type { SegmentMeta } from '../store/segments.js'
import { isUint64 } from '../store/store.js'
import { type Actor, auditRecord, checkVersion, MAX_RETRIES, type ServiceDeps } from './context.js'
import { checkSegment } from './validation.js'

export type { SegmentMeta } from '../store/segments.js'

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
    const out = await Promise.all((await this.store.segments.keys(env)).sort().map((key) => this.get(env, key)))
    return out
  }

  async get(env: string, key: string): Promise<SegmentView> {
    const v = await this.store.segments.view(env, key)
    if (v === null) {
      await this.requireEnv(env)
      throw appError('SEGMENT_NOT_FOUND', key)
    }
    return {
      ...v.meta,
      environment: env,
      version: v.version,
      includedCount: v.includedCount,
      excludedCount: v.excludedCount,
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
    const at = this.deps.now().toISOString()
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const cur = await this.store.segments.get(env, key)
      if (cur && opts.create) throw appError('SEGMENT_EXISTS', key)
      if (opts.ifMatch !== undefined && (!cur || cur.version !== opts.ifMatch)) {
        if (!cur) throw appError('SEGMENT_NOT_FOUND', key)
        throw new AppError('VERSION_CONFLICT', [cur.version], { currentVersion: cur.version })
      }
      const prev = cur?.meta ?? null
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
      const version = cur ? cur.version + 1 : 1
      const r = await this.store.segments.put(
        env,
        meta,
        version,
        cur ? cur.version : 'absent',
        {
          ...(input.included && { included: input.included }),
          ...(input.excluded && { excluded: input.excluded }),
        },
        auditRecord(
          actor,
          at,
          cur ? 'segment.update' : 'segment.create',
          env,
          { type: 'segment', key },
          {
            fromVersion: cur ? cur.version : null,
            toVersion: version,
            ...(input.reason && { reason: input.reason }),
          },
        ),
      )
      if (r.ok) return { result: await this.get(env, key), changeId: r.changeId }
      if (opts.create) throw appError('SEGMENT_EXISTS', key)
      if (opts.ifMatch !== undefined)
        throw new AppError('VERSION_CONFLICT', [r.actual ?? 0], { currentVersion: r.actual ?? 0 })
    }
    throw appError('WRITE_CONFLICT', `segment ${key}`)
  }

  async remove(env: string, key: string, actor: Actor, reason?: string, ifMatch?: number): Promise<string> {
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const seg = await this.get(env, key)
      checkVersion(seg.version, ifMatch)
      const flags = await this.store.flags.all(env)
      const users = flagsUsing(Object.values(flags), { segment: key })
      if (users.length > 0) throw new AppError('SEGMENT_IN_USE', [key], { flags: users })
      // No flag may have started using the segment since it was checked (the repository re-checks `flags`).
      const changeId = await this.store.segments.delete(
        env,
        key,
        seg.version,
        flags,
        auditRecord(
          actor,
          this.deps.now().toISOString(),
          'segment.delete',
          env,
          { type: 'segment', key },
          {
            fromVersion: seg.version,
            toVersion: null,
            ...(reason && { reason }),
          },
        ),
      )
      if (changeId !== null) return changeId
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
    const add = [...new Set(delta.add)]
    const removeSet = new Set(delta.remove)
    for (const id of add) removeSet.delete(id) // an id in both lists ends up added
    const remove = [...removeSet]
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const ver = await this.store.segments.version(env, key)
      if (ver === null) {
        await this.requireEnv(env)
        throw appError('SEGMENT_NOT_FOUND', key)
      }
      // A concurrent change makes the retry see a newer version: 412 for a caller who named one.
      checkVersion(ver, ifMatch)
      const version = ver + 1
      const at = this.deps.now().toISOString()
      const r = await this.store.segments.changeMembers(
        env,
        key,
        delta.list,
        add,
        remove,
        ver,
        auditRecord(
          actor,
          at,
          'segment.members',
          env,
          { type: 'segment', key },
          {
            fromVersion: ver,
            toVersion: version,
            details: {
              list: delta.list,
              requestedAdd: add.length,
              requestedRemove: remove.length,
              sampleAdded: add.slice(0, AUDIT_SAMPLE),
              sampleRemoved: remove.slice(0, AUDIT_SAMPLE),
            },
            ...(delta.reason && { reason: delta.reason }),
          },
        ),
      )
      if (r === null) continue
      const result = { key, list: delta.list, removed: r.removed, added: r.added, count: r.count, version }
      return { result, changeId: r.changeId }
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
    return this.store.segments.page(env, key, opts.list, opts.cursor ?? '0', opts.limit)
  }

  async checkMember(env: string, key: string, id: string): Promise<MemberCheck> {
    await this.get(env, key)
    const { included, excluded } = await this.store.segments.membership(env, key, id)
    return { id, included, excluded, member: included && !excluded }
  }
}
