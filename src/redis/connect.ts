import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis'
import type { Config } from '../config.js'

/** A standalone / Sentinel connection or a Cluster client: the app uses the commands both have. */
export type RedisClient = Redis | Cluster

type RedisConfig = Pick<Config, 'REDIS_SENTINELS' | 'REDIS_SENTINEL_MASTER' | 'REDIS_PASSWORD' | 'REDIS_CLUSTER_NODES'>

const backoff = (times: number) => Math.min(5000, 100 * 2 ** Math.min(times, 6)) + Math.floor(Math.random() * 100)

function hostPorts(list: string): Array<{ host: string; port: number }> {
  return list.split(',').map((hp) => {
    const i = hp.lastIndexOf(':')
    return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) }
  })
}

/**
 * The connection every part of the app shares (blocking readers get their own,
 * see `blockingConnection`). Fails fast while Redis is down, so requests get
 * 503 STORE_UNAVAILABLE instead of hanging, and reconnects with exponential
 * backoff and jitter. Every multi-key operation of Switchyard stays inside one
 * hash tag (`{env}` or `{global}`), which is what Redis Cluster needs.
 */
export function connectRedis(config: RedisConfig, url: string | undefined): RedisClient {
  const common: RedisOptions = { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: backoff, lazyConnect: true }
  if (config.REDIS_CLUSTER_NODES) {
    const options: ClusterOptions = {
      enableOfflineQueue: false,
      lazyConnect: true,
      clusterRetryStrategy: backoff,
      redisOptions: { maxRetriesPerRequest: 1, ...(config.REDIS_PASSWORD && { password: config.REDIS_PASSWORD }) },
    }
    return new Cluster(hostPorts(config.REDIS_CLUSTER_NODES), options)
  }
  if (config.REDIS_SENTINELS) {
    return new Redis({
      ...common,
      sentinels: hostPorts(config.REDIS_SENTINELS),
      name: config.REDIS_SENTINEL_MASTER,
      ...(config.REDIS_PASSWORD && { password: config.REDIS_PASSWORD }),
      // After a failover the old master may still answer as a replica: reconnect on READONLY.
      reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
    })
  }
  if (!url) throw new Error('connectRedis: set REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES')
  return new Redis(url, common)
}

/**
 * A connection of its own for XREAD BLOCK (a blocked connection cannot serve
 * anything else): queues while reconnecting and never gives up on a command.
 */
export function blockingConnection(redis: RedisClient): RedisClient {
  const retryStrategy = (n: number) => Math.min(100 * 2 ** n, 2000)
  if (redis instanceof Cluster) {
    return redis.duplicate([], { lazyConnect: true, enableOfflineQueue: true, clusterRetryStrategy: retryStrategy, redisOptions: { maxRetriesPerRequest: null } })
  }
  return redis.duplicate({ lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: null, retryStrategy })
}
