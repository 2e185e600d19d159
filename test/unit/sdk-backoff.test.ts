/**
 * Reconnect backoff: exponential caps 1 s → 30 s, full jitter, reset after a
 * stable minute (Backoff with an injected clock and random), and the Sync using
 * it against a real server that answers 503 (fake timers: delays are observed,
 * never slept).
 */
import t from 'tap'
import fc from 'fast-check'
import { Backoff } from '../../sdk/transport/backoff.js'
import { Sync, type SyncConfig } from '../../sdk/transport/sync.js'
import type { SwitchyardError } from '../../sdk/transport/http.js'
import { FakeTimers } from '../helpers/sse-fake-timers.js'
import { startSseTestServer } from '../helpers/sse-test-server.js'

t.test('caps double from 1 s to 30 s', async (t) => {
  const b = new Backoff({ random: () => 0.999999 })
  const delays = Array.from({ length: 8 }, () => b.fail())
  t.same(delays, [999, 1999, 3999, 7999, 15999, 29999, 29999, 29999])
})

t.test('full jitter: every delay is uniform in [0, cap)', async (t) => {
  fc.assert(
    fc.property(
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      fc.integer({ min: 0, max: 40 }),
      (r, n) => {
        const b = new Backoff({ initialMs: 1000, maxMs: 30000, random: () => r })
        for (let i = 0; i < n; i++) b.fail()
        const cap = b.cap
        const d = b.fail()
        return d >= 0 && d < cap && d === Math.floor(r * cap) && cap <= 30000
      },
    ),
  )
  const lows = new Backoff({ random: () => 0 })
  t.equal(lows.fail(), 0, 'jitter can reach zero')
})

t.test('a connection stable for a minute resets the backoff; a shorter one does not', async (t) => {
  let now = 0
  const b = new Backoff({ random: () => 0.999999, now: () => now })
  for (let i = 0; i < 5; i++) b.fail()
  t.equal(b.cap, 30000)
  b.connected()
  now += 59999
  t.equal(b.fail(), 29999, 'dropped after 59.999 s: still backing off')
  b.connected()
  now += 60000
  t.equal(b.fail(), 999, 'dropped after a stable minute: back to the first delay')
})

t.test('the server retry hint replaces the initial delay, bounded by the maximum', async (t) => {
  const b = new Backoff({ initialMs: 1000, maxMs: 5000, random: () => 0.999999 })
  b.setInitial(200)
  t.equal(b.fail(), 199)
  b.reset()
  b.setInitial(999999)
  t.equal(b.cap, 5000)
})

function syncConfig(url: string, timers: FakeTimers, over: Partial<SyncConfig> = {}): SyncConfig {
  return {
    fetch: globalThis.fetch,
    timers,
    warn: () => {},
    debug: () => {},
    streaming: true,
    pollIntervalMs: 1_000_000_001,
    heartbeatTimeoutMs: 1_000_000_000,
    initialRetryMs: 1000,
    maxRetryMs: 30000,
    stableAfterMs: 60000,
    streamFailuresBeforePolling: 100,
    streamRetryIntervalMs: 1_000_000_002,
    authRetryMs: 1_000_000_003,
    random: () => 0.999999,
    streamUrl: () => `${url}/api/v1/sdk/stream`,
    pollUrl: () => `${url}/api/v1/sdk/rules`,
    headers: () => ({ Authorization: 'Bearer test-token' }),
    lastEventId: () => null,
    pollEtag: () => null,
    ...over,
  }
}

const isRetry = (ms: number) => ms < 1_000_000_000

t.test('Sync: 503s are retried with growing jittered delays, then it streams', async (t) => {
  const server = await startSseTestServer({ document: { specVersion: 1, environment: 'e', flags: {}, segments: {} } })
  t.teardown(() => server.close())
  for (let i = 0; i < 7; i++) server.failures.stream.push({ status: 503, code: 'STORE_UNAVAILABLE' })
  const timers = new FakeTimers()
  const errors: SwitchyardError[] = []
  const events: string[] = []
  const sync = new Sync(syncConfig(server.url, timers), {
    onEvent: (e) => events.push(e.type),
    onPoll: () => {},
    onAlive: () => {},
    onFailure: (e) => errors.push(e),
  })
  t.teardown(() => sync.stop())
  sync.start()
  const delays: number[] = []
  for (let i = 0; i < 7; i++) {
    const timer = await timers.next((x) => isRetry(x.ms))
    delays.push(timer.ms)
    timers.fire(timer)
  }
  t.same(delays, [999, 1999, 3999, 7999, 15999, 29999, 29999])
  t.equal(errors.length, 7)
  t.ok(errors.every((e) => e.status === 503 && !e.fatal))
  await server.connection(1)
  await server.waitFor(() => events.includes('put'), 5000, 'put')
  t.equal(sync.streaming, true)
  t.equal(sync.polling, false)
})

