/**
 * The evaluator: the one implementation of flag semantics (docs/rules.md).
 *
 * Pure and synchronous; never throws. The hot path (`evaluate`) allocates
 * nothing for string keys: reasons are tracked in a module-level scratch
 * record and turned into (precomputed, frozen) reason objects only by
 * `evaluateDetail`.
 */
import type { Context, EvaluationDetail, ErrorKind, JsonValue, Reason, RulesetFlag } from './types.js'
import type { Compiled, CompiledFlag, CompiledSegment, CompiledServe } from './compile.js'
import { CLAUSE, type CompiledClause } from './operators.js'
import { ERRORS, KIND, REASONS } from './reasons.js'
import { PreparedValue, type SaltHasher } from './hash.js'

/** Deepest prerequisite chain (and segment-in-segment nesting) evaluated; deeper counts as a cycle. */
export const MAX_PREREQUISITE_DEPTH = 16

/** Scratch record of why the last evaluation served what it served. */
interface Trace {
  kind: number
  /** Rule index for RULE_MATCH; prerequisite index for PREREQUISITE_FAILED. */
  index: number
  rollout: boolean
  error: ErrorKind
}

// Safe as module state: evaluation is synchronous and does not re-enter.
const TRACE: Trace = { kind: 0, index: 0, rollout: false, error: 'GENERAL' }
const STACK: (CompiledFlag | undefined)[] = new Array<CompiledFlag | undefined>(MAX_PREREQUISITE_DEPTH).fill(undefined)

// Variation index served by the latest evaluate() (-1: the default): lets a caller count
// evaluations per variation without the allocation of a detail.
let LAST = -1

/**
 * The variation index served by the most recent `evaluate()` call, or -1 when
 * it served the default value. Read it right after the call (evaluation is
 * synchronous, so nothing can run in between).
 */
export function lastVariation(): number {
  return LAST
}

/** Internal result: no variation, serve the default (see TRACE). */
const NONE = -1
/** Internal result: a prerequisite cycle or a too deep chain below this point. */
const CYCLE = -2

const hasOwn = Object.prototype.hasOwnProperty

type Ctx = Record<string, unknown>

/** The context key: `key`, else OpenFeature's `targetingKey`; non-empty strings only. */
export function contextKey(ctx: Ctx): string | null {
  const k = ctx.key
  if (typeof k === 'string' && k !== '') return k
  const t = ctx.targetingKey
  if (typeof t === 'string' && t !== '') return t
  return null
}

function attribute(ctx: Ctx, name: string, isKey: boolean, guardProto: boolean, key: string | null): unknown {
  if (isKey) return key === null ? undefined : key
  if (guardProto && !hasOwn.call(ctx, name)) return undefined
  return ctx[name]
}

function matchClause(c: Compiled, cl: CompiledClause, ctx: Ctx, key: string | null, depth: number): boolean {
  switch (cl.kind) {
    case CLAUSE.ATTRIBUTE: {
      const v = attribute(ctx, cl.attribute, cl.isKey, cl.guardProto, key)
      // A missing attribute never matches, even negated (as LaunchDarkly does).
      if (v === undefined || v === null) return false
      let r = false
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          const e: unknown = v[i]
          if (e !== null && e !== undefined && cl.test(e)) {
            r = true
            break
          }
        }
      } else r = cl.test(v)
      return cl.negate ? !r : r
    }
    case CLAUSE.EXISTS: {
      const v = attribute(ctx, cl.attribute, cl.isKey, cl.guardProto, key)
      const r = v !== undefined && v !== null
      return cl.negate ? !r : r
    }
    case CLAUSE.SEGMENT: {
      let r = false
      const keys = cl.segments
      for (let i = 0; i < keys.length; i++) {
        const seg = c.segments.get(keys[i]!)
        if (seg !== undefined && inSegment(c, seg, ctx, key, depth)) {
          r = true
          break
        }
      }
      return cl.negate ? !r : r
    }
    default:
      return false
  }
}

function matchAll(
  c: Compiled,
  clauses: readonly CompiledClause[],
  ctx: Ctx,
  key: string | null,
  depth: number,
): boolean {
  for (let i = 0; i < clauses.length; i++) if (!matchClause(c, clauses[i]!, ctx, key, depth)) return false
  return true
}

