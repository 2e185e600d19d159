import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authorize } from '../auth.js'
import { BODY_ERRORS, errorResponses } from '../schemas/common.js'
import {
  CreatedTokenSchema,
  CreateTokenBody,
  Revoked,
  TokenIdParams,
  TokenListSchema,
  TokenResponse,
  TokenSchema,
} from '../schemas/token.js'
import type { Services } from '../services/index.js'

const routes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.addSchema(TokenSchema)
  const tags = ['tokens']

  app.get(
    '/api/v1/tokens',
    {
      schema: {
        operationId: 'listTokens',
        tags,
        summary: 'List tokens',
        description: 'Every token (admin), oldest first.',
        response: {
          200: TokenListSchema,
          ...errorResponses(),
        },
      },
    },
    async (req) => {
      authorize(req, 'admin')
      return { items: await services.tokens.list() }
    },
  )

  app.post(
    '/api/v1/tokens',
    {
      schema: {
        operationId: 'createToken',
        tags,
        summary: 'Create a token',
        description:
          'Creates a token (admin). The secret is in this response only; Switchyard stores its SHA-256. SDK tokens belong to exactly one environment; admin tokens to all.',
        body: CreateTokenBody,
        response: {
          201: CreatedTokenSchema,
          ...errorResponses(...BODY_ERRORS),
        },
      },
    },
    async (req, reply) => {
      const actor = authorize(req, 'admin')
      return reply.code(201).send(await services.tokens.create(req.body, actor))
    },
  )

  app.get(
    '/api/v1/tokens/:id',
    {
      schema: {
        operationId: 'getToken',
        tags,
        params: TokenIdParams,
        summary: 'Get a token',
        description: 'One token (admin), never its secret.',
        response: { 200: TokenResponse, ...errorResponses(404) },
      },
    },
    async (req) => {
      authorize(req, 'admin')
      return services.tokens.get(req.params.id)
    },
  )

  app.delete(
    '/api/v1/tokens/:id',
    {
      schema: {
        operationId: 'revokeToken',
        tags,
        params: TokenIdParams,
        summary: 'Revoke a token',
        description:
          'Revokes a token (admin): refused at once; its open SDK streams end within STREAM_TOKEN_RECHECK_MS.',
        response: { 204: Revoked, ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      const actor = authorize(req, 'admin')
      await services.tokens.revoke(req.params.id, actor)
      return reply.code(204).send(null)
    },
  )
}

export default routes
