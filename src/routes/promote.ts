import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import { authorize } from '../auth.js'
import { BODY_ERRORS, EnvKeyParams, errorResponses, Key } from '../schemas/common.js'
import { FlagConfigSchema } from '../schemas/flag.js'
import { documentedAs } from '../schemas/openapi.js'
import { EnvironmentDiffSchema, PromoteBody } from '../schemas/promote.js'
import type { DiffService } from '../services/diff.js'
import type { Services } from '../services/index.js'
import { changed, ifMatchVersion } from './flags.js'

/** Environments that cannot silently differ: the diff of two environments, and promote from one to another. */
const routes: FastifyPluginAsyncTypebox<{ services: Services; diff: DiffService }> = async (
  app,
  { services, diff },
) => {
  // Route plugins are encapsulated: the configuration schema is registered here too.
  app.addSchema(FlagConfigSchema)
  const tags = ['environments']

  app.get(
    '/api/v1/environments/:env/diff/:other',
    {
      schema: {
        operationId: 'diffEnvironments',
        tags,
        params: Type.Object({ env: Key, other: Key }, { additionalProperties: false }),
        summary: 'Difference between two environments',
        description:
          'What differs from `env` to `other`: every flag configuration (or one, `flag`), the segments (all, or those the flag uses: metadata, member counts, ' +
          'a sample of ids on one side only from a bounded scan), the facts, and the applications connected to each. Read access to both.',
        querystring: Type.Object(
          {
            flag: Type.Optional(Key),
            sample: Type.Integer({
              minimum: 0,
              maximum: 100,
              default: 10,
              description: 'Ids quoted per one-sided list',
            }),
          },
          { additionalProperties: false },
        ),
        response: { 200: EnvironmentDiffSchema, ...errorResponses(404) },
      },
    },
    async (req) => {
      authorize(req, 'read', req.params.env)
      authorize(req, 'read', req.params.other)
      return diff.diff(req.params.env, req.params.other, {
        sample: req.query.sample,
        ...(req.query.flag !== undefined && { flag: req.query.flag }),
      })
    },
  )

  app.post(
    '/api/v1/environments/:env/flags/:key/promote',
    {
      schema: {
        operationId: 'promoteFlag',
        tags: ['flags'],
        params: EnvKeyParams,
        body: PromoteBody,
        summary: 'Promote a flag from another environment',
        description:
          "Copies the flag's configuration (or `parts` of it) from `from` into this environment as one atomic write, audited with the source and its version. " +
          'If-Match (this environment’s version) is required. Segments the result uses must exist here (409 SEGMENTS_MISSING lists them) unless `copySegments`. ' +
          'Where the result is on and serves anew, the facts here must meet `requires` (409 FACTS_UNMET) and the required and drift-marked facts must be the same in both ' +
          'environments (409 FACTS_DRIFT), unless `force` with a reason.',
        headers: Type.Object({
          'if-match': Type.Optional(Type.String({ description: 'Current version here, e.g. "7"' })),
        }),
        response: {
          200: Type.Ref(FlagConfigSchema, {
            description: 'The promoted configuration; `ETag` = its version, `X-Change-Id` = the change-log id',
          }),
          ...errorResponses(404, 409, 412, 428, ...BODY_ERRORS),
        },
      },
      config: {
        swaggerTransform: documentedAs((schema) => ({
          ...schema,
          headers: Type.Object({
            'if-match': Type.String({
              description:
                'This environment\'s version of the flag (the ETag of GET), e.g. "3"; 428 without, 412 when stale',
              examples: ['"1"'],
            }),
          }),
        })),
      },
    },
    async (req, reply) => {
      const actor = authorize(req, 'write', req.params.env)
      authorize(req, 'read', req.body.from)
      const version = ifMatchVersion(req, true) as number
      const r = await services.promote.promote(req.params.env, req.params.key, req.body, version, actor)
      if (r.segmentsCopied.length > 0) reply.header('x-segments-copied', r.segmentsCopied.join(','))
      return changed(reply, r.flag.version, r.changeId).send({ ...r.flag, environment: req.params.env })
    },
  )
}

export default routes
