/**
 * The bundled SDK in Debian's chromium (playwright-core): the client-mode
 * bundle loads (ESM and IIFE), connects cross-origin over real SSE to the
 * transport-level test server, receives a change, keeps last-known-good in
 * localStorage; and the engine (sdk/core bundled for the browser) passes every
 * evaluation and hash vector of test/vectors.
 */
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { build } from 'esbuild'
import type { Page } from 'playwright-core'
import type { ClientValues } from '../../sdk/types.js'
import { startSseTestServer } from '../helpers/sse-test-server.js'
import { startServer } from '../helpers/server.js'
import { until } from '../helpers/wait.js'
import { signContext } from '../../sdk/sign.js'
import { launchChromium, openPage, serveStatic } from '../helpers/browser.js'

const root = resolve(import.meta.dirname, '../..')
const outdir = await mkdtemp(join(tmpdir(), 'sy-browser-'))
t.teardown(() => rm(outdir, { recursive: true, force: true }))

// The real build script makes the client-mode bundles.
await promisify(execFile)(process.execPath, [join(root, 'scripts/build-sdk.mjs'), '--outdir', outdir], { cwd: root })
// The engine and the vector runner, bundled for the browser (server mode / vectors need it).
await build({
  stdin: {
    contents: "export { runVector, runHashVector } from './test/vectors/run-vector.ts'",
    resolveDir: root,
    loader: 'ts',
  },
  bundle: true,
  format: 'esm',
  platform: 'browser',
  outfile: join(outdir, 'vectors.js'),
  logLevel: 'warning',
})

const vectorFiles = (await readdir(join(root, 'test/vectors'))).filter((f) => f.endsWith('.json'))
const files: Record<string, { type: string; body: Buffer }> = {
  '/index.html': {
    type: 'text/html',
    body: Buffer.from('<!doctype html><html><head><meta charset="utf-8"></head><body></body></html>'),
  },
}
for (const f of ['switchyard.browser.js', 'switchyard.browser.iife.js', 'vectors.js']) {
  files[`/${f}`] = { type: 'text/javascript', body: await readFile(join(outdir, f)) }
}
for (const f of vectorFiles) {
  files[`/vectors/${f}`] = { type: 'application/json', body: await readFile(join(root, 'test/vectors', f)) }
}

const origin = await serveStatic(t, files)

const browser = await launchChromium(t)

/** A fresh page on the static origin; `errors` collects uncaught page errors (asserted by each test). */
function newPage(t: Test): Promise<Page & { errors: string[] }> {
  return openPage(t, browser, `${origin}/index.html`)
}

const values = (banner: boolean): ClientValues => ({
  flags: {
    banner: { value: banner, variation: banner ? 0 : 1, reason: { kind: 'TARGET_MATCH' } },
    theme: { value: 'dark', variation: 0, reason: { kind: 'FALLTHROUGH' } },
  },
})

t.test('the ESM bundle connects over real SSE (cross-origin) and receives a change', async (t) => {
  const sse = await startSseTestServer({ document: values(true) })
  t.teardown(() => sse.close())
  const page = await newPage(t)
  const first = await page.evaluate(
    async ({ url, origin }) => {
      const sy = await import(`${origin}/switchyard.browser.js`)
      const w = window as unknown as Record<string, unknown>
      const client = sy.createClient({
        url,
        token: 'test-token',
        context: { key: 'user-1' },
        sendMetrics: false,
        logger: {},
      })
      w.client = client
      w.changes = []
      client.on('change', (keys: string[]) => (w.changes as string[][]).push(keys))
      await client.ready({ timeoutMs: 5000 })
      return {
        banner: client.isEnabled('banner'),
        theme: client.variation('theme', undefined, 'light'),
        source: client.source,
      }
    },
    { url: sse.url, origin },
  )
  t.same(first, { banner: true, theme: 'dark', source: 'server' })
  const conn = await sse.connection(1)
  t.equal(conn.request.headers.authorization, 'Bearer test-token')
  t.match(conn.request.headers.origin, origin, 'a real cross-origin request from the page')
  t.equal(JSON.parse(Buffer.from(conn.request.query.get('context') ?? '', 'base64url').toString()).key, 'user-1')

  sse.publish('patch', { flags: { banner: values(false).flags.banner } })
  await page.waitForFunction(() => (window as unknown as { changes: string[][] }).changes.length > 0, undefined, {
    timeout: 5000,
  })
  const after = await page.evaluate(() => {
    const w = window as unknown as {
      client: { isEnabled(k: string, c?: unknown, d?: boolean): boolean }
      changes: string[][]
    }
    return { changes: w.changes, banner: w.client.isEnabled('banner', undefined, true) }
  })
  t.same(after, { changes: [['banner']], banner: false })

  // A dropped stream resumes with Last-Event-ID from the browser too.
  conn.destroy()
  const second = await sse.connection(2)
  t.equal(second.lastEventId, sse.currentId)
  await page.evaluate(() => (window as unknown as { client: { close(): Promise<void> } }).client.close())
  t.same(page.errors, [], 'no uncaught page errors')
})

