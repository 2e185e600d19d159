#!/usr/bin/env node
/**
 * Builds the SDK with esbuild:
 *   <outdir>/switchyard.browser.js       browser, client mode, minified ESM (budget: 8 KB gzipped)
 *   <outdir>/switchyard.browser.iife.js  the same as an IIFE defining the global `Switchyard`
 *   <outdir>/node/…                      Node ESM bundles: index (server + client mode), node-storage,
 *                                        sign (context signing for site backends),
 *                                        openfeature/server, openfeature/web (OpenFeature packages external)
 *   <outdir>/meta/*.json                 esbuild metafiles (the bundle-size test reads them)
 *
 * Usage: node scripts/build-sdk.mjs [--outdir dist/sdk]
 */
import { build } from 'esbuild'
import { mkdir, writeFile, readFile } from 'node:fs/promises'
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { dirname, join, resolve } from 'node:path'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const outIdx = args.indexOf('--outdir')
const outdir = resolve(outIdx >= 0 && args[outIdx + 1] ? args[outIdx + 1] : join(root, 'dist/sdk'))
await mkdir(join(outdir, 'meta'), { recursive: true })

const browserCommon = {
  entryPoints: [join(root, 'sdk/browser.ts')],
  bundle: true,
  minify: true,
  platform: 'browser',
  target: ['es2020'],
  legalComments: 'none',
  // Class fields as plain assignments in the constructor: with es2020 and the define semantics of
  // tsconfig's ES2022 target, esbuild wraps every field in a __publicField() call (~300 B gzipped).
  // No SDK class depends on define semantics (no field shadows an inherited accessor).
  tsconfigRaw: { compilerOptions: { useDefineForClassFields: false } },
  metafile: true,
  logLevel: 'warning',
}

const esm = await build({ ...browserCommon, format: 'esm', outfile: join(outdir, 'switchyard.browser.js') })
const iife = await build({
  ...browserCommon,
  format: 'iife',
  globalName: 'Switchyard',
  outfile: join(outdir, 'switchyard.browser.iife.js'),
})
const node = await build({
  entryPoints: {
    index: join(root, 'sdk/index.ts'),
    'node-storage': join(root, 'sdk/node-storage.ts'),
    sign: join(root, 'sdk/sign.ts'),
    'openfeature/server': join(root, 'sdk/openfeature/server.ts'),
    'openfeature/web': join(root, 'sdk/openfeature/web.ts'),
  },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: ['node20'],
  outdir: join(outdir, 'node'),
  external: ['@openfeature/*'],
  sourcemap: true,
  metafile: true,
  logLevel: 'warning',
})

await writeFile(join(outdir, 'meta/browser.json'), JSON.stringify(esm.metafile))
await writeFile(join(outdir, 'meta/browser-iife.json'), JSON.stringify(iife.metafile))
await writeFile(join(outdir, 'meta/node.json'), JSON.stringify(node.metafile))

for (const f of ['switchyard.browser.js', 'switchyard.browser.iife.js']) {
  const buf = await readFile(join(outdir, f))
  console.log(`${f}: ${buf.length} bytes, ${gzipSync(buf, { level: 9 }).length} gzipped`)
}
