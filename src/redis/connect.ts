import { Redis, type RedisOptions } from 'ioredis'
import type { Config } from '../config.js'

/**
 * The connection every part of the app shares (blocking readers duplicate it).
 * Fails fast while Redis is down, so requests get 503 STORE_UNAVAILABLE instead
 * of hanging, and reconnects with exponential backoff and jitter.
 */
export function connectRedis(config: Pick<Config, 'REDIS_SENTINELS' | 'REDIS_SENTINEL_MASTER' | 'REDIS_PASSWORD'>, url: string | undefined): Redis {
  const common: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(5000, 100 * 2 ** Math.min(times, 6)) + Math.floor(Math.random() * 100),
    lazyConnect: true,
  }
  if (config.REDIS_SENTINELS) {
    const sentinels = config.REDIS_SENTINELS.split(',').map((hp) => {
      const i = hp.lastIndexOf(':')
      return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) }
    })
    return new Redis({
      ...common,
      sentinels,
      name: config.REDIS_SENTINEL_MASTER,
      ...(config.REDIS_PASSWORD && { password: config.REDIS_PASSWORD }),
      // After a failover the old master may still answer as a replica: reconnect on READONLY.
      reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
    })
  }
  if (!url) throw new Error('connectRedis: no REDIS_URL and no REDIS_SENTINELS')
  return new Redis(url, common)
}
