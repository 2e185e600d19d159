// `npm run bench:peers` on tiny data, one scenario, nothing installed: the runner starts each harness in
// its own process, Switchyard's client, the bare engine and the plain Set pass their correctness checks
// and print their row. The peers are checked too when test/bench/peers/node_modules holds them (after a
// `npm run bench:peers`); otherwise the runner must say they are not installed, never fetch them.
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { PEERS, PKG, type Result } from '../bench/peers/adapter.js'

const root = join(import.meta.dirname, '..', '..')
const peersDir = join(root, 'test', 'bench', 'peers')

t.test('the peers runner evaluates the 10,000-id whitelist scenario (tiny) and prints the table', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sy-peers-smoke-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const json = join(dir, 'out.json')
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import=tsx', join(peersDir, 'run.ts'), '--tiny', '--no-install', '--jobs=2', 'whitelist-10k', `--json=${json}`],
    { cwd: root, timeout: 120_000, maxBuffer: 1 << 22 },
  )
  const out = JSON.parse(readFileSync(json, 'utf8')) as { results: Result[]; machine: { nproc: number } }
  t.ok(out.machine.nproc >= 1, 'names the machine')
  for (const sdk of ['client', 'engine', 'set'] as const) {
    const r = out.results.find((x) => x.sdk === sdk)
    t.ok(r?.ok, `${sdk} passed its check`)
    t.match(r?.checked ?? '', / 0 wrong/, `${sdk}: hits and misses exact`)
    t.ok((r?.median ?? 0) > 0, `${sdk} was timed`)
  }
  for (const sdk of PEERS) {
    const r = out.results.find((x) => x.sdk === sdk)
    const installed = existsSync(join(peersDir, 'node_modules', PKG[sdk] ?? '', 'package.json'))
    if (installed) t.ok(r?.ok, `${sdk} (installed) passed its check: ${r?.error ?? ''} ${r?.checked ?? ''}`)
    else t.equal(r?.error, 'not installed', `${sdk}: reported as not installed, not fetched`)
  }
  t.match(stdout, /^\| 10,000-id whitelist \| .*\|$/m, 'prints the table row')
  t.match(stdout, /load average \(1\/5\/15 min\) before [\d.]+/, 'prints the load')
})
