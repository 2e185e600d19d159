import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { capabilities } from '../auth.js'
import { appError } from '../errors.js'
import { errorResponses } from '../schemas/common.js'
import { TOKEN_KINDS } from '../services/tokens.js'

const Envs = Type.Array(Type.String(), { description: 'Environment keys; `["*"]`: every environment' })

const WhoamiSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    kind: Type.Union(TOKEN_KINDS.map((k) => Type.Literal(k))),
    environments: Type.Array(Type.String()),
    can: Type.Object({
      read: Envs,
      write: Envs,
      define: Type.Boolean({
        description: 'May create and delete flags and change variations or clientSide (every environment)',
      }),
      admin: Type.Boolean({ description: 'May manage environments and tokens' }),
    }),
  },
  {
    description: 'The calling token (never its secret) and what it may do',
    examples: [
      {
        id: '3f9d2a71-5c4e-4b8a-9e06-1d2c3b4a5f60',
        name: 'release-team',
        kind: 'editor',
        environments: ['staging', 'production'],
        can: { read: ['staging', 'production'], write: ['staging', 'production'], define: false, admin: false },
      },
    ],
  },
)

/** GET /api/v1/whoami: the admin page (and scripts) ask what the token they hold may do. */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/v1/whoami',
    {
      schema: {
        operationId: 'whoami',
        tags: ['tokens'],
        summary: 'The calling token',
        description:
          'The token in `Authorization` (any kind) and what it may do: the environments it may read and write, whether it may define flags and administer. The admin page shows only what this allows; the API still checks every call.',
        response: { 200: WhoamiSchema, ...errorResponses() },
      },
    },
    async (req) => {
      const t = req.token
      if (!t) throw appError('UNAUTHORIZED')
      return { id: t.id, name: t.name, kind: t.kind, environments: t.environments, can: capabilities(t) }
    },
  )
}

export default routes
