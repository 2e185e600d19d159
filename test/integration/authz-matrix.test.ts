/**
 * The authorization matrix: every REST route of the OpenAPI document × every
 * kind of caller, with the expected outcome (allowed, 401 or 403). A route
 * without an expectation fails the test, so a new route cannot be forgotten.
 * "Allowed" means the request got past authorization: any status but 401/403
 * (and never a 5xx); targets of destructive calls do not exist, so allowed
 * callers get 404/409/412/428 and one server serves every case.
 */
import t from 'tap'
import { createFlag, encodeContext } from '../helpers/sdk-fixtures.js'
import { startServer, type TestServer } from '../helpers/server.js'

const CALLERS = [
  'no token',
  'bad token',
  'revoked',
  'admin',
  'editor *',
  'editor staging',
  'editor production',
  'viewer *',
  'viewer staging',
  'sdk-server production',
  'sdk-client production',
  'alerts production',
  'facts production',
] as const
type Caller = (typeof CALLERS)[number]
const UNAUTHENTICATED: readonly Caller[] = ['no token', 'bad token', 'revoked']

/** Who may call a route (every other authenticated caller gets 403). Targets live in `production`. */
const MAY = {
  readAny: ['admin', 'editor *', 'editor staging', 'editor production', 'viewer *', 'viewer staging'],
  readEverything: ['admin', 'editor *', 'viewer *'],
  readProduction: ['admin', 'editor *', 'editor production', 'viewer *'],
  writeAny: ['admin', 'editor *', 'editor staging', 'editor production'],
  writeProduction: ['admin', 'editor *', 'editor production'],
  everyEnvironment: ['admin', 'editor *'],
  admin: ['admin'],
  evaluateProduction: ['admin', 'editor *', 'editor production', 'viewer *', 'sdk-server production'],
  sdkServer: ['sdk-server production'],
  sdkClient: ['sdk-client production'],
  sdkAny: ['sdk-server production', 'sdk-client production'],
  alerts: ['alerts production'],
  factsReadProduction: ['admin', 'editor *', 'editor production', 'viewer *', 'facts production'],
  factsWriteProduction: ['admin', 'editor *', 'editor production', 'facts production'],
} as const satisfies Record<string, readonly Caller[]>

interface Case {
  /** `METHOD /openapi/{path}` */
  route: string
  path: string
  body?: unknown
  headers?: Record<string, string>
  may: readonly Caller[]
  why?: string
}

