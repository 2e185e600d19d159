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
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { evaluateAll, evaluateDetail, toOpenFeatureReason } from '../../sdk/core/index.js'
import type { Compiled, CompiledFlag } from '../../sdk/core/compile.js'
import type { Context, EvaluationDetail, RulesetFlag } from '../../sdk/core/types.js'
import { errorMessage, flagMetadata, toSwitchyardContext } from '../../sdk/openfeature/resolve.js'
import { sdkEnv } from '../auth.js'
import { AppError, appError, type ErrorBody, type ErrorCode, type ErrorDetail } from '../errors.js'
import { notModified, sendNotModified } from '../http/etag.js'
import { BODY_ERRORS, errorDescription } from '../schemas/common.js'
import type { Services } from '../services/index.js'
import { checkContext, clientReason, verifiedClientContext } from '../stream/client-context.js'
import type { StreamHub } from '../stream/hub.js'

/** The OFREP route templates (the browser CORS setup in sdk.ts opens them to pages). */
export const OFREP_PATHS = ['/ofrep/v1/evaluate/flags', '/ofrep/v1/evaluate/flags/:key'] as const

/**
 * The context attribute that carries a browser context's signature. An attribute rather than a header: it
 * travels with the context it signs, through every language's provider, and a context change re-sends both.
 * It is removed before signing, verifying and evaluating.
 */
export const SIGNATURE_ATTRIBUTE = 'switchyardSignature'

const Metadata = Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]), {
  description:
    "reasonKind (Switchyard's own reason), version (of the flag configuration), inRollout; for sdk-server tokens also ruleId and prerequisiteKey",
})

const Success = Type.Object({
  key: Type.String(),
  value: Type.Optional(
    Type.Unknown({
      description:
        "Absent when the flag serves the caller's default (an off flag without an off variation): OFREP's codeDefaultFlag",
    }),
  ),
  reason: Type.String({ description: 'OpenFeature reason: TARGETING_MATCH, SPLIT, DEFAULT, DISABLED or ERROR' }),
  variant: Type.Optional(Type.String({ description: 'The variation index, as a string' })),
  metadata: Metadata,
})

const Failure = Type.Object({
  key: Type.String(),
  errorCode: Type.String({ description: 'PARSE_ERROR, TARGETING_KEY_MISSING, INVALID_CONTEXT or GENERAL' }),
  errorDetails: Type.Optional(Type.String()),
})

const OfrepError = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String({ description: 'Stable machine-readable error code (the catalogue)' }),
  message: Type.String(),
  details: Type.Optional(Type.Unknown()),
  key: Type.Optional(Type.String({ description: 'The flag key (single-flag evaluation)' })),
  errorCode: Type.String({
    description:
      'OFREP / OpenFeature error code: FLAG_NOT_FOUND, PARSE_ERROR, TARGETING_KEY_MISSING, INVALID_CONTEXT or GENERAL',
  }),
  errorDetails: Type.String(),
})

// OFREP may grow request fields; a provider newer than this server must not be refused for them.
const EvaluationRequest = Type.Object(
  {
    context: Type.Optional(
      Type.Unknown({
        description: `The evaluation context: { targetingKey, ...attributes } (≤ 8 KB); sdk-client tokens in an environment that requires signed contexts add "${SIGNATURE_ATTRIBUTE}"`,
      }),
    ),
  },
  { additionalProperties: true, examples: [{ context: { targetingKey: 'user-17', country: 'GB', plan: 'pro' } }] },
)

/** Every error an OFREP route can answer (the body is read: 413, 415 too), each status described with its catalogue codes. */
const errors = (...statuses: number[]) =>
  Object.fromEntries(
    [400, 401, 403, 404, 429, 503, ...BODY_ERRORS, ...statuses].map((s) => [
      s,
      Type.Object(OfrepError.properties, { description: errorDescription(s) }),
    ]),
  )

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
        params: Type.Object({ key: Type.String({ minLength: 1, maxLength: 1024 }) }, { additionalProperties: false }),
        body: EvaluationRequest,
        response: {
          200: Type.Object(Success.properties, {
            description: "The flag's value for this context, with its OpenFeature reason and variant",
            examples: [
              {
                key: 'new-checkout',
                value: true,
                reason: 'TARGETING_MATCH',
                variant: '0',
                metadata: { reasonKind: 'RULE_MATCH', version: 8, ruleId: 'beta' },
              },
            ],
          }),
          ...errors(),
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
        headers: Type.Object({
          'if-none-match': Type.Optional(Type.String({ description: 'The ETag of the last answer for this context' })),
        }),
        body: EvaluationRequest,
        response: {
          200: Type.Object(
            { flags: Type.Array(Type.Union([Success, Failure])) },
            {
              description: 'Every flag this token may see, evaluated for the context (or its errorCode)',
              examples: [
                {
                  flags: [
                    {
                      key: 'new-checkout',
                      value: true,
                      reason: 'SPLIT',
                      variant: '0',
                      metadata: { reasonKind: 'FALLTHROUGH', version: 3, inRollout: true },
                    },
                  ],
                },
              ],
            },
          ),
          304: Type.Null({ description: 'Not modified' }),
          ...errors(),
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
