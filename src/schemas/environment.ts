import { type Static, Type } from '@sinclair/typebox'
import { Key, List } from './common.js'

/** One environment through the examples of the OpenAPI document. */
const ENVIRONMENT_EXAMPLE = {
  key: 'production',
  name: 'Production',
  description: 'Live traffic',
  requireSignedContext: false,
  createdAt: '2026-11-30T09:00:00.000Z',
  version: 2,
}

export const EnvironmentSchema = Type.Object(
  {
    key: Key,
    name: Type.String(),
    description: Type.Optional(Type.String()),
    // Browser streams must present a context signed with the environment's secret.
    requireSignedContext: Type.Boolean(),
    createdAt: Type.String(),
    version: Type.Integer({ description: 'Also the ETag; PATCH and DELETE check If-Match against it when given' }),
    signingSecret: Type.Optional(
      Type.String({ description: 'HMAC-SHA256 key for signing browser contexts (admin only)' }),
    ),
  },
  { $id: 'Environment', description: 'An environment', examples: [ENVIRONMENT_EXAMPLE] },
)
/** An environment as stored and served; the signing secret is kept apart and added for admins only. */
export type Environment = Omit<Static<typeof EnvironmentSchema>, 'signingSecret'>

/** The answer of a route that reads or writes one environment, described as that route answers it. */
export const environmentResponse = (description: string) => Type.Ref(EnvironmentSchema, { description })

export const EnvironmentListSchema = List(Type.Ref(EnvironmentSchema), {
  description: 'The environments',
  examples: [{ items: [ENVIRONMENT_EXAMPLE] }],
})

const fields = {
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  description: Type.Optional(Type.String({ maxLength: 4000 })),
  requireSignedContext: Type.Optional(Type.Boolean()),
}

export const CreateEnvironmentBody = Type.Object(
  { key: Key, ...fields },
  { additionalProperties: false, examples: [{ key: 'staging', name: 'Staging', requireSignedContext: true }] },
)
export type CreateEnvironment = Static<typeof CreateEnvironmentBody>

export const PatchEnvironmentBody = Type.Object(fields, {
  additionalProperties: false,
  minProperties: 1,
  examples: [{ requireSignedContext: true }],
})
export type PatchEnvironment = Static<typeof PatchEnvironmentBody>

/** Longest grace period of a signing-secret rotation: 30 days. */
export const MAX_GRACE_SECONDS = 30 * 24 * 3600

export const RotateSigningSecretBody = Type.Object(
  {
    graceSeconds: Type.Integer({
      minimum: 0,
      maximum: MAX_GRACE_SECONDS,
      description: `How long the previous secret still verifies (0 to ${MAX_GRACE_SECONDS} s)`,
    }),
  },
  { additionalProperties: false, examples: [{ graceSeconds: 3600 }] },
)

export const SigningSecretRotationSchema = Type.Object(
  {
    signingSecret: Type.String({ description: 'The new secret' }),
    previousValidUntil: Type.Union([Type.String(), Type.Null()], {
      description: 'When the previous secret stops verifying; null: it already has',
    }),
  },
  {
    description: 'The new secret',
    examples: [
      {
        signingSecret: 'mZ4n0qjR8vT2yXwKc7LbE1sUoP9dFhGaNiJ5kVtYr3A',
        previousValidUntil: '2026-12-01T11:00:00.000Z',
      },
    ],
  },
)
export type SigningSecretRotation = Static<typeof SigningSecretRotationSchema>
