/**
 * The real SDK against the real server and Redis over HTTP/SSE: changes, kills,
 * restarts and outages (API, Redis, a wiped-then-restored token), resume from
 * the file cache.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { Registry } from 'prom-client'
import t from 'tap'
import { createClient, type ClientOptions, type SwitchyardClient } from '../../sdk/index.js'
import { fileStorage } from '../../sdk/node-storage.js'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import type { EmbeddedRedis } from '../../src/redis/embedded.js'
import {
  createFlag,
  createSdkEnv,
  encodeContext,
  metricValue,
  putConfig,
  toggle,
  type SdkEnv,
} from '../helpers/sdk-fixtures.js'
import { ADMIN, startRedis, startServer, type Teardown } from '../helpers/server.js'
import { until } from '../helpers/wait.js'

const quiet = { warn() {}, error() {}, info() {}, debug() {} }

function sdk(
  t: Teardown,
  url: string,
  token: string,
  extra: Partial<Parameters<typeof createClient>[0]> = {},
): SwitchyardClient {
  const c = createClient({
    url,
    token,
    logger: quiet,
    initialRetryMs: 50,
    maxRetryMs: 200,
    sendMetrics: false,
    ...extra,
  })
  t.teardown(() => c.close())
  return c
}

/** An app on a given port (0: any), so a restarted API can come back at the same URL. */
async function appOn(
  t: Teardown,
  redisServer: EmbeddedRedis,
  port: number,
  env: Record<string, string> = { STREAM_RETRY_MS: '50' },
): Promise<{ app: FastifyInstance; port: number; stop: () => Promise<void> }> {
  const config = loadConfig({ LOG_LEVEL: 'silent', ADMIN_TOKEN: ADMIN, REDIS_URL: redisServer.url, ...env })
  const redis = new Redis(redisServer.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true })
  redis.on('error', () => {})
  await redis.connect()
  const app = await buildApp(config, { redis, registry: new Registry() })
  await app.listen({ port, host: '127.0.0.1' })
  const addr = app.server.address()
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    await app.close()
    redis.disconnect()
  }
  t.teardown(stop)
  return { app, port: typeof addr === 'object' && addr ? addr.port : port, stop }
}

function nextChange(c: SwitchyardClient, want: (keys: string[]) => boolean, timeoutMs = 5000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      c.off('change', on)
      reject(new Error('no change event'))
    }, timeoutMs)
    const on = (keys: string[]) => {
      if (!want(keys)) return
      clearTimeout(timer)
      c.off('change', on)
      resolve(keys)
    }
    c.on('change', on)
  })
}

t.test('a REST write reaches the SDK as a change; a kill turns it off', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s)
  await createFlag(s, 'new-checkout')
  const c = sdk(t, s.url, e.serverToken)
  await c.ready({ timeoutMs: 5000 })
  t.equal(c.source, 'server')
  t.equal(c.isEnabled('new-checkout', { key: 'u1' }), false)
  const changed = nextChange(c, (k) => k.includes('new-checkout'))
  await putConfig(s, 'production', 'new-checkout', {
    rules: [{ id: 'gb', clauses: [{ attribute: 'country', op: 'in', values: ['GB'] }], serve: { variation: 0 } }],
  })
  t.same(await changed, ['new-checkout'])
  t.equal(c.isEnabled('new-checkout', { key: 'u1', country: 'GB' }), true)
  t.same(c.variationDetail('new-checkout', { key: 'u1', country: 'GB' }, false).reason, {
    kind: 'RULE_MATCH',
    ruleId: 'gb',
  })

  const killed = nextChange(c, (k) => k.includes('new-checkout'))
  const r = await s.api('POST', '/api/v1/environments/production/flags/new-checkout/kill', {
    body: { reason: 'incident' },
  })
  t.equal(r.status, 200)
  await killed
  t.equal(c.isEnabled('new-checkout', { key: 'u1', country: 'GB' }), false)
  t.same(c.variationDetail('new-checkout', { key: 'u1', country: 'GB' }, true).reason, { kind: 'OFF' })
  const last = (await s.redis.xrevrange('sy:{production}:log', '+', '-', 'COUNT', 1)) as Array<[string, string[]]>
  t.equal(c.appliedId, last[0]![0], 'the SDK applied the kill id')

  // The SDK's own metrics report lets the server prove the kill arrived.
  const reporter = sdk(t, s.url, e.serverToken, { sendMetrics: true, metricsDebounceMs: 10 })
  await reporter.ready({ timeoutMs: 5000 })
  reporter.isEnabled('new-checkout', { key: 'u1' })
  await until(
    async () =>
      (await s.api('GET', `/api/v1/environments/production/sdk-status?changeId=${last[0]![0]}`)).body.applied >= 1,
    5000,
    'sdk-status to show the kill applied',
  )
  t.pass('sdk-status shows the kill applied')
})

