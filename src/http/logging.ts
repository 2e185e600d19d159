/**
 * What the logs may carry and how often: no user data from URLs, one line
 * per store outage rather than one per failed request, and no access lines
 * for probes and SDK reports (unless LOG_PROBE_REQUESTS).
 */
import type { Writable } from 'node:stream'
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify'
import { QUERY_TOKEN } from '../schemas/common.js'
import type { Config } from '../config.js'
import type { Store } from '../store/store.js'

// A browser's context (its user id and attributes), its signature and, for a native EventSource, its token
// (RFC 6750's access_token) travel in the stream and values URLs.
const REDACTED = new Set(['context', 'signature', QUERY_TOKEN])

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '))
  } catch {
    return s
  }
}

/** The URL with the values of `context`, `signature` and `access_token` replaced, however their names are encoded. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?')
  if (q < 0) return url
  const params = url
    .slice(q + 1)
    .split('&')
    .map((p) => {
      const eq = p.indexOf('=')
      const name = eq < 0 ? p : p.slice(0, eq)
      return REDACTED.has(decode(name).toLowerCase()) ? `${name}=[redacted]` : p
    })
  return `${url.slice(0, q + 1)}${params.join('&')}`
}

/** Fastify's `logger` option: pino at LOG_LEVEL (into `stream` when given), requests serialized without user data. */
export function loggerOptions(config: Config, stream?: Writable) {
  if (config.LOG_LEVEL === 'silent') return false
  return {
    level: config.LOG_LEVEL,
    ...(stream && { stream }),
    serializers: {
      req: (raw: unknown) => {
        const req = raw as FastifyRequest
        return {
          method: req.method,
          url: redactUrl(req.url),
          host: req.host,
          remoteAddress: req.ip,
          ...(req.socket?.remotePort !== undefined && { remotePort: req.socket.remotePort }),
        }
      },
    },
  }
}

const PROBES = new Set(['GET /healthz', 'HEAD /healthz', 'GET /readyz', 'HEAD /readyz', 'POST /api/v1/sdk/metrics'])

/** Drops the access lines of probes and SDK reports (their warnings and errors stay); add before the routes. */
export function quietProbes(app: FastifyInstance, config: Config): void {
  if (config.LOG_PROBE_REQUESTS) return
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    if (methods.every((m) => PROBES.has(`${m} ${route.url}`))) route.logLevel = 'warn'
  })
}

/** Logs a store outage when it starts (warn) and when it ends (info), however many requests fail in between. */
export class OutageLog {
  private down = false
  private timer: NodeJS.Timeout | null = null
  private probing = false

  constructor(
    private readonly store: Pick<Store, 'ping'>,
    private readonly log: FastifyBaseLogger,
    private readonly probeMs = 1000,
  ) {}

  /** A request failed because the store is unavailable. */
  failed(err: unknown): void {
    if (this.down) return
    this.down = true
    this.log.warn({ err }, 'store unavailable: answering 503 STORE_UNAVAILABLE until it is back')
    // A PING, not the next request, says when it is back: a stalled store keeps its connection 'ready'.
    this.timer = setInterval(() => this.probe(), this.probeMs).unref()
  }

  private probe(): void {
    if (this.probing) return
    this.probing = true
    this.store.ping().then(
      () => {
        this.probing = false
        if (!this.down) return
        this.down = false
        this.stop()
        this.log.info('store available again')
      },
      () => {
        this.probing = false
      },
    )
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }
}
