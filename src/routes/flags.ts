import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { authorize } from '../auth.js'
import { AppError, appError } from '../errors.js'
import {
  BODY_ERRORS,
  Deleted,
  EnvKeyParams,
  EnvParams,
  errorResponses,
  IfMatchHeaders,
  IfMatchRequiredDoc,
  IfMatchRequiredHeaders,
  KeyParams,
} from '../schemas/common.js'
import { documentedAs } from '../schemas/openapi.js'
import {
  CreateFlagBody,
  FlagConfigBody,
  FlagConfigListSchema,
  FlagConfigResponse,
  FlagConfigSchema,
  FlagDefinitionResponse,
  FlagDefinitionSchema,
  FlagHistoryEntrySchema,
  FlagHistoryPageSchema,
  FlagHistoryQuery,
  FlagListQuery,
  FlagListSchema,
  KillFlagBody,
  PatchFlagBody,
  RollbackFlagBody,
  SERVING_FIELDS,
  ToggleFlagBody,
} from '../schemas/flag.js'
import type { Services } from '../services/index.js'

/** Parses If-Match ("7", 7 or W/"7"); 428 when absent. */
export function ifMatchVersion(req: FastifyRequest, required: boolean): number | undefined {
  const h = req.headers['if-match']
  if (h === undefined) {
    if (required) throw appError('PRECONDITION_REQUIRED')
    return undefined
  }
  const m = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(String(h))
  if (!m)
    throw new AppError(
      'VALIDATION_FAILED',
      ['If-Match must be a version number such as "7"'],
      [{ path: 'headers/if-match', message: 'must be a version number' }],
    )
  return Number(m[1])
}

/** ETag = the new version; X-Change-Id = its change-log id (for /sdk-status: "has every SDK applied it?"). */
export function changed<R extends FastifyReply>(reply: R, version: number, changeId: string | null): R {
  reply.header('etag', `"${version}"`)
  if (changeId) reply.header('x-change-id', changeId)
  return reply
}