t.test(
  'the API restarts while writes happen: the SDK resumes with Last-Event-ID and ends with every change',
  async (t) => {
    const redisServer = await startRedis(t)
    const writer = await startServer(t, { redisServer })
    const e = await createSdkEnv(writer)
    const N = 30
    for (let i = 0; i < N; i++) await createFlag(writer, `f-${i}`)
    const a = await appOn(t, redisServer, 0)
    // The API is down for as long as 15 writes take: on a loaded machine that can exceed 3 quick retries,
    // after which the SDK would poll every 30 s instead of resuming the stream this test is about.
    const c = sdk(t, `http://127.0.0.1:${a.port}`, e.serverToken, { streamFailuresBeforePolling: 1000 })
    await c.ready({ timeoutMs: 5000 })
    for (let i = 0; i < 5; i++) await toggle(writer, 'production', `f-${i}`, true)
    await until(() => c.isEnabled('f-4'), 5000, 'the first writes')
    const beforeRestart = c.appliedId
    await a.stop()
    for (let i = 5; i < 20; i++) await toggle(writer, 'production', `f-${i}`, true)
    const a2 = await appOn(t, redisServer, a.port)
    const more = (async () => {
      for (let i = 20; i < N; i++) await toggle(writer, 'production', `f-${i}`, true)
    })()
    await more
    await until(
      () => Array.from({ length: N }, (_, i) => c.isEnabled(`f-${i}`)).every(Boolean),
      10_000,
      'every change on the SDK',
    )
    const last = (await writer.redis.xrevrange('sy:{production}:log', '+', '-', 'COUNT', 1)) as Array<
      [string, string[]]
    >
    await until(() => c.appliedId === last[0]![0], 5000, 'the last id')
    t.not(beforeRestart, c.appliedId)
    // It resumed: the restarted instance replayed patches and sent no put.
    // metricValue only needs `api`; point it at the restarted instance.
    const fake = {
      api: async (method: string, path: string) => {
        const res = await fetch(`http://127.0.0.1:${a2.port}${path}`, { method })
        return { status: res.status, text: await res.text(), body: null, headers: res.headers }
      },
    }
    t.equal(
      await metricValue(fake as never, 'switchyard_stream_events_total', { event: 'put' }),
      0,
      'no put after the restart',
    )
    t.ok(
      (await metricValue(fake as never, 'switchyard_stream_events_total', { event: 'patch' })) >= 15,
      'the missed changes were replayed',
    )
  },
)