const P = '/api/v1/environments/production'
const ctx = encodeContext({ key: 'u1' })
const CASES: Case[] = [
  { route: 'GET /api/v1/environments', path: '/api/v1/environments', may: MAY.readAny },
  { route: 'POST /api/v1/environments', path: '/api/v1/environments', body: { key: 'production' }, may: MAY.admin },
  { route: 'GET /api/v1/environments/{env}', path: P, may: MAY.readProduction },
  {
    route: 'PATCH /api/v1/environments/{env}',
    path: '/api/v1/environments/nowhere',
    body: { name: 'x' },
    may: MAY.admin,
  },
  { route: 'DELETE /api/v1/environments/{env}', path: '/api/v1/environments/nowhere', may: MAY.admin },
  {
    route: 'POST /api/v1/environments/{env}/signing-secret/rotate',
    path: '/api/v1/environments/nowhere/signing-secret/rotate',
    body: { graceSeconds: 0 },
    may: MAY.admin,
  },
  {
    route: 'POST /api/v1/store/initialise',
    path: '/api/v1/store/initialise',
    may: MAY.admin,
    why: 'accepts the store as it is; harmless when the marker is present',
  },
  { route: 'GET /api/v1/flags', path: '/api/v1/flags', may: MAY.readAny },
  {
    route: 'POST /api/v1/flags',
    path: '/api/v1/flags',
    body: { key: 'f', kind: 'boolean' },
    may: MAY.everyEnvironment,
    why: 'a new flag is served (off) in every environment',
  },
  { route: 'GET /api/v1/flags/{key}', path: '/api/v1/flags/f', may: MAY.readAny },
  {
    route: 'PATCH /api/v1/flags/{key}',
    path: '/api/v1/flags/nowhere',
    body: { description: 'metadata only' },
    may: MAY.writeAny,
    why: 'metadata serves nothing',
  },
  {
    route: 'PATCH /api/v1/flags/{key}',
    path: '/api/v1/flags/nowhere',
    body: { variations: [true, false] },
    may: MAY.everyEnvironment,
    why: 'variations are served everywhere',
  },
  {
    route: 'PATCH /api/v1/flags/{key}',
    path: '/api/v1/flags/nowhere',
    body: { clientSide: true },
    may: MAY.everyEnvironment,
    why: 'clientSide exposes the flag to every browser',
  },
  {
    route: 'PATCH /api/v1/flags/{key}',
    path: '/api/v1/flags/nowhere',
    body: { alertPolicy: 'ignore' },
    may: MAY.everyEnvironment,
    why: 'what an alert does applies in every environment',
  },
  { route: 'DELETE /api/v1/flags/{key}', path: '/api/v1/flags/nowhere', may: MAY.everyEnvironment },
  { route: 'GET /api/v1/environments/{env}/flags', path: `${P}/flags`, may: MAY.readProduction },
  { route: 'GET /api/v1/environments/{env}/flags/{key}', path: `${P}/flags/f`, may: MAY.readProduction },
  {
    route: 'PUT /api/v1/environments/{env}/flags/{key}',
    path: `${P}/flags/f`,
    body: { on: true, fallthrough: { variation: 0 } },
    may: MAY.writeProduction,
    why: 'no If-Match: 428 once authorized',
  },
  {
    route: 'POST /api/v1/environments/{env}/flags/{key}/kill',
    path: `${P}/flags/nowhere/kill`,
    body: {},
    may: MAY.writeProduction,
  },
  {
    route: 'POST /api/v1/environments/{env}/flags/{key}/toggle',
    path: `${P}/flags/nowhere/toggle`,
    body: { on: true },
    may: MAY.writeProduction,
  },
  {
    route: 'GET /api/v1/environments/{env}/flags/{key}/history',
    path: `${P}/flags/f/history`,
    may: MAY.readProduction,
  },
  {
    route: 'POST /api/v1/environments/{env}/flags/{key}/rollback',
    path: `${P}/flags/nowhere/rollback`,
    body: { version: 1 },
    may: MAY.writeProduction,
  },
  { route: 'GET /api/v1/environments/{env}/segments', path: `${P}/segments`, may: MAY.readProduction },
  {
    route: 'POST /api/v1/environments/{env}/segments',
    path: `${P}/segments`,
    body: { key: 's' },
    may: MAY.writeProduction,
  },
  { route: 'GET /api/v1/environments/{env}/segments/{key}', path: `${P}/segments/s`, may: MAY.readProduction },
  {
    route: 'PUT /api/v1/environments/{env}/segments/{key}',
    path: `${P}/segments/s`,
    body: { included: ['u1'] },
    headers: { 'if-match': '"999"' },
    may: MAY.writeProduction,
    why: 'stale If-Match: 412 once authorized',
  },
  {
    route: 'DELETE /api/v1/environments/{env}/segments/{key}',
    path: `${P}/segments/nowhere`,
    may: MAY.writeProduction,
  },
  {
    route: 'POST /api/v1/environments/{env}/segments/{key}/members',
    path: `${P}/segments/nowhere/members`,
    body: { add: ['u1'] },
    may: MAY.writeProduction,
  },
  {
    route: 'GET /api/v1/environments/{env}/segments/{key}/members',
    path: `${P}/segments/s/members`,
    may: MAY.readProduction,
  },
  {
    route: 'GET /api/v1/environments/{env}/segments/{key}/members/{id}',
    path: `${P}/segments/s/members/u1`,
    may: MAY.readProduction,
  },
  { route: 'GET /api/v1/audit', path: '/api/v1/audit', may: MAY.readEverything, why: 'without env: every environment' },
  { route: 'GET /api/v1/audit', path: '/api/v1/audit?env=production', may: MAY.readProduction },
  { route: 'GET /api/v1/tokens', path: '/api/v1/tokens', may: MAY.admin },
  {
    route: 'POST /api/v1/tokens',
    path: '/api/v1/tokens',
    body: { name: 'x', kind: 'viewer', environments: ['nowhere'] },
    may: MAY.admin,
  },
  { route: 'GET /api/v1/tokens/{id}', path: '/api/v1/tokens/nowhere', may: MAY.admin },
  { route: 'DELETE /api/v1/tokens/{id}', path: '/api/v1/tokens/nowhere', may: MAY.admin },
  { route: 'GET /api/v1/sdk/stream', path: '/api/v1/sdk/stream', may: MAY.sdkServer },
  { route: 'GET /api/v1/sdk/rules', path: '/api/v1/sdk/rules', may: MAY.sdkServer },
  { route: 'GET /api/v1/sdk/client/stream', path: `/api/v1/sdk/client/stream?context=${ctx}`, may: MAY.sdkClient },
  { route: 'GET /api/v1/sdk/client/values', path: `/api/v1/sdk/client/values?context=${ctx}`, may: MAY.sdkClient },
  {
    route: 'POST /api/v1/sdk/metrics',
    path: '/api/v1/sdk/metrics',
    body: { sdkId: 'matrix', mode: 'server', appliedId: null },
    may: MAY.sdkAny,
  },
  { route: 'GET /api/v1/environments/{env}/sdk-status', path: `${P}/sdk-status`, may: MAY.readProduction },
  {
    route: 'POST /api/v1/environments/{env}/evaluate',
    path: `${P}/evaluate`,
    body: { context: { key: 'u1' } },
    may: MAY.evaluateProduction,
  },
  { route: 'GET /api/v1/environments/{env}/facts', path: `${P}/facts`, may: MAY.factsReadProduction },
  {
    route: 'POST /api/v1/environments/{env}/facts',
    path: `${P}/facts`,
    body: { set: { 'matrix.fact': 1 } },
    may: MAY.factsWriteProduction,
    why: 'a facts token records facts and nothing else',
  },
  { route: 'GET /api/v1/environments/{env}/facts/history', path: `${P}/facts/history`, may: MAY.factsReadProduction },
  { route: 'GET /api/v1/environments/{env}/applications', path: `${P}/applications`, may: MAY.readProduction },
  {
    route: 'GET /api/v1/environments/{env}/diff/{other}',
    path: `${P}/diff/staging`,
    may: MAY.readEverything,
    why: 'read access to both environments',
  },
  {
    route: 'POST /api/v1/environments/{env}/flags/{key}/promote',
    path: `${P}/flags/f/promote`,
    body: { from: 'staging' },
    may: MAY.writeProduction.filter((c) => c !== 'editor production'),
    why: 'write here, read in the source; no If-Match: 428 once authorized',
  },
  {
    route: 'POST /ofrep/v1/evaluate/flags/{key}',
    path: '/ofrep/v1/evaluate/flags/f',
    body: { context: { targetingKey: 'u1' } },
    may: MAY.sdkAny,
    why: 'OFREP: SDK tokens of one environment',
  },
  {
    route: 'POST /ofrep/v1/evaluate/flags',
    path: '/ofrep/v1/evaluate/flags',
    body: { context: { targetingKey: 'u1' } },
    may: MAY.sdkAny,
  },
  {
    route: 'GET /api/v1/whoami',
    path: '/api/v1/whoami',
    may: CALLERS.filter((c) => !UNAUTHENTICATED.includes(c)),
    why: 'every token may ask what it may do',
  },
  { route: 'GET /api/v1/environments/{env}/plans', path: `${P}/plans`, may: MAY.readProduction },
  {
    route: 'POST /api/v1/environments/{env}/plans',
    path: `${P}/plans`,
    body: { flag: 'nowhere', steps: [{ serve: { variation: 0 } }] },
    may: MAY.writeProduction,
  },
  { route: 'GET /api/v1/environments/{env}/plans/{id}', path: `${P}/plans/pl_0`, may: MAY.readProduction },
  ...['start', 'pause', 'resume', 'approve', 'abort'].map(
    (a): Case => ({
      route: `POST /api/v1/environments/{env}/plans/{id}/${a}`,
      path: `${P}/plans/pl_0/${a}`,
      body: {},
      may: MAY.writeProduction,
    }),
  ),
  {
    route: 'POST /api/v1/alerts',
    path: '/api/v1/alerts',
    body: { version: '4', alerts: [] },
    may: MAY.alerts,
    why: "Alertmanager's token may do this and nothing else",
  },
]

