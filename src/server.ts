import cluster from 'node:cluster'
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { AggregatorRegistry, Registry } from 'prom-client'
import { buildApp } from './app.js'
import { type Config, ConfigError, loadConfig } from './config.js'
import { redisWarnings } from './redis/check.js'
import { connectRedis, type RedisClient } from './redis/connect.js'
import { DataDirLockedError, lockDataDir } from './redis/datadir.js'
import { EmbeddedRedis, RedisMissingError } from './redis/embedded.js'
import { openFileLimit } from './stream/limits.js'
import { exponentialDelay } from '../sdk/transport/backoff.js'

/**
 * The primary's request to a worker to stop as on SIGTERM. A message, not a signal: a terminal's
 * Ctrl+C already reached every process of the group, and close-with-grace exits at once on a
 * second signal instead of finishing its requests.
 */
const SHUTDOWN = 'switchyard:shutdown'
/** A worker's request for the cluster's metrics, and the primary's answer (same type, same id). */
const METRICS = 'switchyard:metrics'
interface MetricsMessage {
  type: typeof METRICS
  id: number
  text?: string
  error?: string
}
const isMetricsMessage = (m: unknown): m is MetricsMessage =>
  typeof m === 'object' && m !== null && (m as { type?: unknown }).type === METRICS
/** A worker that ran this long before it died is restarted at once again (the backoff starts over). */
const WORKER_STABLE_MS = 30_000

/** The only place that reads `process`: config, Redis, listen, graceful shutdown. */
async function main(): Promise<void> {
  let config: Config
  try {
    config = loadConfig(process.env)
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message)
      process.exit(2)
    }
    throw e
  }

  let embedded: EmbeddedRedis | null = null
  let unlock: (() => void) | null = null
  let redis: RedisClient | null = null
  let app: FastifyInstance | null = null
  // A start that fails half-way undoes what it started (above all the embedded redis-server)
  // and says why in one line: an operator reads the first line, not a stack.
  const fail = async (why: string, code = 1): Promise<never> => {
    console.error(`switchyard: ${why}`)
    await app?.close().catch(() => {})
    redis?.disconnect()
    await embedded?.stop().catch(() => {})
    unlock?.()
    process.exit(code)
  }

  // A worker asked to stop before its graceful close is set up has nothing to finish.
  let grace: { close: () => void } | null = null
  let closing = false
  if (cluster.isWorker)
    process.on('message', (m) => {
      if (m !== SHUTDOWN) return
      if (grace === null) void fail('stopped before it started', 0)
      else if (!closing) grace.close()
    })

  let redisUrl = config.REDIS_URL
  if (!redisUrl && !config.REDIS_SENTINELS && !config.REDIS_CLUSTER_NODES) {
    try {
      unlock = lockDataDir(config.DATA_DIR)
    } catch (e) {
      return fail(
        e instanceof DataDirLockedError
          ? e.message
          : `cannot lock DATA_DIR ${config.DATA_DIR}: ${(e as Error).message}`,
      )
    }
    embedded = new EmbeddedRedis({
      bin: config.REDIS_SERVER_BIN,
      dir: config.DATA_DIR,
      port: config.EMBEDDED_REDIS_PORT,
      appendOnly: true,
      supervise: true,
      install: config.REDIS_AUTO_INSTALL,
      log: (m) => console.error(`switchyard: ${m}`),
    })
    try {
      await embedded.start()
    } catch (e) {
      if (e instanceof RedisMissingError) return fail(`cannot start the embedded Redis.\n${e.message}`, 3)
      return fail(`cannot start the embedded Redis: ${(e as Error).message}`)
    }
    redisUrl = embedded.url
    console.error(
      `switchyard: embedded redis-server on ${redisUrl} (data in ${config.DATA_DIR}, AOF appendfsync always)`,
    )
  }
  if (cluster.isPrimary && config.WORKERS > 1) {
    primary(config, redisUrl, async () => {
      await embedded?.stop().catch(() => {})
      unlock?.()
    })
    return
  }

  const client = connectRedis(config, redisUrl)
  redis = client
  // ioredis' connect() rejects with "Connection is closed"; the error event says why.
  let lastError: Error | null = null
  const remember = (e: Error) => {
    lastError = e
  }
  client.on('error', remember)
  try {
    await client.connect()
  } catch (e) {
    return fail(`cannot reach Redis: ${(lastError ?? (e as Error)).message}`)
  }
  client.off('error', remember)
  client.on('error', () => {}) // reported through /readyz and 503s; ioredis keeps reconnecting

  let generated: string | null = null
  try {
    app = await buildApp(config, { redis: client, fdLimit: openFileLimit(), ...(cluster.isWorker && workerMetrics()) })
    for (const w of await redisWarnings(client)) app.log.warn(w)
    // ADMIN_TOKEN is in place before the first request; a generated token is made only once the
    // server listens, so a start that fails never stores a token nobody was shown.
    if (config.ADMIN_TOKEN) await app.services.tokens.bootstrap(config.ADMIN_TOKEN)
    await app.services.environments.repair()
  } catch (e) {
    return fail(`cannot start: ${(e as Error).message}`)
  }
  const running = app

  grace = closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
    closing = true
    if (err) running.log.error({ err }, 'shutting down after an error')
    else running.log.info({ signal }, 'shutting down')
    await running.close()
    client.disconnect()
    await embedded?.stop()
    unlock?.()
  })

  try {
    await running.listen({ port: config.PORT, host: config.HOST })
  } catch (e) {
    return fail(`cannot listen on ${config.HOST}:${config.PORT}: ${(e as Error).message}`)
  }
  if (!config.ADMIN_TOKEN) {
    try {
      generated = await running.services.tokens.bootstrap(undefined)
    } catch (e) {
      return fail(`cannot create the first admin token: ${(e as Error).message}`)
    }
  }
  if (generated) {
    console.error(
      '\n================================================================\n' +
        ' First start: an admin token was generated. It is shown ONCE;\n' +
        ' Switchyard stores only its hash. Keep it somewhere safe:\n\n' +
        `   ${generated}\n\n` +
        ' (or set ADMIN_TOKEN to choose your own)\n' +
        '================================================================\n',
    )
  }
}

