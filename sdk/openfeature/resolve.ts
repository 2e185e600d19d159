/**
 * Shared by both OpenFeature providers, free of OpenFeature imports (the
 * providers pass their own enums): context mapping and detail → resolution.
 */
import { toOpenFeatureReason } from '../core/reasons.js'
import type { Context, EvaluationDetail, JsonValue, Reason } from '../core/types.js'

/** The shape both SDKs' ResolutionDetails share. */
export interface Resolution<T> {
  value: T
  variant?: string
  reason?: string
  errorCode?: string
  errorMessage?: string
  flagMetadata?: Record<string, string | number | boolean>
}

/** OpenFeature evaluation context → Switchyard context: `targetingKey` becomes `key`. */
export function toSwitchyardContext(ctx: Record<string, unknown> | undefined): Context {
  if (!ctx) return {}
  const { targetingKey, ...rest } = ctx
  return targetingKey === undefined || targetingKey === null ? rest : { ...rest, key: String(targetingKey) }
}

const MESSAGES: Record<string, string> = {
  FLAG_NOT_FOUND: 'flag not found',
  TYPE_MISMATCH: "the flag's value does not have the requested type",
  PARSE_ERROR: 'the flag configuration is invalid',
  TARGETING_KEY_MISSING: 'the flag needs a targetingKey',
  INVALID_CONTEXT: 'invalid evaluation context',
  PROVIDER_NOT_READY: 'no flag data yet',
  GENERAL: 'evaluation failed',
}

/** A short message for an OpenFeature error code. */
export function errorMessage(code: string): string {
  return MESSAGES[code] ?? code
}

/**
 * Detail → OpenFeature resolution. `expected` enforces the requested type
 * (`object` accepts objects and arrays); a mismatch is TYPE_MISMATCH with the default.
 */
export function toResolution<T>(
  d: EvaluationDetail,
  defaultValue: T,
  expected: 'boolean' | 'string' | 'number' | 'object',
): Resolution<T> {
  if (d.reason.kind !== 'ERROR' && d.variation !== null) {
    const v = d.value
    const ok = expected === 'object' ? typeof v === 'object' && v !== null : typeof v === expected
    if (!ok) {
      return {
        value: defaultValue,
        reason: 'ERROR',
        errorCode: 'TYPE_MISMATCH',
        errorMessage: errorMessage('TYPE_MISMATCH'),
      }
    }
  }
  const out: Resolution<T> = {
    value: (d.variation === null ? defaultValue : d.value) as T,
    reason: toOpenFeatureReason(d.reason),
  }
  if (d.variation !== null) out.variant = String(d.variation)
  if (d.reason.kind === 'ERROR') {
    const code = d.reason.errorKind ?? 'GENERAL'
    out.errorCode = code
    out.errorMessage = errorMessage(code)
    out.value = defaultValue
  }
  out.flagMetadata = flagMetadata(d.reason)
  return out
}

/** OpenFeature flag metadata of a reason: Switchyard's own reason kind, rule id, prerequisite key, rollout. */
export function flagMetadata(reason: Reason): Record<string, string | number | boolean> {
  const meta: Record<string, string | number | boolean> = { reasonKind: reason.kind }
  if (reason.ruleId !== undefined) meta.ruleId = reason.ruleId
  if (reason.prerequisiteKey !== undefined) meta.prerequisiteKey = reason.prerequisiteKey
  if (reason.inRollout) meta.inRollout = true
  return meta
}

/** A JsonValue default for the client from an OpenFeature default. */
export function asJson(v: unknown): JsonValue {
  return v as JsonValue
}
