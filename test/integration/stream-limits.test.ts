// Stream limits: the public sdk-client token cannot take
// every stream (or file descriptor) of an instance; admin and editor
// requests still get through when the streams are full.
import { type ChildProcess, spawn } from 'node:child_process'
import t from 'tap'
import { createClient } from '../../sdk/index.js'
import type { SwitchyardError } from '../../sdk/transport/http.js'
import { effectiveInstanceLimit, openFileLimit } from '../../src/stream/limits.js'
import { createFlag, createSdkEnv, encodeContext, metricValue } from '../helpers/sdk-fixtures.js'
import { ADMIN, startRedis, startServer } from '../helpers/server.js'
import { openSse, type SseConnection } from '../helpers/sse-reader.js'
import { until } from '../helpers/wait.js'

const quiet = { warn() {}, error() {}, info() {}, debug() {} }
const root = new URL('../../', import.meta.url).pathname

t.test(
  'streams beyond the per-token and per-instance limits get 429 TOO_MANY_STREAMS; admin, editor and /healthz still work',
  async (t) => {
    const s = await startServer(t, { env: { STREAM_MAX_PER_INSTANCE: '12', STREAM_MAX_PER_TOKEN: '8' } })
    const e = await createSdkEnv(s)
    await createFlag(s, 'checkout', { clientSide: true })
    const clientUrl = (i: number) =>
      `${s.url}/api/v1/sdk/client/stream?context=${encodeContext({ key: `visitor-${i}` })}`

    const open: SseConnection[] = []
    for (let i = 0; i < 8; i++) {
      const c = await openSse(t, clientUrl(i), { token: e.clientToken })
      t.equal(c.status, 200)
      open.push(c)
    }
    const refused = await openSse(t, clientUrl(99), { token: e.clientToken })
    t.equal(refused.status, 429, 'the public token has its own limit')
    t.match(refused.error, { code: 'TOO_MANY_STREAMS' })
    t.equal(refused.headers.get('retry-after'), '5')
    t.equal(refused.headers.get('connection'), 'close', 'the refused connection frees its descriptor')
    t.equal(refused.headers.get('access-control-allow-origin'), '*', 'a browser can read the refusal')

    // The server SDKs' token still has room: the public token cannot starve them.
    for (let i = 0; i < 4; i++) {
      const c = await openSse(t, `${s.url}/api/v1/sdk/stream`, { token: e.serverToken })
      t.equal(c.status, 200)
      open.push(c)
    }
    const full = await openSse(t, `${s.url}/api/v1/sdk/stream`, { token: e.serverToken })
    t.equal(full.status, 429, 'the instance is full')
    t.match(full.error, { code: 'TOO_MANY_STREAMS', message: /on this instance/ })

    // Headroom: operators are not streams.
    const kill = await s.api('POST', '/api/v1/environments/production/flags/checkout/kill', {
      body: { reason: 'incident' },
    })
    t.equal(kill.status, 200, 'an admin kill works with every stream slot taken')
    const editor = await s.api('POST', '/api/v1/tokens', {
      body: { name: 'ed', kind: 'editor', environments: ['production'] },
    })
    t.equal(editor.status, 201, editor.text)
    const toggle = await s.api('POST', '/api/v1/environments/production/flags/checkout/toggle', {
      token: editor.body.secret,
      body: { on: true },
    })
    t.equal(toggle.status, 200, 'an editor write works too')
    t.equal((await s.api('GET', '/healthz', { token: null })).status, 200)
    t.equal((await s.api('GET', '/readyz', { token: null })).status, 200)
    t.equal(await metricValue(s, 'switchyard_stream_refusals_total', { limit: 'token' }), 1)
    t.equal(await metricValue(s, 'switchyard_stream_refusals_total', { limit: 'instance' }), 1)

    // A closed stream gives its slot back.
    open.shift()?.close()
    let again: SseConnection | null = null
    await until(
      async () => {
        again?.close()
        again = await openSse(t, clientUrl(100), { token: e.clientToken })
        return again.status === 200
      },
      5000,
      'a slot to be free again',
    )
    t.pass('a slot freed by a closed stream is reused')
  },
)

t.test('STREAM_MAX_PER_IP limits one address across tokens', async (t) => {
  const s = await startServer(t, { env: { STREAM_MAX_PER_IP: '2' } })
  const e = await createSdkEnv(s)
  t.equal((await openSse(t, `${s.url}/api/v1/sdk/stream`, { token: e.serverToken })).status, 200)
  t.equal(
    (
      await openSse(t, `${s.url}/api/v1/sdk/client/stream?context=${encodeContext({ key: 'a' })}`, {
        token: e.clientToken,
      })
    ).status,
    200,
  )
  const third = await openSse(t, `${s.url}/api/v1/sdk/stream`, { token: e.serverToken })
  t.equal(third.status, 429)
  t.match(third.error, { code: 'TOO_MANY_STREAMS', message: /from this address/ })
  t.equal(await metricValue(s, 'switchyard_stream_refusals_total', { limit: 'ip' }), 1)
})

