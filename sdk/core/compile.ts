/**
 * Ingest: turns the wire ruleset into an indexed form, once, so evaluation
 * never parses anything. Flags are compiled one by one and looked up by key;
 * segments keep their members in compact `IdSet`s. Updates are incremental:
 * `applyFlag` compiles one flag and copies only the map of pointers. Each
 * update also keeps the dependency index (dependents.ts) current, touching it
 * only when the item's references change.
 *
 * A `Compiled` is treated as immutable, except that `applySegmentDelta`
 * mutates the affected segment's member set IN PLACE (copying a 1M-id set per
 * delta would defeat the purpose): the previous `Compiled` sees the change too;
 * and each flag's `counts`, which `evaluateCounted` adds to and `takeCounts` empties.
 */
import type {
  JsonValue,
  Reason,
  Ruleset,
  RulesetFlag,
  Segment,
  SegmentDelta,
  SegmentPatch,
  Rollout,
  Serve,
  Target,
} from './types.js'
import { SaltHasher } from './hash.js'
import { IdSet } from './id-set.js'
import { takePrebuilt } from './member-lists.js'
import { compileClause, type CompiledClause } from './operators.js'
import { checkClause, validateFlagConfig, validateSegment, type ValidationIssue } from './validate.js'
import { ERRORS, REASONS, prerequisiteReason, ruleReason } from './reasons.js'
import {
  buildDependents,
  flagRefs,
  segmentRefs,
  updateFlag,
  updateSegment,
  type Dependents,
  type FlagRefs,
} from './dependents.js'

/** What a rule or the fallthrough serves, prepared for evaluation. */
export interface CompiledServe {
  /** Fixed variation (>= 0), or -1 for a rollout. */
  readonly variation: number
  /** Rollout: variation served when every weight sits on one variation (no hashing needed), else -1. */
  readonly single: number
  /** Rollout: cumulative upper bounds (exclusive) of each slice, in buckets. */
  readonly bounds: Int32Array
  /** Rollout: the variation of each slice. */
  readonly variations: Int32Array
  readonly bucketBy: string
  readonly bucketByKey: boolean
  readonly guardProto: boolean
}

/** A rule prepared for evaluation. */
export interface CompiledRule {
  readonly id: string
  readonly clauses: readonly CompiledClause[]
  readonly serve: CompiledServe
  readonly reason: Reason
  readonly reasonRollout: Reason
}

/** A flag prepared for evaluation. */
export interface CompiledFlag {
  readonly key: string
  /** The flag as received (for filters and metadata). */
  readonly flag: RulesetFlag
  /** Validation failed: every evaluation is ERROR/PARSE_ERROR. */
  readonly broken: boolean
  readonly issues: readonly ValidationIssue[]
  readonly on: boolean
  /** Off variation, -1 when null (serve the default). */
  readonly off: number
  /** Variation values (deep-frozen copies). */
  readonly values: readonly JsonValue[]
  /** `typeof` of each variation, for the TYPE_MISMATCH check. */
  readonly types: readonly string[]
  /** False for json flags, which accept any default. */
  readonly typed: boolean
  readonly prereqFlags: readonly string[]
  readonly prereqVariations: readonly number[]
  readonly prereqReasons: readonly Reason[]
  /**
   * Context key → variation when the targets serve several variations; null without targets or when they
   * serve one (then `targetKeys`).
   */
  readonly targets: Map<string, number> | null
  /**
   * The targeted keys when every target serves one variation, `targetVariation` (a whitelist: the common
   * case; -1 otherwise), else null.
   * A `Set` answers a 10,000-key whitelist ~1.3× faster than a `Map` (2 words per entry against 3: fewer
   * cache misses; test/bench/peers' whitelist-10k), and holds less.
   */
  readonly targetKeys: Set<string> | null
  readonly targetVariation: number
  readonly rules: readonly CompiledRule[]
  readonly fallthrough: CompiledServe
  /** Needs the context key (targets, rules or a rollout). */
  readonly needsKey: boolean
  readonly hasher: SaltHasher
  /**
   * The flag serves the same to every context: it is invalid, off, or on
   * with no prerequisites, targets or rules and a fallthrough that needs no
   * bucket. `constVariation` (-1: the default value) and `constReason` are
   * then exactly what the general path would give, precomputed at compile time.
   */
  readonly constant: boolean
  readonly constVariation: number
  readonly constReason: Reason
  /**
   * Not constant, on, without prerequisites or rules: its targets, then a fallthrough that is a fixed
   * variation or a rollout by the context key. `evaluate` and `evaluateAllValues` serve it without the
   * general path (`servedSimple`: a whitelist is one lookup of the key); `evaluateDetail` takes the general one.
   */
  readonly simple: boolean
  /** What the flag as received refers to (broken or not), for the dependency index; evaluation never reads it. */
  readonly refs: FlagRefs
  /**
   * Evaluations counted by `evaluateCounted` and not yet taken (`takeCounts`): slot 0 the default
   * value, slot i + 1 variation i. The one mutable part of a compiled flag.
   */
  readonly counts: Float64Array
  /**
   * Scratch of `evaluateAll`/`evaluateAllValues` (evaluate.ts `TargetIndex`): the flag's target
   * variation for the context key of the call numbered `hitCall`. Mutable, never read outside those calls.
   */
  hitCall: number
  hitVariation: number
}

