/**
 * OpenFeature Remote Evaluation Protocol (OFREP, github.com/open-feature/protocol, service/openapi.yaml):
 * any language's OFREP provider evaluates through Switchyard with the same engine and compiled state the
 * SDK routes use. Behind the SDK tokens: sdk-server sees every flag of its environment, sdk-client only the
 * `clientSide` ones (others are FLAG_NOT_FOUND, so a page learns nothing of them), with signed contexts
 * where the environment requires them.
 *
 * Every error answer keeps the catalogue's `{ statusCode, code, message }` and adds OFREP's
 * `{ key, errorCode, errorDetails }`, which the providers read.
 */
import { createHash } from 'node:crypto'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { evaluateAll, evaluateDetail, toOpenFeatureReason } from '../../sdk/core/index.js'
import type { Compiled, CompiledFlag } from '../../sdk/core/compile.js'
import type { Context, EvaluationDetail, RulesetFlag } from '../../sdk/core/types.js'
import { errorMessage, flagMetadata, toSwitchyardContext } from '../../sdk/openfeature/resolve.js'
import { sdkEnv } from '../auth.js'
import { AppError, appError, type ErrorBody, type ErrorCode, type ErrorDetail } from '../errors.js'
import { notModified, sendNotModified } from '../http/etag.js'
import {
  OfrepBulkEvaluationSchema,
  OfrepBulkHeaders,
  OfrepEvaluationRequest,
  OfrepEvaluationSchema,
  OfrepFlagParams,
  OfrepNotModified,
  ofrepErrorResponses,
  SIGNATURE_ATTRIBUTE,
} from '../schemas/ofrep.js'
import type { Services } from '../services/index.js'
import { checkContext, clientReason, verifiedClientContext } from '../stream/client-context.js'
import type { StreamHub } from '../stream/hub.js'

/** The OFREP route templates (the browser CORS setup in sdk.ts opens them to pages). */
export const OFREP_PATHS = ['/ofrep/v1/evaluate/flags', '/ofrep/v1/evaluate/flags/:key'] as const

/** The OFREP error code of a catalogue error. */
const OFREP_CODES: Partial<Record<ErrorCode, string>> = {
  FLAG_NOT_FOUND: 'FLAG_NOT_FOUND',
  INVALID_JSON: 'PARSE_ERROR',
  UNSUPPORTED_MEDIA_TYPE: 'PARSE_ERROR',
  VALIDATION_FAILED: 'INVALID_CONTEXT',
  INVALID_CONTEXT: 'INVALID_CONTEXT',
  BODY_TOO_LARGE: 'INVALID_CONTEXT',
  CONTEXT_KEY_REQUIRED: 'TARGETING_KEY_MISSING',
}

function isErrorBody(v: unknown): v is ErrorBody {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as ErrorBody).code === 'string' &&
    typeof (v as ErrorBody).message === 'string'
  )
}

function ofrepCode(e: ErrorBody): string {
  // EVALUATION_FAILED names the engine's error kind in its one detail.
  if (e.code === 'EVALUATION_FAILED' && Array.isArray(e.details))
    return String((e.details[0] as ErrorDetail | undefined)?.code ?? 'GENERAL')
  return OFREP_CODES[e.code as ErrorCode] ?? 'GENERAL'
}

/** The caller's context in Switchyard's shape (`targetingKey` → `key`), and the signature it carried. */
function ofrepContext(raw: unknown): { context: Context; signature: string | undefined } {
  if (raw === undefined || raw === null) return { context: {}, signature: undefined }
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw appError('INVALID_CONTEXT', '"context" must be a JSON object')
  const { [SIGNATURE_ATTRIBUTE]: signature, ...rest } = raw as Record<string, unknown>
  if (signature !== undefined && typeof signature !== 'string')
    throw appError('INVALID_CONTEXT', `"${SIGNATURE_ATTRIBUTE}" must be a string`)
  return { context: checkContext(toSwitchyardContext(rest)), signature }
}

const isClientSide = (f: RulesetFlag) => f.clientSide === true

/** One successful evaluation as OFREP reports it; a browser never sees rule ids or prerequisite keys. */
function success(key: string, d: EvaluationDetail, f: CompiledFlag, client: boolean) {
  const reason = client ? clientReason(d.reason) : d.reason
  return {
    key,
    ...(d.variation !== null && { value: d.value, variant: String(d.variation) }),
    reason: toOpenFeatureReason(reason),
    metadata: { ...flagMetadata(reason), version: f.flag.version },
  }
}

