import type { FastifyReply } from 'fastify'
import type { IssueCode } from '../sdk/core/index.js'

/**
 * The error catalogue: every error the API returns, with its HTTP status and
 * message template. Codes are stable and never reused once retired; the
 * README's error table is checked against this object by a test.
 */
export const ERRORS = {
  VALIDATION_FAILED: { status: 400, message: 'The request is invalid: %s' },
  MALFORMED_REQUEST: { status: 400, message: 'The request is not valid HTTP/1.1: %s' },
  INVALID_JSON: { status: 400, message: 'The body is not valid JSON' },
  INVALID_CONTEXT: { status: 400, message: 'The context is invalid: %s' },
  CONTEXT_KEY_REQUIRED: {
    status: 400,
    message: 'This environment requires signed contexts, and a signed context needs a "key" (or "targetingKey")',
  },
  ALERT_VERSION_UNSUPPORTED: {
    status: 400,
    message: 'Alertmanager webhook payload version "%s" is not understood; this receiver reads version "4"',
  },
  RESERVED_NAME: { status: 400, message: 'The key "%s" is reserved: %s' },
  UNAUTHORIZED: { status: 401, message: 'A valid bearer token is required' },
  QUERY_TOKEN_REFUSED: {
    status: 401,
    message:
      'A token in the URL (?access_token=) is accepted only for sdk-client tokens on GET /api/v1/sdk/client/stream and /values; send this one in the Authorization header',
  },
  FORBIDDEN: { status: 403, message: 'This token may not %s' },
  SIGNATURE_REQUIRED: { status: 403, message: 'This environment requires a signed context' },
  BAD_SIGNATURE: { status: 403, message: 'The context signature does not match' },
  NOT_FOUND: { status: 404, message: 'No route %s' },
  ENVIRONMENT_NOT_FOUND: { status: 404, message: 'Environment "%s" does not exist' },
  FLAG_NOT_FOUND: { status: 404, message: 'Flag "%s" does not exist' },
  EVALUATION_FAILED: { status: 400, message: 'Flag "%s" could not be evaluated for this context: %s' },
  SEGMENT_NOT_FOUND: { status: 404, message: 'Segment "%s" does not exist' },
  TOKEN_NOT_FOUND: { status: 404, message: 'Token "%s" does not exist' },
  VERSION_NOT_FOUND: { status: 404, message: 'Version %s of flag "%s" does not exist' },
  ENVIRONMENT_EXISTS: { status: 409, message: 'Environment "%s" already exists' },
  FLAG_EXISTS: { status: 409, message: 'Flag "%s" already exists' },
  SEGMENT_EXISTS: { status: 409, message: 'Segment "%s" already exists' },
  FLAG_IN_USE: { status: 409, message: 'Flag "%s" is a prerequisite of other flags' },
  SEGMENT_IN_USE: { status: 409, message: 'Segment "%s" is used by flag rules' },
  WRITE_CONFLICT: { status: 409, message: 'Too many concurrent writes to %s; retry' },
  PLAN_NOT_FOUND: { status: 404, message: 'Release plan "%s" does not exist' },
  PLAN_STATE: { status: 409, message: 'The release plan is %s: it cannot %s' },
  PLAN_ACTIVE: { status: 409, message: 'Flag "%s" already has a started release plan (%s): abort or finish it first' },
  PLAN_CONFLICT: {
    status: 409,
    message: 'The release plan changed meanwhile (another instance or request); nothing was written, retry',
  },
  REASON_REQUIRED: { status: 400, message: 'A reason is required to %s' },
  GUARDS_UNAVAILABLE: {
    status: 400,
    message: 'This plan has Prometheus guards but PROMETHEUS_URL is not set: they could never be evaluated',
  },
  REQUEST_TIMEOUT: {
    status: 408,
    message: 'The request was not received in time (headers within %s ms, all of it within %s ms)',
  },
  VERSION_CONFLICT: { status: 412, message: 'Version mismatch: the current version is %s' },
  BODY_TOO_LARGE: { status: 413, message: 'The body is larger than %s bytes' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Content type %s is not supported here' },
  PRECONDITION_REQUIRED: { status: 428, message: 'An If-Match header with the current version is required' },
  RATE_LIMITED: { status: 429, message: 'Too many requests; retry later' },
  TOO_MANY_STREAMS: {
    status: 429,
    message: 'Too many open streams %s; retry later (SDKs back off and poll meanwhile)',
  },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are larger than %s bytes' },
  INTERNAL: { status: 500, message: 'Internal error (request %s); this is a bug' },
  STORE_UNAVAILABLE: { status: 503, message: 'The store (Redis) is unavailable; retry later' },
  STORE_FULL: { status: 503, message: 'The store (Redis) is full (maxmemory reached): nothing was written' },
  STORE_RESET: {
    status: 503,
    message:
      'The store (Redis) lost its data (instance marker missing): restore it or re-initialise it, see docs/deploy.md',
  },
  FACTS_UNMET: {
    status: 409,
    message: 'The facts of environment "%s" do not meet what flag "%s" requires: %s (force with a reason to override)',
  },
  FACTS_DRIFT: {
    status: 409,
    message: 'Facts differ between "%s" and "%s": %s (force with a reason to promote anyway)',
  },
  FACTS_CHANGED: { status: 409, message: 'The facts of environment "%s" changed while this write was checked; retry' },
  FACT_TYPE_MISMATCH: { status: 409, message: 'Fact "%s" is a %s, not a %s: unset it first to record another type' },
  SEGMENTS_MISSING: {
    status: 409,
    message: 'Segments used by flag "%s" do not exist in "%s": %s (promote with copySegments to create them)',
  },
} as const satisfies Record<string, { status: number; message: string }>

/** A stable, machine-readable error code. */
export type ErrorCode = keyof typeof ERRORS

/** One failed check, e.g. `{ path: '/rules/0/serve', message: '…' }`. */
export interface ErrorDetail {
  path: string
  message: string
  /** Set when the engine's validator found it (schema failures have none); its codes are `ISSUES`. */
  code?: IssueCode
}

/** An error the API returns as `{ statusCode, code, message, details? }`. */
export class AppError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  readonly details: unknown

  constructor(code: ErrorCode, args: Array<string | number> = [], details?: unknown) {
    let i = 0
    super(ERRORS[code].message.replace(/%s/g, () => String(args[i++] ?? '')))
    this.name = 'AppError'
    this.code = code
    this.statusCode = ERRORS[code].status
    this.details = details
  }
}

