/**
 * The SDK client (client mode: one context's values) against a real node:http
 * SSE server speaking the protocol: ready, change, resume with Last-Event-ID,
 * 401 keeps the data and probes slowly, 503 backs off, polling fallback with ETag/304 and back, heartbeat
 * timeout, last-known-good, stale, identify, metrics.
 */
import t, { type Test } from 'tap'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '../../sdk/browser.js'
import { fileStorage } from '../../sdk/node-storage.js'
import { memoryStorage } from '../../sdk/storage.js'
import type { ClientOptions, ClientValues } from '../../sdk/types.js'
import type { SwitchyardError } from '../../sdk/transport/http.js'
import { clientAgainstTestServer, type TestClient } from '../helpers/sdk-client.js'
import { FakeTimers } from '../helpers/sse-fake-timers.js'
import { nextEvent, startSseTestServer } from '../helpers/sse-test-server.js'

const values = (banner: boolean, theme = 'dark'): ClientValues => ({
  flags: {
    banner: { value: banner, variation: banner ? 0 : 1, reason: { kind: 'FALLTHROUGH' } },
    theme: { value: theme, variation: 0, reason: { kind: 'RULE_MATCH', ruleId: 'r1' } },
  },
})

const silent = {}

const setup = (t: Test, opts: Partial<ClientOptions> = {}, doc: object = values(true)): Promise<TestClient> =>
  clientAgainstTestServer(t, createClient, doc, { context: { key: 'user-1', plan: 'pro' }, logger: silent, ...opts })

t.test('connects, becomes ready from the put, answers synchronously', async (t) => {
  const { server, client } = await setup(t)
  t.equal(client.isEnabled('banner'), false, 'default before data')
  t.same(client.variationDetail('banner', undefined, false).reason, { kind: 'ERROR', errorKind: 'PROVIDER_NOT_READY' })
  const ready = nextEvent(client, 'ready')
  await client.ready({ timeoutMs: 5000 })
  t.same(await ready, { source: 'server' })
  t.equal(client.isEnabled('banner'), true)
  t.equal(client.variation('theme', undefined, 'light'), 'dark')
  t.same(client.variationDetail('theme', undefined, 'light'), {
    value: 'dark',
    variation: 0,
    reason: { kind: 'RULE_MATCH', ruleId: 'r1' },
  })
  t.same(client.allFlags(), { banner: true, theme: 'dark' })
  t.equal(client.appliedId, server.currentId)
  const req = server.connections[0]?.request
  t.equal(req?.path, '/api/v1/sdk/client/stream')
  t.equal(req?.headers.authorization, 'Bearer test-token')
  const ctx = JSON.parse(Buffer.from(req?.query.get('context') ?? '', 'base64url').toString('utf8'))
  t.same(ctx, { key: 'user-1', plan: 'pro' })
})

t.test('evaluation never throws: unknown flag and type mismatch serve the default with a reason', async (t) => {
  const { client } = await setup(t)
  await client.ready({ timeoutMs: 5000 })
  t.same(client.variationDetail('nope', undefined, 'x'), {
    value: 'x',
    variation: null,
    reason: { kind: 'ERROR', errorKind: 'FLAG_NOT_FOUND' },
  })
  t.same(client.variationDetail('theme', undefined, 3), {
    value: 3,
    variation: null,
    reason: { kind: 'ERROR', errorKind: 'TYPE_MISMATCH' },
  })
  t.equal(client.isEnabled('theme', undefined, true), true, 'string flag via isEnabled → default')
})

t.test('a patch emits change with the changed keys; removed keys too', async (t) => {
  const { server, client } = await setup(t)
  await client.ready({ timeoutMs: 5000 })
  const change = nextEvent(client, 'change')
  server.publish('patch', { flags: { banner: values(false).flags.banner }, removed: ['theme'] })
  t.same((await change).sort(), ['banner', 'theme'])
  t.equal(client.isEnabled('banner', undefined, true), false)
  t.equal(client.variation('theme', undefined, 'light'), 'light')
})

