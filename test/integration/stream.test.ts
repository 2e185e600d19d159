import { connect } from 'node:net'
import t from 'tap'
import { appendCommand } from '../../src/store/changelog.js'
import { createFlag, createSdkEnv, metricValue, putConfig, toggle } from '../helpers/sdk-fixtures.js'
import { startRedis, startServer } from '../helpers/server.js'
import { openSse, type SseEvent } from '../helpers/sse-reader.js'
import { until } from '../helpers/wait.js'

const STREAM = '/api/v1/sdk/stream'
const isChange = (e: SseEvent) => e.type !== 'put'

function cmpId(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint]
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint]
  return am === bm ? (as === bs ? 0 : as < bs ? -1 : 1) : am < bm ? -1 : 1
}

t.test('put on connect, headers, retry hint, heartbeats', async (t) => {
  const s = await startServer(t, { env: { STREAM_HEARTBEAT_MS: '100', STREAM_RETRY_MS: '1234' } })
  const e = await createSdkEnv(s)
  await createFlag(s, 'new-checkout', { clientSide: true })
  const c = await openSse(t, s.url + STREAM, { token: e.serverToken })
  t.equal(c.status, 200)
  t.match(c.headers.get('content-type'), /^text\/event-stream/)
  t.equal(c.headers.get('cache-control'), 'no-cache')
  t.equal(c.headers.get('x-accel-buffering'), 'no')
  t.equal(c.headers.get('content-encoding'), null, 'no compression')
  const put = await c.next()
  t.equal(put.type, 'put')
  t.match(put.id, /^\d+-\d+$/)
  const rs = JSON.parse(put.data)
  t.equal(rs.specVersion, 1)
  t.equal(rs.environment, 'production')
  t.same(Object.keys(rs.flags), ['new-checkout'])
  t.equal(rs.flags['new-checkout'].key, 'new-checkout')
  t.same(rs.segments, {})
  t.equal(c.retry, 1234)
  t.ok(c.raw().startsWith('retry: 1234\n\n'), 'retry line first')
  await until(() => c.comments.includes(' ping'), 3000, 'a heartbeat comment')
  t.ok(c.raw().includes('\n: ping\n\n') || c.raw().includes(': ping\n\n'))
})

t.test('REST writes arrive as patch / delete / segment-delta with increasing ids', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s)
  await createFlag(s, 'a')
  const c = await openSse(t, s.url + STREAM, { token: e.serverToken })
  const put = await c.next()
  t.equal(put.type, 'put')

  await toggle(s, 'production', 'a', true)
  const p1 = await c.next(isChange)
  t.equal(p1.type, 'patch')
  const d1 = JSON.parse(p1.data)
  t.equal(d1.kind, 'flag')
  t.equal(d1.flag.key, 'a')
  t.equal(d1.flag.on, true)
  t.ok(cmpId(p1.id, put.id) > 0, 'patch id after put id')

  let r = await s.api('POST', '/api/v1/environments/production/segments', {
    body: { key: 'beta', included: ['u1', 'u2'] },
  })
  t.equal(r.status, 201, r.text)
  const p2 = await c.next(isChange)
  t.equal(p2.type, 'patch')
  const d2 = JSON.parse(p2.data)
  t.equal(d2.kind, 'segment')
  t.equal(d2.segment.key, 'beta')
  t.same(d2.segment.included, ['u1', 'u2'])
  t.notOk('createdAt' in d2.segment)
  t.ok(cmpId(p2.id, p1.id) > 0)

  r = await s.api('PUT', '/api/v1/environments/production/segments/beta', { body: { name: 'Beta testers' } })
  t.equal(r.status, 200, r.text)
  const p3 = await c.next(isChange)
  const d3 = JSON.parse(p3.data)
  t.equal(d3.segment.name, 'Beta testers')
  t.notOk('included' in d3.segment, 'members omitted when unchanged')

  r = await s.api('POST', '/api/v1/environments/production/segments/beta/members', {
    body: { add: ['u3'], remove: ['u1'] },
  })
  t.equal(r.status, 200, r.text)
  const p4 = await c.next(isChange)
  t.equal(p4.type, 'segment-delta')
  t.same(JSON.parse(p4.data), { key: 'beta', list: 'included', add: ['u3'], remove: ['u1'], version: 3 })

  r = await s.api('DELETE', '/api/v1/environments/production/segments/beta')
  t.equal(r.status, 204, r.text)
  const p5 = await c.next(isChange)
  t.equal(p5.type, 'delete')
  t.same(JSON.parse(p5.data), { kind: 'segment', key: 'beta' })

  r = await s.api('DELETE', '/api/v1/flags/a')
  t.equal(r.status, 204, r.text)
  const p6 = await c.next(isChange)
  t.equal(p6.type, 'delete')
  t.same(JSON.parse(p6.data), { kind: 'flag', key: 'a' })
  const ids = [put, p1, p2, p3, p4, p5, p6].map((x) => x.id)
  for (let i = 1; i < ids.length; i++) t.ok(cmpId(ids[i]!, ids[i - 1]!) > 0, `id ${i} increases`)
})

