/**
 * Pure cross-field validation of flag configurations and segments.
 *
 * The server checks shapes with TypeBox first; these checks are defensive
 * anyway (they accept `unknown`), because `compile()` runs them too and a flag
 * that fails them is served as ERROR/PARSE_ERROR instead of being evaluated.
 * Regex patterns are checked here, by the engine that runs them (RE2, linear
 * time: no pattern can backtrack catastrophically). The write-time functions
 * at the end add what the server checks before a write, with what it read
 * from its store passed in as data: this is the one validator of both sides.
 */
import { OPERATORS, type FlagKind } from './types.js'
import { compilePattern, parseDate } from './operators.js'
import { parseSemVer } from './semver.js'
import { BUCKETS } from './hash.js'
import { clauseSegments } from './dependents.js'

/**
 * Every issue code validation can report, with when it is reported: the one
 * catalogue. The "when" texts are the table in docs/rules.md (a test keeps the
 * two, and the codes the checks below emit, equal). Codes are stable. Those
 * marked "write time" come only from `validateFlagWrite` and `validateSegmentWrite`.
 */
export const ISSUES = {
  INVALID_SHAPE: 'a structural field has the wrong type (`on`, `negate`, lists, objects)',
  UNKNOWN_KIND: 'kind is not boolean, string, number, json',
  NO_VARIATIONS: 'empty variations',
  TOO_DEEP: 'a variation nests arrays and objects more than 64 levels deep',
  KIND_MISMATCH: 'a variation does not fit the kind (number flags: finite numbers)',
  BAD_BOOLEAN_VARIATIONS: 'a boolean flag must have exactly `true` and `false`, in any order',
  DUPLICATE_VARIATION: 'the same value twice in a string, number or json flag (json: the same JSON text)',
  VARIATION_OUT_OF_RANGE:
    'a variation index is not an integer in `[0, variations.length)` (prerequisites: of the other flag)',
  BAD_SERVE: 'serve is not exactly one of `{variation}` / `{rollout}`',
  EMPTY_ROLLOUT: 'rollout without weights',
  BAD_WEIGHT: 'weight not an integer in 0..100000',
  WEIGHTS_SUM: 'rollout weights do not sum to 100000',
  BAD_ATTRIBUTE: 'empty attribute name or `bucketBy`',
  EMPTY_RULE_ID: 'a rule id is empty',
  DUPLICATE_RULE_ID: 'two rules have the same id',
  UNKNOWN_OPERATOR: 'op not in the table above',
  EMPTY_VALUES: 'a clause other than `exists` without values',
  WRONG_VALUE_TYPE:
    'value type does not fit the operator (`in`: string/number/boolean; string ops: strings; numeric ops: finite numbers; `inSegment`: non-empty keys; targets: strings)',
  BAD_REGEX:
    'pattern is not RE2 syntax (backreferences, lookaround, JavaScript-only escapes), compiles to more than 500 RE2 instructions, or is longer than 1024',
  BAD_DATE: 'not epoch ms or ISO-8601 as above',
  BAD_SEMVER: 'not a version as above',
  DUPLICATE_TARGET: 'the same key targeted to two variations',
  SELF_PREREQUISITE: 'a flag is its own prerequisite (when `def.key` is given)',
  DUPLICATE_PREREQUISITE: 'a prerequisite is listed twice',
  SEGMENT_NOT_FOUND: 'write time: a rule refers to a segment the environment does not have',
  FLAG_NOT_FOUND: 'write time: a prerequisite names a flag the environment does not have',
  PREREQUISITE_CYCLE: "write time: the prerequisites of the environment's flags would form a cycle",
  KNOB_NOT_NUMBER:
    'knob bounds on a flag that is not a number flag, or a knob value (`knob.value`) that is not a finite number',
  KNOB_BAD_BOUNDS: 'knob bounds are not finite numbers with `min ≤ max`, or `step` is not a number above 0',
  KNOB_OUT_OF_BOUNDS: 'a knob value is below `min` or above `max`',
  KNOB_OFF_STEP: 'a knob value is not `min` plus a whole number of `step`s',
  NOT_A_KNOB: 'a configuration sets `knob` but the flag has no knob bounds',
  NESTED_SEGMENT: 'write time: a segment rule uses `inSegment` (segments cannot refer to segments, see Segments)',
} as const satisfies Record<string, string>