/**
 * A worker's side of the cluster's /metrics: its registry is what prom-client's AggregatorRegistry
 * collects from each worker, and /metrics asks the primary for all of them aggregated (counters
 * and histograms summed; one worker's counters alone would jump between scrapes that reach
 * different workers). Without an answer it serves its own, and says so on stderr.
 */
function workerMetrics(): { registry: Registry; metricsText: () => Promise<string> } {
  const registry = new Registry()
  AggregatorRegistry.setRegistries(registry)
  // Constructing one installs the worker's answer to the primary's collection requests.
  void new AggregatorRegistry()
  const waiting = new Map<number, (m: MetricsMessage | null) => void>()
  let next = 0
  process.on('message', (m: unknown) => {
    if (isMetricsMessage(m)) waiting.get(m.id)?.(m)
  })
  const metricsText = () =>
    new Promise<string>((resolve) => {
      const id = next++
      const done = (m: MetricsMessage | null) => {
        clearTimeout(timer)
        waiting.delete(id)
        if (m?.text !== undefined) return resolve(m.text)
        console.error(
          `switchyard: cluster metrics unavailable (${m?.error ?? 'no answer'}); /metrics answers for worker ${cluster.worker?.id} alone`,
        )
        resolve(registry.metrics())
      }
      // prom-client gives up on a worker that does not answer after 5 s.
      const timer = setTimeout(() => done(null), 10_000)
      waiting.set(id, done)
      process.send?.({ type: METRICS, id } satisfies MetricsMessage)
    })
  return { registry, metricsText }
}

/**
 * WORKERS > 1: this process serves nothing itself. It forks the workers (each a full instance on
 * the shared port, connected to `redisUrl`: the embedded redis-server it started, or the one
 * configured), starts a crashed one again with backoff (250 ms, doubling, at most 30 s), and on
 * SIGTERM/SIGINT asks every worker to close gracefully, waits for them, then runs `cleanup`
 * (the embedded redis-server and DATA_DIR's lock are its own). It also answers the workers'
 * requests for the cluster's metrics. A worker whose primary dies exits
 * with it (node:cluster closes it when its IPC channel does).
 */
function primary(config: Config, redisUrl: string | undefined, cleanup: () => Promise<void>): void {
  const env = redisUrl !== undefined ? { REDIS_URL: redisUrl } : {}
  const born = new Map<number, number>()
  let serving = false
  let stopping = false
  let failures = 0
  const fork = () => {
    const w = cluster.fork(env)
    born.set(w.id, Date.now())
    console.error(`switchyard: worker ${w.id} starting (pid ${w.process.pid})`)
  }
  const shutdown = async (code: number) => {
    if (stopping) return
    stopping = true
    const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined)
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((res) => {
            if (w.isDead()) return res()
            // Its own close-with-grace stops it after SHUTDOWN_GRACE_MS; this is for a worker that hangs.
            const kill = setTimeout(() => w.process.kill('SIGKILL'), config.SHUTDOWN_GRACE_MS + 5000)
            w.once('exit', () => {
              clearTimeout(kill)
              res()
            })
            if (w.isConnected()) w.send(SHUTDOWN)
            else w.process.kill('SIGTERM')
          }),
      ),
    )
    await cleanup()
    process.exit(code)
  }
  cluster.on('listening', (w) => {
    console.error(`switchyard: worker ${w.id} serving (pid ${w.process.pid})`)
    if (serving) return
    serving = true
    // The first worker did the one-time start work (ADMIN_TOKEN, repairs, the first admin token)
    // before it listened: the others start now and find it done instead of racing it.
    for (let i = 1; i < config.WORKERS; i++) fork()
  })
  cluster.on('exit', (w, code, signal) => {
    const lived = Date.now() - (born.get(w.id) ?? Date.now())
    born.delete(w.id)
    if (stopping) return
    const how = signal ?? `code ${code}`
    if (!serving) {
      // The first worker could not start (it said why): the start failed.
      console.error(`switchyard: worker ${w.id} exited (${how}) before it served; stopping`)
      void shutdown(code || 1)
      return
    }
    if (lived >= WORKER_STABLE_MS) failures = 0
    const delay = exponentialDelay(failures++, 250, 30_000)
    console.error(`switchyard: worker ${w.id} (pid ${w.process.pid}) exited (${how}); starting another in ${delay} ms`)
    setTimeout(() => {
      if (!stopping) fork()
    }, delay)
  })
  // /metrics on any worker: the primary collects every worker's registry (workerMetrics).
  const aggregator = new AggregatorRegistry()
  cluster.on('message', (w, m: unknown) => {
    if (!isMetricsMessage(m)) return
    const reply = (r: Partial<MetricsMessage>) => {
      if (w.isConnected()) w.send({ type: METRICS, id: m.id, ...r } satisfies MetricsMessage)
    }
    aggregator.clusterMetrics().then(
      (text) => reply({ text }),
      (e: Error) => reply({ error: e.message }),
    )
  })
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void shutdown(0))
  console.error(`switchyard: primary (pid ${process.pid}) starting ${config.WORKERS} workers`)
  fork()
}

main().catch((e: unknown) => {
  // Every expected failure is handled by fail(); this is a bug, and its stack helps.
  console.error(e)
  process.exit(1)
})