t.test('after a dropped connection the client reconnects with Last-Event-ID and misses nothing', async (t) => {
  const { server, client } = await setup(t)
  await client.ready({ timeoutMs: 5000 })
  const first = await server.connection(1)
  const id1 = server.publish('patch', {
    flags: { theme: { value: 'blue', variation: 2, reason: { kind: 'FALLTHROUGH' } } },
  })
  await server.waitFor(() => client.appliedId === id1, 5000, 'patch applied')
  first.destroy()
  // A change while the client is disconnected must arrive through the replay.
  const id2 = server.publish('patch', { flags: { banner: values(false).flags.banner } })
  const second = await server.connection(2)
  t.equal(second.lastEventId, id1, 'Last-Event-ID is the last applied id')
  await server.waitFor(() => client.appliedId === id2, 5000, 'replayed patch applied')
  t.equal(client.isEnabled('banner', undefined, true), false)
  t.equal(client.variation('theme', undefined, ''), 'blue')
  // And again: every reconnect carries the id.
  second.end()
  const third = await server.connection(3)
  t.equal(third.lastEventId, id2)
})

t.test('401 keeps the data, says why, probes every authRetryMs, and recovers when the token works again', async (t) => {
  const timers = new FakeTimers()
  const { server, client } = await setup(t, {
    timers,
    authRetryMs: 60000,
    random: () => 0.999,
    heartbeatTimeoutMs: 1_000_000_000,
    staleAfterMs: 1_000_000_000,
  })
  await client.ready({ timeoutMs: 5000 })
  const applied = client.appliedId
  // The token stops working (the store lost it): the next connection gets 401.
  server.token = 'restored-later'
  const err = nextEvent(client, 'error', (e) => e.fatal)
  ;(await server.connection(1)).destroy()
  timers.fire(await timers.next((x) => x.ms <= 100)) // the reconnect
  const e = await err
  t.same([e.code, e.status, e.fatal], ['UNAUTHORIZED', 401, true])
  t.match(e.message, /data kept, retried every `authRetryMs`.*token/)
  t.equal(client.isEnabled('banner'), true, 'the last values keep answering')
  const refused = () =>
    server.requests.filter((r) => r.path.endsWith('/stream') && r.headers.authorization === 'Bearer test-token').length
  const attempts = refused()
  const isProbe = (x: { ms: number }) => x.ms >= 100 && x.ms < 1_000_000_000
  const probe = await timers.next(isProbe)
  t.ok(probe.ms >= 30000 && probe.ms <= 60000, `the probe waits [½, 1] × authRetryMs (${probe.ms} ms)`)
  t.equal(refused(), attempts, 'nothing is sent before the probe is due')
  const err2 = nextEvent(client, 'error')
  timers.fire(probe)
  t.equal((await err2).code, 'UNAUTHORIZED', 'still refused: another probe later')
  const probe2 = await timers.next(isProbe)
  t.ok(probe2.ms >= 30000 && probe2.ms <= 60000)
  // The token is valid again: the next probe resumes the stream from the last applied id.
  server.token = 'test-token'
  timers.fire(probe2)
  const conn = await server.connection(2)
  t.equal(conn.lastEventId, applied, 'resumed, not restarted')
  const change = nextEvent(client, 'change')
  server.publish('patch', { flags: { banner: values(false).flags.banner } })
  t.same(await change, ['banner'])
  t.equal(client.isEnabled('banner', undefined, true), false)
})

for (const streaming of [true, false]) {
  t.test(
    `401 at start (${streaming ? 'streaming' : 'polling only'}): ready() rejects with the error; the SDK still probes`,
    async (t) => {
      const timers = new FakeTimers()
      const { server, client } = await setup(t, {
        token: 'wrong',
        streaming,
        timers,
        authRetryMs: 1000,
        random: () => 0,
      })
      const err = await nextEvent(client, 'error')
      t.equal(err.code, 'UNAUTHORIZED')
      await t.rejects(client.ready(), { code: 'UNAUTHORIZED' })
      const probe = await timers.next((x) => x.ms === 500)
      t.equal(server.requests.length, 1, 'one refused request, then silence until the probe')
      server.token = 'wrong'
      const ready = nextEvent(client, 'ready')
      timers.fire(probe)
      t.same(await ready, { source: 'server' })
      await client.ready()
      t.equal(client.isEnabled('banner'), true, 'recovered by itself')
    },
  )
}

t.test('403 is fatal too', async (t) => {
  const { server, client } = await setup(t)
  server.failures.stream.push({ status: 403, code: 'FORBIDDEN', message: 'signature required' })
  const err = await nextEvent(client, 'error')
  t.equal(err.code, 'FORBIDDEN')
  t.equal(err.fatal, true)
  t.match(err.message, /signature/)
})

