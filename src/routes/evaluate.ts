import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { evaluateAll, evaluateDetail } from '../../sdk/core/index.js'
import type { EvaluationDetail } from '../../sdk/core/types.js'
import { authorize } from '../auth.js'
import { BODY_ERRORS, EnvParams, errorResponses } from '../schemas/common.js'
import { EvaluateBody, EvaluationsSchema } from '../schemas/evaluate.js'
import { checkContext } from '../stream/client-context.js'
import type { StreamHub } from '../stream/hub.js'

/** "Why does this user see X?": the engine's answers, with reasons, for one context. */
const routes: FastifyPluginAsyncTypebox<{ hub: StreamHub }> = async (app, { hub }) => {
  app.post(
    '/api/v1/environments/:env/evaluate',
    {
      schema: {
        operationId: 'evaluate',
        tags: ['evaluate'],
        summary: 'Evaluate flags for a context',
        description:
          'Evaluates every flag of the environment (or the listed ones) for a context with the SDK engine. Unknown listed flags answer ERROR/FLAG_NOT_FOUND. Admin, editor, viewer and sdk-server tokens.',
        params: EnvParams,
        body: EvaluateBody,
        response: {
          200: EvaluationsSchema,
          ...errorResponses(404, ...BODY_ERRORS),
        },
      },
    },
    async (req) => {
      const { env } = req.params
      authorize(req, 'evaluate', env)
      const context = checkContext(req.body.context)
      await app.store.requireEnv(env)
      const { state } = await hub.compiled(env)
      if (req.body.flags === undefined) return { flags: evaluateAll(state, context) }
      const flags: Record<string, EvaluationDetail> = {}
      for (const key of req.body.flags) flags[key] = evaluateDetail(state, key, context, null)
      return { flags }
    },
  )
}

export default routes
