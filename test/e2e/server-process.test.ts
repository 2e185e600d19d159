// The real entry point (src/server.ts) as `npm start` runs it: its own
// embedded redis-server, a generated admin token, graceful shutdown, data
// kept across restarts, and clear failures on bad configuration.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { isAlive } from '../../src/redis/datadir.js'
import { freePort } from '../../src/redis/embedded.js'
import { until } from '../helpers/sse-reader.js'

const root = new URL('../../', import.meta.url).pathname

interface Proc {
  child: ChildProcess
  output: () => string
  /** Resolves with the first match of `re` in stdout+stderr, or rejects after `ms`. */
  waitFor: (re: RegExp, ms?: number) => Promise<RegExpMatchArray>
  exited: Promise<number | null>
}

function start(env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--import=tsx', 'src/server.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const waiters: Array<() => void> = []
  const onData = (b: Buffer) => {
    out += b.toString()
    for (const w of waiters.splice(0)) w()
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)))
  const waitFor = (re: RegExp, ms = 30_000) =>
    new Promise<RegExpMatchArray>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`timed out waiting for ${re}; output:\n${out}`)), ms)
      const check = () => {
        const m = out.match(re)
        if (m) {
          clearTimeout(timer)
          res(m)
        } else waiters.push(check)
      }
      check()
      void exited.then(() => {
        const m = out.match(re)
        if (!m) {
          clearTimeout(timer)
          rej(new Error(`exited before ${re}; output:\n${out}`))
        }
      })
    })
  return { child, output: () => out, waitFor, exited }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => {
      s.destroy()
      res(true)
    })
    s.once('error', () => res(false))
  })
}

t.test('embedded default: starts its redis, prints a token once, keeps data, stops cleanly', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sy-data-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))

  const p1 = start({ DATA_DIR: dataDir })
  t.teardown(() => p1.child.kill('SIGKILL'))
  const [, redisPort] = await p1.waitFor(/embedded redis-server on redis:\/\/127\.0\.0\.1:(\d+)/)
  const [, token] = await p1.waitFor(/(sy_adm_[A-Za-z0-9_-]+)/)
  const [, url] = await p1.waitFor(/Server listening at (http:\/\/127\.0\.0\.1:\d+)/)
  t.equal((await fetch(`${url}/readyz`)).status, 200)
  const r = await fetch(`${url}/api/v1/environments`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ key: 'production' }),
  })
  t.equal(r.status, 201, 'the printed token is an admin token')

  p1.child.kill('SIGTERM')
  t.equal(await p1.exited, 0, 'SIGTERM closes gracefully')
  t.equal(await portOpen(Number(redisPort)), false, 'the embedded redis-server is stopped with it')

  const p2 = start({ DATA_DIR: dataDir })
  t.teardown(() => p2.child.kill('SIGKILL'))
  const [, url2] = await p2.waitFor(/Server listening at (http:\/\/127\.0\.0\.1:\d+)/)
  t.notMatch(p2.output(), /sy_adm_/, 'no new token once an admin exists')
  const envs = await fetch(`${url2}/api/v1/environments`, { headers: { authorization: `Bearer ${token}` } })
  t.same(((await envs.json()) as { items: Array<{ key: string }> }).items.map((e) => e.key), ['production'], 'data survives a restart (AOF)')
  p2.child.kill('SIGINT')
  t.equal(await p2.exited, 0, 'SIGINT closes gracefully')
})

t.test('missing redis-server: exits with the install command and REDIS_URL', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sy-data-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const p = start({ DATA_DIR: dataDir, REDIS_SERVER_BIN: '/nonexistent/redis-server', REDIS_AUTO_INSTALL: 'false' })
  t.equal(await p.exited, 3)
  t.match(p.output(), /sudo apt-get install -y redis-server/)
  t.match(p.output(), /REDIS_URL=redis:\/\//)
})

t.test('bad configuration: every bad variable named, nothing started', async (t) => {
  const p = start({ PORT: 'eighty', LOG_LEVEL: 'loud', REDIS_URL: 'http://nope' })
  t.equal(await p.exited, 2)
  for (const name of ['PORT', 'LOG_LEVEL', 'REDIS_URL']) t.match(p.output(), new RegExp(`${name}=`))
  t.notMatch(p.output(), /http:\/\/nope/, 'REDIS_URL may hold a password: not echoed')
})