/** A stable issue code: a key of `ISSUES`. */
export type IssueCode = keyof typeof ISSUES

/** The codes by name (`ISSUE.BAD_REGEX === 'BAD_REGEX'`), derived from `ISSUES` so there is no second list. */
export const ISSUE = Object.freeze(Object.fromEntries(Object.keys(ISSUES).map((k) => [k, k]))) as {
  readonly [K in IssueCode]: K
}

/** One problem found by validation. */
export interface ValidationIssue {
  /** JSON-pointer-like path of the offending value, e.g. `/rules/0/clauses/1/values/0`. */
  path: string
  /** Stable SCREAMING_SNAKE code (see `ISSUES` and docs/rules.md). */
  code: IssueCode
  /** Human-readable explanation. */
  message: string
}

/** Longest accepted regex pattern in a `matches` clause. */
export const MAX_PATTERN_LENGTH = 1024

/** What validation needs of a flag definition (a `FlagDefinition` or `RulesetFlag` fits). */
export interface DefinitionLike {
  /** When given, a prerequisite on this key is reported as SELF_PREREQUISITE. */
  key?: unknown
  kind?: unknown
  variations?: unknown
  /** Knob bounds (`FlagDefinition.knob`, `RulesetFlag.knobBounds`), if the flag is a knob. */
  knobBounds?: unknown
}

type Obj = Record<string, unknown>
type Issues = ValidationIssue[]

const KINDS: readonly string[] = ['boolean', 'string', 'number', 'json']
const OPS: readonly string[] = OPERATORS

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0
}

function push(out: Issues, path: string, code: IssueCode, message: string): void {
  out.push({ path, code, message })
}

/** Deepest nesting of arrays and objects accepted in a JSON variation (`[]` is 1 level, `{"a":[1]}` 2). */
export const MAX_JSON_DEPTH = 64
/** Deepest nesting accepted in an evaluation context (the context object itself is level 1). */
export const MAX_CONTEXT_DEPTH = 32

/**
 * Whether `v` nests arrays and objects more than `max` levels deep (a scalar
 * is 0 levels). Iterative, so checking a hostile 100,000-level value cannot
 * overflow the stack the way recursive code (JSON.stringify included) does.
 */
export function deeperThan(v: unknown, max: number): boolean {
  const stack: Array<{ x: object; depth: number }> = []
  if (typeof v === 'object' && v !== null) stack.push({ x: v, depth: 1 })
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    if (top.depth > max) return true
    for (const c of Array.isArray(top.x) ? top.x : Object.values(top.x)) {
      if (typeof c === 'object' && c !== null) stack.push({ x: c as object, depth: top.depth + 1 })
    }
  }
  return false
}

function isJson(v: unknown, depth = 0): boolean {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true
  if (typeof v === 'number') return Number.isFinite(v)
  // `depth` containers enclose v; v itself is one more level.
  if (depth >= MAX_JSON_DEPTH) return false
  if (Array.isArray(v)) return v.every((x) => isJson(x, depth + 1))
  if (isObj(v)) return Object.values(v).every((x) => isJson(x, depth + 1))
  return false
}

