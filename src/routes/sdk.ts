import { Type, type FastifyPluginAsyncTypebox, type TObject } from '@fastify/type-provider-typebox'
import fastifyCors, { type FastifyCorsOptions } from '@fastify/cors'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { authorize, QUERY_TOKEN, sdkEnv } from '../auth.js'
import type { Config } from '../config.js'
import { BODY_ERRORS, EnvParams, errorResponses } from '../schemas/common.js'
import { documentedAs } from '../schemas/openapi.js'
import type { Services } from '../services/index.js'
import { SdkFactsSchema } from '../schemas/facts.js'
import type { SdkMetricsService } from '../services/sdk-metrics.js'
import { decodeContext, verifiedClientContext } from '../stream/client-context.js'
import type { StreamHub } from '../stream/hub.js'
import { STREAM_REFUSED_RETRY_AFTER_S } from '../stream/limits.js'
import { openEventStream } from '../stream/sse.js'
import { notModified, sendNotModified } from '../http/etag.js'
import ofrepRoutes, { OFREP_PATHS } from './ofrep.js'

export interface SdkRoutesOptions {
  services: Services
  hub: StreamHub
  sdkMetrics: SdkMetricsService
  config: Config
}

const STREAM_ID = '^[0-9]{1,20}-[0-9]{1,20}$'

/** The routes a page calls (sdk-client token): the only ones with CORS headers. */
const BROWSER_PATHS = new Set([
  '/api/v1/sdk/client/stream',
  '/api/v1/sdk/client/values',
  '/api/v1/sdk/metrics',
  ...OFREP_PATHS,
])
/** A request path (not a route template) of a browser route: OFREP's single-flag path carries the flag key. */
const isBrowserPath = (path: string) => BROWSER_PATHS.has(path) || path.startsWith(`${OFREP_PATHS[0]}/`)

/** CLIENT_CORS_ORIGIN: `*`, or the list of origins a matching Origin is echoed for (with Vary: Origin). */
export function corsOrigins(v: string): '*' | string[] {
  const list = v
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '')
  return list.includes('*') ? '*' : list
}

/**
 * How a stream route is documented: success is text/event-stream (the route writes the frames itself), errors are
 * JSON. `produces` stays on the route schema for the edge (no helmet on streams): in the document it would give
 * the errors that media type too.
 */
function eventStream(example: string, headers?: TObject) {
  return documentedAs(({ produces: _sse, ...schema }) => ({
    ...schema,
    ...(headers && { headers }),
    response: {
      ...(schema.response as object),
      200: {
        description: 'The event stream (never ends while the server runs)',
        content: { 'text/event-stream': { schema: Type.String(), example } },
      },
    },
  }))
}

/**
 * Request headers the SDK routes read from `req.headers` themselves (documented only: they never fail validation).
 * An ETag carries the change-log id of the state served.
 */
const IfNoneMatchHeaders = Type.Object({
  'if-none-match': Type.Optional(
    Type.String({ description: 'The ETag last received: 304 while it is current', examples: ['"1764570612000-0"'] }),
  ),
})
const LastEventIdHeaders = Type.Object({
  'last-event-id': Type.Optional(
    Type.String({
      description: 'The id of the last event received: the missed changes are replayed',
      examples: ['1764570612000-0'],
    }),
  ),
})

