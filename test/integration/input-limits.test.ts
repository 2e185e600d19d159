/**
 * Hostile or careless client input gets a 4xx with a catalogue code, never a
 * 500: out-of-range cursors, deep JSON, empty JSON bodies, reserved keys,
 * oversized request ids.
 */
import t from 'tap'
import { MAX_CONTEXT_DEPTH, MAX_JSON_DEPTH } from '../../sdk/core/validate.js'
import { createFlag, encodeContext } from '../helpers/sdk-fixtures.js'
import { startServer, type Teardown, type TestServer } from '../helpers/server.js'

/** `levels` nested arrays around 1 (`nest(1)` is `[1]`). */
const nest = (levels: number) => `${'['.repeat(levels)}1${']'.repeat(levels)}`
/** `levels` nested objects around 1: `{"a":{"a":1}}` is 2. */
const nestObj = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`

async function setup(t: Teardown): Promise<TestServer> {
  const s = await startServer(t)
  await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })
  await createFlag(s, 'f')
  await s.api('POST', '/api/v1/environments/production/segments', { body: { key: 's', included: ['u1'] } })
  return s
}

const json = (s: TestServer, method: string, path: string, body: string, headers: Record<string, string> = {}) =>
  s.api(method, path, { body, headers: { 'content-type': 'application/json', ...headers } })

t.test('cursors Redis would refuse are 400 VALIDATION_FAILED, not 500', async (t) => {
  const s = await setup(t)
  const big = '99999999999999999999'
  for (const q of [
    'cursor=0-0',
    `cursor=${big}-${big}`,
    `cursor=18446744073709551616-0`,
    `since=${big}`,
    `since=1-${big}`,
  ]) {
    const r = await s.api('GET', `/api/v1/audit?${q}`)
    t.equal(r.status, 400, q)
    t.equal(r.body.code, 'VALIDATION_FAILED', q)
  }
  let r = await s.api('GET', '/api/v1/audit?cursor=18446744073709551615-18446744073709551615')
  t.equal(r.status, 200, 'the largest stream id is a valid cursor')
  t.ok(r.body.items.length > 0)
  r = await s.api('GET', '/api/v1/audit?since=1960-01-01T00:00:00Z')
  t.equal(r.status, 200, 'a time before 1970 means everything')
  t.ok(r.body.items.length > 0)
  r = await s.api('GET', `/api/v1/environments/production/segments/s/members?cursor=${big}`)
  t.equal(r.status, 400, 'SSCAN cursor above 2^64')
  t.equal(r.body.code, 'VALIDATION_FAILED')
  r = await s.api('GET', '/api/v1/environments/production/segments/s/members?cursor=18446744073709551615')
  t.equal(r.status, 200, 'the largest SSCAN cursor is accepted')
})

t.test('deep JSON: contexts and variations have documented depth limits', async (t) => {
  const s = await setup(t)
  const evaluate = (ctxJson: string) =>
    json(s, 'POST', '/api/v1/environments/production/evaluate', `{"context":{"key":"u1","x":${ctxJson}}}`)

  let r = await evaluate(nestObj(5000))
  t.equal(r.status, 400, 'a context nested 5,000 deep')
  t.equal(r.body.code, 'VALIDATION_FAILED', 'refused while parsing the body')
  r = await evaluate(nest(MAX_CONTEXT_DEPTH))
  t.equal(r.status, 400, `a context nested ${MAX_CONTEXT_DEPTH + 1} deep`)
  t.equal(r.body.code, 'INVALID_CONTEXT')
  t.match(r.body.message, `more than ${MAX_CONTEXT_DEPTH} levels`)
  r = await evaluate(nest(MAX_CONTEXT_DEPTH - 1))
  t.equal(r.status, 200, `a context exactly ${MAX_CONTEXT_DEPTH} deep is evaluated`)

  // The browser routes decode the same limit from ?context=.
  const client = (
    await s.api('POST', '/api/v1/tokens', { body: { name: 'web', kind: 'sdk-client', environments: ['production'] } })
  ).body.secret as string
  let deep: unknown = 1
  for (let i = 0; i < 40; i++) deep = [deep]
  r = await s.api('GET', `/api/v1/sdk/client/values?context=${encodeContext({ key: 'u1', x: deep })}`, {
    token: client,
  })
  t.equal(r.status, 400, 'a deep browser context')
  t.equal(r.body.code, 'INVALID_CONTEXT')

  // Variations: 6,000 deep is refused by the body parser, just over the limit by the variation check.
  for (const [what, send] of [
    ['create', (v: string) => json(s, 'POST', '/api/v1/flags', `{"key":"j","kind":"json","variations":[${v},2]}`)],
    ['patch', (v: string) => json(s, 'PATCH', '/api/v1/flags/f', `{"variations":[${v},true,false]}`)],
  ] as const) {
    r = await send(nest(6000))
    t.equal(r.status, 400, `${what}: variations nested 6,000 deep`)
    t.equal(r.body.code, 'VALIDATION_FAILED')
    r = await send(nest(MAX_JSON_DEPTH + 1))
    t.equal(r.status, 400, `${what}: a variation nested ${MAX_JSON_DEPTH + 1} deep`)
    t.equal(r.body.code, 'VALIDATION_FAILED')
    t.match(r.body.details, [{ path: '/variations/0', code: 'TOO_DEEP' }])
  }
  r = await json(s, 'POST', '/api/v1/flags', `{"key":"j","kind":"json","variations":[${nest(MAX_JSON_DEPTH)},2]}`)
  t.equal(r.status, 201, `a variation exactly ${MAX_JSON_DEPTH} deep is accepted`)
  r = await s.api('GET', '/api/v1/environments/production/flags/j')
  t.equal(r.status, 200)
  t.same(r.body.variations[0], JSON.parse(nest(MAX_JSON_DEPTH)), 'and served intact')

  r = await json(
    s,
    'PUT',
    '/api/v1/environments/production/flags/f',
    `{"on":true,"fallthrough":{"variation":0},"rules":[{"id":"r","clauses":[{"attribute":"a","op":"in","values":[${nest(6000)}]}],"serve":{"variation":0}}]}`,
    { 'if-match': '"1"' },
  )
  t.equal(r.status, 400, 'deep clause values')
  t.equal(r.body.code, 'VALIDATION_FAILED')
  r = await json(
    s,
    'POST',
    '/api/v1/sdk/metrics',
    `{"sdkId":"x","mode":"server","appliedId":null,"counts":${nestObj(6000)}}`,
  )
  t.equal(r.status, 400, 'every route is covered by the body parser, whatever its schema')
})

t.test('an empty body with Content-Type: application/json is no body', async (t) => {
  const s = await setup(t)
  let r = await s.api('DELETE', '/api/v1/environments/production/segments/s', {
    headers: { 'content-type': 'application/json' },
  })
  t.equal(r.status, 204, r.text)
  r = await s.api('DELETE', '/api/v1/flags/f', { headers: { 'content-type': 'application/json; charset=utf-8' } })
  t.equal(r.status, 204, r.text)
  r = await s.api('POST', '/api/v1/flags', { headers: { 'content-type': 'application/json' } })
  t.equal(r.status, 400, 'a route that needs a body still says so')
  t.equal(r.body.code, 'VALIDATION_FAILED')
  r = await json(s, 'POST', '/api/v1/flags', '{"key": ')
  t.equal(r.body.code, 'INVALID_JSON', 'broken JSON is still INVALID_JSON')
  r = await json(s, 'POST', '/api/v1/flags', '{"key":"p","kind":"boolean","__proto__":{"x":1}}')
  t.equal(r.status, 400, 'prototype poisoning is still refused')
})

t.test('reserved environment keys have their own code', async (t) => {
  const s = await setup(t)
  const r = await s.api('POST', '/api/v1/environments', { body: { key: 'global' } })
  t.equal(r.status, 400)
  t.equal(r.body.code, 'RESERVED_NAME')
  t.match(r.body.message, /"global" is reserved/)
  t.equal((await s.api('GET', '/api/v1/environments/global')).status, 404)
})

t.test('X-Request-Id is kept in audit records only when short and plain', async (t) => {
  const s = await setup(t)
  const cases: Array<[string, boolean]> = [
    ['req-42.a:b/c@d+e=f_', true],
    ['x'.repeat(128), true],
    ['x'.repeat(129), false],
    ['x'.repeat(8000), false],
    ['with space', false],
    ['caf\u00e9', false],
  ]
  for (const [id, kept] of cases) {
    const r = await s.api('POST', '/api/v1/environments/production/flags/f/toggle', {
      body: { on: true },
      headers: { 'x-request-id': id },
    })
    t.equal(r.status, 200, r.text.slice(0, 200))
    const last = (await s.redis.xrevrange('sy:{production}:audit', '+', '-', 'COUNT', 1)) as Array<[string, string[]]>
    const rec = JSON.parse(last[0]?.[1][1] as string) as { requestId: string }
    if (kept) t.equal(rec.requestId, id, `${id.slice(0, 20)}… (${id.length}) kept`)
    else {
      t.not(rec.requestId, id, `${id.slice(0, 20)}… (${id.length}) replaced`)
      t.match(rec.requestId, /^[0-9a-f-]{36}$/, 'by a UUID')
    }
  }
})
