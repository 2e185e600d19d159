import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authorize } from '../auth.js'
import { RESERVED_ENV_KEYS } from '../services/environments.js'
import { BODY_ERRORS, EnvParams, errorResponses, IfMatchHeaders, Key } from '../schemas/common.js'
import type { Services } from '../services/index.js'
import { ifMatchVersion } from './flags.js'

const EnvironmentSchema = Type.Object(
  {
    key: Key,
    name: Type.String(),
    description: Type.Optional(Type.String()),
    requireSignedContext: Type.Boolean(),
    createdAt: Type.String(),
    version: Type.Integer({ description: 'Also the ETag; PATCH and DELETE check If-Match against it when given' }),
    signingSecret: Type.Optional(
      Type.String({ description: 'HMAC-SHA256 key for signing browser contexts (admin only)' }),
    ),
  },
  {
    $id: 'Environment',
    description: 'An environment',
    examples: [
      {
        key: 'production',
        name: 'Production',
        description: 'Live traffic',
        requireSignedContext: false,
        createdAt: '2026-11-30T09:00:00.000Z',
        version: 2,
      },
    ],
  },
)

/** Longest grace period of a signing-secret rotation: 30 days. */
const MAX_GRACE_SECONDS = 30 * 24 * 3600

const fields = {
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  description: Type.Optional(Type.String({ maxLength: 4000 })),
  requireSignedContext: Type.Optional(Type.Boolean()),
}

const routes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.addSchema(EnvironmentSchema)
  const tags = ['environments']

  app.get(
    '/api/v1/environments',
    {
      schema: {
        operationId: 'listEnvironments',
        tags,
        summary: 'List environments',
        description: 'The environments the token may read (all of them for a token scoped to "*").',
        response: {
          200: Type.Object(
            { items: Type.Array(Type.Ref(EnvironmentSchema)) },
            {
              description: 'The environments',
              examples: [
                {
                  items: [
                    {
                      key: 'production',
                      name: 'Production',
                      description: 'Live traffic',
                      requireSignedContext: false,
                      createdAt: '2026-11-30T09:00:00.000Z',
                      version: 2,
                    },
                  ],
                },
              ],
            },
          ),
          ...errorResponses(),
        },
      },
    },
    async (req) => {
      authorize(req, 'read')
      const all = await services.environments.list()
      const scope = req.token?.environments ?? []
      return { items: scope.includes('*') ? all : all.filter((e) => scope.includes(e.key)) }
    },
  )

  app.post(
    '/api/v1/environments',
    {
      schema: {
        operationId: 'createEnvironment',
        tags,
        summary: 'Create an environment',
        body: Type.Object(
          { key: Key, ...fields },
          { additionalProperties: false, examples: [{ key: 'staging', name: 'Staging', requireSignedContext: true }] },
        ),
        response: {
          201: Type.Ref(EnvironmentSchema, { description: 'Created, with its signing secret' }),
          ...errorResponses(409, ...BODY_ERRORS),
        },
        description: `Admin. Every existing flag is written into it, off. Keys ${[...RESERVED_ENV_KEYS].map((k) => `"${k}"`).join(', ')} are reserved (400 RESERVED_NAME).`,
      },
    },
    async (req, reply) => {
      const actor = authorize(req, 'admin')
      const env = await services.environments.create(req.body, actor)
      return reply.code(201).send({ ...env, signingSecret: await services.environments.signingSecret(env.key) })
    },
  )

  app.get(
    '/api/v1/environments/:env',
    {
      schema: {
        operationId: 'getEnvironment',
        tags,
        params: EnvParams,
        summary: 'Get an environment',
        description: 'The environment; `ETag` = its version. Admin tokens also get the signing secret.',
        response: { 200: Type.Ref(EnvironmentSchema, { description: 'The environment' }), ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      authorize(req, 'read', req.params.env)
      const env = await services.environments.get(req.params.env)
      reply.header('etag', `"${env.version}"`)
      if (req.token?.kind !== 'admin') return env
      return { ...env, signingSecret: await services.environments.signingSecret(env.key) }
    },
  )

  app.patch(
    '/api/v1/environments/:env',
    {
      schema: {
        operationId: 'updateEnvironment',
        tags,
        params: EnvParams,
        headers: IfMatchHeaders,
        summary: 'Update an environment',
        description: 'Admin. Changes the given fields; If-Match optional (412 when stale).',
        body: Type.Object(fields, {
          additionalProperties: false,
          minProperties: 1,
          examples: [{ requireSignedContext: true }],
        }),
        response: {
          200: Type.Ref(EnvironmentSchema, { description: 'Updated' }),
          ...errorResponses(404, 409, 412, ...BODY_ERRORS),
        },
      },
    },
    async (req, reply) => {
      const actor = authorize(req, 'admin')
      const env = await services.environments.update(req.params.env, req.body, actor, ifMatchVersion(req, false))
      return reply.header('etag', `"${env.version}"`).send(env)
    },
  )

  app.delete(
    '/api/v1/environments/:env',
    {
      schema: {
        operationId: 'deleteEnvironment',
        tags,
        params: EnvParams,
        headers: IfMatchHeaders,
        summary: 'Delete an environment',
        description:
          'Admin. Deletes the environment with its flag configurations and segments; its SDK streams end. If-Match optional (412 when stale).',
        response: { 204: Type.Null({ description: 'Deleted' }), ...errorResponses(404, 412) },
      },
    },
    async (req, reply) => {
      const actor = authorize(req, 'admin')
      await services.environments.remove(req.params.env, actor, ifMatchVersion(req, false))
      return reply.code(204).send(null)
    },
  )

  app.post(
    '/api/v1/environments/:env/signing-secret/rotate',
    {
      schema: {
        operationId: 'rotateSigningSecret',
        tags,
        summary: 'Rotate the signing secret',
        description:
          'Replaces the context-signing secret (admin). The old secret keeps verifying for `graceSeconds` (0: it stops at once, e.g. after a leak), ' +
          'so site backends can switch to the new one without refusals. Audited (without the secrets).',
        params: EnvParams,
        body: Type.Object(
          {
            graceSeconds: Type.Integer({
              minimum: 0,
              maximum: MAX_GRACE_SECONDS,
              description: `How long the previous secret still verifies (0 to ${MAX_GRACE_SECONDS} s)`,
            }),
          },
          { additionalProperties: false, examples: [{ graceSeconds: 3600 }] },
        ),
        response: {
          200: Type.Object(
            {
              signingSecret: Type.String({ description: 'The new secret' }),
              previousValidUntil: Type.Union([Type.String(), Type.Null()], {
                description: 'When the previous secret stops verifying; null: it already has',
              }),
            },
            {
              description: 'The new secret',
              examples: [
                {
                  signingSecret: 'mZ4n0qjR8vT2yXwKc7LbE1sUoP9dFhGaNiJ5kVtYr3A',
                  previousValidUntil: '2026-12-01T11:00:00.000Z',
                },
              ],
            },
          ),
          ...errorResponses(404, 409, ...BODY_ERRORS),
        },
      },
    },
    async (req) => {
      const actor = authorize(req, 'admin')
      return services.environments.rotateSigningSecret(req.params.env, req.body.graceSeconds, actor)
    },
  )
}

export default routes