t.test('the API is down at start: last-known-good answers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sy-lkg-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'switchyard.json')
  const redisServer = await startRedis(t)
  const writer = await startServer(t, { redisServer })
  const e = await createSdkEnv(writer)
  await createFlag(writer, 'lkg')
  await toggle(writer, 'production', 'lkg', true)
  await putConfig(writer, 'production', 'lkg', { fallthrough: { variation: 0 } })
  const a = await appOn(t, redisServer, 0)
  const url = `http://127.0.0.1:${a.port}`
  const first = createClient({
    url,
    token: e.serverToken,
    storage: fileStorage(file),
    logger: quiet,
    sendMetrics: false,
  })
  await first.ready({ timeoutMs: 5000 })
  t.equal(first.isEnabled('lkg', { key: 'x' }), true)
  await first.close() // flushes last-known-good
  await a.stop()

  const second = sdk(t, url, e.serverToken, { storage: fileStorage(file) })
  await second.ready({ timeoutMs: 5000 })
  t.equal(second.source, 'cache')
  t.equal(second.isEnabled('lkg', { key: 'x' }), true, 'answers from the file')
  t.equal(second.isEnabled('unknown-flag', { key: 'x' }), false, 'defaults for the rest')
})

t.test('two instances: a write through one reaches an SDK on the other', async (t) => {
  const redisServer = await startRedis(t)
  const a = await startServer(t, { redisServer })
  const b = await startServer(t, { redisServer })
  const e = await createSdkEnv(a)
  await createFlag(a, 'x')
  const c = sdk(t, b.url, e.serverToken)
  await c.ready({ timeoutMs: 5000 })
  const changed = nextChange(c, (k) => k.includes('x'))
  await toggle(a, 'production', 'x', true)
  await changed
  t.not(c.variationDetail('x', { key: 'k' }, true).reason.kind, 'OFF', 'the flag is on in the SDK')
  await putConfig(a, 'production', 'x', { fallthrough: { variation: 0 } })
  await until(() => c.isEnabled('x', { key: 'k' }), 5000, 'the second change')
  t.ok(c.isEnabled('x', { key: 'k' }))
})

t.test('browser mode: a kill that does not change its values still counts as applied in sdk-status', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s)
  await createFlag(s, 'banner', { clientSide: true })
  await createFlag(s, 'payments')
  await putConfig(s, 'production', 'banner', { fallthrough: { variation: 0 } })
  await putConfig(s, 'production', 'payments', { fallthrough: { variation: 0 } })
  const browser = sdk(t, s.url, e.clientToken, {
    mode: 'client',
    context: { key: 'visitor-1' },
    sendMetrics: true,
    metricsDebounceMs: 10,
  })
  await browser.ready({ timeoutMs: 5000 })
  t.equal(browser.isEnabled('banner'), true)
  const changes: string[][] = []
  browser.on('change', (keys) => changes.push(keys))
  const putId = browser.appliedId
  t.match(putId, /^\d+-\d+$/)

  // payments is server-side only: the browser's values do not change.
  const r = await s.api('POST', '/api/v1/environments/production/flags/payments/kill', { body: { reason: 'incident' } })
  t.equal(r.status, 200, r.text)
  const kill = (
    (await s.redis.xrevrange('sy:{production}:log', '+', '-', 'COUNT', 1)) as Array<[string, string[]]>
  )[0]![0]
  t.not(kill, putId)
  await until(() => browser.appliedId === kill, 5000, 'the browser SDK to record the kill id')
  t.same(changes, [], 'an ack is not a change')
  t.equal(browser.isEnabled('banner'), true)
  await until(
    async () =>
      (await s.api('GET', `/api/v1/environments/production/sdk-status?changeId=${kill}`)).body.clients.applied === 1,
    5000,
    'sdk-status to count the browser',
  )
  const status = (await s.api('GET', `/api/v1/environments/production/sdk-status?changeId=${kill}`)).body
  t.same(
    status.clients,
    { total: 1, applied: 1, pending: 0, capped: false },
    'the browser is not pending for a kill that did not affect it',
  )
  t.same(status.instances, [], 'browsers are counted apart from the server SDKs')

  // A change of its own values still arrives as a change (and its id is applied too).
  const changed = nextChange(browser, (k) => k.includes('banner'))
  await s.api('POST', '/api/v1/environments/production/flags/banner/kill', { body: {} })
  t.same(await changed, ['banner'])
  t.equal(browser.isEnabled('banner'), false)
  const kill2 = (
    (await s.redis.xrevrange('sy:{production}:log', '+', '-', 'COUNT', 1)) as Array<[string, string[]]>
  )[0]![0]
  t.equal(browser.appliedId, kill2)
})

