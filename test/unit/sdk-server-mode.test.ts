/**
 * The SDK in server mode (full ruleset, local evaluation by sdk/core) against
 * the transport-level SSE test server: put, flag patch (kill), segment patch
 * without members, segment deltas, deletes, change keys with dependents,
 * ETag polling from the applied id, last-known-good round trip.
 */
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createClient } from '../../sdk/index.js'
import { fileStorage } from '../../sdk/node-storage.js'
import { RulesStore } from '../../sdk/client/rules-store.js'
import { IdSet } from '../../sdk/core/index.js'
import type { ClientOptions, Ruleset, RulesetFlag, Segment } from '../../sdk/types.js'
import { memoryStorage } from '../../sdk/storage.js'
import { clientAgainstTestServer, type TestClient } from '../helpers/sdk-client.js'
import { FakeTimers } from '../helpers/sse-fake-timers.js'
import { nextEvent, startSseTestServer } from '../helpers/sse-test-server.js'

function checkout(patch: Partial<RulesetFlag> = {}): RulesetFlag {
  return {
    key: 'new-checkout',
    kind: 'boolean',
    variations: [true, false],
    salt: 'new-checkout',
    clientSide: true,
    on: true,
    offVariation: 1,
    prerequisites: [],
    targets: [{ variation: 0, values: ['user-1'] }],
    rules: [
      { id: 'beta', clauses: [{ attribute: 'key', op: 'inSegment', values: ['beta'] }], serve: { variation: 0 } },
    ],
    fallthrough: { variation: 1 },
    version: 1,
    ...patch,
  }
}

function ruleset(): Ruleset {
  const dependent: RulesetFlag = {
    key: 'dependent',
    kind: 'string',
    variations: ['on', 'off'],
    salt: 'dependent',
    on: true,
    offVariation: 1,
    prerequisites: [{ flag: 'new-checkout', variation: 0 }],
    targets: [],
    rules: [],
    fallthrough: { variation: 0 },
    version: 3,
  }
  const other: RulesetFlag = { ...dependent, key: 'other', prerequisites: [], version: 1 }
  const beta: Segment = { key: 'beta', included: ['user-7'], excluded: [], rules: [], salt: 'beta', version: 1 }
  return {
    specVersion: 1,
    environment: 'production',
    flags: { 'new-checkout': checkout(), dependent, other },
    segments: { beta },
  }
}

const setup = (t: Test, opts: Partial<ClientOptions> = {}): Promise<TestClient> =>
  clientAgainstTestServer(t, createClient, ruleset(), opts)

t.test('put → local evaluation with reasons', async (t) => {
  const { server, client } = await setup(t)
  await client.ready({ timeoutMs: 5000 })
  t.equal(server.connections[0]?.request.path, '/api/v1/sdk/stream')
  t.same(client.variationDetail('new-checkout', { key: 'user-1' }, false), {
    value: true,
    variation: 0,
    reason: { kind: 'TARGET_MATCH' },
  })
  t.same(client.variationDetail('new-checkout', { key: 'user-7' }, false).reason, {
    kind: 'RULE_MATCH',
    ruleId: 'beta',
  })
  t.same(client.variationDetail('new-checkout', { key: 'user-2' }, true), {
    value: false,
    variation: 1,
    reason: { kind: 'FALLTHROUGH' },
  })
  t.equal(client.variation('dependent', { key: 'user-1' }, 'x'), 'on')
  t.equal(client.variation('dependent', { key: 'user-2' }, 'x'), 'off')
  t.same(client.allFlags({ key: 'user-1' }), { 'new-checkout': true, dependent: 'on', other: 'on' })
  t.same(client.variationDetail('new-checkout', { key: 'u' }, 'str').reason, {
    kind: 'ERROR',
    errorKind: 'TYPE_MISMATCH',
  })
  t.same(client.variationDetail('missing', { key: 'u' }, 1).reason, { kind: 'ERROR', errorKind: 'FLAG_NOT_FOUND' })
})

