import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authorize } from '../auth.js'
import { errorResponses, Key } from '../schemas/common.js'
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
  { $id: 'Token' },
)

const routes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.addSchema(TokenSchema)
  const tags = ['tokens']
  const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false })

  app.get('/api/v1/tokens', {
    schema: { operationId: 'listTokens', tags, response: { 200: Type.Object({ items: Type.Array(Type.Ref(TokenSchema)) }), ...errorResponses() } },
  }, async (req) => {
    authorize(req, 'admin')
    return { items: await services.tokens.list() }
  })

  app.post('/api/v1/tokens', {
    schema: {
      operationId: 'createToken', tags,
      description: 'Creates a token. The secret is in this response only; Switchyard stores its SHA-256.',
      body: Type.Object({
        name: Type.String({ minLength: 1, maxLength: 128 }),
        kind: Type.Union(TOKEN_KINDS.map((k) => Type.Literal(k))),
        environments: Type.Optional(Type.Array(Type.Union([Key, Type.Literal('*')]), { minItems: 1, maxItems: 100 })),
      }, { additionalProperties: false }),
      response: { 201: Type.Object({ token: Type.Ref(TokenSchema), secret: Type.String() }), ...errorResponses() },
    },
  }, async (req, reply) => {
    const actor = authorize(req, 'admin')
    return reply.code(201).send(await services.tokens.create(req.body, actor))
  })

  app.get('/api/v1/tokens/:id', {
    schema: { operationId: 'getToken', tags, params: IdParams, response: { 200: Type.Ref(TokenSchema), ...errorResponses(404) } },
  }, async (req) => {
    authorize(req, 'admin')
    return services.tokens.get(req.params.id)
  })

  app.delete('/api/v1/tokens/:id', {
    schema: { operationId: 'revokeToken', tags, params: IdParams, response: { 204: Type.Null(), ...errorResponses(404) } },
  }, async (req, reply) => {
    const actor = authorize(req, 'admin')
    await services.tokens.revoke(req.params.id, actor)
    return reply.code(204).send(null)
  })
}

export default routes
