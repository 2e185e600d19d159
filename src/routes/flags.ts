import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { authorize } from '../auth.js'
import { AppError, appError } from '../errors.js'
import { EnvKeyParams, errorResponses, IfMatchHeaders, KeyParams, Page, Reason } from '../schemas/common.js'
import {
  CreateFlagBody, FlagConfigBody, FlagConfigSchema, FlagDefinitionSchema, FlagHistoryEntrySchema, PatchFlagBody, SERVING_FIELDS,
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
  if (!m) throw new AppError('VALIDATION_FAILED', ['If-Match must be a version number such as "7"'], [{ path: 'headers/if-match', message: 'must be a version number' }])
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
  const flagRef = Type.Ref(FlagDefinitionSchema)
  const configRef = Type.Ref(FlagConfigSchema)
  const withEnv = <T extends object>(env: string, f: T) => ({ ...f, environment: env })

  app.get('/api/v1/flags', {
    schema: {
      operationId: 'listFlags', tags,
      querystring: Type.Object({ tag: Type.Optional(Type.String({ maxLength: 64 })) }, { additionalProperties: false }),
      response: { 200: Type.Object({ items: Type.Array(flagRef) }), ...errorResponses() },
    },
  }, async (req) => {
    authorize(req, 'read')
    const all = await services.flags.listDefinitions()
    const tag = req.query.tag
    return { items: tag ? all.filter((f) => f.tags?.includes(tag)) : all }
  })

  app.post('/api/v1/flags', {
    schema: {
      operationId: 'createFlag', tags, body: CreateFlagBody, response: { 201: flagRef, ...errorResponses(409) },
      description: 'Writes the flag, off, into every environment: admin or an editor scoped to "*".',
    },
  }, async (req, reply) => {
    // Off is still served, and clientSide exposes the key to browsers: every environment changes.
    const actor = authorize(req, 'define')
    return reply.code(201).send(await services.flags.create(req.body, actor))
  })

  app.get('/api/v1/flags/:key', {
    schema: { operationId: 'getFlag', tags, params: KeyParams, response: { 200: flagRef, ...errorResponses(404) } },
  }, async (req, reply) => {
    authorize(req, 'read')
    const def = await services.flags.getDefinition(req.params.key)
    return reply.header('etag', `"${def.version}"`).send(def)
  })

  app.patch('/api/v1/flags/:key', {
    schema: {
      operationId: 'updateFlag', tags, params: KeyParams, body: PatchFlagBody, headers: IfMatchHeaders,
      description: 'Metadata (name, description, tags, owner, temporary, removeBy): any editor. `variations` or `clientSide` change what every environment serves: admin or an editor scoped to "*".',
      response: { 200: flagRef, ...errorResponses(404, 409, 412) },
    },
  }, async (req, reply) => {
    const serving = SERVING_FIELDS.some((f) => req.body[f] !== undefined)
    const actor = authorize(req, serving ? 'define' : 'write')
    const def = await services.flags.patch(req.params.key, req.body, actor, ifMatchVersion(req, false))
    return reply.header('etag', `"${def.version}"`).send(def)
  })

  app.delete('/api/v1/flags/:key', {
    schema: {
      operationId: 'deleteFlag', tags, params: KeyParams, headers: IfMatchHeaders,
      description: 'Deletes the flag in every environment: admin or an editor scoped to "*".',
      response: { 204: Type.Null(), ...errorResponses(404, 409, 412) },
    },
  }, async (req, reply) => {
    const actor = authorize(req, 'define')
    await services.flags.remove(req.params.key, actor, ifMatchVersion(req, false))
    return reply.code(204).send(null)
  })

  app.get('/api/v1/environments/:env/flags', {
    schema: { operationId: 'listFlagConfigs', tags, params: Type.Object({ env: EnvKeyParams.properties.env }, { additionalProperties: false }), response: { 200: Type.Object({ items: Type.Array(configRef) }), ...errorResponses(404) } },
  }, async (req) => {
    authorize(req, 'read', req.params.env)
    const all = await services.flags.listConfigs(req.params.env)
    return { items: all.map((f) => withEnv(req.params.env, f)) }
  })

  app.get('/api/v1/environments/:env/flags/:key', {
    schema: { operationId: 'getFlagConfig', tags, params: EnvKeyParams, response: { 200: configRef, ...errorResponses(404) } },
  }, async (req, reply) => {
    authorize(req, 'read', req.params.env)
    const f = await services.flags.getConfig(req.params.env, req.params.key)
    return reply.header('etag', `"${f.version}"`).send(withEnv(req.params.env, f))
  })

  app.put('/api/v1/environments/:env/flags/:key', {
    schema: {
      operationId: 'putFlagConfig', tags, params: EnvKeyParams, body: FlagConfigBody,
      headers: Type.Object({ 'if-match': Type.Optional(Type.String({ description: 'Current version, e.g. "7"' })) }),
      response: { 200: configRef, ...errorResponses(404, 412, 428) },
    },
  }, async (req, reply) => {
    const actor = authorize(req, 'write', req.params.env)
    const version = ifMatchVersion(req, true) as number
    const { flag: f, changeId } = await services.flags.putConfig(req.params.env, req.params.key, req.body, version, actor)
    return changed(reply, f.version, changeId).send(withEnv(req.params.env, f))
  })

  app.post('/api/v1/environments/:env/flags/:key/kill', {
    schema: {
      operationId: 'killFlag', tags, params: EnvKeyParams,
      description: 'Turns the flag off in this environment in one call, whatever its current version: If-Match is ignored by design.',
      body: Type.Object({ reason: Type.Optional(Reason) }, { additionalProperties: false }),
      response: { 200: configRef, ...errorResponses(404, 409) },
    },
  }, async (req, reply) => {
    const actor = authorize(req, 'write', req.params.env)
    const { flag: f, changeId } = await services.flags.kill(req.params.env, req.params.key, req.body?.reason, actor)
    return changed(reply, f.version, changeId).send(withEnv(req.params.env, f))
  })

  app.post('/api/v1/environments/:env/flags/:key/toggle', {
    schema: {
      operationId: 'toggleFlag', tags, params: EnvKeyParams, headers: IfMatchHeaders,
      body: Type.Object({ on: Type.Boolean(), reason: Type.Optional(Reason) }, { additionalProperties: false }),
      response: { 200: configRef, ...errorResponses(404, 409, 412) },
    },
  }, async (req, reply) => {
    const actor = authorize(req, 'write', req.params.env)
    const { flag: f, changeId } = await services.flags.toggle(req.params.env, req.params.key, req.body.on, req.body.reason, actor, ifMatchVersion(req, false))
    return changed(reply, f.version, changeId).send(withEnv(req.params.env, f))
  })

  app.get('/api/v1/environments/:env/flags/:key/history', {
    schema: {
      operationId: 'flagHistory', tags, params: EnvKeyParams,
      querystring: Type.Object({
        cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$', description: 'Versions below this one' })),
        limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
      }, { additionalProperties: false }),
      response: { 200: Page(Type.Ref(FlagHistoryEntrySchema)), ...errorResponses(404) },
    },
  }, async (req) => {
    authorize(req, 'read', req.params.env)
    return services.flags.history(req.params.env, req.params.key, {
      limit: req.query.limit,
      ...(req.query.cursor !== undefined && { before: Number(req.query.cursor) }),
    })
  })

  app.post('/api/v1/environments/:env/flags/:key/rollback', {
    schema: {
      operationId: 'rollbackFlag', tags, params: EnvKeyParams, headers: IfMatchHeaders,
      description: 'Restores the configuration of an earlier version as a new version.',
      body: Type.Object({ version: Type.Integer({ minimum: 1 }), reason: Type.Optional(Reason) }, { additionalProperties: false }),
      response: { 200: configRef, ...errorResponses(404, 409, 412) },
    },
  }, async (req, reply) => {
    const actor = authorize(req, 'write', req.params.env)
    const { flag: f, changeId } = await services.flags.rollback(req.params.env, req.params.key, req.body.version, req.body.reason, actor, ifMatchVersion(req, false))
    return changed(reply, f.version, changeId).send(withEnv(req.params.env, f))
  })
}

export default routes
