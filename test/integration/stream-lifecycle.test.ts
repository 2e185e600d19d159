/**
 * Environment channel lifecycle: a deleted environment's streams close and its
 * compiled state is dropped on every instance (also when one with the same key
 * is re-created); an idle channel stops its reader and restarts on demand.
 */
import t from 'tap'
import { createFlag, createSdkEnv, encodeContext, metricValue, putConfig, toggle } from '../helpers/sdk-fixtures.js'
import { startRedis, startServer, type TestServer } from '../helpers/server.js'
import { openSse, type SseConnection } from '../helpers/sse-reader.js'
import { until } from '../helpers/wait.js'

const STREAM = '/api/v1/sdk/stream'
const CLIENT_STREAM = '/api/v1/sdk/client/stream'
const VALUES = '/api/v1/sdk/client/values'

function ended(c: SseConnection, what: string, timeoutMs = 5000): Promise<void> {
  let timer: NodeJS.Timeout
  return Promise.race([
    c.ended.then(() => clearTimeout(timer)),
    new Promise<void>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: still open after ${timeoutMs} ms`)), timeoutMs)
    }),
  ])
}

/** Blocked XREAD connections of this Redis (the channels' readers). */
async function readers(s: TestServer): Promise<number> {
  const list = (await s.redis.client('LIST')) as string
  return list.split('\n').filter((l) => / cmd=xread\b/.test(l)).length
}

t.test(
  'a deleted environment: streams close on every instance, its state and SDK reports go; a re-created one starts clean',
  async (t) => {
    const redisServer = await startRedis(t)
    const a = await startServer(t, { redisServer })
    const b = await startServer(t, { redisServer })
    const e = await createSdkEnv(a)
    await createFlag(a, 'banner', { clientSide: true })
    let r = await a.api('POST', '/api/v1/environments/production/segments', {
      body: { key: 'beta', included: ['bob'] },
    })
    t.equal(r.status, 201, r.text)
    await putConfig(a, 'production', 'banner', {
      rules: [
        { id: 'beta', clauses: [{ attribute: 'key', op: 'inSegment', values: ['beta'] }], serve: { variation: 0 } },
      ],
    })
    const ctx = encodeContext({ key: 'bob' })
    const onA = await openSse(t, a.url + STREAM, { token: e.serverToken })
    const onB = await openSse(t, b.url + STREAM, { token: e.serverToken })
    const browserB = await openSse(t, `${b.url}${CLIENT_STREAM}?context=${ctx}`, { token: e.clientToken })
    const oldPut = await onB.next()
    t.same(Object.keys(JSON.parse(oldPut.data).segments), ['beta'])
    t.same(JSON.parse((await browserB.next()).data).flags.banner.value, true, 'bob is in beta')
    await onA.next()
    r = await a.api('POST', '/api/v1/sdk/metrics', {
      token: e.serverToken,
      body: { sdkId: 'old-sdk', mode: 'server', appliedId: oldPut.id },
    })
    t.equal(r.status, 202)

    r = await a.api('DELETE', '/api/v1/environments/production')
    t.equal(r.status, 204, r.text)
    await ended(onA, 'rules stream on the instance that deleted')
    await ended(onB, 'rules stream on another instance')
    await ended(browserB, 'browser stream on another instance')
    t.equal(await metricValue(b, 'switchyard_stream_disconnects_total', { reason: 'deleted' }), 2)
    t.equal(await metricValue(b, 'switchyard_stream_channel_stops_total', { reason: 'deleted' }), 1)
    t.equal(await a.redis.exists('sy:{production}:sdk'), 0, 'the SDK reports went with the environment')

    // Re-created with the same key: no segment beta, banner back to its default configuration.
    const e2 = await createSdkEnv(a)
    r = await b.api('GET', `${VALUES}?context=${ctx}`, { token: e2.clientToken })
    t.equal(r.status, 200, r.text)
    t.same(
      r.body.flags.banner,
      { value: false, variation: 1, reason: { kind: 'OFF' } },
      "not the deleted environment's value",
    )
    const fresh = await openSse(t, b.url + STREAM, { token: e2.serverToken })
    const put = await fresh.next()
    t.equal(put.type, 'put')
    const rs = JSON.parse(put.data)
    t.same(rs.segments, {}, 'no segment of the deleted environment')
    t.equal(rs.flags.banner.on, false)
    t.same(rs.flags.banner.rules, [])
    r = await a.api('GET', `/api/v1/environments/production/sdk-status?changeId=${put.id}`)
    t.equal(r.body.total, 0, 'no SDK report of the deleted environment')
    // The new channel follows the new log.
    await toggle(a, 'production', 'banner', true)
    const p = await fresh.next((ev) => ev.type === 'patch')
    t.equal(JSON.parse(p.data).flag.on, true)
    const evalB = await b.api('GET', `${VALUES}?context=${ctx}`, { token: e2.clientToken })
    t.same(
      evalB.body.flags.banner.reason,
      { kind: 'FALLTHROUGH' },
      'no rule or segment of the deleted environment matches bob',
    )
  },
)

t.test('an idle channel stops its reader and restarts on the next use; one with a stream stays', async (t) => {
  const s = await startServer(t, { env: { STREAM_IDLE_CHANNEL_MS: '1000' } })
  const keep = await createSdkEnv(s, 'keep')
  const idle = await createSdkEnv(s, 'idle')
  await createFlag(s, 'f')
  const before = await readers(s)
  const c = await openSse(t, s.url + STREAM, { token: keep.serverToken })
  await c.next()
  let r = await s.api('GET', '/api/v1/sdk/rules', { token: idle.serverToken })
  t.equal(r.status, 200)
  t.equal(await metricValue(s, 'switchyard_stream_channels'), 2)
  await until(async () => (await readers(s)) === before + 2, 5000, 'two readers')

  // 'idle' was used after 'keep' started: had 'keep' been stopped despite its stream, it would be first.
  await until(
    async () => (await metricValue(s, 'switchyard_stream_channel_stops_total', { reason: 'idle' })) === 1,
    5000,
    'the idle channel to stop',
  )
  t.equal(await metricValue(s, 'switchyard_stream_channels'), 1, 'the channel with a stream stays')
  await until(async () => (await readers(s)) === before + 1, 5000, 'its reader connection to close')

  // A write while stopped, then a use: restarted, and current.
  await toggle(s, 'idle', 'f', true)
  r = await s.api('GET', '/api/v1/sdk/rules', { token: idle.serverToken })
  t.equal(r.status, 200)
  t.equal(r.body.flags.f.on, true)
  t.equal(await metricValue(s, 'switchyard_stream_channels'), 2, 'restarted lazily')
  // The kept channel still delivers.
  await toggle(s, 'keep', 'f', true)
  const p = await c.next((ev) => ev.type === 'patch')
  t.equal(JSON.parse(p.data).flag.on, true)

  // Its last stream gone, 'keep' goes idle too.
  c.close()
  await until(
    async () => (await metricValue(s, 'switchyard_stream_channel_stops_total', { reason: 'idle' })) === 3,
    5000,
    'both channels to stop',
  )
  t.equal(await metricValue(s, 'switchyard_stream_channels'), 0)
  await until(async () => (await readers(s)) === before, 5000, 'no reader left')
})

t.test("the streams keep the app's clock: change-log lag and a channel's idle time are measured with it", async (t) => {
  // An hour ahead of the change log's ids (Redis time), and standing still until the test moves it.
  let clock = Date.now() + 3_600_000
  const s = await startServer(t, {
    now: () => new Date(clock),
    env: { STREAM_IDLE_CHANNEL_MS: '1000', STREAM_HEARTBEAT_MS: '1500' },
  })
  const keep = await createSdkEnv(s, 'keep')
  const idle = await createSdkEnv(s, 'idle')
  await createFlag(s, 'f')
  const c = await openSse(t, s.url + STREAM, { token: keep.serverToken })
  await c.next()
  await toggle(s, 'keep', 'f', true)
  await c.next((ev) => ev.type === 'patch')
  t.ok(
    (await metricValue(s, 'switchyard_changelog_lag_seconds_sum')) >= 3500,
    'the lag of a delivered change is measured on the app clock (an hour ahead)',
  )

  const r = await s.api('GET', '/api/v1/sdk/rules', { token: idle.serverToken })
  t.equal(r.status, 200)
  // Two heartbeats after the last use: over 1.25 × STREAM_IDLE_CHANNEL_MS of real time has passed.
  const pings = c.comments.length
  await until(() => c.comments.length >= pings + 2, 10_000, 'two heartbeats')
  t.equal(
    await metricValue(s, 'switchyard_stream_channel_stops_total', { reason: 'idle' }),
    0,
    'no channel stopped while the app clock stood still',
  )
  clock += 2000
  await until(
    async () => (await metricValue(s, 'switchyard_stream_channel_stops_total', { reason: 'idle' })) === 1,
    5000,
    'the idle channel to stop once the app clock passed its idle time',
  )
  t.equal(await metricValue(s, 'switchyard_stream_channels'), 1, 'the channel with a stream stays')
})
