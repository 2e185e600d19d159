import type { FastifyRequest } from 'fastify'
import { appError } from './errors.js'
import type { Actor } from './services/context.js'
import type { TokenRecord, TokenService } from './services/tokens.js'

/** What a route needs from the caller's token. */
export type Permission =
  | 'read' // read flags, segments, audit (admin, editor, viewer)
  | 'write' // change flags and segments (admin, editor in scope)
  | 'define' // create, delete or change what a flag definition serves: every environment at once (admin, editor scoped to *)
  | 'admin' // environments and tokens
  | 'evaluate' // POST /evaluate (admin, editor, viewer, sdk-server)
  | 'sdk-server' // full rules of one environment
  | 'sdk-client' // evaluated clientSide values of one environment

declare module 'fastify' {
  interface FastifyRequest {
    token: TokenRecord | null
  }
  interface FastifyContextConfig {
    /** Checked before the body is read (preParsing), for routes with large bodies; the handler still authorizes. */
    permission?: Permission
  }
}

const ALLOWED: Record<Permission, ReadonlyArray<TokenRecord['kind']>> = {
  read: ['admin', 'editor', 'viewer'],
  write: ['admin', 'editor'],
  define: ['admin', 'editor'],
  admin: ['admin'],
  evaluate: ['admin', 'editor', 'viewer', 'sdk-server'],
  'sdk-server': ['sdk-server'],
  'sdk-client': ['sdk-client'],
}

/** Reads `Authorization: Bearer <secret>` and resolves the token (null when absent or unknown). */
export async function authenticate(req: FastifyRequest, tokens: TokenService): Promise<void> {
  req.token = null
  const h = req.headers.authorization
  if (!h) return
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h)
  if (!m?.[1]) return
  req.token = await tokens.authenticate(m[1])
}

/** Throws 401/403 unless the request's token may do `perm` (in `env`, when given). */
export function authorize(req: FastifyRequest, perm: Permission, env?: string): Actor {
  const t = req.token
  if (!t) throw appError('UNAUTHORIZED')
  if (!ALLOWED[perm].includes(t.kind)) throw appError('FORBIDDEN', describe(perm, env))
  if (perm === 'define' && t.kind !== 'admin' && !t.environments.includes('*')) throw appError('FORBIDDEN', describe(perm))
  if (env !== undefined && t.kind !== 'admin' && !t.environments.includes('*') && !t.environments.includes(env)) {
    throw appError('FORBIDDEN', describe(perm, env))
  }
  return { name: t.name, tokenId: t.id, requestId: req.id }
}

function describe(perm: Permission, env?: string): string {
  const what = {
    read: 'read', write: 'write', admin: 'administer', evaluate: 'evaluate', 'sdk-server': 'read the rules', 'sdk-client': 'read client values',
    define: 'create, delete or change the variations or clientSide of a flag definition: it applies to every environment, so it needs an admin token or an editor token scoped to "*"',
  }[perm]
  return env ? `${what} in environment "${env}"` : what
}
