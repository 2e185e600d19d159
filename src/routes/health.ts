import { createHash, timingSafeEqual } from 'node:crypto'
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RedisClient } from '../redis/connect.js'
import type { Registry } from 'prom-client'
import { AppError, type ErrorCode } from '../errors.js'
import { storeFull } from '../redis/check.js'
import { ErrorSchema } from '../schemas/common.js'
import type { StoreMonitor } from '../store/marker.js'

const digest = (s: string) => createHash('sha256').update(s).digest()

interface HealthOptions {
  redis: RedisClient
  registry: Registry
  monitor: StoreMonitor
  readinessTimeoutMs: number
  metricsToken?: string | undefined
}

/** Why the instance is not ready, or null; never waits on a stalled Redis longer than `timeoutMs`. */
async function notReady(redis: RedisClient, monitor: StoreMonitor, timeoutMs: number): Promise<ErrorCode | null> {
  if (redis.status !== 'ready') return 'STORE_UNAVAILABLE'
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<ErrorCode>((res) => {
    timer = setTimeout(() => res('STORE_UNAVAILABLE'), timeoutMs)
  })
  const checks = (async (): Promise<ErrorCode | null> => {
    if (await monitor.check()) return 'STORE_RESET'
    return (await storeFull(redis)) ? 'STORE_FULL' : null
  })().catch((): ErrorCode => 'STORE_UNAVAILABLE')
  try {
    return await Promise.race([checks, timeout])
  } finally {
    clearTimeout(timer)
  }
}

const routes: FastifyPluginAsyncTypebox<HealthOptions> = async (app, { redis, registry, monitor, readinessTimeoutMs, metricsToken }) => {
  const tags = ['operations']
  app.get('/healthz', {
    schema: { operationId: 'healthz', tags, security: [], description: 'The process is up (does not check Redis).', response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
  }, async () => ({ status: 'ok' as const }))

  app.get('/readyz', {
    schema: {
      operationId: 'readyz', tags, security: [],
      description: 'Ready to serve: Redis answers within READINESS_TIMEOUT_MS (else 503 STORE_UNAVAILABLE), still holds its data (else STORE_RESET) and is not full (else STORE_FULL).',
      response: { 200: Type.Object({ status: Type.Literal('ready') }), 503: Type.Ref(ErrorSchema) },
    },
  }, async (_req, reply) => {
    const code = await notReady(redis, monitor, readinessTimeoutMs)
    if (code === null) return { status: 'ready' as const }
    const e = new AppError(code)
    return reply.code(503).send({ statusCode: 503, code: e.code, message: e.message })
  })

  // Compared as digests: constant time whatever the length of what was sent.
  const wanted = metricsToken === undefined ? null : digest(`Bearer ${metricsToken}`)
  app.get('/metrics', {
    schema: {
      operationId: 'metrics', tags, security: [],
      description: 'Prometheus metrics (text format). When METRICS_TOKEN is set: `Authorization: Bearer <METRICS_TOKEN>` (else 401).',
      produces: ['text/plain'],
    },
  }, async (req, reply) => {
    if (wanted !== null && !timingSafeEqual(digest(req.headers.authorization ?? ''), wanted)) {
      reply.header('www-authenticate', 'Bearer')
      throw new AppError('UNAUTHORIZED')
    }
    reply.header('content-type', registry.contentType)
    return registry.metrics()
  })
}

export default routes