/** A fetch that counts the bytes of every response body it returns (what the SDK downloaded). */
function countingFetch(): { fetch: typeof fetch; bytes: () => number } {
  let n = 0
  const counted: typeof fetch = async (input, init) => {
    const res = await fetch(input, init)
    if (!res.body) return res
    const body = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctrl) {
          n += chunk.byteLength
          ctrl.enqueue(chunk)
        },
      }),
    )
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers })
  }
  return { fetch: counted, bytes: () => n }
}

t.test(
  'a restart with fileStorage resumes from the cached change id: bytes transferred, first start vs restart',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-lkg-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'switchyard.json')
    const s = await startServer(t)
    const e = await createSdkEnv(s)
    const included = Array.from({ length: 100_000 }, (_, i) => `customer-${String(i).padStart(7, '0')}`)
    const seg = await s.api('POST', '/api/v1/environments/production/segments', { body: { key: 'big', included } })
    t.equal(seg.status, 201, seg.text)
    await createFlag(s, 'gate')
    await putConfig(s, 'production', 'gate', {
      rules: [
        { id: 'big', clauses: [{ attribute: 'key', op: 'inSegment', values: ['big'] }], serve: { variation: 0 } },
      ],
    })

    const first = countingFetch()
    const a = createClient({
      url: s.url,
      token: e.serverToken,
      storage: fileStorage(file),
      fetch: first.fetch,
      logger: quiet,
      sendMetrics: false,
    })
    await a.ready({ timeoutMs: 10_000 })
    t.equal(a.isEnabled('gate', { key: 'customer-0099999' }), true)
    const applied = a.appliedId
    await a.close() // flushes last-known-good
    const firstBytes = first.bytes()

    const second = countingFetch()
    const b = sdk(t, s.url, e.serverToken, { storage: fileStorage(file), fetch: second.fetch })
    await until(() => b.source === 'server', 10_000, 'the restarted SDK to be confirmed by the server')
    const secondBytes = second.bytes()
    t.comment(`bytes downloaded: first start ${firstBytes}, restart ${secondBytes}`)
    t.equal(b.appliedId, applied)
    t.equal(b.isEnabled('gate', { key: 'customer-0099999' }), true, 'the members came from the file')
    t.ok(firstBytes > 1_000_000, `the first start downloads the ruleset (${firstBytes} bytes)`)
    t.ok(secondBytes < 1000, `the restart resumes instead (${secondBytes} bytes)`)
    const killed = nextChange(b, (k) => k.includes('gate'))
    await s.api('POST', '/api/v1/environments/production/flags/gate/kill', { body: { reason: 'after resume' } })
    await killed
    t.equal(b.isEnabled('gate', { key: 'customer-0099999' }, true), false, 'the resumed stream is live')
  },
)

/** An SDK of one kind, watched for the moment it applies the kill of `flag`. */
interface Watched {
  name: string
  client: SwitchyardClient
  fallback: boolean
  errors: number
  fatal: number
  killedAt: number | null
}

const VISITOR = { key: 'visitor-1' }

/**
 * One SDK per mode with default timings: server and client mode, each either kept on
 * stream reconnects (`streamFailuresBeforePolling` out of reach) or sent to the polling
 * fallback by its first failure, so each path is exercised whatever the jitter draws.
 */
