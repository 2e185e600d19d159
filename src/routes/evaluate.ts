import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { evaluateAll, evaluateDetail } from '../../sdk/core/index.js'
import type { EvaluationDetail } from '../../sdk/core/types.js'
import { authorize } from '../auth.js'
import { BODY_ERRORS, EnvParams, errorResponses, Key } from '../schemas/common.js'
import { checkContext } from '../stream/client-context.js'
import type { StreamHub } from '../stream/hub.js'

const Detail = Type.Object({
  value: Type.Unknown(),
  variation: Type.Union([Type.Integer(), Type.Null()]),
  reason: Type.Object({
    kind: Type.String({ description: 'OFF, TARGET_MATCH, RULE_MATCH, PREREQUISITE_FAILED, FALLTHROUGH or ERROR' }),
    ruleId: Type.Optional(Type.String()),
    prerequisiteKey: Type.Optional(Type.String()),
    inRollout: Type.Optional(Type.Boolean()),
    errorKind: Type.Optional(Type.String()),
  }),
})

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
        body: Type.Object(
          {
            context: Type.Unknown({ description: 'The context: { key, ...attributes } (≤ 8 KB)' }),
            flags: Type.Optional(Type.Array(Key, { maxItems: 1000 })),
          },
          {
            additionalProperties: false,
            required: ['context'],
            examples: [{ context: { key: 'user-17', country: 'DE', plan: 'pro' }, flags: ['new-checkout'] }],
          },
        ),
        response: {
          200: Type.Object(
            { flags: Type.Record(Type.String(), Detail) },
            {
              description: 'Value, variation and reason of each flag',
              examples: [
                {
                  flags: {
                    'new-checkout': { value: true, variation: 0, reason: { kind: 'RULE_MATCH', ruleId: 'beta' } },
                  },
                },
              ],
            },
          ),
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
