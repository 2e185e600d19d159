/**
 * Child process of the retained-heap test (run with `node --expose-gc --import=tsx`):
 * builds a ruleset with one segment of N random ids and measures the heap
 * retained by the bare engine, then by a server-mode client that got it as
 * `bootstrap` (and whether that document was collected), from a stream `put`,
 * and from its last-known-good text. Prints JSON.
 */
import { compile } from '../../sdk/core/index.js'
import { createClient } from '../../sdk/index.js'
import { memoryStorage } from '../../sdk/storage.js'
import type { ClientOptions, Ruleset, SwitchyardClient } from '../../sdk/types.js'
import { bigSegmentRuleset, settle } from './big-segment.js'

const n = Number(process.argv[2] ?? 1_000_000)
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with --expose-gc')

function bigRuleset(): Ruleset {
  const included: string[] = new Array(n)
  for (let i = 0; i < n; i++) included[i] = `u-${Math.random().toString(36).slice(2, 12)}`
  return bigSegmentRuleset(included)
}

const base = await settle()
let engine: unknown = compile(bigRuleset())
const engineBytes = (await settle()) - base
engine = null
const base2 = await settle()

// No network and no timers: only what each client holds is measured.
const offline: ClientOptions = {
  url: 'http://127.0.0.1:9',
  token: 't',
  sendMetrics: false,
  logger: {},
  fetch: () => new Promise<Response>(() => {}),
  timers: { setTimeout: () => 0, clearTimeout: () => {} },
}

let ref: WeakRef<object> | null = null
let client: SwitchyardClient | null = (() => {
  const bootstrap = bigRuleset()
  ref = new WeakRef(bootstrap)
  return createClient({ ...offline, bootstrap })
})()
const clientBytes = (await settle()) - base2
const collected = (ref as WeakRef<object> | null)?.deref() === undefined
const probe = client.isEnabled('gate', { key: 'nobody' })
await client.close()
client = null

// The same ruleset as a stream `put` whose stream then stays open.
const base3 = await settle()
const saved = memoryStorage()
client = (() => {
  let frame: Uint8Array | null = new TextEncoder().encode(
    `retry: 1000\n\nevent: put\nid: 1732262400000-0\ndata: ${JSON.stringify(bigRuleset())}\n\n`,
  )
  const body = new ReadableStream<Uint8Array>({
    pull(ctrl) {
      if (frame) ctrl.enqueue(frame)
      frame = null
    },
  })
  return createClient({
    ...offline,
    storage: saved,
    fetch: async () => new Response(body, { headers: { 'content-type': 'text/event-stream' } }),
  })
})()
await client.ready()
const putBytes = (await settle()) - base3
await client.close() // writes the last-known-good text into `saved`
client = null

// The same ruleset from last-known-good text, handed over once.
let text = saved.value
saved.value = null
client = createClient({
  ...offline,
  storage: {
    load: async () => {
      const t = text
      text = null
      return t
    },
    save: () => {},
  },
})
while (client.source !== 'cache') await new Promise<void>((r) => setImmediate(r))
const cacheBytes = (await settle()) - base3
process.stdout.write(
  `${JSON.stringify({ n, engineBytes, clientBytes, collected, putBytes, cacheBytes, probe, engine: engine === null })}\n`,
)