t.test('the default context of server mode comes from options, then identify', async (t) => {
  const { client } = await setup(t, { context: { key: 'user-1' } })
  await client.ready({ timeoutMs: 5000 })
  t.equal(client.isEnabled('new-checkout'), true)
  await client.identify({ key: 'user-2' })
  t.equal(client.isEnabled('new-checkout'), false)
  t.equal(client.isEnabled('new-checkout', { key: 'user-7' }), true)
})

t.test('kill: a flag patch turns it off everywhere and reports the flag and its dependents', async (t) => {
  const { server, client } = await setup(t)
  await client.ready({ timeoutMs: 5000 })
  const change = nextEvent(client, 'change')
  const id = server.publish('patch', { kind: 'flag', flag: checkout({ on: false, version: 2 }) })
  t.same((await change).sort(), ['dependent', 'new-checkout'])
  t.equal(client.appliedId, id)
  t.equal(client.isEnabled('new-checkout', { key: 'user-1' }, true), false)
  t.same(client.variationDetail('new-checkout', { key: 'user-1' }, true).reason, { kind: 'OFF' })
  t.same(client.variationDetail('dependent', { key: 'user-1' }, 'x').reason, {
    kind: 'PREREQUISITE_FAILED',
    prerequisiteKey: 'new-checkout',
  })
})

t.test('an older flag version than the one held is ignored', async (t) => {
  const { server, client } = await setup(t)
  await client.ready({ timeoutMs: 5000 })
  server.publish('patch', { kind: 'flag', flag: checkout({ on: false, version: 5 }) })
  const id = server.publish('patch', { kind: 'flag', flag: checkout({ on: true, version: 4 }) })
  await server.waitFor(() => client.appliedId === id, 5000, 'both patches applied')
  t.equal(client.isEnabled('new-checkout', { key: 'user-1' }, true), false)
})

t.test('segment delta: one id added travels alone; a replayed version is ignored', async (t) => {
  const { server, client } = await setup(t)
  await client.ready({ timeoutMs: 5000 })
  t.equal(client.isEnabled('new-checkout', { key: 'user-9' }), false)
  const change = nextEvent(client, 'change')
  const delta = { key: 'beta', list: 'included', add: ['user-9'], remove: ['user-7'], version: 2 }
  server.publish('segment-delta', delta)
  t.same((await change).sort(), ['dependent', 'new-checkout'])
  t.equal(client.isEnabled('new-checkout', { key: 'user-9' }), true)
  t.equal(client.isEnabled('new-checkout', { key: 'user-7' }), false)
  const changes: string[][] = []
  client.on('change', (k) => changes.push(k))
  const id = server.publish('segment-delta', { ...delta, add: ['user-7'], remove: [], version: 2 })
  await server.waitFor(() => client.appliedId === id, 5000, 'replayed delta seen')
  t.same(changes, [], 'no change for a replayed version')
  t.equal(client.isEnabled('new-checkout', { key: 'user-7' }), false)
})

t.test('a segment patch without member lists keeps the members', async (t) => {
  const { server, client } = await setup(t)
  await client.ready({ timeoutMs: 5000 })
  const change = nextEvent(client, 'change')
  server.publish('patch', {
    kind: 'segment',
    segment: {
      key: 'beta',
      name: 'Beta testers',
      rules: [{ id: 'gb', clauses: [{ attribute: 'country', op: 'in', values: ['GB'] }] }],
      salt: 'beta',
      version: 2,
    },
  })
  t.same((await change).sort(), ['dependent', 'new-checkout'])
  t.equal(client.isEnabled('new-checkout', { key: 'user-7' }), true, 'member kept')
  t.equal(client.isEnabled('new-checkout', { key: 'user-3', country: 'GB' }), true, 'new segment rule')
  t.equal(client.isEnabled('new-checkout', { key: 'user-3', country: 'FR' }), false)
})

