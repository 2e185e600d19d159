/**
 * `npm run bench:peers [-- <filter>…] [--tiny] [--no-install] [--jobs=N] [--json=<file>]`
 *
 * Switchyard's client and bare engine side by side with other JavaScript SDKs, offline, on the same
 * seeded data: installs the peers pinned in test/bench/peers/package-lock.json into this folder (their
 * own package.json; not dependencies of Switchyard), type-checks their adapters against what was
 * installed, then runs every SDK × scenario in a process of its own (harness.ts: correctness check
 * first, then the timed runs) and prints one table of medians with ratios to the fastest peer of the same
 * run, the machine and its load. A filter keeps the scenarios and/or SDKs whose name contains it
 * (`-- 1m`, `-- launchdarkly boolean`). `--tiny` runs the same code on tiny data (the smoke test);
 * `--no-install` uses only what is installed (peers that are not are listed as such); `--jobs=N` runs N
 * cells at a time (only for the smoke test: parallel cells share the cores, so their timings mean nothing).
 * With one cell at a time on Linux, each cell is pinned to the last CPU (`taskset`; `BENCH_PIN=0` to
 * leave it to the scheduler): a process free to move between cores ran the same cell at 3.4 or 6.3 M/s
 * from one process to the next (two clauses + rollout), pinned 6.0–7.2 M/s.
 */
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { availableParallelism, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import { PEERS, PKG, type Result, SDKS, type SdkName } from './adapter.js'
import { SCENARIOS, type ScenarioName, TITLES } from './scenarios.js'

const here = import.meta.dirname
const root = join(here, '..', '..', '..')
const args = process.argv.slice(2)
const tiny = args.includes('--tiny')
const noInstall = args.includes('--no-install')
const jsonOut = args.find((a) => a.startsWith('--json='))?.slice('--json='.length)
/** Cells at a time; more than 1 only where timings do not matter (the smoke test's tiny run). */
const jobs = Math.max(1, Number(args.find((a) => a.startsWith('--jobs='))?.slice('--jobs='.length) ?? 1))
const filters = args.filter((a) => !a.startsWith('--'))

/** The Set reference only answers list membership. */
const SUPPORTS = (sdk: SdkName, s: ScenarioName) =>
  sdk !== 'set' || s === 'whitelist-10k' || s === 'whitelist-1m' || s === 'memory-1m'
const TITLE: Record<SdkName, string> = {
  unleash: 'Unleash',
  launchdarkly: 'LaunchDarkly',
  growthbook: 'GrowthBook',
  flagd: 'flagd-core',
  client: 'Switchyard client',
  engine: 'bare engine',
  set: 'plain `Set`',
}

function select<T extends string>(all: readonly T[]): { picked: T[]; used: Set<string> } {
  const used = new Set<string>()
  const picked = all.filter((x) => {
    const hit = filters.filter((f) => x.includes(f))
    for (const f of hit) used.add(f)
    return hit.length > 0
  })
  return { picked, used }
}
const sc = select(SCENARIOS)
const sd = select(SDKS)
const unknown = filters.filter((f) => !sc.used.has(f) && !sd.used.has(f))
if (unknown.length) {
  console.error(
    `no scenario or SDK matches ${unknown.join(', ')}; scenarios: ${SCENARIOS.join(', ')}; SDKs: ${SDKS.join(', ')}`,
  )
  process.exit(2)
}
const scenarios = sc.picked.length ? sc.picked : [...SCENARIOS]
const sdks = sd.picked.length ? sd.picked : [...SDKS]

const installed = (sdk: SdkName) =>
  !PEERS.includes(sdk) || existsSync(join(here, 'node_modules', PKG[sdk]!, 'package.json'))

if (!noInstall && sdks.some((s) => PEERS.includes(s))) {
  const stamp = join(here, 'node_modules', '.package-lock.json')
  if (!existsSync(stamp) || statSync(stamp).mtimeMs < statSync(join(here, 'package-lock.json')).mtimeMs) {
    console.log('installing the peers (npm ci in test/bench/peers) …')
    execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: here, stdio: 'inherit' })
  }
  if (!tiny) {
    // The adapters are outside the project's tsc run (their packages live only here): check them now.
    console.log('type-checking the peer adapters against the installed SDKs …')
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', here], {
      stdio: 'inherit',
    })
  }
}

