import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { Registry } from 'prom-client'
import type { Writable } from 'node:stream'
import { buildApp } from '../../src/app.js'
import { type Config, loadConfig } from '../../src/config.js'
import type { RedisClient } from '../../src/redis/connect.js'
import { EmbeddedRedis } from '../../src/redis/embedded.js'

/** The slice of tap's Test the helpers use. */
export interface Teardown {
  teardown(fn: () => unknown): void
}

export const ADMIN = 'test-admin-token-0123456789abcdef'

/** A real redis-server on a free port with its own temp dir, stopped at teardown. */
export async function startRedis(
  t: Teardown,
  opts: { appendOnly?: boolean; extraArgs?: string[] } = {},
): Promise<EmbeddedRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'sy-redis-'))
  const r = new EmbeddedRedis({
    bin: 'redis-server',
    dir,
    port: 0,
    appendOnly: opts.appendOnly ?? false,
    supervise: false,
    install: false,
    ...(opts.extraArgs && { extraArgs: opts.extraArgs }),
  })
  await r.start()
  t.teardown(async () => {
    await r.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  return r
}

export interface TestServer {
  app: FastifyInstance
  url: string
  redis: Redis
  redisServer: EmbeddedRedis
  config: Config
  /** Real HTTP to the listening server. */
  api: (method: string, path: string, opts?: ApiOptions) => Promise<ApiResponse>
}

export interface ApiOptions {
  /** The bearer token: null sends none; absent (or undefined) sends the admin's. */
  token?: string | null | undefined
  body?: unknown
  headers?: Record<string, string>
}

export interface ApiResponse {
  status: number
  headers: Headers
  // Tests inspect arbitrary JSON.
  // biome-ignore lint/suspicious/noExplicitAny: tests inspect arbitrary JSON
  body: any
  text: string
}

/** Starts Redis + the app on port 0 with a bootstrap admin token. */
export async function startServer(
  t: Teardown,
  opts: {
    env?: Record<string, string>
    redisServer?: EmbeddedRedis
    now?: () => Date
    logStream?: Writable
    /** The built admin page (scripts/build-ui.mjs --outdir); default dist/ui. */
    uiDir?: string
    /** Release plans' leases on Redis's clock even with `now` injected (clock-skew tests). */
    leaseClock?: 'store' | 'now'
  } = {},
): Promise<TestServer> {
  const redisServer = opts.redisServer ?? (await startRedis(t))
  const config = loadConfig({
    LOG_LEVEL: 'silent',
    PORT: '0',
    ADMIN_TOKEN: ADMIN,
    REDIS_URL: redisServer.url,
    ...opts.env,
  })
  const redis = new Redis(redisServer.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    lazyConnect: true,
    retryStrategy: () => 100,
  })
  redis.on('error', () => {})
  await redis.connect()
  const started = await startApp(t, config, redis, {
    ...(opts.now && { now: opts.now }),
    ...(opts.logStream && { logStream: opts.logStream }),
    ...(opts.uiDir && { uiDir: opts.uiDir }),
    ...(opts.leaseClock && { leaseClock: opts.leaseClock }),
  })
  return { ...started, redis, redisServer, config }
}

/** The app on port 0 over a given connection (standalone, Sentinel or Cluster), with the bootstrap admin and an HTTP client. */
export async function startApp(
  t: Teardown,
  config: Config,
  redis: RedisClient,
  o: { now?: () => Date; logStream?: Writable; uiDir?: string; leaseClock?: 'store' | 'now' } = {},
): Promise<Pick<TestServer, 'app' | 'url' | 'api'>> {
  const app = await buildApp(config, {
    redis,
    registry: new Registry(),
    ...(o.now && { now: o.now }),
    ...(o.logStream && { logStream: o.logStream }),
    ...(o.uiDir && { uiDir: o.uiDir }),
    ...(o.leaseClock && { leaseClock: o.leaseClock }),
  })
  await app.services.tokens.bootstrap(ADMIN)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const addr = app.server.address()
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`
  t.teardown(async () => {
    await app.close()
    redis.disconnect()
  })
  const api = async (method: string, path: string, o: ApiOptions = {}): Promise<ApiResponse> => {
    const headers: Record<string, string> = { ...o.headers }
    const token = o.token === undefined ? ADMIN : o.token
    if (token) headers.authorization = `Bearer ${token}`
    let body: string | undefined
    if (o.body !== undefined) {
      if (typeof o.body === 'string') body = o.body
      else {
        body = JSON.stringify(o.body)
        headers['content-type'] ??= 'application/json'
      }
    }
    const res = await fetch(url + path, { method, headers, ...(body !== undefined && { body }) })
    const text = await res.text()
    let parsed: unknown = text
    try {
      parsed = text ? JSON.parse(text) : null
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, headers: res.headers, body: parsed, text }
  }
  return { app, url, api }
}
