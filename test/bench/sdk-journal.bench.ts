// Last-known-good with a 1,000,000-id segment: the CPU a server-mode client spends per stream
// delta (one id added) with `fileStorage` on, the save included (each delta saved on its own: the
// debounce timer is fired by hand), and the file's size afterwards.
// Run: npm run bench -- sdk-journal   (BENCH_IDS changes the segment size)
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '../../sdk/index.js'
import { fileStorage } from '../../sdk/node-storage.js'
import { booleanFlag } from '../helpers/ruleset.js'

const n = Number(process.env.BENCH_IDS ?? 1_000_000)
const DELTAS = 20
const dir = mkdtempSync(join(tmpdir(), 'sy-journal-'))
const path = join(dir, 'lkg.json')

const included = Array.from({ length: n }, (_, i) => `user-${(i * 7919).toString(36).padStart(13, '0')}`)
const put = JSON.stringify({
  specVersion: 1,
  environment: 'production',
  flags: {
    gate: booleanFlag('gate', {
      rules: [{ id: 'r', clauses: [{ attribute: 'key', op: 'inSegment', values: ['big'] }], serve: { variation: 0 } }],
    }),
  },
  segments: { big: { key: 'big', included, excluded: [], rules: [], salt: 'big', version: 1 } },
})
included.length = 0

// The stream: the put, then whatever `push` sends.
const enc = new TextEncoder()
let ctrl: ReadableStreamDefaultController<Uint8Array> | null = null
const body = new ReadableStream<Uint8Array>({
  start(c) {
    ctrl = c
    c.enqueue(enc.encode(`event: put\nid: 1-0\ndata: ${put}\n\n`))
  },
})
const push = (event: string, data: unknown, id: string) =>
  ctrl?.enqueue(enc.encode(`event: ${event}\nid: ${id}\ndata: ${JSON.stringify(data)}\n\n`))

// Timers by hand: the save debounce fires when the bench says so.
const due = new Map<number, () => void>()
let seq = 0
const client = createClient({
  url: 'http://127.0.0.1:9',
  token: 't',
  sendMetrics: false,
  logger: {},
  storage: fileStorage(path),
  fetch: async () => new Response(body, { headers: { 'content-type': 'text/event-stream' } }),
  timers: {
    setTimeout: (fn) => {
      due.set(++seq, fn)
      return seq
    },
    clearTimeout: (h) => {
      due.delete(h as number)
    },
  },
})
await client.ready()
const until = async (ok: () => boolean) => {
  while (!ok()) await new Promise<void>((r) => setImmediate(r))
}
/** Fires pending timers (the save debounce among them) and waits until the file changed. */
async function flush(): Promise<void> {
  const before = statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? -1
  for (const [h, fn] of [...due]) {
    due.delete(h)
    fn()
  }
  await until(() => (statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? -1) !== before)
}
await flush() // the first save (a full snapshot either way)
const firstSize = statSync(path).size
const perDelta: number[] = []
for (let i = 0; i < DELTAS; i++) {
  const id = `${i + 2}-0`
  const c0 = process.cpuUsage()
  push('segment-delta', { key: 'big', list: 'included', add: [`new-${i}`], remove: [], version: i + 2 }, id)
  await until(() => client.appliedId === id)
  await flush()
  const c = process.cpuUsage(c0)
  perDelta.push((c.user + c.system) / 1000)
}
perDelta.sort((a, b) => a - b)
const ok = client.isEnabled('gate', { key: `new-${DELTAS - 1}` })
await client.close()
console.log(
  `1 id added to a ${n}-id segment, file cache on: CPU per delta (apply + save) median ${perDelta[DELTAS >> 1]!.toFixed(1)} ms (min ${perDelta[0]!.toFixed(1)}, max ${perDelta[DELTAS - 1]!.toFixed(1)}) over ${DELTAS} deltas`,
)
console.log(
  `cache file: ${(firstSize / 1e6).toFixed(1)} MB after the first save, ${(statSync(path).size / 1e6).toFixed(1)} MB after ${DELTAS} deltas; last delta applied: ${ok}`,
)
rmSync(dir, { recursive: true, force: true })
