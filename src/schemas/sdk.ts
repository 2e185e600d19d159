import { type Static, Type } from '@sinclair/typebox'
import { QUERY_TOKEN } from './common.js'
import { STREAM_ID_PATTERN } from './common.js'
import { SdkFactsSchema } from './facts.js'

/**
 * Request headers the SDK routes read from `req.headers` themselves (documented only: they never fail validation).
 * An ETag carries the change-log id of the state served.
 */
export const IfNoneMatchHeaders = Type.Object({
  'if-none-match': Type.Optional(
    Type.String({ description: 'The ETag last received: 304 while it is current', examples: ['"1764570612000-0"'] }),
  ),
})
export const LastEventIdHeaders = Type.Object({
  'last-event-id': Type.Optional(
    Type.String({
      description: 'The id of the last event received: the missed changes are replayed',
      examples: ['1764570612000-0'],
    }),
  ),
})

export const RulesStreamQuery = Type.Object(
  { lastEventId: Type.Optional(Type.String({ maxLength: 64 })) },
  { additionalProperties: false },
)

/** The stream routes' 200 as Fastify sees it; /openapi.json shows the event stream itself (`eventStream`). */
export const EventStreamText = Type.String({ description: 'text/event-stream' })

export const RulesSchema = Type.Unknown({
  description: "The ruleset (what the stream's `put` carries)",
  examples: [{ specVersion: 1, environment: 'production', flags: {}, segments: {} }],
})

/** The query of the browser routes: the context, its signature, and the token of a native EventSource. */
export const ClientQuery = Type.Object(
  {
    context: Type.String({
      maxLength: 32_768,
      description: 'base64url of the context JSON (≤ 8 KB decoded; larger is 400 INVALID_CONTEXT)',
      examples: ['eyJrZXkiOiJ1c2VyLTE3In0'],
    }),
    signature: Type.Optional(
      Type.String({
        maxLength: 128,
        description:
          'hex HMAC-SHA256 of the whole context (RFC 8785 canonical JSON) with the environment signing secret; see docs/streaming.md',
      }),
    ),
    [QUERY_TOKEN]: Type.Optional(
      Type.String({
        maxLength: 256,
        description:
          'The sdk-client token, for a native EventSource (it cannot send Authorization); no other kind of token is accepted here (401 QUERY_TOKEN_REFUSED). Redacted from the logs.',
      }),
    ),
  },
  { additionalProperties: false },
)

/** One value as a browser sees it: never rule ids or prerequisite keys. */
export const ClientValueSchema = Type.Object({
  value: Type.Unknown(),
  variation: Type.Union([Type.Integer(), Type.Null()]),
  reason: Type.Object({
    kind: Type.String(),
    inRollout: Type.Optional(Type.Boolean()),
    errorKind: Type.Optional(Type.String()),
  }),
})

export const ClientValuesSchema = Type.Object(
  { flags: Type.Record(Type.String(), ClientValueSchema) },
  {
    description: 'The values of the clientSide flags for this context',
    examples: [{ flags: { 'checkout-theme': { value: 'compact', variation: 1, reason: { kind: 'FALLTHROUGH' } } } }],
  },
)

