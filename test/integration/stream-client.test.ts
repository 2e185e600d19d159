import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import t from 'tap'
import { signContext } from '../../sdk/sign.js'
import { createFlag, createSdkEnv, encodeContext, putConfig, toggle } from '../helpers/sdk-fixtures.js'
import { loadConfig } from '../../src/config.js'
import { startServer, type TestServer } from '../helpers/server.js'
import { openSse, type SseEvent } from '../helpers/sse-reader.js'

const CLIENT_STREAM = '/api/v1/sdk/client/stream'
const VALUES = '/api/v1/sdk/client/values'
const sign = (secret: string, key: string) => signContext(secret, { key })
/** The old scheme (before whole-context signatures): HMAC of the key alone. */
const signKeyOnly = (secret: string, key: string) => createHmac('sha256', secret).update(key).digest('hex')

/** production: banner (clientSide; a rule on segment vip-seg, targets naming other users) and server-only. */
async function fixture(s: TestServer) {
  const e = await createSdkEnv(s)
  await createFlag(s, 'banner', { clientSide: true })
  await createFlag(s, 'server-only')
  await createFlag(s, 'theme', { kind: 'string', variations: ['dark', 'light'], clientSide: true })
  let r = await s.api('POST', '/api/v1/environments/production/segments', {
    body: { key: 'vip-seg', included: ['vip-member-1', 'alice'] },
  })
  if (r.status !== 201) throw new Error(r.text)
  await putConfig(s, 'production', 'banner', {
    targets: [{ variation: 0, values: ['alice', 'other-user-42'] }],
    rules: [
      {
        id: 'secret-rule-id',
        clauses: [{ attribute: 'key', op: 'inSegment', values: ['vip-seg'] }],
        serve: { variation: 0 },
      },
    ],
    fallthrough: { variation: 1 },
  })
  await putConfig(s, 'production', 'server-only', { fallthrough: { variation: 0 } })
  await putConfig(s, 'production', 'theme', { fallthrough: { variation: 1 } })
  r = await s.api('GET', '/api/v1/environments/production/flags/banner')
  return e
}

const FORBIDDEN_TEXT = [
  'secret-rule-id',
  'vip-seg',
  'vip-member-1',
  'other-user-42',
  'alice',
  'server-only',
  'carol',
  'ruleId',
  'prerequisiteKey',
]

const isPatch = (e: SseEvent) => e.type === 'patch'

function corsHeaderNames(h: Headers): string[] {
  const out: string[] = []
  h.forEach((_v, name) => {
    if (name.startsWith('access-control-')) out.push(name)
  })
  return out
}

t.test(
  'client stream: only clientSide values of this context; no rules, segments or other ids on the wire',
  async (t) => {
    const s = await startServer(t)
    const e = await fixture(s)
    const url = `${s.url}${CLIENT_STREAM}?context=${encodeContext({ key: 'bob', country: 'GB' })}`
    const c = await openSse(t, url, { token: e.clientToken })
    t.equal(c.status, 200, JSON.stringify(c.error))
    t.equal(c.headers.get('access-control-allow-origin'), '*')
    const put = await c.next()
    t.equal(put.type, 'put')
    t.match(put.id, /^\d+-\d+$/)
    t.same(JSON.parse(put.data), {
      flags: {
        banner: { value: false, variation: 1, reason: { kind: 'FALLTHROUGH' } },
        theme: { value: 'light', variation: 1, reason: { kind: 'FALLTHROUGH' } },
      },
    })

    // A change to bob's membership: a patch with the one changed flag, reason without the rule id.
    let r = await s.api('POST', '/api/v1/environments/production/segments/vip-seg/members', { body: { add: ['bob'] } })
    t.equal(r.status, 200, r.text)
    const p1 = await c.next()
    t.equal(p1.type, 'patch')
    t.same(JSON.parse(p1.data), {
      flags: { banner: { value: true, variation: 0, reason: { kind: 'RULE_MATCH' } } },
      removed: [],
    })

    // Changes that do not change bob's values send no values: another user's membership, a server-only flag,
    // a rule edit with the same outcome, only `ack`s (the id, data {}). The next patch bob gets is the theme change after them.
    const afterP1 = c.events.length
    r = await s.api('POST', '/api/v1/environments/production/segments/vip-seg/members', { body: { add: ['carol'] } })
    t.equal(r.status, 200)
    await toggle(s, 'production', 'server-only', false)
    await putConfig(s, 'production', 'banner', {
      targets: [{ variation: 0, values: ['alice', 'other-user-42', 'carol'] }],
      rules: [
        {
          id: 'secret-rule-id',
          clauses: [{ attribute: 'key', op: 'inSegment', values: ['vip-seg'] }],
          serve: { variation: 0 },
        },
      ],
    })
    await putConfig(s, 'production', 'theme', { fallthrough: { variation: 0 } })
    const p2 = await c.next(isPatch)
    const between = c.events.slice(afterP1, c.events.indexOf(p2))
    t.ok(
      between.every((e) => e.type === 'ack' && e.data === '{}'),
      `only acks before the next patch: ${between.map((e) => e.type).join(',')}`,
    )
    t.same(JSON.parse(p2.data), {
      flags: { theme: { value: 'dark', variation: 0, reason: { kind: 'FALLTHROUGH' } } },
      removed: [],
    })

    // A flag no longer clientSide disappears.
    r = await s.api('PATCH', '/api/v1/flags/theme', { body: { clientSide: false } })
    t.equal(r.status, 200, r.text)
    const p3 = await c.next(isPatch)
    t.same(JSON.parse(p3.data), { flags: {}, removed: ['theme'] })

    // A kill reaches the browser.
    r = await s.api('POST', '/api/v1/environments/production/flags/banner/kill', { body: {} })
    t.equal(r.status, 200, r.text)
    const p4 = await c.next(isPatch)
    t.same(JSON.parse(p4.data), {
      flags: { banner: { value: false, variation: 1, reason: { kind: 'OFF' } } },
      removed: [],
    })

    const raw = c.raw()
    for (const secret of FORBIDDEN_TEXT) t.notOk(raw.includes(secret), `the raw stream does not contain "${secret}"`)
    t.ok(raw.includes('bob') === false, 'not even the caller id is echoed')
  },
)

