import t from 'tap'
import { startRedis, startServer } from '../helpers/server.js'

t.test('health, readiness, metrics, docs, unknown routes', async (t) => {
  const s = await startServer(t)
  let r = await s.api('GET', '/healthz', { token: null })
  t.same([r.status, r.body], [200, { status: 'ok' }])
  r = await s.api('GET', '/readyz', { token: null })
  t.same([r.status, r.body], [200, { status: 'ready' }])
  await s.api('GET', '/api/v1/flags')
  r = await s.api('GET', '/metrics', { token: null })
  t.equal(r.status, 200)
  t.match(
    r.text,
    /switchyard_http_request_duration_seconds_bucket\{[^}]*route="\/api\/v1\/flags"/,
    'duration by route template',
  )
  t.match(r.text, /switchyard_process_cpu_seconds_total/, 'default process metrics')
  r = await s.api('GET', '/docs', { token: null })
  t.equal(r.status, 200)
  t.match(r.text, /swagger/i)
  r = await s.api('GET', '/api/v1/nothing-here')
  t.equal(r.status, 404)
  t.equal(r.body.code, 'NOT_FOUND')
})

t.test('OpenAPI is complete: every route has an operationId, tags and its responses', async (t) => {
  const s = await startServer(t)
  const r = await s.api('GET', '/openapi.json', { token: null })
  t.equal(r.status, 200)
  const doc = r.body as {
    paths: Record<
      string,
      Record<string, { operationId?: string; tags?: string[]; responses?: Record<string, unknown> }>
    >
  }
  const expected = [
    'get /api/v1/environments',
    'post /api/v1/environments',
    'get /api/v1/environments/{env}',
    'delete /api/v1/environments/{env}',
    'get /api/v1/flags',
    'post /api/v1/flags',
    'get /api/v1/flags/{key}',
    'patch /api/v1/flags/{key}',
    'delete /api/v1/flags/{key}',
    'get /api/v1/environments/{env}/flags/{key}',
    'put /api/v1/environments/{env}/flags/{key}',
    'post /api/v1/environments/{env}/flags/{key}/kill',
    'post /api/v1/environments/{env}/flags/{key}/toggle',
    'get /api/v1/environments/{env}/flags/{key}/history',
    'post /api/v1/environments/{env}/flags/{key}/rollback',
    'get /api/v1/environments/{env}/segments',
    'post /api/v1/environments/{env}/segments',
    'get /api/v1/environments/{env}/segments/{key}',
    'put /api/v1/environments/{env}/segments/{key}',
    'delete /api/v1/environments/{env}/segments/{key}',
    'post /api/v1/environments/{env}/segments/{key}/members',
    'get /api/v1/environments/{env}/segments/{key}/members',
    'get /api/v1/environments/{env}/segments/{key}/members/{id}',
    'get /api/v1/audit',
    'get /api/v1/tokens',
    'post /api/v1/tokens',
    'delete /api/v1/tokens/{id}',
    'get /healthz',
    'get /readyz',
    'get /metrics',
  ]
  const have = new Set<string>()
  for (const [p, ops] of Object.entries(doc.paths)) for (const m of Object.keys(ops)) have.add(`${m} ${p}`)
  for (const e of expected) t.ok(have.has(e), e)
  const ids = new Set<string>()
  for (const [p, ops] of Object.entries(doc.paths)) {
    for (const [m, op] of Object.entries(ops)) {
      t.type(op.operationId, 'string', `${m} ${p} operationId`)
      t.notOk(ids.has(op.operationId as string), `${op.operationId} unique`)
      ids.add(op.operationId as string)
      t.ok(op.tags && op.tags.length > 0, `${m} ${p} tags`)
      t.ok(
        op.responses && Object.keys(op.responses).some((c) => c.startsWith('2')),
        `${m} ${p} documents its success response`,
      )
      if (p.startsWith('/api/v1/') && !p.startsWith('/api/v1/sdk/')) {
        t.ok(op.responses && '401' in op.responses, `${m} ${p} documents 401`)
      }
    }
  }
})

t.test('Redis down: 503 STORE_UNAVAILABLE, readyz fails; back up: served again', async (t) => {
  // With AOF, so the restarted Redis has its data (without, it comes back empty: STORE_RESET, see test/faults/store-reset.test.ts).
  const s = await startServer(t, { redisServer: await startRedis(t, { appendOnly: true }) })
  t.equal((await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })).status, 201)
  await s.redisServer.kill()
  let r = await s.api('GET', '/api/v1/environments')
  t.equal(r.status, 503)
  t.equal(r.body.code, 'STORE_UNAVAILABLE')
  r = await s.api('GET', '/readyz', { token: null })
  t.equal(r.status, 503)
  t.equal((await s.api('GET', '/healthz', { token: null })).status, 200, 'liveness does not depend on Redis')
  await s.redisServer.start()
  const ready = new Promise<void>((res) => (s.redis.status === 'ready' ? res() : s.redis.once('ready', () => res())))
  await ready
  r = await s.api('GET', '/readyz', { token: null })
  t.equal(r.status, 200)
})
