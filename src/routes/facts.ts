import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import { authorize } from '../auth.js'
import { BODY_ERRORS, EnvParams, errorResponses, IfMatchHeaders, KEY_PATTERN } from '../schemas/common.js'
import { FactHistorySchema, FactSchema, FactsViewSchema, SetFactsBody } from '../schemas/facts.js'
import { ApplicationsSchema } from '../schemas/promote.js'
import type { Services } from '../services/index.js'
import type { SdkMetricsService } from '../services/sdk-metrics.js'
import { ifMatchVersion } from './flags.js'

/** An environment's facts (read, record, history) and the applications connected to it. */
const routes: FastifyPluginAsyncTypebox<{ services: Services; sdkMetrics: SdkMetricsService }> = async (
  app,
  { services, sdkMetrics },
) => {
  app.addSchema(FactSchema)
  app.addSchema(FactsViewSchema)
  const tags = ['environments']
  const factsRef = Type.Ref(FactsViewSchema, { description: "The environment's facts; `ETag` = their version" })

  app.get(
    '/api/v1/environments/:env/facts',
    {
      schema: {
        operationId: 'getFacts',
        tags,
        params: EnvParams,
        summary: "An environment's facts",
        description:
          'The named, typed values recorded for this environment (indexes, migrations, versions, checksums): admin, editor, viewer or facts tokens of the environment. `ETag` = their version.',
        response: { 200: factsRef, ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      authorize(req, 'facts-read', req.params.env)
      const v = await services.facts.get(req.params.env)
      return reply.header('etag', `"${v.version}"`).send(v)
    },
  )

  app.post(
    '/api/v1/environments/:env/facts',
    {
      schema: {
        operationId: 'setFacts',
        tags,
        params: EnvParams,
        headers: IfMatchHeaders,
        body: SetFactsBody,
        summary: 'Record facts',
        description:
          'Sets and unsets facts in one atomic, audited write (+1 to the version, one history entry); values already recorded change nothing. ' +
          'The type of a fact is that of its first value (string, number, boolean, list of strings); another type is 409 FACT_TYPE_MISMATCH. ' +
          'admin, editor or a `facts` token (a deploy pipeline that may not change flags). If-Match optional (412 when stale).',
        response: {
          200: Type.Object(
            {
              environment: Type.String(),
              version: Type.Integer(),
              facts: Type.Array(Type.Ref(FactSchema)),
              changed: Type.Array(Type.String(), { description: 'Facts this write changed' }),
            },
            {
              description: 'The facts after the write',
              examples: [
                {
                  environment: 'production',
                  version: 1,
                  facts: [
                    {
                      name: 'app.framework',
                      type: 'string',
                      value: '5.3.1',
                      drift: false,
                      version: 1,
                      updatedAt: '2026-12-01T05:41:00.000Z',
                      updatedBy: 'deploy-pipeline',
                    },
                  ],
                  changed: ['app.framework'],
                },
              ],
            },
          ),
          ...errorResponses(404, 409, 412, ...BODY_ERRORS),
        },
      },
    },
    async (req, reply) => {
      const actor = authorize(req, 'facts-write', req.params.env)
      const v = await services.facts.set(req.params.env, req.body, actor, ifMatchVersion(req, false))
      return reply.header('etag', `"${v.version}"`).send(v)
    },
  )

  app.get(
    '/api/v1/environments/:env/facts/history',
    {
      schema: {
        operationId: 'factHistory',
        tags,
        params: EnvParams,
        summary: 'Fact history',
        description:
          "Every write of the environment's facts, newest first, with each fact's old and new value; `fact` keeps one fact's changes.",
        querystring: Type.Object(
          {
            fact: Type.Optional(Type.String({ pattern: KEY_PATTERN, maxLength: 128 })),
            cursor: Type.Optional(
              Type.String({ pattern: '^[0-9]{1,20}-[0-9]{1,20}$', description: 'Entries older than this id' }),
            ),
            limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: FactHistorySchema, ...errorResponses(404) },
      },
    },
    async (req) => {
      authorize(req, 'facts-read', req.params.env)
      return services.facts.history(req.params.env, {
        limit: req.query.limit,
        ...(req.query.cursor !== undefined && { before: req.query.cursor }),
        ...(req.query.fact !== undefined && { fact: req.query.fact }),
      })
    },
  )

  app.get(
    '/api/v1/environments/:env/applications',
    {
      schema: {
        operationId: 'listApplications',
        tags,
        params: EnvParams,
        summary: 'Connected applications',
        description:
          'Which versions of which applications are connected to this environment: server SDKs that reported in the last 10 minutes, grouped by the `application` (name, version) given to createClient, with their runtimes and facts.',
        response: { 200: ApplicationsSchema, ...errorResponses(404) },
      },
    },
    async (req) => {
      authorize(req, 'read', req.params.env)
      await app.store.requireEnv(req.params.env)
      return { environment: req.params.env, ...(await sdkMetrics.applications(req.params.env)) }
    },
  )
}

export default routes