/** Checks the variations against the kind; returns how many variations there are. */
function checkVariations(kind: unknown, variations: unknown, out: Issues): number {
  if (typeof kind !== 'string' || !KINDS.includes(kind)) {
    push(out, '/kind', ISSUE.UNKNOWN_KIND, `kind must be one of ${KINDS.join(', ')}`)
  }
  if (!Array.isArray(variations)) {
    push(out, '/variations', ISSUE.INVALID_SHAPE, 'variations must be an array')
    return 0
  }
  if (variations.length === 0) {
    push(out, '/variations', ISSUE.NO_VARIATIONS, 'a flag needs at least one variation')
    return 0
  }
  const k = kind as FlagKind
  // isJson stops at MAX_JSON_DEPTH, so it is safe on any value, and a value it accepts is not too deep.
  const json = k === 'json' ? variations.map((v: unknown) => isJson(v)) : null
  // Too deep is refused first and alone: the checks below stringify values.
  let deep = false
  variations.forEach((v: unknown, i) => {
    if (typeof v !== 'object' || v === null || json?.[i] === true || !deeperThan(v, MAX_JSON_DEPTH)) return
    push(out, `/variations/${i}`, ISSUE.TOO_DEEP, `nested more than ${MAX_JSON_DEPTH} levels deep`)
    deep = true
  })
  if (deep) return variations.length
  variations.forEach((v: unknown, i) => {
    const p = `/variations/${i}`
    if (k === 'boolean' && typeof v !== 'boolean') push(out, p, ISSUE.KIND_MISMATCH, 'a boolean flag serves booleans')
    else if (k === 'string' && typeof v !== 'string') push(out, p, ISSUE.KIND_MISMATCH, 'a string flag serves strings')
    else if (k === 'number' && (typeof v !== 'number' || !Number.isFinite(v)))
      push(out, p, ISSUE.KIND_MISMATCH, 'a number flag serves finite numbers')
    else if (json?.[i] === false) push(out, p, ISSUE.KIND_MISMATCH, 'a json flag serves JSON values')
  })
  if (k === 'boolean') {
    const ok = variations.length === 2 && variations.includes(true) && variations.includes(false)
    if (!ok)
      push(
        out,
        '/variations',
        ISSUE.BAD_BOOLEAN_VARIATIONS,
        'a boolean flag has exactly the variations true and false (any order)',
      )
  } else if (k === 'string' || k === 'number' || k === 'json') {
    // JSON values compare by their JSON text (so {"a":1,"b":2} and {"b":2,"a":1} differ), as the server always did;
    // a value that is not JSON (already KIND_MISMATCH) may not stringify, and is compared as itself.
    const seen = new Set<unknown>()
    variations.forEach((v: unknown, i) => {
      const id = json?.[i] === true ? JSON.stringify(v) : v
      if (seen.has(id))
        push(
          out,
          `/variations/${i}`,
          ISSUE.DUPLICATE_VARIATION,
          `variation ${String(JSON.stringify(v))} is listed twice`,
        )
      seen.add(id)
    })
  }
  return variations.length
}

/** Checks knob bounds; returns them when they are usable, null when absent or broken. */
function checkKnobBounds(kind: unknown, b: unknown, out: Issues): { min: number; max: number; step?: number } | null {
  if (b === undefined) return null
  if (kind !== 'number') {
    push(out, '/knob', ISSUE.KNOB_NOT_NUMBER, 'only a number flag can be a knob')
    return null
  }
  const fin = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)
  if (!isObj(b) || !fin(b.min) || !fin(b.max) || b.min > b.max) {
    push(out, '/knob', ISSUE.KNOB_BAD_BOUNDS, 'knob bounds are { min, max, step? } with finite min ≤ max')
    return null
  }
  if (b.step !== undefined && !(fin(b.step) && b.step > 0)) {
    push(out, '/knob/step', ISSUE.KNOB_BAD_BOUNDS, 'step must be a number above 0')
    return null
  }
  return { min: b.min, max: b.max, ...(b.step !== undefined && { step: b.step as number }) }
}

/** Relative slack of the step check, so 0.1 + 0.2 counts as a whole number of 0.1 steps. */
const STEP_EPSILON = 1e-9

