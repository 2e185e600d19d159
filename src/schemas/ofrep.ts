/** The wire of the OpenFeature Remote Evaluation Protocol routes (github.com/open-feature/protocol, service/openapi.yaml). */
import { Type } from '@sinclair/typebox'
import { BODY_ERRORS, errorDescription } from './common.js'

/**
 * The context attribute that carries a browser context's signature. An attribute rather than a header: it
 * travels with the context it signs, through every language's provider, and a context change re-sends both.
 * It is removed before signing, verifying and evaluating.
 */
export const SIGNATURE_ATTRIBUTE = 'switchyardSignature'

const Metadata = Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]), {
  description:
    "reasonKind (Switchyard's own reason), version (of the flag configuration), inRollout; for sdk-server tokens also ruleId and prerequisiteKey",
})

const Success = Type.Object({
  key: Type.String(),
  value: Type.Optional(
    Type.Unknown({
      description:
        "Absent when the flag serves the caller's default (an off flag without an off variation): OFREP's codeDefaultFlag",
    }),
  ),
  reason: Type.String({ description: 'OpenFeature reason: TARGETING_MATCH, SPLIT, DEFAULT, DISABLED or ERROR' }),
  variant: Type.Optional(Type.String({ description: 'The variation index, as a string' })),
  metadata: Metadata,
})

const Failure = Type.Object({
  key: Type.String(),
  errorCode: Type.String({ description: 'PARSE_ERROR, TARGETING_KEY_MISSING, INVALID_CONTEXT or GENERAL' }),
  errorDetails: Type.Optional(Type.String()),
})

const OfrepError = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String({ description: 'Stable machine-readable error code (the catalogue)' }),
  message: Type.String(),
  details: Type.Optional(Type.Unknown()),
  key: Type.Optional(Type.String({ description: 'The flag key (single-flag evaluation)' })),
  errorCode: Type.String({
    description:
      'OFREP / OpenFeature error code: FLAG_NOT_FOUND, PARSE_ERROR, TARGETING_KEY_MISSING, INVALID_CONTEXT or GENERAL',
  }),
  errorDetails: Type.String(),
})

// OFREP may grow request fields; a provider newer than this server must not be refused for them.
export const OfrepEvaluationRequest = Type.Object(
  {
    context: Type.Optional(
      Type.Unknown({
        description: `The evaluation context: { targetingKey, ...attributes } (≤ 8 KB); sdk-client tokens in an environment that requires signed contexts add "${SIGNATURE_ATTRIBUTE}"`,
      }),
    ),
  },
  { additionalProperties: true, examples: [{ context: { targetingKey: 'user-17', country: 'GB', plan: 'pro' } }] },
)

/** Every error an OFREP route can answer (the body is read: 413, 415 too), each status described with its catalogue codes. */
export const ofrepErrorResponses = (...statuses: number[]) =>
  Object.fromEntries(
    [400, 401, 403, 404, 429, 503, ...BODY_ERRORS, ...statuses].map((s) => [
      s,
      Type.Object(OfrepError.properties, { description: errorDescription(s) }),
    ]),
  )

/** OFREP's flag keys are any string (their own spec), not Switchyard's key pattern: an unknown one is FLAG_NOT_FOUND. */
export const OfrepFlagParams = Type.Object(
  { key: Type.String({ minLength: 1, maxLength: 1024 }) },
  { additionalProperties: false },
)

export const OfrepEvaluationSchema = Type.Object(Success.properties, {
  description: "The flag's value for this context, with its OpenFeature reason and variant",
  examples: [
    {
      key: 'new-checkout',
      value: true,
      reason: 'TARGETING_MATCH',
      variant: '0',
      metadata: { reasonKind: 'RULE_MATCH', version: 8, ruleId: 'beta' },
    },
  ],
})

export const OfrepBulkHeaders = Type.Object({
  'if-none-match': Type.Optional(Type.String({ description: 'The ETag of the last answer for this context' })),
})

export const OfrepBulkEvaluationSchema = Type.Object(
  { flags: Type.Array(Type.Union([Success, Failure])) },
  {
    description: 'Every flag this token may see, evaluated for the context (or its errorCode)',
    examples: [
      {
        flags: [
          {
            key: 'new-checkout',
            value: true,
            reason: 'SPLIT',
            variant: '0',
            metadata: { reasonKind: 'FALLTHROUGH', version: 3, inRollout: true },
          },
        ],
      },
    ],
  },
)

export const OfrepNotModified = Type.Null({ description: 'Not modified' })