t.test("rules store: a segment patch without members keeps the engine's member sets, never copying them", async (t) => {
  const store = new RulesStore()
  const rs = ruleset()
  rs.segments.beta = {
    ...rs.segments.beta!,
    included: Array.from({ length: 50_000 }, (_, i) => `user-${i + 7}`),
    excluded: ['user-8'],
  }
  store.replace(rs)
  // The member sets must not be read out of the engine (that was O(members) per metadata patch).
  const forEach = IdSet.prototype.forEach
  let copies = 0
  IdSet.prototype.forEach = function (this: IdSet, fn: (id: string) => void) {
    copies++
    forEach.call(this, fn)
  }
  t.teardown(() => {
    IdSet.prototype.forEach = forEach
  })
  const changed = store.apply('patch', {
    kind: 'segment',
    segment: {
      key: 'beta',
      name: 'Beta',
      rules: [{ id: 'gb', clauses: [{ attribute: 'country', op: 'in', values: ['GB'] }] }],
      salt: 'beta',
      version: 2,
    },
  })
  t.equal(copies, 0, 'no member copy on a metadata patch')
  t.same(changed.sort(), ['dependent', 'new-checkout'])
  t.equal(store.detail('new-checkout', { key: 'user-50006' }, false).value, true, 'included kept')
  t.equal(store.detail('new-checkout', { key: 'user-8', country: 'GB' }, false).value, false, 'excluded kept')
  t.equal(store.detail('new-checkout', { key: 'x', country: 'GB' }, false).value, true, 'new rule')
  store.apply('segment-delta', { key: 'beta', list: 'included', add: ['late'], remove: ['user-9'], version: 3 })
  t.equal(store.detail('new-checkout', { key: 'late' }, false).value, true, 'deltas apply to the kept set')
  store.apply('patch', { kind: 'segment', segment: { key: 'beta', rules: [], salt: 'beta', version: 4, excluded: [] } })
  t.equal(
    store.detail('new-checkout', { key: 'user-8' }, false).value,
    true,
    'a list that is present replaces the members',
  )
  t.equal(store.detail('new-checkout', { key: 'late' }, false).value, true, 'the absent list is kept')
  t.equal(copies, 0)
  const snap = store.fullSnapshot()
  t.ok(copies > 0, 'snapshot (last-known-good) still lists the members')
  const beta = snap.segments.beta!
  t.equal(beta.included.length, 50_000, 'snapshot included: 50,000 - user-9 + late')
  t.ok(beta.included.includes('late') && !beta.included.includes('user-9'))
  t.same(beta.excluded, [])
  t.same([beta.version, beta.rules], [4, []], 'snapshot carries the latest metadata')
  t.equal('name' in beta, false, 'metadata replaced by the patch, not merged')
})

t.test('deletes: flag → FLAG_NOT_FOUND; segment → inSegment no longer matches', async (t) => {
  const { server, client } = await setup(t)
  await client.ready({ timeoutMs: 5000 })
  const c1 = nextEvent(client, 'change')
  server.publish('delete', { kind: 'flag', key: 'other' })
  t.same(await c1, ['other'])
  t.same(client.variationDetail('other', { key: 'u' }, 'd').reason, { kind: 'ERROR', errorKind: 'FLAG_NOT_FOUND' })
  const c2 = nextEvent(client, 'change')
  server.publish('delete', { kind: 'segment', key: 'beta' })
  t.same((await c2).sort(), ['dependent', 'new-checkout'])
  t.equal(client.isEnabled('new-checkout', { key: 'user-7' }), false)
})

