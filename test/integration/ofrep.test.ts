/**
 * OFREP at the REST level, over real HTTP against the real server and Redis:
 * reasons, variants and metadata; OFREP's error answers (and the catalogue's
 * code beside them); ETag / 304 on bulk; sdk-client tokens seeing clientSide
 * flags only, with signed contexts; CORS for pages. And the sdk-client token
 * in the query string for a native EventSource: accepted there only, and
 * never logged.
 */
import { Writable } from 'node:stream'
import t from 'tap'
import { signContext } from '../../sdk/sign.js'
import { createFlag, createSdkEnv, encodeContext, putConfig } from '../helpers/sdk-fixtures.js'
import { startServer } from '../helpers/server.js'
import { until } from '../helpers/wait.js'

const log: string[] = []
const logStream = new Writable({
  write(chunk: Buffer, _enc, cb) {
    log.push(chunk.toString('utf8'))
    cb()
  },
})
const s = await startServer(t, { env: { LOG_LEVEL: 'info', RATE_LIMIT_AUTH_FAILURES: '0' }, logStream })
const sdk = await createSdkEnv(s)
const signed = await createSdkEnv(s, 'signed', { requireSignedContext: true })

// checkout: targets u1 → variation 0, a rule plan=pro → variation 1, fallthrough a 50/50 rollout.
await createFlag(s, 'checkout', { kind: 'string', variations: ['new', 'old'] })
await putConfig(s, 'production', 'checkout', {
  targets: [{ variation: 0, values: ['u1'] }],
  rules: [{ id: 'pros', clauses: [{ attribute: 'plan', op: 'in', values: ['pro'] }], serve: { variation: 1 } }],
  fallthrough: {
    rollout: {
      weights: [
        { variation: 0, weight: 50_000 },
        { variation: 1, weight: 50_000 },
      ],
    },
  },
})
await createFlag(s, 'banner', { clientSide: true })
await putConfig(s, 'production', 'banner', { fallthrough: { variation: 0 } })
await putConfig(s, 'signed', 'banner', { fallthrough: { variation: 0 } })
await createFlag(s, 'dark', { clientSide: true })
await putConfig(s, 'production', 'dark', { on: false, offVariation: null })

const ofrep = (path: string, token: string | null, body: unknown, headers: Record<string, string> = {}) =>
  s.api('POST', `/ofrep/v1/evaluate/flags${path}`, { token, body, headers })

t.test('single flag: OpenFeature reasons, variants and metadata', async (t) => {
  let r = await ofrep('/checkout', sdk.serverToken, { context: { targetingKey: 'u1' } })
  t.equal(r.status, 200)
  t.match(r.headers.get('content-type'), /^application\/json/)
  t.same(r.body, {
    key: 'checkout',
    value: 'new',
    variant: '0',
    reason: 'TARGETING_MATCH',
    metadata: { reasonKind: 'TARGET_MATCH', version: 2 },
  })
  r = await ofrep('/checkout', sdk.serverToken, { context: { targetingKey: 'u2', plan: 'pro' } })
  t.same(r.body, {
    key: 'checkout',
    value: 'old',
    variant: '1',
    reason: 'TARGETING_MATCH',
    metadata: { reasonKind: 'RULE_MATCH', ruleId: 'pros', version: 2 },
  })
  r = await ofrep('/checkout', sdk.serverToken, { context: { targetingKey: 'u3' } })
  t.equal(r.body.reason, 'SPLIT', 'a rollout chose')
  t.same(r.body.metadata, { reasonKind: 'FALLTHROUGH', inRollout: true, version: 2 })
  r = await ofrep('/banner', sdk.serverToken, { context: {} })
  t.same(r.body, {
    key: 'banner',
    value: true,
    variant: '0',
    reason: 'DEFAULT',
    metadata: { reasonKind: 'FALLTHROUGH', version: 2 },
  })
  r = await ofrep('/dark', sdk.serverToken, { context: { targetingKey: 'u1' } })
  t.same(
    r.body,
    { key: 'dark', reason: 'DISABLED', metadata: { reasonKind: 'OFF', version: 2 } },
    'off without an off variation: no value (OFREP codeDefaultFlag)',
  )
})

