import t from 'tap'
import { createFlag, createSdkEnv, metricValue } from '../helpers/sdk-fixtures.js'
import { startServer } from '../helpers/server.js'
import { openSse } from '../helpers/sse-reader.js'

t.test('SDK reports, evaluation counter and the proof a kill reached everyone', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s)
  await createFlag(s, 'checkout', { clientSide: true })
  const c = await openSse(t, s.url + '/api/v1/sdk/stream', { token: e.serverToken })
  const put = await c.next()

  const r0 = await s.api('POST', '/api/v1/environments/production/flags/checkout/kill', { body: { reason: 'incident' } })
  t.equal(r0.status, 200)
  const kill = await c.next()
  t.equal(kill.type, 'patch')

  const report = (token: string, body: Record<string, unknown>) => s.api('POST', '/api/v1/sdk/metrics', { token, body })
  let r = await report(e.serverToken, { sdkId: 'api-1', sdkVersion: '0.1.0', mode: 'server', appliedId: kill.id, startedAt: new Date().toISOString(), counts: { checkout: { '0': 5, '1': 2, '2': 3, '9999': 4, default: 1 }, 'not-a-flag': { '0': 1 }, 'user-123': { '0': 1 } } })
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

  t.equal(await metricValue(s, 'switchyard_sdk_evaluations_total', { env: 'production', flag: 'checkout', variation: '0' }), 5)
  t.equal(await metricValue(s, 'switchyard_sdk_evaluations_total', { variation: 'default' }), 1)
  t.equal(await metricValue(s, 'switchyard_sdk_evaluations_total', { flag: 'not-a-flag' }), 0, 'unknown flags are not labels')
  t.equal(await metricValue(s, 'switchyard_sdk_evaluations_total', { flag: 'user-123' }), 0, 'no user ids as labels')
  t.equal(await metricValue(s, 'switchyard_sdk_evaluations_total', { variation: '2' }), 0, 'a boolean flag has no variation 2')
  t.equal(await metricValue(s, 'switchyard_sdk_evaluations_total', { variation: '9999' }), 0)
  t.equal(await metricValue(s, 'switchyard_sdk_evaluations_dropped_total'), 9, 'dropped evaluations are counted without labels')

  // Goodbye: a closing SDK is forgotten at once instead of pending for 10 minutes.
  r = await report(e.serverToken, { sdkId: 'api-2', mode: 'server', appliedId: kill.id, closing: true })
  t.equal(r.status, 202)
  r = await s.api('GET', `/api/v1/environments/production/sdk-status?changeId=${kill.id}`)
  t.same([r.body.total, r.body.pending], [1, []])
})

t.test('sdk metrics: input checks and permissions', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s)
  const ok = { sdkId: 'a', mode: 'server', appliedId: null }
  let r = await s.api('POST', '/api/v1/sdk/metrics', { token: null, body: ok })
  t.equal(r.status, 401)
  r = await s.api('POST', '/api/v1/sdk/metrics', { body: ok })
  t.equal(r.status, 403, 'admin is not an SDK')
  for (const bad of [{ ...ok, mode: 'x' }, { ...ok, appliedId: 'nope' }, { mode: 'server', appliedId: null }, { ...ok, counts: { f: { '0': -1 } } }, { ...ok, extra: 1 }]) {
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
  t.same(r.body, { changeId: '1-0', changeAt: new Date(1).toISOString(), total: 0, applied: 0, pending: [], capped: false, instances: [], clients: { total: 0, applied: 0, pending: 0, capped: false } })
})

t.test('stale reports are dropped after 10 minutes', async (t) => {
  const s = await startServer(t)
  // The helper builds the app with the real clock: emulate an old report by writing its stored form directly.
  const e = await createSdkEnv(s)
  let r = await s.api('POST', '/api/v1/sdk/metrics', { token: e.serverToken, body: { sdkId: 'fresh', mode: 'server', appliedId: null } })
  t.equal(r.status, 202)
  const old = new Date(Date.now() - 11 * 60_000).toISOString()
  await s.redis.hset('sy:{production}:sdk', 'old', JSON.stringify({ sdkId: 'old', mode: 'server', appliedId: null, reportedAt: old, history: [] }))
  r = await s.api('GET', '/api/v1/environments/production/sdk-status?changeId=1-0')
  t.same(r.body.pending, ['fresh'])
  t.equal(await s.redis.hexists('sy:{production}:sdk', 'old'), 0, 'deleted when read')
})
