import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { RedisClient } from '../redis/connect.js'
import type { Registry } from 'prom-client'
import { ErrorSchema } from '../schemas/common.js'

const routes: FastifyPluginAsyncTypebox<{ redis: RedisClient; registry: Registry }> = async (app, { redis, registry }) => {
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

  app.get('/metrics', {
    schema: { operationId: 'metrics', tags, security: [], description: 'Prometheus metrics (text format).', produces: ['text/plain'] },
  }, async (_req, reply) => {
    reply.header('content-type', registry.contentType)
    return registry.metrics()
  })
}

export default routes