t.test('the IIFE defines window.Switchyard; localStorage keeps last-known-good', async (t) => {
  const sse = await startSseTestServer({ document: values(true) })
  t.teardown(() => sse.close())
  const page = await newPage(t)
  await page.addScriptTag({ url: `${origin}/switchyard.browser.iife.js` })
  const result = await page.evaluate(async (url) => {
    // biome-ignore lint/suspicious/noExplicitAny: the page calls the bundle's untyped global
    const sy = (window as unknown as { Switchyard: Record<string, any> }).Switchyard
    const client = sy.createClient({
      url,
      token: 'test-token',
      context: { key: 'user-1' },
      storage: sy.localStorageStorage('sy-test'),
      sendMetrics: false,
      logger: {},
    })
    await client.ready({ timeoutMs: 5000 })
    await client.close()
    const saved = JSON.parse(localStorage.getItem('sy-test') ?? 'null')
    return {
      type: typeof sy.createClient,
      savedFlags: Object.keys(saved?.data?.flags ?? {}),
      serverMode: (() => {
        try {
          sy.createClient({ url, token: 'x', mode: 'server' })
          return 'created'
        } catch (e) {
          return (e as { code?: string }).code
        }
      })(),
    }
  }, sse.url)
  t.same(result, { type: 'function', savedFlags: ['banner', 'theme'], serverMode: 'INVALID_OPTIONS' })

  // Offline start in the browser answers from localStorage.
  await sse.close()
  const offline = await page.evaluate(async (url) => {
    // biome-ignore lint/suspicious/noExplicitAny: the page calls the bundle's untyped global
    const sy = (window as unknown as { Switchyard: Record<string, any> }).Switchyard
    const client = sy.createClient({
      url,
      token: 'test-token',
      context: { key: 'user-1' },
      storage: sy.localStorageStorage('sy-test'),
      sendMetrics: false,
      logger: {},
      initialRetryMs: 10,
    })
    await client.ready({ timeoutMs: 5000 })
    const r = { source: client.source, banner: client.isEnabled('banner') }
    await client.close()
    return r
  }, sse.url)
  t.same(offline, { source: 'cache', banner: true })
  t.same(page.errors, [], 'no uncaught page errors')
})

t.test('every evaluation and hash vector passes in Chromium', async (t) => {
  const page = await newPage(t)
  const results = await page.evaluate(
    async ({ origin, names }) => {
      const mod = await import(`${origin}/vectors.js`)
      const out: { file: string; count: number; failures: { name: string; actual: unknown; expected: unknown }[] }[] =
        []
      for (const name of names) {
        const file = await (await fetch(`${origin}/vectors/${name}`)).json()
        const failures: { name: string; actual: unknown; expected: unknown }[] = []
        for (const v of file.vectors) {
          const r = name === 'hash.json' ? mod.runHashVector(v) : mod.runVector(v)
          if (!r.pass) failures.push({ name: v.name ?? `${v.salt}.${v.value}`, actual: r.actual, expected: r.expected })
        }
        out.push({ file: name, count: file.vectors.length, failures })
      }
      return out
    },
    { origin, names: vectorFiles },
  )
  t.equal(results.length, vectorFiles.length)
  for (const r of results) {
    t.ok(r.count > 0, `${r.file}: has vectors`)
    t.same(r.failures, [], `${r.file}: ${r.count} vectors pass in Chromium`)
  }
})

