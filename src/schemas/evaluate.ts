import { Type } from '@sinclair/typebox'
import { Key } from './common.js'

/**
 * One evaluation with its reason, as POST /evaluate answers it (the engine's `EvaluationDetail`,
 * sdk/core/types.ts: the SDK cannot import this file, so the engine's type is the TypeScript one).
 */
export const EvaluationDetailSchema = Type.Object({
  value: Type.Unknown(),
  variation: Type.Union([Type.Integer(), Type.Null()]),
  reason: Type.Object({
    kind: Type.String({ description: 'OFF, TARGET_MATCH, RULE_MATCH, PREREQUISITE_FAILED, FALLTHROUGH or ERROR' }),
    ruleId: Type.Optional(Type.String()),
    prerequisiteKey: Type.Optional(Type.String()),
    inRollout: Type.Optional(Type.Boolean()),
    errorKind: Type.Optional(Type.String()),
  }),
})

export const EvaluateBody = Type.Object(
  {
    context: Type.Unknown({ description: 'The context: { key, ...attributes } (≤ 8 KB)' }),
    flags: Type.Optional(Type.Array(Key, { maxItems: 1000 })),
  },
  {
    additionalProperties: false,
    required: ['context'],
    examples: [{ context: { key: 'user-17', country: 'DE', plan: 'pro' }, flags: ['new-checkout'] }],
  },
)

export const EvaluationsSchema = Type.Object(
  { flags: Type.Record(Type.String(), EvaluationDetailSchema) },
  {
    description: 'Value, variation and reason of each flag',
    examples: [
      { flags: { 'new-checkout': { value: true, variation: 0, reason: { kind: 'RULE_MATCH', ruleId: 'beta' } } } },
    ],
  },
)
