import { Type, type TSchema } from '@sinclair/typebox'
import { ERRORS } from '../errors.js'

/**
 * The query parameter a bearer token may travel in (RFC 6750 §2.3), for the one client that cannot send a
 * header: a browser's native EventSource. Only public sdk-client tokens, only on `queryToken` routes
 * (src/auth.ts). A wire name, so it lives with the schemas: the route schemas and the log redaction use it too.
 */
export const QUERY_TOKEN = 'access_token'

/** Keys of environments, flags, segments: URL-safe, stable. */
export const KEY_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]*$'

export const Key = Type.String({
  pattern: KEY_PATTERN,
  minLength: 1,
  maxLength: 128,
  description: 'Letters, digits, ".", "_", "-"; starts with a letter or digit; ≤ 128 chars',
})

/** A change-log or audit stream id (`ms-seq`): SSE event ids, ETags of the SDK routes, audit cursors. */
export const STREAM_ID_PATTERN = '^[0-9]{1,20}-[0-9]{1,20}$'

/** A context key (user, account or device id) as found in whitelists. */
export const ContextKey = Type.String({ minLength: 1, maxLength: 256 })

export const ErrorSchema = Type.Object(
  {
    statusCode: Type.Integer(),
    code: Type.String({ description: 'Stable machine-readable error code' }),
    message: Type.String(),
    details: Type.Optional(
      Type.Unknown({
        description:
          'What failed, e.g. `[{ path, message }]` of a VALIDATION_FAILED, `{ currentVersion }` of a VERSION_CONFLICT',
      }),
    ),
  },
  {
    $id: 'Error',
    description:
      'Every error: the HTTP status, a stable code from the catalogue (README "Errors"), a message for people',
    examples: [
      {
        statusCode: 412,
        code: 'VERSION_CONFLICT',
        message: 'Version mismatch: the current version is 3',
        details: { currentVersion: 3 },
      },
    ],
  },
)

export const Reason = Type.String({ maxLength: 1000, description: 'Why; recorded in the audit log' })

/** What a status means to a caller, for the OpenAPI response descriptions; the codes come from the catalogue. */
const STATUS_MEANING: Record<number, string> = {
  400: 'The request is invalid',
  401: 'No valid bearer token',
  403: 'The token may not do this (its kind or environments)',
  404: 'Not found',
  409: 'Conflicts with the current state',
  412: 'If-Match is not the current version: nothing was written',
  413: 'The body is too large',
  415: 'The Content-Type is not accepted here',
  428: 'If-Match is required here',
  429: 'Too many requests: retry after Retry-After seconds',
  503: 'The store is unavailable, full or reset: retry after Retry-After seconds',
}

/** The response description of an error status: its meaning and every catalogue code with that status. */
export function errorDescription(status: number): string {
  const codes = Object.entries(ERRORS)
    .filter(([, e]) => e.status === status)
    .map(([c]) => `\`${c}\``)
  return `${STATUS_MEANING[status] ?? 'Error'}: ${codes.join(', ')}`
}

/**
 * Common error responses of authenticated routes (400, 401, 403, 429 and 503 can answer any of them:
 * bad input, no token, wrong scope, the per-IP auth-failure and per-token write budgets, the store), plus `statuses`.
 */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {}
  for (const s of [...new Set([400, 401, 403, 429, 503, ...statuses])]) out[s] = errorRef(s)
  return out
}

/** One error response: the Error schema, described by its status (or by `description`). */
export const errorRef = (status: number, description = errorDescription(status)) =>
  Type.Ref(ErrorSchema, { description })

/** Errors of any route that reads a body: too large (BODY_LIMIT_BYTES), or not JSON. */
export const BODY_ERRORS = [413, 415] as const

/** Optional If-Match of writes to versioned resources: 412 VERSION_CONFLICT when it is not the current version. */
export const IfMatchHeaders = Type.Object({
  'if-match': Type.Optional(
    Type.String({ description: 'Current version, e.g. "7"; optional here, checked when given', examples: ['"7"'] }),
  ),
})

/**
 * The If-Match of a write that requires it, as the validator sees it: optional, so that its absence is
 * 428 PRECONDITION_REQUIRED rather than a 400. `IfMatchRequiredDoc` is how /openapi.json shows it.
 */
export const IfMatchRequiredHeaders = Type.Object({
  'if-match': Type.Optional(Type.String({ description: 'Current version, e.g. "7"' })),
})
export const IfMatchRequiredDoc = Type.Object({
  'if-match': Type.String({
    description: 'Current version (the ETag of GET), e.g. "7"; 428 without, 412 when stale',
    examples: ['"1"'],
  }),
})

export const EnvParams = Type.Object({ env: Key }, { additionalProperties: false })
export const EnvKeyParams = Type.Object({ env: Key, key: Key }, { additionalProperties: false })
export const KeyParams = Type.Object({ key: Key }, { additionalProperties: false })

export const Page = <T extends TSchema>(item: T, options: { description: string; examples?: unknown[] }) =>
  Type.Object(
    {
      items: Type.Array(item),
      nextCursor: Type.Union([Type.String(), Type.Null()], {
        description: 'Pass as `cursor` for the next page; null at the end',
      }),
    },
    options,
  )

/** A whole collection in one answer (no paging). */
export const List = <T extends TSchema>(item: T, options: { description: string; examples?: unknown[] }) =>
  Type.Object({ items: Type.Array(item) }, options)

/** The 204 of a DELETE. */
export const Deleted = Type.Null({ description: 'Deleted' })

/** The 202 of a report taken for later processing. */
export const Accepted = Type.Null({ description: 'Accepted' })

/** The 304 of a conditional GET (If-None-Match). */
export const NotModified = Type.Null({ description: 'Not modified: the If-None-Match ETag is current' })
