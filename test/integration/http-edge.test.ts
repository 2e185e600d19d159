/**
 * The HTTP edge over raw sockets: authentication before the body, request
 * and header timeouts that leave streams alone, catalogue JSON for what
 * Node's parser refuses, one response per request when pipelining, and 304s
 * without a body.
 */
import fc from 'fast-check'
import t from 'tap'
import { ERRORS } from '../../src/errors.js'
import { rawConnect, type RawResponse } from '../helpers/raw-http.js'
import { createSdkEnv, encodeContext } from '../helpers/sdk-fixtures.js'
import { openSse } from '../helpers/sse-reader.js'
import { until } from '../helpers/wait.js'
import { ADMIN, startServer } from '../helpers/server.js'

const codes = new Set(Object.keys(ERRORS))
const json = (r: RawResponse | undefined) => JSON.parse(r?.body.toString('utf8') ?? 'null')

t.test('an upload is refused before its body is read', async (t) => {
  const s = await startServer(t)
  const sdk = await createSdkEnv(s)
  await s.api('POST', '/api/v1/environments/production/segments', { body: { key: 'seg' } })
  const size = 24 * 1024 * 1024
  const head = (auth: string, extra = '') =>
    `POST /api/v1/environments/production/segments/seg/members HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: text/plain\r\nContent-Length: ${size}\r\n${extra}\r\n`
  const part = Buffer.alloc(64 * 1024, 'u1\n')
  for (const [name, auth, status, code] of [
    ['no token', '', 401, 'UNAUTHORIZED'],
    ['unknown token', 'Authorization: Bearer sy_nope_0123456789\r\n', 401, 'UNAUTHORIZED'],
    ['the public sdk-client token', `Authorization: Bearer ${sdk.clientToken}\r\n`, 403, 'FORBIDDEN'],
  ] as const) {
    const c = await rawConnect(t, s.url)
    await c.write(head(auth))
    await c.write(part)
    // 64 KB of 24 MB sent: the answer can only come from before the body was read.
    const [r] = await c.waitResponses(1)
    t.equal(r?.status, status, `${name}: ${status} after 64 KB of 24 MB`)
    t.equal(json(r).code, code, `${name}: ${code}`)
  }

  // curl sends `Expect: 100-continue` for large uploads: no 100 Continue for a refused one, so it never sends the body.
  let c = await rawConnect(t, s.url)
  await c.write(head('', 'Expect: 100-continue\r\n'))
  let [r] = await c.waitResponses(1)
  t.equal(r?.status, 401, 'Expect: 100-continue without a token: 401 at once')
  t.notMatch(c.received().toString('latin1'), /100 Continue/, 'and no 100 Continue')
  c = await rawConnect(t, s.url)
  const body = 'u1\nu2\n'
  await c.write(
    `POST /api/v1/environments/production/segments/seg/members HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`,
  )
  await until(() => c.received().toString('latin1').includes('100 Continue'), 10_000, '100 Continue')
  await c.write(body)
  ;[r] = await c.waitResponses(2).then((rs) => rs.slice(1))
  t.equal(r?.status, 200, 'with a token: 100 Continue, then the upload is applied')
  t.equal(json(r).added, 2)
})