// The context key of the `evaluateAll`/`evaluateAllValues` call under way, prepared once for the salt of
// every flag that buckets by it (null outside those calls). A cache keyed by the string itself: a value
// that is not `PREP.value` is hashed as usual, so whatever the context does, the buckets are the same.
const PREP = new PreparedValue()

/**
 * The targets of every flag of a flags map, by context key: the flags that list a key, with the
 * variation each gives it. `evaluateAll`/`evaluateAllValues` look the context key up here once and mark
 * the flags it hits (`CompiledFlag.hitCall`), instead of one lookup in each flag's own targets.
 */
type TargetIndex = Map<string, { flag: CompiledFlag; variation: number }[]>

/**
 * Most target entries indexed per flags map (more: no index, each flag looks the key up itself). The
 * index is rebuilt for each new flags map (each flag change) by the first bulk call, and costs ~100
 * bytes per entry: this bounds both (~1.6 MB); a flag's big whitelist is one lookup either way.
 */
const TARGET_INDEX_MAX = 16_384

// The key `INDEX_CALL` marked the flags of (null outside evaluateAll/evaluateAllValues, or without an index).
// Like PREP, only a shortcut: a key that is not this one is looked up in the flag's own targets.
let INDEXED_KEY: string | null = null
let INDEX_CALL = 0

/** The variation `f`'s targets give `key`, or undefined (also without targets). */
function targetOf(f: CompiledFlag, key: string): number | undefined {
  if (key === INDEXED_KEY) return f.hitCall === INDEX_CALL ? f.hitVariation : undefined
  const keys = f.targetKeys
  if (keys !== null) return keys.has(key) ? f.targetVariation : undefined
  return f.targets === null ? undefined : f.targets.get(key)
}

function buildTargetIndex(flags: readonly CompiledFlag[]): TargetIndex | null {
  let n = 0
  for (const f of flags) n += f.targetKeys?.size ?? f.targets?.size ?? 0
  if (n === 0 || n > TARGET_INDEX_MAX) return null
  const index: TargetIndex = new Map()
  const add = (flag: CompiledFlag, key: string, variation: number) => {
    const hits = index.get(key)
    if (hits === undefined) index.set(key, [{ flag, variation }])
    else hits.push({ flag, variation })
  }
  for (const f of flags) {
    if (f.targetKeys !== null) for (const key of f.targetKeys) add(f, key, f.targetVariation)
    else if (f.targets !== null) for (const [key, variation] of f.targets) add(f, key, variation)
  }
  return index
}

/** Prepares the context key of a bulk call: its hash blocks (PREP) and, with an index, the flags it is a target of. */
function enterBulk(plan: AllPlan, key: string | null): void {
  PREP.prepare(key)
  INDEXED_KEY = null
  if (key === null || plan.targets === null) return
  const call = ++INDEX_CALL
  const hits = plan.targets.get(key)
  if (hits !== undefined)
    for (let i = 0; i < hits.length; i++) {
      const h = hits[i]!
      h.flag.hitCall = call
      h.flag.hitVariation = h.variation
    }
  INDEXED_KEY = key
}

function leaveBulk(): void {
  PREP.value = null
  INDEXED_KEY = null
}

function bucketOf(h: SaltHasher, b: string): number {
  return b === PREP.value ? h.bucketPrepared(PREP) : h.bucket(b)
}

/** The string a rollout buckets by: strings as they are, safe integers in decimal; else null. */
function bucketValue(v: unknown): string | null {
  if (typeof v === 'string') return v
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v)
  return null
}

/** Membership: excluded wins, then included, then the segment's rules. */
export function inSegment(c: Compiled, seg: CompiledSegment, ctx: Ctx, key: string | null, depth: number): boolean {
  if (key !== null) {
    if (seg.excluded.size > 0 && seg.excluded.has(key)) return false
    if (seg.included.has(key)) return true
  }
  const rules = seg.rules
  if (rules.length === 0 || depth >= MAX_PREREQUISITE_DEPTH) return false
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]!
    if (!matchAll(c, r.clauses, ctx, key, depth + 1)) continue
    if (r.weight < 0) return true
    const b = bucketValue(attribute(ctx, r.bucketBy, r.bucketByKey, r.guardProto, key))
    if (b !== null && bucketOf(seg.hasher, b) < r.weight) return true
  }
  return false
}

