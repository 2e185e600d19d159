/**
 * Propagation benchmark: time from a write's HTTP response to each
 * SSE stream receiving the change, with the streams held by separate client
 * processes. Run: `node --import=tsx test/bench/propagation.bench.ts`
 * (options: `--quick` for a smoke run, `--profile` to write a V8 CPU profile
 * of instance A to $TMPDIR/switchyard-bench-prof/, `--only=10k,10k-w2` for those scenarios alone
 * (keys: 1k, 10k, 10k-w2, 2x, 10k-burst), `--runs=N` to run each scenario N times and print the medians).
 *
 * Set-up: one redis-server, API servers as child processes (`src/server.ts`),
 * 4 client processes each holding a quarter of the streams. Everything shares
 * the machine's cores, so the clients are as cheap as they can be (raw TCP,
 * the request written by hand, chunks scanned for the `id:` marker) and the
 * output states their CPU time, the server's, and the load average. Each
 * write toggles one flag through instance A; the next write starts once every
 * stream has the previous one. Clocks: all processes use
 * performance.timeOrigin + performance.now() on one machine.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { EmbeddedRedis } from '../../src/redis/embedded.js'

const ADMIN = 'bench-admin-token-0123456789abcdef'
const WORKERS = 4
const now = () => performance.timeOrigin + performance.now()

// ---------------------------------------------------------------- client process

type ToWorker = { type: 'open'; urls: string[]; token: string; count: number } | { type: 'mark' } | { type: 'exit' }
type FromWorker =
  | { type: 'connected' }
  | { type: 'got'; id: string; times: number[] }
  | { type: 'cpu'; ms: number }
  | { type: 'error'; message: string }

const ID_MARK = Buffer.from('\nid: ')
const ID_TAIL = Buffer.from('id: ')
const READ_BUFFER = Buffer.alloc(64 * 1024)
const LF = 10

/**
 * A stream held as cheaply as possible, so the 2 shared cores measure the
 * server rather than the clients: a raw TCP socket, the HTTP request written
 * by hand, and each received chunk scanned for `\nid: ` (no HTTP parser, no
 * SSE parser, no JSON). The first id is the `put`; every later one is a
 * change, timestamped on the first chunk that carries it.
 */
