/**
 * @switchyard/sdk as a user gets it: `npm pack` of the workspace, installed
 * into a scratch app outside the repository (os.tmpdir()), used there through
 * the package's own exports against the real server. The tarball holds the
 * built SDK, its README and the licences, nothing of the server; installing it
 * brings no other package; Node imports it as ESM (and require()s it); strict
 * TypeScript consumers (node16, bundler and the older node10 resolution; the
 * declarations themselves checked with skipLibCheck off) compile against the
 * shipped types; esbuild bundles the browser entry; the OpenFeature entries
 * load once the peer SDKs are installed.
 *
 * The peers come from the npm cache when they are there (--prefer-offline: a
 * CI machine has them after `npm ci`), else from the registry; their versions
 * are the repository's, so the cached tarballs match.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { build } from 'esbuild'
import { createFlag, createSdkEnv, putConfig } from '../helpers/sdk-fixtures.js'
import { startServer } from '../helpers/server.js'

const run = promisify(execFile)
const root = resolve(import.meta.dirname, '../..')
const work = await mkdtemp(join(tmpdir(), 'sy-sdk-package-'))
t.teardown(() => rm(work, { recursive: true, force: true }))
const app = join(work, 'app')
await mkdir(app)

// npm exports its own run's settings to scripts (npm test); a child npm must not inherit the
// repository's prefix or workspace, or it would install into the repository.
const npmEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) =>
      !/^(npm_(package|lifecycle)_|npm_command$|npm_config_(local_prefix|prefix|call|workspaces?|include_workspace_root)$|INIT_CWD$)/.test(
        k,
      ),
  ),
)
const npm = (args: string[], cwd: string) =>
  run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, env: npmEnv, maxBuffer: 16 << 20 })
/** A script of the scratch app, run by node in the app (so it resolves from the app's node_modules only). */
const node = (file: string, env: Record<string, string> = {}) =>
  run(process.execPath, [file], {
    cwd: app,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
  })

interface Packed {
  filename: string
  size: number
  unpackedSize: number
  entryCount: number
}
const [packed] = JSON.parse(
  (await npm(['pack', '-w', '@switchyard/sdk', '--pack-destination', work, '--json'], root)).stdout,
) as Packed[]
if (!packed) throw new Error('npm pack reported no tarball')
const tarball = join(work, packed.filename)
t.comment(`${packed.filename}: ${packed.size} B packed, ${packed.unpackedSize} B unpacked, ${packed.entryCount} files`)

await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'scratch-app', private: true, type: 'module' }))
const installed = join(app, 'node_modules/@switchyard/sdk')

/** Package directories under node_modules (scoped ones as `@scope/name`). */
async function packages(): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(join(app, 'node_modules'))) {
    if (e.startsWith('.')) continue
    if (e.startsWith('@')) for (const s of await readdir(join(app, 'node_modules', e))) out.push(`${e}/${s}`)
    else out.push(e)
  }
  return out.sort()
}

const s = await startServer(t)
const env = await createSdkEnv(s)
await createFlag(s, 'new-checkout', { clientSide: true })
await putConfig(s, env.env, 'new-checkout', { targets: [{ variation: 0, values: ['user-1'] }] })
const serverEnv = { SY_URL: s.url, SY_SERVER_TOKEN: env.serverToken, SY_CLIENT_TOKEN: env.clientToken }

