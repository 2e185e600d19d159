#!/usr/bin/env node
/**
 * Builds the SDK with esbuild:
 *   <outdir>/switchyard.browser.js       browser, client mode, minified ESM (budget: 8 KB gzipped)
 *   <outdir>/switchyard.browser.iife.js  the same as an IIFE defining the global `Switchyard`
 *   <outdir>/node/…                      Node ESM bundles: index (server + client mode), node-storage,
 *                                        sign (context signing for site backends),
 *                                        openfeature/server, openfeature/web (OpenFeature packages external)
 *   <outdir>/THIRD-PARTY-LICENSES.txt    the licences of what the bundles carry (re2js)
 *   <outdir>/meta/*.json                 esbuild metafiles (the bundle-size test reads them)
 *
 * With --package it builds the @switchyard/sdk package (sdk/package.json's build and prepack): outdir
 * sdk/dist, plus <outdir>/types/…, the .d.ts of every entry (tsc -p sdk/tsconfig.json, pruned to what
 * the entries reach). It is skipped when sdk/dist was built from the same inputs (a content hash in
 * sdk/dist/.build-stamp.json); --force builds anyway.
 *
 * Every file is written whole and then renamed into place, so a test reading sdk/dist (or `npm pack`
 * listing it) while another test builds it sees the old file or the new one, never half of one.
 *
 * Usage: node scripts/build-sdk.mjs [--outdir dist/sdk] | --package [--force]
 */
import { build, version as esbuildVersion } from 'esbuild'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { dirname, join, relative, resolve, sep } from 'node:path'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const pkg = args.includes('--package')
const outIdx = args.indexOf('--outdir')
const outdir = pkg
  ? join(root, 'sdk/dist')
  : resolve(outIdx >= 0 && args[outIdx + 1] ? args[outIdx + 1] : join(root, 'dist/sdk'))
const stampFile = join(outdir, '.build-stamp.json')

/** Every file under `dir` (relative paths, `/`-separated), skipping `skip` directory names. */
async function walk(dir, skip = new Set()) {
  const out = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) {
      if (skip.has(e.name) || e.name.startsWith('.sdk-build-')) continue
      for (const f of await walk(join(dir, e.name), skip)) out.push(`${e.name}/${f}`)
    } else if (e.isFile()) out.push(e.name)
  }
  return out
}

/** A hash of everything the package build reads: a matching stamp means sdk/dist is current. */
async function inputHash() {
  const h = createHash('sha256').update(`esbuild ${esbuildVersion}\n`)
  const files = [
    ...(await walk(join(root, 'sdk'), new Set(['dist', 'node_modules']))).map((f) => `sdk/${f}`),
    'scripts/build-sdk.mjs',
    'tsconfig.json',
    'node_modules/re2js/package.json',
    'node_modules/typescript/package.json',
  ].sort()
  for (const f of files)
    h.update(`${f}\n`)
      .update(await readFile(join(root, f)))
      .update('\n')
  return h.digest('hex')
}

let hash
if (pkg) {
  hash = await inputHash()
  if (!args.includes('--force') && existsSync(stampFile)) {
    const stamp = JSON.parse(await readFile(stampFile, 'utf8'))
    if (stamp.hash === hash && stamp.files.every((f) => existsSync(join(outdir, f)))) {
      console.error(`sdk/dist is current (built from the same inputs); --force rebuilds`)
      process.exit(0)
    }
  }
}

// Files are staged beside outdir (same filesystem, so rename is atomic) and outside it (npm pack
// lists outdir: a half-written temp file must never be in its listing).
await mkdir(dirname(outdir), { recursive: true })
const stage = await mkdtemp(join(dirname(outdir), '.sdk-build-'))
const written = []
/** Write `contents` to `<outdir>/<rel>` atomically. */
async function put(rel, contents) {
  const tmp = join(stage, `${written.length}.tmp`)
  await writeFile(tmp, contents)
  await mkdir(dirname(join(outdir, rel)), { recursive: true })
  await rename(tmp, join(outdir, rel))
  written.push(rel.split(sep).join('/'))
}