async function worker(): Promise<void> {
  const send = (m: FromWorker) => process.send?.(m)
  const sockets: Socket[] = []
  const seen = new Map<string, number[]>()
  let total = 0
  let cpuMark = process.cpuUsage()
  const cpuMs = () => {
    const u = process.cpuUsage(cpuMark)
    return (u.user + u.system) / 1000
  }
  process.on('message', async (m: ToWorker) => {
    if (m.type === 'exit') {
      for (const s of sockets) s.destroy()
      process.exit(0)
    }
    if (m.type === 'mark') {
      send({ type: 'cpu', ms: cpuMs() })
      cpuMark = process.cpuUsage()
      return
    }
    total = m.count
    const onId = (id: string, t: number) => {
      let list = seen.get(id)
      if (!list) {
        list = []
        seen.set(id, list)
      }
      list.push(t)
      if (list.length === total) {
        seen.delete(id)
        send({ type: 'got', id, times: list })
      }
    }
    const open = (url: string) =>
      new Promise<void>((resolve, reject) => {
        const u = new URL(url)
        let first = true
        // Bytes of an `id:` line cut by a chunk boundary (rare: frames are small).
        let carry: Buffer | null = null
        let lfAtEnd = false
        const onChunk = (chunk: Buffer) => {
          let buf = chunk
          if (carry !== null) {
            buf = Buffer.concat([carry, chunk])
            carry = null
          }
          let t = 0
          // The previous chunk ended with LF: the marker may start this one.
          let at =
            lfAtEnd && buf.length >= ID_TAIL.length && buf.compare(ID_TAIL, 0, ID_TAIL.length, 0, ID_TAIL.length) === 0
              ? -1
              : buf.indexOf(ID_MARK)
          lfAtEnd = false
          while (at >= -1) {
            const start = at + ID_MARK.length // at = -1: "id: " at offset 0
            const end = buf.indexOf(LF, start)
            if (end < 0) {
              carry = Buffer.from(buf.subarray(Math.max(at, 0))) // the read buffer is reused
              break
            }
            const id = buf.toString('latin1', start, end)
            if (first) {
              first = false
              resolve()
            } else {
              if (t === 0) t = now()
              onId(id, t)
            }
            at = buf.indexOf(ID_MARK, end)
            if (at === -1) break
          }
          // A possible partial marker at the end of the chunk (`\n`, `\ni`, `\nid`, `\nid:`).
          if (carry === null && buf.length > 0) {
            const lf = buf.lastIndexOf(LF)
            if (lf === buf.length - 1) lfAtEnd = true
            else if (
              lf >= 0 &&
              lf > buf.length - ID_MARK.length &&
              ID_MARK.subarray(0, buf.length - lf).equals(buf.subarray(lf))
            )
              carry = Buffer.from(buf.subarray(lf))
          }
        }
        // `onread` with one static buffer per process: no Buffer allocation and no 'data' event per read.
        const sock = connect({
          host: u.hostname,
          port: Number(u.port),
          noDelay: true,
          onread: {
            buffer: READ_BUFFER,
            callback: (n) => {
              onChunk(READ_BUFFER.subarray(0, n))
              return true
            },
          },
        })
        sockets.push(sock)
        sock.on('connect', () => {
          sock.write(
            `GET /api/v1/sdk/stream HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer ${m.token}\r\nAccept: text/event-stream\r\n\r\n`,
          )
        })
        sock.on('error', reject)
      })
    try {
      const batch = 200
      for (let i = 0; i < m.count; i += batch) {
        const n = Math.min(batch, m.count - i)
        await Promise.all(Array.from({ length: n }, (_, j) => open(m.urls[(i + j) % m.urls.length]!)))
      }
      send({ type: 'connected' })
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

async function startApi(
  redisUrl: string,
  profileDir?: string,
  workers = 1,
): Promise<{ url: string; proc: ChildProcess; pids: () => number[] }> {
  const port = await freePort()
  const prof = profileDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []
  const proc = spawn(process.execPath, [...prof, '--import=tsx', 'src/server.ts'], {
    // 10,000 streams of one token: above the default per-token stream limit (8,000), which protects real deployments.
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      REDIS_URL: redisUrl,
      ADMIN_TOKEN: ADMIN,
      LOG_LEVEL: 'warn',
      STREAM_MAX_PER_INSTANCE: '12000',
      STREAM_MAX_PER_TOKEN: '12000',
      WORKERS: String(workers),
    },
    stdio: ['ignore', 'inherit', 'pipe'],
  })
  // WORKERS=N: measured once every worker serves (a worker still starting would count its start-up as fan-out).
  let serving = 0
  proc.stderr?.on('data', (b: Buffer) => {
    process.stderr.write(b)
    serving += b.toString().match(/worker \d+ serving/g)?.length ?? 0
  })
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${url}/readyz`)).status === 200 && (workers === 1 || serving >= workers))
        return { url, proc, pids: () => [proc.pid ?? 0, ...children(proc.pid)] }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error('API did not start')
}

async function api(
  url: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} }
}

/** The child processes of `pid` (a WORKERS=N instance: its workers), from Linux /proc. */
function children(pid: number | undefined): number[] {
  if (pid === undefined) return []
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) : NaN
}

/** CPU time (user + system) of a process so far, in ms (Linux /proc). */
function procCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name; clock ticks are 100 Hz on Linux.
  return (Number(f[11]) + Number(f[12])) * 10
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN
}

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')

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
  /** CPU ms during the write phase: all client processes together, and the API instances. */
  clientCpuMs: number
  serverCpuMs: number
  /** CPU µs per stream per change (the figure that carries to bigger machines): server, and the clients. */
  serverUsPerStream: number
  clientUsPerStream: number
  loadBefore: string
  loadAfter: string
  /** Reports of an id other than the write's (should be 0). */
  anomalies: number
  rssPerStreamKb?: number
}

async function scenario(
  name: string,
  o: {
    urls: string[]
    writeUrl: string
    token: string
    streams: number
    writes: number
    serverPids: number[]
    measurePid?: number
    version: { v: number }
    /** Writes sent at once (default 1: each write waits for the previous one to reach every stream). */
    burst?: number
  },
): Promise<Result> {
  const loadBefore = load()
  const workers: ChildProcess[] = []
  const listeners = new Set<(m: FromWorker) => void>()
  for (let i = 0; i < WORKERS; i++) {
    const w = fork(fileURLToPath(import.meta.url), ['client'], {
      execArgv: ['--import=tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
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
  const cpuOfWorkers = async () => {
    let ms = 0
    const done = waitAll(
      (m) => m.type === 'cpu',
      (m) => (ms += (m as { ms: number }).ms),
    )
    for (const w of workers) w.send({ type: 'mark' } satisfies ToWorker)
    await done
    return ms
  }
  const serverCpu = () => o.serverPids.reduce((a, pid) => a + procCpuMs(pid), 0)
  const rssBefore = o.measurePid !== undefined ? rssKb(o.measurePid) : 0
  const t0 = now()
  const connected = waitAll((m) => m.type === 'connected')
  const per = Math.ceil(o.streams / WORKERS)
  workers.forEach(
    (w, i) =>
      void w.send({
        type: 'open',
        urls: o.urls,
        token: o.token,
        count: Math.min(per, o.streams - i * per),
      } satisfies ToWorker),
  )
  await connected
  const connectSeconds = (now() - t0) / 1000
  let rssPerStreamKb: number | undefined
  if (o.measurePid !== undefined) {
    await new Promise((r) => setTimeout(r, 1000)) // let the connect burst's garbage settle before reading RSS (measurement, not synchronisation)
    rssPerStreamKb = (rssKb(o.measurePid) - rssBefore) / o.streams
  }
  await cpuOfWorkers()
  const server0 = serverCpu()
  const lat: number[] = []
  const fromReq: number[] = []
  let anomalies = 0
  // A burst: `burst` writes sent at once (different flags); the instance reads them from the log
  // together, and each stream must receive every one of them.
  const burst = o.burst ?? 1
  for (let i = 0; i < o.writes; i += burst) {
    const v = burst === 1 ? ++o.version.v : 0
    // An id is complete when every worker reported it; ids other than the burst's count as anomalies.
    const byId = new Map<string, number[][]>()
    const times: number[] = []
    let complete = 0
    const got = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name}: write ${i} timed out`)), 120_000)
      const l = (m: FromWorker) => {
        if (m.type === 'error') reject(new Error(m.message))
        if (m.type !== 'got') return
        let reports = byId.get(m.id)
        if (!reports) {
          reports = []
          byId.set(m.id, reports)
        }
        reports.push(m.times)
        if (reports.length < WORKERS) return
        times.push(...reports.flat())
        if (++complete < burst) return
        clearTimeout(timer)
        listeners.delete(l)
        anomalies += byId.size - burst
        resolve()
      }
      listeners.add(l)
    })
    const sentAt = now()
    if (burst === 1) {
      const r = await api(o.writeUrl, 'POST', '/api/v1/environments/bench/flags/f/toggle', { on: i % 2 === 0 })
      if (r.status !== 200 || r.json.version !== v)
        throw new Error(`write: ${r.status} version ${String(r.json.version)} (expected ${v})`)
    } else {
      const on = (i / burst) % 2 === 0
      const rs = await Promise.all(
        Array.from({ length: burst }, (_, j) =>
          api(o.writeUrl, 'POST', `/api/v1/environments/bench/flags/other-${j}/toggle`, { on }),
        ),
      )
      for (const r of rs) if (r.status !== 200) throw new Error(`write: ${r.status} ${JSON.stringify(r.json)}`)
    }
    const respondedAt = now()
    await got
    // A stream can get the change before the writer gets its response: that counts as 0.
    for (const t of times) {
      lat.push(Math.max(0, t - respondedAt))
      fromReq.push(t - sentAt)
    }
  }
  const serverCpuMs = serverCpu() - server0
  const clientCpuMs = await cpuOfWorkers()
  const loadAfter = load()
  for (const w of workers) w.send({ type: 'exit' } satisfies ToWorker)
  await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', r)))))
  lat.sort((a, b) => a - b)
  fromReq.sort((a, b) => a - b)
  return {
    name,
    streams: o.streams,
    p50: pct(lat, 50),
    p99: pct(lat, 99),
    max: lat[lat.length - 1] ?? NaN,
    fromRequestP50: pct(fromReq, 50),
    fromRequestP99: pct(fromReq, 99),
    connectSeconds,
    clientCpuMs,
    serverCpuMs,
    serverUsPerStream: (serverCpuMs * 1000) / (o.writes * o.streams),
    clientUsPerStream: (clientCpuMs * 1000) / (o.writes * o.streams),
    loadBefore,
    loadAfter,
    anomalies,
    ...(rssPerStreamKb !== undefined && { rssPerStreamKb }),
  }
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick')
  const only = process.argv
    .find((a) => a.startsWith('--only='))
    ?.slice('--only='.length)
    .split(',')
  const profileDir = process.argv.includes('--profile') ? join(tmpdir(), 'switchyard-bench-prof') : undefined
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true })
  const dir = mkdtempSync(join(tmpdir(), 'sy-bench-'))
  const redis = new EmbeddedRedis({
    bin: 'redis-server',
    dir,
    port: 0,
    appendOnly: false,
    supervise: false,
    install: false,
  })
  await redis.start()
  const procs: ChildProcess[] = []
  try {
    const a = await startApi(redis.url, profileDir)
    procs.push(a.proc)
    const b = await startApi(redis.url)
    procs.push(b.proc)
    let r = await api(a.url, 'POST', '/api/v1/environments', { key: 'bench' })
    if (r.status !== 201) throw new Error(JSON.stringify(r.json))
    r = await api(a.url, 'POST', '/api/v1/flags', { key: 'f', name: 'f', kind: 'boolean' })
    if (r.status !== 201) throw new Error(JSON.stringify(r.json))
    // Some realistic bulk: 50 more flags in the put.
    for (let i = 0; i < 50; i++)
      await api(a.url, 'POST', '/api/v1/flags', { key: `other-${i}`, name: `other ${i}`, kind: 'boolean' })
    r = await api(a.url, 'POST', '/api/v1/tokens', { name: 'bench', kind: 'sdk-server', environments: ['bench'] })
    const token = r.json.secret as string
    const version = { v: (await api(a.url, 'GET', '/api/v1/environments/bench/flags/f')).json.version as number }
    const writes = quick ? 10 : 50
    const runs = Number(process.argv.find((x) => x.startsWith('--runs='))?.slice('--runs='.length) ?? 1)
    // WORKERS=2 (node:cluster): started only when its scenario runs, so the others are measured without it.
    let cluster: Awaited<ReturnType<typeof startApi>> | null = null
    const results: Result[] = []
    const run = async (
      key: string,
      name: string,
      urls: string[],
      streams: number,
      measure?: ChildProcess,
      burst = 1,
    ) => {
      if (only !== undefined && !only.includes(key)) return
      const c: Awaited<ReturnType<typeof startApi>> | null = cluster
      const pidsOf = (u: string) => (u === a.url ? a.pids() : u === b.url ? b.pids() : (c?.pids() ?? []))
      const res = await scenario(name, {
        urls,
        writeUrl: c !== null && urls[0] === c.url ? c.url : a.url,
        token,
        streams: quick ? Math.ceil(streams / 10) : streams,
        writes,
        version,
        serverPids: [...new Set(urls.flatMap(pidsOf))],
        ...(measure?.pid !== undefined && { measurePid: measure.pid }),
        burst,
      })
      results.push(res)
      console.log(JSON.stringify(res))
    }
    const clusterUrl = async () => {
      if (cluster === null && (only === undefined || only.includes('10k-w2'))) {
        cluster = await startApi(redis.url, undefined, 2)
        procs.push(cluster.proc)
      }
      return cluster?.url ?? ''
    }
    // Runs interleave the scenarios, so a change in the machine's load affects each alike.
    for (let i = 0; i < runs; i++) {
      await run('1k', '1 instance, 1,000 streams', [a.url], 1000)
      await run('10k', '1 instance, 10,000 streams', [a.url], 10_000, a.proc)
      await run('10k-w2', '1 instance of WORKERS=2, 10,000 streams', [await clusterUrl()], 10_000)
      await run('2x', '2 instances, 1,000 streams (500 each; writes through A)', [a.url, b.url], 1000)
      await run('10k-burst', '1 instance, 10,000 streams, bursts of 10 writes', [a.url], 10_000, undefined, 10)
    }
    console.log(
      `\nPropagation, write HTTP response → stream receives the event id (${writes} writes; ${cpus().length} × ${cpus()[0]?.model.trim()}; node ${process.version}):`,
    )
    const show = (x: Result) =>
      console.log(
        `  ${x.name.padEnd(58)} p50 ${x.p50.toFixed(1).padStart(6)} ms   p99 ${x.p99.toFixed(1).padStart(6)} ms   max ${x.max.toFixed(1).padStart(6)} ms` +
          `   (from request: p50 ${x.fromRequestP50.toFixed(1)} / p99 ${x.fromRequestP99.toFixed(1)} ms)   connect ${x.connectSeconds.toFixed(1)} s` +
          (x.rssPerStreamKb !== undefined ? `   server RSS ${x.rssPerStreamKb.toFixed(1)} KB/idle stream` : '') +
          `\n  ${''.padEnd(58)} CPU during the writes: server ${x.serverCpuMs.toFixed(0)} ms (${x.serverUsPerStream.toFixed(1)} µs per stream per change), clients ${x.clientCpuMs.toFixed(0)} ms (${x.clientUsPerStream.toFixed(1)} µs)   load average ${x.loadBefore} → ${x.loadAfter}`,
      )
    for (const x of results) show(x)
    if (runs > 1) {
      console.log(`\nMedians of ${runs} runs (each figure on its own):`)
      const median = (v: number[]) => v.sort((p, q) => p - q)[v.length >> 1] ?? NaN
      for (const name of [...new Set(results.map((x) => x.name))]) {
        const of = results.filter((x) => x.name === name)
        const m = (f: (x: Result) => number) => median(of.map(f))
        show({
          ...of[0]!,
          p50: m((x) => x.p50),
          p99: m((x) => x.p99),
          max: m((x) => x.max),
          fromRequestP50: m((x) => x.fromRequestP50),
          fromRequestP99: m((x) => x.fromRequestP99),
          connectSeconds: m((x) => x.connectSeconds),
          serverCpuMs: m((x) => x.serverCpuMs),
          clientCpuMs: m((x) => x.clientCpuMs),
          serverUsPerStream: m((x) => x.serverUsPerStream),
          clientUsPerStream: m((x) => x.clientUsPerStream),
          loadBefore: of.map((x) => x.loadBefore.split(' ')[0]).join(','),
          loadAfter: of.map((x) => x.loadAfter.split(' ')[0]).join(','),
          ...(of[0]?.rssPerStreamKb !== undefined && { rssPerStreamKb: m((x) => x.rssPerStreamKb ?? NaN) }),
        })
      }
    }
  } finally {
    for (const p of procs) p.kill('SIGTERM')
    await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)))))
    await redis.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  if (profileDir !== undefined) console.log(`CPU profile of instance A in ${profileDir}`)
}

if (process.argv[2] === 'client') void worker()
else
  main().catch((e) => {
    console.error(e)
    process.exit(1)
  })