const routes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.addSchema(FlagDefinitionSchema)
  app.addSchema(FlagConfigSchema)
  app.addSchema(FlagHistoryEntrySchema)
  const tags = ['flags']
  const withEnv = <T extends object>(env: string, f: T) => ({ ...f, environment: env })

  app.get(
    '/api/v1/flags',
    {
      schema: {
        operationId: 'listFlags',
        tags,
        summary: 'List flag definitions',
        description: 'Every flag definition (global, the same in every environment), optionally only those with a tag.',
        querystring: FlagListQuery,
        response: {
          200: FlagListSchema,
          ...errorResponses(),
        },
      },
    },
    async (req) => {
      authorize(req, 'read')
      const all = await services.flags.listDefinitions()
      const tag = req.query.tag
      return { items: tag ? all.filter((f) => f.tags?.includes(tag)) : all }
    },
  )

  app.post(
    '/api/v1/flags',
    {
      schema: {
        operationId: 'createFlag',
        tags,
        summary: 'Create a flag',
        body: CreateFlagBody,
        response: { 201: FlagDefinitionResponse, ...errorResponses(409, ...BODY_ERRORS) },
        description:
          'Writes the flag, off, into every environment: admin or an editor scoped to "*". A boolean flag defaults to variations `[true, false]`.',
      },
    },
    async (req, reply) => {
      // Off is still served, and clientSide exposes the key to browsers: every environment changes.
      const actor = authorize(req, 'define')
      return reply.code(201).send(await services.flags.create(req.body, actor))
    },
  )

  app.get(
    '/api/v1/flags/:key',
    {
      schema: {
        operationId: 'getFlag',
        tags,
        params: KeyParams,
        summary: 'Get a flag definition',
        description: 'The definition; `ETag` = its version.',
        response: { 200: FlagDefinitionResponse, ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      authorize(req, 'read')
      const def = await services.flags.getDefinition(req.params.key)
      return reply.header('etag', `"${def.version}"`).send(def)
    },
  )

  app.patch(
    '/api/v1/flags/:key',
    {
      schema: {
        operationId: 'updateFlag',
        tags,
        params: KeyParams,
        body: PatchFlagBody,
        headers: IfMatchHeaders,
        summary: 'Update a flag definition',
        description:
          'Changes the given fields; If-Match optional (412 when stale). Metadata (name, description, tags, owner, temporary, removeBy): any editor. `variations` or `clientSide` change what every environment serves: admin or an editor scoped to "*".',
        response: { 200: FlagDefinitionResponse, ...errorResponses(404, 409, 412, ...BODY_ERRORS) },
      },
    },
    async (req, reply) => {
      const serving = SERVING_FIELDS.some((f) => req.body[f] !== undefined)
      const actor = authorize(req, serving ? 'define' : 'write')
      const def = await services.flags.patch(req.params.key, req.body, actor, ifMatchVersion(req, false))
      return reply.header('etag', `"${def.version}"`).send(def)
    },
  )

  app.delete(
    '/api/v1/flags/:key',
    {
      schema: {
        operationId: 'deleteFlag',
        tags,
        params: KeyParams,
        headers: IfMatchHeaders,
        summary: 'Delete a flag',
        description:
          'Deletes the flag in every environment: admin or an editor scoped to "*". 409 FLAG_IN_USE while other flags name it as a prerequisite. If-Match optional.',
        response: { 204: Deleted, ...errorResponses(404, 409, 412) },
      },
    },
    async (req, reply) => {
      const actor = authorize(req, 'define')
      await services.flags.remove(req.params.key, actor, ifMatchVersion(req, false))
      return reply.code(204).send(null)
    },
  )

  app.get(
    '/api/v1/environments/:env/flags',
    {
      schema: {
        operationId: 'listFlagConfigs',
        tags,
        summary: 'List flag configurations',
        description: 'The configuration of every flag in this environment.',
        params: EnvParams,
        response: {
          200: FlagConfigListSchema,
          ...errorResponses(404),
        },
      },
    },
    async (req) => {
      authorize(req, 'read', req.params.env)
      const all = await services.flags.listConfigs(req.params.env)
      return { items: all.map((f) => withEnv(req.params.env, f)) }
    },
  )

  app.get(
    '/api/v1/environments/:env/flags/:key',
    {
      schema: {
        operationId: 'getFlagConfig',
        tags,
        params: EnvKeyParams,
        summary: 'Get a flag configuration',
        description: 'The configuration in this environment; `ETag` = its version, the If-Match of the next PUT.',
        response: { 200: FlagConfigResponse, ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      authorize(req, 'read', req.params.env)
      const f = await services.flags.getConfig(req.params.env, req.params.key)
      const point = await services.plans.passedPoint(req.params.env, req.params.key)
      return reply
        .header('etag', `"${f.version}"`)
        .send({ ...withEnv(req.params.env, f), ...(point && { pointOfNoReturn: point }) })
    },
  )

  app.put(
    '/api/v1/environments/:env/flags/:key',
    {
      schema: {
        operationId: 'putFlagConfig',
        tags,
        params: EnvKeyParams,
        body: FlagConfigBody,
        summary: 'Replace a flag configuration',
        description:
          'Replaces the whole configuration (targets, rules, fallthrough, prerequisites, on/off; `requires` is kept when omitted). If-Match is required: 428 without, 412 when stale, so a read-modify-write never overwrites a change it did not see. ' +
          'Turning the flag on, or changing what it serves while on, where the environment’s facts do not meet `requires` is 409 FACTS_UNMET (each unmet requirement with its actual value) unless `force` with a reason.',
        // Optional to the validator so that its absence is 428 PRECONDITION_REQUIRED, not 400; documented as required below.
        headers: IfMatchRequiredHeaders,
        response: { 200: FlagConfigResponse, ...errorResponses(404, 409, 412, 428, ...BODY_ERRORS) },
      },
      config: {
        swaggerTransform: documentedAs((schema) => ({
          ...schema,
          headers: IfMatchRequiredDoc,
        })),
      },
    },
    async (req, reply) => {
      const actor = authorize(req, 'write', req.params.env)
      const version = ifMatchVersion(req, true) as number
      const { flag: f, changeId } = await services.flags.putConfig(
        req.params.env,
        req.params.key,
        req.body,
        version,
        actor,
      )
      return changed(reply, f.version, changeId).send(withEnv(req.params.env, f))
    },
  )

  app.post(
    '/api/v1/environments/:env/flags/:key/kill',
    {
      schema: {
        operationId: 'killFlag',
        tags,
        params: EnvKeyParams,
        summary: 'Kill a flag',
        description:
          'Turns the flag off in this environment in one call, whatever its current version: If-Match is ignored by design. Past a point of no return (a release plan step) it still does, and `notUndone` says what it does not restore.',
        body: KillFlagBody,
        response: { 200: FlagConfigResponse, ...errorResponses(404, 409, ...BODY_ERRORS) },
      },
    },
    async (req, reply) => {
      const actor = authorize(req, 'write', req.params.env)
      const { flag: f, changeId } = await services.flags.kill(req.params.env, req.params.key, req.body?.reason, actor)
      // Past a point of no return the kill still happens; the answer says what it cannot restore.
      const point = await services.plans.passedPoint(req.params.env, req.params.key)
      const notUndone = point && {
        pointOfNoReturn: point,
        notUndone: `The flag is off, but this does not undo: ${point.note} (point of no return passed at ${point.passedAt}, approved by ${point.approvedBy})${point.runbook ? `; runbook: ${point.runbook}` : ''}`,
      }
      return changed(reply, f.version, changeId).send({ ...withEnv(req.params.env, f), ...notUndone })
    },
  )

  app.post(
    '/api/v1/environments/:env/flags/:key/toggle',
    {
      schema: {
        operationId: 'toggleFlag',
        tags,
        params: EnvKeyParams,
        headers: IfMatchHeaders,
        summary: 'Turn a flag on or off',
        description:
          'Sets `on` and keeps the rest of the configuration; If-Match optional (412 when stale). Turning on a flag whose `requires` the environment’s facts do not meet is 409 FACTS_UNMET unless `force` (with a reason).',
        body: ToggleFlagBody,
        response: { 200: FlagConfigResponse, ...errorResponses(404, 409, 412, ...BODY_ERRORS) },
      },
    },
    async (req, reply) => {
      const actor = authorize(req, 'write', req.params.env)
      const { flag: f, changeId } = await services.flags.toggle(
        req.params.env,
        req.params.key,
        req.body.on,
        req.body.reason,
        actor,
        ifMatchVersion(req, false),
        { force: req.body.force === true },
      )
      return changed(reply, f.version, changeId).send(withEnv(req.params.env, f))
    },
  )

  app.get(
    '/api/v1/environments/:env/flags/:key/history',
    {
      schema: {
        operationId: 'flagHistory',
        tags,
        params: EnvKeyParams,
        summary: 'Flag history',
        description:
          'Every stored version of the configuration in this environment, newest first (HISTORY_MAX_VERSIONS kept).',
        querystring: FlagHistoryQuery,
        response: {
          200: FlagHistoryPageSchema,
          ...errorResponses(404),
        },
      },
    },
    async (req) => {
      authorize(req, 'read', req.params.env)
      return services.flags.history(req.params.env, req.params.key, {
        limit: req.query.limit,
        ...(req.query.cursor !== undefined && { before: Number(req.query.cursor) }),
      })
    },
  )

  app.post(
    '/api/v1/environments/:env/flags/:key/rollback',
    {
      schema: {
        operationId: 'rollbackFlag',
        tags,
        params: EnvKeyParams,
        headers: IfMatchHeaders,
        summary: 'Roll a flag back',
        description:
          'Restores the configuration of an earlier version as a new version (404 VERSION_NOT_FOUND when it is no longer stored); If-Match optional.',
        body: RollbackFlagBody,
        response: { 200: FlagConfigResponse, ...errorResponses(404, 409, 412, ...BODY_ERRORS) },
      },
    },
    async (req, reply) => {
      const actor = authorize(req, 'write', req.params.env)
      const { flag: f, changeId } = await services.flags.rollback(
        req.params.env,
        req.params.key,
        req.body.version,
        req.body.reason,
        actor,
        ifMatchVersion(req, false),
        { force: req.body.force === true },
      )
      return changed(reply, f.version, changeId).send(withEnv(req.params.env, f))
    },
  )
}

export default routes
