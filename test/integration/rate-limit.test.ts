/**
 * Rate limits counted in Redis (two instances share them), the 429 with its
 * catalogue code and Retry-After, kills exempt, a Redis outage never a 429;
 * and helmet's headers on every route but the SSE streams.
 */
import t from 'tap'
import { createSdkEnv, createFlag, encodeContext } from '../helpers/sdk-fixtures.js'
import { openSse } from '../helpers/sse-reader.js'
import { startServer } from '../helpers/server.js'

t.test('failed authentication is limited per client IP across instances', async (t) => {
  const env = { RATE_LIMIT_AUTH_FAILURES: '10' }
  const a = await startServer(t, { env })
  const b = await startServer(t, { env, redisServer: a.redisServer })
  const statuses: number[] = []
  for (let i = 0; i < 10; i++)
    statuses.push((await (i % 2 ? a : b).api('GET', '/api/v1/flags', { token: i % 3 ? `sy_bad_${i}` : null })).status)
  t.same(statuses, Array(10).fill(401), '10 failures, alternating between A and B: 401 each')
  for (const [name, s] of [
    ['B', b],
    ['A', a],
  ] as const) {
    const r = await s.api('GET', '/api/v1/flags', { token: 'sy_bad_again' })
    t.equal(r.status, 429, `the 11th on ${name}: 429`)
    t.equal(r.body.code, 'RATE_LIMITED', `${name}: RATE_LIMITED`)
    const after = Number(r.headers.get('retry-after'))
    t.ok(after >= 1 && after <= 60, `${name}: Retry-After ${after} s`)
  }
  t.equal((await a.api('GET', '/api/v1/flags')).status, 200, 'a valid token from the same IP is not limited')
  t.equal((await b.api('GET', '/healthz', { token: null })).status, 200, 'nor are routes without authentication')
})

t.test('writes are limited per token across instances; kills are not', async (t) => {
  const env = { RATE_LIMIT_WRITES: '5' }
  const a = await startServer(t, { env })
  const b = await startServer(t, { env, redisServer: a.redisServer })
  // Created with the bootstrap admin token, which then has spent 4 of its 5 writes.
  await a.api('POST', '/api/v1/environments', { body: { key: 'production' } })
  await createFlag(a, 'f')
  const editor = (
    await b.api('POST', '/api/v1/tokens', { body: { name: 'ed', kind: 'editor', environments: ['production'] } })
  ).body.secret as string
  const other = (
    await b.api('POST', '/api/v1/tokens', { body: { name: 'ed2', kind: 'editor', environments: ['production'] } })
  ).body.secret as string
  const toggle = (s: typeof a, token: string, on: boolean) =>
    s.api('POST', '/api/v1/environments/production/flags/f/toggle', { token, body: { on } })
  const statuses: number[] = []
  for (let i = 0; i < 5; i++) statuses.push((await toggle(i % 2 ? a : b, editor, i % 2 === 0)).status)
  t.same(statuses, [200, 200, 200, 200, 200], '5 writes through A and B')
  const r = await toggle(a, editor, true)
  t.equal(r.status, 429, 'the 6th: 429')
  t.equal(r.body.code, 'RATE_LIMITED')
  t.ok(Number(r.headers.get('retry-after')) >= 1, 'with Retry-After')
  for (let i = 0; i < 3; i++) {
    const k = await (i % 2 ? a : b).api('POST', '/api/v1/environments/production/flags/f/kill', {
      token: editor,
      body: { reason: 'incident' },
    })
    t.equal(k.status, 200, `kill ${i + 1} with the exhausted token: 200`)
  }
  t.equal(
    (await a.api('GET', '/api/v1/environments/production/flags/f', { token: editor })).status,
    200,
    'reads are not limited',
  )
  t.equal((await toggle(b, other, true)).status, 200, 'another token has its own budget')
})

t.test('a Redis outage is a 503, never a 429 or a 500', async (t) => {
  const s = await startServer(t, { env: { RATE_LIMIT_AUTH_FAILURES: '1', RATE_LIMIT_WRITES: '1' } })
  await s.redisServer.kill()
  for (const token of [undefined, 'sy_bad']) {
    const r = await s.api('POST', '/api/v1/environments', { token, body: { key: 'production' } })
    t.equal(r.status, 503, `${token ?? 'admin'}: 503`)
    t.equal(r.body.code, 'STORE_UNAVAILABLE')
  }
})

t.test('security headers on every route but the event streams', async (t) => {
  const s = await startServer(t)
  const sdk = await createSdkEnv(s)
  for (const [path, token] of [
    ['/api/v1/flags', undefined],
    ['/api/v1/flags', null],
    ['/healthz', null],
    ['/nope', null],
    [`/api/v1/sdk/client/values?context=${encodeContext({ key: 'u' })}`, sdk.clientToken],
  ] as const) {
    const r = await s.api('GET', path, { token })
    t.equal(r.headers.get('x-content-type-options'), 'nosniff', `${path} (${r.status}): nosniff`)
    t.equal(r.headers.get('x-frame-options'), 'SAMEORIGIN', `${path}: X-Frame-Options`)
    t.match(r.headers.get('content-security-policy'), /default-src 'self'/, `${path}: CSP`)
    t.notMatch(
      r.headers.get('content-security-policy') ?? '',
      /upgrade-insecure-requests/,
      `${path}: no https upgrade (plain HTTP deployments)`,
    )
  }
  for (const [path, token] of [
    ['/api/v1/sdk/stream', sdk.serverToken],
    [`/api/v1/sdk/client/stream?context=${encodeContext({ key: 'u' })}`, sdk.clientToken],
  ] as const) {
    const c = await openSse(t, `${s.url}${path}`, { token })
    t.equal(c.status, 200)
    t.equal(c.headers.get('content-security-policy'), null, `${path}: no helmet headers`)
    t.equal(c.headers.get('x-frame-options'), null)
    t.equal(c.headers.get('cache-control'), 'no-cache', `${path}: keeps its own headers`)
    t.equal(c.headers.get('x-accel-buffering'), 'no')
    c.close()
  }
})