/** Creates one token per caller (the revoked one is deleted again). */
async function tokens(s: TestServer): Promise<Record<Caller, string | null>> {
  const make = async (name: string, kind: string, environments: string[]) => {
    const r = await s.api('POST', '/api/v1/tokens', { body: { name, kind, environments } })
    if (r.status !== 201) throw new Error(`token ${name}: ${r.status} ${r.text}`)
    return { secret: r.body.secret as string, id: r.body.token.id as string }
  }
  const revoked = await make('revoked', 'editor', ['*'])
  if ((await s.api('DELETE', `/api/v1/tokens/${revoked.id}`)).status !== 204) throw new Error('revoke')
  return {
    'no token': null,
    'bad token': 'sy_edt_not-a-token-0123456789',
    revoked: revoked.secret,
    admin: s.config.ADMIN_TOKEN as string,
    'editor *': (await make('editor *', 'editor', ['*'])).secret,
    'editor staging': (await make('editor staging', 'editor', ['staging'])).secret,
    'editor production': (await make('editor production', 'editor', ['production'])).secret,
    'viewer *': (await make('viewer *', 'viewer', ['*'])).secret,
    'viewer staging': (await make('viewer staging', 'viewer', ['staging'])).secret,
    'sdk-server production': (await make('sdk-server production', 'sdk-server', ['production'])).secret,
    'sdk-client production': (await make('sdk-client production', 'sdk-client', ['production'])).secret,
    'alerts production': (await make('alerts production', 'alerts', ['production'])).secret,
    'facts production': (await make('facts production', 'facts', ['production'])).secret,
  }
}