t.test('Last-Event-ID replays exactly the missed changes, in order', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s)
  await createFlag(s, 'a')
  await createFlag(s, 'b')
  const c1 = await openSse(t, s.url + STREAM, { token: e.serverToken })
  const put = await c1.next()
  await toggle(s, 'production', 'a', true)
  const seen = await c1.next(isChange)
  c1.close()
  await c1.ended

  await toggle(s, 'production', 'b', true)
  await toggle(s, 'production', 'a', false)
  await putConfig(s, 'production', 'b', { targets: [{ variation: 0, values: ['x'] }] })
  t.equal(((await s.redis.xrange('sy:{production}:log', `(${seen.id}`, '+')) as unknown[]).length, 3)

  for (const how of ['header', 'query'] as const) {
    const url = s.url + STREAM + (how === 'query' ? `?lastEventId=${encodeURIComponent(seen.id)}` : '')
    const c2 = await openSse(t, url, {
      token: e.serverToken,
      headers: how === 'header' ? { 'last-event-id': seen.id } : {},
    })
    const missed = (await s.redis.xrange('sy:{production}:log', `(${seen.id}`, '+')) as Array<[string, string[]]>
    const got = []
    for (let i = 0; i < missed.length; i++) got.push(await c2.next())
    t.same(
      got.map((x) => x.id),
      missed.map((x) => x[0]),
      `${how}: the missed ids, in order`,
    )
    t.same(
      got.slice(0, 3).map((x) => JSON.parse(x.data).flag.key),
      ['b', 'a', 'b'],
    )
    // Then live: nothing replayed twice.
    await toggle(s, 'production', 'a', how === 'header')
    const live = await c2.next()
    t.ok(cmpId(live.id, missed[missed.length - 1]![0]) > 0, `${how}: next event is the new live one`)
    t.equal(c2.events.filter((x) => x.type === 'put').length, 0, `${how}: no put on resume`)
    c2.close()
  }

  // Resuming from the latest id replays nothing and does not send a put.
  const last = (await s.redis.xrevrange('sy:{production}:log', '+', '-', 'COUNT', 1)) as Array<[string, string[]]>
  const c3 = await openSse(t, s.url + STREAM, { token: e.serverToken, headers: { 'last-event-id': last[0]![0] } })
  await toggle(s, 'production', 'b', false)
  const n = await c3.next()
  t.equal(n.type, 'patch', 'first event is the live change, not a put')
  t.ok(put.id)
})

t.test('unknown, malformed or trimmed Last-Event-ID gets a fresh put', async (t) => {
  const s = await startServer(t, { env: { CHANGELOG_MAXLEN: '100' } })
  const e = await createSdkEnv(s)
  await createFlag(s, 'a')
  const c1 = await openSse(t, s.url + STREAM, { token: e.serverToken })
  const put = await c1.next()
  c1.close()

  for (const bad of ['garbage', '99999999999999-0', '1-1']) {
    const c = await openSse(t, s.url + STREAM, { token: e.serverToken, headers: { 'last-event-id': bad } })
    const ev = await c.next()
    t.equal(ev.type, 'put', `"${bad}" → put`)
    t.equal(ev.id, put.id)
    c.close()
  }

  // 300 writes with MAXLEN ~100: the entries after put.id are trimmed away.
  for (let i = 0; i < 150; i++) {
    await toggle(s, 'production', 'a', true)
    await toggle(s, 'production', 'a', false)
  }
  const first = (await s.redis.xrange('sy:{production}:log', '-', '+', 'COUNT', 1)) as Array<[string, string[]]>
  t.ok(cmpId(first[0]![0], put.id) > 0, 'the old id was trimmed from the log')
  const c2 = await openSse(t, s.url + STREAM, { token: e.serverToken, headers: { 'last-event-id': put.id } })
  const ev = await c2.next()
  t.equal(ev.type, 'put', 'trimmed → fresh put')
  const last = (await s.redis.xrevrange('sy:{production}:log', '+', '-', 'COUNT', 1)) as Array<[string, string[]]>
  t.equal(ev.id, last[0]![0], 'the put carries the latest id')
  t.equal(JSON.parse(ev.data).flags.a.version, 301)
})