/** Variation served by `s`, or NONE (TRACE.error set) when a rollout lacks its bucketBy value. */
function serve(f: CompiledFlag, s: CompiledServe, ctx: Ctx, key: string | null): number {
  TRACE.rollout = false
  if (s.variation >= 0) return s.variation
  TRACE.rollout = true
  if (s.single >= 0) return s.single
  const b = s.bucketByKey ? key : bucketValue(attribute(ctx, s.bucketBy, false, s.guardProto, key))
  if (b === null) {
    TRACE.kind = KIND.ERROR
    TRACE.error = 'TARGETING_KEY_MISSING'
    return NONE
  }
  return slice(s, bucketOf(f.hasher, b))
}

/** The variation of the rollout slice `bucket` falls in. */
function slice(s: CompiledServe, bucket: number): number {
  const bounds = s.bounds
  const n = bounds.length
  for (let i = 0; i < n; i++) if (bucket < bounds[i]!) return s.variations[i]!
  return s.variations[n - 1]! // unreachable for validated weights (they sum to 100000)
}

/** `run` for a `simple` flag (its targets, then its fallthrough: fixed, or a rollout by `key`), without the reason. */
function servedSimple(f: CompiledFlag, key: string | null): number {
  if (key !== null) {
    const v = targetOf(f, key)
    if (v !== undefined) return v
  }
  const s = f.fallthrough
  if (s.variation >= 0) return s.variation
  if (s.single >= 0) return s.single
  return key === null ? NONE : slice(s, bucketOf(f.hasher, key))
}

/**
 * Evaluates one flag; returns a variation index, NONE (default) or CYCLE.
 * `key` is `contextKey(ctx)` when `f.needsKey` (the caller reads it, once for all the flags of an
 * `evaluateAllValues`), else null or the key; a prerequisite that needs it reads it when null.
 */
function run(c: Compiled, f: CompiledFlag, ctx: Ctx, key: string | null, depth: number): number {
  if (f.broken) {
    TRACE.kind = KIND.ERROR
    TRACE.error = 'PARSE_ERROR'
    return NONE
  }
  if (!f.on) {
    TRACE.kind = KIND.OFF
    return f.off
  }
  const pre = f.prereqFlags
  if (pre.length > 0) {
    STACK[depth] = f
    for (let i = 0; i < pre.length; i++) {
      const pf = c.flags.get(pre[i]!)
      let v = NONE
      if (pf !== undefined) {
        let cyclic = depth + 1 >= MAX_PREREQUISITE_DEPTH
        for (let j = 0; j <= depth && !cyclic; j++) if (STACK[j] === pf) cyclic = true
        v = cyclic ? CYCLE : pf.on ? run(c, pf, ctx, key ?? (pf.needsKey ? contextKey(ctx) : null), depth + 1) : NONE
      }
      if (v === CYCLE && depth > 0) return CYCLE
      if (v !== f.prereqVariations[i]) {
        TRACE.kind = KIND.PREREQUISITE_FAILED
        TRACE.index = i
        return f.off
      }
    }
  }
  return decide(c, f, ctx, key, depth, null, 0)
}

/**
 * What an on flag whose prerequisites passed serves: its targets, its rules (their clauses through
 * `shared` in bulk call `call`, when given: `SharedClause`), its fallthrough; TRACE says which.
 */
function decide(
  c: Compiled,
  f: CompiledFlag,
  ctx: Ctx,
  key: string | null,
  depth: number,
  shared: SharedClauses | null,
  call: number,
): number {
  if (key !== null) {
    const v = targetOf(f, key)
    if (v !== undefined) {
      TRACE.kind = KIND.TARGET_MATCH
      return v
    }
  }
  const rules = f.rules
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]!
    if (
      shared === null ? matchAll(c, r.clauses, ctx, key, depth) : matchShared(c, r.clauses, shared[i]!, ctx, key, call)
    ) {
      const v = serve(f, r.serve, ctx, key)
      if (v < 0) return v
      TRACE.kind = KIND.RULE_MATCH
      TRACE.index = i
      return v
    }
  }
  const v = serve(f, f.fallthrough, ctx, key)
  if (v >= 0) TRACE.kind = KIND.FALLTHROUGH
  return v
}

/**
 * A clause that several rules of one flags map hold alike (same op, attribute, negation and values):
 * its result for the bulk call numbered `call`. `evaluateAll` and `evaluateAllValues` test such a clause
 * once per context, not once per flag: ten flags that test the same segment look the key up once.
 */
interface SharedClause {
  call: number
  result: boolean
}

