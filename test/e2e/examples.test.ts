/**
 * Every example in examples/ run as a user runs it (`node examples/…`, importing
 * @switchyard/sdk by name through the workspace link, i.e. the built sdk/dist)
 * against the real server and Redis: the Node service with last-known-good,
 * the static page with a signed context in headless Chromium, the OpenFeature
 * app. Each is checked through what it prints or serves.
 */
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { createFlag, createSdkEnv, putConfig } from '../helpers/sdk-fixtures.js'
import { type Proc, spawnProc } from '../helpers/server-process.js'
import { startServer } from '../helpers/server.js'
import { launchChromium } from '../helpers/browser.js'

const root = resolve(import.meta.dirname, '../..')
const work = await mkdtemp(join(tmpdir(), 'sy-examples-'))
t.teardown(() => rm(work, { recursive: true, force: true }))
// The examples import the package, whose exports point into sdk/dist (skipped when it is current).
await promisify(execFile)(process.execPath, [join(root, 'scripts/build-sdk.mjs'), '--package'], { cwd: root })

/** Runs an example with only the environment it documents; killed at teardown if still running. */
function example(t: Test, file: string, env: Record<string, string>): Proc {
  const p = spawnProc(process.execPath, [file], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
  })
  t.teardown(async () => {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGKILL')
      await p.exited
    }
  })
  return p
}

/** SIGTERM, as a process manager stops it: the example closes its SDK client and exits by itself. */
async function stop(p: Proc, ms = 20_000): Promise<number | null> {
  p.child.kill('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still running ${ms} ms after SIGTERM; output:\n${p.output()}`)), ms)
  })
  try {
    return await Promise.race([p.exited, timeout])
  } finally {
    clearTimeout(timer)
  }
}

async function getJson(url: string): Promise<unknown> {
  const r = await fetch(url)
  if (!r.ok) throw new Error(`${url}: ${r.status}`)
  return r.json()
}

t.test(
  'node-service: answers from the server SDK, follows a kill, restarts from last-known-good while Switchyard is down',
  async (t) => {
    const s = await startServer(t)
    const env = await createSdkEnv(s)
    await createFlag(s, 'new-checkout')
    await putConfig(s, env.env, 'new-checkout', { targets: [{ variation: 0, values: ['user-1'] }] })
    const vars = {
      SWITCHYARD_URL: s.url,
      SWITCHYARD_SDK_TOKEN: env.serverToken,
      FLAGS_CACHE: join(work, 'checkout-flags.json'),
      PORT: '0',
    }

    const first = example(t, 'examples/node-service/server.mjs', vars)
    const [, url] = await first.waitFor(/checkout service on (http:\S+) \(flags from server\)/)
    t.same(await getJson(`${url}/checkout?user=user-1`), { user: 'user-1', checkout: 'new', flagsFrom: 'server' })
    t.same(await getJson(`${url}/checkout?user=user-9`), { user: 'user-9', checkout: 'classic', flagsFrom: 'server' })

    const kill = await s.api('POST', `/api/v1/environments/${env.env}/flags/new-checkout/kill`, {
      body: { reason: 'example test' },
    })
    t.equal(kill.status, 200)
    await first.waitFor(/flags changed: new-checkout/)
    t.same(await getJson(`${url}/checkout?user=user-1`), { user: 'user-1', checkout: 'classic', flagsFrom: 'server' })
    t.equal(await stop(first), 0, 'exits 0 on SIGTERM (the client closed, the cache written)')

    // Switchyard is gone (same URL, nothing listening): the restarted service answers from its file.
    await s.app.close()
    const second = example(t, 'examples/node-service/server.mjs', vars)
    const [, url2] = await second.waitFor(/checkout service on (http:\S+) \(flags from cache\)/)
    t.same(
      await getJson(`${url2}/checkout?user=user-1`),
      { user: 'user-1', checkout: 'classic', flagsFrom: 'cache' },
      'the kill, remembered',
    )
    t.equal(await stop(second), 0)
  },
)

t.test('browser: the static page with a signed context, in headless Chromium, follows a kill', async (t) => {
  const s = await startServer(t)
  const env = await createSdkEnv(s, 'production', { requireSignedContext: true })
  await createFlag(s, 'new-checkout', { clientSide: true })
  await putConfig(s, env.env, 'new-checkout', {
    rules: [{ id: 'pro', clauses: [{ attribute: 'plan', op: 'in', values: ['pro'] }], serve: { variation: 0 } }],
  })
  const site = example(t, 'examples/browser/server.mjs', {
    SWITCHYARD_URL: s.url,
    SWITCHYARD_CLIENT_TOKEN: env.clientToken,
    SWITCHYARD_SIGNING_SECRET: env.signingSecret,
    PORT: '0',
  })
  const [, siteUrl] = await site.waitFor(/example site on (http:\S+)/)

  const browser = await launchChromium(t)
  const problems: string[] = []
  const open = async (user: string) => {
    const page = await browser.newPage()
    page.on('pageerror', (e) => problems.push(`${user}: ${e.message}`))
    page.on('console', (m) => {
      if (m.type() === 'warning' || m.type() === 'error') problems.push(`${user}: ${m.text()}`)
    })
    await page.goto(`${siteUrl}/?user=${user}`)
    return page
  }
  /** Runs in the page: does it show `want`? */
  const checkout = (want: string) => document.querySelector('#checkout')?.textContent === want

  const pro = await open('user-1')
  await pro.waitForFunction(checkout, 'new checkout', { timeout: 20_000 })
  t.equal(await pro.textContent('#source'), 'server', 'values from the server: the signed context was accepted')
  const free = await open('user-2')
  await free.waitForFunction(checkout, 'classic checkout', { timeout: 20_000 })
  t.equal(await free.textContent('#source'), 'server')

  const kill = await s.api('POST', `/api/v1/environments/${env.env}/flags/new-checkout/kill`, {
    body: { reason: 'example test' },
  })
  t.equal(kill.status, 200)
  await pro.waitForFunction(checkout, 'classic checkout', { timeout: 20_000 })
  t.pass('the open page switched to the classic checkout')
  t.same(problems, [], 'no page error or warning')
  t.equal(await stop(site), 0)
})

t.test(
  'openfeature: the OpenFeature server SDK with the Switchyard provider, reasons and a change event',
  async (t) => {
    const s = await startServer(t)
    const env = await createSdkEnv(s)
    await createFlag(s, 'new-checkout')
    await putConfig(s, env.env, 'new-checkout', {
      rules: [{ id: 'pro', clauses: [{ attribute: 'plan', op: 'in', values: ['pro'] }], serve: { variation: 0 } }],
    })
    const app = example(t, 'examples/openfeature/app.mjs', {
      SWITCHYARD_URL: s.url,
      SWITCHYARD_SDK_TOKEN: env.serverToken,
    })
    await app.waitFor(/start user-2: .*\n/)
    t.match(app.output(), /start user-1: true \(TARGETING_MATCH, variant 0, rule pro\)\n/)
    t.match(app.output(), /start user-2: false \(DEFAULT, variant 1\)\n/)

    const kill = await s.api('POST', `/api/v1/environments/${env.env}/flags/new-checkout/kill`, {
      body: { reason: 'example test' },
    })
    t.equal(kill.status, 200)
    await app.waitFor(/now user-2: .*\n/)
    t.match(
      app.output(),
      /changed: new-checkout\nnow user-1: false \(DISABLED, variant 1\)\nnow user-2: false \(DISABLED, variant 1\)\n/,
    )
    t.equal(await stop(app), 0, 'OpenFeature.close() ends the process')
  },
)
