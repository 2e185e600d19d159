import { Type, type Static } from '@sinclair/typebox'
import { ContextKey, Key } from './common.js'
import { ClauseSchema } from './flag.js'

/** Ids accepted in one membership call (the bulk size). */
export const MAX_MEMBERS_PER_CALL = 100_000

export const SegmentRuleSchema = Type.Object(
  {
    id: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', minLength: 1, maxLength: 128 }),
    clauses: Type.Array(ClauseSchema, { maxItems: 100 }),
    weight: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000 })),
    bucketBy: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  },
  { additionalProperties: false },
)

const segmentFields = {
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  description: Type.Optional(Type.String({ maxLength: 4000 })),
  rules: Type.Optional(Type.Array(SegmentRuleSchema, { maxItems: 100 })),
  included: Type.Optional(Type.Array(ContextKey, { maxItems: MAX_MEMBERS_PER_CALL })),
  excluded: Type.Optional(Type.Array(ContextKey, { maxItems: MAX_MEMBERS_PER_CALL })),
  reason: Type.Optional(Type.String({ maxLength: 1000 })),
}

export const CreateSegmentBody = Type.Object({ key: Key, ...segmentFields }, { additionalProperties: false })
export const PutSegmentBody = Type.Object(segmentFields, { additionalProperties: false })
export type SegmentInput = Static<typeof PutSegmentBody>

export const SegmentSchema = Type.Object(
  {
    key: Key,
    environment: Key,
    name: Type.Optional(Type.String()),
    description: Type.Optional(Type.String()),
    rules: Type.Array(SegmentRuleSchema),
    salt: Type.String(),
    version: Type.Integer(),
    includedCount: Type.Integer(),
    excludedCount: Type.Integer(),
    createdAt: Type.String(),
    updatedAt: Type.String(),
  },
  { $id: 'Segment' },
)

export const MembersBody = Type.Object(
  {
    add: Type.Optional(Type.Array(ContextKey, { maxItems: MAX_MEMBERS_PER_CALL })),
    remove: Type.Optional(Type.Array(ContextKey, { maxItems: MAX_MEMBERS_PER_CALL })),
    list: Type.Optional(Type.Union([Type.Literal('included'), Type.Literal('excluded')], { default: 'included' })),
    reason: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  { additionalProperties: false },
)
export type MembersInput = Static<typeof MembersBody>

export const MembersResult = Type.Object({
  key: Key,
  list: Type.String(),
  added: Type.Integer({ description: 'Ids newly added' }),
  removed: Type.Integer({ description: 'Ids actually removed' }),
  count: Type.Integer({ description: 'Size of the list after the change' }),
  version: Type.Integer(),
})

export const MemberCheck = Type.Object({
  id: Type.String(),
  included: Type.Boolean(),
  excluded: Type.Boolean(),
  member: Type.Boolean({ description: 'Included and not excluded (segment rules are not evaluated here; use /evaluate)' }),
})