t.test('503 backs off and retries until the server answers', async (t) => {
  const { server, client } = await setup(t, { streamFailuresBeforePolling: 10 })
  server.failures.stream.push({ status: 503, code: 'STORE_UNAVAILABLE' }, { status: 503, code: 'STORE_UNAVAILABLE' })
  const errors: SwitchyardError[] = []
  client.on('error', (e) => errors.push(e))
  await client.ready({ timeoutMs: 5000 })
  t.same(
    errors.map((e) => [e.code, e.status, e.fatal]),
    [
      ['STORE_UNAVAILABLE', 503, false],
      ['STORE_UNAVAILABLE', 503, false],
    ],
  )
  t.equal(server.connections.length, 1, 'the third attempt streamed')
  t.equal(client.polling, false)
})

t.test('after 3 stream failures it polls with ETag/304, then returns to streaming', async (t) => {
  const { server, client } = await setup(t, { pollIntervalMs: 30, streamRetryIntervalMs: 300 })
  server.alwaysFail.stream = { status: 502, code: 'BAD_GATEWAY' }
  await client.ready({ timeoutMs: 5000 })
  t.equal(client.polling, true, 'polling')
  const polls = () => server.requests.filter((r) => r.path === '/api/v1/sdk/client/values')
  t.equal(polls()[0]?.headers['if-none-match'], undefined, 'first poll without ETag')
  await server.waitFor(() => polls().length >= 3, 5000, 'three polls')
  t.equal(polls()[2]?.headers['if-none-match'], `"${server.currentId}"`, 'later polls send the ETag')
  // A change while polling arrives by poll.
  const change = nextEvent(client, 'change')
  server.publish('patch', { flags: { banner: values(false).flags.banner } })
  t.same(await change, ['banner'])
  t.equal(client.appliedId, server.currentId, 'the ETag id counts as applied')
  // The stream works again: the next probe switches back and polling stops.
  delete server.alwaysFail.stream
  const conn = await server.connection(1, 5000)
  t.equal(conn.lastEventId, server.currentId, 'the probe resumes from the polled id')
  await server.waitFor(() => !client.polling, 5000, 'polling to stop')
  const count = polls().length
  const change2 = nextEvent(client, 'change')
  server.publish('patch', { flags: { banner: values(true).flags.banner } })
  t.same(await change2, ['banner'])
  t.equal(polls().length, count, 'no more polls once streaming')
})

t.test('streaming: false polls only', async (t) => {
  const { server, client } = await setup(t, { streaming: false, pollIntervalMs: 20 })
  await client.ready({ timeoutMs: 5000 })
  await server.waitFor(() => server.requests.filter((r) => r.path.endsWith('/values')).length >= 2, 5000, 'polls')
  t.equal(server.connections.length, 0)
  t.equal(client.polling, true)
})

t.test(
  'a silent stream is declared dead after heartbeatTimeoutMs and reconnected; heartbeats keep it alive',
  async (t) => {
    const { server, client } = await setup(t, { heartbeatTimeoutMs: 300, streamFailuresBeforePolling: 10 })
    await client.ready({ timeoutMs: 5000 })
    const first = await server.connection(1)
    // Heartbeats for ~3 timeouts keep the first connection open.
    for (let i = 0; i < 9; i++) {
      first.comment('ping')
      await new Promise<void>((r) => setTimeout(r, 100)) // paced heartbeats, not synchronisation
      t.equal(first.isOpen(), true)
    }
    t.equal(server.connections.length, 1)
    const err = nextEvent(client, 'error')
    // Then silence: the client gives up on it and reconnects.
    t.equal((await err).code, 'STREAM_TIMEOUT')
    await first.closed
    const second = await server.connection(2)
    t.equal(second.lastEventId, server.currentId)
  },
)

t.test('the server retry hint is honoured as the first reconnect delay', async (t) => {
  const server = await startSseTestServer({ document: values(true) })
  t.teardown(() => server.close())
  server.retryMs = 1
  const client = createClient({
    url: server.url,
    token: 'test-token',
    mode: 'client',
    logger: silent,
    sendMetrics: false,
    initialRetryMs: 60000,
    maxRetryMs: 60000,
    random: () => 0.999,
  })
  t.teardown(() => client.close())
  await client.ready({ timeoutMs: 5000 })
  ;(await server.connection(1)).destroy()
  // With initialRetryMs 60 s this would time out; retry: 1 makes the delay ≤ 1 ms.
  await server.connection(2, 3000)
  t.pass('reconnected quickly')
})

