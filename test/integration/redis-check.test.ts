import { Redis } from 'ioredis'
import t from 'tap'
import { redisWarnings } from '../../src/redis/check.js'
import { startRedis } from '../helpers/server.js'

t.test('start-up warnings name the Redis settings that break promises', async (t) => {
  const unsafe = await startRedis(t, { appendOnly: false, extraArgs: ['--maxmemory-policy', 'allkeys-lru'] })
  const a = new Redis(unsafe.url)
  t.teardown(() => a.disconnect())
  const w = await redisWarnings(a)
  t.equal(w.length, 2)
  t.match(w[0], /appendonly yes/)
  t.match(w[1], /noeviction/)

  const safe = await startRedis(t, { appendOnly: true })
  const b = new Redis(safe.url)
  t.teardown(() => b.disconnect())
  t.same(await redisWarnings(b), [], 'AOF on and noeviction: nothing to say')
})