t.test('a fresh put after a trimmed log reports what differs', async (t) => {
  const { server, client } = await setup(t)
  await client.ready({ timeoutMs: 5000 })
  const rs = ruleset()
  rs.flags.other = { ...(rs.flags.other as RulesetFlag), version: 2, fallthrough: { variation: 1 } }
  const id = server.replaceDocument(rs)
  const change = nextEvent(client, 'change')
  ;(await server.connection(1)).destroy()
  t.same(await change, ['other'])
  const second = await server.connection(2)
  t.not(second.lastEventId, null, 'resumed with an id the server no longer has')
  t.equal(client.appliedId, id)
  t.equal(client.variation('other', { key: 'u' }, 'x'), 'off')
})

t.test('polling in server mode uses the applied change id as ETag', async (t) => {
  const { server, client } = await setup(t, {
    pollIntervalMs: 20,
    streamRetryIntervalMs: 60000,
    heartbeatTimeoutMs: 5000,
  })
  await client.ready({ timeoutMs: 5000 })
  const applied = client.appliedId
  server.alwaysFail.stream = { status: 500, code: 'INTERNAL' }
  ;(await server.connection(1)).destroy()
  await server.waitFor(() => server.requests.some((r) => r.path === '/api/v1/sdk/rules'), 5000, 'a poll')
  const poll = server.requests.find((r) => r.path === '/api/v1/sdk/rules')
  t.equal(poll?.headers['if-none-match'], `"${applied}"`, 'first poll already conditional')
  t.equal(client.polling, true)
  const change = nextEvent(client, 'change')
  server.publish('patch', { kind: 'flag', flag: checkout({ on: false, version: 2 }) })
  t.same((await change).sort(), ['dependent', 'new-checkout'])
  t.equal(client.isEnabled('new-checkout', { key: 'user-1' }, true), false)
})

t.test('last-known-good round trip keeps segment members changed by deltas', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sy-lkg-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'rules.json')
  const { server, client } = await setup(t, { storage: fileStorage(path) })
  await client.ready({ timeoutMs: 5000 })
  const id = server.publish('segment-delta', {
    key: 'beta',
    list: 'included',
    add: ['user-42'],
    remove: [],
    version: 2,
  })
  await server.waitFor(() => client.appliedId === id, 5000, 'delta applied')
  await client.close()
  await server.close()
  const offline = createClient({
    url: server.url,
    token: 'test-token',
    storage: fileStorage(path),
    logger: {},
    sendMetrics: false,
  })
  t.teardown(() => offline.close())
  const ready = nextEvent(offline, 'ready')
  await offline.ready({ timeoutMs: 5000 })
  t.same(await ready, { source: 'cache' })
  t.equal(offline.appliedId, id)
  t.equal(offline.isEnabled('new-checkout', { key: 'user-42' }), true)
  t.equal(offline.isEnabled('new-checkout', { key: 'user-7' }), true)
  t.equal(offline.isEnabled('new-checkout', { key: 'user-2' }), false)
})

t.test('bootstrap with a ruleset answers before the server', async (t) => {
  const rs = ruleset()
  rs.flags['new-checkout'] = checkout({ on: false })
  const { client } = await setup(t, { bootstrap: rs })
  t.equal(client.isEnabled('new-checkout', { key: 'user-1' }, true), false)
  const change = await nextEvent(client, 'change')
  t.same(change.sort(), ['dependent', 'new-checkout'], 'compared by content, not only version')
  t.equal(client.isEnabled('new-checkout', { key: 'user-1' }), true)
})

t.test('metrics report mode server and the applied id', async (t) => {
  const { server, client } = await setup(t, { sendMetrics: true, metricsDebounceMs: 5 })
  await client.ready({ timeoutMs: 5000 })
  client.isEnabled('new-checkout', { key: 'user-1' })
  client.isEnabled('new-checkout', { key: 'user-2' })
  const id = server.publish('patch', { kind: 'flag', flag: checkout({ on: false, version: 2 }) })
  await server.waitFor(() => server.metrics.some((m) => m.appliedId === id), 5000, 'metrics with the kill id')
  const m = server.metrics.find((m) => m.appliedId === id) as Record<string, unknown>
  t.equal(m.mode, 'server')
  const all = server.metrics.map((x) => x.counts as Record<string, Record<string, number>>)
  const sum = (v: string) => all.reduce((n, c) => n + (c['new-checkout']?.[v] ?? 0), 0)
  t.equal(sum('0'), 1)
  t.equal(sum('1'), 1)
})

