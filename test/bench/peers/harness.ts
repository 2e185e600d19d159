/**
 * One SDK × one scenario, in a process of its own (started by run.ts):
 *   node --expose-gc --import=tsx test/bench/peers/harness.ts <sdk> <scenario> [--tiny]
 * Builds the SDK's client from the scenario's data, checks its answers (whitelist hits and misses exact,
 * rollout shares within 5 standard deviations and at least 1.5 points), and only then times it: a
 * warm-up, then BENCH_RUNS runs (default 5) of at least BENCH_RUN_MS (default 250 ms) of CPU time each;
 * the medians per CPU second and by the wall clock.
 * `memory-1m` measures heap + ArrayBuffers after GC, from before the ids exist to after the SDK holds
 * them and the input is dropped. Prints one line `RESULT {json}`; a failed check is a result too.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Adapter, type Built, type Result, SDKS, type SdkName } from './adapter.js'
import {
  expected,
  FULL,
  type Person,
  rolloutPercent,
  SCENARIOS,
  type Scenario,
  type ScenarioName,
  scenario,
  TINY,
} from './scenarios.js'

const gc = (globalThis as { gc?: () => void }).gc
const here = import.meta.dirname

async function load(sdk: SdkName): Promise<Adapter<unknown>> {
  if (sdk === 'client' || sdk === 'engine' || sdk === 'set') {
    const ours = await import('./ours.js')
    return ours[sdk] as Adapter<unknown>
  }
  const mod = (await import(`./sdks/${sdk}.js`)) as { adapter: Adapter<unknown> }
  return mod.adapter
}

function version(pkg: string | null): string {
  if (pkg === null) return `node ${process.versions.node}`
  const file =
    pkg === '@switchyard/sdk'
      ? join(here, '..', '..', '..', 'sdk', 'package.json')
      : join(here, 'node_modules', pkg, 'package.json')
  return `${pkg}@${(JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version}`
}

const sets = (sc: Scenario) => new Map(Object.entries(sc.model.lists).map(([k, v]) => [k, new Set(v)]))

/** Compares every checked context's answer with the expected one; rollout shares per percentage. */
async function check<C>(
  sc: Scenario,
  built: Built<C>,
  ctxs: C[],
  persons: Person[],
): Promise<{ ok: boolean; text: string }> {
  const lists = sets(sc)
  const flags = sc.name === 'all-flags' ? sc.model.flags : sc.model.flags.filter((f) => f.key === sc.flag)
  let wrong = 0
  let exact = 0
  let hits = 0
  const firstWrong: string[] = []
  const shares = new Map<number, { on: number; n: number }>()
  for (let i = 0; i < persons.length; i++) {
    const p = persons[i]!
    const ctx = ctxs[i]!
    const got: Record<string, unknown> =
      sc.name === 'all-flags' ? await built.values(ctx) : { [sc.flag]: await built.isOn(sc.flag, ctx) }
    for (const f of flags) {
      const v = got[f.key]
      const want = expected(f, p, lists)
      if (typeof v !== 'boolean' || (want !== null && v !== want)) {
        wrong++
        if (firstWrong.length < 3) firstWrong.push(`${f.key} for ${p.key}: got ${String(v)}, want ${String(want)}`)
        continue
      }
      if (want !== null) {
        exact++
        if (want) hits++
        continue
      }
      const pc = rolloutPercent(f, p, lists)
      const s = shares.get(pc) ?? { on: 0, n: 0 }
      s.n++
      if (v) s.on++
      shares.set(pc, s)
    }
  }
  const parts = [`${exact} exact answers (${hits} true, ${exact - hits} false), ${wrong} wrong`]
  let ok = wrong === 0
  for (const [pc, s] of [...shares].sort((a, b) => a[0] - b[0])) {
    const p = pc / 100
    const tol = Math.max(1.5, 500 * Math.sqrt((p * (1 - p)) / s.n))
    const got = (100 * s.on) / s.n
    const inside = Math.abs(got - pc) <= tol
    ok &&= inside
    parts.push(
      `${pc} % rollout: ${got.toFixed(2)} % of ${s.n} (±${tol.toFixed(1)})${inside ? '' : ' OUT OF TOLERANCE'}`,
    )
  }
  if (firstWrong.length) parts.push(`e.g. ${firstWrong.join('; ')}`)
  return { ok, text: parts.join('; ') }
}

const RUNS = Number(process.env.BENCH_RUNS ?? 5)
const RUN_MS = Number(process.env.BENCH_RUN_MS ?? 250)

/**
 * Operations/s of `batch(n)` (which performs n operations) over RUNS runs of ≥ RUN_MS of this process's
 * CPU time (user + system) each: per CPU second, which a shared, loaded machine distorts less than the
 * wall clock, and by the wall clock. Sizing runs by CPU time keeps the sample the same on a busy machine.
 */