/** A segment rule prepared for evaluation. */
export interface CompiledSegmentRule {
  readonly id: string
  readonly clauses: readonly CompiledClause[]
  /** Share of matching contexts in the segment (1/100,000ths), or -1 for all. */
  readonly weight: number
  readonly bucketBy: string
  readonly bucketByKey: boolean
  readonly guardProto: boolean
}

/** A segment prepared for evaluation. */
export interface CompiledSegment {
  readonly key: string
  readonly version: number
  readonly included: IdSet
  readonly excluded: IdSet
  readonly rules: readonly CompiledSegmentRule[]
  readonly hasher: SaltHasher
  /** Validation issues; invalid clauses never match, the lists still apply. */
  readonly issues: readonly ValidationIssue[]
  /** The segments its rules (as received) test, for the dependency index; evaluation never reads it. */
  readonly refs: readonly string[]
}

/** The indexed ruleset of one environment. */
export interface Compiled {
  readonly environment: string
  readonly flags: ReadonlyMap<string, CompiledFlag>
  readonly segments: ReadonlyMap<string, CompiledSegment>
  /** Who depends on what (see `affectedFlags`); updated with the flags and segments. */
  readonly dependents: Dependents
  /** The last flag evaluate.ts `flagOf` looked up (mutable; `flags` never changes, so it stays right). */
  readonly lastLookup: { key: string; flag: CompiledFlag | undefined }
}

function compiled(
  environment: string,
  flags: ReadonlyMap<string, CompiledFlag>,
  segments: ReadonlyMap<string, CompiledSegment>,
  dependents: Dependents,
): Compiled {
  return { environment, flags, segments, dependents, lastLookup: { key: '', flag: flags.get('') } }
}

function deepFreeze(v: JsonValue): JsonValue {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x)
    Object.freeze(v)
  }
  return v
}

function typeOf(v: JsonValue): string {
  return typeof v
}

const EMPTY_SERVE: CompiledServe = {
  variation: 0,
  single: -1,
  bounds: new Int32Array(0),
  variations: new Int32Array(0),
  bucketBy: 'key',
  bucketByKey: true,
  guardProto: false,
}

function compileServe(serve: Serve): CompiledServe {
  if ('variation' in serve) return { ...EMPTY_SERVE, variation: serve.variation }
  const r: Rollout = serve.rollout
  const bucketBy = r.bucketBy ?? 'key'
  const bounds = new Int32Array(r.weights.length)
  const variations = new Int32Array(r.weights.length)
  let sum = 0
  const served = new Set<number>()
  r.weights.forEach((w, i) => {
    sum += w.weight
    bounds[i] = sum
    variations[i] = w.variation
    if (w.weight > 0) served.add(w.variation)
  })
  return {
    variation: -1,
    single: served.size === 1 ? (served.values().next().value as number) : -1,
    bounds,
    variations,
    bucketBy,
    bucketByKey: bucketBy === 'key',
    guardProto: bucketBy in Object.prototype,
  }
}

