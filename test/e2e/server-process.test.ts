// The real entry point (src/server.ts) as `npm start` runs it: its own
// embedded redis-server, a generated admin token, graceful shutdown, data
// kept across restarts, and clear failures on bad configuration.
// (Embedded-mode ownership of DATA_DIR: embedded-process.test.ts.)
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { freePort } from '../../src/redis/embedded.js'
import { listening, portOpen, start } from '../helpers/server-process.js'

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
  t.same(
    ((await envs.json()) as { items: Array<{ key: string }> }).items.map((e) => e.key),
    ['production'],
    'data survives a restart (AOF)',
  )
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
  const r = await fetch(`${url}/api/v1/tokens`, {
    headers: { authorization: 'Bearer an-admin-token-of-sufficient-length' },
  })
  t.equal(r.status, 200, 'ADMIN_TOKEN is the bootstrap admin')
  p.child.kill('SIGTERM')
  t.equal(await p.exited, 0)
})

t.test('REDIS_URL unreachable: exits with one clear line', async (t) => {
  const port = await freePort()
  const p = start({ REDIS_URL: `redis://127.0.0.1:${port}`, ADMIN_TOKEN: 'an-admin-token-of-sufficient-length' })
  t.teardown(() => p.child.kill('SIGKILL'))
  t.equal(await p.exited, 1)
  t.match(p.output(), new RegExp(`^switchyard: cannot reach Redis: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\n$`))
})

t.test(
  'Redis wiped under a running server: one error line, readiness STORE_RESET, ADMIN_TOKEN works again',
  async (t) => {
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
  },
)
