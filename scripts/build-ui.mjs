#!/usr/bin/env node
/**
 * Builds the admin page (ui/) with esbuild into dist/ui (or --outdir):
 *   index.html            names the current script and stylesheet
 *   app-<hash>.js         ui/main.ts with Preact and htm, minified ESM (no CDN: everything is in here)
 *   style-<hash>.css      ui/style.css, minified
 *   THIRD-PARTY-LICENSES.txt  the licences of what the bundle carries (preact, htm)
 * The directory is built beside the target and renamed into place, so a running server sees the old page or
 * the new one, never half of one. Prints the shipped size (gzipped) on stderr.
 *
 * Usage: node scripts/build-ui.mjs [--outdir dist/ui]
 */
import { build } from 'esbuild'
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const outIdx = args.indexOf('--outdir')
const outdir = resolve(outIdx >= 0 && args[outIdx + 1] ? args[outIdx + 1] : join(root, 'dist/ui'))

await mkdir(dirname(outdir), { recursive: true })
const stage = await mkdtemp(join(dirname(outdir), '.ui-build-'))
try {
  const result = await build({
    entryPoints: { app: join(root, 'ui/main.ts'), style: join(root, 'ui/style.css') },
    entryNames: '[name]-[hash]',
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2020'],
    legalComments: 'none',
    metafile: true,
    outdir: stage,
    logLevel: 'warning',
    absWorkingDir: root,
  })
  const outputs = Object.keys(result.metafile.outputs).map((f) => relative(stage, join(root, f)))
  const script = outputs.find((f) => f.endsWith('.js'))
  const style = outputs.find((f) => f.endsWith('.css'))
  const page = (await readFile(join(root, 'ui/index.html'), 'utf8'))
    .replace('%SCRIPT%', `./${script}`)
    .replace('%STYLE%', `./${style}`)
  await writeFile(join(stage, 'index.html'), page)

  // What the bundle carries from node_modules is redistributed: its licence travels with it.
  const bundled = new Set()
  for (const input of Object.keys(result.metafile.inputs)) {
    const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)
    if (m) bundled.add(m[1])
  }
  let notices = 'Third-party software bundled into the Switchyard admin page, with its licence.\n'
  for (const name of [...bundled].sort()) {
    const dir = join(root, 'node_modules', name)
    const meta = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'))
    const licence = (await readdir(dir)).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f))
    if (!licence) throw new Error(`build-ui: ${name} is bundled but ships no licence file`)
    notices += `\n${'='.repeat(72)}\n${name}@${meta.version} (${meta.license})\n${'='.repeat(72)}\n\n`
    notices += `${(await readFile(join(dir, licence), 'utf8')).trim()}\n`
  }
  await writeFile(join(stage, 'THIRD-PARTY-LICENSES.txt'), notices)

  let total = 0
  for (const f of ['index.html', script, style]) {
    const gz = gzipSync(await readFile(join(stage, f)), { level: 9 }).length
    total += gz
    console.error(`ui ${f}: ${gz} bytes gzipped`)
  }
  console.error(`ui: ${total} bytes gzipped in all (${[...bundled].sort().join(', ')} bundled)`)

  // Swap the whole directory: the old one is moved aside first, then removed.
  const old = `${stage}-old`
  await rename(outdir, old).catch((e) => {
    if (e.code !== 'ENOENT') throw e
  })
  await rename(stage, outdir)
  await rm(old, { recursive: true, force: true })
} finally {
  await rm(stage, { recursive: true, force: true })
}