t.test('client values (polling): same document, ETag, 304', async (t) => {
  const s = await startServer(t)
  const e = await fixture(s)
  const path = `${VALUES}?context=${encodeContext({ key: 'alice' })}`
  let r = await s.api('GET', path, { token: e.clientToken })
  t.equal(r.status, 200, r.text)
  t.same(r.body, {
    flags: {
      banner: { value: true, variation: 0, reason: { kind: 'TARGET_MATCH' } },
      theme: { value: 'light', variation: 1, reason: { kind: 'FALLTHROUGH' } },
    },
  })
  for (const secret of FORBIDDEN_TEXT.filter((x) => x !== 'alice')) t.notOk(r.text.includes(secret), `no "${secret}"`)
  const etag = r.headers.get('etag')
  t.match(etag, /^"\d+-\d+"$/)
  t.equal(r.headers.get('access-control-allow-origin'), '*')
  t.equal(r.headers.get('access-control-expose-headers'), 'etag')
  r = await s.api('GET', path, { token: e.clientToken, headers: { 'if-none-match': etag! } })
  t.equal(r.status, 304)
  await toggle(s, 'production', 'banner', false)
  r = await s.api('GET', path, { token: e.clientToken, headers: { 'if-none-match': etag! } })
  t.equal(r.status, 200, 'read-your-writes')
  t.equal(r.body.flags.banner.reason.kind, 'OFF')
})

t.test('signed contexts', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s, 'secure', { requireSignedContext: true })
  await createFlag(s, 'f', { clientSide: true })
  const ctx = encodeContext({ key: 'bob' })
  for (const path of [CLIENT_STREAM, VALUES]) {
    let r = await s.api('GET', `${path}?context=${ctx}`, { token: e.clientToken })
    t.equal(r.status, 403, `${path}: unsigned`)
    t.equal(r.body.code, 'SIGNATURE_REQUIRED')
    t.equal(r.headers.get('access-control-allow-origin'), '*', 'errors carry CORS headers too')
    r = await s.api('GET', `${path}?context=${ctx}&signature=${sign(e.signingSecret, 'alice')}`, {
      token: e.clientToken,
    })
    t.equal(r.status, 403, `${path}: signature of another key`)
    t.equal(r.body.code, 'BAD_SIGNATURE')
    r = await s.api('GET', `${path}?context=${ctx}&signature=${'0'.repeat(64)}`, { token: e.clientToken })
    t.equal(r.body.code, 'BAD_SIGNATURE', `${path}: zeros`)
    r = await s.api('GET', `${path}?context=${ctx}&signature=xyz`, { token: e.clientToken })
    t.equal(r.body.code, 'BAD_SIGNATURE', `${path}: not hex`)
    r = await s.api('GET', `${path}?context=${ctx}&signature=${sign('wrong-secret', 'bob')}`, { token: e.clientToken })
    t.equal(r.body.code, 'BAD_SIGNATURE', `${path}: wrong secret`)
  }
  const good = sign(e.signingSecret, 'bob')
  const r = await s.api('GET', `${VALUES}?context=${ctx}&signature=${good}`, { token: e.clientToken })
  t.equal(r.status, 200, r.text)
  t.same(Object.keys(r.body.flags), ['f'])
  const c = await openSse(t, `${s.url}${CLIENT_STREAM}?context=${ctx}&signature=${good.toUpperCase()}`, {
    token: e.clientToken,
  })
  t.equal(c.status, 200)
  t.equal((await c.next()).type, 'put')

  // Where signatures are optional, a wrong one is still refused.
  const open = await createSdkEnv(s, 'open')
  const r2 = await s.api('GET', `${VALUES}?context=${ctx}&signature=${'ab'.repeat(32)}`, { token: open.clientToken })
  t.equal(r2.body.code, 'BAD_SIGNATURE')
})