async function measure(batch: (n: number) => number | Promise<number>): Promise<{ wall: number[]; cpu: number[] }> {
  const cpuMs = (c0: NodeJS.CpuUsage) => {
    const c = process.cpuUsage(c0)
    return (c.user + c.system) / 1000
  }
  // Calibrate (and warm up): double n until one batch takes ≥ RUN_MS / 8 of CPU.
  let n = 1
  for (;;) {
    const c0 = process.cpuUsage()
    await batch(n)
    const ms = cpuMs(c0)
    if (ms >= RUN_MS / 8) {
      n = Math.max(1, Math.ceil((n * RUN_MS) / ms))
      break
    }
    n *= 2
  }
  await batch(n)
  const wall: number[] = []
  const cpu: number[] = []
  for (let r = 0; r < RUNS; r++) {
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    sink += await batch(n)
    wall.push(n / ((performance.now() - t0) / 1000))
    cpu.push(n / (cpuMs(c0) / 1000))
  }
  return { wall, cpu }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

let sink = 0

function timedBatch<C>(sc: Scenario, built: Built<C>, ctxs: C[]): (n: number) => number | Promise<number> {
  const mask = ctxs.length - 1
  const flag = sc.flag
  if (built.async) {
    const { isOn, all } = built
    return sc.name === 'all-flags'
      ? async (n) => {
          let s = 0
          for (let i = 0; i < n; i++) if ((await all(ctxs[i & mask]!)) !== null) s++
          return s
        }
      : async (n) => {
          let s = 0
          for (let i = 0; i < n; i++) if (await isOn(flag, ctxs[i & mask]!)) s++
          return s
        }
  }
  const { isOn, all } = built
  return sc.name === 'all-flags'
    ? (n) => {
        let s = 0
        for (let i = 0; i < n; i++) if (all(ctxs[i & mask]!) !== null) s++
        return s
      }
    : (n) => {
        let s = 0
        for (let i = 0; i < n; i++) if (isOn(flag, ctxs[i & mask]!)) s++
        return s
      }
}

/** Closing is not awaited: some clients wait for a connection that, offline, never comes; the process exits next. */
function closeQuietly(built: { close?(): unknown }): void {
  Promise.resolve(built.close?.()).catch(() => {})
}

async function settle(): Promise<number> {
  await new Promise<void>((r) => setImmediate(r))
  gc!()
  gc!()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

async function speed(sdk: SdkName, name: ScenarioName, adapter: Adapter<unknown>, tiny: boolean): Promise<Result> {
  const sc = scenario(name, tiny ? TINY : FULL)
  const built = await adapter.build(sc.model)
  const base = { sdk, scenario: name, title: adapter.title, version: version(adapter.pkg), form: built.form ?? '' }
  const checked = await check(sc, built, sc.checked.map(adapter.context), sc.checked)
  if (!checked.ok) return { ...base, ok: false, error: 'correctness check failed', checked: checked.text }
  const runs = await measure(timedBatch(sc, built, sc.timed.map(adapter.context)))
  closeQuietly(built)
  return {
    ...base,
    ok: true,
    checked: checked.text,
    unit: name === 'all-flags' ? 'contexts/s' : 'evals/s',
    median: median(runs.wall),
    cpuMedian: median(runs.cpu),
    runs: runs.wall,
    cpuRuns: runs.cpu,
  }
}

async function memory(sdk: SdkName, adapter: Adapter<unknown>, tiny: boolean): Promise<Result> {
  const sizes = tiny ? TINY : FULL
  // The probes first (their list is garbage by the baseline), then the data the SDK gets.
  const checked0 = scenario('memory-1m', sizes).checked
  const ctxs = checked0.map(adapter.context)
  const before = await settle()
  let sc: Scenario | null = scenario('memory-1m', sizes)
  const t0 = performance.now()
  const built = await adapter.build(sc.model)
  const ingestMs = performance.now() - t0
  sc = null
  const retained = (await settle()) - before
  const base = { sdk, scenario: 'memory-1m' as const, title: adapter.title, version: version(adapter.pkg) }
  // The check regenerates the same seeded list after the measurement, so it is not counted.
  const checked = await check(scenario('memory-1m', sizes), built, ctxs, checked0)
  closeQuietly(built)
  if (!checked.ok) return { ...base, ok: false, error: 'correctness check failed', checked: checked.text }
  return {
    ...base,
    ok: true,
    form: built.form ?? '',
    checked: checked.text,
    unit: 'bytes',
    median: retained,
    cpuMedian: retained,
    ingestMs,
  }
}

const [sdkArg, scenarioArg] = process.argv.slice(2)
const tiny = process.argv.includes('--tiny')
if (!SDKS.includes(sdkArg as SdkName) || !SCENARIOS.includes(scenarioArg as ScenarioName)) {
  console.error(`usage: harness.ts <${SDKS.join('|')}> <${SCENARIOS.join('|')}> [--tiny]`)
  process.exit(2)
}
if (!gc) throw new Error('run with --expose-gc')
const sdk = sdkArg as SdkName
const name = scenarioArg as ScenarioName
const adapter = await load(sdk)
const result = name === 'memory-1m' ? await memory(sdk, adapter, tiny) : await speed(sdk, name, adapter, tiny)
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
if (sink === -1) console.log(sink)
// Some SDKs keep timers or sockets of their own; the measurement is done.
process.exit(0)
