/**
 * Child process of test/bench/sdk-memory.bench.ts (run with `node --expose-gc --import=tsx`):
 * one way a server-mode client gets a ruleset with one segment of N random ids
 * (`engine` = the bare compile, `bootstrap`, `put` = a stream put, `cache` =
 * last-known-good text), in a process of its own, so the peak is this path's.
 * Prints JSON: retained heap + ArrayBuffers after GC, peak RSS growth, ingest
 * time, and evaluations/s through the client with the hits and misses checked.
 *
 * Ids: `len` random characters of [0-9a-z] from a seeded generator (the
 * issue's "random 18-character strings", made as flat strings, as JSON.parse gives them), so every run
 * holds the same data.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { compile, evaluate } from '../../sdk/core/index.js'
import { createClient } from '../../sdk/index.js'
import { fileStorage } from '../../sdk/node-storage.js'
import type { ClientOptions, Ruleset, StorageProvider, SwitchyardClient } from '../../sdk/types.js'
import { bigSegmentRuleset, idGenerator, settle } from './big-segment.js'

const path = process.argv[2] ?? 'bootstrap'
const n = Number(process.argv[3] ?? 1_000_000)
const len = Number(process.argv[4] ?? 18)
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with --expose-gc')

/** xorshift32 (big-segment.ts): the same ids in every process. */
const generator = (seed: number): (() => string) => idGenerator(seed, len)

function bigRuleset(): Ruleset {
  const next = generator(12345)
  const included: string[] = new Array(n)
  for (let i = 0; i < n; i++) included[i] = next()
  return bigSegmentRuleset(included)
}

/** 4,096 probes: even ones members (the first ids generated), odd ones not (another seed). */
function probes(): { key: string }[] {
  const member = generator(12345)
  const other = generator(999)
  const out: { key: string }[] = []
  for (let i = 0; i < 4096; i++) out.push({ key: i % 2 === 0 ? member() : other() })
  return out
}

/** Linux: resets the peak RSS (VmHWM) to the current RSS, so the peak of one step can be read. */
function resetPeak(): number {
  writeFileSync('/proc/self/clear_refs', '5')
  return process.memoryUsage().rss
}
function peakRss(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))
  return Number(m?.[1] ?? 0) * 1024
}

const offline: ClientOptions = {
  url: 'http://127.0.0.1:9',
  token: 't',
  sendMetrics: false,
  logger: {},
  fetch: () => new Promise<Response>(() => {}),
  timers: { setTimeout: () => 0, clearTimeout: () => {} },
}

function putFrame(): Uint8Array {
  return new TextEncoder().encode(
    `retry: 1000\n\nevent: put\nid: 1732262400000-0\ndata: ${JSON.stringify(bigRuleset())}\n\n`,
  )
}

/** A client whose stream delivers `bytes` (then stays open); `bytes` is dropped once delivered. */
function putClient(bytes: Uint8Array, storage?: StorageProvider): SwitchyardClient {
  let frame: Uint8Array | null = bytes
  // Delivered in 64 KiB chunks, as a socket would.
  let at = 0
  const body = new ReadableStream<Uint8Array>({
    pull(ctrl) {
      if (!frame) return
      ctrl.enqueue(frame.slice(at, at + 65536))
      at += 65536
      if (at >= frame.length) frame = null
    },
  })
  return createClient({
    ...offline,
    ...(storage ? { storage } : {}),
    fetch: async () => new Response(body, { headers: { 'content-type': 'text/event-stream' } }),
  })
}

let client: SwitchyardClient | null = null
let engine: ReturnType<typeof compile> | null = null
if (path === 'write-cache') {
  // A client writes the cache file the way it always does: a put, then close.
  const c = putClient(putFrame(), fileStorage(process.argv[5]!))
  await c.ready()
  await c.close()
  process.exit(0)
}
const dir = mkdtempSync(join(tmpdir(), 'sy-mem-'))
const cacheFile = join(dir, 'lkg.json')
if (path === 'cache') {
  // In another process, so nothing of that client is in this heap.
  execFileSync(process.execPath, [
    ...process.execArgv,
    process.argv[1]!,
    'write-cache',
    String(n),
    String(len),
    cacheFile,
  ])
}
// The input (a ruleset object, or the put's bytes) is made after the baseline and before the peak
// is reset: retained counts what stays once it is gone, peak what the ingest adds on top of it.
const base = await settle()
let input: Ruleset | null = path === 'engine' || path === 'bootstrap' ? bigRuleset() : null
let frameBytes: Uint8Array | null = path === 'put' ? putFrame() : null
const rss0 = resetPeak()
let ingestMs = 0
const cpu0 = process.cpuUsage()
if (path === 'engine') {
  let rs = input
  input = null
  const t0 = performance.now()
  engine = compile(rs!)
  ingestMs = performance.now() - t0
  rs = null
} else if (path === 'bootstrap') {
  let rs = input
  input = null
  const t0 = performance.now()
  client = createClient({ ...offline, bootstrap: rs! })
  ingestMs = performance.now() - t0
  rs = null
} else if (path === 'put') {
  const c = putClient(frameBytes!)
  frameBytes = null
  const t0 = performance.now()
  await c.ready()
  ingestMs = performance.now() - t0
  client = c
} else if (path === 'cache') {
  const t0 = performance.now()
  const c = createClient({ ...offline, storage: fileStorage(cacheFile) })
  while (c.source !== 'cache') await new Promise<void>((r) => setImmediate(r))
  ingestMs = performance.now() - t0
  client = c
}
const cpu1 = process.cpuUsage(cpu0)
const ingestCpuMs = (cpu1.user + cpu1.system) / 1000
const peak = peakRss() - rss0
const retained = (await settle()) - base

const ps = probes()
const check = (ctx: { key: string }): boolean =>
  client ? client.isEnabled('gate', ctx) : evaluate(engine!, 'gate', ctx, false) === true
let wrong = 0
for (let i = 0; i < ps.length; i++) if (check(ps[i]!) !== (i % 2 === 0)) wrong++
const N = 4_000_000
const rates: number[] = []
const cpuRates: number[] = []
let sink = 0
for (let r = 0; r < 5; r++) {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  for (let i = 0; i < N; i++) if (check(ps[i & 4095]!)) sink++
  rates.push(N / ((performance.now() - t0) / 1000))
  cpuRates.push(N / (process.cpuUsage(c0).user / 1e6))
}
rates.sort((a, b) => a - b)
cpuRates.sort((a, b) => a - b)
await client?.close()
rmSync(dir, { recursive: true, force: true })
process.stdout.write(
  `${JSON.stringify({ path, n, len, retained, peak, ingestMs, ingestCpuMs, evalsPerSec: rates[2], evalsPerCpuSec: cpuRates[2], wrong, sink: sink > 0 })}\n`,
)
