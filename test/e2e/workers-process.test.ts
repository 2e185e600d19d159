// WORKERS=N (node:cluster) as `npm start` runs it: the primary starts the embedded redis-server and
// N workers on one port; every worker serves requests and streams, a write through one worker
// reaches the streams of the others, a killed worker is started again, and SIGTERM to the primary
// stops every process it started.
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { isAlive, REDIS_PID_FILE } from '../../src/redis/datadir.js'
import { listening, type Proc, start } from '../helpers/server-process.js'
import { openSse } from '../helpers/sse-reader.js'
import { until } from '../helpers/wait.js'

const ADMIN = 'an-admin-token-of-sufficient-length'
const STREAM = '/api/v1/sdk/stream'
const serving = /switchyard: worker (\d+) serving \(pid (\d+)\)/g

/** The pids of the workers that said they serve, in order. */
function servingPids(p: Proc): number[] {
  return [...p.output().matchAll(serving)].map((m) => Number(m[2]))
}

async function api(url: string, method: string, path: string, body?: unknown, token = ADMIN) {
  const r = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  })
  const text = await r.text()
  return { status: r.status, json: text ? JSON.parse(text) : null }
}

/** A GET on a connection of its own (no keep-alive pool), so the primary hands each to the next worker. */
function freshGet(url: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url + path, { agent: false, headers: { authorization: `Bearer ${ADMIN}` } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end()
  })
}

/** How many established TCP connections to `port` each process holds (Linux /proc: its fds' socket inodes). */
function connectionsByPid(port: number, pids: number[]): Map<number, number> {
  const inodes = new Set<string>()
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      // local_address is ADDR:PORT in hex; state 01 is ESTABLISHED; field 9 is the inode.
      const local = f[1]?.split(':')[1]
      if (local !== undefined && Number.parseInt(local, 16) === port && f[3] === '01' && f[9]) inodes.add(f[9])
    }
  }
  const out = new Map<number, number>()
  for (const pid of pids) {
    let n = 0
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
        if (m?.[1] !== undefined && inodes.has(m[1])) n++
      } catch {
        // closed meanwhile
      }
    }
    out.set(pid, n)
  }
  return out
}

async function startCluster(t: Test): Promise<{ p: Proc; url: string; dataDir: string; token: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sy-workers-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const p = start({ WORKERS: '2', DATA_DIR: dataDir, ADMIN_TOKEN: ADMIN, STREAM_HEARTBEAT_MS: '1000' })
  t.teardown(() => {
    // A failed test must not leave the cluster running: the workers exit with their primary.
    p.child.kill('SIGKILL')
  })
  const [, url] = await p.waitFor(listening, 60_000)
  await until(() => servingPids(p).length >= 2, 60_000, 'both workers serving')
  const u = url as string
  let r = await api(u, 'POST', '/api/v1/environments', { key: 'production' })
  t.equal(r.status, 201)
  r = await api(u, 'POST', '/api/v1/flags', { key: 'f', name: 'f', kind: 'boolean' })
  t.equal(r.status, 201)
  r = await api(u, 'POST', '/api/v1/tokens', { name: 'sdk', kind: 'sdk-server', environments: ['production'] })
  t.equal(r.status, 201)
  return { p, url: u, dataDir, token: r.json.secret as string }
}

const toggle = (url: string, on: boolean) => api(url, 'POST', '/api/v1/environments/production/flags/f/toggle', { on })

t.test(
  'WORKERS=2: both workers serve requests and streams; a write through one reaches the streams of both',
  async (t) => {
    const { p, url, token } = await startCluster(t)
    const pids = servingPids(p)
    t.equal(new Set(pids).size, 2, 'two worker processes')
    t.notOk(pids.includes(p.child.pid ?? -1), 'the primary serves nothing itself')

    for (let i = 0; i < 6; i++) t.equal(await freshGet(url, '/api/v1/environments'), 200)
    const logged = [...p.output().matchAll(/"pid":(\d+)[^\n]*"url":"\/api\/v1\/environments"/g)].map((m) =>
      Number(m[1]),
    )
    t.same(new Set(logged), new Set(pids), 'requests on new connections are served by both workers')

    const streams = []
    for (let i = 0; i < 8; i++) {
      const c = await openSse(t, url + STREAM, { token, timeoutMs: 30_000 })
      t.equal((await c.next()).type, 'put')
      streams.push(c)
    }
    const held = connectionsByPid(Number(new URL(url).port), pids)
    for (const pid of pids)
      t.ok((held.get(pid) ?? 0) >= 2, `worker ${pid} holds streams (${held.get(pid)} connections)`)

    // /metrics on any worker answers for the cluster: the streams of both workers, summed.
    for (let i = 0; i < 2; i++) {
      const text = await (await fetch(`${url}/metrics`)).text()
      t.match(text, /^switchyard_stream_connections\{kind="server"\} 8$/m, 'the 8 streams of both workers')
      t.match(text, /^switchyard_store_reset 0$/m, 'a store-wide gauge is not summed')
    }

    // Each write is served by one worker; every stream, on either worker, gets it.
    for (const on of [true, false]) {
      const r = await toggle(url, on)
      t.equal(r.status, 200)
      for (const c of streams) {
        const e = await c.next((x) => x.type === 'patch')
        t.equal(JSON.parse(e.data).flag.on, on)
      }
    }
    p.child.kill('SIGTERM')
    t.equal(await p.exited, 0)
  },
)

t.test('a worker killed with SIGKILL is started again; SIGTERM to the primary stops every process', async (t) => {
  const { p, url, dataDir, token } = await startCluster(t)
  const redisPid = Number(readFileSync(join(dataDir, REDIS_PID_FILE), 'utf8').trim())
  t.ok(isAlive(redisPid), 'the primary started the embedded redis-server')
  const [first, second] = servingPids(p) as [number, number]
  const c = await openSse(t, url + STREAM, { token, timeoutMs: 30_000 })
  await c.next()

  process.kill(second, 'SIGKILL')
  await p.waitFor(new RegExp(`\\(pid ${second}\\) exited \\(SIGKILL\\); starting another`), 30_000)
  await until(() => servingPids(p).length >= 3, 60_000, 'a new worker serving')
  const third = servingPids(p)[2] as number
  t.not(third, second, 'a new process')
  t.ok(isAlive(first), 'the other worker was not touched')

  // Service continues: requests on new connections (reaching both live workers) and the stream.
  for (let i = 0; i < 4; i++) t.equal(await freshGet(url, '/api/v1/environments'), 200)
  const r = await toggle(url, true)
  t.equal(r.status, 200)
  // The stream was on the killed worker or on the other: either way the SDK reader gets the change
  // (on a new connection it starts from a fresh put that has it).
  const fresh = await openSse(t, url + STREAM, { token, timeoutMs: 30_000 })
  t.equal(JSON.parse((await fresh.next()).data).flags.f.on, true, 'a new stream has the write')
  await toggle(url, false)
  t.equal(JSON.parse((await fresh.next((x) => x.type === 'patch')).data).flag.on, false)

  const all = [p.child.pid as number, first, third, redisPid]
  p.child.kill('SIGTERM')
  t.equal(await p.exited, 0, 'a clean stop')
  await until(() => all.every((pid) => !isAlive(pid)), 15_000, 'every process gone')
  t.pass(`no orphan: primary, workers and redis-server (${all.join(', ')}) have exited`)
})
