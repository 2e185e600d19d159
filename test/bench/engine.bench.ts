// Engine benchmark: node --expose-gc --import=tsx test/bench/engine.bench.ts
// Prints the median ops/s of each goal over several runs, the 1M-id segment's
// retained heap and ingest time, then a one-line summary table.
import { compile, evaluate, evaluateAll, type Context, type Ruleset, type RulesetFlag } from '../../sdk/core/index.js'
import { booleanFlag, mixedFlags } from '../helpers/ruleset.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 7)
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) {
  console.error('run with --expose-gc')
  process.exit(1)
}

let sink = 0

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/** Runs `body(n)` (which performs n operations) RUNS times; returns the median ops/s. */
function measure(name: string, body: (n: number) => void, n: number): number {
  body(Math.ceil(n / 10)) // warm-up: let the JIT optimise
  body(Math.ceil(n / 10))
  const rates: number[] = []
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now()
    body(n)
    const ms = performance.now() - t0
    rates.push(n / (ms / 1000))
  }
  const m = median(rates)
  console.log(
    `${name.padEnd(34)} median ${fmt(m)}/s   (min ${fmt(Math.min(...rates))}, max ${fmt(Math.max(...rates))})`,
  )
  return m
}

function fmt(x: number): string {
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0)
}

const flag = (key: string, over: Partial<RulesetFlag>): RulesetFlag =>
  booleanFlag(key, { fallthrough: { variation: 0 }, ...over })

const COUNTRIES = ['GB', 'FR', 'DE', 'US', 'ES', 'IT', 'NL', 'SE']
const PLANS = ['free', 'pro', 'team']
const N_CTX = 4096
const contexts: Context[] = []
for (let i = 0; i < N_CTX; i++) {
  contexts.push({
    key: `user-${String(i * 7).padStart(7, '0')}`,
    country: COUNTRIES[i % COUNTRIES.length],
    plan: PLANS[i % PLANS.length],
    email: `u${i}@example.${i % 3 === 0 ? 'com' : 'org'}`,
    version: `2.${i % 10}.${i % 3}`,
    age: i % 90,
  })
}
const MASK = N_CTX - 1

const whitelist = Array.from({ length: 10_000 }, (_, i) => `user-${String(i * 14).padStart(7, '0')}`)
const rollout25 = {
  rollout: {
    weights: [
      { variation: 0, weight: 25_000 },
      { variation: 1, weight: 75_000 },
    ],
  },
}
const rollout50 = {
  rollout: {
    weights: [
      { variation: 0, weight: 50_000 },
      { variation: 1, weight: 50_000 },
    ],
  },
}

const goals: { name: string; goal: number; got: number; unit: string }[] = []

// --- single-flag goals -------------------------------------------------------
{
  const rs: Ruleset = {
    specVersion: 1,
    environment: 'bench',
    segments: {},
    flags: {
      bool: flag('bool', {}),
      whitelist: flag('whitelist', { targets: [{ variation: 0, values: whitelist }], fallthrough: { variation: 1 } }),
      rollout: flag('rollout', { fallthrough: rollout25 }),
      clauses: flag('clauses', {
        rules: [
          {
            id: 'eu-pro',
            clauses: [
              { attribute: 'country', op: 'in', values: ['GB', 'FR', 'DE', 'US', 'ES', 'IT', 'NL'] },
              { attribute: 'plan', op: 'in', values: ['pro', 'team', 'free'] },
            ],
            serve: rollout50,
          },
        ],
        fallthrough: { variation: 1 },
      }),
    },
  }
  const c = compile(rs)
  const run = (key: string) => (n: number) => {
    let s = 0
    for (let i = 0; i < n; i++) if (evaluate(c, key, contexts[i & MASK]!, false) === true) s++
    sink += s
  }
  goals.push({
    name: 'boolean flag',
    goal: 30e6,
    got: measure('boolean flag', run('bool'), 30_000_000),
    unit: 'evals/s',
  })
  goals.push({
    name: '10k whitelist',
    goal: 5e6,
    got: measure('10k-id whitelist', run('whitelist'), 10_000_000),
    unit: 'evals/s',
  })
  goals.push({
    name: '25% rollout',
    goal: 3e6,
    got: measure('25% rollout', run('rollout'), 6_000_000),
    unit: 'evals/s',
  })
  goals.push({
    name: '2 clauses+rollout',
    goal: 2e6,
    got: measure('two clauses + rollout', run('clauses'), 4_000_000),
    unit: 'evals/s',
  })
}

