/**
 * Child process of the retained-heap test (run with `node --expose-gc --import=tsx`):
 * builds a ruleset with one segment of N random ids, measures the heap the bare
 * engine retains for it, then the heap a server-mode client bootstrapped with it
 * retains, and whether the bootstrap document itself was collected. Prints JSON.
 */
import { compile } from '../../sdk/core/index.js'
import { createClient } from '../../sdk/index.js'
import type { Ruleset } from '../../sdk/types.js'
import { booleanFlag } from './ruleset.js'

const n = Number(process.argv[2] ?? 1_000_000)
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with --expose-gc')

function bigRuleset(): Ruleset {
  const included: string[] = new Array(n)
  for (let i = 0; i < n; i++) included[i] = `u-${Math.random().toString(36).slice(2, 12)}`
  return {
    specVersion: 1,
    environment: 'production',
    flags: { gate: booleanFlag('gate', { rules: [{ id: 'r', clauses: [{ attribute: 'key', op: 'inSegment', values: ['big'] }], serve: { variation: 0 } }] }) },
    segments: { big: { key: 'big', included, excluded: [], rules: [], salt: 'big', version: 1 } },
  }
}

/** Full collections after the current job, so WeakRef targets of this job can go too. */
async function settle(): Promise<number> {
  await new Promise<void>((r) => setImmediate(r))
  gc!()
  gc!()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

const base = await settle()
let engine: unknown = compile(bigRuleset())
const engineBytes = (await settle()) - base
engine = null
const base2 = await settle()

let ref: WeakRef<object> | null = null
const client = (() => {
  const bootstrap = bigRuleset()
  ref = new WeakRef(bootstrap)
  return createClient({
    url: 'http://127.0.0.1:9',
    token: 't',
    bootstrap,
    sendMetrics: false,
    logger: {},
    // No network and no timers: only what the client holds is measured.
    fetch: () => new Promise<Response>(() => {}),
    timers: { setTimeout: () => 0, clearTimeout: () => {} },
  })
})()
const clientBytes = (await settle()) - base2
const collected = (ref as WeakRef<object> | null)?.deref() === undefined
const probe = client.isEnabled('gate', { key: 'nobody' })
process.stdout.write(JSON.stringify({ n, engineBytes, clientBytes, collected, probe, engine: engine === null }) + '\n')
