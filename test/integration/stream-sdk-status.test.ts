import t from 'tap'
import { createClient } from '../../sdk/index.js'
import { run } from '../../src/cli/run.js'
import { createFlag, createSdkEnv, metricValue, putConfig } from '../helpers/sdk-fixtures.js'
import { ADMIN, startServer } from '../helpers/server.js'
import { openSse } from '../helpers/sse-reader.js'
import { until } from '../helpers/wait.js'

const quiet = { warn() {}, error() {}, info() {}, debug() {} }

t.test('SDK reports, evaluation counter and the proof a kill reached everyone', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s)
  await createFlag(s, 'checkout', { clientSide: true })
  const c = await openSse(t, `${s.url}/api/v1/sdk/stream`, { token: e.serverToken })
  const put = await c.next()

  const r0 = await s.api('POST', '/api/v1/environments/production/flags/checkout/kill', {
    body: { reason: 'incident' },
  })
  t.equal(r0.status, 200)
  const kill = await c.next()
  t.equal(kill.type, 'patch')

  const report = (token: string, body: Record<string, unknown>) => s.api('POST', '/api/v1/sdk/metrics', { token, body })
  let r = await report(e.serverToken, {
    sdkId: 'api-1',
    sdkVersion: '0.1.0',
    mode: 'server',
    appliedId: kill.id,
    startedAt: new Date().toISOString(),
    counts: {
      checkout: { '0': 5, '1': 2, '2': 3, '9999': 4, default: 1 },
      'not-a-flag': { '0': 1 },
      'user-123': { '0': 1 },
    },
  })
  t.equal(r.status, 202, r.text)
  r = await report(e.serverToken, { sdkId: 'api-2', mode: 'server', appliedId: put.id })
  t.equal(r.status, 202)
  r = await report(e.clientToken, { sdkId: 'browser-1', mode: 'server', appliedId: null })
  t.equal(r.status, 202, 'sdk-client tokens report too')
  t.equal(r.headers.get('access-control-allow-origin'), '*')

  r = await s.api('GET', `/api/v1/environments/production/sdk-status?changeId=${kill.id}`)
  t.equal(r.status, 200, r.text)
  t.equal(r.body.changeId, kill.id)
  t.equal(r.body.changeAt, new Date(Number(kill.id.split('-')[0])).toISOString())
  t.equal(r.body.total, 2, 'server SDKs only: a browser (even one claiming mode "server") is not part of the proof')
  t.equal(r.body.applied, 1)
  t.same(r.body.pending, ['api-2'])
  t.equal(r.body.capped, false)
  t.same(r.body.clients, { total: 1, applied: 0, pending: 1, capped: false }, 'browsers are counted apart')
  const api1 = r.body.instances.find((i: { sdkId: string }) => i.sdkId === 'api-1')
  t.match(api1, { sdkId: 'api-1', mode: 'server', sdkVersion: '0.1.0', appliedId: kill.id, applied: true })
  t.type(api1.lagMs, 'number')
  t.ok(api1.lagMs >= 0 && api1.lagMs < 60_000, `lag ${api1.lagMs} ms`)

  // api-2 catches up: now everyone with rules has it.
  r = await report(e.serverToken, { sdkId: 'api-2', mode: 'server', appliedId: kill.id })
  r = await s.api('GET', `/api/v1/environments/production/sdk-status?changeId=${kill.id}`)
  t.equal(r.body.applied, 2)
  t.same(r.body.pending, [])
  // An earlier change counts as applied by both.
  r = await s.api('GET', `/api/v1/environments/production/sdk-status?changeId=${put.id}`)
  t.equal(r.body.applied, 2)

  t.equal(
    await metricValue(s, 'switchyard_sdk_evaluations_total', { env: 'production', flag: 'checkout', variation: '0' }),
    5,
  )
  t.equal(await metricValue(s, 'switchyard_sdk_evaluations_total', { variation: 'default' }), 1)
  t.equal(
    await metricValue(s, 'switchyard_sdk_evaluations_total', { flag: 'not-a-flag' }),
    0,
    'unknown flags are not labels',
  )
  t.equal(await metricValue(s, 'switchyard_sdk_evaluations_total', { flag: 'user-123' }), 0, 'no user ids as labels')
  t.equal(
    await metricValue(s, 'switchyard_sdk_evaluations_total', { variation: '2' }),
    0,
    'a boolean flag has no variation 2',
  )
  t.equal(await metricValue(s, 'switchyard_sdk_evaluations_total', { variation: '9999' }), 0)
  t.equal(
    await metricValue(s, 'switchyard_sdk_evaluations_dropped_total'),
    9,
    'dropped evaluations are counted without labels',
  )

  // Goodbye: a closing SDK is forgotten at once instead of pending for 10 minutes.
  r = await report(e.serverToken, { sdkId: 'api-2', mode: 'server', appliedId: kill.id, closing: true })
  t.equal(r.status, 202)
  r = await s.api('GET', `/api/v1/environments/production/sdk-status?changeId=${kill.id}`)
  t.same([r.body.total, r.body.pending], [1, []])
})

