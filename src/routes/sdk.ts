import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import fastifyCors, { type FastifyCorsOptions } from '@fastify/cors'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { authorize, sdkEnv } from '../auth.js'
import type { Config } from '../config.js'
import { Accepted, BODY_ERRORS, EnvParams, errorResponses, NotModified } from '../schemas/common.js'
import { documentedAs, eventStream } from '../schemas/openapi.js'
import {
  ClientQuery,
  ClientValuesSchema,
  EventStreamText,
  IfNoneMatchHeaders,
  LastEventIdHeaders,
  RulesSchema,
  RulesStreamQuery,
  SdkReportBody,
  SdkStatusQuery,
  SdkStatusSchema,
} from '../schemas/sdk.js'
import type { Services } from '../services/index.js'
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
        querystring: RulesStreamQuery,
        produces: ['text/event-stream'],
        response: { 200: EventStreamText, ...errorResponses(404, 429) },
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
          200: RulesSchema,
          304: NotModified,
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
        response: { 200: EventStreamText, ...errorResponses(404, 429) },
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
          200: ClientValuesSchema,
          304: NotModified,
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
        body: SdkReportBody,
        response: { 202: Accepted, ...errorResponses(429, ...BODY_ERRORS) },
      },
    },
    async (req, reply) => {
      const { env, token } = sdkEnv(req, ['sdk-server', 'sdk-client'])
      await requireEnv(env)
      const { application, runtime, facts, ...rest } = req.body
      const server = token.kind === 'sdk-server'
      await sdkMetrics.report(
        env,
        server ? 'server' : 'client',
        {
          ...rest,
          // Only server SDKs describe applications: a browser's token is public, anyone could claim to be any app.
          ...(server && {
            ...(application !== undefined && { application }),
            ...(runtime !== undefined && { runtime }),
            ...(facts !== undefined && { facts }),
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
        querystring: SdkStatusQuery,
        response: {
          200: SdkStatusSchema,
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
