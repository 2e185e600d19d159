/**
 * Redis at maxmemory with noeviction refuses writes ("OOM command not
 * allowed"), also inside the atomic Lua script. That is not a bug in
 * Switchyard: 503 STORE_FULL (nothing written), readiness reports it, reads
 * keep working, and once memory is freed everything works again.
 */
import t from 'tap'
import { createFlag, createSdkEnv } from '../helpers/sdk-fixtures.js'
import { startRedis, startServer } from '../helpers/server.js'

t.test('maxmemory reached: a kill answers 503 STORE_FULL, /readyz reports it; freed: served again', async (t) => {
  const redisServer = await startRedis(t, { extraArgs: ['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction'] })
  const s = await startServer(t, { redisServer })
  await createSdkEnv(s)
  await createFlag(s, 'new-checkout')
  t.equal((await s.api('GET', '/readyz', { token: null })).status, 200)

  let filled = 0
  let refused = ''
  for (; filled < 1000; filled++) {
    try {
      await s.redis.set(`filler:${filled}`, 'x'.repeat(64 * 1024))
    } catch (e) {
      refused = (e as Error).message
      break
    }
  }
  t.match(refused, /^OOM /, 'filled up to maxmemory')
  // Right at the limit, client buffers that come and go decide whether a small write fits; put the
  // limit clearly below what the data uses, so every write is refused.
  const used = Number(/^used_memory:(\d+)/m.exec(await s.redis.info('memory'))?.[1])
  await s.redis.config('SET', 'maxmemory', String(used - 256 * 1024))
  await t.rejects(s.redis.set('one-more', 'x'), /^OOM /, 'even a tiny write is refused')

  const kill = await s.api('POST', '/api/v1/environments/production/flags/new-checkout/kill', {
    body: { reason: 'full' },
  })
  t.same([kill.status, kill.body.code], [503, 'STORE_FULL'], "the atomic script's OOM is a 503 with its own code")
  t.equal(kill.headers.get('retry-after'), '1')
  const flag = await s.api('POST', '/api/v1/flags', { body: { key: 'another', kind: 'boolean' } })
  t.same([flag.status, flag.body.code], [503, 'STORE_FULL'])
  const ready = await s.api('GET', '/readyz', { token: null })
  t.same([ready.status, ready.body.code], [503, 'STORE_FULL'], 'readiness reports the full store')
  const read = await s.api('GET', '/api/v1/environments/production/flags/new-checkout')
  t.same([read.status, read.body.on, read.body.version], [200, false, 1], 'reads work; the refused kill wrote nothing')

  for (let i = 0; i < filled; i++) await s.redis.del(`filler:${i}`)
  t.equal((await s.api('GET', '/readyz', { token: null })).status, 200, 'ready once memory is free')
  const again = await s.api('POST', '/api/v1/environments/production/flags/new-checkout/kill', {
    body: { reason: 'freed' },
  })
  t.equal(again.status, 200)
})
