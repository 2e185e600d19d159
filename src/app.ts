import { randomUUID } from 'node:crypto'
import type { Writable } from 'node:stream'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify'
import type { RedisClient } from './redis/connect.js'
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client'
import { deeperThan } from '../sdk/core/validate.js'
import { authenticate, authorize } from './auth.js'
import type { Config } from './config.js'
import { AppError, appError, type ErrorDetail, errorBody, sendError } from './errors.js'
import { clientErrorHandler, registerEdge, timeoutOptions } from './http/edge.js'
import { loggerOptions, OutageLog, quietProbes } from './http/logging.js'
import alertRoutes from './routes/alerts.js'
import auditRoutes from './routes/audit.js'
import environmentRoutes from './routes/environments.js'
import evaluateRoutes from './routes/evaluate.js'
import factRoutes from './routes/facts.js'
import flagRoutes from './routes/flags.js'
import healthRoutes from './routes/health.js'
import promoteRoutes from './routes/promote.js'
import sdkRoutes from './routes/sdk.js'
import segmentRoutes from './routes/segments.js'
import storeRoutes from './routes/store.js'
import tokenRoutes from './routes/tokens.js'
import whoamiRoutes from './routes/whoami.js'
import { defaultUiDir, registerUi } from './http/ui.js'
import planRoutes from './routes/plans.js'
import { ErrorSchema } from './schemas/common.js'
import { OPENAPI_DOCUMENT } from './schemas/openapi.js'
import { validatorCompiler } from './schemas/validator.js'
import { DiffService } from './services/diff.js'
import { buildServices, type Services } from './services/index.js'
import { RulesetService } from './services/ruleset.js'
import { SdkMetricsService } from './services/sdk-metrics.js'
import { StoreMonitor } from './store/marker.js'
import { Store } from './store/store.js'
import { StreamHub } from './stream/hub.js'
import { effectiveInstanceLimit, fdReserve } from './stream/limits.js'
import { streamMetrics } from './stream/metrics.js'

/** What the app is given rather than creating: tests pass their own. */
export interface AppDeps {
  redis: RedisClient
  registry?: Registry
  now?: () => Date
  /** The process's `ulimit -n` (server.ts reads it): streams are kept below it. Absent or null: not checked. */
  fdLimit?: number | null
  /** Where the log goes (default stdout). */
  logStream?: Writable
  /** The built admin page served at /ui/ (default dist/ui; tests build their own). */
  uiDir?: string
  /**
   * The clock of release plans' leases: `store` (Redis's TIME, the default without an injected `now`) or `now`
   * (the injected clock, the default with one, so tests expire leases by moving it).
   */
  leaseClock?: 'store' | 'now'
  /** What GET /metrics answers (WORKERS > 1: every worker's registry, aggregated by the primary); default `registry`'s. */
  metricsText?: () => Promise<string>
}

declare module 'fastify' {
  interface FastifyInstance {
    services: Services
    store: Store
  }
}

function isStoreDown(err: unknown, store: Store): boolean {
  if (!store.connected) return true
  const e = err as { name?: string; message?: string; code?: string }
  return (
    e?.name === 'MaxRetriesPerRequestError' ||
    e?.code === 'ECONNREFUSED' ||
    /Connection is closed|Stream isn't writeable|ECONNREFUSED|LOADING|READONLY|Command timed out/.test(e?.message ?? '')
  )
}

/** Paths that need a token: the REST API and OpenFeature's remote evaluation protocol (OFREP). */
const withToken = (url: string) => url.startsWith('/api/') || url.startsWith('/ofrep/')

/** A caller's X-Request-Id is kept only when it matches this (≤ 128 characters, no spaces or controls). */
const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/
/** Deepest JSON body accepted: above every documented value limit, far below what recursive code overflows on. */
const MAX_BODY_DEPTH = 128

