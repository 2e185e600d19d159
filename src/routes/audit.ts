import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authorize } from '../auth.js'
import { etagOfBody } from '../http/etag.js'
import { AuditEntrySchema, AuditHeaders, AuditPageSchema, AuditQuerySchema } from '../schemas/audit.js'
import { errorResponses, NotModified } from '../schemas/common.js'
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
          'Audit records, newest first. Filters combine; pass `nextCursor` back as `cursor` for the next page. Without `env`: tokens that read every environment, and admins. ' +
          'ETag = a hash of the answer: with If-None-Match, an unchanged answer is 304 with no body (a poll of `limit=1` asks "has anything changed?" cheaply).',
        querystring: AuditQuerySchema,
        headers: AuditHeaders,
        response: {
          200: AuditPageSchema,
          304: NotModified,
          ...errorResponses(404),
        },
      },
      onSend: etagOfBody,
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