t.test('signed contexts: the signature covers the whole context, and a signed context needs a key', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s, 'secure', { requireSignedContext: true })
  await createFlag(s, 'staff-banner', { clientSide: true })
  await putConfig(s, 'secure', 'staff-banner', {
    rules: [
      {
        id: 'staff',
        clauses: [{ attribute: 'email', op: 'endsWith', values: ['@corp.example'] }],
        serve: { variation: 0 },
      },
    ],
  })
  const own = { key: 'u1', email: 'u1@home.example' }
  const escalated = { ...own, email: 'ceo@corp.example' }
  const keyless = { email: 'ceo@corp.example' }
  const get = (path: string, ctx: unknown, signature: string) =>
    s.api('GET', `${path}?context=${encodeContext(ctx)}&signature=${signature}`, { token: e.clientToken })
  for (const path of [CLIENT_STREAM, VALUES]) {
    // The attack of the issue: a valid signature for the user's own key, then an attribute of someone else.
    let r = await get(path, { key: 'u1', email: 'ceo@corp.example' }, sign(e.signingSecret, 'u1'))
    t.equal(r.status, 403, `${path}: key signature plus an added email`)
    t.equal(r.body.code, 'BAD_SIGNATURE')
    r = await get(path, escalated, signContext(e.signingSecret, own))
    t.equal(r.body.code, 'BAD_SIGNATURE', `${path}: the signature of the real context with the email changed`)
    r = await get(path, own, signKeyOnly(e.signingSecret, 'u1'))
    t.equal(r.body.code, 'BAD_SIGNATURE', `${path}: the old key-only signature no longer passes`)
    r = await get(path, keyless, signKeyOnly(e.signingSecret, ''))
    t.equal(r.status, 400, `${path}: keyless with HMAC("")`)
    t.equal(r.body.code, 'CONTEXT_KEY_REQUIRED')
    r = await get(path, keyless, signContext(e.signingSecret, keyless))
    t.equal(r.body.code, 'CONTEXT_KEY_REQUIRED', `${path}: keyless even when its attributes are signed`)
    r = await get(path, { key: '', email: 'x' }, signContext(e.signingSecret, { key: '', email: 'x' }))
    t.equal(r.status, 400, `${path}: an empty key is no key`)
  }
  // Properly signed full contexts are accepted on both routes, with the values their attributes give.
  let r = await get(VALUES, own, signContext(e.signingSecret, own))
  t.equal(r.status, 200, r.text)
  t.equal(r.body.flags['staff-banner'].value, false)
  r = await get(VALUES, escalated, signContext(e.signingSecret, escalated))
  t.equal(r.body.flags['staff-banner'].value, true, 'the backend vouches for the staff email: staff value')
  const c = await openSse(
    t,
    `${s.url}${CLIENT_STREAM}?context=${encodeContext(own)}&signature=${signContext(e.signingSecret, own)}`,
    { token: e.clientToken },
  )
  t.equal(c.status, 200)
  t.same(JSON.parse((await c.next()).data).flags['staff-banner'].value, false)
  // OpenFeature's targetingKey is a key too.
  const of = { targetingKey: 'of-user', plan: 'pro' }
  r = await get(VALUES, of, signContext(e.signingSecret, of))
  t.equal(r.status, 200, r.text)
})

