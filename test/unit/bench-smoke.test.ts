// Every benchmark harness in test/bench/*.bench.ts starts: its imports resolve and its set-up runs
// without an error. Benchmarks are not tests (CI does not time them), and most need minutes at full
// size, so each runs with the small knobs it has (BENCH_IDS, BENCH_RUNS, --quick) only until it prints
// its first line, exits 0, or has run for WINDOW_MS without a failure; then its whole process group
// (redis-server, API and Prometheus children included) is stopped. A harness that exits non-zero fails.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'

const benchDir = join(import.meta.dirname, '..', 'bench')
const files = readdirSync(benchDir)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort()
const WINDOW_MS = 8000

type Outcome = { how: 'printed' | 'exited 0' | 'still running'; line?: string } | { how: 'failed'; why: string }

function stopGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  const gone = new Promise<void>((r) => child.once('exit', () => r()))
  try {
    // The harness leads its own process group (detached), so its servers go with it.
    process.kill(-child.pid!, 'SIGKILL')
  } catch {
    // already gone
  }
  return gone
}

function start(file: string, tmp: string): Promise<Outcome> {
  const child = spawn(process.execPath, ['--expose-gc', '--import=tsx', join(benchDir, file), '--quick'], {
    cwd: join(benchDir, '..', '..'),
    // TMPDIR: whatever the harness makes under os.tmpdir() is removed with the test's own directory.
    env: { ...process.env, BENCH_IDS: '2000', BENCH_RUNS: '1', TMPDIR: tmp },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  let err = ''
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString()
  })
  return new Promise<Outcome>((resolve) => {
    let out = ''
    const done = (o: Outcome) => {
      clearTimeout(timer)
      void stopGroup(child).then(() => resolve(o))
    }
    const timer = setTimeout(() => done({ how: 'still running' }), WINDOW_MS)
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const line = out.split('\n').find((l) => l.trim() !== '')
      if (line !== undefined && out.includes('\n')) done({ how: 'printed', line })
    })
    child.once('exit', (code, signal) => {
      if (code === 0) done({ how: 'exited 0' })
      else if (signal !== 'SIGKILL')
        done({
          how: 'failed',
          why: `exit ${code ?? signal}: ${err.split('\n').find((l) => /Error/.test(l)) ?? err.slice(-300)}`,
        })
    })
  })
}

t.test('each benchmark harness starts', async (t) => {
  t.ok(files.length >= 8, `found ${files.length} harnesses`)
  const tmp = mkdtempSync(join(tmpdir(), 'sy-bench-smoke-'))
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
  // Two at a time: the machine has two cores, and each harness is busy from its first line.
  const outcomes = new Map<string, Outcome>()
  const queue = [...files]
  await Promise.all(
    [0, 1].map(async () => {
      for (let f = queue.shift(); f !== undefined; f = queue.shift()) outcomes.set(f, await start(f, tmp))
    }),
  )
  for (const f of files) {
    const o = outcomes.get(f)!
    if (o.how === 'failed') t.fail(`${f} failed: ${o.why}`)
    else t.pass(`${f}: ${o.how}${o.line ? ` (“${o.line.trim().slice(0, 80)}”)` : ''}`)
  }
})
