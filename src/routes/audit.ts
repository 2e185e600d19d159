import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authorize } from '../auth.js'
import { AuditEntrySchema, AuditPageSchema, AuditQuerySchema } from '../schemas/audit.js'
import { errorResponses } from '../schemas/common.js'
import type { Services } from '../services/index.js'

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
        querystring: AuditQuerySchema,
        response: {
          200: AuditPageSchema,
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
      return services.audit.query(q)
    },
  )
}

export default routes