t.test('signed contexts: the vectors of test/vectors/signing verify end to end, sent as written', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s, 'secure', { requireSignedContext: true })
  const file = new URL('../vectors/signing/contexts.json', import.meta.url)
  const doc = JSON.parse(readFileSync(file, 'utf8')) as {
    secret: string
    vectors: { name: string; context: Record<string, unknown>; signature: string }[]
  }
  // The JSON text of each context exactly as the file writes it (generate.py puts each on one line): key order, spacing, 1.0, 1e21.
  const texts = [...readFileSync(file, 'utf8').matchAll(/^ {6}"context": (.*),$/gm)].map((m) => m[1]!)
  t.equal(texts.length, doc.vectors.length)
  // The vector secret becomes the environment's (the API only ever generates secrets).
  await s.redis.hset('sy:{secure}:meta', 'signingSecret', doc.secret)
  for (const [i, v] of doc.vectors.entries()) {
    const r = await s.api(
      'GET',
      `${VALUES}?context=${Buffer.from(texts[i]!).toString('base64url')}&signature=${v.signature}`,
      { token: e.clientToken },
    )
    const keyless = v.context.key === undefined && v.context.targetingKey === undefined
    t.equal(r.status, keyless ? 400 : 200, `${v.name}: ${r.text}`)
    if (keyless) t.equal(r.body.code, 'CONTEXT_KEY_REQUIRED')
  }
  const r = await s.api(
    'GET',
    `${VALUES}?context=${encodeContext({ key: 'x', s: '\ud800' })}&signature=${'ab'.repeat(32)}`,
    { token: e.clientToken },
  )
  t.equal(r.status, 400, 'a lone surrogate cannot be signed canonically')
  t.equal(r.body.code, 'INVALID_CONTEXT')
})

t.test('invalid contexts are 400 INVALID_CONTEXT', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s)
  const cases: Record<string, string> = {
    'not base64url': 'not*base64',
    'not JSON': Buffer.from('{nope').toString('base64url'),
    'an array': encodeContext([1, 2]),
    'a string': encodeContext('bob'),
    null: encodeContext(null),
    'too big': encodeContext({ key: 'k', pad: 'x'.repeat(9000) }),
    'key too long': encodeContext({ key: 'k'.repeat(257) }),
    'key not a string': encodeContext({ key: 42 }),
  }
  for (const [name, value] of Object.entries(cases)) {
    for (const path of [CLIENT_STREAM, VALUES]) {
      const r = await s.api('GET', `${path}?context=${value}`, { token: e.clientToken })
      t.equal(r.status, 400, `${path}: ${name}`)
      t.equal(r.body.code, 'INVALID_CONTEXT', `${path}: ${name} code`)
    }
  }
  const r = await s.api('GET', VALUES, { token: e.clientToken })
  t.equal(r.status, 400, 'missing context')
})

t.test('CORS only on the browser routes, with preflight', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s)
  for (const path of [CLIENT_STREAM, VALUES, '/api/v1/sdk/metrics']) {
    const r = await s.api('OPTIONS', path, {
      token: null,
      headers: {
        origin: 'https://shop.example',
        'access-control-request-method': path.endsWith('metrics') ? 'POST' : 'GET',
        'access-control-request-headers': 'authorization, last-event-id',
      },
    })
    t.equal(r.status, 204, `${path} preflight`)
    t.equal(r.headers.get('access-control-allow-origin'), '*')
    // Every header the SDK sends: If-None-Match on each poll after the first, Last-Event-ID on resume.
    t.same(
      r.headers.get('access-control-allow-headers')?.split(/,\s*/).sort(),
      ['authorization', 'cache-control', 'content-type', 'if-none-match', 'last-event-id'],
      `${path}: allowed headers`,
    )
    t.match(r.headers.get('access-control-allow-methods'), path.endsWith('metrics') ? /POST/ : /GET/)
    t.equal(r.headers.get('access-control-max-age'), '600')
    t.equal(r.headers.get('content-length'), '0')
  }
  let r = await s.api('GET', `${VALUES}?context=${encodeContext({ key: 'x' })}`, {
    token: null,
    headers: { origin: 'https://shop.example' },
  })
  t.equal(r.status, 401)
  t.equal(r.headers.get('access-control-allow-origin'), '*', '401 readable by the page')
  r = await s.api('GET', '/api/v1/flags', { headers: { origin: 'https://shop.example' } })
  t.equal(r.headers.get('access-control-allow-origin'), null, 'no CORS on admin routes')
  r = await s.api('OPTIONS', '/api/v1/flags', {
    token: null,
    headers: { origin: 'https://shop.example', 'access-control-request-method': 'GET' },
  })
  t.equal(r.headers.get('access-control-allow-origin'), null, 'no preflight on admin routes')
  t.equal(r.status, 404)
  t.equal(r.body.code, 'NOT_FOUND', 'a catalogue 404, as before')
  r = await s.api('GET', '/api/v1/sdk/rules', { token: e.serverToken, headers: { origin: 'https://shop.example' } })
  t.same(corsHeaderNames(r.headers), [], 'no CORS on the rules')
  t.equal(r.headers.get('vary'), null, 'not even Vary')
  r = await s.api('OPTIONS', '/api/v1/sdk/rules', {
    token: null,
    headers: { origin: 'https://shop.example', 'access-control-request-method': 'GET' },
  })
  t.equal(r.headers.get('access-control-allow-origin'), null, 'no preflight on the rules')
  const c = await openSse(t, `${s.url}/api/v1/sdk/stream`, {
    token: e.serverToken,
    headers: { origin: 'https://shop.example' },
  })
  t.equal(c.status, 200)
  t.same(corsHeaderNames(c.headers), [], 'no CORS on the server stream')
})