t.test('requests must arrive in time; streams are not cut', async (t) => {
  const s = await startServer(t, {
    env: { REQUEST_TIMEOUT_MS: '1000', HEADERS_TIMEOUT_MS: '500', STREAM_HEARTBEAT_MS: '300' },
  })
  const sdk = await createSdkEnv(s)

  const slowBody = await rawConnect(t, s.url)
  await slowBody.write(
    `POST /api/v1/flags HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"key":`,
  )
  const slowHeaders = await rawConnect(t, s.url)
  await slowHeaders.write('GET /healthz HTTP/1.1\r\nHost: x\r\n')
  // Answered early (no token) while its body is still missing: closed by the timeout without a second response.
  const refused = await rawConnect(t, s.url)
  await refused.write(
    'POST /api/v1/flags HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"key":',
  )

  const opened = Date.now()
  const stream = await openSse(t, `${s.url}/api/v1/sdk/stream`, { token: sdk.serverToken })
  const browser = await openSse(t, `${s.url}/api/v1/sdk/client/stream?context=${encodeContext({ key: 'u1' })}`, {
    token: sdk.clientToken,
  })

  await Promise.all(
    [slowBody.closed, slowHeaders.closed, refused.closed].map((p) =>
      Promise.race([p, until(() => false, 20_000, 'close').catch(() => {})]),
    ),
  )
  for (const [name, c] of [
    ['incomplete body', slowBody],
    ['incomplete headers', slowHeaders],
  ] as const) {
    t.ok(c.isClosed(), `${name}: connection closed`)
    const rs = c.responses()
    t.equal(rs.length, 1, `${name}: one response`)
    t.equal(rs[0]?.status, 408, `${name}: 408`)
    t.equal(json(rs[0]).code, 'REQUEST_TIMEOUT', `${name}: REQUEST_TIMEOUT`)
  }
  t.ok(refused.isClosed(), 'early-refused upload: closed')
  t.same(
    refused.responses().map((r) => r.status),
    [401],
    'early-refused upload: its 401 only',
  )

  // Pings every 300 ms: 12 of them span more than three request timeouts.
  await until(() => stream.comments.length >= 12 && browser.comments.length >= 12, 30_000, '12 pings on each stream')
  t.ok(Date.now() - opened > 3000, 'streams open for more than 3 × REQUEST_TIMEOUT_MS')
  t.notOk(stream.isEnded(), 'sdk-server stream still open')
  t.notOk(browser.isEnded(), 'browser stream still open')
})

t.test('what the HTTP parser refuses is catalogue JSON', async (t) => {
  const s = await startServer(t)
  const cases: Array<[string, string, number, string]> = [
    [
      'oversized headers',
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
      'HEADERS_TOO_LARGE',
    ],
    ['malformed request line', 'GARBAGE\r\n\r\n', 400, 'MALFORMED_REQUEST'],
    ['invalid header', 'GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n', 400, 'MALFORMED_REQUEST'],
    [
      'two Content-Lengths',
      'POST /api/v1/flags HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x',
      400,
      'MALFORMED_REQUEST',
    ],
    [
      'bad chunk size',
      `POST /api/v1/flags HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`,
      400,
      'MALFORMED_REQUEST',
    ],
    ['no Host', 'GET /healthz HTTP/1.1\r\n\r\n', 400, 'MALFORMED_REQUEST'],
  ]
  for (const [name, req, status, code] of cases) {
    const c = await rawConnect(t, s.url)
    await c.write(req)
    const [r] = await c.waitResponses(1)
    t.equal(r?.status, status, `${name}: ${status}`)
    t.equal(r?.headers['content-type'], 'application/json; charset=utf-8', `${name}: JSON`)
    t.equal(json(r).code, code, `${name}: ${code}`)
  }
})

