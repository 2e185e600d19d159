/**
 * Who depends on what inside one environment (after LaunchDarkly's
 * DependencyTracker): for each flag, the flags that list it as a
 * prerequisite; for each segment, the flags and the segments whose rules test
 * it with `inSegment`. The index lives in `Compiled` and is kept current by
 * the functions that apply a change (compile.ts), so "what does this change
 * affect" is answered by `affectedFlags` in time proportional to the answer,
 * the same way on the server (which browser values to re-evaluate) and in the
 * SDK (which keys a change event names).
 *
 * References are read from the items as received, valid or not, and whether
 * or not the item they name exists: a broken flag still names its
 * prerequisites, and a flag that names a missing segment depends on it once
 * it is created. A superset is harmless here (an affected flag is only
 * re-evaluated), a missed reference would not be.
 *
 * This module imports nothing: compile.ts imports it, not the reverse.
 */

/** What one flag refers to: the keys its prerequisites name and the segments its rules test (each once). */
export interface FlagRefs {
  readonly prerequisites: readonly string[]
  readonly segments: readonly string[]
}

/** The reverse edges of one environment, direct only (`affectedFlags` closes over them). */
export interface Dependents {
  /** Flag key → keys of the flags that list it as a prerequisite. */
  readonly prerequisiteOf: ReadonlyMap<string, readonly string[]>
  /** Segment key → keys of the flags whose rules test it. */
  readonly flagsTesting: ReadonlyMap<string, readonly string[]>
  /** Segment key → keys of the segments whose rules test it. */
  readonly segmentsTesting: ReadonlyMap<string, readonly string[]>
}

const NONE: readonly string[] = Object.freeze([])

/** Refers to nothing (shared: a flag without prerequisites or segment rules allocates no refs). */
export const NO_REFS: FlagRefs = Object.freeze({ prerequisites: NONE, segments: NONE })

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null
}

/**
 * Pushes onto `into` the segment key of every string value of every
 * `inSegment` clause in `clauses`, once per occurrence, in order. Anything
 * that is not a list of clauses names nothing (the engine reads wire data
 * that may be malformed and never throws).
 */
export function clauseSegments(clauses: unknown, into: string[] = []): string[] {
  if (!Array.isArray(clauses)) return into
  for (const c of clauses) {
    if (!isObject(c) || c.op !== 'inSegment' || !Array.isArray(c.values)) continue
    for (const v of c.values) if (typeof v === 'string') into.push(v)
  }
  return into
}

/** The segments tested by the clauses of a list of rules (flag or segment rules), each once. */
function rulesSegments(rules: unknown): readonly string[] {
  if (!Array.isArray(rules) || rules.length === 0) return NONE
  const out: string[] = []
  for (const r of rules) if (isObject(r)) clauseSegments(r.clauses, out)
  return out.length === 0 ? NONE : unique(out)
}

function unique(keys: string[]): readonly string[] {
  return keys.length < 2 ? keys : [...new Set(keys)]
}

/** What a flag (as received) refers to. */
export function flagRefs(flag: unknown): FlagRefs {
  if (!isObject(flag)) return NO_REFS
  const pre: string[] = []
  if (Array.isArray(flag.prerequisites))
    for (const p of flag.prerequisites) if (isObject(p) && typeof p.flag === 'string') pre.push(p.flag)
  const segments = rulesSegments(flag.rules)
  if (pre.length === 0 && segments.length === 0) return NO_REFS
  return { prerequisites: pre.length === 0 ? NONE : unique(pre), segments }
}

/** The segments a segment's rules (as received) test. */
export function segmentRefs(seg: unknown): readonly string[] {
  return isObject(seg) ? rulesSegments(seg.rules) : NONE
}

/**
 * Keys of the flags among `flags` that refer to `ref` directly: list the flag
 * as a prerequisite, or test the segment in a rule (the server refuses to
 * delete what is still in use).
 */
export function flagsUsing(
  flags: Iterable<{ readonly key: string }>,
  ref: { flag: string } | { segment: string },
): string[] {
  const out: string[] = []
  for (const f of flags) {
    const refs = flagRefs(f)
    if ('flag' in ref ? refs.prerequisites.includes(ref.flag) : refs.segments.includes(ref.segment)) out.push(f.key)
  }
  return out
}

export const NO_DEPENDENTS: Dependents = Object.freeze({
  prerequisiteOf: new Map<string, readonly string[]>(),
  flagsTesting: new Map<string, readonly string[]>(),
  segmentsTesting: new Map<string, readonly string[]>(),
})

