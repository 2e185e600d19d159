// The SDK client's hot path (isEnabled through the client: evaluation + the
// per-variation counters reported to the server) against the bare engine, in
// the same run. Run: node --import=tsx test/bench/sdk-client.bench.ts
import { createClient } from '../../sdk/index.js'
import { compile, evaluate } from '../../sdk/core/index.js'
import { booleanFlag } from '../helpers/ruleset.js'
const ruleset = {
  specVersion: 1 as const,
  environment: 'x',
  flags: { f: booleanFlag('f', { targets: [{ variation: 0, values: ['u1'] }] }) },
  segments: {},
}
const client = createClient({
  url: 'http://127.0.0.1:1',
  token: 't',
  bootstrap: ruleset,
  streaming: false,
  sendMetrics: true,
  logger: {},
  pollIntervalMs: 1e9,
})
const c = compile(ruleset)
const ctx = { key: 'u2' }
function bench(fn: () => unknown): number {
  const N = 5_000_000
  for (let i = 0; i < 200_000; i++) fn()
  const runs: number[] = []
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now()
    for (let i = 0; i < N; i++) fn()
    runs.push(N / ((performance.now() - t0) / 1000))
  }
  return runs.sort((a, b) => a - b)[2] as number
}
const engine = bench(() => evaluate(c, 'f', ctx, false))
const sdk = bench(() => client.isEnabled('f', ctx))
console.log(`engine evaluate():      median ${(engine / 1e6).toFixed(1)} M/s`)
console.log(
  `client isEnabled():     median ${(sdk / 1e6).toFixed(1)} M/s  (${(sdk / engine).toFixed(2)} of the engine; includes the metrics counters)`,
)
await client.close()
