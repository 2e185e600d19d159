// A 1,000,000-id segment of random 18-character ids through the SDK client, for each way the data
// arrives (bootstrap, a stream put, last-known-good text) and the bare engine: retained heap +
// ArrayBuffers after GC, peak RSS growth, ingest time and evaluations/s (hits and misses checked).
// Each path runs in its own process (test/helpers/sdk-memory-path.ts), so peaks do not mix.
// Run: npm run bench -- sdk-memory   (BENCH_IDS / BENCH_ID_LENGTH change the data, BENCH_RUNS the repeats)
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

const n = process.env.BENCH_IDS ?? '1000000'
const len = process.env.BENCH_ID_LENGTH ?? '18'
const helper = join(import.meta.dirname, '..', 'helpers', 'sdk-memory-path.ts')
const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`
console.log(
  `segment of ${n} random ${len}-character ids ([0-9a-z]); goals: retained ≤ 20 MB, ≥ 2 M evals/s, ingest ≤ 300 ms`,
)
// The machine is shared: CPU time (user + system of this process) is shown next to wall time, and each
// path runs BENCH_RUNS times (fresh processes): medians, with the range of the ingest CPU time.
const runs = Math.max(1, Number(process.env.BENCH_RUNS ?? 3))
interface PathResult {
  retained: number
  peak: number
  ingestMs: number
  ingestCpuMs: number
  evalsPerSec: number
  evalsPerCpuSec: number
  wrong: number
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
console.log(
  `path        retained   peak RSS   ingest wall / CPU (CPU range of ${runs})   evals/s wall / per CPU s   wrong answers`,
)
for (const path of ['engine', 'bootstrap', 'put', 'cache']) {
  const rs: PathResult[] = []
  for (let i = 0; i < runs; i++) {
    const out = execFileSync(process.execPath, ['--expose-gc', '--import=tsx', helper, path, n, len], {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    })
    rs.push(JSON.parse(out) as PathResult)
  }
  const m = (k: keyof PathResult): number => median(rs.map((r) => r[k]))
  const cpu = rs.map((r) => r.ingestCpuMs)
  const e = (x: number) => `${(x / 1e6).toFixed(2)} M`
  const ingest = `${m('ingestMs').toFixed(0)} / ${m('ingestCpuMs').toFixed(0)} ms (${Math.min(...cpu).toFixed(0)}–${Math.max(...cpu).toFixed(0)})`
  console.log(
    `${path.padEnd(11)} ${mb(m('retained')).padStart(8)} ${mb(m('peak')).padStart(10)}   ${ingest.padStart(31)}   ${`${e(m('evalsPerSec'))} / ${e(m('evalsPerCpuSec'))}`.padStart(20)}     ${rs.reduce((w, r) => w + r.wrong, 0)}`,
  )
}
