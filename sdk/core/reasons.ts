/**
 * Reason objects and their OpenFeature names. Reasons served by the evaluator
 * are precomputed and frozen, so `evaluateDetail` allocates only the detail.
 */
import type { ErrorKind, Reason } from './types.js'

/** Internal reason codes (small integers for the hot path). */
export const KIND = {
  OFF: 0,
  TARGET_MATCH: 1,
  RULE_MATCH: 2,
  PREREQUISITE_FAILED: 3,
  FALLTHROUGH: 4,
  ERROR: 5,
} as const

function freeze(r: Reason): Reason {
  return Object.freeze(r)
}

/** Shared frozen reasons. */
export const REASONS = {
  OFF: freeze({ kind: 'OFF' }),
  TARGET_MATCH: freeze({ kind: 'TARGET_MATCH' }),
  FALLTHROUGH: freeze({ kind: 'FALLTHROUGH' }),
  FALLTHROUGH_ROLLOUT: freeze({ kind: 'FALLTHROUGH', inRollout: true }),
} as const

const ERROR_KINDS: readonly ErrorKind[] = [
  'FLAG_NOT_FOUND',
  'TYPE_MISMATCH',
  'PARSE_ERROR',
  'TARGETING_KEY_MISSING',
  'INVALID_CONTEXT',
  'PROVIDER_NOT_READY',
  'GENERAL',
]

/** Frozen ERROR reasons, one per error kind. */
export const ERRORS = Object.freeze(
  Object.fromEntries(ERROR_KINDS.map((k) => [k, freeze({ kind: 'ERROR', errorKind: k })])),
) as Readonly<Record<ErrorKind, Reason>>

/** A frozen RULE_MATCH reason. */
export function ruleReason(ruleId: string, inRollout: boolean): Reason {
  return freeze(inRollout ? { kind: 'RULE_MATCH', ruleId, inRollout: true } : { kind: 'RULE_MATCH', ruleId })
}

/** A frozen PREREQUISITE_FAILED reason. */
export function prerequisiteReason(prerequisiteKey: string): Reason {
  return freeze({ kind: 'PREREQUISITE_FAILED', prerequisiteKey })
}

/**
 * OpenFeature reason for a Switchyard reason: OFF → DISABLED;
 * TARGET_MATCH → TARGETING_MATCH; RULE_MATCH → TARGETING_MATCH, or SPLIT when a
 * rollout chose; FALLTHROUGH → DEFAULT, or SPLIT when a rollout chose;
 * PREREQUISITE_FAILED → DISABLED (the flag serves its off variation for this
 * context, as if it were off); ERROR → ERROR; anything else → UNKNOWN.
 */
export function toOpenFeatureReason(reason: Reason): string {
  switch (reason.kind) {
    case 'OFF':
      return 'DISABLED'
    case 'TARGET_MATCH':
      return 'TARGETING_MATCH'
    case 'RULE_MATCH':
      return reason.inRollout === true ? 'SPLIT' : 'TARGETING_MATCH'
    case 'FALLTHROUGH':
      return reason.inRollout === true ? 'SPLIT' : 'DEFAULT'
    case 'PREREQUISITE_FAILED':
      return 'DISABLED'
    case 'ERROR':
      return 'ERROR'
    default:
      return 'UNKNOWN'
  }
}
