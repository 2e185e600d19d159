import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError, loadConfig } from './config.js'
import { redisWarnings } from './redis/check.js'
import { connectRedis } from './redis/connect.js'
import { EmbeddedRedis, RedisMissingError } from './redis/embedded.js'
import { openFileLimit } from './stream/limits.js'

/** The only place that reads `process`: config, Redis, listen, graceful shutdown. */
async function main(): Promise<void> {
  let config
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
  let redisUrl = config.REDIS_URL
  if (!redisUrl && !config.REDIS_SENTINELS && !config.REDIS_CLUSTER_NODES) {
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
      console.error(`switchyard: cannot start the embedded Redis.\n${(e as Error).message}`)
      process.exit(e instanceof RedisMissingError ? 3 : 1)
    }
    redisUrl = embedded.url
    console.error(`switchyard: embedded redis-server on ${redisUrl} (data in ${config.DATA_DIR}, AOF appendfsync always)`)
  }

  const redis = connectRedis(config, redisUrl)
  redis.on('error', () => {}) // reported through /readyz and 503s; ioredis keeps reconnecting
  await redis.connect()

  const app = await buildApp(config, { redis, fdLimit: openFileLimit() })
  for (const w of await redisWarnings(redis)) app.log.warn(w)
  const secret = await app.services.tokens.bootstrap(config.ADMIN_TOKEN)
  if (secret) {
    console.error(
      '\n================================================================\n' +
        ' First start: an admin token was generated. It is shown ONCE;\n' +
        ' Switchyard stores only its hash. Keep it somewhere safe:\n\n' +
        `   ${secret}\n\n` +
        ' (or set ADMIN_TOKEN to choose your own)\n' +
        '================================================================\n',
    )
  }
  await app.services.environments.repair()

  closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error')
    else app.log.info({ signal }, 'shutting down')
    await app.close()
    redis.disconnect()
    await embedded?.stop()
  })

  await app.listen({ port: config.PORT, host: config.HOST })
}

main().catch((e: unknown) => {
  console.error(e)
  process.exit(1)
})
