/**
 * A stalled Redis (SIGSTOP: the connection stays open, nothing answers) must
 * not hang requests: every command is bounded (REDIS_COMMAND_TIMEOUT_MS, 2 s
 * by default), so a write answers 503 STORE_UNAVAILABLE in about 2 s and
 * /readyz within its own READINESS_TIMEOUT_MS; after SIGCONT everything,
 * the change-log reader included, works again.
 */
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { connectRedis } from '../../src/redis/connect.js'
import { createFlag, createSdkEnv } from '../helpers/sdk-fixtures.js'
import { ADMIN, startApp, startRedis, type TestServer } from '../helpers/server.js'
import { openSse } from '../helpers/sse-reader.js'
import { until } from '../helpers/wait.js'

t.test(
  'SIGSTOPped Redis: 503 STORE_UNAVAILABLE in about 2 s, readiness within its timeout; SIGCONT: served again',
  async (t) => {
    const redisServer = await startRedis(t)
    // The production client (connectRedis) with the default timeouts.
    const config = loadConfig({ LOG_LEVEL: 'silent', ADMIN_TOKEN: ADMIN, REDIS_URL: redisServer.url })
    t.equal(config.REDIS_COMMAND_TIMEOUT_MS, 2000)
    t.equal(config.READINESS_TIMEOUT_MS, 1000)
    const redis = connectRedis(config, redisServer.url)
    redis.on('error', () => {})
    await redis.connect()
    const started = await startApp(t, config, redis)
    const s = { ...started, config, redisServer } as unknown as TestServer
    const e = await createSdkEnv(s)
    await createFlag(s, 'new-checkout')
    const stream = await openSse(t, `${s.url}/api/v1/sdk/stream`, { token: e.serverToken })
    t.equal((await stream.next()).type, 'put')

    const pid = redisServer.pid
    if (pid === null) throw new Error('no redis-server pid')
    let stopped = false
    t.teardown(() => {
      if (stopped) process.kill(pid, 'SIGCONT')
    })
    process.kill(pid, 'SIGSTOP')
    stopped = true

    let t0 = Date.now()
    const kill = await s.api('POST', '/api/v1/environments/production/flags/new-checkout/kill', {
      body: { reason: 'stalled' },
    })
    const writeMs = Date.now() - t0
    t.equal(kill.status, 503)
    t.equal(kill.body.code, 'STORE_UNAVAILABLE')
    t.equal(kill.headers.get('retry-after'), '1')
    t.ok(writeMs < 3000, `the write answered 503 in ${writeMs} ms (bound: about 2 s)`)

    t0 = Date.now()
    const ready = await s.api('GET', '/readyz', { token: null })
    const readyMs = Date.now() - t0
    t.same([ready.status, ready.body.code], [503, 'STORE_UNAVAILABLE'])
    t.ok(readyMs < 2000, `/readyz answered in ${readyMs} ms (READINESS_TIMEOUT_MS 1000)`)
    t.equal((await s.api('GET', '/healthz', { token: null })).status, 200, 'liveness does not wait on Redis')

    process.kill(pid, 'SIGCONT')
    stopped = false
    await until(
      async () => (await s.api('GET', '/readyz', { token: null })).status === 200,
      15_000,
      'ready after SIGCONT',
    )
    // Still the same flag state? The timed-out kill may or may not have been applied; a new one is.
    const again = await s.api('POST', '/api/v1/environments/production/flags/new-checkout/toggle', {
      body: { on: true },
    })
    t.equal(again.status, 200, 'writes work again')
    const patch = await stream.next((ev) => ev.type === 'patch' && JSON.parse(ev.data).flag.on === true, 20_000)
    t.ok(patch, 'the stream that was open during the stall gets the change (the reader recovered)')
  },
)