t.test('pipelined requests get one response each, in order', async (t) => {
  const s = await startServer(t)
  await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })
  const auth = `Authorization: Bearer ${ADMIN}\r\n`

  // The first request waits for Redis while the parser already refuses the second: the error must not overtake it.
  const c = await rawConnect(t, s.url)
  await c.write(`GET /api/v1/flags HTTP/1.1\r\nHost: x\r\n${auth}\r\nGARBAGE\r\n\r\n`)
  await c.closed
  t.same(
    c.responses().map((r) => r.status),
    [200, 400],
    '200 for the first, then 400 for the second',
  )
  t.same(json(c.responses()[0]), { items: [] })
  t.equal(json(c.responses()[1]).code, 'MALFORMED_REQUEST')

  const evalBody = '{"context":{"key":"u1"}}'
  // Answered before its body was read (415), then the rest of the body is malformed: the 415 stays its only response.
  const early = await rawConnect(t, s.url)
  await early.write(
    `POST /api/v1/flags HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`,
  )
  await early.waitResponses(1)
  await early.write('zz\r\n\r\n').catch(() => {})
  await early.closed
  t.same(
    early.responses().map((r) => r.status),
    [415],
    'an early answer and a malformed rest: one response, then the connection closes',
  )
  t.equal(early.parsedRest().length, 0, 'no bytes after it')

  const valid: Array<[string, number]> = [
    ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 200],
    [`GET /api/v1/flags HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, 200],
    [`GET /api/v1/flags/nope HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, 404],
    ['GET /api/v1/flags HTTP/1.1\r\nHost: x\r\n\r\n', 401],
    [
      `POST /api/v1/flags HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
      400,
    ],
    [`GET /api/v1/environments/production HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, 200],
    [
      `POST /api/v1/environments/production/evaluate HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: ${evalBody.length}\r\nExpect: 100-continue\r\n\r\n${evalBody}`,
      200,
    ],
  ]
  const broken: Array<[string, number]> = [
    ['GARBAGE\r\n\r\n', 400],
    [`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`, 431],
    ['GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx', 400],
    ['GET /he lthz HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ]
  let runs = 0
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom(...valid) },
          { weight: 1, arbitrary: fc.constantFrom(...broken) },
        ),
        { minLength: 1, maxLength: 8 },
      ),
      async (reqs) => {
        const conn = await rawConnect(t, s.url)
        await conn.write(
          `${reqs.map(([r]) => r).join('')}GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        )
        await Promise.race([conn.closed, until(() => false, 15_000).catch(() => {})])
        conn.socket.destroy()
        const firstBroken = reqs.findIndex(([r]) => broken.some(([b]) => b === r))
        const expected = [
          ...(firstBroken < 0 ? reqs : reqs.slice(0, firstBroken + 1)).map(([, st]) => st),
          ...(firstBroken < 0 ? [200] : []),
        ]
        const got = conn.responses().filter((r) => r.status >= 200)
        if (got.map((r) => r.status).join() !== expected.join())
          throw new Error(
            `expected ${expected} got ${got.map((r) => r.status)} for ${JSON.stringify(reqs.map(([r]) => r.slice(0, 40)))}`,
          )
        for (const r of got)
          if (r.status >= 400 && !codes.has(json(r)?.code))
            throw new Error(`no catalogue code: ${r.status} ${r.body.toString().slice(0, 200)}`)
        if (conn.parsedRest().length > 0)
          throw new Error(`bytes after the last response: ${conn.parsedRest().toString('latin1').slice(0, 100)}`)
        runs++
      },
    ),
    { numRuns: 60 },
  )
  t.equal(runs, 60, '60 pipelined sequences, each request answered once, in order')
})

t.test('a 304 carries no body and no Content-Length', async (t) => {
  const s = await startServer(t)
  const sdk = await createSdkEnv(s)
  const ctx = encodeContext({ key: 'u1' })
  for (const [path, token] of [
    ['/api/v1/sdk/rules', sdk.serverToken],
    [`/api/v1/sdk/client/values?context=${ctx}`, sdk.clientToken],
  ] as const) {
    const first = await s.api('GET', path, { token })
    const etag = first.headers.get('etag') as string
    const c = await rawConnect(t, s.url)
    await c.write(
      `GET ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nIf-None-Match: ${etag}\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`,
    )
    const [r, next] = await c.waitResponses(2)
    t.equal(r?.status, 304, `${path}: 304`)
    t.ok(
      r?.headers['content-length'] === undefined || r.headers['content-length'] === first.headers.get('content-length'),
      `${path}: no Content-Length other than the 200's (${r?.headers['content-length']})`,
    )
    const raw = c.received().toString('latin1')
    const afterHead = raw.slice(raw.indexOf('\r\n\r\n') + 4)
    t.ok(afterHead.startsWith('HTTP/1.1 200'), `${path}: no body bytes: the next response follows the 304's headers`)
    t.equal(next?.status, 200)
  }
})
