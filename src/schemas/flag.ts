import { Type, type Static } from '@sinclair/typebox'
import { OPERATORS } from '../../sdk/core/types.js'
import { ContextKey, Key } from './common.js'

const VariationIndex = Type.Integer({ minimum: 0, maximum: 999 })

export const ClauseSchema = Type.Object(
  {
    attribute: Type.String({ minLength: 1, maxLength: 256 }),
    op: Type.Union(OPERATORS.map((o) => Type.Literal(o))),
    values: Type.Array(Type.Unknown(), { maxItems: 10_000 }),
    negate: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)

export const RolloutSchema = Type.Object(
  {
    bucketBy: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    weights: Type.Array(
      Type.Object({ variation: VariationIndex, weight: Type.Integer({ minimum: 0, maximum: 100_000 }) }, { additionalProperties: false }),
      { minItems: 1, maxItems: 1000 },
    ),
  },
  { additionalProperties: false },
)

export const ServeSchema = Type.Union([
  Type.Object({ variation: VariationIndex }, { additionalProperties: false }),
  Type.Object({ rollout: RolloutSchema }, { additionalProperties: false }),
])

export const RuleSchema = Type.Object(
  {
    id: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', minLength: 1, maxLength: 128 }),
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    clauses: Type.Array(ClauseSchema, { maxItems: 100 }),
    serve: ServeSchema,
  },
  { additionalProperties: false },
)

export const TargetSchema = Type.Object(
  { variation: VariationIndex, values: Type.Array(ContextKey, { maxItems: 10_000 }) },
  { additionalProperties: false },
)

export const PrerequisiteSchema = Type.Object({ flag: Key, variation: VariationIndex }, { additionalProperties: false })

const FlagKind = Type.Union([Type.Literal('boolean'), Type.Literal('string'), Type.Literal('number'), Type.Literal('json')])

const definitionFields = {
  name: Type.String({ minLength: 1, maxLength: 256 }),
  description: Type.Optional(Type.String({ maxLength: 4000 })),
  tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 50 })),
  owner: Type.Optional(Type.String({ maxLength: 256 })),
  temporary: Type.Optional(Type.Boolean()),
  removeBy: Type.Optional(Type.String({ format: 'date' })),
  clientSide: Type.Optional(Type.Boolean()),
}

export const FlagDefinitionSchema = Type.Object(
  {
    key: Key,
    ...definitionFields,
    kind: FlagKind,
    variations: Type.Array(Type.Unknown(), { minItems: 1, maxItems: 1000 }),
    salt: Type.String(),
    createdAt: Type.String(),
    updatedAt: Type.String(),
    version: Type.Integer({ description: 'Of the definition (1 at creation, +1 per PATCH); also the ETag' }),
  },
  { $id: 'FlagDefinition' },
)
export type FlagDefinitionRecord = Static<typeof FlagDefinitionSchema>

export const CreateFlagBody = Type.Object(
  {
    key: Key,
    ...definitionFields,
    name: Type.Optional(definitionFields.name),
    kind: FlagKind,
    variations: Type.Optional(Type.Array(Type.Unknown(), { minItems: 1, maxItems: 1000 })),
    salt: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  },
  { additionalProperties: false },
)
export type CreateFlag = Static<typeof CreateFlagBody>

export const PatchFlagBody = Type.Object(
  {
    ...definitionFields,
    name: Type.Optional(definitionFields.name),
    variations: Type.Optional(Type.Array(Type.Unknown(), { minItems: 1, maxItems: 1000 })),
  },
  { additionalProperties: false, minProperties: 1 },
)
export type PatchFlag = Static<typeof PatchFlagBody>

/** Definition fields that change what every environment serves: patching them needs a token for every environment. */
export const SERVING_FIELDS = ['variations', 'clientSide'] as const satisfies ReadonlyArray<keyof PatchFlag>

export const FlagConfigBody = Type.Object(
  {
    on: Type.Boolean(),
    offVariation: Type.Optional(Type.Union([VariationIndex, Type.Null()])),
    prerequisites: Type.Optional(Type.Array(PrerequisiteSchema, { maxItems: 50 })),
    targets: Type.Optional(Type.Array(TargetSchema, { maxItems: 1000 })),
    rules: Type.Optional(Type.Array(RuleSchema, { maxItems: 500 })),
    fallthrough: ServeSchema,
    reason: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
)
export type FlagConfigInput = Static<typeof FlagConfigBody>

export const FlagConfigSchema = Type.Object(
  {
    key: Key,
    environment: Key,
    kind: FlagKind,
    variations: Type.Array(Type.Unknown()),
    salt: Type.String(),
    clientSide: Type.Optional(Type.Boolean()),
    on: Type.Boolean(),
    offVariation: Type.Union([Type.Integer(), Type.Null()]),
    prerequisites: Type.Array(PrerequisiteSchema),
    targets: Type.Array(TargetSchema),
    rules: Type.Array(RuleSchema),
    fallthrough: ServeSchema,
    version: Type.Integer(),
  },
  { $id: 'FlagConfig' },
)

export const FlagHistoryEntrySchema = Type.Object(
  {
    version: Type.Integer(),
    at: Type.String(),
    actor: Type.String(),
    action: Type.String(),
    reason: Type.Optional(Type.String()),
    config: Type.Unknown(),
  },
  { $id: 'FlagHistoryEntry' },
)
