// The backend of a static page that uses the browser SDK. It serves the page, the SDK's browser
// bundle, and /session: the user's context with its signature. The environment requires signed
// contexts (requireSignedContext), so a visitor cannot claim another plan or another user's key: the
// signature covers the whole context, and the signing secret never leaves this backend.
//
//   SWITCHYARD_URL=http://127.0.0.1:3000 SWITCHYARD_CLIENT_TOKEN=sy_cli_… \
//   SWITCHYARD_SIGNING_SECRET=… node examples/browser/server.mjs
//   open http://127.0.0.1:8081/?user=user-1
import { createServer } from 'node:http'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { signContext } from '@switchyard/sdk/sign'

const { SWITCHYARD_CLIENT_TOKEN: token, SWITCHYARD_SIGNING_SECRET: secret } = process.env
if (!token || !secret) {
  console.error(
    "Set SWITCHYARD_CLIENT_TOKEN (an sdk-client token) and SWITCHYARD_SIGNING_SECRET (the environment's signingSecret).",
  )
  process.exit(2)
}
// The URL the browser reaches Switchyard at (the page calls it directly, cross-origin).
const switchyardUrl = process.env.SWITCHYARD_URL ?? 'http://127.0.0.1:3000'

// What the site knows about its users; in a real site this comes from the login session.
const USERS = { 'user-1': { plan: 'pro' }, 'user-2': { plan: 'free' } }

const files = {
  '/': { path: fileURLToPath(new URL('./index.html', import.meta.url)), type: 'text/html; charset=utf-8' },
  '/app.js': { path: fileURLToPath(new URL('./app.js', import.meta.url)), type: 'text/javascript' },
  // The package's browser build (client mode only, no rule engine), as installed.
  '/switchyard.browser.js': {
    path: fileURLToPath(import.meta.resolve('@switchyard/sdk/browser')),
    type: 'text/javascript',
  },
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost')
  if (url.pathname === '/session') {
    const key = url.searchParams.get('user') ?? ''
    const user = USERS[key]
    if (!user) return res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"unknown user"}')
    // Sign exactly the object the page passes to createClient as `context`.
    const context = { key, plan: user.plan }
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    return res.end(JSON.stringify({ url: switchyardUrl, token, context, signature: signContext(secret, context) }))
  }
  const file = files[url.pathname]
  if (!file) return res.writeHead(404).end()
  res.writeHead(200, { 'content-type': file.type }).end(await readFile(file.path))
})
server.listen(Number(process.env.PORT ?? 8081), '127.0.0.1', () => {
  console.log(`example site on http://127.0.0.1:${server.address().port}`)
})
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => server.close())