t.test('a write through instance A reaches a stream of instance B', async (t) => {
  const redisServer = await startRedis(t)
  const a = await startServer(t, { redisServer })
  const b = await startServer(t, { redisServer })
  const e = await createSdkEnv(a)
  await createFlag(a, 'x')
  const c = await openSse(t, b.url + STREAM, { token: e.serverToken })
  await c.next()
  await toggle(a, 'production', 'x', true)
  const p = await c.next()
  t.equal(p.type, 'patch')
  t.equal(JSON.parse(p.data).flag.on, true)
})

t.test('a member delta of one id on a large segment sends just that id', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s)
  const ids = Array.from({ length: 100_000 }, (_, i) => `user-${i}`)
  let r = await s.api('POST', '/api/v1/environments/production/segments', { body: { key: 'big', included: ids } })
  t.equal(r.status, 201, r.text)
  const c = await openSse(t, s.url + STREAM, { token: e.serverToken, timeoutMs: 20_000 })
  const put = await c.next()
  t.equal(JSON.parse(put.data).segments.big.included.length, 100_000, 'the put has the members')
  const before = c.raw().length
  r = await s.api('POST', '/api/v1/environments/production/segments/big/members', { body: { add: ['user-new'] } })
  t.equal(r.status, 200, r.text)
  const d = await c.next()
  t.equal(d.type, 'segment-delta')
  t.same(JSON.parse(d.data), { key: 'big', list: 'included', add: ['user-new'], remove: [], version: 2 })
  t.ok(c.raw().length - before < 200, `the delta is small (${c.raw().length - before} bytes)`)
})

t.test('consistent under concurrent connects and writes: no change missed or repeated', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s)
  await createFlag(s, 'counter')
  const writes = (async () => {
    for (let i = 0; i < 40; i++) await toggle(s, 'production', 'counter', i % 2 === 0)
  })()
  const conns = []
  for (let i = 0; i < 12; i++) {
    conns.push(await openSse(t, s.url + STREAM, { token: e.serverToken }))
    await new Promise((r) => setImmediate(r))
  }
  await writes
  const final = (await s.api('GET', '/api/v1/environments/production/flags/counter')).body.version
  t.equal(final, 41)
  const log = ((await s.redis.xrange('sy:{production}:log', '-', '+')) as Array<[string, string[]]>).map((x) => x[0])
  for (const [i, c] of conns.entries()) {
    const put = await c.next()
    t.equal(put.type, 'put')
    let version = JSON.parse(put.data).flags.counter.version
    const ids: string[] = []
    while (version < final) {
      const p = await c.next()
      t.equal(p.type, 'patch')
      const v = JSON.parse(p.data).flag.version
      t.equal(v, version + 1, `stream ${i}: version ${v} follows ${version}`)
      version = v
      ids.push(p.id)
    }
    const expected = log.filter((id) => cmpId(id, put.id) > 0)
    t.same(ids, expected, `stream ${i}: exactly the log entries after its put`)
  }
})

