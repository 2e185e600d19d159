import { type Static, Type } from '@sinclair/typebox'
import { Key, Page, STREAM_ID_PATTERN } from './common.js'

export const AuditEntrySchema = Type.Object(
  {
    id: Type.String({ description: 'Stream id; also the paging cursor' }),
    at: Type.String(),
    actor: Type.String(),
    actorTokenId: Type.String(),
    action: Type.String(),
    env: Type.Union([Type.String(), Type.Null()]),
    // A string on the wire: readers must accept target types added later ('flag', 'segment', 'environment', 'token' today).
    target: Type.Object({ type: Type.String(), key: Type.String() }),
    fromVersion: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
    toVersion: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
    reason: Type.Optional(Type.String()),
    requestId: Type.Optional(Type.String()),
    details: Type.Optional(Type.Unknown()),
  },
  {
    $id: 'AuditEntry',
    description: 'One audit record',
    examples: [
      {
        id: '1764570612000-0',
        at: '2026-12-01T06:30:12.000Z',
        actor: 'on-call',
        actorTokenId: '3f9d2a71-5c4e-4b8a-9e06-1d2c3b4a5f60',
        action: 'flag.kill',
        env: 'production',
        target: { type: 'flag', key: 'new-checkout' },
        fromVersion: 2,
        toVersion: 3,
        reason: 'orders table locks at 06:30',
        requestId: 'b6f1c2d4-3e5a-4f60-9a7b-8c9d0e1f2a3b',
      },
    ],
  },
)
export type AuditEntry = Static<typeof AuditEntrySchema>
/** An audit record as stored (one stream entry, field `r`): its id is the stream entry's. */
export type AuditRecord = Omit<AuditEntry, 'id'>

export const AuditPageSchema = Page(Type.Ref(AuditEntrySchema), { description: 'A page of records' })

export const AuditQuerySchema = Type.Object(
  {
    env: Type.Optional(Key),
    flag: Type.Optional(Key),
    // ISO time or stream id: only records at or after it.
    since: Type.Optional(Type.String({ maxLength: 64, description: 'ISO 8601 time or audit id' })),
    // Exclusive upper bound from a previous page (newest first).
    cursor: Type.Optional(Type.String({ pattern: STREAM_ID_PATTERN })),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  },
  { additionalProperties: false },
)
export type AuditQuery = Static<typeof AuditQuerySchema>

export const AuditHeaders = Type.Object({
  'if-none-match': Type.Optional(
    Type.String({
      description: 'The ETag of the last answer to the same query: 304 with no body while it is current',
      examples: ['"pq3XoV0y1b2c3d4e5f6g7h8i9j0kLmNo"'],
    }),
  ),
})
