// Embedded mode owns its DATA_DIR: the redis-server dies with the API (even
// on SIGKILL), an orphan of an earlier run is stopped, a second API on the
// same directory is refused, and a failed start cleans up after itself.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { isAlive } from '../../src/redis/datadir.js'
import { freePort } from '../../src/redis/embedded.js'
import { embeddedPort, listening, portOpen, start } from '../helpers/server-process.js'
import { until } from '../helpers/wait.js'

t.test('SIGKILL in embedded mode: the redis-server dies with the API; the next start has the data', async (t) => {
  // DATA_DIR does not exist yet, as on a fresh clone: the first start creates it.
  const parent = mkdtempSync(join(tmpdir(), 'sy-data-'))
  const dataDir = join(parent, 'data')
  t.teardown(() => rmSync(parent, { recursive: true, force: true }))
  const p1 = start({ DATA_DIR: dataDir })
  t.teardown(() => p1.child.kill('SIGKILL'))
  const [, redisPort] = await p1.waitFor(embeddedPort)
  const [, token] = await p1.waitFor(/(sy_adm_[A-Za-z0-9_-]+)/)
  const [, url] = await p1.waitFor(listening)
  const created = await fetch(`${url}/api/v1/environments`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ key: 'production' }),
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
  t.same(
    ((await envs.json()) as { items: Array<{ key: string }> }).items.map((e) => e.key),
    ['production'],
    'the stale lock was taken over; the data is there',
  )
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
    '--port',
    String(orphanPort),
    '--bind',
    '127.0.0.1',
    '--dir',
    dataDir,
    '--pidfile',
    join(dataDir, 'redis.pid'),
    '--daemonize',
    'yes',
    '--save',
    '',
    '--appendonly',
    'yes',
    '--logfile',
    join(dataDir, 'orphan.log'),
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
  t.match(
    p2.output(),
    new RegExp(`^switchyard: DATA_DIR \\S+ is in use by another Switchyard process \\(pid ${p1.child.pid}\\);`),
  )
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
