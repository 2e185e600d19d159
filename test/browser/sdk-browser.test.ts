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
import { createServer } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { build } from 'esbuild'
import { chromium, type Browser, type Page } from 'playwright-core'
import type { ClientValues } from '../../sdk/types.js'
import { startSseTestServer } from '../helpers/sse-test-server.js'

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
  '/index.html': { type: 'text/html', body: Buffer.from('<!doctype html><html><head><meta charset="utf-8"></head><body></body></html>') },
}
for (const f of ['switchyard.browser.js', 'switchyard.browser.iife.js', 'vectors.js']) {
  files[`/${f}`] = { type: 'text/javascript', body: await readFile(join(outdir, f)) }
}
for (const f of vectorFiles) {
  files[`/vectors/${f}`] = { type: 'application/json', body: await readFile(join(root, 'test/vectors', f)) }
}

const statics = createServer((req, res) => {
  const f = files[new URL(req.url ?? '/', 'http://x').pathname]
  if (!f) return res.writeHead(404).end()
  res.writeHead(200, { 'Content-Type': f.type, 'Cache-Control': 'no-store' }).end(f.body)
})
statics.listen(0, '127.0.0.1')
await once(statics, 'listening')
t.teardown(() => new Promise<void>((r) => statics.close(() => r())))
const origin = `http://127.0.0.1:${(statics.address() as AddressInfo).port}`

const browser: Browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
})
t.teardown(() => browser.close())

/** A fresh page on the static origin; `errors` collects uncaught page errors (asserted by each test). */
async function newPage(t: Test): Promise<Page & { errors: string[] }> {
  const page = (await browser.newPage()) as Page & { errors: string[] }
  t.teardown(() => page.close())
  page.errors = []
  page.on('pageerror', (e) => page.errors.push(e.message))
  await page.goto(`${origin}/index.html`)
  return page
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
      const client = sy.createClient({ url, token: 'test-token', context: { key: 'user-1' }, sendMetrics: false, logger: {} })
      w.client = client
      w.changes = []
      client.on('change', (keys: string[]) => (w.changes as string[][]).push(keys))
      await client.ready({ timeoutMs: 5000 })
      return { banner: client.isEnabled('banner'), theme: client.variation('theme', undefined, 'light'), source: client.source }
    },
    { url: sse.url, origin },
  )
  t.same(first, { banner: true, theme: 'dark', source: 'server' })
  const conn = await sse.connection(1)
  t.equal(conn.request.headers.authorization, 'Bearer test-token')
  t.match(conn.request.headers.origin, origin, 'a real cross-origin request from the page')
  t.equal(JSON.parse(Buffer.from(conn.request.query.get('context') ?? '', 'base64url').toString()).key, 'user-1')

  sse.publish('patch', { flags: { banner: values(false).flags.banner } })
  await page.waitForFunction(() => ((window as unknown as { changes: string[][] }).changes).length > 0, undefined, {
    timeout: 5000,
  })
  const after = await page.evaluate(() => {
    const w = window as unknown as { client: { isEnabled(k: string, c?: unknown, d?: boolean): boolean }; changes: string[][] }
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
    return { type: typeof sy.createClient, savedFlags: Object.keys(saved?.data?.flags ?? {}), serverMode: (() => {
      try {
        sy.createClient({ url, token: 'x', mode: 'server' })
        return 'created'
      } catch (e) {
        return (e as { code?: string }).code
      }
    })() }
  }, sse.url)
  t.same(result, { type: 'function', savedFlags: ['banner', 'theme'], serverMode: 'INVALID_OPTIONS' })

  // Offline start in the browser answers from localStorage.
  await sse.close()
  const offline = await page.evaluate(async (url) => {
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
      const out: { file: string; count: number; failures: { name: string; actual: unknown; expected: unknown }[] }[] = []
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
