// /metrics: valid for Prometheus' own linter, and behind METRICS_TOKEN when it is set.
import { spawnSync } from 'node:child_process'
import t from 'tap'
import { createFlag, createSdkEnv, encodeContext } from '../helpers/sdk-fixtures.js'
import { startServer } from '../helpers/server.js'
import { openSse } from '../helpers/sse-reader.js'

t.test('`promtool check metrics` accepts /metrics of the real app', async (t) => {
  const s = await startServer(t, { env: { STREAM_MAX_PER_TOKEN: '1' } })
  const e = await createSdkEnv(s)
  await createFlag(s, 'checkout', { clientSide: true })
  // Traffic that fills every metric family: streams (one refused), a kill, an SDK report, a 404.
  const rules = await openSse(t, `${s.url}/api/v1/sdk/stream`, { token: e.serverToken })
  await rules.next()
  const url = `${s.url}/api/v1/sdk/client/stream?context=${encodeContext({ key: 'u' })}`
  t.equal((await openSse(t, url, { token: e.clientToken })).status, 200)
  t.equal((await openSse(t, url, { token: e.clientToken })).status, 429)
  await s.api('POST', '/api/v1/environments/production/flags/checkout/kill', { body: {} })
  await rules.next((ev) => ev.type === 'patch')
  await s.api('POST', '/api/v1/sdk/metrics', {
    token: e.serverToken,
    body: {
      sdkId: 'a',
      mode: 'server',
      appliedId: null,
      counts: { checkout: { '0': 1, default: 2 }, nope: { '0': 1 } },
    },
  })
  await s.api('GET', '/nowhere')

  const r = await s.api('GET', '/metrics', { token: null })
  t.equal(r.status, 200)
  t.match(r.text, /switchyard_nodejs_active_handles\{/, 'the per-type gauges stay')
  t.notMatch(r.text, /nodejs_active_\w+_total/, 'no gauge named like a counter')
  const check = spawnSync('promtool', ['check', 'metrics'], { input: r.text, encoding: 'utf8' })
  t.equal(check.error, undefined, 'promtool runs (Debian package `prometheus`; .ci/run installs it)')
  t.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`)
  t.equal(`${check.stdout}${check.stderr}`.trim(), '', 'no lint finding')
})

t.test('METRICS_TOKEN: /metrics needs the bearer token when set', async (t) => {
  const s = await startServer(t, { env: { METRICS_TOKEN: 'scrape-secret-0123456789' } })
  let r = await s.api('GET', '/metrics', { token: null })
  t.equal(r.status, 401)
  t.equal(r.body.code, 'UNAUTHORIZED')
  t.equal(r.headers.get('www-authenticate'), 'Bearer')
  r = await s.api('GET', '/metrics', { token: 'scrape-secret-012345678' })
  t.equal(r.status, 401, 'a prefix is not the token')
  r = await s.api('GET', '/metrics', {})
  t.equal(r.status, 401, 'the admin token is not the metrics token')
  r = await s.api('GET', '/metrics', { token: 'scrape-secret-0123456789' })
  t.equal(r.status, 200)
  t.match(r.text, /switchyard_http_request_duration_seconds/)
  t.equal((await s.api('GET', '/healthz', { token: null })).status, 200, 'health checks stay open')
  const open = await startServer(t)
  t.equal((await open.api('GET', '/metrics', { token: null })).status, 200, 'unset: open as before')
})
