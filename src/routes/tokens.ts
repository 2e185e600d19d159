import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authorize } from '../auth.js'
import { BODY_ERRORS, errorResponses, Key } from '../schemas/common.js'
import type { Services } from '../services/index.js'
import { TOKEN_KINDS } from '../services/tokens.js'

const TokenSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    kind: Type.Union(TOKEN_KINDS.map((k) => Type.Literal(k))),
    environments: Type.Array(Type.String()),
    createdAt: Type.String(),
    createdBy: Type.String(),
  },
  {
    $id: 'Token',
    description: 'A token (never its secret)',
    examples: [
      {
        id: '3f9d2a71-5c4e-4b8a-9e06-1d2c3b4a5f60',
        name: 'checkout-service',
        kind: 'sdk-server',
        environments: ['production'],
        createdAt: '2026-11-30T09:10:00.000Z',
        createdBy: 'first admin',
      },
    ],
  },
)

const routes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.addSchema(TokenSchema)
  const tags = ['tokens']
  const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false })

  app.get(
    '/api/v1/tokens',
    {
      schema: {
        operationId: 'listTokens',
        tags,
        summary: 'List tokens',
        description: 'Every token (admin), oldest first.',
        response: {
          200: Type.Object({ items: Type.Array(Type.Ref(TokenSchema)) }, { description: 'The tokens' }),
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
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 128 }),
            kind: Type.Union(TOKEN_KINDS.map((k) => Type.Literal(k))),
            environments: Type.Optional(
              Type.Array(Type.Union([Key, Type.Literal('*')]), { minItems: 1, maxItems: 100 }),
            ),
          },
          {
            additionalProperties: false,
            examples: [{ name: 'checkout-service', kind: 'sdk-server', environments: ['production'] }],
          },
        ),
        response: {
          201: Type.Object(
            { token: Type.Ref(TokenSchema), secret: Type.String({ description: 'Shown once' }) },
            {
              description: 'Created: the secret, once',
              examples: [
                {
                  token: {
                    id: '3f9d2a71-5c4e-4b8a-9e06-1d2c3b4a5f60',
                    name: 'checkout-service',
                    kind: 'sdk-server',
                    environments: ['production'],
                    createdAt: '2026-11-30T09:10:00.000Z',
                    createdBy: 'first admin',
                  },
                  secret: 'sy_srv_Xq2v9LrT0bWmK4cN7pYs1eHd8uJf3gAiZo6lRkV5wE',
                },
              ],
            },
          ),
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
        params: IdParams,
        summary: 'Get a token',
        description: 'One token (admin), never its secret.',
        response: { 200: Type.Ref(TokenSchema, { description: 'The token' }), ...errorResponses(404) },
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
        params: IdParams,
        summary: 'Revoke a token',
        description:
          'Revokes a token (admin): refused at once; its open SDK streams end within STREAM_TOKEN_RECHECK_MS.',
        response: { 204: Type.Null({ description: 'Revoked' }), ...errorResponses(404) },
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