t.test('a report that finishes after a newer one of the same SDK does not take its applied change back', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s)
  await createFlag(s, 'checkout', { clientSide: true })
  const c = await openSse(t, `${s.url}/api/v1/sdk/stream`, { token: e.serverToken })
  const put = await c.next()
  await s.api('POST', '/api/v1/environments/production/flags/checkout/kill', { body: { reason: 'incident' } })
  const kill = await c.next()
  const report = (token: string, sdkId: string, appliedId: string | null) =>
    s.api('POST', '/api/v1/sdk/metrics', { token, body: { sdkId, mode: 'server', appliedId } })
  const status = async () => (await s.api('GET', `/api/v1/environments/production/sdk-status?changeId=${kill.id}`)).body

  // In order, then the older one late (its debounced report after the put, finishing after the kill's).
  t.equal((await report(e.serverToken, 'api-1', kill.id)).status, 202)
  t.equal((await report(e.serverToken, 'api-1', put.id)).status, 202, 'a late report is accepted')
  t.equal((await report(e.serverToken, 'api-1', null)).status, 202)
  let st = await status()
  t.same([st.total, st.applied, st.pending], [1, 1, []], 'the kill stays applied')
  t.equal(st.instances[0].appliedId, kill.id)

  // Both at once, many times over: whichever finishes last, the newer applied change is what is kept.
  for (let i = 0; i < 20; i++) {
    const id = `race-${i}`
    await Promise.all([report(e.clientToken, id, put.id), report(e.clientToken, id, kill.id)])
  }
  st = await status()
  t.same(st.clients, { total: 20, applied: 20, pending: 0, capped: false }, 'every browser has the kill applied')

  // A newer change still replaces an older one.
  await s.api('POST', '/api/v1/environments/production/flags/checkout/toggle', { body: { on: true } })
  const on = await c.next()
  t.equal((await report(e.serverToken, 'api-1', on.id)).status, 202)
  st = (await s.api('GET', `/api/v1/environments/production/sdk-status?changeId=${on.id}`)).body
  t.same([st.applied, st.instances[0].appliedId], [1, on.id])
})

t.test('sdk metrics: input checks and permissions', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s)
  const ok = { sdkId: 'a', mode: 'server', appliedId: null }
  let r = await s.api('POST', '/api/v1/sdk/metrics', { token: null, body: ok })
  t.equal(r.status, 401)
  r = await s.api('POST', '/api/v1/sdk/metrics', { body: ok })
  t.equal(r.status, 403, 'admin is not an SDK')
  for (const bad of [
    { ...ok, mode: 'x' },
    { ...ok, appliedId: 'nope' },
    { mode: 'server', appliedId: null },
    { ...ok, counts: { f: { '0': -1 } } },
    { ...ok, extra: 1 },
  ]) {
    r = await s.api('POST', '/api/v1/sdk/metrics', { token: e.serverToken, body: bad })
    t.equal(r.status, 400, JSON.stringify(bad))
  }
  r = await s.api('GET', '/api/v1/environments/production/sdk-status?changeId=bad')
  t.equal(r.status, 400)
  r = await s.api('GET', '/api/v1/environments/production/sdk-status?changeId=1-0', { token: e.serverToken })
  t.equal(r.status, 403, 'sdk tokens may not read the status')
  r = await s.api('GET', '/api/v1/environments/nowhere/sdk-status?changeId=1-0')
  t.equal(r.status, 404)
  r = await s.api('GET', '/api/v1/environments/production/sdk-status?changeId=1-0')
  t.same(r.body, {
    changeId: '1-0',
    changeAt: new Date(1).toISOString(),
    total: 0,
    applied: 0,
    pending: [],
    capped: false,
    instances: [],
    clients: { total: 0, applied: 0, pending: 0, capped: false },
  })
})

t.test('stale reports are dropped after 10 minutes', async (t) => {
  const s = await startServer(t)
  // The helper builds the app with the real clock: emulate an old report by writing its stored form directly.
  const e = await createSdkEnv(s)
  let r = await s.api('POST', '/api/v1/sdk/metrics', {
    token: e.serverToken,
    body: { sdkId: 'fresh', mode: 'server', appliedId: null },
  })
  t.equal(r.status, 202)
  const old = new Date(Date.now() - 11 * 60_000).toISOString()
  await s.redis.hset(
    'sy:{production}:sdk',
    'old',
    JSON.stringify({ sdkId: 'old', mode: 'server', appliedId: null, reportedAt: old, history: [] }),
  )
  r = await s.api('GET', '/api/v1/environments/production/sdk-status?changeId=1-0')
  t.same(r.body.pending, ['fresh'])
  t.equal(await s.redis.hexists('sy:{production}:sdk', 'old'), 0, 'deleted when read')
})