function cpuModel(): string {
  try {
    return /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? 'unknown'
  } catch {
    return 'unknown'
  }
}
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' / ')
const machine = {
  nproc: availableParallelism(),
  cpu: cpuModel(),
  memGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  started: new Date().toISOString(),
  loadBefore: load(),
  loadAfter: '',
  runs: Number(process.env.BENCH_RUNS ?? (tiny ? 1 : 5)),
  runMs: Number(process.env.BENCH_RUN_MS ?? (tiny ? 20 : 250)),
}
console.log(
  `machine: ${machine.nproc} × ${machine.cpu}, ${machine.memGiB} GiB, Node ${machine.node}; load average (1/5/15 min) before: ${machine.loadBefore}`,
)

const CELL_TIMEOUT_MS = Number(process.env.BENCH_CELL_TIMEOUT_S ?? (tiny ? 60 : 300)) * 1000

/** The CPU every cell runs on, or null (not Linux, no taskset, parallel cells, or BENCH_PIN=0). */
function pinCpu(): string | null {
  if (jobs > 1 || process.platform !== 'linux' || process.env.BENCH_PIN === '0') return null
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' })
  } catch {
    return null
  }
  return String(machine.nproc - 1)
}
const pinned = pinCpu()

function runCell(sdk: SdkName, scenario: ScenarioName): Promise<Result> {
  const fail = (error: string): Result => ({ sdk, scenario, title: TITLE[sdk], version: '', ok: false, error })
  if (!installed(sdk)) return Promise.resolve(fail('not installed'))
  return new Promise((resolve) => {
    const cmd = [
      process.execPath,
      '--expose-gc',
      '--import=tsx',
      join(here, 'harness.ts'),
      sdk,
      scenario,
      ...(tiny ? ['--tiny'] : []),
    ]
    const [file, ...argv] = pinned === null ? cmd : ['taskset', '-c', pinned, ...cmd]
    const child = spawn(file as string, argv, {
      cwd: root,
      env: { ...process.env, BENCH_RUNS: String(machine.runs), BENCH_RUN_MS: String(machine.runMs) },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString()
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), CELL_TIMEOUT_MS)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const line = out.split('\n').find((l) => l.startsWith('RESULT '))
      if (line) return resolve(JSON.parse(line.slice('RESULT '.length)) as Result)
      const why = signal === 'SIGKILL' ? `timed out after ${CELL_TIMEOUT_MS / 1000} s` : `exit code ${code}`
      const last = err.trim().split('\n').filter(Boolean).slice(-1)[0] ?? ''
      resolve(fail(`${why}${last ? `: ${last.slice(0, 200)}` : ''}`))
    })
  })
}

const fmtRate = (x: number) =>
  x >= 1e6
    ? `${(x / 1e6).toFixed(1)} M`
    : x >= 1e3
      ? `${(x / 1e3).toFixed(1)} k`
      : x >= 10
        ? x.toFixed(0)
        : x.toFixed(1)
type Field = 'median' | 'cpuMedian'
const fmtValue = (r: Result, field: Field = 'median') =>
  r.unit === 'bytes' ? `${((r[field] ?? 0) / 1e6).toFixed(1)} MB` : `${fmtRate(r[field] ?? 0)}/s`

const cells = scenarios.flatMap((s) => sdks.filter((sdk) => SUPPORTS(sdk, s)).map((sdk) => ({ s, sdk })))
const results: Result[] = new Array(cells.length)
const t0 = performance.now()
let next = 0
await Promise.all(
  Array.from({ length: jobs }, async () => {
    for (let i = next++; i < cells.length; i = next++) {
      const { s, sdk } = cells[i]!
      const r = await runCell(sdk, s)
      results[i] = r
      console.log(
        `  ${s.padEnd(14)} ${sdk.padEnd(13)} ${r.ok ? `${fmtValue(r, 'cpuMedian').padStart(12)} per CPU s ${fmtValue(r).padStart(12)} wall` : `FAILED: ${r.error}`}${r.ok && r.ingestMs !== undefined ? `  (ingest ${r.ingestMs.toFixed(0)} ms)` : ''}`,
      )
    }
  }),
)
machine.loadAfter = load()
const minutes = (performance.now() - t0) / 60_000

