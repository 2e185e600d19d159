/**
 * Propagation benchmark (issue 4): time from a write's HTTP response to each
 * SSE stream receiving the change, with the streams held by separate client
 * processes. Run: `node --import=tsx test/bench/propagation.bench.ts`
 * (options: `--quick` for a smoke run).
 *
 * Set-up: one redis-server, API servers as child processes (`src/server.ts`),
 * 4 client processes each holding a quarter of the streams (node:http + the
 * SDK's SSE parser). Each write toggles one flag through instance A; the next write
 * starts once every stream has the previous one. Clocks: all processes use
 * performance.timeOrigin + performance.now() on one machine.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { type ClientRequest, get as httpGet } from 'node:http'
import { createServer } from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { EmbeddedRedis } from '../../src/redis/embedded.js'
import { SseParser } from '../../sdk/transport/sse-parser.js'

const ADMIN = 'bench-admin-token-0123456789abcdef'
const WORKERS = 4
const now = () => performance.timeOrigin + performance.now()

// ---------------------------------------------------------------- client process

type ToWorker = { type: 'open'; urls: string[]; token: string; count: number } | { type: 'exit' }
type FromWorker = { type: 'connected' } | { type: 'got'; version: number; times: number[] } | { type: 'error'; message: string }

async function worker(): Promise<void> {
  const send = (m: FromWorker) => process.send?.(m)
  const requests: ClientRequest[] = []
  const pending = new Map<number, number[]>()
  let total = 0
  process.on('message', async (m: ToWorker) => {
    if (m.type === 'exit') {
      for (const r of requests) r.destroy()
      process.exit(0)
    }
    total = m.count
    let connected = 0
    // node:http rather than fetch: the client processes share the 2 cores with the server,
    // and web-stream overhead per chunk would be measured as propagation time.
    const open = (url: string) =>
      new Promise<void>((resolve, reject) => {
        const req = httpGet(`${url}/api/v1/sdk/stream`, { agent: false, headers: { authorization: `Bearer ${m.token}`, accept: 'text/event-stream' } }, (res) => {
          if (res.statusCode !== 200) return reject(new Error(`stream: HTTP ${res.statusCode}`))
          const parser = new SseParser({
            onEvent: (e) => {
              if (e.type === 'put') return resolve()
              if (e.type !== 'patch') return
              const t = now()
              const v = (JSON.parse(e.data) as { flag: { version: number } }).flag.version
              let list = pending.get(v)
              if (!list) pending.set(v, (list = []))
              list.push(t)
              if (list.length === total) {
                pending.delete(v)
                send({ type: 'got', version: v, times: list })
              }
            },
          })
          res.on('data', (chunk: Buffer) => parser.feed(chunk))
        })
        req.on('error', reject)
        requests.push(req)
      }).then(() => {
        connected++
      })
    try {
      const batch = 100
      for (let i = 0; i < m.count; i += batch) {
        const n = Math.min(batch, m.count - i)
        await Promise.all(Array.from({ length: n }, (_, j) => open(m.urls[(i + j) % m.urls.length]!)))
      }
      if (connected === m.count) send({ type: 'connected' })
    } catch (e) {
      send({ type: 'error', message: (e as Error).message })
    }
  })
}

// ---------------------------------------------------------------- orchestrator

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))))
    })
  })
}

async function startApi(redisUrl: string): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort()
  const proc = spawn(process.execPath, ['--import=tsx', 'src/server.ts'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', REDIS_URL: redisUrl, ADMIN_TOKEN: ADMIN, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return { url, proc }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error('API did not start')
}

async function api(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} }
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) : NaN
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN
}

interface Result {
  name: string
  streams: number
  p50: number
  p99: number
  max: number
  /** Same, measured from when the write request was sent (an upper bound that includes the write itself). */
  fromRequestP50: number
  fromRequestP99: number
  connectSeconds: number
  rssPerStreamKb?: number
}