/** Per rule of a flag, per clause: its shared result cell, or null when no other rule holds that clause. */
type SharedClauses = readonly (readonly (SharedClause | null)[])[]

// Numbers the bulk calls for `SharedClause.call` (a call made from inside another, by a context getter or
// a filter, takes a new number: the outer call then tests again the clauses whose cells the inner one stamped).
let BULK_CALL = 0

/** `matchAll` of a top-level rule, reusing the results of the clauses it shares in bulk call `call`. */
function matchShared(
  c: Compiled,
  clauses: readonly CompiledClause[],
  shared: readonly (SharedClause | null)[],
  ctx: Ctx,
  key: string | null,
  call: number,
): boolean {
  for (let i = 0; i < clauses.length; i++) {
    const s = shared[i]!
    let r: boolean
    if (s === null) r = matchClause(c, clauses[i]!, ctx, key, 0)
    else if (s.call === call) r = s.result
    else {
      r = matchClause(c, clauses[i]!, ctx, key, 0)
      s.result = r
      s.call = call
    }
    if (!r) return false
  }
  return true
}

function isContext(ctx: unknown): ctx is Ctx {
  return typeof ctx === 'object' && ctx !== null && !Array.isArray(ctx)
}

/**
 * `c.flags.get(key)`, answered without the lookup when `key` is the one asked last: code that checks one
 * flag in a loop (a migration's per-record `isEnabled`) pays a string comparison — a pointer comparison
 * for the same string — instead of hashing into the map, and other code one comparison more.
 */
export function flagOf(c: Compiled, key: string): CompiledFlag | undefined {
  const last = c.lastLookup
  if (key === last.key) return last.flag
  const f = c.flags.get(key)
  last.key = key
  last.flag = f
  return f
}

/** The variation `f` serves `context` (see `evaluate`), or -1 for the default value. */
function served(c: Compiled, f: CompiledFlag, context: Context, defaultValue: JsonValue): number {
  if (!isContext(context)) return NONE
  let v: number
  // The simple path first, its try around the one read that can throw (a getter on the key): a whitelist
  // served this way runs ~1.4× faster than under one try with the general path (test/bench/peers).
  if (f.simple) {
    let key: string | null
    try {
      key = contextKey(context)
    } catch {
      return NONE
    }
    v = servedSimple(f, key)
  } else if (f.constant) v = f.constVariation
  else {
    try {
      v = run(c, f, context, f.needsKey ? contextKey(context) : null, 0)
    } catch {
      return NONE
    }
  }
  if (v < 0 || (f.typed && defaultValue !== null && typeof defaultValue !== f.types[v])) return NONE
  return v
}

/**
 * The flag's value for `context`, or `defaultValue` when the flag is missing,
 * off without an off variation, failing, or serving a value of another type
 * than `defaultValue` (null defaults and json flags accept any value).
 * Never throws; allocates nothing on the common paths.
 */
export function evaluate(c: Compiled, flagKey: string, context: Context, defaultValue: JsonValue): JsonValue {
  const f = flagOf(c, flagKey)
  const v = f === undefined ? NONE : served(c, f, context, defaultValue)
  LAST = v
  return v < 0 ? defaultValue : ((f as CompiledFlag).values[v] as JsonValue)
}

/**
 * `evaluate`, counting the evaluation on the flag (its `counts`, for the SDK's reports: one
 * increment, no lookup). Returns undefined, counting nothing, when the flag is missing.
 */
export function evaluateCounted(
  c: Compiled,
  flagKey: string,
  context: Context,
  defaultValue: JsonValue,
): JsonValue | undefined {
  const f = flagOf(c, flagKey)
  if (f === undefined) {
    LAST = NONE
    return undefined
  }
  const v = served(c, f, context, defaultValue)
  LAST = v
  f.counts[v + 1]!++
  return v < 0 ? defaultValue : (f.values[v] as JsonValue)
}

/**
 * Moves the counts of `flags` into `into` (per flag key: slot 0 the default, slot i + 1 variation i;
 * added to what `into` holds) and zeroes them. Flags without counts add nothing.
 */
export function takeCounts(flags: Iterable<CompiledFlag>, into: Record<string, number[]>): void {
  for (const f of flags) {
    const n = f.counts
    let slots: number[] | undefined
    for (let i = 0; i < n.length; i++) {
      if (n[i] === 0) continue
      slots ??= hasOwn.call(into, f.key) ? (into[f.key] as number[]) : put(into, f.key, [])
      slots[i] = (slots[i] ?? 0) + n[i]!
      n[i] = 0
    }
  }
}

