import { Type, type Static } from '@sinclair/typebox'
import { ContextKey, EnvKeyParams, Key, List, Page, Reason } from './common.js'
import { ClauseSchema, RuleId } from './flag.js'

/** Ids accepted in one membership call (the bulk size). */
export const MAX_MEMBERS_PER_CALL = 100_000

export const SegmentRuleSchema = Type.Object(
  {
    id: RuleId,
    clauses: Type.Array(ClauseSchema, { maxItems: 100 }),
    weight: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000 })),
    bucketBy: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  },
  { additionalProperties: false },
)

/** The two member lists of a segment. */
const MemberList = (options: { default?: string; description?: string }) =>
  Type.Union([Type.Literal('included'), Type.Literal('excluded')], options)

const segmentFields = {
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  description: Type.Optional(Type.String({ maxLength: 4000 })),
  rules: Type.Optional(Type.Array(SegmentRuleSchema, { maxItems: 100 })),
  included: Type.Optional(Type.Array(ContextKey, { maxItems: MAX_MEMBERS_PER_CALL })),
  excluded: Type.Optional(Type.Array(ContextKey, { maxItems: MAX_MEMBERS_PER_CALL })),
  reason: Type.Optional(Type.String({ maxLength: 1000 })),
}

const SEGMENT_EXAMPLE = {
  name: 'Beta testers',
  description: 'Opted in on the settings page',
  rules: [{ id: 'staff', clauses: [{ attribute: 'email', op: 'endsWith', values: ['@example.org'] }] }],
  included: ['user-17', 'user-18'],
}

export const CreateSegmentBody = Type.Object(
  { key: Key, ...segmentFields },
  { additionalProperties: false, examples: [{ key: 'beta-testers', ...SEGMENT_EXAMPLE }] },
)
export const PutSegmentBody = Type.Object(segmentFields, {
  additionalProperties: false,
  examples: [{ ...SEGMENT_EXAMPLE, reason: 'staff join the beta' }],
})
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
  {
    $id: 'Segment',
    description:
      'A segment of one environment (members are counted, listed by the members routes); `version` is also the ETag',
    examples: [
      {
        key: 'beta-testers',
        environment: 'production',
        name: SEGMENT_EXAMPLE.name,
        description: SEGMENT_EXAMPLE.description,
        rules: SEGMENT_EXAMPLE.rules,
        salt: 'beta-testers',
        version: 2,
        includedCount: 2,
        excludedCount: 0,
        createdAt: '2026-11-30T09:05:00.000Z',
        updatedAt: '2026-11-30T09:06:00.000Z',
      },
    ],
  },
)
/** A segment as served: its stored fields, the environment, the version and the member counts. */
export type SegmentView = Static<typeof SegmentSchema>

export const MembersBody = Type.Object(
  {
    add: Type.Optional(Type.Array(ContextKey, { maxItems: MAX_MEMBERS_PER_CALL })),
    remove: Type.Optional(Type.Array(ContextKey, { maxItems: MAX_MEMBERS_PER_CALL })),
    list: Type.Optional(MemberList({ default: 'included' })),
    reason: Type.Optional(Type.String({ maxLength: 1000 })),
  },
  {
    additionalProperties: false,
    examples: [{ add: ['user-17', 'user-18'], remove: ['user-3'], reason: 'beta wave 2' }],
  },
)
export type MembersInput = Static<typeof MembersBody>

export const MembersChangeSchema = Type.Object(
  {
    key: Key,
    list: Type.String(),
    added: Type.Integer({ description: 'Ids newly added' }),
    removed: Type.Integer({ description: 'Ids actually removed' }),
    count: Type.Integer({ description: 'Size of the list after the change' }),
    version: Type.Integer(),
  },
  {
    description: "The server's counts: what actually changed",
    examples: [{ key: 'beta-testers', list: 'included', added: 2, removed: 0, count: 2, version: 2 }],
  },
)
export type MembersChange = Static<typeof MembersChangeSchema>

export const MemberCheckSchema = Type.Object(
  {
    id: Type.String(),
    included: Type.Boolean(),
    excluded: Type.Boolean(),
    member: Type.Boolean({
      description: 'Included and not excluded (segment rules are not evaluated here; use /evaluate)',
    }),
  },
  { description: 'Membership of one id', examples: [{ id: 'user-17', included: true, excluded: false, member: true }] },
)
export type MemberCheck = Static<typeof MemberCheckSchema>

export const SegmentListSchema = List(Type.Ref(SegmentSchema), { description: 'The segments' })

export const DeleteSegmentQuery = Type.Object({ reason: Type.Optional(Reason) }, { additionalProperties: false })

/** What a text/plain members body does: its ids, one per line, and `?op=` / `?list=`. */
export const MembersQuery = Type.Object(
  {
    op: Type.Optional(
      Type.Union([Type.Literal('add'), Type.Literal('remove')], {
        description: 'What a text/plain body does with its ids (default add)',
      }),
    ),
    list: Type.Optional(MemberList({ description: 'The list a text/plain body changes (default included)' })),
  },
  { additionalProperties: false },
)

export const MembersText = Type.String({
  description: 'One id per line (blank lines skipped); `?op=` and `?list=` say what to do with them',
  examples: ['user-17\nuser-18\n'],
})

export const MemberPageQuery = Type.Object(
  {
    list: MemberList({ default: 'included' }),
    cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,20}$' })),
    limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 }),
  },
  { additionalProperties: false },
)

export const MemberPageSchema = Page(Type.String(), {
  description: 'A page of ids',
  examples: [{ items: ['user-17', 'user-18'], nextCursor: null }],
})

export const MemberParams = Type.Object(
  { ...EnvKeyParams.properties, id: Type.String({ minLength: 1, maxLength: 256 }) },
  { additionalProperties: false },
)

/** The answer of the routes that read or write one segment. */
export const SegmentResponse = Type.Ref(SegmentSchema, {
  description: 'The segment; `ETag` = its version, `X-Change-Id` = the change-log id of a write',
})