t.test(
  'server SDK instances beyond SDK_MAX_SERVER_INSTANCES are not tracked, and status says the proof is incomplete',
  async (t) => {
    const s = await startServer(t, { env: { SDK_MAX_SERVER_INSTANCES: '2' } })
    const e = await createSdkEnv(s)
    for (const id of ['a', 'b', 'c'])
      t.equal(
        (
          await s.api('POST', '/api/v1/sdk/metrics', {
            token: e.serverToken,
            body: { sdkId: id, mode: 'server', appliedId: '1-0' },
          })
        ).status,
        202,
      )
    const r = await s.api('GET', '/api/v1/environments/production/sdk-status?changeId=1-0')
    t.same([r.body.total, r.body.applied, r.body.capped], [2, 2, true])
    t.equal(await metricValue(s, 'switchyard_sdk_reports_untracked_total', { kind: 'server' }), 1)
    // A tracked instance keeps reporting; its slot is freed when it closes.
    t.equal(
      (
        await s.api('POST', '/api/v1/sdk/metrics', {
          token: e.serverToken,
          body: { sdkId: 'a', mode: 'server', appliedId: '1-0', closing: true },
        })
      ).status,
      202,
    )
    t.equal(
      (
        await s.api('POST', '/api/v1/sdk/metrics', {
          token: e.serverToken,
          body: { sdkId: 'c', mode: 'server', appliedId: '1-0' },
        })
      ).status,
      202,
    )
    const out: string[] = []
    const code = await run(['status', 'production', '1-0'], {
      env: { SWITCHYARD_URL: s.url, SWITCHYARD_TOKEN: ADMIN },
      out: (x) => out.push(x),
      err: (x) => out.push(x),
      readInput: () => '',
    })
    t.equal(code, 1, 'capped: other instances are unknown, so no proof')
    t.match(out.join('\n'), /more server SDK instances report than are tracked/)
  },
)

t.test(
  'the real SDK reports when it applied a change (delivery lag, not report lag) and says goodbye on close()',
  async (t) => {
    const s = await startServer(t)
    const e = await createSdkEnv(s)
    await createFlag(s, 'checkout')
    await putConfig(s, 'production', 'checkout', { fallthrough: { variation: 0 } })
    // Reports leave 2 s after a change is applied: the lag must not include those seconds.
    const c = createClient({
      url: s.url,
      token: e.serverToken,
      logger: quiet,
      metricsDebounceMs: 2000,
      metricsIntervalMs: 600_000,
    })
    t.teardown(() => c.close())
    await c.ready({ timeoutMs: 10_000 })
    const kill = await s.api('POST', '/api/v1/environments/production/flags/checkout/kill', {
      body: { reason: 'incident' },
    })
    const changeId = kill.headers.get('x-change-id') as string
    await until(() => c.isEnabled('checkout', { key: 'u' }) === false, 10_000, 'the kill to reach the SDK')
    // The test sees the kill applied at or after the SDK applied it (same clock), and before its report leaves.
    const seenAt = Date.now()
    const status = async () =>
      (await s.api('GET', `/api/v1/environments/production/sdk-status?changeId=${changeId}`)).body
    await until(async () => (await status()).applied === 1, 10_000, 'sdk-status to show the kill applied')
    const st = await status()
    t.equal(st.total, 1)
    const lag = st.instances[0].lagMs as number
    // The server places the SDK's application on its own clock from the report's arrival (the SDK's two
    // times give only their difference), so the report's own transit is in the lag too: up to a second of
    // it is allowed, half the report delay that must not be counted.
    const seenLag = seenAt - Date.parse(st.changeAt)
    t.ok(
      lag >= 0 && lag <= seenLag + 1000,
      `lagMs ${lag} is the delivery (the test saw it applied ${seenLag} ms after the change), not the 2 s report delay`,
    )
    t.equal(st.instances[0].appliedAt, new Date(Date.parse(st.changeAt) + lag).toISOString())

    const cli = async () =>
      run(['status', 'production', changeId], {
        env: { SWITCHYARD_URL: s.url, SWITCHYARD_TOKEN: ADMIN },
        out: () => {},
        err: () => {},
        readInput: () => '',
      })
    // A second SDK that never gets the kill applied (it is closed before): pending until it says goodbye.
    const late = createClient({
      url: s.url,
      token: e.serverToken,
      logger: quiet,
      streaming: false,
      pollIntervalMs: 600_000,
      metricsDebounceMs: 10,
      metricsIntervalMs: 600_000,
    })
    t.teardown(() => late.close())
    await late.ready({ timeoutMs: 10_000 })
    await until(async () => (await status()).total === 2, 10_000, 'the second SDK to report')
    await c.close()
    await late.close()
    const after = await status()
    t.same([after.total, after.pending], [0, []], 'closed SDKs are forgotten, not pending for 10 minutes')
    t.equal(await cli(), 0, '`status` exits 0 with no SDK running')
  },
)