function detail(value: JsonValue, variation: number | null, reason: Reason): EvaluationDetail {
  return { value, variation, reason }
}

/** `shared`: the flag's shared clauses in bulk call `call` (see `decide`), or null outside a bulk call. */
function evalDetail(
  c: Compiled,
  f: CompiledFlag,
  context: Ctx,
  key: string | null,
  defaultValue: JsonValue,
  shared: SharedClauses | null = null,
  call = 0,
): EvaluationDetail {
  if (f.constant) {
    const v = f.constVariation
    if (v < 0) return detail(defaultValue, null, f.constReason)
    if (f.typed && defaultValue !== null && typeof defaultValue !== f.types[v]) {
      return detail(defaultValue, null, ERRORS.TYPE_MISMATCH)
    }
    return detail(f.values[v] as JsonValue, v, f.constReason)
  }
  let v: number
  try {
    v =
      shared !== null
        ? decide(c, f, context, key, 0, shared, call)
        : run(c, f, context, key ?? (f.needsKey ? contextKey(context) : null), 0)
  } catch {
    return detail(defaultValue, null, ERRORS.GENERAL)
  }
  const t = TRACE
  let reason: Reason
  switch (t.kind) {
    case KIND.OFF:
      reason = REASONS.OFF
      break
    case KIND.TARGET_MATCH:
      reason = REASONS.TARGET_MATCH
      break
    case KIND.RULE_MATCH: {
      const r = f.rules[t.index]!
      reason = t.rollout ? r.reasonRollout : r.reason
      break
    }
    case KIND.PREREQUISITE_FAILED:
      reason = f.prereqReasons[t.index]!
      break
    case KIND.FALLTHROUGH:
      reason = t.rollout ? REASONS.FALLTHROUGH_ROLLOUT : REASONS.FALLTHROUGH
      break
    default:
      reason = ERRORS[t.error]
  }
  if (v < 0) return detail(defaultValue, null, reason)
  if (f.typed && defaultValue !== null && typeof defaultValue !== f.types[v]) {
    return detail(defaultValue, null, ERRORS.TYPE_MISMATCH)
  }
  return detail(f.values[v] as JsonValue, v, reason)
}

/** Like `evaluate`, with the variation index and the reason. Never throws. */
export function evaluateDetail(
  c: Compiled,
  flagKey: string,
  context: Context,
  defaultValue: JsonValue,
): EvaluationDetail {
  const f = flagOf(c, flagKey)
  if (f === undefined) return detail(defaultValue, null, ERRORS.FLAG_NOT_FOUND)
  if (!isContext(context)) return detail(defaultValue, null, ERRORS.INVALID_CONTEXT)
  return evalDetail(c, f, context, null, defaultValue)
}

/** What `evaluateAll` and `evaluateAllValues` reuse for one flags map: its flags in order and output templates. */
interface AllPlan {
  readonly flags: readonly CompiledFlag[]
  /** An object with every flag key (value null), in ruleset order; copied by spread for each call. */
  readonly template: Record<string, EvaluationDetail | null>
  /**
   * `evaluateAllValues`' template: every flag key with the value it most likely serves (`guess`),
   * so that only the values that differ are written (a keyed store into a 100-key object costs as
   * much as evaluating a simple flag).
   */
  readonly values: Record<string, JsonValue>
  /** The value `values` holds for each flag, in `flags` order. */
  readonly guess: readonly JsonValue[]
  /** Builds a result from its values in `flags` order (see `literalOf`); null where code cannot be generated. */
  readonly build: (<V>(values: V[]) => Record<string, V>) | null
  /** The flags' targets by key, or null (none, or too many to index). */
  readonly targets: TargetIndex | null
  /** Per flag (in `flags` order): its rules' shared clauses, or null (served by `run` or `servedSimple`). */
  readonly shared: readonly (SharedClauses | null)[]
}

// Keyed by the flags map, which is never mutated (applyFlag / removeFlag make a new one).
const PLANS = new WeakMap<ReadonlyMap<string, CompiledFlag>, AllPlan>()

/**
 * The value `f` most likely serves with a null default: exactly its value when it is constant,
 * else that of its fallthrough (its fixed variation, or the heaviest slice of its rollout).
 * Only a guess: `evaluateAllValues` writes every value that differs from it.
 */