t.test('evaluation counts survive flag patches and deletes, and the goodbye report carries the last', async (t) => {
  const { server, client } = await setup(t, { sendMetrics: true, metricsDebounceMs: 5 })
  await client.ready({ timeoutMs: 5000 })
  client.isEnabled('new-checkout', { key: 'user-1' }) // target: variation 0
  client.variation('other', { key: 'u' }, 'x') // 'on': variation 0
  client.variation('other', { key: 'u' }, 0) // a number default for a string flag: the default
  client.isEnabled('no-such-flag', { key: 'u' }) // the default
  const patched = server.publish('patch', { kind: 'flag', flag: checkout({ version: 2 }) })
  await server.waitFor(() => client.appliedId === patched, 5000, 'patch applied')
  client.isEnabled('new-checkout', { key: 'user-2' }) // fallthrough: variation 1
  client.variation('other', { key: 'u' }, 'x')
  const deleted = server.publish('delete', { kind: 'flag', key: 'other' })
  await server.waitFor(() => client.appliedId === deleted, 5000, 'delete applied')
  client.variation('other', { key: 'u' }, 'x') // gone: the default
  client.isEnabled('new-checkout', { key: 'user-7' }) // segment rule: variation 0
  t.equal(client.variationDetail('new-checkout', { key: 'user-1' }, false).variation, 0)
  await client.close()
  await server.waitFor(() => server.metrics.some((m) => m.closing === true), 5000, 'the goodbye report')
  const sums: Record<string, Record<string, number>> = {}
  for (const m of server.metrics) {
    for (const [flag, byVar] of Object.entries(m.counts as Record<string, Record<string, number>>)) {
      for (const [v, n] of Object.entries(byVar)) {
        sums[flag] ??= {}
        sums[flag][v] = (sums[flag][v] ?? 0) + n
      }
    }
  }
  t.same(sums, {
    'new-checkout': { '0': 3, '1': 1 },
    other: { '0': 2, default: 2 },
    'no-such-flag': { default: 1 },
  })
})

t.test('a client that never heard from the server says goodbye with its counts', async (t) => {
  const server = await startSseTestServer({ document: ruleset() })
  t.teardown(() => server.close())
  for (let i = 0; i < 100; i++) server.failures.stream.push({ status: 503 })
  const client = createClient({ url: server.url, token: 'test-token', logger: {}, bootstrap: ruleset() })
  t.teardown(() => client.close())
  client.isEnabled('new-checkout', { key: 'user-1' })
  client.isEnabled('new-checkout', { key: 'user-1' })
  t.equal(client.appliedId, null, 'nothing from the server')
  await client.close()
  const bye = server.metrics.find((m) => m.closing === true)
  t.same(bye?.counts, { 'new-checkout': { '0': 2 } })
})

t.test('RulesStore counts: kept across a put and a clear until collected, then zeroed', async (t) => {
  const store = new RulesStore()
  t.equal(store.counted('new-checkout', { key: 'user-1' }, false), undefined, 'no data: nothing counted')
  store.replace(ruleset())
  t.equal(store.counted('new-checkout', { key: 'user-1' }, false), true)
  t.equal(store.counted('no-such-flag', { key: 'user-1' }, false), undefined, 'no such flag: nothing counted')
  store.replace(ruleset())
  t.equal(store.counted('new-checkout', { key: 'user-2' }, false), false)
  t.equal(store.counted('new-checkout', null as unknown as { key: string }, false), false, 'not a context')
  store.clear()
  t.same(store.collect(), { 'new-checkout': [1, 1, 1] })
  t.same(store.collect(), {}, 'collected once')
  store.replace(ruleset())
  t.equal(store.counted('dependent', { key: 'user-1' }, 'x'), 'on')
  t.same(store.collect(), { dependent: [0, 1] }, 'a prerequisite is not counted as an evaluation of its own')
})