t.test('REDIS_URL: uses that server, starts no embedded one', async (t) => {
  const { startRedis } = await import('../helpers/server.js')
  const redis = await startRedis(t)
  const p = start({ REDIS_URL: redis.url, ADMIN_TOKEN: 'an-admin-token-of-sufficient-length' })
  t.teardown(() => p.child.kill('SIGKILL'))
  const [, url] = await p.waitFor(/Server listening at (http:\/\/127\.0\.0\.1:\d+)/)
  t.notMatch(p.output(), /embedded redis-server/)
  const r = await fetch(`${url}/api/v1/tokens`, { headers: { authorization: 'Bearer an-admin-token-of-sufficient-length' } })
  t.equal(r.status, 200, 'ADMIN_TOKEN is the bootstrap admin')
  p.child.kill('SIGTERM')
  t.equal(await p.exited, 0)
})

const listening = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/
const embeddedPort = /embedded redis-server on redis:\/\/127\.0\.0\.1:(\d+)/

t.test('SIGKILL in embedded mode: the redis-server dies with the API; the next start has the data', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sy-data-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const p1 = start({ DATA_DIR: dataDir })
  t.teardown(() => p1.child.kill('SIGKILL'))
  const [, redisPort] = await p1.waitFor(embeddedPort)
  const [, token] = await p1.waitFor(/(sy_adm_[A-Za-z0-9_-]+)/)
  const [, url] = await p1.waitFor(listening)
  const created = await fetch(`${url}/api/v1/environments`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ key: 'production' }),
  })
  t.equal(created.status, 201)

  p1.child.kill('SIGKILL')
  await p1.exited
  await until(async () => !(await portOpen(Number(redisPort))), 15_000, 'the orphaned redis-server to exit')
  t.pass('no redis-server survives its API')

  const p2 = start({ DATA_DIR: dataDir })
  t.teardown(() => p2.child.kill('SIGKILL'))
  const [, url2] = await p2.waitFor(listening)
  const envs = await fetch(`${url2}/api/v1/environments`, { headers: { authorization: `Bearer ${token}` } })
  t.same(((await envs.json()) as { items: Array<{ key: string }> }).items.map((e) => e.key), ['production'], 'the stale lock was taken over; the data is there')
  p2.child.kill('SIGTERM')
  t.equal(await p2.exited, 0)
  t.notOk(existsSync(join(dataDir, 'switchyard.lock')), 'a clean stop releases the lock')
})

t.test('an orphaned redis-server left in DATA_DIR is stopped before the embedded one starts', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sy-data-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  // What an API killed before this fix left behind: a redis-server with parent PID 1 working in DATA_DIR,
  // and the lock of a process that no longer exists.
  const orphanPort = await freePort()
  const r = spawnSync('redis-server', [
    '--port', String(orphanPort), '--bind', '127.0.0.1', '--dir', dataDir, '--pidfile', join(dataDir, 'redis.pid'),
    '--daemonize', 'yes', '--save', '', '--appendonly', 'yes', '--logfile', join(dataDir, 'orphan.log'),
  ])
  t.equal(r.status, 0)
  await until(() => portOpen(orphanPort), 10_000, 'the orphan to listen')
  const deadPid = spawnSync('true').pid
  writeFileSync(join(dataDir, 'switchyard.lock'), JSON.stringify({ pid: deadPid, start: null }))

  const p = start({ DATA_DIR: dataDir })
  t.teardown(() => p.child.kill('SIGKILL'))
  const [, orphanPid] = await p.waitFor(/stopping an orphaned redis-server \(pid (\d+)\)/)
  t.teardown(() => {
    if (isAlive(Number(orphanPid))) process.kill(Number(orphanPid), 'SIGKILL')
  })
  const [, url] = await p.waitFor(listening)
  t.equal(await portOpen(orphanPort), false, 'the orphan was stopped')
  t.notOk(isAlive(Number(orphanPid)))
  t.equal((await fetch(`${url}/readyz`)).status, 200)
  p.child.kill('SIGTERM')
  t.equal(await p.exited, 0)
})