t.test(
  'against the real server: signed context, clientSide values over SSE, a kill arrives, no whitelist leaks',
  async (t) => {
    const s = await startServer(t)
    const env = await s.api('POST', '/api/v1/environments', { body: { key: 'production', requireSignedContext: true } })
    const secret = env.body.signingSecret as string
    await s.api('POST', '/api/v1/flags', { body: { key: 'new-checkout', kind: 'boolean', clientSide: true } })
    await s.api('POST', '/api/v1/flags', { body: { key: 'server-only', kind: 'boolean' } })
    await s.api('POST', '/api/v1/environments/production/segments', {
      body: { key: 'beta', included: ['user-17', 'someone-else'] },
    })
    const put = await s.api('PUT', '/api/v1/environments/production/flags/new-checkout', {
      headers: { 'if-match': '1' },
      body: {
        on: true,
        offVariation: 1,
        fallthrough: { variation: 1 },
        targets: [{ variation: 0, values: ['vip-9'] }],
        rules: [
          {
            id: 'beta',
            clauses: [{ attribute: 'segment', op: 'inSegment', values: ['beta'] }],
            serve: { variation: 0 },
          },
        ],
      },
    })
    t.equal(put.status, 200, put.text)
    const tok = await s.api('POST', '/api/v1/tokens', {
      body: { name: 'web', kind: 'sdk-client', environments: ['production'] },
    })
    const signature = signContext(secret, { key: 'user-17' })

    const page = await newPage(t)
    const first = await page.evaluate(
      async ({ url, origin, token, signature }) => {
        const sy = await import(`${origin}/switchyard.browser.js`)
        const w = window as unknown as Record<string, unknown>
        const client = sy.createClient({ url, token, context: { key: 'user-17' }, signature, logger: {} })
        w.client = client
        w.changes = []
        client.on('change', (keys: string[]) => (w.changes as string[][]).push(keys))
        await client.ready({ timeoutMs: 10000 })
        return {
          checkout: client.isEnabled('new-checkout'),
          detail: client.variationDetail('new-checkout', undefined, false),
          all: Object.keys(client.allFlags()),
        }
      },
      { url: s.url, origin, token: tok.body.secret as string, signature },
    )
    t.equal(first.checkout, true, 'user-17 is in the beta segment')
    t.same(
      first.detail.reason,
      { kind: 'RULE_MATCH' },
      'the reason kind, without the rule id (rules stay on the server)',
    )
    t.same(first.all, ['new-checkout'], 'only clientSide flags reach the browser')

    const kill = await s.api('POST', '/api/v1/environments/production/flags/new-checkout/kill', {
      body: { reason: 'browser test' },
    })
    t.equal(kill.status, 200)
    await page.waitForFunction(() => (window as unknown as { changes: string[][] }).changes.length > 0, undefined, {
      timeout: 10000,
    })
    const after = await page.evaluate(() =>
      (window as unknown as { client: { isEnabled(k: string): boolean } }).client.isEnabled('new-checkout'),
    )
    t.equal(after, false, 'the kill reached the browser')

    // What the browser can fetch with its public token never carries rules or other ids.
    const raw = await page.evaluate(
      async ({ url, token, signature }) => {
        const ctx = btoa(JSON.stringify({ key: 'user-17' }))
          .replace(/\+/g, '-')
          .replace(/\//g, '_')
          .replace(/=+$/, '')
        const res = await fetch(`${url}/api/v1/sdk/client/values?context=${ctx}&signature=${signature}`, {
          headers: { authorization: `Bearer ${token}` },
        })
        const unsigned = await fetch(`${url}/api/v1/sdk/client/values?context=${ctx}`, {
          headers: { authorization: `Bearer ${token}` },
        })
        return {
          status: res.status,
          text: await res.text(),
          unsigned: unsigned.status,
          unsignedBody: await unsigned.json(),
        }
      },
      { url: s.url, token: tok.body.secret as string, signature },
    )
    t.equal(raw.status, 200)
    for (const secretish of ['someone-else', 'vip-9', 'beta', 'server-only', 'inSegment', 'clauses'])
      t.notOk(raw.text.includes(secretish), `no "${secretish}" in what the browser sees`)
    t.equal(raw.unsigned, 403, 'an unsigned context is refused where signatures are required')
    t.equal(raw.unsignedBody.code, 'SIGNATURE_REQUIRED')
    await page.evaluate(() => (window as unknown as { client: { close(): Promise<void> } }).client.close())
    t.same(page.errors, [], 'no uncaught page errors')
  },
)

t.test('polling mode from another origin: the If-None-Match polls pass CORS and a kill reaches the page', async (t) => {
  const s = await startServer(t)
  await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })
  await s.api('POST', '/api/v1/flags', { body: { key: 'banner', kind: 'boolean', clientSide: true } })
  const put = await s.api('PUT', '/api/v1/environments/production/flags/banner', {
    headers: { 'if-match': '1' },
    body: { on: true, offVariation: 1, fallthrough: { variation: 0 } },
  })
  t.equal(put.status, 200, put.text)
  const tok = await s.api('POST', '/api/v1/tokens', {
    body: { name: 'web', kind: 'sdk-client', environments: ['production'] },
  })

  const page = await newPage(t)
  t.not(new URL(s.url).origin, origin, 'the page and the API are different origins')
  // What Chromium itself did with each poll. A CORS block fails the request with net::ERR_FAILED and logs
  // "blocked by CORS policy" (Chromium reports a 304 to fetch as ERR_ABORTED after its response: not a block).
  const polls: { status: number; ifNoneMatch: string | undefined }[] = []
  const blocked: string[] = []
  page.on('response', (r) => {
    if (r.url().includes('/sdk/client/values'))
      polls.push({ status: r.status(), ifNoneMatch: r.request().headers()['if-none-match'] })
  })
  page.on('requestfailed', (r) => {
    if (r.failure()?.errorText !== 'net::ERR_ABORTED')
      blocked.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`)
  })
  page.on('console', (m) => {
    if (/CORS/.test(m.text())) blocked.push(m.text())
  })
  const first = await page.evaluate(
    async ({ url, origin, token }) => {
      const sy = await import(`${origin}/switchyard.browser.js`)
      const w = window as unknown as Record<string, unknown>
      const client = sy.createClient({
        url,
        token,
        context: { key: 'user-1' },
        streaming: false,
        pollIntervalMs: 100,
        sendMetrics: false,
        logger: {},
      })
      w.client = client
      await client.ready({ timeoutMs: 10000 })
      return { banner: client.isEnabled('banner'), polling: client.polling }
    },
    { url: s.url, origin, token: tok.body.secret as string },
  )
  t.same(first, { banner: true, polling: true })
  // A few conditional polls answered 304 before the kill: If-None-Match got through the preflight.
  await until(
    () => polls.some((p) => p.status === 304) || blocked.length > 0,
    20000,
    'a 304 poll or a blocked request',
  ).catch(() => {})
  t.ok(
    polls.some((p) => p.status === 304 && p.ifNoneMatch),
    `a conditional poll answered 304 (${JSON.stringify(polls.slice(0, 4))}; blocked: ${blocked.slice(0, 2).join('; ')})`,
  )

  const killedAt = Date.now()
  const kill = await s.api('POST', '/api/v1/environments/production/flags/banner/kill', {
    body: { reason: 'polling test' },
  })
  t.equal(kill.status, 200)
  await page.waitForFunction(
    () =>
      (window as unknown as { client: { isEnabled(k: string, c?: unknown, d?: boolean): boolean } }).client.isEnabled(
        'banner',
        undefined,
        true,
      ) === false,
    undefined,
    { timeout: 20000 },
  )
  t.pass(`the kill reached the polling page in ${Date.now() - killedAt} ms (polls every 100 ms)`)
  t.same(blocked, [], 'Chromium blocked no request')
  await page.evaluate(() => (window as unknown as { client: { close(): Promise<void> } }).client.close())
  t.same(page.errors, [], 'no uncaught page errors')
})