const ClientQuery = Type.Object(
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

const ClientValue = Type.Object({
  value: Type.Unknown(),
  variation: Type.Union([Type.Integer(), Type.Null()]),
  reason: Type.Object({
    kind: Type.String(),
    inRollout: Type.Optional(Type.Boolean()),
    errorKind: Type.Optional(Type.String()),
  }),
})

const routes: FastifyPluginAsyncTypebox<SdkRoutesOptions> = async (app, { services, hub, sdkMetrics, config }) => {
  const tags = ['sdk']
  const retryMs = config.STREAM_RETRY_MS

  // CORS is open on the browser routes only (sdk-client tokens are public by design and unlock nothing secret).
  // The plugin's OPTIONS catch-all answers every path, so the path decides, for preflights and real requests alike.
  const allowed = corsOrigins(config.CLIENT_CORS_ORIGIN)
  const browserCors: FastifyCorsOptions = {
    origin: allowed,
    methods: ['GET', 'POST'],
    allowedHeaders: ['authorization', 'content-type', 'last-event-id', 'cache-control', 'if-none-match'],
    exposedHeaders: ['etag'],
    maxAge: 600,
    // A bare OPTIONS gets the headers rather than the plugin's text/plain 400 (no catalogue code).
    strictPreflight: false,
  }
  // The other routes of this plugin keep clear of it entirely (no Vary either).
  app.addHook('onRoute', (route) => {
    if (route.url !== '*' && !BROWSER_PATHS.has(route.url))
      route.config = { ...route.config, cors: false } as NonNullable<typeof route.config>
  })
  await app.register(fastifyCors, {
    delegator: (req, cb) => cb(null, isBrowserPath(req.url.split('?', 1)[0] ?? '') ? browserCors : { origin: false }),
  })
  // Inside this plugin, so that the CORS hook above covers OFREP too (a second @fastify/cors would clash on OPTIONS *).
  await app.register(ofrepRoutes, { services, hub })

  /** A stream slot, or 429 TOO_MANY_STREAMS with Retry-After; the refused connection is closed so it frees its descriptor. */
  function admitStream(req: FastifyRequest, reply: FastifyReply, tokenId: string): void {
    try {
      hub.admit(reply.raw, tokenId, req.ip)
    } catch (err) {
      reply.header('retry-after', String(STREAM_REFUSED_RETRY_AFTER_S)).header('connection', 'close')
      throw err
    }
  }

  async function requireEnv(env: string) {
    await app.store.requireEnv(env)
  }

  async function clientContext(env: string, q: { context: string; signature?: string | undefined }) {
    return verifiedClientContext(services.environments, env, decodeContext(q.context), q.signature)
  }

  app.get(
    '/api/v1/sdk/stream',
    {
      schema: {
        operationId: 'sdkStream',
        tags,
        summary: 'Rules stream (server SDKs)',
        description:
          'Server-Sent Events for sdk-server tokens: `put` (the ruleset, id = change-log id), then `patch` / `delete` / `segment-delta` ' +
          'with their change-log ids, `: ping` comments. Resume with `Last-Event-ID` (or `?lastEventId=`): the missed changes are replayed, ' +
          'or a fresh `put` is sent when they were trimmed from the log.',
        querystring: Type.Object(
          { lastEventId: Type.Optional(Type.String({ maxLength: 64 })) },
          { additionalProperties: false },
        ),
        produces: ['text/event-stream'],
        response: { 200: Type.String({ description: 'text/event-stream' }), ...errorResponses(404, 429) },
      },
      config: {
        swaggerTransform: eventStream(
          'retry: 1000\n\nid: 1764570612000-0\nevent: put\ndata: {"specVersion":1,"environment":"production","flags":{},"segments":{}}\n\n',
          LastEventIdHeaders,
        ),
      },
    },
    async (req, reply) => {
      const { env, token } = sdkEnv(req, ['sdk-server'])
      await requireEnv(env)
      const header = req.headers['last-event-id']
      const last = (typeof header === 'string' && header !== '' ? header : req.query.lastEventId) ?? null
      admitStream(req, reply, token.id)
      void hub.serveRules(env, openEventStream(reply, retryMs), token.id, last)
      return reply
    },
  )

  app.get(
    '/api/v1/sdk/rules',
    {
      schema: {
        operationId: 'sdkRules',
        tags,
        summary: 'Rules for polling (server SDKs)',
        description:
          'The ruleset for polling (sdk-server tokens). ETag = the change-log id the stream uses; 304 on If-None-Match.',
        response: {
          200: Type.Unknown({
            description: "The ruleset (what the stream's `put` carries)",
            examples: [{ specVersion: 1, environment: 'production', flags: {}, segments: {} }],
          }),
          304: Type.Null({ description: 'Not modified: the If-None-Match ETag is current' }),
          ...errorResponses(404),
        },
      },
      config: { swaggerTransform: documentedAs((schema) => ({ ...schema, headers: IfNoneMatchHeaders })) },
    },
    async (req, reply) => {
      const { env } = sdkEnv(req, ['sdk-server'])
      await requireEnv(env)
      const put = await hub.rules(env)
      const etag = `"${put.id}"`
      reply.header('etag', etag).header('cache-control', 'no-cache')
      if (notModified(req, etag)) return sendNotModified(reply)
      return reply
        .type('application/json; charset=utf-8')
        .serializer((b: unknown) => b as string)
        .send(put.body)
    },
  )

  app.get(
    '/api/v1/sdk/client/stream',
    {
      schema: {
        operationId: 'sdkClientStream',
        tags,
        summary: 'Values stream (browsers)',
        description:
          'Server-Sent Events for browsers (sdk-client tokens): `put` {flags} with the evaluated values of the clientSide flags for the context, ' +
          'then `patch` {flags, removed} when a value of this context changes. Never rules, never other ids.',
        querystring: ClientQuery,
        produces: ['text/event-stream'],
        response: { 200: Type.String({ description: 'text/event-stream' }), ...errorResponses(404, 429) },
      },
      config: {
        queryToken: true,
        swaggerTransform: eventStream(
          'retry: 1000\n\nid: 1764570612000-0\nevent: put\ndata: {"flags":{"checkout-theme":{"value":"compact","variation":1,"reason":{"kind":"FALLTHROUGH"}}}}\n\n',
        ),
      },
    },
    async (req, reply) => {
      const { env, token } = sdkEnv(req, ['sdk-client'])
      await requireEnv(env)
      const context = await clientContext(env, req.query)
      admitStream(req, reply, token.id)
      void hub.serveClient(env, openEventStream(reply, retryMs), token.id, context)
      return reply
    },
  )

  app.get(
    '/api/v1/sdk/client/values',
    {
      schema: {
        operationId: 'sdkClientValues',
        tags,
        summary: 'Values for polling (browsers)',
        description:
          'The evaluated clientSide values for one context (polling); ETag = change-log id, 304 on If-None-Match.',
        querystring: ClientQuery,
        response: {
          200: Type.Object(
            { flags: Type.Record(Type.String(), ClientValue) },
            {
              description: 'The values of the clientSide flags for this context',
              examples: [
                { flags: { 'checkout-theme': { value: 'compact', variation: 1, reason: { kind: 'FALLTHROUGH' } } } },
              ],
            },
          ),
          304: Type.Null({ description: 'Not modified: the If-None-Match ETag is current' }),
          ...errorResponses(404),
        },
      },
      config: {
        queryToken: true,
        swaggerTransform: documentedAs((schema) => ({ ...schema, headers: IfNoneMatchHeaders })),
      },
    },
    async (req, reply) => {
      const { env } = sdkEnv(req, ['sdk-client'])
      await requireEnv(env)
      const context = await clientContext(env, req.query)
      const { json, id } = await hub.clientValues(env, context)
      const etag = `"${id}"`
      reply.header('etag', etag).header('cache-control', 'no-cache')
      if (notModified(req, etag)) return sendNotModified(reply)
      return reply
        .type('application/json; charset=utf-8')
        .serializer((b: unknown) => b as string)
        .send(json as never)
    },
  )

  app.post(
    '/api/v1/sdk/metrics',
    {
      schema: {
        operationId: 'sdkMetrics',
        tags,
        summary: 'SDK report',
        description:
          'An SDK instance reports its applied change-log id and evaluation counts (sdk-server or sdk-client tokens).',
        body: Type.Object(
          {
            sdkId: Type.String({ minLength: 1, maxLength: 128 }),
            sdkVersion: Type.Optional(Type.String({ maxLength: 64 })),
            mode: Type.Union([Type.Literal('server'), Type.Literal('client')]),
            appliedId: Type.Union([Type.String({ pattern: STREAM_ID }), Type.Null()]),
            appliedAt: Type.Optional(
              Type.String({ maxLength: 64, description: 'When the SDK applied appliedId (its clock)' }),
            ),
            sentAt: Type.Optional(
              Type.String({
                maxLength: 64,
                description:
                  'When the SDK sent this report (same clock): the server measures the delivery from sentAt − appliedAt',
              }),
            ),
            closing: Type.Optional(
              Type.Boolean({
                description: 'The last report of a closing SDK: the instance is forgotten (not pending)',
              }),
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
                {
                  maxProperties: 2000,
                  description: 'Evaluations since the last report: flag → variation index → count',
                },
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
        ),
        response: { 202: Type.Null({ description: 'Accepted' }), ...errorResponses(429, ...BODY_ERRORS) },
      },
    },
    async (req, reply) => {
      const { env, token } = sdkEnv(req, ['sdk-server', 'sdk-client'])
      await requireEnv(env)
      const b = req.body
      await sdkMetrics.report(
        env,
        token.kind === 'sdk-server' ? 'server' : 'client',
        {
          sdkId: b.sdkId,
          mode: b.mode,
          appliedId: b.appliedId,
          ...(b.sdkVersion !== undefined && { sdkVersion: b.sdkVersion }),
          ...(b.appliedAt !== undefined && { appliedAt: b.appliedAt }),
          ...(b.sentAt !== undefined && { sentAt: b.sentAt }),
          ...(b.closing !== undefined && { closing: b.closing }),
          ...(b.startedAt !== undefined && { startedAt: b.startedAt }),
          ...(b.counts !== undefined && { counts: b.counts }),
          // Only server SDKs describe applications: a browser's token is public, anyone could claim to be any app.
          ...(token.kind === 'sdk-server' && {
            ...(b.application !== undefined && { application: b.application }),
            ...(b.runtime !== undefined && { runtime: b.runtime }),
            ...(b.facts !== undefined && { facts: b.facts }),
          }),
        },
        reply.elapsedTime,
      )
      return reply.code(202).send(null)
    },
  )

  app.get(
    '/api/v1/environments/:env/sdk-status',
    {
      schema: {
        operationId: 'sdkStatus',
        tags,
        summary: 'Delivery status of a change',
        description:
          'Which server SDK instances (sdk-server tokens, reporting in the last 10 minutes, not closed) have applied at least this change, and how long its delivery took ' +
          '(lagMs: when the SDK applied it − when it was written): the proof a kill reached everyone. Browser SDKs (public sdk-client token) are counted apart in `clients`.',
        params: EnvParams,
        querystring: Type.Object(
          {
            changeId: Type.Optional(
              Type.String({
                pattern: STREAM_ID,
                description:
                  'A change-log id: the X-Change-Id of a write (kill, toggle, PUT, rollback), the ETag of /sdk/rules or an SSE event id. Default: the latest change.',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object(
            {
              changeId: Type.String(),
              changeAt: Type.String(),
              total: Type.Integer(),
              applied: Type.Integer(),
              pending: Type.Array(Type.String()),
              capped: Type.Boolean({
                description: 'SDK_MAX_SERVER_INSTANCES are tracked: instances beyond it are not listed',
              }),
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
                  appliedAt: Type.Optional(Type.String()),
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
          ),
          ...errorResponses(404),
        },
      },
    },
    async (req) => {
      authorize(req, 'read', req.params.env)
      await requireEnv(req.params.env)
      return sdkMetrics.status(req.params.env, req.query.changeId ?? (await app.store.lastChangeId(req.params.env)))
    },
  )
}

export default routes