function watch(
  t: Teardown,
  url: string,
  e: SdkEnv,
  flag: string,
  only: 'streaming' | 'fallback' | 'all',
  extra: Partial<ClientOptions> = {},
  bootstrap?: { server: unknown; client: unknown },
): Watched[] {
  const kinds = [
    { name: 'server mode, streaming', mode: 'server' as const, fallback: false },
    { name: 'server mode, polling fallback', mode: 'server' as const, fallback: true },
    { name: 'client mode, streaming', mode: 'client' as const, fallback: false },
    { name: 'client mode, polling fallback', mode: 'client' as const, fallback: true },
  ].filter((k) => only === 'all' || k.fallback === (only === 'fallback'))
  return kinds.map((k) => {
    const client = createClient({
      url,
      token: k.mode === 'server' ? e.serverToken : e.clientToken,
      mode: k.mode,
      context: VISITOR,
      logger: quiet,
      sendMetrics: false,
      streamFailuresBeforePolling: k.fallback ? 1 : 1_000_000,
      ...(bootstrap && {
        bootstrap: (k.mode === 'server' ? bootstrap.server : bootstrap.client) as NonNullable<
          ClientOptions['bootstrap']
        >,
      }),
      ...extra,
    })
    t.teardown(() => client.close())
    const w: Watched = { name: k.name, client, fallback: k.fallback, errors: 0, fatal: 0, killedAt: null }
    client.on('error', (err) => {
      w.errors++
      if (err.fatal) w.fatal++
    })
    client.on('change', () => {
      if (w.killedAt === null && !client.isEnabled(flag, VISITOR, true)) w.killedAt = Date.now()
    })
    return w
  })
}

/** A client-side flag, on and serving true to everyone. */
async function servingTrue(s: Parameters<typeof createFlag>[0], key: string): Promise<void> {
  await createFlag(s, key, { clientSide: true })
  await putConfig(s, 'production', key, { fallthrough: { variation: 0 } })
}

async function kill(url: string, key: string): Promise<void> {
  const r = await fetch(`${url}/api/v1/environments/production/flags/${key}/kill`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ reason: 'incident' }),
  })
  if (r.status !== 200) throw new Error(`kill: ${r.status} ${await r.text()}`)
}

/** Waits for every SDK to apply the kill; asserts each did within `boundMs` of `since`. */
async function assertKilledWithin(
  t: Teardown & { ok: (v: unknown, m: string) => void; comment: (m: string) => void },
  sdks: Watched[],
  since: number,
  boundMs: number,
  sinceWhat = 'the API answered again',
): Promise<void> {
  // Waits past the bound, so a failure reports the figure instead of a timeout.
  await until(() => sdks.every((w) => w.killedAt !== null), boundMs + 40_000, 'every SDK to apply the kill').catch(
    () => {},
  )
  for (const w of sdks) {
    const ms = w.killedAt === null ? null : w.killedAt - since
    t.comment(`${w.name}: kill applied ${ms === null ? 'never' : `${ms} ms`} after ${sinceWhat}`)
    t.ok(ms !== null && ms <= boundMs, `${w.name}: kill applied within ${boundMs} ms (${ms} ms)`)
  }
}

t.test('API outage: every SDK, whichever mode, applies a kill within 5 s of the API answering again', async (t) => {
  const redisServer = await startRedis(t)
  const writer = await startServer(t, { redisServer })
  const e = await createSdkEnv(writer)
  await servingTrue(writer, 'payments')
  // The API the SDKs use, with the server's default retry hint.
  const a = await appOn(t, redisServer, 0, {})
  const url = `http://127.0.0.1:${a.port}`
  const sdks = watch(t, url, e, 'payments', 'all')
  await Promise.all(sdks.map((w) => w.client.ready({ timeoutMs: 10_000 })))
  for (const w of sdks) t.equal(w.client.isEnabled('payments', VISITOR), true, `${w.name}: on before the outage`)

  await a.stop()
  // Down until every SDK failed 4 times: long enough for backoffs to grow (before the fix, a stream
  // retry was then up to 16 s away, and the fallback polled every 30 s and retried the stream every 5 min).
  await until(
    () => sdks.every((w) => w.errors >= 4 && w.client.polling === w.fallback),
    60_000,
    'every SDK to fail repeatedly',
  )
  for (const w of sdks)
    t.equal(w.client.isEnabled('payments', VISITOR), true, `${w.name}: answers from memory while the API is down`)

  await appOn(t, redisServer, a.port, {})
  const health = await fetch(`${url}/healthz`)
  const since = Date.now()
  t.equal(health.status, 200)
  await kill(url, 'payments')
  await assertKilledWithin(t, sdks, since, 5000)
})