/** Checks a configuration's knob value against the bounds; true when index `variations.length` may serve it. */
function checkKnobValue(
  bounds: { min: number; max: number; step?: number } | null,
  knob: unknown,
  out: Issues,
): boolean {
  if (knob === undefined) return false
  if (!isObj(knob) || typeof knob.value !== 'number' || !Number.isFinite(knob.value)) {
    push(out, '/knob/value', ISSUE.KNOB_NOT_NUMBER, 'knob is { value } with a finite number')
    return false
  }
  if (bounds === null) {
    push(out, '/knob', ISSUE.NOT_A_KNOB, 'the flag has no knob bounds')
    return false
  }
  const v = knob.value
  if (v < bounds.min || v > bounds.max) {
    push(out, '/knob/value', ISSUE.KNOB_OUT_OF_BOUNDS, `${v} is outside [${bounds.min}, ${bounds.max}]`)
    return false
  }
  if (bounds.step !== undefined) {
    const k = (v - bounds.min) / bounds.step
    if (Math.abs(k - Math.round(k)) > STEP_EPSILON * Math.max(1, Math.abs(k))) {
      push(out, '/knob/value', ISSUE.KNOB_OFF_STEP, `${v} is not ${bounds.min} + a multiple of ${bounds.step}`)
      return false
    }
  }
  return true
}

function checkVariationIndex(v: unknown, n: number, path: string, out: Issues): void {
  if (!isIndex(v)) push(out, path, ISSUE.VARIATION_OUT_OF_RANGE, 'variation must be a non-negative integer index')
  else if (v >= n) push(out, path, ISSUE.VARIATION_OUT_OF_RANGE, `variation ${v} is out of range (the flag has ${n})`)
}

function checkServe(serve: unknown, n: number, path: string, out: Issues): void {
  if (!isObj(serve)) {
    push(out, path, ISSUE.BAD_SERVE, 'serve must be { variation } or { rollout }')
    return
  }
  const hasV = 'variation' in serve
  const hasR = 'rollout' in serve
  if (hasV === hasR) {
    push(out, path, ISSUE.BAD_SERVE, 'serve must have exactly one of variation and rollout')
    return
  }
  if (hasV) {
    checkVariationIndex(serve.variation, n, `${path}/variation`, out)
    return
  }
  const r = serve.rollout
  const rp = `${path}/rollout`
  if (!isObj(r)) {
    push(out, rp, ISSUE.BAD_SERVE, 'rollout must be an object')
    return
  }
  if (r.bucketBy !== undefined && (typeof r.bucketBy !== 'string' || r.bucketBy === '')) {
    push(out, `${rp}/bucketBy`, ISSUE.BAD_ATTRIBUTE, 'bucketBy must be a non-empty attribute name')
  }
  if (!Array.isArray(r.weights) || r.weights.length === 0) {
    push(out, `${rp}/weights`, ISSUE.EMPTY_ROLLOUT, 'a rollout needs at least one weighted variation')
    return
  }
  let sum = 0
  let sumOk = true
  r.weights.forEach((w: unknown, i) => {
    const wp = `${rp}/weights/${i}`
    if (!isObj(w)) {
      push(out, wp, ISSUE.INVALID_SHAPE, 'a weight is { variation, weight }')
      sumOk = false
      return
    }
    checkVariationIndex(w.variation, n, `${wp}/variation`, out)
    if (!isIndex(w.weight) || w.weight > BUCKETS) {
      push(out, `${wp}/weight`, ISSUE.BAD_WEIGHT, 'weight must be an integer from 0 to 100000')
      sumOk = false
    } else sum += w.weight
  })
  if (sumOk && sum !== BUCKETS) push(out, `${rp}/weights`, ISSUE.WEIGHTS_SUM, `weights sum to ${sum}, not 100000`)
}