t.test(
  'changes read together reach each stream as one write, in order, once; a resume gets them one by one',
  async (t) => {
    const s = await startServer(t)
    const e = await createSdkEnv(s)
    await createFlag(s, 'a')
    // A raw socket: the HTTP chunks are what the server wrote, one chunk per write to the stream.
    const { port } = new URL(s.url)
    const sock = connect(Number(port), '127.0.0.1')
    t.teardown(() => sock.destroy())
    let raw = ''
    sock.on('data', (b: Buffer) => {
      raw += b.toString('latin1')
    })
    await new Promise<void>((r) => sock.once('connect', () => r()))
    sock.write(
      `GET ${STREAM} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${e.serverToken}\r\nAccept: text/event-stream\r\n\r\n`,
    )
    // The complete HTTP chunks received so far (the body after the headers, chunked coding undone).
    const chunks = (): string[] => {
      const out: string[] = []
      let at = raw.indexOf('\r\n\r\n') + 4
      for (;;) {
        const eol = raw.indexOf('\r\n', at)
        if (eol < 0) return out
        const size = Number.parseInt(raw.slice(at, eol), 16)
        if (raw.length < eol + 2 + size + 2) return out
        out.push(raw.slice(eol + 2, eol + 2 + size))
        at = eol + 2 + size + 2
      }
    }
    await until(() => chunks().join('').includes('}\n\n'), 10_000, 'the put')
    const before = chunks()
    const putText = before.join('')
    const flag = JSON.parse(/event: put\ndata: (.*)\n/.exec(putText)?.[1] ?? '{}').flags.a
    const putId = /id: (\S+)\nevent: put/.exec(putText)?.[1] ?? ''
    // Five entries in one transaction: the blocked reader gets all of them in one reply.
    const multi = s.redis.multi()
    for (let i = 1; i <= 5; i++) {
      const [cmd, ...args] = appendCommand(1000, 'production', 'flag.put', {
        flag: { ...flag, on: i % 2 === 1, version: flag.version + i },
      })
      multi.call(String(cmd), ...args.map(String))
    }
    const added = ((await multi.exec()) ?? []).map(([err, id]) => {
      if (err) throw err
      return String(id)
    })
    const changes = () => chunks().slice(before.length)
    await until(
      () =>
        (
          changes()
            .join('')
            .match(/event: patch/g) ?? []
        ).length >= 5,
      10_000,
      'five patches',
    )
    const after = changes()
    t.equal(after.length, 1, `one HTTP chunk (one socket write) for the five changes: ${JSON.stringify(after)}`)
    const body = after.join('')
    const ids = [...body.matchAll(/id: (\S+)\n/g)].map((m) => m[1])
    t.same(ids, added, 'every change once, in log order')
    const versions = [...body.matchAll(/data: (.*)\n/g)].map((m) => JSON.parse(m[1] ?? '{}').flag.version)
    t.same(
      versions,
      [1, 2, 3, 4, 5].map((i) => flag.version + i),
    )
    // Resuming from the put gets the same five entries (replayed from the log).
    const c = await openSse(t, s.url + STREAM, { token: e.serverToken, headers: { 'last-event-id': putId } })
    const replayed: string[] = []
    while (replayed.length < 5) replayed.push((await c.next()).id)
    t.same(replayed, added, 'the replay after Last-Event-ID has the same entries')
  },
)

t.test('a client that does not read is disconnected; memory stays bounded', async (t) => {
  const s = await startServer(t, { env: { STREAM_MAX_BUFFER_BYTES: '65536' } })
  const e = await createSdkEnv(s)
  await s.api('POST', '/api/v1/environments/production/segments', { body: { key: 'seg', included: ['a'] } })
  const { port } = new URL(s.url)
  const sock = connect(Number(port), '127.0.0.1')
  t.teardown(() => sock.destroy())
  await new Promise<void>((r) => sock.once('connect', () => r()))
  sock.write(
    `GET ${STREAM} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${e.serverToken}\r\nAccept: text/event-stream\r\n\r\n`,
  )
  let closed = false
  sock.on('close', () => {
    closed = true
  })
  sock.on('error', () => {})
  // Read the response head, then stop reading entirely.
  await new Promise<void>((r) => sock.once('data', () => r()))
  sock.pause()
  await until(
    async () => (await metricValue(s, 'switchyard_stream_connections', { kind: 'server' })) === 1,
    5000,
    'the stream to register',
  )
  const big = Array.from({ length: 20_000 }, (_, i) => `member-with-a-longish-id-${i}`)
  let writes = 0
  while ((await metricValue(s, 'switchyard_stream_disconnects_total', { reason: 'slow' })) === 0) {
    if (writes > 60) break
    const r = await s.api('PUT', '/api/v1/environments/production/segments/seg', { body: { included: big } })
    t.equal(r.status, 200)
    writes++
  }
  t.ok(writes <= 60, `disconnected after ${writes} writes of ~600 KB`)
  t.equal(await metricValue(s, 'switchyard_stream_disconnects_total', { reason: 'slow' }), 1)
  t.equal(await metricValue(s, 'switchyard_stream_connections', { kind: 'server' }), 0)
  sock.resume()
  await until(() => closed, 10_000, 'the socket to close')
  t.ok(closed)
})