t.test(
  'CLIENT_CORS_ORIGIN as a list: a listed Origin is echoed (real requests, preflights and SSE), others get none',
  async (t) => {
    const s = await startServer(t, { env: { CLIENT_CORS_ORIGIN: 'https://shop.example, https://www.shop.example' } })
    const e = await createSdkEnv(s)
    const query = `?context=${encodeContext({ key: 'bob' })}`
    for (const origin of ['https://shop.example', 'https://www.shop.example']) {
      let r = await s.api('OPTIONS', VALUES, {
        token: null,
        headers: {
          origin,
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'authorization, if-none-match',
        },
      })
      t.equal(r.status, 204)
      t.equal(r.headers.get('access-control-allow-origin'), origin, `${origin}: preflight`)
      t.match(r.headers.get('vary'), /Origin/)
      r = await s.api('GET', VALUES + query, { token: e.clientToken, headers: { origin } })
      t.equal(r.status, 200, r.text)
      t.equal(r.headers.get('access-control-allow-origin'), origin, `${origin}: values`)
      t.equal(r.headers.get('access-control-expose-headers'), 'etag')
      t.match(r.headers.get('vary'), /Origin/, 'caches keep one answer per origin')
      // The stream's response is written by hand (hijacked): the headers the CORS hook set reach it too.
      const c = await openSse(t, `${s.url}${CLIENT_STREAM}${query}`, { token: e.clientToken, headers: { origin } })
      t.equal(c.status, 200)
      t.equal(c.headers.get('access-control-allow-origin'), origin, `${origin}: stream`)
      t.equal(c.headers.get('access-control-expose-headers'), 'etag')
      t.equal(c.headers.get('content-type'), 'text/event-stream; charset=utf-8')
      t.equal((await c.next()).type, 'put')
    }
    const r = await s.api('GET', VALUES + query, { token: e.clientToken, headers: { origin: 'https://evil.example' } })
    t.equal(
      r.headers.get('access-control-allow-origin'),
      null,
      'an unlisted origin gets no Allow-Origin (the browser blocks it)',
    )
    t.throws(() => loadConfig({ CLIENT_CORS_ORIGIN: 'shop.example' }), 'an origin needs its scheme')
  },
)

t.test('who may use the browser routes', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s)
  const ctx = encodeContext({ key: 'bob' })
  for (const path of [CLIENT_STREAM, VALUES]) {
    let r = await s.api('GET', `${path}?context=${ctx}`, { token: null })
    t.equal(r.status, 401, `${path}: no token`)
    for (const [name, tok] of [
      ['admin', undefined],
      ['sdk-server', e.serverToken],
    ] as const) {
      r = await s.api('GET', `${path}?context=${ctx}`, { ...(tok !== undefined && { token: tok }) })
      t.equal(r.status, 403, `${path}: ${name}`)
      t.equal(r.body.code, 'FORBIDDEN')
    }
  }
})

