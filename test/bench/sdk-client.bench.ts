// The SDK client's hot paths against the bare engine, in the same run: isEnabled / variation through
// the client (evaluation + the per-variation counters reported to the server) and allFlags, for the
// scenarios of issue 12's goals, and a plain JS Set lookup for the whitelist goal. Rates are per CPU
// second (user time of this process; the machine is shared), medians of 5.
// Run: npm run bench -- sdk-client
import { createClient } from '../../sdk/index.js'
import { compile, evaluate, evaluateAll, type Context, type Ruleset } from '../../sdk/core/index.js'
import { benchContexts, booleanFlag, mixedFlags } from '../helpers/ruleset.js'

const contexts: Context[] = benchContexts(4096)
const MASK = 4095
const whitelist = Array.from({ length: 10_000 }, (_, i) => `user-${String(i * 14).padStart(7, '0')}`)
const single: Ruleset = {
  specVersion: 1,
  environment: 'x',
  segments: {},
  flags: {
    bool: booleanFlag('bool', { fallthrough: { variation: 0 } }),
    targeted: booleanFlag('targeted', { targets: [{ variation: 0, values: ['u1'] }] }),
    whitelist: booleanFlag('whitelist', { targets: [{ variation: 0, values: whitelist }] }),
    clauses: booleanFlag('clauses', {
      rules: [
        {
          id: 'eu-pro',
          clauses: [
            { attribute: 'country', op: 'in', values: ['GB', 'FR', 'DE', 'US', 'ES', 'IT', 'NL'] },
            { attribute: 'plan', op: 'in', values: ['pro', 'team', 'free'] },
          ],
          serve: {
            rollout: {
              weights: [
                { variation: 0, weight: 10_000 },
                { variation: 1, weight: 90_000 },
              ],
            },
          },
        },
      ],
    }),
  },
}
const all: Ruleset = { specVersion: 1, environment: 'x', ...mixedFlags(100, whitelist) }

const client = createClient({
  url: 'http://127.0.0.1:1',
  token: 't',
  bootstrap: single,
  streaming: false,
  sendMetrics: true,
  logger: {},
  pollIntervalMs: 1e9,
})
const allClient = createClient({
  url: 'http://127.0.0.1:1',
  token: 't',
  bootstrap: all,
  streaming: false,
  sendMetrics: true,
  logger: {},
  pollIntervalMs: 1e9,
})
const c = compile(single)
const ca = compile(all)
let sink = 0

/** Median operations per CPU second of `body(n)` (n operations) over 5 runs, after a warm-up. */
function rate(body: (n: number) => number, n: number): number {
  sink += body(Math.ceil(n / 10))
  const runs: number[] = []
  for (let r = 0; r < 5; r++) {
    const c0 = process.cpuUsage()
    sink += body(n)
    runs.push(n / (process.cpuUsage(c0).user / 1e6))
  }
  return runs.sort((a, b) => a - b)[2] as number
}
const engineLoop = (key: string) => (n: number) => {
  let s = 0
  for (let i = 0; i < n; i++) if (evaluate(c, key, contexts[i & MASK]!, false) === true) s++
  return s
}
const clientLoop = (key: string) => (n: number) => {
  let s = 0
  for (let i = 0; i < n; i++) if (client.isEnabled(key, contexts[i & MASK]!)) s++
  return s
}
const fmt = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(1)} M` : `${(x / 1e3).toFixed(1)} k`)

console.log('scenario (per CPU s)          engine       client     client/engine   goal')
const goals: Record<string, string> = {
  bool: '≥ 55 M/s (5× flagd-core 11.1 M/s)',
  targeted: '—',
  whitelist: '≥ 0.5× a Set',
  clauses: '≥ 10 M/s (5× flagd-core 2.0 M/s)',
}
for (const key of ['bool', 'targeted', 'whitelist', 'clauses']) {
  const n = key === 'bool' ? 20_000_000 : 5_000_000
  const e = rate(engineLoop(key), n)
  const k = rate(clientLoop(key), n)
  console.log(
    `${key.padEnd(28)} ${`${fmt(e)}/s`.padStart(10)} ${`${fmt(k)}/s`.padStart(12)}   ${(k / e).toFixed(2).padStart(8)}        ${goals[key]}`,
  )
  if (key === 'whitelist') {
    // The plain Set the goal compares with: a lookup of the same keys (no evaluation around it).
    const set = new Set(whitelist)
    const s = rate((n) => {
      let h = 0
      for (let i = 0; i < n; i++) if (set.has(contexts[i & MASK]!.key as string)) h++
      return h
    }, n)
    console.log(`${'  a plain Set.has'.padEnd(28)} ${`${fmt(s)}/s`.padStart(10)}   client/Set ${(k / s).toFixed(2)}`)
  }
}
const eAll = rate((n) => {
  let s = 0
  for (let i = 0; i < n; i++) if (evaluateAll(ca, contexts[i & MASK]!)['flag-0']!.value === true) s++
  return s
}, 100_000)
const kAll = rate((n) => {
  let s = 0
  for (let i = 0; i < n; i++) if (allClient.allFlags(contexts[i & MASK]!)['flag-0'] === true) s++
  return s
}, 100_000)
console.log(
  `${'all 100 flags (contexts)'.padEnd(28)} ${`${fmt(eAll)}/s`.padStart(10)} ${`${fmt(kAll)}/s`.padStart(12)}   ${(kAll / eAll).toFixed(2).padStart(8)}        ≥ 100 k/s through the client`,
)
await client.close()
await allClient.close()
if (sink === -1) console.log(sink)