t.test('the real SDK treats TOO_MANY_STREAMS as back-off-and-retry, not as fatal', async (t) => {
  const s = await startServer(t, { env: { STREAM_MAX_PER_INSTANCE: '1' } })
  const e = await createSdkEnv(s)
  await createFlag(s, 'checkout')
  const hog = await openSse(t, `${s.url}/api/v1/sdk/stream`, { token: e.serverToken })
  t.equal(hog.status, 200)

  const errors: SwitchyardError[] = []
  const c = createClient({
    url: s.url,
    token: e.serverToken,
    logger: quiet,
    initialRetryMs: 50,
    maxRetryMs: 200,
    streamFailuresBeforePolling: 1000,
    sendMetrics: false,
  })
  t.teardown(() => c.close())
  c.on('error', (err) => errors.push(err))
  await until(() => errors.length >= 2, 10_000, 'the SDK to be refused and to try again')
  t.equal(errors[0]?.code, 'TOO_MANY_STREAMS')
  t.equal(errors[0]?.status, 429)
  t.equal(errors[0]?.fatal, false, 'not fatal: the SDK keeps trying')
  hog.close()
  await c.ready({ timeoutMs: 15_000 })
  t.equal(c.source, 'server', 'connected once a slot was free')
})

t.test('the instance limit stays below the open-file limit', async (t) => {
  t.same(effectiveInstanceLimit(10_000, null), { limit: 10_000, clamped: false }, 'unknown limit: as configured')
  t.same(effectiveInstanceLimit(10_000, 1_048_576), { limit: 10_000, clamped: false })
  t.same(effectiveInstanceLimit(10_000, 1024), { limit: 896, clamped: true }, '128 descriptors kept under a 1024 limit')
  t.same(effectiveInstanceLimit(10_000, 20_000), { limit: 10_000, clamped: false })
  t.same(effectiveInstanceLimit(30_000, 20_000), { limit: 19_000, clamped: true }, '5 % kept under a large limit')
  t.type(openFileLimit(), 'number', 'read from /proc/self/limits')
  t.equal(openFileLimit('/nonexistent'), null)
})

t.test(
  'under a small ulimit -n the server refuses streams before it runs out of descriptors; a kill and /healthz still work',
  async (t) => {
    const redis = await startRedis(t)
    const child: ChildProcess = spawn(
      'bash',
      ['-c', `ulimit -n 300 && exec "${process.execPath}" --import=tsx src/server.ts`],
      {
        cwd: root,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/root',
          PORT: '0',
          LOG_LEVEL: 'info',
          REDIS_URL: redis.url,
          ADMIN_TOKEN: ADMIN,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let out = ''
    child.stdout?.on('data', (b: Buffer) => (out += b.toString()))
    child.stderr?.on('data', (b: Buffer) => (out += b.toString()))
    t.teardown(() => {
      child.kill('SIGKILL')
    })
    await until(() => /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.test(out), 60_000, 'the server to listen')
    const url = `http://127.0.0.1:${/Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]}`
    t.match(out, /at most 172 streams, 128 descriptors kept/, 'a warning says the limit was lowered')
    const api = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(url + path, {
        method,
        headers: {
          authorization: `Bearer ${ADMIN}`,
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      })
      return { status: r.status, body: (await r.json()) as Record<string, string> }
    }
    t.equal((await api('POST', '/api/v1/environments', { key: 'production' })).status, 201)
    t.equal((await api('POST', '/api/v1/flags', { key: 'checkout', name: 'checkout', kind: 'boolean' })).status, 201)
    const tok = await api('POST', '/api/v1/tokens', { name: 'web', kind: 'sdk-client', environments: ['production'] })
    t.equal(tok.status, 201)

    // As the attack did: streams with the public token until the server says no.
    let opened = 0
    let refusal: SseConnection | null = null
    for (let i = 0; i < 400 && refusal === null; i++) {
      const c = await openSse(t, `${url}/api/v1/sdk/client/stream?context=${encodeContext({ key: `v${i}` })}`, {
        token: tok.body.secret as string,
        timeoutMs: 30_000,
      })
      if (c.status === 200) opened++
      else refusal = c
    }
    t.equal(opened, 172, 'every admitted stream opened')
    t.match(refusal?.error, { code: 'TOO_MANY_STREAMS' })
    const kill = await api('POST', '/api/v1/environments/production/flags/checkout/kill', { reason: 'incident' })
    t.equal(kill.status, 200, "the operator's kill still works")
    t.equal((await fetch(`${url}/healthz`)).status, 200)
    t.notMatch(out, /EMFILE/, 'the process never ran out of descriptors')
  },
)