t.test('single flag: OFREP error answers carry the catalogue code too', async (t) => {
  let r = await ofrep('/nowhere', sdk.serverToken, { context: {} })
  t.equal(r.status, 404)
  t.match(r.body, {
    key: 'nowhere',
    errorCode: 'FLAG_NOT_FOUND',
    code: 'FLAG_NOT_FOUND',
    statusCode: 404,
    errorDetails: 'Flag "nowhere" does not exist',
  })
  r = await ofrep('/checkout', sdk.serverToken, { context: { plan: 'free' } })
  t.equal(r.status, 400, 'a rollout without a targetingKey')
  t.match(r.body, { key: 'checkout', code: 'EVALUATION_FAILED', errorCode: 'TARGETING_KEY_MISSING' })
  r = await ofrep('/checkout', sdk.serverToken, '{"context": ', { 'content-type': 'application/json' })
  t.match([r.status, r.body], [400, { key: 'checkout', code: 'INVALID_JSON', errorCode: 'PARSE_ERROR' }])
  r = await ofrep('/checkout', sdk.serverToken, { context: 'u1' })
  t.match([r.status, r.body], [400, { code: 'INVALID_CONTEXT', errorCode: 'INVALID_CONTEXT' }])
  r = await ofrep('/checkout', sdk.serverToken, { context: { targetingKey: 'x'.repeat(300) } })
  t.match([r.status, r.body], [400, { code: 'INVALID_CONTEXT', errorCode: 'INVALID_CONTEXT' }], 'a key longer than 256')
  const bare = await fetch(`${s.url}/ofrep/v1/evaluate/flags/banner`, {
    method: 'POST',
    headers: { authorization: `Bearer ${sdk.serverToken}` },
  })
  t.match(
    [bare.status, await bare.json()],
    [200, { key: 'banner', value: true }],
    "no body at all: the empty context (OFREP's body is optional)",
  )
  r = await ofrep('/checkout', null, { context: {} })
  t.match([r.status, r.body], [401, { code: 'UNAUTHORIZED', errorCode: 'GENERAL' }])
  r = await ofrep('/checkout', s.config.ADMIN_TOKEN as string, { context: {} })
  t.match([r.status, r.body], [403, { code: 'FORBIDDEN' }], 'OFREP is for SDK tokens (one environment)')
})

t.test('bulk: every flag for sdk-server, ETag and 304, a kill changes the answer', async (t) => {
  const body = { context: { targetingKey: 'u1' } }
  let r = await ofrep('', sdk.serverToken, body)
  t.equal(r.status, 200)
  t.same(r.body.flags.map((f: { key: string }) => f.key).sort(), ['banner', 'checkout', 'dark'])
  const etag = r.headers.get('etag') as string
  t.match(etag, /^"[A-Za-z0-9_-]{32}"$/)
  r = await ofrep('', sdk.serverToken, body, { 'if-none-match': etag })
  t.equal(r.status, 304)
  t.equal(r.text, '', 'no body')
  r = await ofrep('', sdk.serverToken, { context: { targetingKey: 'u2', plan: 'pro' } }, { 'if-none-match': etag })
  t.equal(r.status, 200, 'another context sees other values: not 304 for the same ETag')
  const noKey = await ofrep('', sdk.serverToken, { context: {} })
  t.same(
    noKey.body.flags.find((f: { key: string }) => f.key === 'checkout'),
    { key: 'checkout', errorCode: 'TARGETING_KEY_MISSING', errorDetails: 'the flag needs a targetingKey' },
    'an evaluation error is listed, not fatal',
  )

  t.equal(
    (await s.api('POST', '/api/v1/environments/production/flags/checkout/kill', { body: { reason: 'test' } })).status,
    200,
  )
  r = await ofrep('', sdk.serverToken, body, { 'if-none-match': etag })
  t.equal(r.status, 200, 'the kill is seen at once (read-your-writes)')
  t.not(r.headers.get('etag'), etag)
  t.match(
    r.body.flags.find((f: { key: string }) => f.key === 'checkout'),
    { reason: 'DISABLED', value: 'old', variant: '1' },
  )
  t.equal(
    (await s.api('POST', '/api/v1/environments/production/flags/checkout/toggle', { body: { on: true } })).status,
    200,
  )
})

