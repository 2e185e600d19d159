import { Type, type Static } from '@sinclair/typebox'
import { OPERATORS, type RulesetFlag } from '../../sdk/core/types.js'
import { ContextKey, Key, KEY_PATTERN, List, Page, Reason } from './common.js'
import { RequirementsOverrideSchema, RequiresSchema } from './facts.js'

/** One flag through the examples of the OpenAPI document (the README tour's `new-checkout`). */
const FLAG_EXAMPLE = {
  key: 'new-checkout',
  name: 'New checkout',
  description: 'The one-page checkout',
  tags: ['checkout'],
  owner: 'payments-team',
  temporary: true,
  removeBy: '2027-03-31',
  clientSide: false,
  kind: 'boolean',
  variations: [true, false],
}
const CONFIG_EXAMPLE = {
  on: true,
  offVariation: 1,
  prerequisites: [],
  targets: [{ variation: 0, values: ['user-1', 'user-2'] }],
  rules: [
    {
      id: 'beta',
      description: 'Beta testers',
      clauses: [{ attribute: 'key', op: 'inSegment', values: ['beta-testers'] }],
      serve: { variation: 0 },
    },
  ],
  fallthrough: {
    rollout: {
      bucketBy: 'key',
      weights: [
        { variation: 0, weight: 10_000 },
        { variation: 1, weight: 90_000 },
      ],
    },
  },
}

const VariationIndex = Type.Integer({ minimum: 0, maximum: 999 })

/** The id of a flag or segment rule: a key's characters, without a key's description. */
export const RuleId = Type.String({ pattern: KEY_PATTERN, minLength: 1, maxLength: 128 })

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
      Type.Object(
        { variation: VariationIndex, weight: Type.Integer({ minimum: 0, maximum: 100_000 }) },
        { additionalProperties: false },
      ),
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
    id: RuleId,
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

const FlagKind = Type.Union([
  Type.Literal('boolean'),
  Type.Literal('string'),
  Type.Literal('number'),
  Type.Literal('json'),
])

export const KnobBoundsSchema = Type.Object(
  {
    min: Type.Number(),
    max: Type.Number(),
    step: Type.Optional(Type.Number({ description: 'Above 0 (KNOB_BAD_BOUNDS otherwise)' })),
  },
  {
    additionalProperties: false,
    description:
      'A number flag that is a live knob: each environment may serve a literal `knob.value` with min ≤ value ≤ max (and min + a whole number of steps)',
  },
)

export const KnobValueSchema = Type.Object(
  { value: Type.Number() },
  {
    additionalProperties: false,
    description:
      "A knob's literal value in this environment (within the definition's knob bounds); served as variation index `variations.length`",
  },
)

const definitionFields = {
  name: Type.String({ minLength: 1, maxLength: 256 }),
  description: Type.Optional(Type.String({ maxLength: 4000 })),
  tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 50 })),
  owner: Type.Optional(Type.String({ maxLength: 256 })),
  temporary: Type.Optional(Type.Boolean()),
  removeBy: Type.Optional(Type.String({ format: 'date' })),
  clientSide: Type.Optional(Type.Boolean()),
  alertPolicy: Type.Optional(
    Type.Union([Type.Literal('kill'), Type.Literal('halt'), Type.Literal('ignore')], {
      description:
        'What a firing Alertmanager alert naming this flag does (POST /api/v1/alerts): `kill` (default) turns it off, `halt` halts its release plan, `ignore` only records it',
    }),
  ),
  knob: Type.Optional(KnobBoundsSchema),
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
  {
    $id: 'FlagDefinition',
    description: 'A flag as defined once for every environment',
    examples: [
      {
        ...FLAG_EXAMPLE,
        salt: 'new-checkout',
        createdAt: '2026-11-30T09:00:00.000Z',
        updatedAt: '2026-11-30T09:00:00.000Z',
        version: 1,
      },
    ],
  },
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
  {
    additionalProperties: false,
    examples: [
      FLAG_EXAMPLE,
      { key: 'checkout-theme', kind: 'string', variations: ['classic', 'compact'], clientSide: true },
    ],
  },
)
export type CreateFlag = Static<typeof CreateFlagBody>

export const PatchFlagBody = Type.Object(
  {
    ...definitionFields,
    name: Type.Optional(definitionFields.name),
    variations: Type.Optional(Type.Array(Type.Unknown(), { minItems: 1, maxItems: 1000 })),
  },
  { additionalProperties: false, minProperties: 1, examples: [{ owner: 'growth-team', removeBy: '2027-06-30' }] },
)
export type PatchFlag = Static<typeof PatchFlagBody>

/**
 * Definition fields that change what every environment serves (or, `alertPolicy`, what an alert does to it in every
 * environment): patching them needs a token for every environment.
 */
export const SERVING_FIELDS = ['variations', 'clientSide', 'alertPolicy', 'knob'] as const satisfies ReadonlyArray<
  keyof PatchFlag
>

/** An editor's explicit override of unmet fact requirements (or a promote's drift): needs a `reason`, audited, shown on the flag. */
export const ForceSchema = Type.Boolean({
  description:
    'Write even though the facts do not meet `requires` (or drifted from the source of a promote); needs a reason',
})