t.test('client stream: acks carry the newest id, coalesced, and never repeat an id a patch carried', async (t) => {
  const s = await startServer(t)
  const e = await fixture(s)
  const c = await openSse(t, `${s.url}${CLIENT_STREAM}?context=${encodeContext({ key: 'bob' })}`, {
    token: e.clientToken,
  })
  const put = await c.next()
  const lastId = async () =>
    ((await s.redis.xrevrange('sy:{production}:log', '+', '-', 'COUNT', 1)) as Array<[string, string[]]>)[0]![0]

  // Five changes that do not concern bob, written back to back: acks only, the last one with the newest id.
  for (let i = 0; i < 5; i++) await toggle(s, 'production', 'server-only', i % 2 === 0)
  const newest = await lastId()
  const ack = await c.next((ev) => ev.id === newest)
  t.equal(ack.type, 'ack')
  t.equal(ack.data, '{}')
  const acks = c.events.slice(1)
  t.ok(
    acks.every((ev) => ev.type === 'ack'),
    'nothing but acks',
  )
  t.ok(acks.length <= 5, `at most one per change (${acks.length})`)
  const ids = acks.map((ev) => ev.id)
  t.same(
    ids,
    [...new Set(ids)].sort((a, b) => (a < b ? -1 : 1)),
    'each id once, in order',
  )
  t.not(ack.id, put.id)

  // A change of bob's values is a patch carrying its id; the ack after it carries the next change's id only.
  await toggle(s, 'production', 'theme', false)
  const patchId = await lastId()
  const patch = await c.next((ev) => ev.type !== 'ack')
  t.equal(patch.type, 'patch')
  t.equal(patch.id, patchId)
  await toggle(s, 'production', 'server-only', true)
  const after = await lastId()
  const next = await c.next()
  t.same([next.type, next.id], ['ack', after], 'no ack repeats the patch id')

  // A rules stream never gets acks.
  const rules = await openSse(t, `${s.url}/api/v1/sdk/stream`, { token: e.serverToken })
  await rules.next()
  await toggle(s, 'production', 'server-only', false)
  const p = await rules.next()
  t.equal(p.type, 'patch')
  t.ok(rules.events.every((ev) => ev.type !== 'ack'))
})

t.test('client stream: a segment change reaches a client-side flag through a server-only prerequisite', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s)
  await createFlag(s, 'gate')
  await createFlag(s, 'feature', { clientSide: true })
  await createFlag(s, 'plain', { clientSide: true })
  let r = await s.api('POST', '/api/v1/environments/production/segments', { body: { key: 'beta-seg', included: [] } })
  t.equal(r.status, 201, r.text)
  await putConfig(s, 'production', 'gate', {
    rules: [
      { id: 'beta', clauses: [{ attribute: 'key', op: 'inSegment', values: ['beta-seg'] }], serve: { variation: 0 } },
    ],
  })
  await putConfig(s, 'production', 'feature', {
    prerequisites: [{ flag: 'gate', variation: 0 }],
    fallthrough: { variation: 0 },
  })
  const c = await openSse(t, `${s.url}${CLIENT_STREAM}?context=${encodeContext({ key: 'bob' })}`, {
    token: e.clientToken,
  })
  const put = await c.next()
  t.same(JSON.parse(put.data).flags.feature, { value: false, variation: 1, reason: { kind: 'PREREQUISITE_FAILED' } })

  // Membership (segment.members): gate now serves 0 to bob, so feature's prerequisite holds.
  r = await s.api('POST', '/api/v1/environments/production/segments/beta-seg/members', { body: { add: ['bob'] } })
  t.equal(r.status, 200, r.text)
  const p1 = await c.next(isPatch)
  t.same(JSON.parse(p1.data), {
    flags: { feature: { value: true, variation: 0, reason: { kind: 'FALLTHROUGH' } } },
    removed: [],
  })

  // The segment replaced (segment.put with members): bob is out again.
  r = await s.api('PUT', '/api/v1/environments/production/segments/beta-seg', { body: { rules: [], included: [] } })
  t.equal(r.status, 200, r.text)
  const p2 = await c.next(isPatch)
  t.same(JSON.parse(p2.data), {
    flags: { feature: { value: false, variation: 1, reason: { kind: 'PREREQUISITE_FAILED' } } },
    removed: [],
  })

  // A segment rule (segment.put without members) that matches bob by an attribute he lacks changes nothing: an ack only.
  r = await s.api('PUT', '/api/v1/environments/production/segments/beta-seg', {
    body: { rules: [{ id: 'gb', clauses: [{ attribute: 'country', op: 'in', values: ['GB'] }] }] },
  })
  t.equal(r.status, 200, r.text)
  const ack = await c.next()
  t.equal(ack.type, 'ack')
})
