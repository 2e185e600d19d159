import type { RedisClient } from './connect.js'

/**
 * Settings of the Redis in use that would break Switchyard's promises:
 * without AOF an acknowledged change can be lost in a crash, and an eviction
 * policy other than noeviction can silently drop flags. Returned as warnings
 * (managed services may forbid CONFIG), logged at start-up.
 */
export async function redisWarnings(redis: RedisClient): Promise<string[]> {
  const out: string[] = []
  const info = await redis.info('persistence').catch(() => '')
  const aof = /aof_enabled:(\d)/.exec(info)?.[1]
  if (aof === '0')
    out.push(
      'Redis has AOF off (appendonly no): an acknowledged change can be lost if Redis crashes. Set appendonly yes (deploy/redis.conf).',
    )
  const mem = await redis.info('memory').catch(() => '')
  const policy = /maxmemory_policy:(\S+)/.exec(mem)?.[1]
  if (policy && policy !== 'noeviction')
    out.push(
      `Redis evicts keys under memory pressure (maxmemory-policy ${policy}): flags could vanish. Set maxmemory-policy noeviction.`,
    )
  const server = await redis.info('server').catch(() => '')
  const major = Number(/redis_version:(\d+)/.exec(server)?.[1] ?? '7')
  if (major < 7) out.push(`Redis ${major}.x: Switchyard needs Redis ≥ 7 (stream trimming and script semantics).`)
  return out
}

/**
 * Redis is at maxmemory and refuses writes (with noeviction): the same test
 * Redis applies, used memory minus what it does not count for eviction
 * (replication and AOF buffers) above maxmemory.
 */
export async function storeFull(redis: RedisClient): Promise<boolean> {
  // Managed services may forbid INFO: then only write errors tell.
  const mem = await redis.info('memory').catch(() => '')
  const num = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(mem)?.[1] ?? 0)
  const max = num('maxmemory')
  return max > 0 && num('used_memory') - num('mem_not_counted_for_evict') > max
}