function brokenFlag(flag: RulesetFlag, key: string, issues: ValidationIssue[], refs: FlagRefs): CompiledFlag {
  return {
    key,
    flag,
    broken: true,
    issues,
    on: false,
    off: -1,
    values: [],
    types: [],
    typed: false,
    prereqFlags: [],
    prereqVariations: [],
    prereqReasons: [],
    targets: null,
    targetKeys: null,
    targetVariation: -1,
    rules: [],
    fallthrough: EMPTY_SERVE,
    needsKey: false,
    hasher: new SaltHasher(key),
    constant: true,
    constVariation: -1,
    constReason: ERRORS.PARSE_ERROR,
    simple: false,
    refs,
    counts: new Float64Array(1),
    hitCall: 0,
    hitVariation: 0,
  }
}

/**
 * A flag's targets (the first target listing a key wins): a `Set` of the keys when every target serves
 * one variation (`targetVariation`), else a map of key → variation; both null without any key.
 */
function compileTargets(list: readonly Target[]): {
  targets: Map<string, number> | null
  targetKeys: Set<string> | null
  targetVariation: number
} {
  let variation: number | null = null
  let one = true
  for (const t of list) {
    if (t.values.length === 0) continue
    variation ??= t.variation
    if (variation !== t.variation) one = false
  }
  if (variation === null) return { targets: null, targetKeys: null, targetVariation: -1 }
  if (one) {
    const keys = new Set<string>()
    for (const t of list) for (const k of t.values) keys.add(k)
    return { targets: null, targetKeys: keys, targetVariation: variation }
  }
  const targets = new Map<string, number>()
  for (const t of list) for (const k of t.values) if (!targets.has(k)) targets.set(k, t.variation)
  return { targets, targetKeys: null, targetVariation: -1 }
}

/** Compiles one flag. Never throws: an invalid flag compiles to a broken one (PARSE_ERROR). */
export function compileFlag(flag: RulesetFlag, key: string = flag.key): CompiledFlag {
  let issues: ValidationIssue[]
  try {
    issues = validateFlagConfig(flag, flag)
  } catch {
    issues = [{ path: '', code: 'INVALID_SHAPE', message: 'flag could not be read' }]
  }
  const refs = flagRefs(flag)
  if (issues.length > 0) return brokenFlag(flag, key, issues, refs)
  // A knob's value (validated above) is served as the variation after the presets: this is where knobs become values.
  const served = flag.knob === undefined ? flag.variations : [...flag.variations, flag.knob.value]
  const values = served.map((v) => deepFreeze(structuredCloneJson(v)))
  const { targets, targetKeys, targetVariation } = compileTargets(flag.targets ?? [])
  const rules: CompiledRule[] = (flag.rules ?? []).map((r) => ({
    id: r.id,
    clauses: r.clauses.map((c) => compileClause(c, true)),
    serve: compileServe(r.serve),
    reason: ruleReason(r.id, false),
    reasonRollout: ruleReason(r.id, true),
  }))
  const fallthrough = compileServe(flag.fallthrough)
  const prereqs = flag.prerequisites ?? []
  const off = flag.offVariation ?? -1
  // Same order as the general path: off first; on without prerequisites,
  // targets or rules serves the fallthrough (a fixed variation, or a rollout
  // whose whole weight is on one variation) to everyone.
  const targeted = targets !== null || targetKeys !== null
  const plain = prereqs.length === 0 && !targeted && rules.length === 0
  const fixed = fallthrough.variation >= 0 ? fallthrough.variation : fallthrough.single
  const constant = !flag.on || (plain && fixed >= 0)
  return {
    key,
    flag,
    broken: false,
    issues,
    on: flag.on,
    off,
    values,
    types: values.map(typeOf),
    typed: flag.kind !== 'json',
    prereqFlags: prereqs.map((p) => p.flag),
    prereqVariations: prereqs.map((p) => p.variation),
    prereqReasons: prereqs.map((p) => prerequisiteReason(p.flag)),
    targets,
    targetKeys,
    targetVariation,
    rules,
    fallthrough,
    needsKey: targeted || rules.length > 0 || fallthrough.variation < 0,
    hasher: new SaltHasher(typeof flag.salt === 'string' ? flag.salt : key),
    constant,
    constVariation: !constant ? -1 : !flag.on ? off : fixed,
    constReason: !constant
      ? REASONS.FALLTHROUGH
      : !flag.on
        ? REASONS.OFF
        : fallthrough.variation >= 0
          ? REASONS.FALLTHROUGH
          : REASONS.FALLTHROUGH_ROLLOUT,
    simple:
      !constant && flag.on && prereqs.length === 0 && rules.length === 0 && (fixed >= 0 || fallthrough.bucketByKey),
    refs,
    counts: new Float64Array(values.length + 1),
    hitCall: 0,
    hitVariation: 0,
  }
}

