// Headless Chromium (Debian's) and a static origin for the browser tests: launched and served once per
// file, closed at teardown. The flags keep Chromium off this machine's closed network.
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type Browser, chromium, type Page } from 'playwright-core'
import type { Teardown } from './server.js'

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/** Debian's chromium through playwright-core, closed at teardown. */
export async function launchChromium(t: Teardown): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS })
  t.teardown(() => browser.close())
  return browser
}

/** Serves `files` (path → type and body) on a free port of 127.0.0.1, uncached; returns its origin. */
export async function serveStatic(
  t: Teardown,
  files: Record<string, { type: string; body: string | Uint8Array }>,
): Promise<string> {
  const statics = createServer((req, res) => {
    const f = files[new URL(req.url ?? '/', 'http://x').pathname]
    if (!f) return res.writeHead(404).end()
    res.writeHead(200, { 'Content-Type': f.type, 'Cache-Control': 'no-store' }).end(f.body)
  })
  statics.listen(0, '127.0.0.1')
  await once(statics, 'listening')
  t.teardown(() => new Promise<void>((r) => statics.close(() => r())))
  return `http://127.0.0.1:${(statics.address() as AddressInfo).port}`
}

/** A fresh page at `url`, closed at teardown; `errors` collects uncaught page errors (tests assert it). */
export async function openPage(t: Teardown, browser: Browser, url: string): Promise<Page & { errors: string[] }> {
  const page = (await browser.newPage()) as Page & { errors: string[] }
  t.teardown(() => page.close())
  page.errors = []
  page.on('pageerror', (e) => page.errors.push(e.message))
  await page.goto(url)
  return page
}