// One row per scenario; each cell the median and its ratio to the best peer of this run.
const cols = sdks
const get = (s: ScenarioName, sdk: SdkName) => results.find((r) => r.scenario === s && r.sdk === sdk)
function table(field: Field): string {
  const lines: string[] = []
  lines.push(`| scenario | ${cols.map((c) => TITLE[c]).join(' | ')} |`)
  lines.push(`|---|${cols.map(() => '---').join('|')}|`)
  for (const s of scenarios) {
    const peers = PEERS.map((p) => get(s, p)).filter((r): r is Result => r?.ok === true)
    const memory = s === 'memory-1m'
    const best = peers.length ? (memory ? Math.min : Math.max)(...peers.map((r) => r[field] ?? 0)) : Number.NaN
    const cells = cols.map((c) => {
      const r = SUPPORTS(c, s) ? get(s, c) : undefined
      if (!r) return '—'
      if (!r.ok) return r.error === 'not installed' ? 'not installed' : '**failed**'
      const ratio = (r[field] ?? 0) / best
      return Number.isFinite(ratio) ? `${fmtValue(r, field)} (${ratio.toFixed(2)}×)` : fmtValue(r, field)
    })
    const unit = memory ? ' (× the smallest peer; lower is better)' : s === 'all-flags' ? ' (contexts/s)' : ''
    lines.push(`| ${TITLES[s]}${unit} | ${cells.join(' | ')} |`)
  }
  return lines.join('\n')
}

const notes: string[] = []
const clientWl = get('whitelist-10k', 'client')
const setWl = get('whitelist-10k', 'set')
if (clientWl?.ok && setWl?.ok)
  notes.push(
    `Switchyard client / plain Set on the 10,000-id whitelist, same run: ${((clientWl.cpuMedian ?? 0) / (setWl.cpuMedian ?? 1)).toFixed(2)}× per CPU second, ${((clientWl.median ?? 0) / (setWl.median ?? 1)).toFixed(2)}× wall`,
  )
for (const sdk of cols) {
  const forms = [...new Set(results.flatMap((r) => (r.sdk === sdk && r.form ? r.form.split('; ') : [])))]
  const version = results.find((r) => r.sdk === sdk && r.version)?.version
  if (version) notes.push(`${TITLE[sdk]} (${version}): ${forms.join('; ')}`)
}
for (const r of results.filter((x) => !x.ok))
  notes.push(`FAILED ${r.sdk} × ${r.scenario}: ${r.error}${r.checked ? ` (${r.checked})` : ''}`)

console.log(
  `\nPer CPU second of the process (user + system; ratios to the fastest peer, memory to the smallest):\n\n${table('cpuMedian')}\n`,
)
console.log(`By the wall clock:\n\n${table('median')}\n`)
for (const n of notes) console.log(`- ${n}`)
console.log(
  `\n${tiny ? 'TINY data (smoke run), ' : ''}medians of ${machine.runs} runs of ≥ ${machine.runMs} ms of CPU time per cell (memory: one measurement), each SDK × scenario in its own process; ratios to the fastest peer (memory: the smallest) of this run.`,
)
console.log(
  `machine: ${machine.nproc} × ${machine.cpu}; load average (1/5/15 min) before ${machine.loadBefore}, after ${machine.loadAfter}; ${minutes.toFixed(1)} min; ${pinned === null ? 'cells not pinned' : `every cell pinned to CPU ${pinned}`}`,
)
if (jsonOut) writeFileSync(jsonOut, `${JSON.stringify({ machine, tiny, results }, null, 2)}\n`)
// Our own harnesses must pass; a peer that fails its check is a finding, reported above.
process.exit(results.some((r) => !PEERS.includes(r.sdk) && !r.ok) ? 1 : 0)
