import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis'
import type { Config } from '../config.js'
import { exponentialDelay } from '../../sdk/transport/backoff.js'

/** A standalone / Sentinel connection or a Cluster client: the app uses the commands both have. */
export type RedisClient = Redis | Cluster

type RedisConfig = Pick<
  Config,
  'REDIS_SENTINELS' | 'REDIS_SENTINEL_MASTER' | 'REDIS_PASSWORD' | 'REDIS_CLUSTER_NODES' | 'REDIS_COMMAND_TIMEOUT_MS'
>

// ioredis calls it with the retry count from 1: 200 ms, 400 ms, … capped at 5 s, plus 0–99 ms of jitter.
const backoff = (times: number) => exponentialDelay(times, 100, 5000) + Math.floor(Math.random() * 100)

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
 *
 * A Redis that stops answering without closing the connection (SIGSTOP, a
 * stalled disk, a network black hole) is bounded too: every command fails
 * with "Command timed out" after REDIS_COMMAND_TIMEOUT_MS (mapped to 503
 * STORE_UNAVAILABLE), and so does a connection attempt.
 */
export function connectRedis(config: RedisConfig, url: string | undefined): RedisClient {
  const timeouts = { commandTimeout: config.REDIS_COMMAND_TIMEOUT_MS, connectTimeout: config.REDIS_COMMAND_TIMEOUT_MS }
  const common: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: backoff,
    lazyConnect: true,
    ...timeouts,
  }
  if (config.REDIS_CLUSTER_NODES) {
    const options: ClusterOptions = {
      enableOfflineQueue: false,
      lazyConnect: true,
      clusterRetryStrategy: backoff,
      redisOptions: {
        maxRetriesPerRequest: 1,
        ...timeouts,
        ...(config.REDIS_PASSWORD && { password: config.REDIS_PASSWORD }),
      },
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
 * Its command timeout is the app's plus `blockMs`, so a healthy XREAD that
 * waits its full BLOCK time never times out, while a stalled Redis still
 * fails the read (the reader then retries and re-checks continuity).
 */
export function blockingConnection(redis: RedisClient, blockMs: number): RedisClient {
  // 200 ms, 400 ms, … capped at 2 s, no jitter: one reader per environment, not a herd.
  const retryStrategy = (n: number) => exponentialDelay(n, 100, 2000)
  if (redis instanceof Cluster) {
    const base = redis.options.redisOptions?.commandTimeout
    const commandTimeout = base === undefined ? undefined : base + blockMs
    return redis.duplicate([], {
      lazyConnect: true,
      enableOfflineQueue: true,
      clusterRetryStrategy: retryStrategy,
      redisOptions: { ...redis.options.redisOptions, maxRetriesPerRequest: null, commandTimeout },
    })
  }
  const base = redis.options.commandTimeout
  return redis.duplicate({
    lazyConnect: true,
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    retryStrategy,
    commandTimeout: base === undefined ? undefined : base + blockMs,
  })
}