// --- evaluateAll over a 100-flag mixed ruleset ---------------------------------
{
  const { flags, segments } = mixedFlags(100, whitelist)
  const c = compile({ specVersion: 1, environment: 'bench', flags, segments })
  const got = measure(
    'evaluateAll, 100 flags (contexts)',
    (n) => {
      let s = 0
      for (let i = 0; i < n; i++) if (evaluateAll(c, contexts[i & MASK]!)['flag-0']!.value === true) s++
      sink += s
    },
    100_000,
  )
  goals.push({ name: 'evaluateAll 100 flags', goal: 40_000, got, unit: 'contexts/s' })
}

// --- 1,000,000-id segment ------------------------------------------------------
{
  const ids = Array.from({ length: 1_000_000 }, (_, i) => `user-${String(i * 3).padStart(7, '0')}`)
  // The SDK receives the ruleset as JSON: parse it, so ids are flat strings as in production.
  let json: string = JSON.stringify({
    specVersion: 1,
    environment: 'bench',
    flags: {
      seg: flag('seg', {
        rules: [
          { id: 'big', clauses: [{ attribute: 'key', op: 'inSegment', values: ['big'] }], serve: { variation: 0 } },
        ],
        fallthrough: { variation: 1 },
      }),
    },
    segments: { big: { key: 'big', included: ids, excluded: [], rules: [], salt: 'big', version: 1 } },
  })
  ids.length = 0
  const ingests: number[] = []
  for (let r = 0; r < 4; r++) {
    const rs = JSON.parse(json) as Ruleset
    gc()
    const t0 = performance.now()
    compile(rs)
    ingests.push(performance.now() - t0)
  }
  // Retained heap: heap + typed-array stores after compile with the parsed ruleset dropped,
  // minus the same before parsing (the JSON text is alive in both).
  gc()
  gc()
  const before = process.memoryUsage()
  let rs: Ruleset | undefined = JSON.parse(json) as Ruleset
  const t0 = performance.now()
  const c = compile(rs)
  ingests.push(performance.now() - t0)
  rs = undefined
  gc()
  gc()
  const after = process.memoryUsage()
  json = ''
  const retained = after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers)
  const seg = c.segments.get('big')!
  const ingest = median(ingests)
  // Half the probes are members (ids are multiples of 3), half are not.
  const probe = contexts.map((x, i) => ({
    ...x,
    key: i % 2 === 0 ? `user-${String(i * 3).padStart(7, '0')}` : `user-${String(i * 3 + 1).padStart(7, '0')}`,
  }))
  const hits = probe.filter((x) => seg.included.has(x.key)).length
  const got = measure(
    '1M-id segment, inSegment rule',
    (n) => {
      let s = 0
      for (let i = 0; i < n; i++) if (evaluate(c, 'seg', probe[i & MASK]!, false) === true) s++
      sink += s
    },
    4_000_000,
  )
  console.log(
    `1M-id segment: ${seg.included.size} ids; probe members found ${hits}/${probe.length} (expected ${probe.length / 2}, exact)`,
  )
  console.log(`1M-id segment ingest (compile)   median ${ingest.toFixed(0)} ms over ${ingests.length} runs`)
  console.log(
    `1M-id segment retained heap      ${(retained / 1e6).toFixed(1)} MB (IdSet pool+slots ${(seg.included.byteLength / 1e6).toFixed(1)} MB)`,
  )
  goals.push({ name: '1M segment evals', goal: 2e6, got, unit: 'evals/s' })
  goals.push({ name: '1M segment heap', goal: 24, got: retained / 1e6, unit: 'MB (≤)' })
  goals.push({ name: '1M segment ingest', goal: 300, got: ingest, unit: 'ms (≤)' })
}

console.log(
  `\nsummary | ${goals.map((g) => `${g.name}: ${g.unit.startsWith('MB') || g.unit.startsWith('ms') ? g.got.toFixed(1) : fmt(g.got)} (goal ${g.unit.startsWith('MB') || g.unit.startsWith('ms') ? `≤${g.goal}` : fmt(g.goal)}, ${(g.unit.includes('≤') ? g.goal / g.got : g.got / g.goal).toFixed(2)}x)`).join(' | ')}`,
)
if (sink === -1) console.log(sink)