t.test('sdk-client: clientSide flags only, no rule ids', async (t) => {
  let r = await ofrep('', sdk.clientToken, { context: { targetingKey: 'u1' } })
  t.equal(r.status, 200)
  t.same(r.body.flags.map((f: { key: string }) => f.key).sort(), ['banner', 'dark'])
  r = await ofrep('/checkout', sdk.clientToken, { context: { targetingKey: 'u1' } })
  t.match([r.status, r.body], [404, { errorCode: 'FLAG_NOT_FOUND' }], 'a server-only flag does not exist for a page')
  r = await ofrep('/banner', sdk.clientToken, { context: { targetingKey: 'u1' } })
  t.same(r.body, {
    key: 'banner',
    value: true,
    variant: '0',
    reason: 'DEFAULT',
    metadata: { reasonKind: 'FALLTHROUGH', version: 2 },
  })
})

t.test(
  'sdk-client in an environment that requires signed contexts: the signature travels as a context attribute',
  async (t) => {
    const context = { key: 'u1', plan: 'pro' }
    const sig = signContext(signed.signingSecret, context)
    let r = await ofrep('/banner', signed.clientToken, {
      context: { targetingKey: 'u1', plan: 'pro', switchyardSignature: sig },
    })
    t.match(
      [r.status, r.body],
      [200, { value: true }],
      'signed over { key, ...attributes }, without the signature itself',
    )
    r = await ofrep('', signed.clientToken, { context: { targetingKey: 'u1', plan: 'pro', switchyardSignature: sig } })
    t.equal(r.status, 200, 'bulk too')
    r = await ofrep('/banner', signed.clientToken, {
      context: { targetingKey: 'u1', plan: 'free', switchyardSignature: sig },
    })
    t.match([r.status, r.body], [403, { code: 'BAD_SIGNATURE', key: 'banner' }], 'a changed attribute')
    r = await ofrep('', signed.clientToken, { context: { targetingKey: 'u1' } })
    t.match([r.status, r.body], [403, { code: 'SIGNATURE_REQUIRED' }])
    r = await ofrep('', signed.clientToken, { context: { plan: 'pro' } })
    t.match([r.status, r.body], [400, { code: 'CONTEXT_KEY_REQUIRED', errorCode: 'TARGETING_KEY_MISSING' }])
    r = await ofrep('/banner', signed.serverToken, { context: { plan: 'pro' } })
    t.equal(r.status, 200, 'a server token needs no signature')
  },
)

t.test('CORS: pages may call OFREP', async (t) => {
  const origin = 'https://shop.example'
  let res = await fetch(`${s.url}/ofrep/v1/evaluate/flags/banner`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization,content-type,if-none-match',
    },
  })
  t.equal(res.status, 204)
  t.equal(res.headers.get('access-control-allow-origin'), '*')
  t.match(res.headers.get('access-control-allow-headers'), /authorization/)
  res = await fetch(`${s.url}/ofrep/v1/evaluate/flags`, {
    method: 'POST',
    headers: { origin, authorization: `Bearer ${sdk.clientToken}`, 'content-type': 'application/json' },
    body: '{"context":{}}',
  })
  t.equal(res.status, 200)
  t.equal(res.headers.get('access-control-allow-origin'), '*')
  t.match(res.headers.get('access-control-expose-headers'), /etag/i)
  res = await fetch(`${s.url}/ofrep/v1/evaluate/flags/banner`, {
    method: 'POST',
    headers: { origin, 'content-type': 'application/json' },
    body: '{}',
  })
  t.equal(res.status, 401)
  t.equal(res.headers.get('access-control-allow-origin'), '*', 'a page can read its 401 too')
})

