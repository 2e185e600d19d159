import { type Static, Type } from '@sinclair/typebox'
import { Key, List } from './common.js'

/** `facts`: a deploy pipeline's token, which records facts in its environments and can do nothing else;
 * `alerts`: Alertmanager's, which may only post notifications. */
export const TOKEN_KINDS = ['admin', 'editor', 'viewer', 'sdk-server', 'sdk-client', 'alerts', 'facts'] as const
export type TokenKind = (typeof TOKEN_KINDS)[number]
const TokenKindSchema = Type.Union(TOKEN_KINDS.map((k) => Type.Literal(k)))

const TOKEN_EXAMPLE = {
  id: '3f9d2a71-5c4e-4b8a-9e06-1d2c3b4a5f60',
  name: 'checkout-service',
  kind: 'sdk-server',
  environments: ['production'],
  createdAt: '2026-11-30T09:10:00.000Z',
  createdBy: 'first admin',
}

export const TokenSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    kind: TokenKindSchema,
    // Environments it may act in; `*` means all (admin, or editor/viewer of every environment).
    environments: Type.Array(Type.String()),
    createdAt: Type.String(),
    createdBy: Type.String(),
  },
  { $id: 'Token', description: 'A token (never its secret)', examples: [TOKEN_EXAMPLE] },
)
/** A token as served: never the secret (nor its hash). */
export type TokenView = Static<typeof TokenSchema>

export const TokenListSchema = List(Type.Ref(TokenSchema), { description: 'The tokens' })

export const TokenIdParams = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
)

export const CreateTokenBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    kind: TokenKindSchema,
    environments: Type.Optional(Type.Array(Type.Union([Key, Type.Literal('*')]), { minItems: 1, maxItems: 100 })),
  },
  {
    additionalProperties: false,
    examples: [{ name: 'checkout-service', kind: 'sdk-server', environments: ['production'] }],
  },
)
export type CreateToken = Static<typeof CreateTokenBody>

export const CreatedTokenSchema = Type.Object(
  { token: Type.Ref(TokenSchema), secret: Type.String({ description: 'Shown once' }) },
  {
    description: 'Created: the secret, once',
    examples: [{ token: TOKEN_EXAMPLE, secret: 'sy_srv_Xq2v9LrT0bWmK4cN7pYs1eHd8uJf3gAiZo6lRkV5wE' }],
  },
)

export const TokenResponse = Type.Ref(TokenSchema, { description: 'The token' })

/** The 204 of a revocation. */
export const Revoked = Type.Null({ description: 'Revoked' })