function likelyValue(f: CompiledFlag): JsonValue {
  let v = f.constVariation
  if (!f.constant) {
    const s = f.fallthrough
    v = s.variation
    if (v < 0) {
      let best = -1
      for (let i = 0; i < s.bounds.length; i++) {
        const w = s.bounds[i]! - (i > 0 ? s.bounds[i - 1]! : 0)
        if (w > best) {
          best = w
          v = s.variations[i]!
        }
      }
    }
  }
  return v >= 0 && v < f.values.length ? (f.values[v] as JsonValue) : null
}

/** An object with `keys` as own data properties (even "__proto__"), each set to the matching value. */
function objectOf<V>(keys: readonly string[], values: readonly V[]): Record<string, V> {
  // JSON.parse builds one object with all keys as own data properties, in fast mode; spreading it is
  // far cheaper than adding 100 keys one by one to an empty object for every call.
  const out = JSON.parse(`{${keys.map((k) => `${JSON.stringify(k)}:null`).join(',')}}`) as Record<string, V>
  for (let i = 0; i < values.length; i++) if (values[i] !== null) put(out, keys[i]!, values[i] as V)
  return out
}

/** Whether `evaluateAll` and `evaluateAllValues` may generate their result builder (false: tests walk the other path). */
export const allValuesPlan = { generateCode: true }

/**
 * A function returning `{ "<key 0>": values[0], … }`: an object literal, which V8 builds from a
 * boilerplate with its shape fixed, ~20× faster than as many keyed stores. The keys are string
 * literals made by JSON.stringify (any string is quoted safely; no value ever enters the code), and
 * "__proto__" is a computed key, which makes an own property as it must (a literal one would set the
 * prototype). Null where the runtime forbids code generation (a CSP, some edge runtimes): callers then
 * write the values one by one.
 */
function literalOf(keys: readonly string[]): AllPlan['build'] {
  if (!allValuesPlan.generateCode) return null
  const props = keys.map((k, i) => `${k === '__proto__' ? '["__proto__"]' : JSON.stringify(k)}:v[${i}]`)
  try {
    return new Function('v', `"use strict";return{${props.join(',')}}`) as AllPlan['build']
  } catch {
    return null
  }
}

/**
 * The shared clauses of `flags` (see `SharedClause`): one cell per clause `id` held by two or more
 * rules of the flags `decide` serves in bulk calls (on, no prerequisites, neither constant nor simple).
 */
function sharedClauses(flags: readonly CompiledFlag[]): (SharedClauses | null)[] {
  const eligible = (f: CompiledFlag): boolean =>
    f.on && !f.broken && !f.constant && !f.simple && f.prereqFlags.length === 0
  const seen = new Map<string, number>()
  for (const f of flags)
    if (eligible(f))
      for (const r of f.rules) for (const cl of r.clauses) if (cl.id !== '') seen.set(cl.id, (seen.get(cl.id) ?? 0) + 1)
  const cells = new Map<string, SharedClause>()
  const cell = (cl: CompiledClause): SharedClause | null => {
    if ((seen.get(cl.id) ?? 0) < 2) return null
    let s = cells.get(cl.id)
    if (s === undefined) {
      s = { call: 0, result: false }
      cells.set(cl.id, s)
    }
    return s
  }
  return flags.map((f) => (eligible(f) ? f.rules.map((r) => r.clauses.map(cell)) : null))
}

function planOf(flags: ReadonlyMap<string, CompiledFlag>): AllPlan {
  let p = PLANS.get(flags)
  if (p === undefined) {
    const list = [...flags.values()]
    const keys = list.map((f) => f.key)
    const guess = list.map(likelyValue)
    p = {
      flags: list,
      template: objectOf(keys, []),
      values: objectOf(keys, guess),
      guess,
      build: literalOf(keys),
      targets: buildTargetIndex(list),
      shared: sharedClauses(list),
    }
    PLANS.set(flags, p)
  }
  return p
}

function put<V>(out: Record<string, V>, key: string, d: V): V {
  if (key === '__proto__')
    Object.defineProperty(out, key, { value: d, enumerable: true, writable: true, configurable: true })
  else out[key] = d
  return d
}

/**
 * Evaluates every flag (or those `filter` keeps, e.g. `(f) => f.clientSide === true`)
 * for one context, with a null default (so no TYPE_MISMATCH). Keys in ruleset order.
 */