export const FlagConfigBody = Type.Object(
  {
    on: Type.Boolean(),
    offVariation: Type.Optional(Type.Union([VariationIndex, Type.Null()])),
    prerequisites: Type.Optional(Type.Array(PrerequisiteSchema, { maxItems: 50 })),
    targets: Type.Optional(Type.Array(TargetSchema, { maxItems: 1000 })),
    rules: Type.Optional(Type.Array(RuleSchema, { maxItems: 500 })),
    fallthrough: ServeSchema,
    requires: Type.Optional(RequiresSchema),
    knob: Type.Optional(
      Type.Union([KnobValueSchema, Type.Null()], {
        description: "A knob's value: index `variations.length` serves it; null clears it, omitted keeps it",
      }),
    ),
    reason: Type.Optional(Type.String({ maxLength: 1000 })),
    force: Type.Optional(ForceSchema),
  },
  { additionalProperties: false, examples: [{ ...CONFIG_EXAMPLE, reason: 'beta testers and 10% of everyone' }] },
)
export type FlagConfigInput = Static<typeof FlagConfigBody>

/** A point of no return the flag passed (a release plan's step; src/schemas/plan.ts): shown with the flag. */
export const PassedPointFields = Type.Object(
  {
    plan: Type.String(),
    step: Type.Integer(),
    note: Type.String({ description: 'What can no longer be undone' }),
    runbook: Type.Optional(Type.String()),
    afterwards: Type.Union([Type.Literal('halt'), Type.Literal('kill')], {
      description: 'What automated kills (guards, alerts) do from now on',
    }),
    passedAt: Type.String({ description: 'When the step was applied' }),
    approvedBy: Type.String({ description: 'Who approved passing it' }),
    reason: Type.String({ description: 'Why (from the approval)' }),
    version: Type.Integer({ description: 'The flag version that passed it' }),
  },
  { additionalProperties: false, description: 'The point of no return this flag passed last' },
)

export const FlagConfigSchema = Type.Object(
  {
    key: Key,
    environment: Key,
    kind: FlagKind,
    variations: Type.Array(Type.Unknown()),
    salt: Type.String(),
    clientSide: Type.Optional(Type.Boolean()),
    knobBounds: Type.Optional(KnobBoundsSchema),
    on: Type.Boolean(),
    offVariation: Type.Union([Type.Integer(), Type.Null()]),
    prerequisites: Type.Array(PrerequisiteSchema),
    targets: Type.Array(TargetSchema),
    rules: Type.Array(RuleSchema),
    fallthrough: ServeSchema,
    version: Type.Integer(),
    requires: Type.Optional(RequiresSchema),
    knob: Type.Optional(KnobValueSchema),
    requirementsOverride: Type.Optional(RequirementsOverrideSchema),
    pointOfNoReturn: Type.Optional(PassedPointFields),
    notUndone: Type.Optional(
      Type.String({ description: 'On a kill past a point of no return: what turning the flag off does not undo' }),
    ),
  },
  {
    $id: 'FlagConfig',
    description:
      "A flag's configuration in one environment (with the definition fields the SDKs need); `version` is also the ETag",
    examples: [
      {
        key: 'new-checkout',
        environment: 'production',
        kind: 'boolean',
        variations: [true, false],
        salt: 'new-checkout',
        clientSide: false,
        ...CONFIG_EXAMPLE,
        version: 2,
      },
    ],
  },
)

export const FlagHistoryEntrySchema = Type.Object(
  {
    version: Type.Integer(),
    at: Type.String(),
    actor: Type.String(),
    action: Type.String(),
    reason: Type.Optional(Type.String()),
    config: Type.Unknown({ description: 'The configuration of this version' }),
  },
  {
    $id: 'FlagHistoryEntry',
    description: 'One version of a flag configuration',
    examples: [
      {
        version: 3,
        at: '2026-12-01T06:30:12.000Z',
        actor: 'on-call',
        action: 'flag.kill',
        reason: 'orders table locks at 06:30',
        config: { ...CONFIG_EXAMPLE, on: false },
      },
    ],
  },
)
/** One stored version: the document shows `config` loosely, the store holds the configuration of that version. */
export type FlagHistoryEntry = Static<typeof FlagHistoryEntrySchema> & { config: RulesetFlag }

export const FlagListSchema = List(Type.Ref(FlagDefinitionSchema), { description: 'The flags' })
export const FlagConfigListSchema = List(Type.Ref(FlagConfigSchema), { description: 'The configurations' })
export const FlagHistoryPageSchema = Page(Type.Ref(FlagHistoryEntrySchema), { description: 'A page of versions' })

export const FlagListQuery = Type.Object(
  { tag: Type.Optional(Type.String({ maxLength: 64, examples: ['checkout'] })) },
  { additionalProperties: false },
)

export const FlagHistoryQuery = Type.Object(
  {
    cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$', description: 'Versions below this one' })),
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
  },
  { additionalProperties: false },
)

export const KillFlagBody = Type.Object(
  { reason: Type.Optional(Reason) },
  { additionalProperties: false, examples: [{ reason: 'orders table locks at 06:30' }] },
)

export const ToggleFlagBody = Type.Object(
  { on: Type.Boolean(), reason: Type.Optional(Reason), force: Type.Optional(ForceSchema) },
  { additionalProperties: false, examples: [{ on: true, reason: 'launch' }] },
)

export const RollbackFlagBody = Type.Object(
  { version: Type.Integer({ minimum: 1 }), reason: Type.Optional(Reason), force: Type.Optional(ForceSchema) },
  { additionalProperties: false, examples: [{ version: 2, reason: 'back to the whitelist only' }] },
)

/** The answer of the routes that read or write one definition. */
export const FlagDefinitionResponse = Type.Ref(FlagDefinitionSchema, {
  description: 'The flag definition; `ETag` = its version',
})
/** The answer of the routes that read or write one configuration. */
export const FlagConfigResponse = Type.Ref(FlagConfigSchema, {
  description: 'The configuration; `ETag` = its version, `X-Change-Id` = the change-log id of a write',
})
