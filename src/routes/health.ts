import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Registry } from 'prom-client'
import { AppError, type ErrorCode, sendError } from '../errors.js'
import { errorDescription, errorRef } from '../schemas/common.js'
import { documentedAs } from '../schemas/openapi.js'
import { LiveSchema, METRICS_TEXT, ReadySchema } from '../schemas/operations.js'
import type { StoreMonitor } from '../store/marker.js'
import type { Store } from '../store/store.js'

const digest = (s: string) => createHash('sha256').update(s).digest()

interface HealthOptions {
  store: Store
  registry: Registry
  monitor: StoreMonitor
  readinessTimeoutMs: number
  metricsToken?: string | undefined
  /** The text /metrics answers; default the registry's. */
  metricsText?: () => Promise<string>
}

/** Why the instance is not ready, or null; never waits on a stalled Redis longer than `timeoutMs`. */
async function notReady(store: Store, monitor: StoreMonitor, timeoutMs: number): Promise<ErrorCode | null> {
  if (!store.connected) return 'STORE_UNAVAILABLE'
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<ErrorCode>((res) => {
    timer = setTimeout(() => res('STORE_UNAVAILABLE'), timeoutMs)
  })
  const checks = (async (): Promise<ErrorCode | null> => {
    if (await monitor.check()) return 'STORE_RESET'
    return (await store.isFull()) ? 'STORE_FULL' : null
  })().catch((): ErrorCode => 'STORE_UNAVAILABLE')
  try {
    return await Promise.race([checks, timeout])
  } finally {
    clearTimeout(timer)
  }
}

const routes: FastifyPluginAsyncTypebox<HealthOptions> = async (
  app,
  { store, registry, monitor, readinessTimeoutMs, metricsToken, metricsText = () => registry.metrics() },
) => {
  const tags = ['operations']
  app.get(
    '/healthz',
    {
      schema: {
        operationId: 'healthz',
        tags,
        security: [],
        summary: 'Liveness',
        description: 'The process is up (does not check Redis): restart the instance when this fails.',
        response: {
          200: LiveSchema,
          400: errorRef(400),
        },
      },
    },
    async () => ({ status: 'ok' as const }),
  )

  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'readyz',
        tags,
        security: [],
        summary: 'Readiness',
        description:
          'Ready to serve: Redis answers within READINESS_TIMEOUT_MS (else 503 STORE_UNAVAILABLE), still holds its data (else STORE_RESET) and is not full (else STORE_FULL).',
        response: {
          200: ReadySchema,
          400: errorRef(400),
          503: errorRef(503),
        },
      },
    },
    async (_req, reply) => {
      const code = await notReady(store, monitor, readinessTimeoutMs)
      if (code === null) return { status: 'ready' as const }
      return sendError(reply, new AppError(code))
    },
  )

  // Compared as digests: constant time whatever the length of what was sent.
  const wanted = metricsToken === undefined ? null : digest(`Bearer ${metricsToken}`)
  app.get(
    '/metrics',
    {
      schema: {
        operationId: 'metrics',
        tags,
        security: [],
        summary: 'Prometheus metrics',
        description:
          'Prometheus metrics (text format). When METRICS_TOKEN is set: `Authorization: Bearer <METRICS_TOKEN>` (else 401).',
        produces: ['text/plain'],
      },
      // Documented only: the handler sends the registry's text itself; only the 401 is JSON.
      config: {
        swaggerTransform: documentedAs((schema) => ({
          ...schema,
          produces: [],
          response: {
            200: METRICS_TEXT,
            400: errorRef(400),
            401: errorRef(401, `${errorDescription(401)} (when METRICS_TOKEN is set)`),
          },
        })),
      },
    },
    async (req, reply) => {
      if (wanted !== null && !timingSafeEqual(digest(req.headers.authorization ?? ''), wanted)) {
        reply.header('www-authenticate', 'Bearer')
        throw new AppError('UNAUTHORIZED')
      }
      reply.header('content-type', registry.contentType)
      return metricsText()
    },
  )
}

export default routes