/** Validates one clause; returns true when it has no issue. */
export function checkClause(clause: unknown, path: string, out: Issues): boolean {
  const before = out.length
  if (!isObj(clause)) {
    push(out, path, ISSUE.INVALID_SHAPE, 'a clause is { attribute, op, values, negate? }')
    return false
  }
  const op = clause.op
  if (typeof op !== 'string' || !OPS.includes(op)) {
    push(out, `${path}/op`, ISSUE.UNKNOWN_OPERATOR, `unknown operator ${JSON.stringify(op)}`)
  }
  if (op !== 'inSegment' && (typeof clause.attribute !== 'string' || clause.attribute === '')) {
    push(out, `${path}/attribute`, ISSUE.BAD_ATTRIBUTE, 'attribute must be a non-empty string')
  }
  if (clause.negate !== undefined && typeof clause.negate !== 'boolean') {
    push(out, `${path}/negate`, ISSUE.INVALID_SHAPE, 'negate must be a boolean')
  }
  const values = clause.values
  if (!Array.isArray(values)) {
    if (op !== 'exists' || values !== undefined)
      push(out, `${path}/values`, ISSUE.INVALID_SHAPE, 'values must be an array')
    return out.length === before
  }
  if (op === 'exists') return out.length === before
  if (values.length === 0) {
    push(out, `${path}/values`, ISSUE.EMPTY_VALUES, `operator ${String(op)} needs at least one value`)
  }
  values.forEach((v: unknown, i) => {
    const vp = `${path}/values/${i}`
    switch (op) {
      case 'in':
        if (typeof v !== 'string' && typeof v !== 'boolean' && !(typeof v === 'number' && Number.isFinite(v)))
          push(out, vp, ISSUE.WRONG_VALUE_TYPE, 'in compares strings, numbers or booleans')
        break
      case 'startsWith':
      case 'endsWith':
      case 'contains':
        if (typeof v !== 'string') push(out, vp, ISSUE.WRONG_VALUE_TYPE, `${op} needs string values`)
        break
      case 'matches':
        if (typeof v !== 'string') push(out, vp, ISSUE.WRONG_VALUE_TYPE, 'matches needs string patterns')
        else if (v.length > MAX_PATTERN_LENGTH)
          push(out, vp, ISSUE.BAD_REGEX, `pattern longer than ${MAX_PATTERN_LENGTH}`)
        else {
          const re = compilePattern(v)
          if (typeof re === 'string') push(out, vp, ISSUE.BAD_REGEX, re)
        }
        break
      case 'lessThan':
      case 'lessThanOrEqual':
      case 'greaterThan':
      case 'greaterThanOrEqual':
        if (typeof v !== 'number' || !Number.isFinite(v))
          push(out, vp, ISSUE.WRONG_VALUE_TYPE, `${op} needs finite numbers`)
        break
      case 'before':
      case 'after':
        if (Number.isNaN(parseDate(v)))
          push(
            out,
            vp,
            ISSUE.BAD_DATE,
            'dates are epoch milliseconds or ISO-8601 (YYYY-MM-DD, or date-time with Z or ±hh:mm)',
          )
        break
      case 'semVerEqual':
      case 'semVerLessThan':
      case 'semVerGreaterThan':
        if (parseSemVer(v) === null) push(out, vp, ISSUE.BAD_SEMVER, `${JSON.stringify(v)} is not a semantic version`)
        break
      case 'inSegment':
        if (typeof v !== 'string' || v === '')
          push(out, vp, ISSUE.WRONG_VALUE_TYPE, 'inSegment lists segment keys (non-empty strings)')
        break
    }
  })
  return out.length === before
}

function checkClauses(clauses: unknown, path: string, out: Issues): void {
  if (!Array.isArray(clauses)) {
    push(out, path, ISSUE.INVALID_SHAPE, 'clauses must be an array')
    return
  }
  clauses.forEach((c: unknown, i) => {
    checkClause(c, `${path}/${i}`, out)
  })
}