/** Builds the app (no listen): plugins and routes in explicit order. */
export async function buildApp(config: Config, deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: loggerOptions(config, deps.logStream),
    ...timeoutOptions(config),
    clientErrorHandler: clientErrorHandler(config),
    bodyLimit: config.BODY_LIMIT_BYTES,
    trustProxy: config.TRUST_PROXY,
    // Request ids end up in audit records: the caller's X-Request-Id when short and plain
    // (so a caller cannot bloat or forge-format audit records), else a UUID, unique across instances.
    requestIdHeader: false,
    // Member ids (≤ 256 chars) travel in paths, URL-encoded.
    routerOptions: { maxParamLength: 1024 },
    // Errors raised before routing (bad URL encoding, over-long parameters) use the catalogue too.
    frameworkErrors: (err, _req, reply) => {
      void sendError(reply as FastifyReply, new AppError('VALIDATION_FAILED', [err.message]))
    },
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    // Through the factory, not setValidatorCompiler: plugins that add schemas rebuild
    // their validator from the factory and would silently fall back to Ajv.
    schemaController: { compilersFactory: { buildValidator: (() => validatorCompiler) as never } },
  }).withTypeProvider<TypeBoxTypeProvider>()

  const store = new Store(deps.redis, {
    changelogMaxLen: config.CHANGELOG_MAXLEN,
    auditMaxLen: config.AUDIT_MAXLEN,
    historyMaxVersions: config.HISTORY_MAX_VERSIONS,
  })
  const now = deps.now ?? (() => new Date())
  const services = buildServices(
    { store, now },
    {
      prometheusUrl: config.PROMETHEUS_URL,
      prometheusTimeoutMs: config.PROMETHEUS_TIMEOUT_MS,
      tickMs: config.PLAN_TICK_MS,
      leaseMs: config.PLAN_LEASE_MS,
      leaseClock: deps.now && deps.leaseClock !== 'store' ? () => now().getTime() : undefined,
      log: app.log,
      // Ticks start on ready, after `outage` below exists.
      storeOutage: (err) => {
        if (!isStoreDown(err, store)) return false
        outage.failed(err)
        return true
      },
    },
  )
  app.decorate('services', services)
  app.decorate('store', store)
  app.decorateRequest('token', null)
  app.decorateRequest('tokenRefusal', null)

  // Metrics: per-app registry so parallel tests never share one.
  const registry = deps.registry ?? new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'switchyard_' })
  // prom-client names three gauges `…_total`, a suffix Prometheus reserves for counters (`promtool check metrics`
  // fails on them); the per-type gauges of the same name without `_total` carry the same numbers (their sum).
  for (const m of ['handles', 'requests', 'resources'])
    registry.removeSingleMetric(`switchyard_nodejs_active_${m}_total`)
  const httpDuration = new Histogram({
    name: 'switchyard_http_request_duration_seconds',
    help: 'HTTP request duration by route template',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  })
  app.addHook('onResponse', async (req, reply) => {
    httpDuration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    )
  })

  quietProbes(app, config)
  const limits = await registerEdge(app, config, deps.redis)
  const outage = new OutageLog(store, app.log)
  app.addHook('onClose', async () => outage.stop())

  app.addSchema(ErrorSchema)
  await app.register(swagger, {
    openapi: OPENAPI_DOCUMENT,
    refResolver: {
      buildLocalReference: (json, _base, _frag, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })

  app.addHook('onRequest', async (req) => {
    if (withToken(req.url) && req.method !== 'OPTIONS') await authenticate(req, services.tokens)
  })
  // Everything under /api/ and /ofrep/ but CORS preflights needs a token: refused before any body is read, after
  // every onRequest hook (a browser route's CORS headers are on its 401 too).
  app.addHook('preParsing', async (req, reply, payload) => {
    if (req.raw.httpVersion === '1.1' && req.headers.host === undefined)
      throw new AppError('MALFORMED_REQUEST', ['a Host header is required'])
    if (withToken(req.url) && req.method !== 'OPTIONS') {
      if (!req.token) {
        await limits.authFailed(req, reply)
        throw appError(req.tokenRefusal ?? 'UNAUTHORIZED')
      }
      const perm = req.routeOptions.config.permission
      if (perm) authorize(req, perm, (req.params as { env?: string }).env)
      await limits.write(req, reply)
    }
    limits.accepted(req, reply)
    return payload
  })

  // An empty JSON body is no body: many clients send DELETE with Content-Type: application/json and nothing
  // else. And no route ever sees JSON nested deeper than MAX_BODY_DEPTH: serialisation and validation recurse.
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body: string, done) => {
    if (body === '') return done(null, undefined)
    parseJson(req, body, (err, value) => {
      if (err) return done(err, undefined)
      if (deeperThan(value, MAX_BODY_DEPTH)) {
        return done(
          new AppError(
            'VALIDATION_FAILED',
            [`the body is nested more than ${MAX_BODY_DEPTH} levels deep`],
            [{ path: 'body', message: `nested more than ${MAX_BODY_DEPTH} levels deep` }],
          ),
          undefined,
        )
      }
      done(null, value)
    })
  })

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof AppError) return sendError(reply, err)
    if (err.validation) {
      const details: ErrorDetail[] = err.validation.map((v) => ({
        path: `${err.validationContext ?? 'body'}${v.instancePath || ''}`,
        message: v.message ?? 'is invalid',
      }))
      const e = new AppError(
        'VALIDATION_FAILED',
        [
          details
            .slice(0, 3)
            .map((d) => `${d.path} ${d.message}`)
            .join('; '),
        ],
        details,
      )
      return sendError(reply, e)
    }
    const known: Record<string, AppError> = {
      FST_ERR_CTP_BODY_TOO_LARGE: new AppError('BODY_TOO_LARGE', [
        req.routeOptions.bodyLimit ?? config.BODY_LIMIT_BYTES,
      ]),
      FST_ERR_CTP_INVALID_MEDIA_TYPE: new AppError('UNSUPPORTED_MEDIA_TYPE', [String(req.headers['content-type'])]),
      FST_ERR_CTP_INVALID_CONTENT_LENGTH: new AppError('VALIDATION_FAILED', ['Content-Length does not match the body']),
      FST_ERR_CTP_EMPTY_JSON_BODY: new AppError('INVALID_JSON'),
      FST_ERR_CTP_INVALID_JSON_BODY: new AppError('INVALID_JSON'),
    }
    const mapped =
      known[err.code] ??
      (err instanceof SyntaxError && err.statusCode === 400 ? new AppError('INVALID_JSON') : undefined)
    if (mapped) return sendError(reply, mapped)
    // Redis at maxmemory (noeviction) refuses writes, also the first write inside a script (nothing applied).
    if (/^OOM /.test(err.message)) {
      req.log.warn({ err }, 'store full')
      return sendError(reply.header('retry-after', '1'), new AppError('STORE_FULL'))
    }
    if (isStoreDown(err, store)) {
      outage.failed(err)
      return sendError(reply.header('retry-after', '1'), new AppError('STORE_UNAVAILABLE'))
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      // A client error raised by Fastify itself that the catalogue does not name yet.
      return reply.code(err.statusCode).send(
        errorBody({
          statusCode: err.statusCode,
          code: 'VALIDATION_FAILED',
          message: err.message,
          details: undefined,
        }),
      )
    }
    req.log.error({ err }, 'unhandled error')
    return sendError(reply, new AppError('INTERNAL', [req.id]))
  })

  app.setNotFoundHandler((req, reply) => {
    return sendError(reply, new AppError('NOT_FOUND', [`${req.method} ${req.url.split('?')[0]}`]))
  })

  // Data loss watch: the bootstrap admin comes back at once, so operators can restore or re-initialise.
  const monitor = new StoreMonitor({
    redis: deps.redis,
    registry,
    checkMs: config.STORE_CHECK_MS,
    now: deps.now ?? (() => new Date()),
    log: app.log,
    ...(config.ADMIN_TOKEN && { onReset: async () => void (await services.tokens.bootstrap(config.ADMIN_TOKEN)) }),
  })
  monitor.start()
  app.addHook('onClose', async () => monitor.stop())
  await app.register(healthRoutes, {
    store,
    registry,
    monitor,
    readinessTimeoutMs: config.READINESS_TIMEOUT_MS,
    metricsToken: config.METRICS_TOKEN,
    ...(deps.metricsText && { metricsText: deps.metricsText }),
  })
  await app.register(storeRoutes, { monitor })
  await app.register(environmentRoutes, { services })
  await app.register(flagRoutes, { services })
  await app.register(segmentRoutes, { services, membersBodyLimit: config.MEMBERS_BODY_LIMIT_BYTES })
  await app.register(auditRoutes, { services })
  await app.register(tokenRoutes, { services })
  await app.register(whoamiRoutes)
  await app.register(planRoutes, { services })
  // Release plans run in every instance (leases in Redis decide which one runs each plan); stopped before Redis goes.
  app.addHook('onReady', async () => services.plans.run())
  app.addHook('onClose', async () => services.plans.close())
  await app.register(alertRoutes, { services })

  // Streaming: one hub per app (change-log readers, SSE fan-out); streams end before the HTTP server closes.
  const rulesets = new RulesetService(store)
  const fdLimit = deps.fdLimit ?? null
  const perInstance = effectiveInstanceLimit(config.STREAM_MAX_PER_INSTANCE, fdLimit)
  if (perInstance.clamped && fdLimit !== null) {
    app.log.warn(
      `STREAM_MAX_PER_INSTANCE=${config.STREAM_MAX_PER_INSTANCE} does not fit in the open-file limit (ulimit -n ${fdLimit}): at most ${perInstance.limit} streams, ${fdReserve(fdLimit)} descriptors kept for other requests; raise ulimit -n (LimitNOFILE, --ulimit nofile) to serve more`,
    )
  }
  const appNow = deps.now
  const hub = new StreamHub({
    limits: { perInstance: perInstance.limit, perToken: config.STREAM_MAX_PER_TOKEN, perIp: config.STREAM_MAX_PER_IP },
    store,
    rulesets,
    metrics: streamMetrics(registry),
    log: app.log,
    heartbeatMs: config.STREAM_HEARTBEAT_MS,
    maxBufferBytes: config.STREAM_MAX_BUFFER_BYTES,
    tokenRecheckMs: config.STREAM_TOKEN_RECHECK_MS,
    idleChannelMs: config.STREAM_IDLE_CHANNEL_MS,
    storeMonitor: monitor,
    // The app's clock in epoch milliseconds (Date.now itself when none was injected: no Date per call).
    now: appNow ? () => appNow().getTime() : Date.now,
  })
  hub.start()
  app.addHook('preClose', async () => hub.closeStreams())
  app.addHook('onClose', async () => hub.stop())
  const evaluations = new Counter({
    name: 'switchyard_sdk_evaluations_total',
    help: 'Flag evaluations reported by SDKs, by environment, flag and variation index',
    labelNames: ['env', 'flag', 'variation'] as const,
    registers: [registry],
  })
  const sdkMetrics = new SdkMetricsService(store, evaluations, deps.now ?? (() => new Date()), {
    maxServerInstances: config.SDK_MAX_SERVER_INSTANCES,
    maxClientInstances: config.SDK_MAX_CLIENT_INSTANCES,
    variationsOf: async (env) => {
      const state = await hub.current(env)
      return (flag) => state.flags.get(flag)?.values.length
    },
    untracked: new Counter({
      name: 'switchyard_sdk_reports_untracked_total',
      help: 'SDK reports of new instances not tracked because the environment already tracks SDK_MAX_SERVER_INSTANCES / SDK_MAX_CLIENT_INSTANCES, by kind (server, client)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    dropped: new Counter({
      name: 'switchyard_sdk_evaluations_dropped_total',
      help: 'Evaluations reported by SDKs for flags or variations the environment does not have (not counted by flag)',
      registers: [registry],
    }),
  })
  await app.register(sdkRoutes, { services, hub, sdkMetrics, config })
  await app.register(factRoutes, { services, sdkMetrics })
  await app.register(promoteRoutes, {
    services,
    diff: new DiffService(store, services.flags, services.segments, services.facts, sdkMetrics),
  })
  await app.register(evaluateRoutes, { hub })

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  await registerUi(app, deps.uiDir ?? defaultUiDir())
  return app
}