const routes: FastifyPluginAsyncTypebox<{ services: Services; hub: StreamHub }> = async (app, { services, hub }) => {
  const tags = ['ofrep']

  // Errors raised anywhere (authentication hooks, body parser, handlers, the store) get OFREP's fields too.
  app.addHook('preSerialization', async (req, reply, payload) => {
    if (reply.statusCode < 400 || !isErrorBody(payload)) return payload
    const key = (req.params as { key?: string } | undefined)?.key
    return {
      ...payload,
      ...(key !== undefined && { key }),
      errorCode: ofrepCode(payload),
      errorDetails: payload.message,
    }
  })

  // OFREP's request body is optional: none (or an empty JSON body) is the empty context.
  app.addHook('preValidation', async (req) => {
    if (req.body === undefined) req.body = {}
  })

  /** The environment's compiled state and the caller's context, after the token's and the signature's checks. */
  async function prepare(
    req: FastifyRequest,
    body: { context?: unknown },
  ): Promise<{ state: Compiled; context: Context; client: boolean }> {
    const { env, token } = sdkEnv(req, ['sdk-server', 'sdk-client'])
    await app.store.requireEnv(env)
    const { context, signature } = ofrepContext(body.context)
    const client = token.kind === 'sdk-client'
    // A server is trusted with any context; only a page's identity needs its backend's signature.
    if (client) await verifiedClientContext(services.environments, env, context, signature)
    const { state } = await hub.compiled(env)
    return { state, context, client }
  }

  app.post(
    '/ofrep/v1/evaluate/flags/:key',
    {
      schema: {
        operationId: 'ofrepEvaluateFlag',
        tags,
        summary: 'OFREP: evaluate one flag',
        description:
          'OpenFeature Remote Evaluation Protocol, single flag (what server-side OFREP providers call). sdk-server tokens: every flag; ' +
          'sdk-client tokens: clientSide flags only (others are 404 FLAG_NOT_FOUND). An evaluation error (an invalid configuration, ' +
          "a rollout without the attribute it buckets by) is 400 EVALUATION_FAILED with OFREP's errorCode.",
        params: OfrepFlagParams,
        body: OfrepEvaluationRequest,
        response: {
          200: OfrepEvaluationSchema,
          ...ofrepErrorResponses(),
        },
      },
    },
    async (req) => {
      const { key } = req.params
      const { state, context, client } = await prepare(req, req.body)
      const f = state.flags.get(key)
      if (f === undefined || (client && !isClientSide(f.flag))) throw appError('FLAG_NOT_FOUND', key)
      const d = evaluateDetail(state, key, context, null)
      if (d.reason.kind === 'ERROR') {
        const kind = d.reason.errorKind ?? 'GENERAL'
        throw new AppError(
          'EVALUATION_FAILED',
          [key, errorMessage(kind)],
          [{ path: 'context', message: errorMessage(kind), code: kind }],
        )
      }
      return success(key, d, f, client)
    },
  )

  app.post(
    '/ofrep/v1/evaluate/flags',
    {
      schema: {
        operationId: 'ofrepEvaluateFlags',
        tags,
        summary: 'OFREP: evaluate every flag',
        description:
          'OpenFeature Remote Evaluation Protocol, bulk (what client-side OFREP providers call and poll): every flag of the environment ' +
          '(sdk-client tokens: the clientSide ones) for one context; a flag that fails to evaluate is listed with its errorCode. ' +
          'ETag = a hash of the answer, so 304 on If-None-Match exactly when nothing this context sees changed.',
        headers: OfrepBulkHeaders,
        body: OfrepEvaluationRequest,
        response: {
          200: OfrepBulkEvaluationSchema,
          304: OfrepNotModified,
          ...ofrepErrorResponses(),
        },
      },
    },
    async (req, reply) => {
      const { state, context, client } = await prepare(req, req.body)
      const flags = Object.entries(evaluateAll(state, context, client ? isClientSide : undefined)).map(([key, d]) => {
        if (d.reason.kind !== 'ERROR') return success(key, d, state.flags.get(key) as CompiledFlag, client)
        const code = d.reason.errorKind ?? 'GENERAL'
        return { key, errorCode: code, errorDetails: errorMessage(code) }
      })
      const body = JSON.stringify({ flags })
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`
      reply.header('etag', etag).header('cache-control', 'no-cache')
      if (notModified(req, etag)) return sendNotModified(reply)
      return reply
        .type('application/json; charset=utf-8')
        .serializer((b: unknown) => b as string)
        .send(body as never)
    },
  )
}

export default routes