function checkRuleIds(rules: unknown[], out: Issues): void {
  const seen = new Set<string>()
  rules.forEach((r, i) => {
    const id = isObj(r) ? r.id : undefined
    if (typeof id !== 'string' || id === '')
      push(out, `/rules/${i}/id`, ISSUE.EMPTY_RULE_ID, 'rule id must be a non-empty string')
    else if (seen.has(id))
      push(out, `/rules/${i}/id`, ISSUE.DUPLICATE_RULE_ID, `rule id ${JSON.stringify(id)} is used twice`)
    else seen.add(id)
  })
}

/**
 * Cross-field checks of a flag configuration against its definition.
 * Paths of definition problems start with `/kind` or `/variations`; the others
 * are paths inside the configuration. Returns [] when everything is fine.
 */
export function validateFlagConfig(def: DefinitionLike, config: unknown): ValidationIssue[] {
  const out: Issues = []
  const presets = checkVariations(def.kind, def.variations, out)
  const bounds = checkKnobBounds(def.kind, def.knobBounds, out)
  if (!isObj(config)) {
    push(out, '', ISSUE.INVALID_SHAPE, 'configuration must be an object')
    return out
  }
  // A valid knob value is one more variation, at index `presets`: the one place an index can reach it.
  const n = checkKnobValue(bounds, config.knob, out) ? presets + 1 : presets
  if (typeof config.on !== 'boolean') push(out, '/on', ISSUE.INVALID_SHAPE, 'on must be a boolean')
  if (config.offVariation !== null) checkVariationIndex(config.offVariation, n, '/offVariation', out)

  const prereqs = config.prerequisites ?? []
  if (!Array.isArray(prereqs)) push(out, '/prerequisites', ISSUE.INVALID_SHAPE, 'prerequisites must be an array')
  else {
    const seen = new Set<string>()
    prereqs.forEach((p: unknown, i) => {
      const pp = `/prerequisites/${i}`
      if (!isObj(p) || typeof p.flag !== 'string' || p.flag === '') {
        push(out, pp, ISSUE.INVALID_SHAPE, 'a prerequisite is { flag, variation } with a non-empty flag key')
        return
      }
      if (!isIndex(p.variation))
        push(out, `${pp}/variation`, ISSUE.VARIATION_OUT_OF_RANGE, 'variation must be a non-negative integer')
      if (typeof def.key === 'string' && p.flag === def.key)
        push(out, `${pp}/flag`, ISSUE.SELF_PREREQUISITE, 'a flag cannot be its own prerequisite')
      else if (seen.has(p.flag))
        push(out, `${pp}/flag`, ISSUE.DUPLICATE_PREREQUISITE, `prerequisite ${p.flag} is listed twice`)
      seen.add(p.flag)
    })
  }

  const targets = config.targets ?? []
  if (!Array.isArray(targets)) push(out, '/targets', ISSUE.INVALID_SHAPE, 'targets must be an array')
  else {
    const owner = new Map<string, number>()
    targets.forEach((t: unknown, i) => {
      const tp = `/targets/${i}`
      if (!isObj(t) || !Array.isArray(t.values)) {
        push(out, tp, ISSUE.INVALID_SHAPE, 'a target is { variation, values: string[] }')
        return
      }
      checkVariationIndex(t.variation, n, `${tp}/variation`, out)
      t.values.forEach((v: unknown, j) => {
        if (typeof v !== 'string') {
          push(out, `${tp}/values/${j}`, ISSUE.WRONG_VALUE_TYPE, 'target values are context keys (strings)')
          return
        }
        const prev = owner.get(v)
        if (prev !== undefined && prev !== t.variation)
          push(out, `${tp}/values/${j}`, ISSUE.DUPLICATE_TARGET, `${JSON.stringify(v)} is targeted to two variations`)
        else owner.set(v, t.variation as number)
      })
    })
  }

  const rules = config.rules ?? []
  if (!Array.isArray(rules)) push(out, '/rules', ISSUE.INVALID_SHAPE, 'rules must be an array')
  else {
    checkRuleIds(rules, out)
    rules.forEach((r: unknown, i) => {
      if (!isObj(r)) {
        push(out, `/rules/${i}`, ISSUE.INVALID_SHAPE, 'a rule is { id, clauses, serve }')
        return
      }
      checkClauses(r.clauses, `/rules/${i}/clauses`, out)
      checkServe(r.serve, n, `/rules/${i}/serve`, out)
    })
  }
  checkServe(config.fallthrough, n, '/fallthrough', out)
  return out
}