t.test('Sync: Retry-After on 429 lengthens the delay', async (t) => {
  const server = await startSseTestServer({ document: { flags: {}, segments: {} } })
  t.teardown(() => server.close())
  server.failures.stream.push({ status: 429, code: 'RATE_LIMITED', headers: { 'Retry-After': '7' } })
  const timers = new FakeTimers()
  const sync = new Sync(syncConfig(server.url, timers), {
    onEvent: () => {},
    onPoll: () => {},
    onAlive: () => {},
    onFailure: () => {},
  })
  t.teardown(() => sync.stop())
  sync.start()
  const timer = await timers.next((x) => isRetry(x.ms))
  t.equal(timer.ms, 7000)
})

t.test('Sync: a stream that drops after a stable minute reconnects at the first delay', async (t) => {
  const server = await startSseTestServer({ document: { flags: {}, segments: {} } })
  t.teardown(() => server.close())
  for (let i = 0; i < 4; i++) server.failures.stream.push({ status: 503 })
  const timers = new FakeTimers()
  const sync = new Sync(syncConfig(server.url, timers), {
    onEvent: () => {},
    onPoll: () => {},
    onAlive: () => {},
    onFailure: () => {},
  })
  t.teardown(() => sync.stop())
  sync.start()
  for (let i = 0; i < 4; i++) timers.fire(await timers.next((x) => isRetry(x.ms)))
  const conn = await server.connection(1)
  await server.waitFor(() => sync.streaming, 5000, 'streaming')
  timers.advance(60000)
  conn.destroy()
  const timer = await timers.next((x) => isRetry(x.ms))
  t.equal(timer.ms, 999)
})

t.test(
  'Sync fallback: probes at reconnect pace while polls fail, rarely while only the stream fails, at once when polls recover',
  async (t) => {
    const server = await startSseTestServer({ document: { flags: {}, segments: {} } })
    t.teardown(() => server.close())
    server.alwaysFail.stream = { status: 503, code: 'STORE_UNAVAILABLE' }
    server.alwaysFail.poll = { status: 503, code: 'STORE_UNAVAILABLE' }
    const timers = new FakeTimers()
    const sync = new Sync(
      syncConfig(server.url, timers, {
        streamFailuresBeforePolling: 1,
        pollIntervalMs: 30000,
        maxRetryMs: 2000,
        streamRetryIntervalMs: 60000,
      }),
      { onEvent: () => {}, onPoll: () => {}, onAlive: () => {}, onFailure: () => {} },
    )
    t.teardown(() => sync.stop())
    sync.start()
    const streams = () => server.requests.filter((r) => r.path.endsWith('/stream')).length
    const delays: number[] = []
    for (let i = 0; i < 4; i++) {
      const probe = await timers.next((x) => x.ms <= 2000)
      delays.push(probe.ms)
      const before = streams()
      timers.fire(probe)
      await server.waitFor(() => streams() > before, 5000, 'the probe')
    }
    t.equal(sync.polling, true)
    t.same(delays, [999, 1999, 1999, 1999], 'the API is down (polls fail too): probes within maxRetryMs')
    // Polls answer again while the stream still fails (a proxy that breaks SSE): one probe at once, then rarely.
    delete server.alwaysFail.poll
    const before = streams()
    timers.fire(await timers.next((x) => x.ms === 30000))
    await server.waitFor(() => streams() > before, 5000, 'a probe right after the poll recovered')
    const slow = await timers.next((x) => x.ms === 60000 || x.ms <= 2000)
    t.equal(slow.ms, 60000, 'streamRetryIntervalMs while only the stream fails')
    delete server.alwaysFail.stream
    timers.fire(slow)
    await server.waitFor(() => sync.streaming, 5000, 'streaming again')
    t.equal(sync.polling, false)
  },
)

t.test('Sync polling only: a failed poll is retried at reconnect pace, a good one waits the interval', async (t) => {
  const server = await startSseTestServer({ document: { flags: {}, segments: {} } })
  t.teardown(() => server.close())
  for (let i = 0; i < 3; i++) server.failures.poll.push({ status: 503 })
  const timers = new FakeTimers()
  const polls: string[] = []
  const sync = new Sync(syncConfig(server.url, timers, { streaming: false, pollIntervalMs: 30000, maxRetryMs: 2000 }), {
    onEvent: () => {},
    onPoll: () => polls.push('ok'),
    onAlive: () => {},
    onFailure: () => {},
  })
  t.teardown(() => sync.stop())
  sync.start()
  const delays: number[] = []
  for (let i = 0; i < 4; i++) {
    const next = await timers.next((x) => isRetry(x.ms))
    delays.push(next.ms)
    if (i < 3) timers.fire(next)
  }
  t.same(delays, [999, 1999, 1999, 30000])
  t.same(polls, ['ok'])
})
