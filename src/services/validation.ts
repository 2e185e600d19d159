import {
  clauseSegments,
  validateDefinition,
  validateFlagWrite,
  validateSegmentWrite,
  type ValidationIssue,
} from '../../sdk/core/index.js'
import type { FlagConfig, FlagKind, JsonValue, KnobBounds, RulesetFlag, Segment } from '../../sdk/core/types.js'
import { validationError } from '../errors.js'
import type { Reference } from '../store/flags.js'

/*
 * The server's side of validation: it runs the engine's one validator
 * (sdk/core/validate.ts, the only home of the rules and of the issue codes)
 * on what it is about to write, hands it what it read from the store, and
 * turns issues into 400 VALIDATION_FAILED. No rule is decided here.
 */

function refuse(issues: ValidationIssue[]): void {
  if (issues.length > 0) throw validationError(issues.map((i) => ({ path: i.path, message: i.message, code: i.code })))
}

/**
 * Validates a flag configuration against its definition and environment;
 * returns the segments and prerequisite flags it refers to, which the write
 * checks still exist, so a concurrent delete cannot slip between.
 */
export function checkFlagConfig(
  def: { key: string; kind: FlagKind; variations: JsonValue[]; knobBounds?: KnobBounds | undefined },
  config: Omit<FlagConfig, 'version'>,
  others: Record<string, RulesetFlag>,
  segmentKeys: Set<string>,
): Reference[] {
  refuse(validateFlagWrite(def, config, { flags: others, segments: segmentKeys }))
  const refs: Reference[] = []
  for (const r of config.rules) for (const s of clauseSegments(r.clauses)) refs.push({ kind: 'segment', key: s })
  for (const p of config.prerequisites) refs.push({ kind: 'flag', key: p.flag })
  return refs
}

/** Validates a segment before it is written (segments cannot refer to segments). */
export function checkSegment(
  seg: Omit<Segment, 'included' | 'excluded' | 'version'> & { included?: string[]; excluded?: string[] },
): void {
  refuse(validateSegmentWrite({ included: [], excluded: [], version: 0, ...seg }))
}

/** Validates a definition's variations (and knob bounds) against its kind. */
export function checkDefinition(kind: FlagKind, variations: JsonValue[], knobBounds?: KnobBounds | undefined): void {
  refuse(validateDefinition({ kind, variations, knobBounds }))
}
