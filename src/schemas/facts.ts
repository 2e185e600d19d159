import { type Static, Type } from '@sinclair/typebox'
import { OPERATORS } from '../../sdk/core/types.js'
import { Key, KEY_PATTERN, Reason } from './common.js'

/** Bounds of one fact: a deploy pipeline records indexes, migrations, versions, checksums — not documents. */
export const FACT_LIMITS = {
  /** Facts per environment. */
  perEnvironment: 1000,
  /** Facts set or unset in one call. */
  perCall: 200,
  stringLength: 1024,
  listItems: 1000,
  itemLength: 256,
  /** Facts an SDK reports with its metrics (sent every report: kept small). */
  perSdk: 50,
} as const

const primitive = [Type.String({ maxLength: FACT_LIMITS.stringLength }), Type.Number(), Type.Boolean()]

export const FactValueSchema = Type.Union(
  [...primitive, Type.Array(Type.String({ maxLength: FACT_LIMITS.itemLength }), { maxItems: FACT_LIMITS.listItems })],
  { description: 'A string, a (finite) number, a boolean or a list of strings' },
)

/** What an SDK may report: the same types, smaller. */
export const SdkFactsSchema = Type.Record(
  Type.String({ pattern: KEY_PATTERN, maxLength: 128 }),
  Type.Union([
    Type.String({ maxLength: 256 }),
    Type.Number(),
    Type.Boolean(),
    Type.Array(Type.String({ maxLength: 256 }), { maxItems: 50 }),
  ]),
  // additionalProperties: false makes the key pattern binding (a Record alone only types matching keys).
  {
    maxProperties: FACT_LIMITS.perSdk,
    additionalProperties: false,
    description: 'Facts of the application, passed to createClient',
  },
)

/** Operators a requirement may use: every clause operator but `inSegment` (a fact is not a context). */
export const REQUIREMENT_OPERATORS = OPERATORS.filter((o) => o !== 'inSegment')

export const FactRequirementSchema = Type.Object(
  {
    fact: Type.String({ pattern: KEY_PATTERN, minLength: 1, maxLength: 128 }),
    op: Type.Union(REQUIREMENT_OPERATORS.map((o) => Type.Literal(o))),
    value: Type.Optional(
      Type.Union([...primitive, Type.Array(Type.Union(primitive), { minItems: 1, maxItems: 100 })], {
        description: 'Compared like a clause value; a list: any of them. Absent for `exists`',
      }),
    ),
    negate: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)
export const RequiresSchema = Type.Array(FactRequirementSchema, {
  maxItems: 50,
  description:
    'Facts the environment must meet before the flag is turned on or serves anew (omitted in a PUT: kept; [] removes them)',
})

const FactValueOrNull = Type.Union([FactValueSchema, Type.Null()])

export const UnmetSchema = Type.Object({
  fact: Type.String(),
  op: Type.String(),
  value: Type.Optional(Type.Unknown()),
  negate: Type.Optional(Type.Boolean()),
  actual: FactValueOrNull,
})

export const RequirementsOverrideSchema = Type.Object(
  {
    at: Type.String(),
    actor: Type.String(),
    reason: Type.String(),
    unmet: Type.Array(UnmetSchema),
    drift: Type.Optional(Type.Array(Type.Object({ fact: Type.String(), from: FactValueOrNull, to: FactValueOrNull }))),
  },
  { description: 'Present while the flag serves despite unmet requirements (a forced write): who, when, why, what' },
)

export const FactSchema = Type.Object(
  {
    name: Key,
    type: Type.Union([Type.Literal('string'), Type.Literal('number'), Type.Literal('boolean'), Type.Literal('list')]),
    value: FactValueSchema,
    drift: Type.Boolean({ description: 'Compared with the source environment by every promote' }),
    version: Type.Integer(),
    updatedAt: Type.String(),
    updatedBy: Type.String(),
  },
  { $id: 'Fact', description: 'A named, typed value recorded for an environment' },
)

const FACTS_EXAMPLE = {
  environment: 'production',
  version: 4,
  facts: [
    {
      name: 'db.sessions.indexes',
      type: 'list',
      value: ['sessions_pkey', 'sessions_user_combined_idx'],
      drift: true,
      version: 2,
      updatedAt: '2026-12-01T05:40:00.000Z',
      updatedBy: 'deploy-pipeline',
    },
    {
      name: 'app.framework',
      type: 'string',
      value: '5.3.1',
      drift: false,
      version: 1,
      updatedAt: '2026-12-01T05:41:00.000Z',
      updatedBy: 'deploy-pipeline',
    },
  ],
}

export const FactsViewSchema = Type.Object(
  {
    environment: Key,
    version: Type.Integer({ description: "Of the environment's facts (+1 per write); also the ETag" }),
    facts: Type.Array(Type.Ref(FactSchema)),
  },
  { $id: 'Facts', description: "An environment's facts", examples: [FACTS_EXAMPLE] },
)

export const SetFactsBody = Type.Object(
  {
    set: Type.Optional(
      Type.Record(Type.String({ pattern: KEY_PATTERN, maxLength: 128 }), FactValueSchema, {
        maxProperties: FACT_LIMITS.perCall,
        additionalProperties: false,
        description: 'Facts to record: name → value (the type of a new fact is its value’s)',
      }),
    ),
    unset: Type.Optional(
      Type.Array(Type.String({ pattern: KEY_PATTERN, maxLength: 128 }), { maxItems: FACT_LIMITS.perCall }),
    ),
    drift: Type.Optional(
      Type.Record(Type.String({ pattern: KEY_PATTERN, maxLength: 128 }), Type.Boolean(), {
        maxProperties: FACT_LIMITS.perCall,
        additionalProperties: false,
        description: 'Mark (true) or unmark facts as compared by every promote',
      }),
    ),
    reason: Type.Optional(Reason),
  },
  {
    additionalProperties: false,
    minProperties: 1,
    examples: [
      {
        set: { 'db.sessions.indexes': ['sessions_pkey', 'sessions_user_combined_idx'], 'app.framework': '5.3.1' },
        drift: { 'db.sessions.indexes': true },
        reason: 'migration 0042 applied',
      },
    ],
  },
)
export type SetFactsInput = Static<typeof SetFactsBody>

export const FactHistorySchema = Type.Object(
  {
    items: Type.Array(
      Type.Object({
        id: Type.String({ description: 'The history entry id (a stream id)' }),
        version: Type.Integer(),
        at: Type.String(),
        actor: Type.String(),
        reason: Type.Optional(Type.String()),
        changes: Type.Array(Type.Object({ fact: Type.String(), from: FactValueOrNull, to: FactValueOrNull })),
      }),
    ),
    nextCursor: Type.Union([Type.String(), Type.Null()], {
      description: 'Pass as `cursor` for older entries; null at the end',
    }),
  },
  {
    description: "Writes of the environment's facts, newest first",
    examples: [
      {
        items: [
          {
            id: '1764567600000-0',
            version: 4,
            at: '2026-12-01T05:40:00.000Z',
            actor: 'deploy-pipeline',
            reason: 'migration 0042 applied',
            changes: [
              {
                fact: 'db.sessions.indexes',
                from: ['sessions_pkey'],
                to: ['sessions_pkey', 'sessions_user_combined_idx'],
              },
            ],
          },
        ],
        nextCursor: null,
      },
    ],
  },
)
