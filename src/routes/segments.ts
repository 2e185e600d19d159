import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authorize } from '../auth.js'
import { BODY_ERRORS, Deleted, EnvKeyParams, EnvParams, errorResponses, IfMatchHeaders } from '../schemas/common.js'
import { documentedAs } from '../schemas/openapi.js'
import {
  CreateSegmentBody,
  DeleteSegmentQuery,
  MemberCheckSchema,
  MemberPageQuery,
  MemberPageSchema,
  MemberParams,
  MembersBody,
  MembersChangeSchema,
  MembersQuery,
  MembersText,
  PutSegmentBody,
  SegmentListSchema,
  SegmentResponse,
  SegmentSchema,
} from '../schemas/segment.js'
import type { Services } from '../services/index.js'
import { changed, ifMatchVersion } from './flags.js'

const routes: FastifyPluginAsyncTypebox<{ services: Services; membersBodyLimit: number }> = async (
  app,
  { services, membersBodyLimit },
) => {
  app.addSchema(SegmentSchema)
  const tags = ['segments']

  app.get(
    '/api/v1/environments/:env/segments',
    {
      schema: {
        operationId: 'listSegments',
        tags,
        params: EnvParams,
        summary: 'List segments',
        description: 'The segments of this environment, with member counts.',
        response: {
          200: SegmentListSchema,
          ...errorResponses(404),
        },
      },
    },
    async (req) => {
      authorize(req, 'read', req.params.env)
      return { items: await services.segments.list(req.params.env) }
    },
  )

  app.post(
    '/api/v1/environments/:env/segments',
    {
      bodyLimit: membersBodyLimit,
      config: { permission: 'write' },
      schema: {
        operationId: 'createSegment',
        tags,
        params: EnvParams,
        body: CreateSegmentBody,
        summary: 'Create a segment',
        description:
          'Creates a segment, with its first members if given (≤ 100,000 ids per list; MEMBERS_BODY_LIMIT_BYTES).',
        response: { 201: SegmentResponse, ...errorResponses(404, 409, ...BODY_ERRORS) },
      },
    },
    async (req, reply) => {
      const actor = authorize(req, 'write', req.params.env)
      const { key, ...input } = req.body
      const { result: s, changeId } = await services.segments.put(req.params.env, key, input, actor, { create: true })
      return changed(reply.code(201), s.version, changeId).send(s)
    },
  )

  app.get(
    '/api/v1/environments/:env/segments/:key',
    {
      schema: {
        operationId: 'getSegment',
        tags,
        params: EnvKeyParams,
        summary: 'Get a segment',
        description: 'The segment with its member counts; `ETag` = its version.',
        response: { 200: SegmentResponse, ...errorResponses(404) },
      },
    },
    async (req, reply) => {
      authorize(req, 'read', req.params.env)
      const s = await services.segments.get(req.params.env, req.params.key)
      return reply.header('etag', `"${s.version}"`).send(s)
    },
  )

  app.put(
    '/api/v1/environments/:env/segments/:key',
    {
      bodyLimit: membersBodyLimit,
      config: { permission: 'write' },
      schema: {
        operationId: 'putSegment',
        tags,
        params: EnvKeyParams,
        body: PutSegmentBody,
        headers: IfMatchHeaders,
        summary: 'Create or replace a segment',
        description:
          'Creates or replaces a segment. `included` / `excluded`, when given, replace the member lists; omitted, members stay. If-Match is optional.',
        response: { 200: SegmentResponse, ...errorResponses(404, 412, ...BODY_ERRORS) },
      },
    },
    async (req, reply) => {
      const actor = authorize(req, 'write', req.params.env)
      const ifMatch = ifMatchVersion(req, false)
      const { result: s, changeId } = await services.segments.put(req.params.env, req.params.key, req.body, actor, {
        create: false,
        ...(ifMatch !== undefined && { ifMatch }),
      })
      return changed(reply, s.version, changeId).send(s)
    },
  )

  app.delete(
    '/api/v1/environments/:env/segments/:key',
    {
      schema: {
        operationId: 'deleteSegment',
        tags,
        params: EnvKeyParams,
        headers: IfMatchHeaders,
        summary: 'Delete a segment',
        description:
          'Deletes the segment and its members; 409 SEGMENT_IN_USE while flag rules use it. If-Match optional. Answers `X-Change-Id`.',
        querystring: DeleteSegmentQuery,
        response: { 204: Deleted, ...errorResponses(404, 409, 412) },
      },
    },
    async (req, reply) => {
      const actor = authorize(req, 'write', req.params.env)
      const changeId = await services.segments.remove(
        req.params.env,
        req.params.key,
        actor,
        req.query.reason,
        ifMatchVersion(req, false),
      )
      return reply.header('x-change-id', changeId).code(204).send(null)
    },
  )

  app.post(
    '/api/v1/environments/:env/segments/:key/members',
    {
      bodyLimit: membersBodyLimit,
      config: {
        permission: 'write',
        // The validator sees the JSON form only (preValidation converts a text/plain body to it); the document shows both.
        swaggerTransform: documentedAs((schema) => ({
          ...schema,
          body: {
            content: {
              'application/json': { schema: MembersBody },
              'text/plain': {
                schema: MembersText,
              },
            },
          },
        })),
      },
      schema: {
        operationId: 'changeSegmentMembers',
        tags,
        params: EnvKeyParams,
        headers: IfMatchHeaders,
        summary: 'Add and remove members',
        description:
          'Adds and removes members in one atomic step (≤ 100,000 ids each). A text/plain body adds one id per line (`?op=remove` removes them; `?list=excluded` targets the excluded list).',
        querystring: MembersQuery,
        body: MembersBody,
        response: { 200: MembersChangeSchema, ...errorResponses(404, 409, 412, ...BODY_ERRORS) },
      },
      preValidation: async (req) => {
        const raw: unknown = req.body
        if (typeof raw === 'string') {
          const ids = raw
            .split(/\r?\n/)
            .map((l) => l.trim())
            .filter((l) => l.length > 0)
          const q = req.query as { op?: string; list?: string }
          const list = q.list === 'excluded' ? ('excluded' as const) : ('included' as const)
          req.body = q.op === 'remove' ? { remove: ids, list } : { add: ids, list }
        }
      },
    },
    async (req, reply) => {
      const actor = authorize(req, 'write', req.params.env)
      const b = req.body
      const { result, changeId } = await services.segments.changeMembers(
        req.params.env,
        req.params.key,
        {
          add: b.add ?? [],
          remove: b.remove ?? [],
          list: b.list ?? req.query.list ?? 'included',
          ...(b.reason && { reason: b.reason }),
        },
        actor,
        ifMatchVersion(req, false),
      )
      return changed(reply, result.version, changeId).send(result)
    },
  )

  app.get(
    '/api/v1/environments/:env/segments/:key/members',
    {
      schema: {
        operationId: 'listSegmentMembers',
        tags,
        params: EnvKeyParams,
        summary: 'List members',
        description:
          'Pages through a member list in SSCAN order: `limit` is a target, a page may hold a few more; an id may repeat across pages while the set is being resized.',
        querystring: MemberPageQuery,
        response: {
          200: MemberPageSchema,
          ...errorResponses(404),
        },
      },
    },
    async (req) => {
      authorize(req, 'read', req.params.env)
      return services.segments.listMembers(req.params.env, req.params.key, {
        list: req.query.list,
        limit: req.query.limit,
        ...(req.query.cursor !== undefined && { cursor: req.query.cursor }),
      })
    },
  )

  app.get(
    '/api/v1/environments/:env/segments/:key/members/:id',
    {
      schema: {
        operationId: 'checkSegmentMember',
        tags,
        summary: 'Check one member',
        description: 'Whether one id is in the included and excluded lists.',
        params: MemberParams,
        response: { 200: MemberCheckSchema, ...errorResponses(404) },
      },
    },
    async (req) => {
      authorize(req, 'read', req.params.env)
      return services.segments.checkMember(req.params.env, req.params.key, req.params.id)
    },
  )
}

export default routes
