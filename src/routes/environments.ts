import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authorize } from '../auth.js'
import { RESERVED_ENV_KEYS } from '../services/environments.js'
import { BODY_ERRORS, Deleted, EnvParams, errorResponses, IfMatchHeaders } from '../schemas/common.js'
import {
  CreateEnvironmentBody,
  EnvironmentListSchema,
  EnvironmentSchema,
  environmentResponse,
  PatchEnvironmentBody,
  RotateSigningSecretBody,
  SigningSecretRotationSchema,
} from '../schemas/environment.js'
import type { Services } from '../services/index.js'
import { ifMatchVersion } from './flags.js'

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
          200: EnvironmentListSchema,
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
        body: CreateEnvironmentBody,
        response: {
          201: environmentResponse('Created, with its signing secret'),
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
        response: { 200: environmentResponse('The environment'), ...errorResponses(404) },
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
        body: PatchEnvironmentBody,
        response: {
          200: environmentResponse('Updated'),
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
        response: { 204: Deleted, ...errorResponses(404, 412) },
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
        body: RotateSigningSecretBody,
        response: {
          200: SigningSecretRotationSchema,
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
