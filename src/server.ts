import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { buildApp } from './app.js'
import { type Config, ConfigError, loadConfig } from './config.js'
import { redisWarnings } from './redis/check.js'
import { connectRedis, type RedisClient } from './redis/connect.js'
import { DataDirLockedError, lockDataDir } from './redis/datadir.js'
import { EmbeddedRedis, RedisMissingError } from './redis/embedded.js'
import { openFileLimit } from './stream/limits.js'

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
    app = await buildApp(config, { redis: client, fdLimit: openFileLimit() })
    for (const w of await redisWarnings(client)) app.log.warn(w)
    // ADMIN_TOKEN is in place before the first request; a generated token is made only once the
    // server listens, so a start that fails never stores a token nobody was shown.
    if (config.ADMIN_TOKEN) await app.services.tokens.bootstrap(config.ADMIN_TOKEN)
    await app.services.environments.repair()
  } catch (e) {
    return fail(`cannot start: ${(e as Error).message}`)
  }
  const running = app

  closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
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

main().catch((e: unknown) => {
  // Every expected failure is handled by fail(); this is a bug, and its stack helps.
  console.error(e)
  process.exit(1)
})
