import { clauseSegments, deeperThan, findPrerequisiteCycle, MAX_JSON_DEPTH, validateFlagConfig, validateSegment } from '../../sdk/core/index.js'
import type { FlagConfig, FlagKind, JsonValue, RulesetFlag, Segment } from '../../sdk/core/types.js'
import { type ErrorDetail, validationError } from '../errors.js'
import type { Check } from '../store/atomic.js'
import { envKeys } from '../store/keys.js'

/**
 * Every check a flag configuration needs before it is written: the engine's
 * pure checks (regex patterns included: RE2 refuses what it cannot run in
 * linear time), references to segments and flags that must exist
 * (returned as write-time checks so a concurrent delete cannot slip between),
 * and prerequisite cycles across the environment.
 */
export function checkFlagConfig(
  env: string,
  def: { key: string; kind: FlagKind; variations: JsonValue[] },
  config: Omit<FlagConfig, 'version'>,
  others: Record<string, RulesetFlag>,
  segmentKeys: Set<string>,
): Check[] {
  const issues: ErrorDetail[] = validateFlagConfig(def, { ...config, version: 0 }).map((i) => ({ path: i.path, message: i.message, code: i.code }))
  const keys = envKeys(env)
  const checks: Check[] = []
  config.rules.forEach((r, ri) => {
    for (const s of clauseSegments(r.clauses)) {
      if (!segmentKeys.has(s)) issues.push({ path: `/rules/${ri}`, code: 'SEGMENT_NOT_FOUND', message: `segment "${s}" does not exist` })
      else checks.push({ key: keys.segmentVersions, field: s, op: 'present' })
    }
  })
  config.prerequisites.forEach((p, pi) => {
    const other = others[p.flag]
    if (p.flag === def.key) return // reported by the engine (SELF_PREREQUISITE)
    if (!other) issues.push({ path: `/prerequisites/${pi}/flag`, code: 'FLAG_NOT_FOUND', message: `flag "${p.flag}" does not exist` })
    else {
      if (p.variation >= other.variations.length) {
        issues.push({ path: `/prerequisites/${pi}/variation`, code: 'VARIATION_OUT_OF_RANGE', message: `flag "${p.flag}" has ${other.variations.length} variations` })
      }
      checks.push({ key: keys.flagVersions, field: p.flag, op: 'present' })
    }
  })
  if (config.prerequisites.length > 0) {
    const edges = new Map<string, string[]>()
    for (const [k, f] of Object.entries(others)) edges.set(k, f.prerequisites.map((p) => p.flag))
    edges.set(def.key, config.prerequisites.map((p) => p.flag))
    const cycle = findPrerequisiteCycle(edges)
    if (cycle) issues.push({ path: '/prerequisites', code: 'PREREQUISITE_CYCLE', message: `prerequisite cycle: ${cycle.join(' → ')}` })
  }
  if (issues.length > 0) throw validationError(issues)
  return checks
}

/** Pure segment checks (regex patterns included) plus no nested segments. */
export function checkSegment(seg: Omit<Segment, 'included' | 'excluded' | 'version'> & { included?: string[]; excluded?: string[] }): void {
  const issues: ErrorDetail[] = validateSegment({ included: [], excluded: [], version: 0, ...seg }).map((i) => ({
    path: i.path,
    message: i.message,
    code: i.code,
  }))
  seg.rules.forEach((r, ri) => {
    if (clauseSegments(r.clauses).length > 0) issues.push({ path: `/rules/${ri}`, code: 'NESTED_SEGMENT', message: 'segment rules cannot refer to segments' })
  })
  if (issues.length > 0) throw validationError(issues)
}

/** Variations must fit the flag's kind. */
export function checkVariations(kind: FlagKind, variations: JsonValue[]): void {
  const issues: ErrorDetail[] = []
  variations.forEach((v, i) => {
    if (deeperThan(v, MAX_JSON_DEPTH)) issues.push({ path: `/variations/${i}`, code: 'TOO_DEEP', message: `nested more than ${MAX_JSON_DEPTH} levels deep` })
  })
  // The checks below stringify values, which recursion this deep would overflow.
  if (issues.length > 0) throw validationError(issues)
  if (kind === 'boolean') {
    const ok = variations.length === 2 && variations.includes(true) && variations.includes(false)
    if (!ok) issues.push({ path: '/variations', code: 'KIND_MISMATCH', message: 'a boolean flag has exactly the variations true and false' })
  } else {
    variations.forEach((v, i) => {
      if (kind === 'string' && typeof v !== 'string') issues.push({ path: `/variations/${i}`, code: 'KIND_MISMATCH', message: 'must be a string' })
      if (kind === 'number' && (typeof v !== 'number' || !Number.isFinite(v))) issues.push({ path: `/variations/${i}`, code: 'KIND_MISMATCH', message: 'must be a finite number' })
    })
    const seen = new Set(variations.map((v) => JSON.stringify(v)))
    if (seen.size !== variations.length) issues.push({ path: '/variations', code: 'DUPLICATE_VARIATION', message: 'variations must be distinct' })
    if (variations.length < 1) issues.push({ path: '/variations', code: 'KIND_MISMATCH', message: 'at least one variation is required' })
  }
  if (issues.length > 0) throw validationError(issues)
}
