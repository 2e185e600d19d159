/**
 * The browser client-mode bundle stays small and browser-clean: built by the
 * real build script, ≤ 8 KB gzipped, no `node:` imports, only sdk/ inputs, and
 * no rule-engine code (client mode holds values; the server evaluates).
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { gzipSync } from 'node:zlib'

const BUDGET_GZIP = 8 * 1024
const root = resolve(import.meta.dirname, '../..')

const outdir = await mkdtemp(join(tmpdir(), 'sy-sdk-build-'))
t.teardown(() => rm(outdir, { recursive: true, force: true }))
await promisify(execFile)(process.execPath, [join(root, 'scripts/build-sdk.mjs'), '--outdir', outdir], { cwd: root })

interface Meta {
  inputs: Record<string, unknown>
  outputs: Record<string, { imports: { path: string; external?: boolean }[]; inputs?: Record<string, unknown> }>
}

t.test('browser ESM bundle is within the gzip budget', async (t) => {
  const buf = await readFile(join(outdir, 'switchyard.browser.js'))
  const gz = gzipSync(buf, { level: 9 }).length
  t.comment(`switchyard.browser.js: ${buf.length} bytes raw, ${gz} bytes gzipped (budget ${BUDGET_GZIP})`)
  t.ok(gz <= BUDGET_GZIP, `${gz} ≤ ${BUDGET_GZIP} bytes gzipped`)
  t.ok(buf.length > 1000, 'not empty')
})

t.test('browser bundles import nothing and mention no node: module', async (t) => {
  for (const f of ['switchyard.browser.js', 'switchyard.browser.iife.js']) {
    const text = await readFile(join(outdir, f), 'utf8')
    t.notMatch(text, /["'`]node:/, `${f}: no node: specifier`)
    t.notMatch(text, /\brequire\(/, `${f}: no require()`)
    t.notMatch(text, /^import[\s{*]/m, `${f}: no static import`)
  }
  const meta = JSON.parse(await readFile(join(outdir, 'meta/browser.json'), 'utf8')) as Meta
  for (const out of Object.values(meta.outputs)) t.same(out.imports, [], 'no imports in the output')
})

t.test('browser bundle inputs are sdk/ files only, without the rule engine', async (t) => {
  const meta = JSON.parse(await readFile(join(outdir, 'meta/browser.json'), 'utf8')) as Meta
  const inputs = Object.keys(meta.inputs)
  t.ok(inputs.length > 3)
  for (const i of inputs) t.match(i, /^sdk\//, `${i} is under sdk/`)
  const core = inputs.filter((i) => i.startsWith('sdk/core/'))
  t.same(core, [], 'no sdk/core module in client mode')
  const text = await readFile(join(outdir, 'switchyard.browser.js'), 'utf8')
  for (const marker of ['semVer', 'inSegment', 'murmur', 'PREREQUISITE']) {
    t.notMatch(text, new RegExp(marker), `no engine marker "${marker}"`)
  }
})

t.test('the IIFE defines the global Switchyard with createClient', async (t) => {
  const text = await readFile(join(outdir, 'switchyard.browser.iife.js'), 'utf8')
  const g: Record<string, unknown> = {}
  new Function('globalThis', 'window', 'self', `${text};globalThis.Switchyard=Switchyard`)(g, g, g)
  t.type((g.Switchyard as { createClient?: unknown }).createClient, 'function')
})

t.test('the Node bundles are built, with OpenFeature external', async (t) => {
  const meta = JSON.parse(await readFile(join(outdir, 'meta/node.json'), 'utf8')) as Meta
  const outs = Object.keys(meta.outputs).filter((o) => o.endsWith('.js'))
  for (const name of ['index.js', 'node-storage.js', 'sign.js', 'openfeature/server.js', 'openfeature/web.js']) {
    t.ok(
      outs.some((o) => o.endsWith(`/node/${name}`)),
      name,
    )
  }
  const ext = Object.values(meta.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path))
  t.ok(
    ext.some((p) => p.startsWith('@openfeature/')),
    'OpenFeature is a peer dependency, not bundled',
  )
  const mod = (await import(join(outdir, 'node/index.js'))) as { createClient?: unknown }
  t.type(mod.createClient, 'function', 'the Node bundle loads')
  const sign = (await import(join(outdir, 'node/sign.js'))) as {
    signContext: (secret: string, context: object) => string
  }
  t.match(sign.signContext('s', { key: 'u1' }), /^[0-9a-f]{64}$/, 'the signing helper for site backends loads')
})

t.test('the browser bundles never carry the signing helper (the secret stays on the backend)', async (t) => {
  for (const f of ['browser.json', 'browser-iife.json']) {
    const meta = JSON.parse(await readFile(join(outdir, 'meta', f), 'utf8')) as Meta
    t.notOk(Object.keys(meta.inputs).includes('sdk/sign.ts'), `${f}: no sdk/sign.ts`)
  }
})

t.test('re2js (the matches engine) is bundled into the Node SDK and stays out of browser code', async (t) => {
  const node = JSON.parse(await readFile(join(outdir, 'meta/node.json'), 'utf8')) as Meta
  t.ok(
    Object.keys(node.inputs).some((i) => i.includes('node_modules/re2js/')),
    'bundled into the Node SDK: nothing to install',
  )
  const ext = Object.values(node.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path))
  t.notOk(ext.includes('re2js'), 'not an external import')
  const web = Object.entries(node.outputs)
  const webOut = web.find(([o]) => o.endsWith('/openfeature/web.js'))
  const chunks = new Set([webOut?.[0], ...(webOut?.[1].imports.map((i) => i.path) ?? [])])
  const webInputs = web.filter(([o]) => chunks.has(o)).flatMap(([, v]) => Object.keys(v.inputs ?? {}))
  t.ok(webInputs.length > 0, 'the web provider bundle has inputs')
  t.notOk(
    webInputs.some((i) => i.includes('re2js')),
    'the OpenFeature web provider does not carry it either',
  )
})
