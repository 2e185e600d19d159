/**
 * Clause operators, compiled once per clause into a test of one attribute value.
 * Edge behaviour is documented in docs/rules.md; the evaluator applies the
 * shared rules (missing attribute, arrays, negation) around these tests.
 */
import type { Clause, JsonValue } from './types.js'
import { compareSemVer, parseSemVer, type SemVer } from './semver.js'
// The one import from outside sdk/core: a linear-time engine is what makes a hostile pattern harmless (no backtracking); the browser entry never loads this module.
import { RE2JS } from 're2js'

/**
 * Regex input is cut to this many UTF-16 code units before matching: with
 * MAX_REGEX_PROGRAM it bounds the cost of one match (RE2 is linear in both).
 */
export const MAX_REGEX_INPUT = 1024

/**
 * Largest accepted pattern, in compiled RE2 instructions (about one per
 * character or class, a counted repetition `x{n}` counts n times). Linear time
 * is input × program: past this size a single match of a 1024-unit input could
 * cost tens of milliseconds.
 */
export const MAX_REGEX_PROGRAM = 500

/** How a refused pattern is explained (BAD_REGEX); docs/rules.md has the details. */
const RE2_SYNTAX =
  'RE2 syntax: no backreferences, lookahead or lookbehind; \\x{hhhh} instead of \\uhhhh; flags inline as (?i) (?m) (?s)'

function programSize(re: RE2JS): number {
  // re2js exposes the compiled program without a type; a missing count is treated as too large (fail closed).
  const prog: unknown = re.re2().prog
  const numInst = typeof prog === 'object' && prog !== null ? (prog as { numInst?: unknown }).numInst : undefined
  return typeof numInst === 'function' ? Number(numInst.call(prog)) : Infinity
}

/**
 * Compiles a `matches` pattern with RE2 (linear-time matching), or says why it
 * is refused: the only pattern check, used by validation and by the evaluator.
 */
export function compilePattern(pattern: string): RE2JS | string {
  let re: RE2JS
  try {
    re = RE2JS.compile(pattern)
  } catch (e) {
    return `invalid regular expression (${RE2_SYNTAX}): ${(e as Error).message}`
  }
  const size = programSize(re)
  if (!(size <= MAX_REGEX_PROGRAM))
    return `pattern too complex: ${size} RE2 instructions (at most ${MAX_REGEX_PROGRAM}; use in, startsWith or contains for long lists)`
  return re
}

/** Clause kinds, as small integers for a cheap switch on the hot path. */
export const CLAUSE = {
  /** Test the attribute value(s) with `test`. */
  ATTRIBUTE: 0,
  /** `exists`: attribute present and not null. */
  EXISTS: 1,
  /** `inSegment`: context in any of `segments`. */
  SEGMENT: 2,
  /** Invalid clause (only possible in segments): never matches, even negated. */
  NEVER: 3,
} as const

/** A clause prepared for evaluation. */
export interface CompiledClause {
  readonly kind: number
  readonly attribute: string
  /** The attribute is `key`: read the resolved context key (`key` or `targetingKey`). */
  readonly isKey: boolean
  /** The attribute name exists on Object.prototype: read own properties only. */
  readonly guardProto: boolean
  readonly negate: boolean
  /** Tests one non-null, non-array attribute value. */
  readonly test: (v: unknown) => boolean
  /** Segment keys, for `inSegment`. */
  readonly segments: readonly string[]
  /**
   * What the clause tests, as text (op, attribute, negation, values): two clauses with the same `id`
   * answer the same for one context, so a bulk evaluation may test it once for all the rules that hold
   * it (evaluate.ts `SharedClause`). Empty (never shared) for an invalid clause or one of over
   * MAX_SHARED_ID characters, which would cost more memory than sharing saves time.
   */
  readonly id: string
}

/** Longest `CompiledClause.id` kept. */
const MAX_SHARED_ID = 512

/**
 * The `id` of a clause as compiled (see `CompiledClause.id`). Only values JSON writes back as they are
 * (strings, finite numbers, booleans, null) make one: `NaN` or a `Date` would print as another value
 * (`null`, a string) whose clause answers differently, so such a clause is never shared.
 */