/** Checks a segment: lists of string keys, rule ids, clauses, weights. */
export function validateSegment(seg: unknown): ValidationIssue[] {
  const out: Issues = []
  if (!isObj(seg)) {
    push(out, '', ISSUE.INVALID_SHAPE, 'a segment must be an object')
    return out
  }
  if (typeof seg.key !== 'string' || seg.key === '')
    push(out, '/key', ISSUE.INVALID_SHAPE, 'key must be a non-empty string')
  if (seg.salt !== undefined && typeof seg.salt !== 'string')
    push(out, '/salt', ISSUE.INVALID_SHAPE, 'salt must be a string')
  for (const list of ['included', 'excluded'] as const) {
    const v = seg[list] ?? []
    if (!Array.isArray(v)) push(out, `/${list}`, ISSUE.INVALID_SHAPE, `${list} must be an array of context keys`)
    else {
      for (let i = 0; i < v.length; i++) {
        if (typeof v[i] !== 'string') push(out, `/${list}/${i}`, ISSUE.WRONG_VALUE_TYPE, 'context keys are strings')
      }
    }
  }
  const rules = seg.rules ?? []
  if (!Array.isArray(rules)) {
    push(out, '/rules', ISSUE.INVALID_SHAPE, 'rules must be an array')
    return out
  }
  checkRuleIds(rules, out)
  rules.forEach((r: unknown, i) => {
    if (!isObj(r)) {
      push(out, `/rules/${i}`, ISSUE.INVALID_SHAPE, 'a segment rule is { id, clauses, weight?, bucketBy? }')
      return
    }
    checkClauses(r.clauses, `/rules/${i}/clauses`, out)
    if (r.weight !== undefined && r.weight !== null && (!isIndex(r.weight) || r.weight > BUCKETS))
      push(out, `/rules/${i}/weight`, ISSUE.BAD_WEIGHT, 'weight must be an integer from 0 to 100000')
    if (r.bucketBy !== undefined && (typeof r.bucketBy !== 'string' || r.bucketBy === ''))
      push(out, `/rules/${i}/bucketBy`, ISSUE.BAD_ATTRIBUTE, 'bucketBy must be a non-empty attribute name')
  })
  return out
}

/**
 * Finds a cycle in a prerequisite graph (flag key → keys of its prerequisites).
 * Returns the cycle as a path that starts and ends with the same key, e.g.
 * `['a', 'b', 'a']`, or null. Iterative, so deep graphs cannot overflow the stack.
 */
export function findPrerequisiteCycle(edges: Map<string, string[]>): string[] | null {
  const WHITE = 0
  const GREY = 1
  const BLACK = 2
  const color = new Map<string, number>()
  for (const start of edges.keys()) {
    if ((color.get(start) ?? WHITE) !== WHITE) continue
    const path: string[] = [start]
    const next: number[] = [0]
    color.set(start, GREY)
    while (path.length > 0) {
      const node = path[path.length - 1]!
      const succ = edges.get(node) ?? []
      const i = next[next.length - 1]!
      if (i >= succ.length) {
        color.set(node, BLACK)
        path.pop()
        next.pop()
        continue
      }
      next[next.length - 1] = i + 1
      const to = succ[i]!
      const c = color.get(to) ?? WHITE
      if (c === GREY) return [...path.slice(path.indexOf(to)), to]
      if (c === WHITE) {
        color.set(to, GREY)
        path.push(to)
        next.push(0)
      }
    }
  }
  return null
}