function structuredCloneJson(v: JsonValue): JsonValue {
  return typeof v === 'object' && v !== null ? (JSON.parse(JSON.stringify(v)) as JsonValue) : v
}

/** The strings of `list` (not an array: none). Returns `list` itself, not a copy, when it holds only strings. */
function strings(list: unknown): string[] {
  if (!Array.isArray(list)) return []
  for (let i = 0; i < list.length; i++) {
    if (typeof list[i] !== 'string') return list.filter((x): x is string => typeof x === 'string')
  }
  return list as string[]
}

/** Compiles one segment. Never throws: invalid clauses never match; the lists still apply. */
export function compileSegment(seg: Segment): CompiledSegment {
  return buildSegment(seg, null, null)
}

/** `compileSegment`, taking the member sets given (non-null) instead of building them from the lists. */
function buildSegment(seg: Segment | SegmentPatch, included: IdSet | null, excluded: IdSet | null): CompiledSegment {
  let issues: ValidationIssue[]
  try {
    issues = validateSegment(seg)
  } catch {
    issues = [{ path: '', code: 'INVALID_SHAPE', message: 'segment could not be read' }]
  }
  const rules: CompiledSegmentRule[] = []
  const rawRules: unknown[] = Array.isArray(seg.rules) ? seg.rules : []
  rawRules.forEach((raw, i) => {
    const r = raw as Segment['rules'][number]
    if (typeof r !== 'object' || r === null) return
    const clauses = Array.isArray(r.clauses)
      ? r.clauses.map((c, j) => compileClause(c, checkClause(c, `/rules/${i}/clauses/${j}`, [])))
      : []
    const weightOk = typeof r.weight === 'number' && Number.isInteger(r.weight) && r.weight >= 0 && r.weight <= 100_000
    const bucketBy = typeof r.bucketBy === 'string' && r.bucketBy !== '' ? r.bucketBy : 'key'
    rules.push({
      id: String(r.id),
      clauses,
      // An invalid weight admits nobody rather than everybody.
      weight: r.weight === undefined || r.weight === null ? -1 : weightOk ? r.weight : 0,
      bucketBy,
      bucketByKey: bucketBy === 'key',
      guardProto: bucketBy in Object.prototype,
    })
  })
  const key = String(seg.key)
  return {
    key,
    version: typeof seg.version === 'number' ? seg.version : 0,
    included: included ?? takePrebuilt(seg.included) ?? new IdSet(strings(seg.included)),
    excluded: excluded ?? takePrebuilt(seg.excluded) ?? new IdSet(strings(seg.excluded)),
    rules,
    hasher: new SaltHasher(typeof seg.salt === 'string' ? seg.salt : key),
    issues,
    refs: segmentRefs(seg),
  }
}

/** Compiles a whole ruleset (flags and segments of one environment). */
export function compile(ruleset: Ruleset): Compiled {
  const flags = new Map<string, CompiledFlag>()
  const segments = new Map<string, CompiledSegment>()
  for (const [k, f] of Object.entries(ruleset.flags ?? {})) flags.set(k, compileFlag(f, k))
  for (const [k, s] of Object.entries(ruleset.segments ?? {})) segments.set(k, compileSegment(s))
  return compiled(String(ruleset.environment ?? ''), flags, segments, buildDependents(flags, segments))
}

