import type { FastifyRequest } from 'fastify'
import { appError, type ErrorCode } from './errors.js'
import { QUERY_TOKEN } from './schemas/common.js'
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
  | 'alerts' // post Alertmanager notifications (alerts tokens only: a token in Alertmanager's config can do nothing else)
  | 'facts-read' // read an environment's facts and their history (admin, editor, viewer, facts)
  | 'facts-write' // record facts (admin, editor in scope, facts tokens: a pipeline that may not touch flags)

declare module 'fastify' {
  interface FastifyRequest {
    token: TokenRecord | null
    /** Why `token` is null when that is not simply "no or an unknown token" (raised by the preParsing check). */
    tokenRefusal: ErrorCode | null
  }
  interface FastifyContextConfig {
    /** Checked before the body is read (preParsing), for routes with large bodies; the handler still authorizes. */
    permission?: Permission
    /** A GET route a native EventSource calls: an sdk-client token may come as `?access_token=` (QUERY_TOKEN). */
    queryToken?: boolean
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
  alerts: ['alerts'],
  'facts-read': ['admin', 'editor', 'viewer', 'facts'],
  'facts-write': ['admin', 'editor', 'facts'],
}

/**
 * Reads `Authorization: Bearer <secret>` and resolves the token (null when absent or unknown). Without the
 * header, `?access_token=` is looked at: on a `queryToken` route (GET) an sdk-client token is accepted; any
 * other kind, or the parameter on any other route, leaves the request unauthenticated with
 * QUERY_TOKEN_REFUSED, so a secret token in a URL (proxy logs, browser history) never works.
 */
export async function authenticate(req: FastifyRequest, tokens: TokenService): Promise<void> {
  req.token = null
  req.tokenRefusal = null
  const h = req.headers.authorization
  if (!h) return authenticateQuery(req, tokens)
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h)
  if (!m?.[1]) return
  req.token = await tokens.authenticate(m[1])
}

async function authenticateQuery(req: FastifyRequest, tokens: TokenService): Promise<void> {
  const given = (req.query as Record<string, unknown> | undefined)?.[QUERY_TOKEN]
  if (given === undefined) return
  if (req.routeOptions.config.queryToken !== true || req.method !== 'GET' || typeof given !== 'string') {
    req.tokenRefusal = 'QUERY_TOKEN_REFUSED'
    return
  }
  const t = await tokens.authenticate(given)
  if (t === null) return
  if (t.kind === 'sdk-client') req.token = t
  else req.tokenRefusal = 'QUERY_TOKEN_REFUSED'
}

/** Throws 401/403 unless the request's token may do `perm` (in `env`, when given). */
export function authorize(req: FastifyRequest, perm: Permission, env?: string): Actor {
  const t = req.token
  if (!t) throw appError('UNAUTHORIZED')
  if (!ALLOWED[perm].includes(t.kind)) throw appError('FORBIDDEN', describe(perm, env))
  if (perm === 'define' && t.kind !== 'admin' && !t.environments.includes('*'))
    throw appError('FORBIDDEN', describe(perm))
  if (env !== undefined && t.kind !== 'admin' && !t.environments.includes('*') && !t.environments.includes(env)) {
    throw appError('FORBIDDEN', describe(perm, env))
  }
  return { name: t.name, tokenId: t.id, requestId: req.id }
}

function describe(perm: Permission, env?: string): string {
  const what = {
    read: 'read',
    write: 'write',
    admin: 'administer',
    evaluate: 'evaluate',
    'sdk-server': 'read the rules',
    'sdk-client': 'read client values',
    alerts: 'post Alertmanager notifications (alerts tokens only)',
    'facts-read': 'read facts',
    'facts-write': 'record facts',
    define:
      'create, delete or change the variations or clientSide of a flag definition: it applies to every environment, so it needs an admin token or an editor token scoped to "*"',
  }[perm]
  return env ? `${what} in environment "${env}"` : what
}

/** The single environment of an SDK token (401/403 unless its kind is one of `kinds`). */
export function sdkEnv(
  req: FastifyRequest,
  kinds: ReadonlyArray<TokenRecord['kind']>,
): { env: string; token: TokenRecord } {
  const t = req.token
  if (!t) throw appError('UNAUTHORIZED')
  if (!kinds.includes(t.kind))
    throw appError(
      'FORBIDDEN',
      kinds.includes('sdk-client')
        ? 'use the SDK routes (sdk-server or sdk-client tokens only)'
        : 'read the rules (sdk-server tokens only)',
    )
  authorize(req, t.kind === 'sdk-server' ? 'sdk-server' : 'sdk-client')
  const env = t.environments[0]
  if (env === undefined || env === '*' || t.environments.length !== 1)
    throw appError('FORBIDDEN', 'use an SDK route without exactly one environment')
  return { env, token: t }
}

/** What a token may do, for a page that shows only that: environments it may read and write (`*`: all). */
export interface Capabilities {
  read: string[]
  write: string[]
  /** Create and delete flags, change what a definition serves (every environment). */
  define: boolean
  /** Environments and tokens. */
  admin: boolean
}

/** The token's capabilities, from the same table {@link authorize} checks. */
export function capabilities(t: TokenRecord): Capabilities {
  const scope = t.kind === 'admin' ? ['*'] : t.environments
  const may = (perm: Permission) => ALLOWED[perm].includes(t.kind)
  return {
    read: may('read') ? scope : [],
    write: may('write') ? scope : [],
    define: may('define') && (t.kind === 'admin' || t.environments.includes('*')),
    admin: may('admin'),
  }
}