async function scenario(name: string, o: { urls: string[]; writeUrl: string; token: string; streams: number; writes: number; measurePid?: number; version: { v: number } }): Promise<Result> {
  const workers: ChildProcess[] = []
  const listeners = new Set<(m: FromWorker) => void>()
  for (let i = 0; i < WORKERS; i++) {
    const w = fork(fileURLToPath(import.meta.url), ['client'], { execArgv: ['--import=tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    w.on('message', (m: FromWorker) => {
      if (m.type === 'error') console.error(`worker: ${m.message}`)
      for (const l of listeners) l(m)
    })
    workers.push(w)
  }
  const waitAll = (match: (m: FromWorker) => boolean, onMsg?: (m: FromWorker) => void) =>
    new Promise<void>((resolve, reject) => {
      let n = 0
      const timer = setTimeout(() => reject(new Error(`${name}: timed out`)), 120_000)
      const l = (m: FromWorker) => {
        if (m.type === 'error') reject(new Error(m.message))
        if (!match(m)) return
        onMsg?.(m)
        if (++n === WORKERS) {
          clearTimeout(timer)
          listeners.delete(l)
          resolve()
        }
      }
      listeners.add(l)
    })
  const rssBefore = o.measurePid !== undefined ? rssKb(o.measurePid) : 0
  const t0 = now()
  const connected = waitAll((m) => m.type === 'connected')
  const per = Math.ceil(o.streams / WORKERS)
  workers.forEach((w, i) => w.send({ type: 'open', urls: o.urls, token: o.token, count: Math.min(per, o.streams - i * per) } satisfies ToWorker))
  await connected
  const connectSeconds = (now() - t0) / 1000
  let rssPerStreamKb: number | undefined
  if (o.measurePid !== undefined) {
    await new Promise((r) => setTimeout(r, 1000)) // let the connect burst's garbage settle before reading RSS (measurement, not synchronisation)
    rssPerStreamKb = (rssKb(o.measurePid) - rssBefore) / o.streams
  }
  const lat: number[] = []
  const fromReq: number[] = []
  for (let i = 0; i < o.writes; i++) {
    const v = ++o.version.v
    let respondedAt = 0
    const times: number[] = []
    const got = waitAll((m) => m.type === 'got' && m.version === v, (m) => times.push(...(m as { times: number[] }).times))
    const sentAt = now()
    const r = await api(o.writeUrl, 'POST', '/api/v1/environments/bench/flags/f/toggle', { on: i % 2 === 0 })
    respondedAt = now()
    if (r.status !== 200 || r.json.version !== v) throw new Error(`write: ${r.status} version ${String(r.json.version)} (expected ${v})`)
    await got
    // A stream can get the change before the writer gets its response: that counts as 0.
    for (const t of times) {
      lat.push(Math.max(0, t - respondedAt))
      fromReq.push(t - sentAt)
    }
  }
  for (const w of workers) w.send({ type: 'exit' } satisfies ToWorker)
  await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', r)))))
  lat.sort((a, b) => a - b)
  fromReq.sort((a, b) => a - b)
  return { name, streams: o.streams, p50: pct(lat, 50), p99: pct(lat, 99), max: lat[lat.length - 1] ?? NaN, fromRequestP50: pct(fromReq, 50), fromRequestP99: pct(fromReq, 99), connectSeconds, ...(rssPerStreamKb !== undefined && { rssPerStreamKb }) }
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick')
  const dir = mkdtempSync(join(tmpdir(), 'sy-bench-'))
  const redis = new EmbeddedRedis({ bin: 'redis-server', dir, port: 0, appendOnly: false, supervise: false, install: false })
  await redis.start()
  const procs: ChildProcess[] = []
  try {
    const a = await startApi(redis.url)
    procs.push(a.proc)
    const b = await startApi(redis.url)
    procs.push(b.proc)
    let r = await api(a.url, 'POST', '/api/v1/environments', { key: 'bench' })
    if (r.status !== 201) throw new Error(JSON.stringify(r.json))
    r = await api(a.url, 'POST', '/api/v1/flags', { key: 'f', name: 'f', kind: 'boolean' })
    if (r.status !== 201) throw new Error(JSON.stringify(r.json))
    // Some realistic bulk: 50 more flags in the put.
    for (let i = 0; i < 50; i++) await api(a.url, 'POST', '/api/v1/flags', { key: `other-${i}`, name: `other ${i}`, kind: 'boolean' })
    r = await api(a.url, 'POST', '/api/v1/tokens', { name: 'bench', kind: 'sdk-server', environments: ['bench'] })
    const token = r.json.secret as string
    const version = { v: ((await api(a.url, 'GET', '/api/v1/environments/bench/flags/f')).json.version as number) }
    const writes = quick ? 10 : 50
    const results: Result[] = []
    const run = async (name: string, urls: string[], streams: number, measure?: ChildProcess) => {
      const res = await scenario(name, { urls, writeUrl: a.url, token, streams: quick ? Math.ceil(streams / 10) : streams, writes, version, ...(measure?.pid !== undefined && { measurePid: measure.pid }) })
      results.push(res)
      console.log(JSON.stringify(res))
    }
    await run('1 instance, 1,000 streams', [a.url], 1000)
    await run('1 instance, 10,000 streams', [a.url], 10_000, a.proc)
    await run('2 instances, 1,000 streams (500 each; writes through A)', [a.url, b.url], 1000)
    console.log(`\nPropagation, write HTTP response → stream event (${writes} writes; ${cpus().length} × ${cpus()[0]?.model.trim()}; node ${process.version}):`)
    for (const x of results) {
      console.log(
        `  ${x.name.padEnd(58)} p50 ${x.p50.toFixed(1).padStart(6)} ms   p99 ${x.p99.toFixed(1).padStart(6)} ms   max ${x.max.toFixed(1).padStart(6)} ms` +
          `   (from request: p50 ${x.fromRequestP50.toFixed(1)} / p99 ${x.fromRequestP99.toFixed(1)} ms)   connect ${x.connectSeconds.toFixed(1)} s` + (x.rssPerStreamKb !== undefined ? `   server RSS ${x.rssPerStreamKb.toFixed(1)} KB/idle stream` : ''),
      )
    }
  } finally {
    for (const p of procs) p.kill('SIGTERM')
    await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)))))
    await redis.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[2] === 'client') void worker()
else
  main().catch((e) => {
    console.error(e)
    process.exit(1)
  })