t.test('GET /sdk/rules: ETag is the change-log id, 304 on If-None-Match', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s)
  await createFlag(s, 'a')
  const c = await openSse(t, s.url + STREAM, { token: e.serverToken })
  const put = await c.next()
  let r = await s.api('GET', '/api/v1/sdk/rules', { token: e.serverToken })
  t.equal(r.status, 200)
  t.equal(r.headers.get('etag'), `"${put.id}"`)
  t.same(r.body, JSON.parse(put.data), 'same ruleset as the stream')
  r = await s.api('GET', '/api/v1/sdk/rules', { token: e.serverToken, headers: { 'if-none-match': `"${put.id}"` } })
  t.equal(r.status, 304)
  t.equal(r.text, '')
  await toggle(s, 'production', 'a', true)
  const p = await c.next()
  r = await s.api('GET', '/api/v1/sdk/rules', { token: e.serverToken, headers: { 'if-none-match': `"${put.id}"` } })
  t.equal(r.status, 200, 'read-your-writes: the change is visible at once')
  t.equal(r.headers.get('etag'), `"${p.id}"`, 'ETag = the stream id of the change')
  t.equal(r.body.flags.a.on, true)
})

t.test('app.close() ends open streams and does not hang', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s)
  const c = await openSse(t, s.url + STREAM, { token: e.serverToken })
  await c.next()
  const started = Date.now()
  await s.app.close()
  t.ok(Date.now() - started < 3000, `closed in ${Date.now() - started} ms`)
  await c.ended
  t.ok(c.isEnded())
})

t.test('a revoked token loses its stream', async (t) => {
  const s = await startServer(t, { env: { STREAM_TOKEN_RECHECK_MS: '100' } })
  const e = await createSdkEnv(s)
  const c = await openSse(t, s.url + STREAM, { token: e.serverToken })
  await c.next()
  const r = await s.api('DELETE', `/api/v1/tokens/${e.serverTokenId}`)
  t.equal(r.status, 204, r.text)
  await c.ended
  t.ok(c.isEnded())
  t.equal(await metricValue(s, 'switchyard_stream_disconnects_total', { reason: 'revoked' }), 1)
})

t.test('a revoked SDK token loses its streams on every instance at once (no periodic check)', async (t) => {
  const redisServer = await startRedis(t)
  const a = await startServer(t, { redisServer, env: { STREAM_TOKEN_RECHECK_MS: '0' } })
  const b = await startServer(t, { redisServer, env: { STREAM_TOKEN_RECHECK_MS: '0' } })
  const e = await createSdkEnv(a)
  const onA = await openSse(t, a.url + STREAM, { token: e.serverToken })
  const onB = await openSse(t, b.url + STREAM, { token: e.serverToken })
  await onA.next()
  await onB.next()
  const r = await a.api('DELETE', `/api/v1/tokens/${e.serverTokenId}`)
  t.equal(r.status, 204, r.text)
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    Promise.all([onA.ended, onB.ended]),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('streams still open after 5 s')), 5000)
    }),
  ])
  clearTimeout(timer)
  t.ok(onA.isEnded() && onB.isEnded(), 'both instances closed the stream')
  t.equal(await metricValue(b, 'switchyard_stream_disconnects_total', { reason: 'revoked' }), 1)
  // The revocation entry is not forwarded: a fresh stream with another token sees only data.
  const tok = await a.api('POST', '/api/v1/tokens', {
    body: { name: 'other', kind: 'sdk-server', environments: ['production'] },
  })
  const fresh = await openSse(t, b.url + STREAM, { token: tok.body.secret })
  const put = await fresh.next()
  t.equal(put.type, 'put')
  t.notMatch(put.data, /token\.revoke/)
})

t.test('who may open the rules stream and read the rules', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s)
  const other = await createSdkEnv(s, 'staging')
  let r = await s.api('POST', '/api/v1/tokens', { body: { name: 'v', kind: 'viewer', environments: ['production'] } })
  const viewer = r.body.secret as string
  for (const path of [STREAM, '/api/v1/sdk/rules']) {
    r = await s.api('GET', path, { token: null })
    t.equal(r.status, 401, `${path} without token`)
    t.equal(r.body.code, 'UNAUTHORIZED')
    r = await s.api('GET', path, { token: 'sy_srv_not-a-real-token' })
    t.equal(r.status, 401, `${path} unknown token`)
    for (const [name, tok] of [
      ['admin', undefined],
      ['viewer', viewer],
      ['sdk-client', e.clientToken],
    ] as const) {
      r = await s.api('GET', path, { ...(tok !== undefined && { token: tok }) })
      t.equal(r.status, 403, `${path} with ${name}`)
      t.equal(r.body.code, 'FORBIDDEN')
    }
  }
  // Each sdk-server token sees its own environment only.
  const c = await openSse(t, s.url + STREAM, { token: other.serverToken })
  t.equal(JSON.parse((await c.next()).data).environment, 'staging')
})
