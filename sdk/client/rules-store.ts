/**
 * Server mode: the full ruleset, compiled once by the engine (sdk/core) and
 * updated incrementally by stream events; every evaluation is local.
 */
import {
  affectedFlags,
  applyFlag,
  applySegment,
  applySegmentDelta,
  compile,
  evaluate,
  evaluateAllValues,
  evaluateCounted,
  evaluateDetail,
  lastVariation,
  removeFlag,
  removeSegment,
  takeCounts,
  type Compiled,
} from '../core/index.js'
import type {
  Context,
  EvaluationDetail,
  JsonValue,
  Ruleset,
  RulesetFlag,
  Segment,
  SegmentDelta,
  SegmentPatch,
  SegmentRule,
} from '../core/types.js'
import { SSE_EVENTS } from '../core/protocol.js'
import { expectObject, type Store } from './store.js'

/** A segment without its member lists (those live in the engine's IdSets only, never twice). */
type SegmentMeta = Omit<Segment, 'included' | 'excluded'>

function stripMembers(seg: Segment | SegmentPatch): SegmentMeta {
  const { included: _i, excluded: _e, ...meta } = seg
  return meta
}

/** The compiled ruleset of one environment plus what the wire needs to round-trip it. */
export class RulesStore implements Store {
  private c: Compiled | null = null
  private meta = new Map<string, SegmentMeta>()
  private environment = ''
  /**
   * Set by a journaling cache (rules-journal.ts): the events applied since its
   * last save, and whether everything was replaced since (a full snapshot is
   * due). `snapshot()` is then only a marker; the cache asks `fullSnapshot()`.
   */
  journal: { events: [string, unknown][]; full: boolean } | null = null
  /** Evaluation counts (`counted`) of compiled flags replaced or dropped since the last `collect`. */
  private pending: Record<string, number[]> = {}

  get hasData(): boolean {
    return this.c !== null
  }

  replace(data: unknown): string[] {
    const rs = expectObject(data, 'ruleset')
    const flags = expectObject(rs.flags ?? {}, 'ruleset.flags') as Record<string, RulesetFlag>
    const segments = expectObject(rs.segments ?? {}, 'ruleset.segments') as Record<string, Segment>
    const ruleset = { ...(rs as unknown as Ruleset), flags, segments }
    const prev = this.c
    const next = compile(ruleset)
    if (prev) takeCounts(prev.flags.values(), this.pending)
    const meta = new Map<string, SegmentMeta>()
    for (const k in segments) meta.set(k, stripMembers(segments[k] as Segment))
    this.environment = typeof rs.environment === 'string' ? rs.environment : ''
    this.c = next
    this.meta = meta
    if (this.journal) {
      this.journal.full = true
      this.journal.events = []
    }
    // Last-known-good with a journal: the events saved after the snapshot, applied as they were live.
    if (Array.isArray(rs.journal)) for (const [type, d] of rs.journal as [string, unknown][]) this.applyEvent(type, d)
    if (!prev) return Object.keys(flags)
    const changed = new Set<string>()
    // By content, not version: bootstrap or cache data may differ from the server's at one version.
    for (const [k, f] of next.flags) {
      const p = prev.flags.get(k)
      if (!p || JSON.stringify(p.flag) !== JSON.stringify(f.flag)) changed.add(k)
    }
    for (const k of prev.flags.keys()) if (!next.flags.has(k)) changed.add(k)
    const segs: string[] = []
    for (const [k, s] of next.segments) if (prev.segments.get(k)?.version !== s.version) segs.push(k)
    for (const k of prev.segments.keys()) if (!next.segments.has(k)) segs.push(k)
    return affectedFlags(next, changed, segs)
  }

  apply(type: string, data: unknown): string[] {
    const changed = this.applyEvent(type, data)
    this.journal?.events.push([type, data])
    return changed
  }

