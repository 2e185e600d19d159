/**
 * client.status, the one reading of the client's condition, through each
 * transition against the transport-level SSE test server: initializing →
 * ready → stale → ready (fresh) → closed; initializing → error (401 at start)
 * → ready; ready → error (401 later) → ready when the token works again; stale before ready; error
 * outranking stale.
 */
import t, { type Test } from 'tap'
import { createClient } from '../../sdk/index.js'
import type { ClientOptions, Ruleset } from '../../sdk/types.js'
import { clientAgainstTestServer, type TestClient } from '../helpers/sdk-client.js'
import { FakeTimers } from '../helpers/sse-fake-timers.js'
import { nextEvent, startSseTestServer } from '../helpers/sse-test-server.js'

const ruleset: Ruleset = {
  specVersion: 1,
  environment: 'production',
  flags: {
    banner: {
      key: 'banner',
      kind: 'boolean',
      variations: [true, false],
      salt: 'banner',
      on: true,
      offVariation: 1,
      prerequisites: [],
      targets: [],
      rules: [],
      fallthrough: { variation: 0 },
      version: 1,
    },
  },
  segments: {},
}

const setup = (t: Test, opts: Partial<ClientOptions> = {}): Promise<TestClient> =>
  clientAgainstTestServer(t, createClient, ruleset, opts)

t.test('initializing → ready → stale → ready (fresh) → closed', async (t) => {
  const { server, client } = await setup(t, {
    staleAfterMs: 300,
    streamFailuresBeforePolling: 100,
    heartbeatTimeoutMs: 10000,
  })
  t.equal(client.status, 'initializing', 'nothing known yet')
  await client.ready({ timeoutMs: 5000 })
  t.equal(client.status, 'ready')
  server.alwaysFail.stream = { status: 503, code: 'STORE_UNAVAILABLE' }
  const stale = nextEvent(client, 'stale')
  ;(await server.connection(1)).destroy()
  await stale
  t.equal(client.status, 'stale', 'with the stale event')
  t.equal(client.stale, true)
  const fresh = nextEvent(client, 'fresh')
  delete server.alwaysFail.stream
  await fresh
  t.equal(client.status, 'ready', 'with the fresh event')
  await client.close()
  t.equal(client.status, 'closed')
})

t.test('closed before any data: closed, not initializing', async (t) => {
  const { client } = await setup(t, { streaming: false, pollIntervalMs: 1_000_000 })
  t.equal(client.status, 'initializing')
  await client.close()
  t.equal(client.status, 'closed')
})

t.test('bootstrap data: ready at once, before the server', async (t) => {
  const { client } = await setup(t, { bootstrap: ruleset })
  t.equal(client.status, 'ready')
  t.equal(client.source, 'bootstrap', 'the source is a separate field')
})

t.test('401 at start: error (ready() rejects); ready once a probe is accepted', async (t) => {
  const timers = new FakeTimers()
  const { server, client } = await setup(t, { token: 'wrong', timers, authRetryMs: 1000, random: () => 0 })
  const err = await nextEvent(client, 'error')
  t.equal(err.code, 'UNAUTHORIZED')
  t.equal(client.status, 'error', 'with the fatal error event')
  await t.rejects(client.ready(), { code: 'UNAUTHORIZED' })
  const probe = await timers.next((x) => x.ms === 500)
  server.token = 'wrong'
  const ready = nextEvent(client, 'ready')
  timers.fire(probe)
  await ready
  t.equal(client.status, 'ready')
})

t.test('401 after ready: error while refused, data kept; ready with fresh when the token works', async (t) => {
  const timers = new FakeTimers()
  const { server, client } = await setup(t, {
    timers,
    authRetryMs: 60000,
    random: () => 0.999,
    heartbeatTimeoutMs: 1_000_000_000,
    staleAfterMs: 1_000_000_000,
  })
  await client.ready({ timeoutMs: 5000 })
  t.equal(client.status, 'ready')
  server.token = 'restored-later'
  const err = nextEvent(client, 'error', (e) => e.fatal)
  ;(await server.connection(1)).destroy()
  timers.fire(await timers.next((x) => x.ms <= 100)) // the reconnect
  await err
  t.equal(client.status, 'error')
  t.equal(client.isEnabled('banner'), true, 'the last values keep answering')
  const probe = await timers.next((x) => x.ms >= 100 && x.ms < 1_000_000_000)
  server.token = 'test-token'
  const fresh = nextEvent(client, 'fresh')
  timers.fire(probe)
  await fresh
  t.equal(client.status, 'ready', 'with the fresh event')
})

t.test('stale before ready: the data clock starts at creation; the first data is fresh, then ready', async (t) => {
  const server = await startSseTestServer({ document: ruleset })
  t.teardown(() => server.close())
  server.alwaysFail.stream = { status: 503, code: 'STORE_UNAVAILABLE' }
  const client = createClient({
    url: server.url,
    token: 'test-token',
    logger: {},
    initialRetryMs: 20,
    maxRetryMs: 100,
    sendMetrics: false,
    staleAfterMs: 300,
    streamFailuresBeforePolling: 100,
  })
  t.teardown(() => client.close())
  await nextEvent(client, 'stale')
  t.equal(client.status, 'stale', 'stale without ever being ready')
  t.equal(client.stale, true)
  const seen: string[] = []
  for (const e of ['fresh', 'ready'] as const) client.on(e, () => seen.push(e))
  const ready = nextEvent(client, 'ready')
  delete server.alwaysFail.stream
  await ready
  t.equal(client.status, 'ready')
  t.equal(client.stale, false)
  t.same(seen, ['fresh', 'ready'], 'leaving stale is fresh; the first data is the ready latch')
})

t.test(
  'error outranks stale: a long 401 stays error; one fresh on recovery, and the stale check restarts',
  async (t) => {
    const timers = new FakeTimers()
    const { server, client } = await setup(t, {
      token: 'wrong',
      timers,
      authRetryMs: 1000,
      random: () => 0,
      staleAfterMs: 10_000,
    })
    const seen: string[] = []
    for (const e of ['stale', 'fresh', 'ready'] as const) client.on(e, () => seen.push(e))
    await nextEvent(client, 'error')
    t.equal(client.status, 'error')
    timers.fire(await timers.next((x) => x.ms === 10_000)) // the data's age passes staleAfterMs while refused
    t.equal(client.status, 'error', 'still error, not stale')
    t.equal(client.stale, false)
    t.same(seen, [], 'no stale event on top of the error')
    const probe = await timers.next((x) => x.ms === 500)
    server.token = 'wrong'
    const ready = nextEvent(client, 'ready')
    timers.fire(probe)
    await ready
    t.equal(client.status, 'ready')
    t.same(seen, ['fresh', 'ready'], 'one fresh (leaving error), then the ready latch')
    const stale = nextEvent(client, 'stale')
    timers.fire(await timers.next((x) => x.ms === 10_000)) // re-armed when the server answered
    await stale
    t.equal(client.status, 'stale', 'stale again once the data is old and the token works')
  },
)