/** Status and code of one request; streams are cancelled once their headers arrive. */
async function call(s: TestServer, c: Case, token: string | null): Promise<{ status: number; code?: string }> {
  const method = c.route.split(' ')[0] as string
  const headers: Record<string, string> = { ...c.headers }
  if (token) headers.authorization = `Bearer ${token}`
  if (c.body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(s.url + c.path, {
    method,
    headers,
    signal: AbortSignal.timeout(30_000),
    ...(c.body !== undefined && { body: JSON.stringify(c.body) }),
  })
  if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
    await res.body?.cancel()
    return { status: res.status }
  }
  const text = await res.text()
  let code: string | undefined
  try {
    code = (JSON.parse(text) as { code?: string } | null)?.code
  } catch {
    // not JSON (e.g. 204)
  }
  return { status: res.status, ...(code !== undefined && { code }) }
}

/** Runs `fn` over `items` with at most `n` at once. */
async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++] as T)
    }),
  )
}

t.test('every REST route × every caller: allowed, 401 or 403 as the matrix says', async (t) => {
  const s = await startServer(t, { env: { RATE_LIMIT_AUTH_FAILURES: '0' } }) // ~130 failed authentications from one address: the limit is tested in rate-limit.test.ts
  for (const env of ['production', 'staging']) {
    const r = await s.api('POST', '/api/v1/environments', { body: { key: env } })
    t.equal(r.status, 201, `create ${env}`)
  }
  await createFlag(s, 'f')
  t.equal((await s.api('POST', `${P}/segments`, { body: { key: 's', included: ['u1'] } })).status, 201)
  const secrets = await tokens(s)

  // Every route in the OpenAPI document has an expectation, and every expectation names a real route.
  const doc = (await s.api('GET', '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> }
  const routes = Object.entries(doc.paths)
    .filter(([path]) => path.startsWith('/api/') || path.startsWith('/ofrep/'))
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
  const covered = new Set(CASES.map((c) => c.route))
  t.same(
    routes.filter((r) => !covered.has(r)),
    [],
    'every /api and /ofrep route has an expectation (add the new route to CASES)',
  )
  t.same(
    [...covered].filter((r) => !routes.includes(r)),
    [],
    'every expectation is a route that exists',
  )
  t.ok(routes.length >= 37, `${routes.length} routes`)

  const wrong: string[] = []
  const checks = CASES.flatMap((c) => CALLERS.map((caller) => ({ c, caller })))
  await pool(checks, 6, async ({ c, caller }) => {
    const got = await call(s, c, secrets[caller])
    const label = `${c.route}${c.why ? ` (${c.why})` : ''} as ${caller}: ${got.status} ${got.code ?? ''}`
    if (UNAUTHENTICATED.includes(caller)) {
      if (got.status !== 401 || got.code !== 'UNAUTHORIZED') wrong.push(`${label}, want 401 UNAUTHORIZED`)
    } else if (c.may.includes(caller)) {
      if (got.status === 401 || got.status === 403 || got.status >= 500) wrong.push(`${label}, want allowed`)
    } else if (got.status !== 403 || got.code !== 'FORBIDDEN') wrong.push(`${label}, want 403 FORBIDDEN`)
  })
  t.same(wrong, [], `${checks.length} requests (${CASES.length} cases × ${CALLERS.length} callers) as expected`)
})

t.test('an editor scoped to staging cannot change what production serves', async (t) => {
  const s = await startServer(t)
  for (const env of ['production', 'staging']) await s.api('POST', '/api/v1/environments', { body: { key: env } })
  await createFlag(s, 'checkout', { kind: 'string', variations: ['old', 'new'] })
  const mk = async (environments: string[]) =>
    (
      await s.api('POST', '/api/v1/tokens', {
        body: { name: `editor ${environments.join()}`, kind: 'editor', environments },
      })
    ).body.secret as string
  const staging = await mk(['staging'])
  const everywhere = await mk(['*'])
  const before = (await s.api('GET', `${P}/flags/checkout`)).body

  for (const body of [
    { variations: ['old', 'evil'] },
    { clientSide: true },
    { variations: ['old', 'evil'], name: 'x' },
  ]) {
    const r = await s.api('PATCH', '/api/v1/flags/checkout', { token: staging, body })
    t.equal(r.status, 403, JSON.stringify(body))
    t.equal(r.body.code, 'FORBIDDEN')
    t.match(r.body.message, /every environment.*admin token or an editor token scoped to "\*"/, 'the message says why')
  }
  let r = await s.api('DELETE', '/api/v1/flags/checkout', { token: staging })
  t.equal(r.status, 403, 'nor delete it')
  r = await s.api('POST', '/api/v1/flags', {
    token: staging,
    body: { key: 'other', kind: 'boolean', clientSide: true },
  })
  t.equal(r.status, 403, 'nor create a flag (it is served, off, in production too)')
  const after = (await s.api('GET', `${P}/flags/checkout`)).body
  t.same(after, before, 'production is untouched')

  r = await s.api('PATCH', '/api/v1/flags/checkout', {
    token: staging,
    body: { description: 'checkout flow', tags: ['web'], owner: 'team-a' },
  })
  t.equal(r.status, 200, 'metadata may be edited by any editor')
  t.equal(
    (await s.api('GET', `${P}/flags/checkout`)).body.version,
    before.version,
    'metadata does not touch configurations',
  )

  r = await s.api('PATCH', '/api/v1/flags/checkout', {
    token: everywhere,
    body: { variations: ['old', 'newer'], clientSide: true },
  })
  t.equal(r.status, 200, 'an editor scoped to "*" may')
  const prod = (await s.api('GET', `${P}/flags/checkout`)).body
  t.same([prod.variations, prod.clientSide], [['old', 'newer'], true])
  t.equal((await s.api('DELETE', '/api/v1/flags/checkout', { token: everywhere })).status, 204, 'and delete it')
})