export function evaluateAll(
  c: Compiled,
  context: Context,
  filter?: (flag: RulesetFlag) => boolean,
): Record<string, EvaluationDetail> {
  const ok = isContext(context)
  // The context key, read once for all flags (when that read throws, each flag that needs it reads it and fails).
  let key: string | null = null
  if (ok)
    try {
      key = contextKey(context)
    } catch {}
  // A filtered call uses the same plan (its index and shared clauses), and builds its result key by key.
  let plan: AllPlan | null = planOf(c.flags)
  if (plan.flags.length === c.flags.size) enterBulk(plan, key)
  else {
    PLANS.delete(c.flags) // the map changed behind our back: rebuild next time
    plan = null
    PREP.prepare(key)
  }
  try {
    return allDetails(c, context, ok, key, filter, plan)
  } finally {
    leaveBulk()
  }
}

function allDetails(
  c: Compiled,
  context: Context,
  ok: boolean,
  key: string | null,
  filter: ((flag: RulesetFlag) => boolean) | undefined,
  plan: AllPlan | null,
): Record<string, EvaluationDetail> {
  if (plan !== null) {
    const flags = plan.flags
    // Shared clauses only with the key read: without it, each flag reads it again (and may get another).
    const shared = key !== null ? plan.shared : null
    const call = ++BULK_CALL
    if (filter === undefined) {
      const details = new Array<EvaluationDetail>(flags.length)
      for (let i = 0; i < flags.length; i++)
        details[i] = ok
          ? evalDetail(c, flags[i]!, context, key, null, shared === null ? null : shared[i]!, call)
          : detail(null, null, ERRORS.INVALID_CONTEXT)
      if (plan.build !== null) return plan.build(details)
      const out = { ...plan.template } as Record<string, EvaluationDetail>
      for (let i = 0; i < flags.length; i++) put(out, flags[i]!.key, details[i]!)
      return out
    }
    const out: Record<string, EvaluationDetail> = {}
    for (let i = 0; i < flags.length; i++) {
      const f = flags[i]!
      if (!filter(f.flag)) continue
      put(
        out,
        f.key,
        ok
          ? evalDetail(c, f, context, key, null, shared === null ? null : shared[i]!, call)
          : detail(null, null, ERRORS.INVALID_CONTEXT),
      )
    }
    return out
  }
  const out: Record<string, EvaluationDetail> = {}
  for (const f of c.flags.values()) {
    if (filter !== undefined && !filter(f.flag)) continue
    put(out, f.key, ok ? evalDetail(c, f, context, key, null) : detail(null, null, ERRORS.INVALID_CONTEXT))
  }
  return out
}

/**
 * The values `evaluateAll` would report, without a detail object (nor a
 * reason) per flag: `allFlags`' path. Keys in ruleset order. Never throws.
 */
export function evaluateAllValues(c: Compiled, context: Context): Record<string, JsonValue> {
  const plan = planOf(c.flags)
  const flags = plan.flags
  if (flags.length !== c.flags.size) {
    PLANS.delete(c.flags) // the map changed behind our back: rebuild next time
    return evaluateAllValues(c, context)
  }
  if (!isContext(context)) return { ...plan.template } as Record<string, JsonValue>
  const values = new Array<JsonValue>(flags.length)
  const shared = plan.shared
  const call = ++BULK_CALL
  // The context key, read once for all flags (by the first that needs it; again if that read threw).
  let key: string | null = null
  let keyRead = false
  for (let i = 0; i < flags.length; i++) {
    const f = flags[i]!
    let v: number
    if (f.constant) v = f.constVariation
    else {
      try {
        if (f.needsKey && !keyRead) {
          key = contextKey(context)
          keyRead = true
          enterBulk(plan, key)
        }
        const sh = shared[i]!
        v = f.simple
          ? servedSimple(f, key)
          : sh !== null
            ? decide(c, f, context, key, 0, sh, call)
            : run(c, f, context, key, 0)
      } catch {
        v = NONE
      }
    }
    values[i] = v < 0 ? null : (f.values[v] as JsonValue)
  }
  leaveBulk()
  if (plan.build !== null) return plan.build(values)
  const out = { ...plan.values }
  const guess = plan.guess
  for (let i = 0; i < flags.length; i++) if (values[i] !== guess[i]) put(out, flags[i]!.key, values[i] as JsonValue)
  return out
}