t.test('a second API on the same DATA_DIR exits with one clear line; the first keeps running', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sy-data-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const p1 = start({ DATA_DIR: dataDir })
  t.teardown(() => p1.child.kill('SIGKILL'))
  const [, url] = await p1.waitFor(listening)
  const p2 = start({ DATA_DIR: dataDir })
  t.equal(await p2.exited, 1)
  t.match(p2.output(), new RegExp(`^switchyard: DATA_DIR \\S+ is in use by another Switchyard process \\(pid ${p1.child.pid}\\);`))
  t.equal(p2.output().trim().split('\n').length, 1, `one line: ${p2.output()}`)
  t.notMatch(p2.output(), /embedded redis-server on/, 'no second redis-server was started')
  t.equal((await fetch(`${url}/readyz`)).status, 200, 'the first one is unaffected')
  p1.child.kill('SIGTERM')
  t.equal(await p1.exited, 0)
})

t.test('the HTTP port is taken: the embedded Redis is stopped, one line, no token shown or stored', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sy-data-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const blocker = createServer()
  await new Promise<void>((res) => blocker.listen(0, '127.0.0.1', () => res()))
  t.teardown(() => blocker.close())
  const addr = blocker.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0

  const p = start({ DATA_DIR: dataDir, PORT: String(port) })
  t.teardown(() => p.child.kill('SIGKILL'))
  const [, redisPort] = await p.waitFor(embeddedPort)
  t.equal(await p.exited, 1)
  t.match(p.output(), new RegExp(`\\nswitchyard: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`))
  t.notMatch(p.output(), /\n\s+at /, 'no stack trace')
  t.notMatch(p.output(), /sy_adm_/, 'no token printed before the server listens')
  t.equal(await portOpen(Number(redisPort)), false, 'the embedded redis-server was stopped')

  const p2 = start({ DATA_DIR: dataDir })
  t.teardown(() => p2.child.kill('SIGKILL'))
  await p2.waitFor(listening)
  await p2.waitFor(/sy_adm_[A-Za-z0-9_-]+/)
  t.pass('the next start generates the first admin token: the failed one stored none')
  p2.child.kill('SIGTERM')
  t.equal(await p2.exited, 0)
})

t.test('REDIS_URL unreachable: exits with one clear line', async (t) => {
  const port = await freePort()
  const p = start({ REDIS_URL: `redis://127.0.0.1:${port}`, ADMIN_TOKEN: 'an-admin-token-of-sufficient-length' })
  t.teardown(() => p.child.kill('SIGKILL'))
  t.equal(await p.exited, 1)
  t.match(p.output(), new RegExp(`^switchyard: cannot reach Redis: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\n$`))
})

t.test('Redis wiped under a running server: one error line, readiness STORE_RESET, ADMIN_TOKEN works again', async (t) => {
  const { startRedis } = await import('../helpers/server.js')
  const { Redis } = await import('ioredis')
  const redisServer = await startRedis(t)
  const admin = 'an-admin-token-of-sufficient-length'
  const p = start({ REDIS_URL: redisServer.url, ADMIN_TOKEN: admin, STORE_CHECK_MS: '200' })
  t.teardown(() => p.child.kill('SIGKILL'))
  const [, url] = await p.waitFor(listening)
  await p.waitFor(/store initialised: instance marker written/)
  const probe = new Redis(redisServer.url)
  t.teardown(() => probe.disconnect())
  await probe.flushall()
  await p.waitFor(/STORE_RESET: the store's instance marker is gone/)
  // Several more checks (every 200 ms, and each probe) see the marker missing; the error is logged once.
  for (let i = 0; i < 5; i++) {
    const r = await fetch(`${url}/readyz`)
    t.equal(r.status, 503)
    t.equal(((await r.json()) as { code: string }).code, 'STORE_RESET')
  }
  const tokens = await fetch(`${url}/api/v1/tokens`, { headers: { authorization: `Bearer ${admin}` } })
  t.equal(tokens.status, 200, 'the bootstrap admin is back')
  t.equal(p.output().match(/STORE_RESET: the store's instance marker is gone/g)?.length, 1, 'logged once')
  t.match(p.output(), /"level":50[^\n]*STORE_RESET/, 'at error level')
  p.child.kill('SIGTERM')
  t.equal(await p.exited, 0)
})