t.test('input documents are not retained: with 1,000,000 ids, the client holds what the engine holds', async (t) => {
  // A child with --expose-gc, so collections are forced and the figures are this client's alone.
  const script = join(import.meta.dirname, '..', 'helpers', 'sdk-retained-heap.ts')
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import=tsx', script, '1000000'], {
    timeout: 120_000,
  })
  const r = JSON.parse(stdout) as {
    engineBytes: number
    clientBytes: number
    putBytes: number
    cacheBytes: number
    collected: boolean
  }
  const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`
  t.comment(
    `retained heap + array buffers: bare engine ${mb(r.engineBytes)}; client from bootstrap ${mb(r.clientBytes)}, from a stream put ${mb(r.putBytes)}, from last-known-good ${mb(r.cacheBytes)}`,
  )
  t.equal(r.collected, true, 'the bootstrap document itself was garbage-collected')
  t.ok(
    r.clientBytes < 45 * 1048576,
    `bootstrap: the client retains ${mb(r.clientBytes)} (< 45 MB; the document alone is ~40 MB)`,
  )
  // The JSON of a put is ~15 MB: holding on to it (or to its bytes) shows above this margin.
  const bound = r.engineBytes + 8 * 1048576
  for (const [what, bytes] of [
    ['bootstrap', r.clientBytes],
    ['stream put', r.putBytes],
    ['last-known-good', r.cacheBytes],
  ] as const) {
    t.ok(bytes < bound, `${what}: ${mb(bytes)} < the engine's ${mb(r.engineBytes)} + 8 MB`)
  }
})

t.test('an asynchronous cache is awaited: the first request resumes from its change id', async (t) => {
  const saved = memoryStorage()
  const { server, client } = await setup(t, { storage: saved })
  await client.ready({ timeoutMs: 5000 })
  const id = server.publish('patch', { kind: 'flag', flag: checkout({ on: false, version: 2 }) })
  await server.waitFor(() => client.appliedId === id, 5000, 'kill applied')
  await client.close()
  t.ok(saved.value?.includes(id), 'the cache holds the applied id')
  let release: (text: string | null) => void = () => {}
  const slow = { load: () => new Promise<string | null>((r) => (release = r)), save: () => {} }
  const second = createClient({ url: server.url, token: 'test-token', storage: slow, logger: {}, sendMetrics: false })
  t.teardown(() => second.close())
  // Loading takes a while (a big file): the request must not leave without the id meanwhile.
  await new Promise<void>((r) => setImmediate(r))
  release(saved.value)
  const conn = await server.connection(2)
  t.equal(conn.lastEventId, id, 'Last-Event-ID from the cache on the very first request')
  await second.ready({ timeoutMs: 5000 })
  t.equal(second.source, 'server')
  t.equal(second.isEnabled('new-checkout', { key: 'user-1' }, true), false)
})

t.test('a cache that never loads delays the first request by storageTimeoutMs only', async (t) => {
  const timers = new FakeTimers()
  const warnings: string[] = []
  const { server, client } = await setup(t, {
    timers,
    storageTimeoutMs: 1500,
    storage: { load: () => new Promise<string | null>(() => {}), save: () => {} },
    logger: { warn: (m) => warnings.push(m) },
  })
  const wait = await timers.next((x) => x.ms === 1500)
  t.equal(server.requests.length, 0, 'nothing sent while the storage loads')
  timers.fire(wait)
  const conn = await server.connection(1)
  t.equal(conn.lastEventId, null)
  await client.ready({ timeoutMs: 5000 })
  t.match(warnings, [/storage did not load within 1500 ms \(storageTimeoutMs\)/])
})
