// A checkout service that asks Switchyard which checkout each user gets.
//
// The server SDK holds the environment's rules and answers every check from memory (no request per
// check); it streams changes, so a kill reaches this process within milliseconds. With fileStorage it
// keeps the last rules it saw in a file: started while Switchyard is down, it answers from them
// instead of from defaults.
//
//   SWITCHYARD_URL=http://127.0.0.1:3000 SWITCHYARD_SDK_TOKEN=sy_srv_… node examples/node-service/server.mjs
//   curl 'http://127.0.0.1:8080/checkout?user=user-1'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '@switchyard/sdk'
import { fileStorage } from '@switchyard/sdk/node-storage'

const token = process.env.SWITCHYARD_SDK_TOKEN
if (!token) {
  console.error('Set SWITCHYARD_SDK_TOKEN to an sdk-server token (POST /api/v1/tokens, kind "sdk-server").')
  process.exit(2)
}
const cacheFile = process.env.FLAGS_CACHE ?? join(tmpdir(), 'switchyard-checkout-service.json')

const flags = createClient({
  url: process.env.SWITCHYARD_URL ?? 'http://127.0.0.1:3000',
  token,
  storage: fileStorage(cacheFile),
})
flags.on('change', (keys) => console.log(`flags changed: ${keys.join(', ')}`))
flags.on('stale', () => console.warn('flag data is getting old: Switchyard has not confirmed it for a while'))

// Wait briefly for flags, but serve in any case: until they arrive every check answers its default.
await flags
  .ready({ timeoutMs: 5000 })
  .catch((e) => console.warn(`flags not ready (${e.code}): serving defaults until they arrive`))

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost')
  if (url.pathname !== '/checkout') return res.writeHead(404).end()
  const user = url.searchParams.get('user') ?? 'anonymous'
  const checkout = flags.isEnabled('new-checkout', { key: user }) ? 'new' : 'classic'
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(JSON.stringify({ user, checkout, flagsFrom: flags.source ?? 'defaults' }))
})
server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', () => {
  const { port } = server.address()
  console.log(`checkout service on http://127.0.0.1:${port} (flags from ${flags.source ?? 'defaults'})`)
})

// close() stops the stream and writes the cache one last time, so the next start has the latest rules.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    server.close()
    void flags.close()
  })
}