/** Adds or replaces one flag; other compiled flags are reused as they are. */
export function applyFlag(c: Compiled, flag: RulesetFlag): Compiled {
  const flags = new Map(c.flags)
  const next = compileFlag(flag, flag.key)
  flags.set(flag.key, next)
  const dependents = updateFlag(c.dependents, flag.key, c.flags.get(flag.key)?.refs, next.refs)
  return compiled(c.environment, flags, c.segments, dependents)
}

/** Removes one flag (no-op when absent). */
export function removeFlag(c: Compiled, key: string): Compiled {
  const prev = c.flags.get(key)
  if (prev === undefined) return c
  const flags = new Map(c.flags)
  flags.delete(key)
  // Flags that list it as a prerequisite keep that edge: they depend on it again if it comes back.
  return compiled(c.environment, flags, c.segments, updateFlag(c.dependents, key, prev.refs, undefined))
}

/**
 * Adds or replaces one segment (flags refer to segments by key, so none is
 * recompiled). A list that is absent (`undefined` or `null`) in `seg` keeps the
 * segment's current member set as it is, without copying it (the stream sends
 * segment patches without members when only the name or rules changed): the
 * set is then SHARED with `c`, so later `applySegmentDelta`s show in both, as
 * with every delta. For a segment not in `c`, an absent list is empty.
 */
export function applySegment(c: Compiled, seg: Segment | SegmentPatch): Compiled {
  const prev = c.segments.get(seg.key)
  const keepIncluded = prev !== undefined && (seg.included === undefined || seg.included === null)
  const keepExcluded = prev !== undefined && (seg.excluded === undefined || seg.excluded === null)
  const segments = new Map(c.segments)
  const next = buildSegment(seg, keepIncluded ? prev.included : null, keepExcluded ? prev.excluded : null)
  segments.set(seg.key, next)
  const dependents = updateSegment(c.dependents, seg.key, prev?.refs, next.refs)
  return compiled(c.environment, c.flags, segments, dependents)
}

/** Removes one segment (no-op when absent); `inSegment` on it then never matches. */
export function removeSegment(c: Compiled, key: string): Compiled {
  const prev = c.segments.get(key)
  if (prev === undefined) return c
  const segments = new Map(c.segments)
  segments.delete(key)
  return compiled(c.environment, c.flags, segments, updateSegment(c.dependents, key, prev.refs, undefined))
}

/**
 * Applies a membership delta to one list of a segment, in amortised O(1) per id.
 * MUTATES the segment's member set in place (shared with `c` and every
 * Compiled derived from it) and returns a Compiled carrying the new version.
 * Adds are applied before removes, so an id in both ends up removed. Ignored
 * (returns `c`) when the segment is unknown or `d.version` is not greater than
 * the segment's version (a replayed delta).
 */
export function applySegmentDelta(c: Compiled, d: SegmentDelta): Compiled {
  const seg = c.segments.get(d.key)
  if (seg === undefined || !(d.version > seg.version)) return c
  const set = d.list === 'excluded' ? seg.excluded : seg.included
  for (const id of strings(d.add)) set.add(id)
  for (const id of strings(d.remove)) set.delete(id)
  const segments = new Map(c.segments)
  segments.set(d.key, { ...seg, version: d.version })
  // Members are not references: the index stays as it is.
  return compiled(c.environment, c.flags, segments, c.dependents)
}

/** Validation issues of every flag and segment that has some (for SDK logs). */
export function compileIssues(c: Compiled): {
  flags: Record<string, ValidationIssue[]>
  segments: Record<string, ValidationIssue[]>
} {
  const flags: Record<string, ValidationIssue[]> = Object.create(null) as Record<string, ValidationIssue[]>
  const segments: Record<string, ValidationIssue[]> = Object.create(null) as Record<string, ValidationIssue[]>
  for (const [k, f] of c.flags) if (f.issues.length > 0) flags[k] = [...f.issues]
  for (const [k, s] of c.segments) if (s.issues.length > 0) segments[k] = [...s.issues]
  return { flags, segments }
}