  private applyEvent(type: string, data: unknown): string[] {
    const c = this.c
    if (!c) throw new Error(`"${type}" before any put`)
    const body = expectObject(data, type)
    if (type === SSE_EVENTS.segmentDelta) {
      const d = body as unknown as SegmentDelta
      if (typeof d.key !== 'string' || (d.list !== 'included' && d.list !== 'excluded')) {
        throw new Error('segment-delta needs key and list ("included" | "excluded")')
      }
      const next = applySegmentDelta(c, d)
      if (next === c) return [] // unknown segment or replayed version
      this.c = next
      const m = this.meta.get(d.key)
      if (m) this.meta.set(d.key, { ...m, version: d.version })
      return affectedFlags(next, [], [d.key])
    }
    if (type === SSE_EVENTS.delete) {
      if (typeof body.key !== 'string') throw new Error('delete needs a key')
      const key = body.key
      if (body.kind === 'flag') {
        const cur = c.flags.get(key)
        if (!cur) return []
        takeCounts([cur], this.pending)
        this.c = removeFlag(c, key)
        return affectedFlags(this.c, [key])
      }
      if (body.kind === 'segment') {
        if (!c.segments.has(key)) return []
        this.c = removeSegment(c, key)
        this.meta.delete(key)
        return affectedFlags(this.c, [], [key])
      }
      return []
    }
    if (type === SSE_EVENTS.patch) {
      if (body.kind === 'flag') {
        const flag = expectObject(body.flag, 'patch.flag') as unknown as RulesetFlag
        if (typeof flag.key !== 'string') throw new Error('patch.flag.key is missing')
        const cur = c.flags.get(flag.key)
        if (cur && typeof flag.version === 'number' && flag.version < cur.flag.version) return [] // older than what we hold
        if (cur) takeCounts([cur], this.pending)
        this.c = applyFlag(c, flag)
        return affectedFlags(this.c, [flag.key])
      }
      if (body.kind === 'segment') {
        const seg = expectObject(body.segment, 'patch.segment') as unknown as SegmentPatch
        if (typeof seg.key !== 'string') throw new Error('patch.segment.key is missing')
        const cur = c.segments.get(seg.key)
        if (cur && typeof seg.version === 'number' && seg.version < cur.version) return []
        // A segment patch without member lists means "members unchanged": the
        // engine keeps the current member sets itself (no copy, O(rules) per patch).
        this.c = applySegment(c, seg)
        this.meta.set(seg.key, stripMembers(seg))
        return affectedFlags(this.c, [], [seg.key])
      }
      return []
    }
    return []
  }

  clear(): string[] {
    if (this.c) takeCounts(this.c.flags.values(), this.pending)
    const keys = this.c ? [...this.c.flags.keys()] : []
    this.c = null
    this.meta.clear()
    return keys
  }

  /** With a journaling cache, a marker: the cache writes the events, or asks for `fullSnapshot()`. */
  snapshot(): unknown {
    return this.journal ? { journaled: true } : this.fullSnapshot()
  }

  fullSnapshot(): Ruleset {
    const c = this.c
    const flags: Record<string, RulesetFlag> = {}
    const segments: Record<string, Segment> = {}
    if (c) {
      for (const [k, f] of c.flags) flags[k] = f.flag
      for (const [k, s] of c.segments) {
        const meta = this.meta.get(k) ?? { key: k, rules: [] as SegmentRule[], salt: k, version: s.version }
        segments[k] = {
          ...meta,
          version: s.version,
          included: this.members(k, 'included'),
          excluded: this.members(k, 'excluded'),
        }
      }
    }
    return { specVersion: 1, environment: this.environment, flags, segments }
  }

  detail(key: string, context: Context, defaultValue: JsonValue): EvaluationDetail {
    return evaluateDetail(this.c as Compiled, key, context, defaultValue)
  }

  value(key: string, context: Context, defaultValue: JsonValue): JsonValue {
    return evaluate(this.c as Compiled, key, context, defaultValue)
  }

  lastVariation(): number {
    return lastVariation()
  }

  /**
   * `value`, with the evaluation counted on the compiled flag (one increment; `collect` takes the
   * counts). Undefined, counting nothing, without data or without such a flag.
   */
  counted(key: string, context: Context, defaultValue: JsonValue): JsonValue | undefined {
    return this.c === null ? undefined : evaluateCounted(this.c, key, context, defaultValue)
  }

  /** The evaluation counts made by `counted` since the last call, per flag key (slot 0 the default), zeroed. */
  collect(): Record<string, number[]> {
    const out = this.pending
    this.pending = {}
    if (this.c) takeCounts(this.c.flags.values(), out)
    return out
  }

  all(context: Context): Record<string, JsonValue> {
    return evaluateAllValues(this.c as Compiled, context)
  }

  /** The members of one list, as strings (allocates; only for `snapshot`). */
  private members(key: string, list: 'included' | 'excluded'): string[] {
    const out: string[] = []
    this.c?.segments.get(key)?.[list].forEach((id) => {
      out.push(id)
    })
    return out
  }
}