t.test('last-known-good: saved to a file, used when the server is down at start', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sy-lkg-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'lkg.json')
  const { server, client } = await setup(t, { storage: fileStorage(path) }, values(true, 'green'))
  await client.ready({ timeoutMs: 5000 })
  await client.close() // flushes the pending save
  const saved = JSON.parse(await readFile(path, 'utf8'))
  t.equal(saved.appliedId, server.currentId)
  await server.close()

  const offline = createClient({
    url: server.url, // nothing listens there any more
    token: 'test-token',
    context: { key: 'user-1', plan: 'pro' },
    storage: fileStorage(path),
    logger: silent,
    sendMetrics: false,
    initialRetryMs: 20,
  })
  t.teardown(() => offline.close())
  const ready = nextEvent(offline, 'ready')
  await offline.ready({ timeoutMs: 5000 })
  t.same(await ready, { source: 'cache' })
  t.equal(offline.source, 'cache')
  t.equal(offline.variation('theme', undefined, 'light'), 'green')
})

t.test('last-known-good of another context is not used', async (t) => {
  const storage = memoryStorage()
  const { server, client } = await setup(t, { storage })
  await client.ready({ timeoutMs: 5000 })
  await client.close()
  t.not(storage.value, null)
  await server.close()
  const other = createClient({
    url: server.url,
    token: 'test-token',
    context: { key: 'user-2' },
    storage,
    logger: silent,
    sendMetrics: false,
  })
  t.teardown(() => other.close())
  await t.rejects(other.ready({ timeoutMs: 300 }), { code: 'READY_TIMEOUT' })
  t.equal(other.isEnabled('banner', undefined, false), false, 'defaults only')
})

t.test('the cached id resumes the stream: nothing to replay still means ready from the server', async (t) => {
  const storage = memoryStorage()
  const { server, client } = await setup(t, { storage })
  await client.ready({ timeoutMs: 5000 })
  await client.close()
  const second = createClient({
    url: server.url,
    token: 'test-token',
    context: { key: 'user-1', plan: 'pro' },
    storage,
    logger: silent,
    sendMetrics: false,
  })
  t.teardown(() => second.close())
  const ready = nextEvent(second, 'ready')
  const conn = await server.connection(2)
  t.equal(conn.lastEventId, server.currentId)
  t.same(await ready, { source: 'server' })
  t.equal(second.isEnabled('banner'), true)
})

t.test('bootstrap answers at once; server data replaces it with a change event', async (t) => {
  const { client } = await setup(t, { bootstrap: values(false, 'ssr') }, values(true, 'ssr'))
  t.equal(client.isEnabled('banner', undefined, true), false, 'bootstrap value synchronously')
  t.equal(client.source, 'bootstrap')
  await client.ready()
  const change = await nextEvent(client, 'change')
  t.same(change, ['banner'])
  t.equal(client.isEnabled('banner'), true)
})

t.test('stale after staleAfterMs without the server; fresh again when it answers', async (t) => {
  const { server, client } = await setup(t, {
    staleAfterMs: 300,
    streamFailuresBeforePolling: 100,
    heartbeatTimeoutMs: 10000,
  })
  await client.ready({ timeoutMs: 5000 })
  server.alwaysFail.stream = { status: 503, code: 'STORE_UNAVAILABLE' }
  const stale = nextEvent(client, 'stale')
  ;(await server.connection(1)).destroy()
  const { since } = await stale
  t.equal(client.stale, true)
  t.ok(Date.now() - since >= 300)
  t.equal(client.isEnabled('banner'), true, 'old data still answers')
  const fresh = nextEvent(client, 'fresh')
  delete server.alwaysFail.stream
  await fresh
  t.equal(client.stale, false)
})

t.test('ready() rejects with READY_TIMEOUT while nothing is known', async (t) => {
  const { server, client } = await setup(t)
  server.alwaysFail.stream = { status: 503 }
  server.alwaysFail.poll = { status: 503 }
  await t.rejects(client.ready({ timeoutMs: 200 }), { code: 'READY_TIMEOUT' })
  t.equal(client.isEnabled('banner', undefined, true), true)
})

t.test('identify switches context, reconnects without Last-Event-ID, and emits change', async (t) => {
  const { server, client } = await setup(t)
  await client.ready({ timeoutMs: 5000 })
  server.document = values(false, 'light')
  const change = nextEvent(client, 'change')
  await client.identify({ key: 'user-2' }, 'abc123')
  t.same((await change).sort(), ['banner', 'theme'])
  const conn = await server.connection(2)
  t.equal(conn.lastEventId, null)
  t.equal(conn.request.query.get('signature'), 'abc123')
  t.same(JSON.parse(Buffer.from(conn.request.query.get('context') ?? '', 'base64url').toString()), { key: 'user-2' })
  t.equal(client.isEnabled('banner', undefined, true), false)
  await server.waitFor(() => !server.connections[0]?.isOpen(), 5000, 'old stream closed')
})