// ---- write time: the same rules, plus those that need the environment ----

/** A flag definition's own checks (kind, variations), as when it is created or its variations change. */
export function validateDefinition(def: DefinitionLike): ValidationIssue[] {
  const out: Issues = []
  checkVariations(def.kind, def.variations, out)
  checkKnobBounds(def.kind, def.knobBounds, out)
  return out
}

/** What write-time checks need to know of the environment a flag is written to (the server reads it from its store). */
export interface EnvironmentView {
  /** The environment's flags by key (the one being written may be among them: it is ignored). */
  flags: Readonly<Record<string, { variations: readonly unknown[]; prerequisites: readonly { flag: string }[] }>>
  /** The environment's segments (a `Set` of keys fits). */
  segments: { has(key: string): boolean }
}

/** What a configuration must have to be checked against its environment (the REST schema guarantees it). */
export interface WritableConfig {
  rules: readonly { clauses: unknown }[]
  prerequisites: readonly { flag: string; variation: number }[]
}

/**
 * Every check a flag configuration needs before it is written: the engine's
 * (`validateFlagConfig`), then against the environment: referenced segments
 * and prerequisite flags exist, prerequisite variations are in range of the
 * other flag, and the environment's prerequisites stay acyclic.
 */
export function validateFlagWrite(
  def: DefinitionLike & { key: string },
  config: WritableConfig,
  env: EnvironmentView,
): ValidationIssue[] {
  const out = validateFlagConfig(def, { ...config, version: 0 })
  config.rules.forEach((r, ri) => {
    for (const s of clauseSegments(r.clauses)) {
      if (!env.segments.has(s)) push(out, `/rules/${ri}`, ISSUE.SEGMENT_NOT_FOUND, `segment "${s}" does not exist`)
    }
  })
  config.prerequisites.forEach((p, pi) => {
    if (p.flag === def.key) return // SELF_PREREQUISITE, reported above
    const other = Object.hasOwn(env.flags, p.flag) ? env.flags[p.flag] : undefined
    if (other === undefined)
      push(out, `/prerequisites/${pi}/flag`, ISSUE.FLAG_NOT_FOUND, `flag "${p.flag}" does not exist`)
    else if (p.variation >= other.variations.length)
      push(
        out,
        `/prerequisites/${pi}/variation`,
        ISSUE.VARIATION_OUT_OF_RANGE,
        `flag "${p.flag}" has ${other.variations.length} variations`,
      )
  })
  if (config.prerequisites.length > 0) {
    const edges = new Map<string, string[]>()
    for (const [k, f] of Object.entries(env.flags))
      edges.set(
        k,
        f.prerequisites.map((p) => p.flag),
      )
    edges.set(
      def.key,
      config.prerequisites.map((p) => p.flag),
    )
    const cycle = findPrerequisiteCycle(edges)
    if (cycle) push(out, '/prerequisites', ISSUE.PREREQUISITE_CYCLE, `prerequisite cycle: ${cycle.join(' → ')}`)
  }
  return out
}

/**
 * Every check a segment needs before it is written: the engine's
 * (`validateSegment`), and no `inSegment` in its rules. The engine can
 * evaluate nested segments (to 16 levels), but its cost grows as the number
 * of references to the power of the depth (one segment naming itself three
 * times takes seconds per evaluation), and a server that accepted them would
 * also have to track segment-to-segment uses for deletes and for what a change
 * affects. So segments written through the API cannot nest.
 */
export function validateSegmentWrite(seg: unknown): ValidationIssue[] {
  const out = validateSegment(seg)
  const rules = isObj(seg) ? seg.rules : undefined
  if (Array.isArray(rules)) {
    rules.forEach((r: unknown, ri) => {
      if (isObj(r) && clauseSegments(r.clauses).length > 0)
        push(out, `/rules/${ri}`, ISSUE.NESTED_SEGMENT, 'segment rules cannot refer to segments')
    })
  }
  return out
}