try {
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
    write: false,
    logLevel: 'warning',
    // Metafile paths relative to the repository, whatever the caller's cwd (npm runs sdk/'s scripts in sdk/).
    absWorkingDir: root,
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
    // The package ships no maps: its JavaScript is unminified ESM, readable as it is, and a map of the
    // bundled re2js alone would add 600 KB to every install.
    sourcemap: !pkg,
    metafile: true,
    write: false,
    logLevel: 'warning',
    absWorkingDir: root,
  })
  for (const r of [esm, iife, node]) for (const f of r.outputFiles) await put(relative(outdir, f.path), f.contents)
  await put('meta/browser.json', JSON.stringify(esm.metafile))
  await put('meta/browser-iife.json', JSON.stringify(iife.metafile))
  await put('meta/node.json', JSON.stringify(node.metafile))

  // What the bundles carry from node_modules is redistributed: its licence travels with it.
  const bundled = new Set()
  for (const input of Object.keys(node.metafile.inputs)) {
    const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)
    if (m) bundled.add(m[1])
  }
  let notices = 'Third-party software bundled into the Switchyard SDK (dist/node), with its licence.\n'
  for (const name of [...bundled].sort()) {
    const dir = join(root, 'node_modules', name)
    const meta = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'))
    const licenceFile = (await readdir(dir)).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f))
    if (!licenceFile) throw new Error(`build-sdk: ${name} is bundled but ships no licence file`)
    notices += `\n${'='.repeat(72)}\n${name}@${meta.version} (${meta.license})\n${'='.repeat(72)}\n\n`
    notices += `${(await readFile(join(dir, licenceFile), 'utf8')).trim()}\n`
  }
  await put('THIRD-PARTY-LICENSES.txt', notices)

  if (pkg) {
    const tsc = join(root, 'node_modules/typescript/bin/tsc')
    const types = join(stage, 'types')
    await promisify(execFile)(process.execPath, [tsc, '-p', join(root, 'sdk/tsconfig.json'), '--outDir', types], {
      cwd: root,
    })
    // Only the declarations the entries reach: the internals (the engine's operators import re2js's
    // types, which are bundled, not installed) stay out of the package.
    const entries = ['index', 'browser', 'node-storage', 'sign', 'openfeature/server', 'openfeature/web']
    const todo = entries.map((e) => `${e}.d.ts`)
    const reached = new Set()
    while (todo.length > 0) {
      const f = todo.pop()
      if (reached.has(f)) continue
      reached.add(f)
      const text = await readFile(join(types, f), 'utf8')
      for (const m of text.matchAll(/\bfrom\s+'(\.{1,2}\/[^']+)\.js'/g)) {
        todo.push(
          relative(types, resolve(dirname(join(types, f)), `${m[1]}.d.ts`))
            .split(sep)
            .join('/'),
        )
      }
    }
    for (const f of [...reached].sort()) await put(`types/${f}`, await readFile(join(types, f)))
  }

  if (pkg) {
    // Outputs of an earlier build that this one no longer makes would otherwise be packed.
    const keep = new Set(written)
    for (const f of await walk(outdir)) {
      if (!keep.has(f) && f !== '.build-stamp.json') await rm(join(outdir, f))
    }
    await put('.build-stamp.json', JSON.stringify({ hash, files: written }))
  }
} finally {
  await rm(stage, { recursive: true, force: true })
}

// Diagnostics on stderr: `npm pack --json` runs this as prepack and its stdout must stay JSON.
for (const f of ['switchyard.browser.js', 'switchyard.browser.iife.js']) {
  const buf = await readFile(join(outdir, f))
  console.error(`${f}: ${buf.length} bytes, ${gzipSync(buf, { level: 9 }).length} gzipped`)
}
