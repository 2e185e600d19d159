import t from 'tap'
import { rawConnect } from '../helpers/raw-http.js'
import { ADMIN, startServer } from '../helpers/server.js'

const flagPath = '/api/v1/environments/production/flags/f'

async function counts(s: Awaited<ReturnType<typeof startServer>>) {
  const [audit, log, hist] = await Promise.all([
    s.redis.xlen('sy:{production}:audit'),
    s.redis.xlen('sy:{production}:log'),
    s.redis.hlen('sy:{production}:hist:f'),
  ])
  return { audit, log, hist }
}

t.test('a write: audit record, history entry and change-log event together or not at all', async (t) => {
  const s = await startServer(t)
  await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })
  await s.api('POST', '/api/v1/flags', { body: { key: 'f', kind: 'boolean' } })
  const before = await counts(s)
  let r = await s.api('POST', `${flagPath}/kill`, { body: { reason: 'incident 42' } })
  t.equal(r.status, 200)
  const after = await counts(s)
  t.same(after, { audit: before.audit + 1, log: before.log + 1, hist: before.hist + 1 }, 'one of each')
  const last = (await s.redis.xrevrange('sy:{production}:audit', '+', '-', 'COUNT', 1)) as Array<[string, string[]]>
  const rec = JSON.parse(last[0]?.[1][1] as string)
  t.match(rec, {
    actor: 'bootstrap admin',
    action: 'flag.kill',
    env: 'production',
    target: { type: 'flag', key: 'f' },
    fromVersion: 1,
    toVersion: 2,
    reason: 'incident 42',
  })
  t.type(rec.requestId, 'string')
  t.type(rec.at, 'string')

  // A rejected write leaves no trace.
  r = await s.api('PUT', flagPath, { body: { on: true, fallthrough: { variation: 0 } }, headers: { 'if-match': '1' } })
  t.equal(r.status, 412)
  t.same(await counts(s), after, 'a version conflict writes nothing')

  // A write that would fail half-way (the change-log key has the wrong type) writes nothing.
  await s.redis.del('sy:{production}:log')
  await s.redis.set('sy:{production}:log', 'corrupted')
  r = await s.api('POST', `${flagPath}/toggle`, { body: { on: true } })
  t.equal(r.status, 500, 'refused')
  t.equal(r.body.code, 'INTERNAL')
  t.equal((await s.api('GET', flagPath)).body.version, 2, 'state unchanged')
  t.equal(await s.redis.xlen('sy:{production}:audit'), after.audit, 'no audit record')
  t.equal(await s.redis.hlen('sy:{production}:hist:f'), after.hist, 'no history entry')
})

t.test('audit query: filters, since, cursor paging', async (t) => {
  const s = await startServer(t)
  await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })
  await s.api('POST', '/api/v1/environments', { body: { key: 'staging' } })
  await s.api('POST', '/api/v1/flags', { body: { key: 'f', kind: 'boolean' } })
  await s.api('POST', '/api/v1/flags', { body: { key: 'g', kind: 'boolean' } })
  for (let i = 0; i < 5; i++)
    await s.api('POST', `${flagPath}/toggle`, { body: { on: i % 2 === 0, reason: `step ${i}` } })
  await s.api('POST', '/api/v1/environments/staging/flags/g/kill', { body: {} })

  let r = await s.api('GET', '/api/v1/audit?env=production&flag=f')
  t.equal(r.status, 200)
  t.same(
    r.body.items.map((a: { reason?: string; action: string }) => a.reason ?? a.action),
    ['step 4', 'step 3', 'step 2', 'step 1', 'step 0', 'flag.create'],
    'newest first',
  )
  r = await s.api('GET', '/api/v1/audit?flag=g')
  t.ok(r.body.items.some((a: { action: string; env: string }) => a.action === 'flag.kill' && a.env === 'staging'))
  t.ok(
    r.body.items.some((a: { action: string; env: string | null }) => a.action === 'flag.create' && a.env === null),
    'global records are included',
  )
  const all: string[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    r = await s.api('GET', `/api/v1/audit?env=production&flag=f&limit=2${cursor ? `&cursor=${cursor}` : ''}`)
    t.ok(r.body.items.length <= 2)
    all.push(...r.body.items.map((a: { id: string }) => a.id))
    cursor = r.body.nextCursor
  } while (cursor && ++pages < 10)
  t.equal(all.length, 6, 'paging returns every record once')
  t.equal(new Set(all).size, 6)
  const mid = all[2] as string
  r = await s.api('GET', `/api/v1/audit?env=production&flag=f&since=${mid}`)
  t.equal(r.body.items.length, 3, 'since an id (inclusive)')
  r = await s.api('GET', `/api/v1/audit?env=production&since=2999-01-01T00:00:00Z`)
  t.same(r.body.items, [])
  for (const q of ['since=yesterday', 'limit=0', 'limit=5000', 'cursor=abc', 'env=no%20pe', 'what=1']) {
    r = await s.api('GET', `/api/v1/audit?${q}`)
    t.equal(r.status, 400, q)
    t.equal(r.body.code, 'VALIDATION_FAILED', q)
  }
  r = await s.api('GET', '/api/v1/audit?env=nope')
  t.equal(r.status, 404)
})

