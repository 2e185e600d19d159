import { Type, type TSchema } from '@sinclair/typebox'

/** Keys of environments, flags, segments: URL-safe, stable. */
export const KEY_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]*$'

export const Key = Type.String({ pattern: KEY_PATTERN, minLength: 1, maxLength: 128, description: 'Letters, digits, ".", "_", "-"; starts with a letter or digit; ≤ 128 chars' })

/** A context key (user, account or device id) as found in whitelists. */
export const ContextKey = Type.String({ minLength: 1, maxLength: 256 })

export const ErrorSchema = Type.Object(
  {
    statusCode: Type.Integer(),
    code: Type.String({ description: 'Stable machine-readable error code' }),
    message: Type.String(),
    details: Type.Optional(Type.Unknown()),
  },
  { $id: 'Error' },
)

export const Reason = Type.String({ maxLength: 1000, description: 'Why; recorded in the audit log' })

/** Common error responses of authenticated routes. */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  const out: Record<number, TSchema> = {}
  for (const s of [400, 401, 403, 503, ...statuses]) out[s] = Type.Ref(ErrorSchema)
  return out
}

/** Optional If-Match of writes to versioned resources: 412 VERSION_CONFLICT when it is not the current version. */
export const IfMatchHeaders = Type.Object({ 'if-match': Type.Optional(Type.String({ description: 'Current version, e.g. "7"; optional here, checked when given' })) })

export const EnvParams = Type.Object({ env: Key }, { additionalProperties: false })
export const EnvKeyParams = Type.Object({ env: Key, key: Key }, { additionalProperties: false })
export const KeyParams = Type.Object({ key: Key }, { additionalProperties: false })

export const Page = <T extends TSchema>(item: T) =>
  Type.Object({
    items: Type.Array(item),
    nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as `cursor` for the next page; null at the end' }),
  })