/** What an SDK sends to POST /api/v1/sdk/metrics. */
export const SdkReportBody = Type.Object(
  {
    sdkId: Type.String({ minLength: 1, maxLength: 128 }),
    sdkVersion: Type.Optional(Type.String({ maxLength: 64 })),
    mode: Type.Union([Type.Literal('server'), Type.Literal('client')]),
    appliedId: Type.Union([Type.String({ pattern: STREAM_ID_PATTERN }), Type.Null()]),
    appliedAt: Type.Optional(Type.String({ maxLength: 64, description: 'When the SDK applied appliedId (its clock)' })),
    sentAt: Type.Optional(
      Type.String({
        maxLength: 64,
        description:
          'When the SDK sent this report (same clock): the server measures the delivery from sentAt − appliedAt',
      }),
    ),
    closing: Type.Optional(
      Type.Boolean({ description: 'The last report of a closing SDK: the instance is forgotten (not pending)' }),
    ),
    startedAt: Type.Optional(Type.String({ maxLength: 64 })),
    application: Type.Optional(
      Type.Object(
        {
          name: Type.String({ minLength: 1, maxLength: 128 }),
          version: Type.Optional(Type.String({ maxLength: 64 })),
        },
        {
          additionalProperties: false,
          description: 'The application embedding a server SDK (createClient `application`)',
        },
      ),
    ),
    runtime: Type.Optional(Type.String({ maxLength: 64, description: 'e.g. "node 22.11.0"' })),
    facts: Type.Optional(SdkFactsSchema),
    counts: Type.Optional(
      Type.Record(
        Type.String({ maxLength: 128 }),
        Type.Record(Type.String({ maxLength: 16 }), Type.Integer({ minimum: 0 }), { maxProperties: 64 }),
        { maxProperties: 2000, description: 'Evaluations since the last report: flag → variation index → count' },
      ),
    ),
  },
  {
    additionalProperties: false,
    examples: [
      {
        sdkId: '0b8e6f7a-2c1d-4e3f-a5b6-c7d8e9f0a1b2',
        sdkVersion: '0.1.0',
        mode: 'server',
        appliedId: '1764570612000-0',
        appliedAt: '2026-12-01T06:30:12.040Z',
        sentAt: '2026-12-01T06:30:13.000Z',
        startedAt: '2026-12-01T06:00:00.000Z',
        application: { name: 'sessions-api', version: '5.3.1' },
        runtime: 'node 22.11.0',
        facts: { 'app.framework': '5.3.1' },
        counts: { 'new-checkout': { 0: 120, 1: 880 } },
      },
    ],
  },
)
export type SdkReportInput = Static<typeof SdkReportBody>

export const SdkStatusQuery = Type.Object(
  {
    changeId: Type.Optional(
      Type.String({
        pattern: STREAM_ID_PATTERN,
        description:
          'A change-log id: the X-Change-Id of a write (kill, toggle, PUT, rollback), the ETag of /sdk/rules or an SSE event id. Default: the latest change.',
      }),
    ),
  },
  { additionalProperties: false },
)

export const SdkStatusSchema = Type.Object(
  {
    changeId: Type.String(),
    changeAt: Type.String(),
    total: Type.Integer(),
    applied: Type.Integer(),
    pending: Type.Array(Type.String()),
    capped: Type.Boolean({ description: 'SDK_MAX_SERVER_INSTANCES are tracked: instances beyond it are not listed' }),
    // Browser SDKs (sdk-client tokens): counted apart, since their public token lets anyone report.
    clients: Type.Object(
      { total: Type.Integer(), applied: Type.Integer(), pending: Type.Integer(), capped: Type.Boolean() },
      { description: 'Browser SDKs, counted apart (at most SDK_MAX_CLIENT_INSTANCES)' },
    ),
    instances: Type.Array(
      Type.Object({
        sdkId: Type.String(),
        mode: Type.String(),
        sdkVersion: Type.Optional(Type.String()),
        appliedId: Type.Union([Type.String(), Type.Null()]),
        reportedAt: Type.String(),
        applied: Type.Boolean(),
        // When this instance applied this change (or a later one), on this server's clock; absent when not applied or not known.
        appliedAt: Type.Optional(Type.String()),
        // appliedAt − changeAt, never negative: the delivery time of the change to this instance.
        lagMs: Type.Optional(Type.Integer()),
      }),
    ),
  },
  {
    description: 'Which SDK instances applied the change',
    examples: [
      {
        changeId: '1764570612000-0',
        changeAt: '2026-12-01T06:30:12.000Z',
        total: 1,
        applied: 1,
        pending: [],
        capped: false,
        clients: { total: 0, applied: 0, pending: 0, capped: false },
        instances: [
          {
            sdkId: '0b8e6f7a-2c1d-4e3f-a5b6-c7d8e9f0a1b2',
            mode: 'server',
            sdkVersion: '0.1.0',
            appliedId: '1764570612000-0',
            reportedAt: '2026-12-01T06:30:13.000Z',
            applied: true,
            appliedAt: '2026-12-01T06:30:12.040Z',
            lagMs: 40,
          },
        ],
      },
    ],
  },
)
export type SdkStatus = Static<typeof SdkStatusSchema>