t.test('retention: HISTORY_MAX_VERSIONS and AUDIT_MAXLEN bound what is kept', async (t) => {
  const s = await startServer(t, { env: { HISTORY_MAX_VERSIONS: '3', AUDIT_MAXLEN: '100' } })
  await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })
  await s.api('POST', '/api/v1/flags', { body: { key: 'f', kind: 'boolean' } })
  for (let i = 0; i < 5; i++) await s.api('POST', `${flagPath}/toggle`, { body: { on: i % 2 === 0 } })
  let r = await s.api('GET', `${flagPath}/history?limit=2`)
  t.same(
    r.body.items.map((e: { version: number }) => e.version),
    [6, 5],
  )
  r = await s.api('GET', `${flagPath}/history?limit=10&cursor=${r.body.nextCursor}`)
  t.same(
    r.body.items.map((e: { version: number }) => e.version),
    [4],
    'only the last 3 versions are kept',
  )
  t.equal(r.body.nextCursor, null)
  t.equal(await s.redis.hlen('sy:{production}:hist:f'), 3)
  r = await s.api('POST', `${flagPath}/rollback`, { body: { version: 2 } })
  t.equal(r.status, 404)
  t.equal(r.body.code, 'VERSION_NOT_FOUND', 'a trimmed version cannot be restored')
  t.equal((await s.api('POST', `${flagPath}/rollback`, { body: { version: 4 } })).status, 200)

  // 400 more writes: the environment's audit stream stays near 100 records (approximate trimming).
  for (let i = 0; i < 400; i++) await s.api('POST', `${flagPath}/toggle`, { body: { on: i % 2 === 0 } })
  const len = await s.redis.xlen('sy:{production}:audit')
  t.ok(len >= 100 && len < 300, `audit stream length ${len}`)
  r = await s.api('GET', '/api/v1/audit?env=production&limit=1')
  t.equal(r.body.items[0].action, 'flag.off', 'the newest records are the ones kept')
})

t.test(
  'GET /api/v1/audit: ETag of the answer; an unchanged poll is 304 with no body, a change is a new 200',
  async (t) => {
    const s = await startServer(t)
    await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })
    await s.api('POST', '/api/v1/flags', { body: { key: 'f', kind: 'boolean' } })
    for (const q of ['/api/v1/audit?limit=1', '/api/v1/audit?env=production&limit=1']) {
      let r = await s.api('GET', q)
      t.equal(r.status, 200)
      const etag = r.headers.get('etag') ?? ''
      t.match(etag, /^"[A-Za-z0-9_-]{32}"$/, `${q}: an ETag`)
      r = await s.api('GET', q)
      t.equal(r.headers.get('etag'), etag, 'the same answer, the same ETag')

      // The exact bytes: a 304 head, no body, no Content-Length.
      const c = await rawConnect(t, s.url)
      await c.write(`GET ${q} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN}\r\nIf-None-Match: ${etag}\r\n\r\n`)
      const [raw] = await c.waitResponses(1)
      t.equal(raw?.status, 304, 'unchanged: 304')
      t.equal(raw?.body.length, 0, 'no body')
      t.notOk(raw && 'content-length' in raw.headers, 'no Content-Length')
      t.equal(raw?.headers.etag, etag, 'the ETag again')

      t.equal((await s.api('POST', `${flagPath}/toggle`, { body: { on: true } })).status, 200)
      r = await s.api('GET', q, { headers: { 'if-none-match': etag } })
      t.equal(r.status, 200, 'after a change: 200')
      t.not(r.headers.get('etag'), etag, 'with a new ETag')
      t.equal(r.body.items[0].action, 'flag.on')
      t.equal(
        (await s.api('GET', q, { headers: { 'if-none-match': `W/${r.headers.get('etag')}` } })).status,
        304,
        'a weak comparison matches too',
      )
      t.equal((await s.api('POST', `${flagPath}/toggle`, { body: { on: false } })).status, 200)
    }
    // Errors are never conditional.
    const r = await s.api('GET', '/api/v1/audit?env=nowhere', { headers: { 'if-none-match': '*' } })
    t.equal(r.status, 404)
  },
)