function link(map: Map<string, string[]>, targets: readonly string[], key: string): void {
  for (const t of targets) {
    const l = map.get(t)
    if (l === undefined) map.set(t, [key])
    else l.push(key)
  }
}

/** The index of a whole environment, from the refs of its compiled flags and segments (keyed as in the maps). */
export function buildDependents(
  flags: ReadonlyMap<string, { readonly refs: FlagRefs }>,
  segments: ReadonlyMap<string, { readonly refs: readonly string[] }>,
): Dependents {
  const prerequisiteOf = new Map<string, string[]>()
  const flagsTesting = new Map<string, string[]>()
  const segmentsTesting = new Map<string, string[]>()
  for (const [k, f] of flags) {
    link(prerequisiteOf, f.refs.prerequisites, k)
    link(flagsTesting, f.refs.segments, k)
  }
  for (const [k, s] of segments) link(segmentsTesting, s.refs, k)
  return { prerequisiteOf, flagsTesting, segmentsTesting }
}

/**
 * `map` with `key` moved from the lists of `before` to those of `after`;
 * `map` itself when both name the same keys. Copy-on-write: the outer map and
 * the lists that change are copied, so the `Compiled` the change was applied
 * to keeps its index as it was.
 */
function relink(
  map: ReadonlyMap<string, readonly string[]>,
  key: string,
  before: readonly string[],
  after: readonly string[],
): ReadonlyMap<string, readonly string[]> {
  if (before === after || (before.length === after.length && before.every((k) => after.includes(k)))) return map
  const next = new Map(map)
  for (const t of before) {
    if (after.includes(t)) continue
    const l = (next.get(t) ?? NONE).filter((k) => k !== key)
    if (l.length === 0) next.delete(t)
    else next.set(t, l)
  }
  for (const t of after) if (!before.includes(t)) next.set(t, [...(next.get(t) ?? NONE), key])
  return next
}

/** The index after the flag `key` changed from `before` to `after` (undefined: absent). O(refs) when its refs stay. */
export function updateFlag(
  d: Dependents,
  key: string,
  before: FlagRefs | undefined,
  after: FlagRefs | undefined,
): Dependents {
  const b = before ?? NO_REFS
  const a = after ?? NO_REFS
  const prerequisiteOf = relink(d.prerequisiteOf, key, b.prerequisites, a.prerequisites)
  const flagsTesting = relink(d.flagsTesting, key, b.segments, a.segments)
  if (prerequisiteOf === d.prerequisiteOf && flagsTesting === d.flagsTesting) return d
  return { prerequisiteOf, flagsTesting, segmentsTesting: d.segmentsTesting }
}

/** The index after the segment `key` changed from `before` to `after` (the segments its rules test; undefined: absent). */
export function updateSegment(
  d: Dependents,
  key: string,
  before: readonly string[] | undefined,
  after: readonly string[] | undefined,
): Dependents {
  const segmentsTesting = relink(d.segmentsTesting, key, before ?? NONE, after ?? NONE)
  return segmentsTesting === d.segmentsTesting ? d : { ...d, segmentsTesting }
}

/**
 * What a change affects: the flag keys given (present or not), every flag
 * whose rules test one of the segments given (directly or through segments
 * whose rules test them), and every flag that depends on any of those through
 * prerequisites, transitively. Each key once, the given flags first. Cycles
 * (refused by the server, possible in SDK data) end the walk, never loop it.
 */
export function affectedFlags(
  c: { readonly dependents: Dependents },
  // Not Iterable<string>: a single key passed by mistake would be walked letter by letter.
  flags: readonly string[] | ReadonlySet<string>,
  segments: readonly string[] | ReadonlySet<string> = NONE,
): string[] {
  const d = c.dependents
  const out = new Set<string>()
  const todo: string[] = []
  for (const k of flags) {
    if (!out.has(k)) {
      out.add(k)
      todo.push(k)
    }
  }
  const segs = new Set<string>()
  const segTodo: string[] = []
  for (const s of segments) {
    if (!segs.has(s)) {
      segs.add(s)
      segTodo.push(s)
    }
  }
  while (segTodo.length > 0) {
    const s = segTodo.pop() as string
    for (const f of d.flagsTesting.get(s) ?? NONE) {
      if (!out.has(f)) {
        out.add(f)
        todo.push(f)
      }
    }
    for (const u of d.segmentsTesting.get(s) ?? NONE) {
      if (!segs.has(u)) {
        segs.add(u)
        segTodo.push(u)
      }
    }
  }
  while (todo.length > 0) {
    for (const f of d.prerequisiteOf.get(todo.pop() as string) ?? NONE) {
      if (!out.has(f)) {
        out.add(f)
        todo.push(f)
      }
    }
  }
  return [...out]
}
