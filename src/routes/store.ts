import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authorize } from '../auth.js'
import { errorResponses } from '../schemas/common.js'
import { StoreInitialisedSchema } from '../schemas/operations.js'
import type { StoreMonitor } from '../store/marker.js'

const routes: FastifyPluginAsyncTypebox<{ monitor: StoreMonitor }> = async (app, { monitor }) => {
  app.post(
    '/api/v1/store/initialise',
    {
      schema: {
        operationId: 'initialiseStore',
        tags: ['operations'],
        summary: 'Accept a reset store',
        description:
          'After a STORE_RESET (Redis lost its data): accept the store as it is now and write a new instance marker, so readiness recovers. ' +
          'Streams of environments that no longer exist are then closed. Does nothing while the store is not reset.',
        response: {
          200: StoreInitialisedSchema,
          ...errorResponses(),
        },
      },
    },
    async (req) => {
      const actor = authorize(req, 'admin')
      if (!(await monitor.check())) return { status: 'ready' as const }
      await monitor.initialise()
      req.log.warn({ actor: actor.name, tokenId: actor.tokenId }, 'store re-initialised after STORE_RESET')
      return { status: 'initialised' as const }
    },
  )
}

export default routes