function clauseId(op: unknown, attribute: string, negate: boolean, values: unknown): string {
  // Each value takes at least 2 characters of the text: a longer list cannot fit (and is not read through).
  if (typeof op !== 'string' || !Array.isArray(values) || values.length > MAX_SHARED_ID / 2) return ''
  let size = attribute.length
  for (let i = 0; i < values.length; i++) {
    const v: unknown = values[i]
    if (typeof v === 'string') size += v.length
    else if (!(typeof v === 'boolean' || v === null || (typeof v === 'number' && Number.isFinite(v)))) return ''
  }
  if (size > MAX_SHARED_ID) return ''
  const id = JSON.stringify([op, attribute, negate, values])
  return id.length <= MAX_SHARED_ID ? id : ''
}

const ISO_DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?([Zz]|([+-])(\d{2}):?(\d{2})))?$/

/**
 * Epoch milliseconds of a date value, or NaN. Accepts finite numbers (epoch ms)
 * and ISO-8601 strings: `YYYY-MM-DD` (midnight UTC) or a date-time with seconds
 * optional, fraction optional (truncated to ms) and a REQUIRED zone (`Z` or
 * `±hh:mm`), so the result never depends on the machine's time zone.
 */
export function parseDate(v: unknown): number {
  if (typeof v === 'number') return Number.isFinite(v) ? v : NaN
  if (typeof v !== 'string' || v.length > 40) return NaN
  const m = ISO_DATE.exec(v)
  if (m === null) return NaN
  const y = Number(m[1])
  const mo = Number(m[2])
  const d = Number(m[3])
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return NaN
  if (m[4] === undefined) return utc(y, mo - 1, d, 0, 0, 0, 0)
  const h = Number(m[4])
  const mi = Number(m[5])
  const s = m[6] === undefined ? 0 : Number(m[6])
  const ms = m[7] === undefined ? 0 : Number(`${m[7]}00`.slice(0, 3))
  if (h > 23 || mi > 59 || s > 59) return NaN
  let offset = 0
  if (m[9] !== undefined) {
    const oh = Number(m[10])
    const om = Number(m[11])
    if (oh > 23 || om > 59) return NaN
    offset = (oh * 60 + om) * 60_000 * (m[9] === '-' ? -1 : 1)
  }
  return utc(y, mo - 1, d, h, mi, s, ms) - offset
}

/** Date.UTC, except that years 0–99 are literal years (Date.UTC maps them to 1900–1999). */
function utc(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number {
  if (y >= 100) return Date.UTC(y, mo, d, h, mi, s, ms)
  const date = new Date(0)
  date.setUTCFullYear(y, mo, d)
  date.setUTCHours(h, mi, s, ms)
  return date.getTime()
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31
}

const never = (): boolean => false

function strings(values: readonly JsonValue[]): string[] {
  return values.filter((x): x is string => typeof x === 'string')
}

function numbers(values: readonly JsonValue[]): number[] {
  return values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x))
}

function anyOf<T>(list: T[], pred: (x: T, v: never) => boolean): (v: unknown) => boolean {
  if (list.length === 0) return never
  return (v) => {
    for (let i = 0; i < list.length; i++) if (pred(list[i]!, v as never)) return true
    return false
  }
}