t.test('identify: when the new context cannot be loaded, the old values are dropped', async (t) => {
  const { server, client } = await setup(t)
  await client.ready({ timeoutMs: 5000 })
  server.alwaysFail.stream = { status: 503 }
  const change = nextEvent(client, 'change')
  const p = client.identify({ key: 'user-2' })
  t.same((await change).sort(), ['banner', 'theme'])
  t.equal(client.isEnabled('banner', undefined, false), false)
  t.same(client.variationDetail('banner', undefined, false).reason, { kind: 'ERROR', errorKind: 'PROVIDER_NOT_READY' })
  delete server.alwaysFail.stream
  await p
  t.equal(client.isEnabled('banner'), true)
})

t.test('metrics: counts and the applied id, sent after a change and on close', async (t) => {
  const { server, client } = await setup(t, { sendMetrics: true, metricsDebounceMs: 10, metricsIntervalMs: 60000 })
  await client.ready({ timeoutMs: 5000 })
  await server.waitFor(() => server.metrics.length >= 1, 5000, 'metrics after the put')
  t.equal(server.metrics[0]?.appliedId, server.currentId)
  t.equal(server.metrics[0]?.mode, 'client')
  client.isEnabled('banner')
  client.isEnabled('banner')
  client.variation('nope', undefined, 1)
  const id = server.publish('patch', { flags: { banner: values(false).flags.banner } })
  await server.waitFor(() => server.metrics.some((m) => m.appliedId === id), 5000, 'metrics with the new id')
  const m = server.metrics.find((m) => m.appliedId === id) as Record<string, unknown>
  t.same(m.counts, { banner: { '0': 2 }, nope: { default: 1 } })
  t.type(m.sdkId, 'string')
  t.type(m.sdkVersion, 'string')
  t.match(m.startedAt, /^\d{4}-\d\d-\d\dT/)
  client.isEnabled('banner')
  const before = server.metrics.length
  await client.close()
  t.equal(server.metrics.length, before + 1, 'final report on close')
  t.same(server.metrics.at(-1)?.counts, { banner: { '1': 1 } })
})

t.test(
  'metrics: a key such as __proto__ asked by app code is counted as its own flag, not into Object.prototype',
  async (t) => {
    const { server, client } = await setup(t, { sendMetrics: true, metricsDebounceMs: 10, metricsIntervalMs: 60000 })
    await client.ready({ timeoutMs: 5000 })
    client.variation('__proto__', undefined, 1)
    client.variation('constructor', undefined, 1)
    t.equal(({} as Record<string, unknown>)['0'], undefined, 'nothing was counted into Object.prototype')
    const before = server.metrics.length
    await client.close()
    t.equal(server.metrics.length, before + 1, 'final report on close')
    // JSON.parse: an object literal's __proto__ would set the prototype, not a key.
    t.same(server.metrics.at(-1)?.counts, JSON.parse('{"__proto__":{"default":1},"constructor":{"default":1}}'))
  },
)

t.test('listener exceptions do not break the client; off() removes listeners', async (t) => {
  const { server, client } = await setup(t)
  await client.ready({ timeoutMs: 5000 })
  let calls = 0
  const bad = () => {
    calls++
    throw new Error('boom')
  }
  client.on('change', bad)
  const c1 = nextEvent(client, 'change')
  server.publish('patch', { flags: { banner: values(false).flags.banner } })
  await c1
  client.off('change', bad)
  const c2 = nextEvent(client, 'change')
  server.publish('patch', { flags: { banner: values(true).flags.banner } })
  await c2
  t.equal(calls, 1)
  t.equal(client.isEnabled('banner'), true)
})

t.test('invalid options throw at creation, naming the option', async (t) => {
  t.throws(() => createClient({ url: 'nope', token: 'x' }), { code: 'INVALID_OPTIONS', message: /url/ })
  t.throws(() => createClient({ url: 'http://x', token: '' }), { message: /token/ })
  t.throws(() => createClient({ url: 'http://x', token: 'x', mode: 'server' }), { message: /client/ })
})

t.test('close() rejects pending ready() and stops the stream', async (t) => {
  const { server, client } = await setup(t)
  server.silentStreams = true
  const p = client.ready()
  const conn = await server.connection(1)
  await client.close()
  await t.rejects(p, { code: 'CLOSED' })
  await conn.closed
  t.equal(conn.isOpen(), false)
})
