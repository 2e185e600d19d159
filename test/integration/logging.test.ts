/**
 * What the app logs, captured from its real pino output: no browser context
 * or signature from URLs, one line per store outage however many requests
 * fail, no access lines for probes and SDK reports unless asked for.
 */
import { Writable } from 'node:stream'
import t from 'tap'
import { createSdkEnv, encodeContext } from '../helpers/sdk-fixtures.js'
import { openSse } from '../helpers/sse-reader.js'
import { until } from '../helpers/wait.js'
import { startRedis, startServer } from '../helpers/server.js'

interface Line {
  level: number
  msg: string
  req?: { url?: string }
  [k: string]: unknown
}

function capture(): { stream: Writable; lines: Line[]; text: () => string } {
  const raw: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      raw.push(chunk.toString('utf8'))
      cb()
    },
  })
  return {
    stream,
    text: () => raw.join(''),
    get lines() {
      return raw
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Line)
    },
  }
}

t.test('browser contexts and signatures never reach the log', async (t) => {
  const log = capture()
  const s = await startServer(t, { env: { LOG_LEVEL: 'info' }, logStream: log.stream })
  const sdk = await createSdkEnv(s)
  const context = encodeContext({ key: 'secret-user-42', email: 'ceo@corp.example' })
  const signature = 'a1'.repeat(32)
  const auth = { authorization: `Bearer ${sdk.clientToken}` }
  await fetch(`${s.url}/api/v1/sdk/client/values?context=${context}&signature=${signature}`, { headers: auth })
  await fetch(`${s.url}/api/v1/sdk/client/values?%63ontext=${context}&Signature=${signature}`, { headers: auth })
  await fetch(`${s.url}/api/v1/sdk/client/values?context=${context}&context=${context}`, { headers: auth })
  const stream = await openSse(t, `${s.url}/api/v1/sdk/client/stream?context=${context}&signature=${signature}`, {
    token: sdk.clientToken,
  })
  stream.close()
  await until(
    () => log.lines.filter((l) => l.req?.url?.startsWith('/api/v1/sdk/client/')).length >= 4,
    10_000,
    'four access lines',
  )
  const text = log.text()
  for (const secret of [context, signature, 'secret-user-42', 'ceo@corp.example'])
    t.notOk(text.includes(secret), `no ${secret.slice(0, 24)}… in the log`)
  const urls = log.lines
    .map((l) => l.req?.url)
    .filter((u): u is string => u?.startsWith('/api/v1/sdk/client/') ?? false)
  t.ok(
    urls.includes('/api/v1/sdk/client/values?context=[redacted]&signature=[redacted]'),
    'the URL is logged with the values redacted',
  )
  t.ok(urls.includes('/api/v1/sdk/client/stream?context=[redacted]&signature=[redacted]'), 'stream URLs too')
})

t.test('a store outage is logged once, not once per request', async (t) => {
  const log = capture()
  // AOF: the data (and the admin token) survive the kill.
  const s = await startServer(t, {
    env: { LOG_LEVEL: 'info' },
    logStream: log.stream,
    redisServer: await startRedis(t, { appendOnly: true }),
  })
  const outageLines = () => log.lines.filter((l) => l.level >= 40 || /store/i.test(l.msg))
  t.equal((await s.api('GET', '/api/v1/flags')).status, 200)
  for (let outage = 1; outage <= 2; outage++) {
    await s.redisServer.kill()
    const before = outageLines().length
    const mark = log.lines.length
    const statuses = new Set<number>()
    for (let i = 0; i < 100; i++) statuses.add((await s.api('GET', '/api/v1/flags')).status)
    t.same([...statuses], [503], `outage ${outage}: 100 requests, each a 503`)
    const during = outageLines().slice(before)
    t.equal(during.length, 1, `outage ${outage}: one log line for 100 failed requests`)
    t.equal(during[0]?.level, 40, 'a warning')
    t.match(during[0]?.msg, /store unavailable/)
    await s.redisServer.start()
    await until(
      () => log.lines.some((l, i) => i >= mark && l.msg === 'store available again'),
      20_000,
      'the recovery line',
    )
    t.equal((await s.api('GET', '/api/v1/flags')).status, 200, `outage ${outage}: served again`)
    t.equal(outageLines().length, before + 2, `outage ${outage}: two lines in all (down, up)`)
  }
})

t.test('probes and SDK reports have no access lines by default', async (t) => {
  for (const [probeLogs, expected] of [
    ['false', 0],
    ['true', 3],
  ] as const) {
    const log = capture()
    const s = await startServer(t, { env: { LOG_LEVEL: 'info', LOG_PROBE_REQUESTS: probeLogs }, logStream: log.stream })
    const sdk = await createSdkEnv(s)
    await s.api('GET', '/healthz', { token: null })
    await s.api('GET', '/readyz', { token: null })
    const report = await s.api('POST', '/api/v1/sdk/metrics', {
      token: sdk.serverToken,
      body: { sdkId: 'i1', mode: 'server', appliedId: null },
    })
    t.equal(report.status, 202)
    await s.api('GET', '/api/v1/flags')
    await until(
      () => log.lines.some((l) => l.req?.url === '/api/v1/flags'),
      10_000,
      'the access line of a normal request',
    )
    const probes = log.lines.filter((l) => ['/healthz', '/readyz', '/api/v1/sdk/metrics'].includes(l.req?.url ?? ''))
    t.equal(
      probes.length,
      expected,
      `LOG_PROBE_REQUESTS=${probeLogs}: ${expected} probe access lines ("incoming request")`,
    )
  }
})