/** Shorthand: `throw appError('FLAG_NOT_FOUND', key)`. */
export function appError(code: ErrorCode, ...args: Array<string | number>): AppError {
  return new AppError(code, args)
}

/** A validation failure carrying every issue found. */
export function validationError(details: ErrorDetail[]): AppError {
  const summary = details
    .slice(0, 3)
    .map((d) => `${d.path || '/'} ${d.message}`)
    .join('; ')
  return new AppError(
    'VALIDATION_FAILED',
    [summary + (details.length > 3 ? ` (+${details.length - 3} more)` : '')],
    details,
  )
}

/** The wire shape of every error response (ErrorSchema in src/schemas/common.ts). */
export interface ErrorBody {
  statusCode: number
  code: string
  message: string
  details?: unknown
}

/**
 * The one place an error body is assembled: handlers, hooks and raw-socket writers all serialise
 * through it, so the shape cannot drift between them. `details` appears only when there are some.
 */
export function errorBody(err: Pick<AppError, 'statusCode' | 'code' | 'message' | 'details'>): ErrorBody {
  return {
    statusCode: err.statusCode,
    code: err.code,
    message: err.message,
    ...(err.details !== undefined && { details: err.details }),
  }
}

/** Answers with `err`: its status and its body. */
export function sendError(reply: FastifyReply, err: AppError): FastifyReply {
  return reply.code(err.statusCode).send(errorBody(err))
}