t.test('Redis outage: every SDK, whichever mode, applies a kill within 5 s of the API answering again', async (t) => {
  const redisServer = await startRedis(t, { appendOnly: true })
  const s = await startServer(t, { redisServer })
  const e = await createSdkEnv(s)
  await servingTrue(s, 'payments')
  const rules = await s.api('GET', '/api/v1/sdk/rules', { token: e.serverToken })
  const values = await s.api('GET', `/api/v1/sdk/client/values?context=${encodeContext(VISITOR)}`, {
    token: e.clientToken,
  })
  t.equal(rules.status, 200)
  t.equal(values.status, 200)
  const streaming = watch(t, s.url, e, 'payments', 'streaming')
  await Promise.all(streaming.map((w) => w.client.ready({ timeoutMs: 10_000 })))

  await redisServer.kill()
  await until(async () => (await s.api('GET', '/readyz', { token: null })).status === 503, 10_000, 'readiness to fail')
  // SDKs that start during the outage (from a bootstrap) cannot stream: they end in the polling fallback.
  const started = watch(t, s.url, e, 'payments', 'fallback', {}, { server: rules.body, client: values.body })
  await until(() => started.every((w) => w.errors >= 4 && w.client.polling), 60_000, 'the new SDKs to fail repeatedly')
  const sdks = [...streaming, ...started]
  for (const w of sdks)
    t.equal(w.client.isEnabled('payments', VISITOR), true, `${w.name}: answers from memory while Redis is down`)

  await redisServer.start()
  await until(
    async () => (await s.api('GET', '/readyz', { token: null })).status === 200,
    30_000,
    'readiness to recover',
  )
  const since = Date.now()
  await kill(s.url, 'payments')
  await assertKilledWithin(t, sdks, since, 5000)
})

// A wiped Redis no longer refuses SDKs (the instance marker turns it into STORE_RESET and open streams are
// held: test/faults/store-reset.test.ts); here the token records alone disappear and come back, as when
// an operator restores them from a backup after a bad cleanup.
t.test(
  'the token stops working (token records lost) and comes back (restored): the SDKs keep answering, then recover by themselves',
  async (t) => {
    const authRetryMs = 1000
    const s = await startServer(t, { env: { STREAM_TOKEN_RECHECK_MS: '200', RATE_LIMIT_AUTH_FAILURES: '0' } })
    const e = await createSdkEnv(s)
    await servingTrue(s, 'payments')
    const sdks = watch(t, s.url, e, 'payments', 'all', { authRetryMs })
    await Promise.all(sdks.map((w) => w.client.ready({ timeoutMs: 10_000 })))
    const keys = await s.redis.keys('sy:{global}:token*')
    t.equal(keys.length, 2, 'the token records and their hash index')
    const dumps = await Promise.all(keys.map(async (k) => [k, await s.redis.dumpBuffer(k)] as const))
    await s.redis.del(...keys)
    await until(() => sdks.every((w) => w.fatal >= 2), 30_000, 'every SDK to be refused twice (it keeps probing)')
    for (const w of sdks) t.equal(w.client.isEnabled('payments', VISITOR), true, `${w.name}: keeps its last values`)

    for (const [k, d] of dumps) if (d) await s.redis.restore(k, 0, d, 'REPLACE')
    const since = Date.now()
    await kill(s.url, 'payments')
    // A probe comes within authRetryMs; the reconnect and the kill then take as long as after any outage.
    await assertKilledWithin(t, sdks, since, authRetryMs + 5000, 'the data was restored')
  },
)
