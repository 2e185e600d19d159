/**
 * Redis Sentinel: the API connects through a Sentinel, the master dies, the
 * Sentinel promotes the replica, and the API serves again from the new master
 * with the data acknowledged before the failure.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { connectRedis } from '../../src/redis/connect.js'
import { freePort } from '../../src/redis/embedded.js'
import { ADMIN, startApp, startRedis } from '../helpers/server.js'
import { until } from '../helpers/wait.js'

t.test('failover through Sentinel keeps serving and keeps acknowledged writes', async (t) => {
  const master = await startRedis(t)
  const replica = await startRedis(t, { extraArgs: ['--replicaof', '127.0.0.1', String(master.port)] })

  const dir = mkdtempSync(join(tmpdir(), 'sy-sentinel-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const sentinelPort = await freePort()
  const conf = join(dir, 'sentinel.conf')
  writeFileSync(
    conf,
    [
      `port ${sentinelPort}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor mymaster 127.0.0.1 ${master.port} 1`,
      'sentinel down-after-milliseconds mymaster 500',
      'sentinel failover-timeout mymaster 3000',
    ].join('\n'),
  )
  const sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => sentinel.kill('SIGKILL'))
  let sentinelLog = ''
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`sentinel did not start:\n${sentinelLog}`)), 10_000)
    sentinel.stdout?.on('data', (b: Buffer) => {
      sentinelLog += b.toString()
      if (sentinelLog.includes('+monitor master')) {
        clearTimeout(timer)
        res()
      }
    })
  })

  const config = loadConfig({ LOG_LEVEL: 'silent', ADMIN_TOKEN: ADMIN, REDIS_SENTINELS: `127.0.0.1:${sentinelPort}` })
  const redis = connectRedis(config, undefined)
  redis.on('error', () => {})
  await redis.connect()
  const { url, api } = await startApp(t, config, redis)

  t.equal((await api('POST', '/api/v1/environments', { body: { key: 'production' } })).status, 201)
  t.equal((await api('POST', '/api/v1/flags', { body: { key: 'migration', kind: 'boolean' } })).status, 201)
  t.equal(
    (await api('POST', '/api/v1/environments/production/flags/migration/toggle', { body: { on: true } })).status,
    200,
  )
  // Acknowledged by the replica before the master dies (Redis replication is asynchronous).
  const direct = new Redis(master.url)
  t.equal(await direct.call('WAIT', '1', '5000'), 1, 'the replica has the writes')
  direct.disconnect()

  await master.kill()
  const watch = new Redis({ port: sentinelPort, host: '127.0.0.1' })
  t.teardown(() => watch.disconnect())
  await until(
    async () => {
      const addr = (await watch.call('SENTINEL', 'get-master-addr-by-name', 'mymaster')) as [string, string]
      return Number(addr[1]) === replica.port
    },
    20_000,
    'the Sentinel promotes the replica',
  )
  await until(async () => (await fetch(`${url}/readyz`)).status === 200, 20_000, 'the API is ready again')

  const kill = await api('POST', '/api/v1/environments/production/flags/migration/kill', {
    body: { reason: 'after failover' },
  })
  t.equal(kill.status, 200, 'writes go to the new master')
  t.equal(kill.body.on, false)
  t.equal(kill.body.version, 3, 'the versions written before the failure survived')
  const audit = await api('GET', '/api/v1/audit?env=production&flag=migration')
  t.same(
    (audit.body.items as Array<{ action: string }>).map((a) => a.action),
    ['flag.kill', 'flag.on', 'flag.create'],
  )
})