t.test('a native EventSource: the sdk-client token in ?access_token=, on the browser GET routes only', async (t) => {
  const ctx = encodeContext({ key: 'u1' })
  const q = (token: string) => `context=${ctx}&access_token=${encodeURIComponent(token)}`
  let r = await s.api('GET', `/api/v1/sdk/client/values?${q(sdk.clientToken)}`, { token: null })
  t.equal(r.status, 200, 'an sdk-client token is accepted in the URL')
  t.same(Object.keys(r.body.flags).sort(), ['banner', 'dark'])
  const res = await fetch(`${s.url}/api/v1/sdk/client/stream?${q(sdk.clientToken)}`, {
    signal: AbortSignal.timeout(10_000),
  })
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/event-stream/)
  await res.body?.cancel()

  for (const [name, token] of [
    ['admin', s.config.ADMIN_TOKEN as string],
    ['sdk-server', sdk.serverToken],
  ]) {
    r = await s.api('GET', `/api/v1/sdk/client/values?${q(token as string)}`, { token: null })
    t.match([r.status, r.body], [401, { code: 'QUERY_TOKEN_REFUSED' }], `an ${name} token in the URL is refused`)
  }
  r = await s.api('GET', `/api/v1/flags?access_token=${encodeURIComponent(s.config.ADMIN_TOKEN as string)}`, {
    token: null,
  })
  t.match([r.status, r.body], [401, { code: 'QUERY_TOKEN_REFUSED' }], 'on other routes, not even looked up')
  r = await s.api('GET', `/api/v1/sdk/rules?access_token=${encodeURIComponent(sdk.clientToken)}`, { token: null })
  t.match([r.status, r.body], [401, { code: 'QUERY_TOKEN_REFUSED' }], 'an sdk-client token elsewhere either')
  r = await s.api('POST', `/ofrep/v1/evaluate/flags?access_token=${encodeURIComponent(sdk.clientToken)}`, {
    token: null,
    body: { context: {} },
  })
  t.match(
    [r.status, r.body],
    [401, { code: 'QUERY_TOKEN_REFUSED', errorCode: 'GENERAL' }],
    'OFREP providers send headers: no query token',
  )
  r = await s.api('GET', `/api/v1/sdk/client/values?context=${ctx}&access_token=sy_cli_unknown`, { token: null })
  t.match([r.status, r.body], [401, { code: 'UNAUTHORIZED' }], 'an unknown token is just unauthorized')

  await until(() => log.join('').includes('/api/v1/sdk/client/stream?'), 10_000, 'the stream access line')
  const text = log.join('')
  for (const secret of [sdk.clientToken, sdk.serverToken, s.config.ADMIN_TOKEN as string])
    t.notOk(text.includes(secret), 'no token in the log')
  t.ok(text.includes('access_token=[redacted]'), 'the parameter is logged redacted')
})

t.test('429 with Retry-After, as OFREP providers expect (here: too many failed authentications)', async (t) => {
  const limited = await startServer(t, { env: { RATE_LIMIT_AUTH_FAILURES: '2' } })
  const statuses: number[] = []
  let last: Awaited<ReturnType<typeof limited.api>> | null = null
  for (let i = 0; i < 3; i++) {
    last = await limited.api('POST', '/ofrep/v1/evaluate/flags', { token: 'sy_srv_not-a-token', body: { context: {} } })
    statuses.push(last.status)
  }
  t.same(statuses, [401, 401, 429])
  t.match(last?.body, { code: 'RATE_LIMITED', errorCode: 'GENERAL' })
  t.match(last?.headers.get('retry-after'), /^\d+$/)
})
