import { createHash, timingSafeEqual } from 'node:crypto'
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RedisClient } from '../redis/connect.js'
import type { Registry } from 'prom-client'
import { AppError } from '../errors.js'
import { ErrorSchema } from '../schemas/common.js'

const digest = (s: string) => createHash('sha256').update(s).digest()

const routes: FastifyPluginAsyncTypebox<{ redis: RedisClient; registry: Registry; metricsToken?: string | undefined }> = async (app, { redis, registry, metricsToken }) => {
  const tags = ['operations']
  app.get('/healthz', {
    schema: { operationId: 'healthz', tags, security: [], description: 'The process is up (does not check Redis).', response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
  }, async () => ({ status: 'ok' as const }))

  app.get('/readyz', {
    schema: {
      operationId: 'readyz', tags, security: [], description: 'Ready to serve: Redis answers PING.',
      response: { 200: Type.Object({ status: Type.Literal('ready') }), 503: Type.Ref(ErrorSchema) },
    },
  }, async (_req, reply) => {
    try {
      if (redis.status !== 'ready') throw new Error(redis.status)
      await redis.ping()
      return { status: 'ready' as const }
    } catch {
      return reply.code(503).send({ statusCode: 503, code: 'STORE_UNAVAILABLE', message: 'The store (Redis) is unavailable; retry later' })
    }
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