t.test('the tarball holds the built SDK, its README and the licences, nothing of the server', async (t) => {
  const entries = (await run('tar', ['tzf', tarball])).stdout.split('\n').filter(Boolean)
  t.equal(entries.length, packed.entryCount, 'tar lists what npm packed')
  const allowed =
    /^package\/(package\.json|README\.md|LICENSE|dist\/(node\/[\w/-]+\.js|types\/[\w/-]+\.d\.ts|switchyard\.browser(\.iife)?\.js|THIRD-PARTY-LICENSES\.txt))$/
  for (const e of entries) t.match(e, allowed, e)
  t.notOk(
    entries.some((e) => /\/(src|test|scripts|deploy|docs|meta)\//.test(e)),
    'no server, test, build or metafile path',
  )
  t.notOk(
    entries.some((e) => /\.map$|(?<!\.d)\.ts$/.test(e)),
    'no TypeScript sources, no source maps',
  )
  for (const entry of ['index', 'node-storage', 'sign', 'openfeature/server', 'openfeature/web']) {
    t.ok(entries.includes(`package/dist/node/${entry}.js`), `${entry}.js`)
    t.ok(entries.includes(`package/dist/types/${entry}.d.ts`), `${entry}.d.ts`)
  }
  t.ok(entries.includes('package/dist/types/browser.d.ts'))
})

t.test('installing the tarball brings no other package (no runtime dependencies, optional peers)', async (t) => {
  await npm(['install', tarball], app)
  t.same(await packages(), ['@switchyard/sdk'], 'only the SDK: before, a packed tarball pulled in 101 server packages')
  const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as Record<string, unknown>
  t.notOk(manifest.dependencies, 'no dependencies')
  t.notOk(manifest.private, 'publishable')
  t.match(manifest, {
    name: '@switchyard/sdk',
    license: 'Apache-2.0',
    sideEffects: false,
    type: 'module',
    engines: { node: '>=20' },
  })
  t.equal(
    await readFile(join(installed, 'LICENSE'), 'utf8'),
    await readFile(join(root, 'LICENSE'), 'utf8'),
    'the Apache-2.0 licence',
  )
  t.match(
    await readFile(join(installed, 'dist/THIRD-PARTY-LICENSES.txt'), 'utf8'),
    /re2js@[\d.]+ \(MIT\)[\s\S]*Permission is hereby granted/,
    'the licence of bundled re2js',
  )

  // Without the peers, an OpenFeature entry fails naming what to install; the main entry does not need them.
  await writeFile(join(app, 'no-peer.mjs'), "await import('@switchyard/sdk/openfeature/server')\n")
  const e = await node('no-peer.mjs').then(
    () => null,
    (err: Error & { stderr: string }) => err.stderr,
  )
  t.match(e, /Cannot find package '@openfeature\/server-sdk'/)
})

t.test('ESM in Node: every Node entry, against the real server', async (t) => {
  await writeFile(
    join(app, 'check-node.mjs'),
    `import { createClient, SDK_VERSION, SwitchyardError } from '@switchyard/sdk'
import { fileStorage } from '@switchyard/sdk/node-storage'
import { signContext } from '@switchyard/sdk/sign'
const { SY_URL: url, SY_SERVER_TOKEN, SY_CLIENT_TOKEN, SY_CACHE } = process.env
const quiet = { sendMetrics: false, logger: {} }
const server = createClient({ url, token: SY_SERVER_TOKEN, storage: fileStorage(SY_CACHE), ...quiet })
const client = createClient({ url, token: SY_CLIENT_TOKEN, mode: 'client', context: { key: 'user-1' }, ...quiet })
await Promise.all([server.ready({ timeoutMs: 20000 }), client.ready({ timeoutMs: 20000 })])
const out = {
  resolved: import.meta.resolve('@switchyard/sdk'),
  version: SDK_VERSION,
  errorClass: typeof SwitchyardError,
  user1: server.isEnabled('new-checkout', { key: 'user-1' }),
  user9: server.variationDetail('new-checkout', { key: 'user-9' }, true),
  clientMode: client.variationDetail('new-checkout', undefined, false),
  signature: signContext('secret', { key: 'user-1' }),
}
await Promise.all([server.close(), client.close()])
console.log(JSON.stringify(out))
`,
  )
  const cache = join(work, 'cache/flags.json')
  const out = JSON.parse((await node('check-node.mjs', { ...serverEnv, SY_CACHE: cache })).stdout) as Record<
    string,
    unknown
  >
  t.match(out, {
    version: '0.1.0',
    errorClass: 'function',
    user1: true,
    user9: { value: false, variation: 1, reason: { kind: 'FALLTHROUGH' } },
    clientMode: { value: true, variation: 0, reason: { kind: 'TARGET_MATCH' } },
    signature: /^[0-9a-f]{64}$/,
  })
  t.equal(out.resolved, `file://${installed}/dist/node/index.js`, 'resolved in the scratch app, the Node build')
  t.ok((await stat(cache)).size > 0, 'fileStorage wrote the last-known-good file on close')
  // ESM only, and CommonJS apps on Node ≥ 20.19 can still require() it (no top-level await in the build).
  const cjs = await run(
    process.execPath,
    ['-e', "process.stdout.write(typeof require('@switchyard/sdk').createClient)"],
    { cwd: app },
  )
  t.equal(cjs.stdout, 'function', 'require() of the ESM build')
})

t.test('esbuild bundles the browser entry from the installed package', async (t) => {
  const bundle = async (contents: string) => {
    const r = await build({
      stdin: { contents, resolveDir: app, loader: 'js' },
      absWorkingDir: app,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      minify: true,
      write: false,
      metafile: true,
      logLevel: 'silent',
    })
    return { text: r.outputFiles[0]?.text ?? '', inputs: Object.keys(r.metafile.inputs) }
  }
  const explicit = await bundle("export { createClient, localStorageStorage } from '@switchyard/sdk/browser'")
  t.ok(
    explicit.inputs.includes('node_modules/@switchyard/sdk/dist/switchyard.browser.js'),
    'the shipped browser bundle',
  )
  t.notMatch(explicit.text, /["'`]node:/, 'no node: import')
  // A browser bundler resolving the bare package name gets the browser build too (the `browser`
  // condition), not the Node build with the engine and re2js (and an sdk-server mode a page must not use).
  const bare = await bundle("export { createClient } from '@switchyard/sdk'")
  t.same(
    bare.inputs.filter((i) => i.includes('@switchyard/sdk')),
    ['node_modules/@switchyard/sdk/dist/switchyard.browser.js'],
  )
  t.ok(bare.text.length < 30_000, `${bare.text.length} B: the client-mode build`)
})

t.test('the OpenFeature entries load with the peer SDKs installed, and evaluate', async (t) => {
  const versions = await Promise.all(
    ['server-sdk', 'web-sdk', 'core'].map(async (p) => {
      const m = JSON.parse(await readFile(join(root, 'node_modules/@openfeature', p, 'package.json'), 'utf8')) as {
        version: string
      }
      return `@openfeature/${p}@${m.version}`
    }),
  )
  await npm(['install', '--prefer-offline', ...versions], app)
  t.same(await packages(), ['@openfeature/core', '@openfeature/server-sdk', '@openfeature/web-sdk', '@switchyard/sdk'])
  await writeFile(
    join(app, 'check-openfeature.mjs'),
    `import { OpenFeature } from '@openfeature/server-sdk'
import { OpenFeature as WebOpenFeature } from '@openfeature/web-sdk'
import { SwitchyardProvider } from '@switchyard/sdk/openfeature/server'
import { SwitchyardWebProvider } from '@switchyard/sdk/openfeature/web'
const { SY_URL: url, SY_SERVER_TOKEN, SY_CLIENT_TOKEN } = process.env
const quiet = { sendMetrics: false, logger: {} }
await OpenFeature.setProviderAndWait(new SwitchyardProvider({ url, token: SY_SERVER_TOKEN, ...quiet }, { readyTimeoutMs: 20000 }))
await WebOpenFeature.setContext({ targetingKey: 'user-1' })
await WebOpenFeature.setProviderAndWait(new SwitchyardWebProvider({ url, token: SY_CLIENT_TOKEN, ...quiet, readyTimeoutMs: 20000 }))
const server = await OpenFeature.getClient().getBooleanDetails('new-checkout', false, { targetingKey: 'user-1' })
const web = WebOpenFeature.getClient().getBooleanDetails('new-checkout', false)
await Promise.all([OpenFeature.close(), WebOpenFeature.close()])
console.log(JSON.stringify({ server, web }))
`,
  )
  const out = JSON.parse((await node('check-openfeature.mjs', serverEnv)).stdout) as Record<string, unknown>
  t.match(out, {
    server: { value: true, variant: '0', reason: 'TARGETING_MATCH' },
    web: { value: true, variant: '0', reason: 'TARGETING_MATCH' },
  })
})

t.test('strict TypeScript consumers compile against the shipped types', async (t) => {
  // Node service: node16 resolution, @types/node, every Node entry.
  await writeFile(
    join(app, 'consumer-node.ts'),
    `import { createClient, SDK_VERSION, type ClientOptions, type Context, type EvaluationDetail, type SwitchyardClient, type SwitchyardError } from '@switchyard/sdk'
import { fileStorage } from '@switchyard/sdk/node-storage'
import { canonicalJson, signContext } from '@switchyard/sdk/sign'
import { OpenFeature } from '@openfeature/server-sdk'
import { SwitchyardProvider } from '@switchyard/sdk/openfeature/server'

const options: ClientOptions = { url: 'https://flags.example', token: 'sy_srv_x', storage: fileStorage('/tmp/flags.json') }
const flags: SwitchyardClient = createClient(options)
export const on: boolean = flags.isEnabled('new-checkout', { key: 'user-1', country: 'GB' })
export const limit: number = flags.variation('batch-size', undefined, 100)
export const detail: EvaluationDetail<string> = flags.variationDetail('theme', { key: 'u' }, 'light')
flags.on('change', (keys: string[]) => keys.length)
flags.on('error', (e: SwitchyardError) => e.code)
// @ts-expect-error a number is not a context
flags.isEnabled('new-checkout', 42)
// @ts-expect-error a number flag's variation is a number
export const wrong: string = flags.variation('batch-size', undefined, 100)
// @ts-expect-error url is required
createClient({ token: 't' })
const context: Context = { key: 'user-17', plan: 'pro' }
export const signed: string = signContext('secret', context) + canonicalJson(context) + SDK_VERSION
await OpenFeature.setProviderAndWait(new SwitchyardProvider(options, { readyTimeoutMs: 5000 }))
`,
  )
  // Browser app: bundler resolution, DOM, no Node types; the entries a page uses.
  await writeFile(
    join(app, 'consumer-web.ts'),
    `import { createClient, localStorageStorage, type SwitchyardClient } from '@switchyard/sdk/browser'
import { createClient as createDefault } from '@switchyard/sdk'
import { OpenFeature } from '@openfeature/web-sdk'
import { SwitchyardWebProvider } from '@switchyard/sdk/openfeature/web'

const context = { key: 'user-17', plan: 'pro' }
const flags: SwitchyardClient = createClient({ url: 'https://flags.example', token: 'sy_cli_x', context, signature: 'ab', storage: localStorageStorage('flags') })
export const banner: boolean = flags.isEnabled('banner')
export const same: SwitchyardClient = createDefault({ url: 'https://flags.example', token: 'sy_cli_x', mode: 'client', context })
// @ts-expect-error mode is 'server' or 'client'
createClient({ url: 'u', token: 't', mode: 'browser' })
await OpenFeature.setProviderAndWait(new SwitchyardWebProvider({ url: 'https://flags.example', token: 'sy_cli_x', signContext: (_ctx, sent) => JSON.stringify(sent) }))
`,
  )
  // Every shipped declaration the Node types are not needed for, checked itself (skipLibCheck off):
  // the browser app plus the Node-only entries whose declarations use no Node type.
  await writeFile(
    join(app, 'declarations.ts'),
    `export type * as nodeStorage from '@switchyard/sdk/node-storage'
export type * as sign from '@switchyard/sdk/sign'
`,
  )
  const strict = {
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    noEmit: true,
    target: 'ES2022',
  }
  await writeFile(
    join(app, 'tsconfig.node.json'),
    JSON.stringify({
      // skipLibCheck as Node projects have it: checking all of @types/node costs ~15 s here. The
      // declarations are checked below, except the server provider's (its peer's types need Node's).
      compilerOptions: {
        ...strict,
        skipLibCheck: true,
        module: 'node16',
        moduleResolution: 'node16',
        lib: ['ES2022'],
        types: ['node'],
        typeRoots: [join(root, 'node_modules/@types')],
      },
      files: ['consumer-node.ts'],
    }),
  )
  // Older configurations (moduleResolution node10 ignores `exports`): the subpaths' types come from typesVersions.
  await writeFile(
    join(app, 'tsconfig.node10.json'),
    JSON.stringify({
      compilerOptions: {
        ...strict,
        skipLibCheck: true,
        module: 'es2022',
        moduleResolution: 'node10',
        lib: ['ES2022'],
        types: ['node'],
        typeRoots: [join(root, 'node_modules/@types')],
      },
      files: ['consumer-node.ts'],
    }),
  )
  await writeFile(
    join(app, 'tsconfig.web.json'),
    JSON.stringify({
      compilerOptions: {
        ...strict,
        skipLibCheck: false,
        skipDefaultLibCheck: true,
        module: 'esnext',
        moduleResolution: 'bundler',
        lib: ['ES2022', 'DOM'],
        types: [],
      },
      files: ['consumer-web.ts', 'declarations.ts'],
    }),
  )
  const tsc = join(root, 'node_modules/typescript/bin/tsc')
  const results = await Promise.all(
    ['tsconfig.node.json', 'tsconfig.node10.json', 'tsconfig.web.json'].map((p) =>
      run(process.execPath, [tsc, '-p', p, '--listFiles'], { cwd: app }).then(
        (r) => ({ p, ok: true, out: r.stdout }),
        (e: { stdout: string }) => ({ p, ok: false, out: e.stdout }),
      ),
    ),
  )
  for (const r of results) {
    t.ok(r.ok, `${r.p} compiles`, { diagnostics: r.ok ? undefined : r.out })
    const sdkFiles = r.out.split('\n').filter((f) => f.includes('/@switchyard/sdk/'))
    t.ok(
      sdkFiles.length > 0 && sdkFiles.every((f) => f.startsWith(`${installed}/dist/types/`)),
      `${r.p}: the shipped declarations`,
    )
  }
})
