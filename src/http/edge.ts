/**
 * The HTTP edge: what the server does before a route runs or instead of one.
 * Timeouts, malformed requests (Node's `clientError`), `Expect: 100-continue`,
 * security headers and the rate limits of failed authentication and writes.
 */
import { maxHeaderSize, STATUS_CODES, type IncomingMessage, type ServerOptions, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import helmet from '@fastify/helmet'
import rateLimit, { normalizeIP } from '@fastify/rate-limit'
import type { ConnectionError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.js'
import { AppError, appError, errorBody } from '../errors.js'
import type { RedisClient } from '../redis/connect.js'

/** Fastify options of the timeouts. Node's requestTimeout covers receiving the request only, so streams are never cut. */
export function timeoutOptions(config: Config): { requestTimeout: number; http: ServerOptions } {
  const request = config.REQUEST_TIMEOUT_MS
  // Node refuses a headers timeout above the request timeout.
  const headers = Math.min(config.HEADERS_TIMEOUT_MS || request, request || Number.MAX_SAFE_INTEGER)
  const shortest = Math.min(headers || Infinity, request || Infinity)
  return {
    requestTimeout: request,
    http: {
      requestTimeout: request,
      headersTimeout: headers,
      // Node checks the deadlines on this interval (default 30 s): a fraction of the shortest keeps them close to what is configured.
      ...(Number.isFinite(shortest) && {
        connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.floor(shortest / 4))),
      }),
      // A missing Host gets a catalogue 400 from the app rather than Node's bodiless one.
      requireHostHeader: false,
    },
  }
}

/** Sockets whose current request was answered before its body arrived; Node discards the rest of that body. */
const answeredEarly = new WeakSet<Socket>()
const clientErrorSeen = new WeakSet<Socket>()

/**
 * Node's `clientError` (bad request line or headers, headers too large, a
 * timeout) as catalogue JSON. Pipelined requests ahead of the bad one get
 * their own responses first: writing at once would put the error in front of
 * them, answering the wrong request.
 */
export function clientErrorHandler(config: Config) {
  const timeouts = timeoutOptions(config).http
  return function onClientError(err: ConnectionError & { reason?: string }, socket: Socket): void {
    if (err.code === 'ECONNRESET' || socket.destroyed || clientErrorSeen.has(socket)) return
    clientErrorSeen.add(socket)
    // Its request already has a response; one more would be read as the answer to the next request.
    if (answeredEarly.has(socket)) return void socket.destroy()
    const e =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new AppError('REQUEST_TIMEOUT', [timeouts.headersTimeout ?? 0, config.REQUEST_TIMEOUT_MS])
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? new AppError('HEADERS_TOO_LARGE', [maxHeaderSize])
          : new AppError('MALFORMED_REQUEST', [err.reason ?? err.code ?? 'parse error'])
    const body = JSON.stringify(errorBody(e))
    const headers = {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      'x-content-type-options': 'nosniff',
      connection: 'close',
    }
    afterInFlight(socket, (res) => {
      // The bad request's own response (its headers parsed, its body not): the error goes through it.
      if (res) {
        if (res.headersSent) return void socket.destroy()
        res.writeHead(e.statusCode, headers).end(body)
        return
      }
      if (!socket.writable) return void socket.destroy()
      const head = Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('')
      socket.end(`HTTP/1.1 ${e.statusCode} ${STATUS_CODES[e.statusCode]}\r\n${head}\r\n${body}`)
    })
  }
}

/**
 * Waits for every response queued on the socket whose request was fully
 * received (on 'finish' Node detaches it and hands the socket to the next), then calls
 * `fn` with the response of an incomplete request, if there is one.
 */
function afterInFlight(socket: Socket, fn: (res: ServerResponse | null) => void): void {
  const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage
  if (!res?.req.complete) {
    fn(res ?? null)
    return
  }
  // Still attached, so its 'finish' (which detaches it) is yet to come, even when its bytes are all written.
  res.once('finish', () => afterInFlight(socket, fn))
}

/** Remembers a response sent before its request's body was received (see {@link answeredEarly}). */
function noteEarlyAnswer(req: IncomingMessage): void {
  if (req.complete) return
  const socket = req.socket
  answeredEarly.add(socket)
  req.once('end', () => answeredEarly.delete(socket))
}

/** The rate limits, counted in Redis so that they hold across instances. */
export interface Limits {
  /** Counts a failed authentication of the client's IP; throws 429 RATE_LIMITED past the budget. */
  authFailed(req: FastifyRequest, reply: FastifyReply): Promise<void>
  /** Counts a write of the request's admin or editor token; throws 429 RATE_LIMITED past the budget. */
  write(req: FastifyRequest, reply: FastifyReply): Promise<void>
  /** The request passed every check: sends the 100 Continue it may be waiting for. */
  accepted(req: FastifyRequest, reply: FastifyReply): void
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])
// A kill must get through during an incident even when a runaway script has spent its token's write budget.
const UNLIMITED = new Set(['/api/v1/environments/:env/flags/:key/kill'])

/**
 * Registers helmet, the rate-limit store and `Expect: 100-continue` handling
 * (before any route, so that every route gets them). SSE routes keep their own
 * headers.
 */
export async function registerEdge(app: FastifyInstance, config: Config, redis: RedisClient): Promise<Limits> {
  app.addHook('onRoute', (route) => {
    if ((route.schema as { produces?: string[] } | undefined)?.produces?.includes('text/event-stream'))
      route.helmet = false
  })
  await app.register(helmet, {
    // Served over plain HTTP inside networks too: upgrading /docs' assets to https would break it there.
    contentSecurityPolicy: { directives: { 'upgrade-insecure-requests': null } },
  })
  app.addHook('onResponse', async (req) => noteEarlyAnswer(req.raw))

  // Node answers 100 Continue before any hook runs; {@link Limits.accepted} sends it once the request passed (curl then never sends a refused upload).
  app.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => app.server.emit('request', req, res))
  app.server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => app.server.emit('request', req, res))

  await app.register(rateLimit, { global: false, redis, nameSpace: 'sy:ratelimit:', skipOnError: true })
  const minute = 60_000
  const auth =
    config.RATE_LIMIT_AUTH_FAILURES > 0
      ? app.createRateLimit({
          max: config.RATE_LIMIT_AUTH_FAILURES,
          timeWindow: minute,
          skipOnError: true,
          keyGenerator: (req) => `auth:${normalizeIP(req.ip)}`,
        })
      : null
  const writes =
    config.RATE_LIMIT_WRITES > 0
      ? app.createRateLimit({
          max: config.RATE_LIMIT_WRITES,
          timeWindow: minute,
          skipOnError: true,
          keyGenerator: (req) => `write:${req.token?.id ?? ''}`,
        })
      : null
  const check = async (limit: typeof auth, req: FastifyRequest, reply: FastifyReply) => {
    const r = await limit?.(req)
    if (r && !r.isAllowed && r.isExceeded) {
      reply.header('retry-after', String(Math.max(1, r.ttlInSeconds)))
      throw appError('RATE_LIMITED')
    }
  }
  return {
    authFailed: (req, reply) => check(auth, req, reply),
    async write(req, reply) {
      const kind = req.token?.kind
      if (
        (kind !== 'admin' && kind !== 'editor') ||
        !WRITES.has(req.method) ||
        UNLIMITED.has(req.routeOptions.url ?? '')
      )
        return
      await check(writes, req, reply)
    },
    accepted(req, reply) {
      if (/^100-continue$/i.test(String(req.headers.expect ?? '')) && !reply.raw.headersSent) reply.raw.writeContinue()
    },
  }
}
