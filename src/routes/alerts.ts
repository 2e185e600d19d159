import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authorize } from '../auth.js'
import { AlertNotificationBody, AlertResponseSchema } from '../schemas/alerts.js'
import { BODY_ERRORS, errorResponses } from '../schemas/common.js'
import type { Services } from '../services/index.js'
import type { TokenRecord } from '../services/tokens.js'

const routes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.post(
    '/api/v1/alerts',
    {
      schema: {
        operationId: 'receiveAlerts',
        tags: ['alerts'],
        summary: 'Receive an Alertmanager notification',
        description:
          "Alertmanager's webhook receiver (`webhook_configs`, payload version 4), for `alerts` tokens only. Each firing alert labelled `switchyard_env` and `switchyard_flag` does what the flag's `alertPolicy` says: `kill` (default) turns it off through the kill switch (audited with the alert's name, the token and the alert's summary), `halt` halts its release plan, `ignore` only records it; `switchyard_plan` (a flag key) asks for a halt. Resolved alerts are recorded, never acted on. Repeats write nothing. 200 lists the outcome of every alert, also the refused ones (an unknown flag: retrying would not help); 503 makes Alertmanager retry.",
        body: AlertNotificationBody,
        response: { 200: AlertResponseSchema, ...errorResponses(...BODY_ERRORS) },
      },
      config: { permission: 'alerts' },
    },
    async (req) => {
      authorize(req, 'alerts')
      // authorize() passed, so the token is there; its environments scope every alert.
      const token = req.token as TokenRecord
      return { results: await services.alerts.receive(req.body, token, req.id) }
    },
  )
}

export default routes
