/**
 * Redis loses its data (FLUSHALL: what a restart on an empty data directory or
 * a failover to an empty replica also looks like). The instance marker is
 * gone: readiness fails with STORE_RESET, the gauge says so, the bootstrap
 * admin works again, and SDK streams are neither told that the environment
 * was deleted nor closed as revoked: they keep their last-known-good rules.
 * Recovery: the data comes back (the marker with it), or an admin accepts
 * the empty store.
 */
import t from 'tap'
import { createClient, type SwitchyardClient } from '../../sdk/index.js'
import { createFlag, createSdkEnv, metricValue, toggle } from '../helpers/sdk-fixtures.js'
import { ADMIN, startServer, type Teardown, type TestServer } from '../helpers/server.js'
import { openSse, type SseConnection } from '../helpers/sse-reader.js'
import { until } from '../helpers/wait.js'

const quiet = { warn() {}, error() {}, info() {}, debug() {} }
const fast = { STORE_CHECK_MS: '200', STREAM_TOKEN_RECHECK_MS: '100', STREAM_HEARTBEAT_MS: '100' }

function sdk(t: Teardown, url: string, token: string): SwitchyardClient {
  const c = createClient({ url, token, logger: quiet, initialRetryMs: 50, maxRetryMs: 200, sendMetrics: false })
  t.teardown(() => c.close())
  return c
}

async function readyCode(s: TestServer): Promise<string> {
  const r = await s.api('GET', '/readyz', { token: null })
  return r.status === 200 ? 'ready' : String(r.body.code)
}

/** A production environment with a flag that is on, a raw rules stream and a real SDK on it. */
async function liveStream(t: Teardown, s: TestServer): Promise<{ stream: SseConnection; c: SwitchyardClient }> {
  const e = await createSdkEnv(s)
  await createFlag(s, 'new-checkout')
  await toggle(s, 'production', 'new-checkout', true)
  const stream = await openSse(t, `${s.url}/api/v1/sdk/stream`, { token: e.serverToken })
  if ((await stream.next()).type !== 'put') throw new Error('expected a put first')
  const c = sdk(t, s.url, e.serverToken)
  await c.ready({ timeoutMs: 10_000 })
  return { stream, c }
}

/** Waits until the change-log reader holds its state, then for a few heartbeats (the token re-check runs on every one of them). */
async function heldQuietly(s: TestServer, stream: SseConnection): Promise<void> {
  // The reader notices when its XREAD BLOCK (5 s) returns and the environment's generation is gone.
  await until(
    async () => (await metricValue(s, 'switchyard_stream_channels_held')) === 1,
    20_000,
    'the reader to hold its state',
  )
  const pings = stream.comments.length
  await until(() => stream.comments.length >= pings + 5 || stream.isEnded(), 10_000, 'five more heartbeats')
}

t.test('FLUSHALL: STORE_RESET, admin token back, SDKs keep last-known-good; an admin re-initialises', async (t) => {
  const s = await startServer(t, { env: fast })
  const { stream, c } = await liveStream(t, s)
  t.equal(await readyCode(s), 'ready')
  t.equal(await metricValue(s, 'switchyard_store_reset'), 0)

  await s.redis.flushall()
  await until(async () => (await readyCode(s)) === 'STORE_RESET', 10_000, 'readiness to fail with STORE_RESET')
  const r = await s.api('GET', '/readyz', { token: null })
  t.equal(r.status, 503)
  t.match(r.body.message, /lost its data/)
  t.equal(await metricValue(s, 'switchyard_store_reset'), 1, 'the gauge is set')
  const tokens = await s.api('GET', '/api/v1/tokens', { token: ADMIN })
  t.equal(tokens.status, 200, 'the ADMIN_TOKEN bootstrap admin works again')
  t.same(
    tokens.body.items.map((x: { id: string }) => x.id),
    ['bootstrap-admin'],
  )

  await heldQuietly(s, stream)
  t.notOk(stream.isEnded(), 'the stream stays open')
  t.same(
    stream.events.map((e) => e.type),
    ['put'],
    'no delete, patch or put after the wipe',
  )
  t.equal(await metricValue(s, 'switchyard_stream_disconnects_total'), 0, 'no stream closed as deleted or revoked')
  t.equal(c.isEnabled('new-checkout', { key: 'u1' }), true, 'the SDK keeps its last-known-good rules')
  t.equal(await readyCode(s), 'STORE_RESET', 'still not ready: nobody decided yet')

  // Recovery by decision: an admin accepts the store as it is.
  t.equal((await s.api('POST', '/api/v1/store/initialise', { token: null })).status, 401)
  const init = await s.api('POST', '/api/v1/store/initialise')
  t.same([init.status, init.body], [200, { status: 'initialised' }])
  t.equal(await readyCode(s), 'ready')
  t.equal(await metricValue(s, 'switchyard_store_reset'), 0)
  await until(
    async () => (await metricValue(s, 'switchyard_stream_channels_held')) === 0,
    10_000,
    'the reader to resume',
  )
  await stream.ended
  t.pass('streams of the environment that no longer exists are closed once the empty store is accepted')
  t.equal(c.isEnabled('new-checkout', { key: 'u1' }), true, 'the SDK still answers from memory')
  t.same((await s.api('POST', '/api/v1/store/initialise')).body, { status: 'ready' }, 'a second call changes nothing')
})

t.test(
  'the data comes back (restored with its marker): ready again, the streams resume and a kill arrives',
  async (t) => {
    const s = await startServer(t, { env: fast })
    const { stream, c } = await liveStream(t, s)
    t.equal(await readyCode(s), 'ready')
    // A backup of every key, as DUMP payloads.
    const keys = await s.redis.keys('*')
    const backup = await Promise.all(keys.map(async (k) => [k, await s.redis.dumpBuffer(k)] as const))

    await s.redis.flushall()
    await until(async () => (await readyCode(s)) === 'STORE_RESET', 10_000, 'STORE_RESET')
    await heldQuietly(s, stream)
    t.same(
      stream.events.map((e) => e.type),
      ['put'],
      'nothing sent during the reset',
    )

    // The marker last, as a restart on the restored data file would have it all at once: while it is missing
    // the instance holds its streams; with it back and the token not yet restored, the token re-check would
    // (rightly) close the stream as revoked.
    const marker = (k: string) => k.endsWith(':marker')
    t.ok(
      backup.some(([k]) => marker(k)),
      'the backup has the marker',
    )
    for (const [k, v] of [...backup.filter(([k]) => !marker(k)), ...backup.filter(([k]) => marker(k))])
      if (v) await s.redis.restore(k, 0, v, 'REPLACE')
    await until(async () => (await readyCode(s)) === 'ready', 10_000, 'ready once the marker is back')
    t.equal(await metricValue(s, 'switchyard_store_reset'), 0)
    await until(
      async () => (await metricValue(s, 'switchyard_stream_channels_held')) === 0,
      10_000,
      'the reader to resume',
    )

    const kill = await s.api('POST', '/api/v1/environments/production/flags/new-checkout/kill', {
      body: { reason: 'after the restore' },
    })
    t.equal(kill.status, 200)
    const patch = await stream.next((e) => e.type === 'patch', 10_000)
    t.equal(JSON.parse(patch.data).flag.on, false, 'the kill reaches the stream that stayed open')
    t.notOk(stream.isEnded())
    await until(() => !c.isEnabled('new-checkout', { key: 'u1' }), 10_000, 'the SDK applies the kill')
    t.pass('the SDK applies the kill')
  },
)