function inTest(values: readonly JsonValue[]): (v: unknown) => boolean {
  const prims = values.filter((x) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean')
  if (prims.length === 0) return never
  if (prims.length === 1) {
    const only = prims[0]
    return (v) => v === only
  }
  if (prims.length <= 4) {
    return (v) => {
      for (let i = 0; i < prims.length; i++) if (prims[i] === v) return true
      return false
    }
  }
  const set = new Set<unknown>(prims)
  return (v) => set.has(v)
}

function stringTest(
  values: readonly JsonValue[],
  f: (attr: string, value: string) => boolean,
): (v: unknown) => boolean {
  const list = strings(values)
  if (list.length === 0) return never
  return (v) => {
    if (typeof v !== 'string') return false
    for (let i = 0; i < list.length; i++) if (f(v, list[i]!)) return true
    return false
  }
}

function numberTest(
  values: readonly JsonValue[],
  f: (attr: number, value: number) => boolean,
): (v: unknown) => boolean {
  const list = numbers(values)
  return anyOf(list, (x: number, v: unknown) => typeof v === 'number' && f(v, x))
}

function dateTest(values: readonly JsonValue[], f: (attr: number, value: number) => boolean): (v: unknown) => boolean {
  const list = values.map(parseDate).filter((x) => !Number.isNaN(x))
  if (list.length === 0) return never
  return (v) => {
    const t = parseDate(v)
    if (Number.isNaN(t)) return false
    for (let i = 0; i < list.length; i++) if (f(t, list[i]!)) return true
    return false
  }
}

// One-entry cache shared by every semver clause: the same context is often
// evaluated against many flags (evaluateAll), so its version is parsed once.
// Parsing is pure, so sharing the cache cannot change a result.
let lastSemVerInput: string | undefined
let lastSemVerParsed: SemVer | null = null

function semverTest(values: readonly JsonValue[], f: (cmp: number) => boolean): (v: unknown) => boolean {
  const list = values.map(parseSemVer).filter((x): x is SemVer => x !== null)
  if (list.length === 0) return never
  return (v) => {
    if (typeof v !== 'string') return false
    if (v !== lastSemVerInput) {
      lastSemVerParsed = parseSemVer(v)
      lastSemVerInput = v
    }
    const parsed = lastSemVerParsed
    if (parsed === null) return false
    for (let i = 0; i < list.length; i++) if (f(compareSemVer(parsed, list[i]!))) return true
    return false
  }
}

function regexTest(values: readonly JsonValue[]): (v: unknown) => boolean {
  const list: RE2JS[] = []
  for (const s of strings(values)) {
    const re = compilePattern(s)
    // Refused patterns are reported by validation; a stray one never matches.
    if (typeof re !== 'string') list.push(re)
  }
  if (list.length === 0) return never
  return (v) => {
    if (typeof v !== 'string') return false
    const input = v.length > MAX_REGEX_INPUT ? v.slice(0, MAX_REGEX_INPUT) : v
    for (let i = 0; i < list.length; i++) if (list[i]!.test(input)) return true
    return false
  }
}

/** The value test of an attribute operator. */
function testFor(clause: Clause): (v: unknown) => boolean {
  const vs = clause.values
  switch (clause.op) {
    case 'in':
      return inTest(vs)
    case 'startsWith':
      return stringTest(vs, (a, b) => a.startsWith(b))
    case 'endsWith':
      return stringTest(vs, (a, b) => a.endsWith(b))
    case 'contains':
      return stringTest(vs, (a, b) => a.includes(b))
    case 'matches':
      return regexTest(vs)
    case 'lessThan':
      return numberTest(vs, (a, b) => a < b)
    case 'lessThanOrEqual':
      return numberTest(vs, (a, b) => a <= b)
    case 'greaterThan':
      return numberTest(vs, (a, b) => a > b)
    case 'greaterThanOrEqual':
      return numberTest(vs, (a, b) => a >= b)
    case 'before':
      return dateTest(vs, (a, b) => a < b)
    case 'after':
      return dateTest(vs, (a, b) => a > b)
    case 'semVerEqual':
      return semverTest(vs, (c) => c === 0)
    case 'semVerLessThan':
      return semverTest(vs, (c) => c < 0)
    case 'semVerGreaterThan':
      return semverTest(vs, (c) => c > 0)
    default:
      return never
  }
}

/**
 * Compiles a clause. `valid` is false when validation found an issue in it:
 * the clause then never matches, even negated (used for segments; an invalid
 * flag is not compiled at all).
 */
export function compileClause(clause: Clause, valid: boolean): CompiledClause {
  const attribute = typeof clause.attribute === 'string' ? clause.attribute : ''
  const negate = clause.negate === true
  const base = {
    attribute,
    isKey: attribute === 'key',
    guardProto: attribute in Object.prototype,
    negate,
    test: never,
    segments: [] as string[],
    id: valid ? clauseId(clause.op, attribute, negate, clause.values) : '',
  }
  if (!valid) return { ...base, kind: CLAUSE.NEVER }
  if (clause.op === 'exists') return { ...base, kind: CLAUSE.EXISTS }
  if (clause.op === 'inSegment') return { ...base, kind: CLAUSE.SEGMENT, segments: strings(clause.values) }
  return { ...base, kind: CLAUSE.ATTRIBUTE, test: testFor(clause) }
}
