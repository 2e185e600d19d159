import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authorize } from '../auth.js'
import { errorResponses, Key, Page } from '../schemas/common.js'
import type { Services } from '../services/index.js'

const AuditEntrySchema = Type.Object(
  {
    id: Type.String({ description: 'Stream id; also the paging cursor' }),
    at: Type.String(),
    actor: Type.String(),
    actorTokenId: Type.String(),
    action: Type.String(),
    env: Type.Union([Type.String(), Type.Null()]),
    target: Type.Object({ type: Type.String(), key: Type.String() }),
    fromVersion: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
    toVersion: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
    reason: Type.Optional(Type.String()),
    requestId: Type.Optional(Type.String()),
    details: Type.Optional(Type.Unknown()),
  },
  {
    $id: 'AuditEntry',
    description: 'One audit record',
    examples: [
      {
        id: '1764570612000-0',
        at: '2026-12-01T06:30:12.000Z',
        actor: 'on-call',
        actorTokenId: '3f9d2a71-5c4e-4b8a-9e06-1d2c3b4a5f60',
        action: 'flag.kill',
        env: 'production',
        target: { type: 'flag', key: 'new-checkout' },
        fromVersion: 2,
        toVersion: 3,
        reason: 'orders table locks at 06:30',
        requestId: 'b6f1c2d4-3e5a-4f60-9a7b-8c9d0e1f2a3b',
      },
    ],
  },
)

const routes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.addSchema(AuditEntrySchema)
  app.get(
    '/api/v1/audit',
    {
      schema: {
        operationId: 'queryAudit',
        tags: ['audit'],
        summary: 'Query the audit log',
        description:
          'Audit records, newest first. Filters combine; pass `nextCursor` back as `cursor` for the next page. Without `env`: tokens that read every environment, and admins.',
        querystring: Type.Object(
          {
            env: Type.Optional(Key),
            flag: Type.Optional(Key),
            since: Type.Optional(Type.String({ maxLength: 64, description: 'ISO 8601 time or audit id' })),
            cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,20}-[0-9]{1,20}$' })),
            limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Page(Type.Ref(AuditEntrySchema), { description: 'A page of records' }),
          ...errorResponses(404),
        },
      },
    },
    async (req) => {
      const q = req.query
      const scope = req.token?.environments ?? []
      if (q.env) authorize(req, 'read', q.env)
      else {
        authorize(req, 'read')
        // Without env, only tokens that may read every environment see everything.
        if (!scope.includes('*')) authorize(req, 'admin')
      }
      return services.audit.query({
        limit: q.limit,
        ...(q.env !== undefined && { env: q.env }),
        ...(q.flag !== undefined && { flag: q.flag }),
        ...(q.since !== undefined && { since: q.since }),
        ...(q.cursor !== undefined && { cursor: q.cursor }),
      })
    },
  )
}

export default routes
