/**
 * Browsers without our SDK, in Debian's chromium (playwright-core), against
 * the real server and Redis from another origin: OpenFeature's own OFREP web
 * provider (@openfeature/ofrep-web-provider on @openfeature/web-sdk, bundled
 * from node_modules with esbuild) evaluates and sees a kill through its
 * polling, with a signed context too; and a page's native EventSource, which
 * cannot send Authorization, receives a kill with the sdk-client token in
 * the URL.
 */
import t, { type Test } from 'tap'
import { resolve } from 'node:path'
import { build } from 'esbuild'
import type { Page } from 'playwright-core'
import { signContext } from '../../sdk/sign.js'
import { createFlag, createSdkEnv, encodeContext, putConfig } from '../helpers/sdk-fixtures.js'
import { startServer } from '../helpers/server.js'
import { launchChromium, openPage, serveStatic } from '../helpers/browser.js'

const root = resolve(import.meta.dirname, '../..')
// The page's script: what an app using OpenFeature's OFREP web provider would bundle.
const bundle = await build({
  stdin: {
    contents:
      "export { OpenFeature, ProviderEvents } from '@openfeature/web-sdk'\nexport { OFREPWebProvider } from '@openfeature/ofrep-web-provider'",
    resolveDir: root,
    loader: 'js',
  },
  bundle: true,
  format: 'esm',
  platform: 'browser',
  write: false,
  logLevel: 'warning',
})
const files: Record<string, { type: string; body: Uint8Array }> = {
  '/index.html': {
    type: 'text/html',
    body: Buffer.from('<!doctype html><html><head><meta charset="utf-8"></head><body></body></html>'),
  },
  '/ofrep.js': { type: 'text/javascript', body: (bundle.outputFiles[0] as { contents: Uint8Array }).contents },
}
const origin = await serveStatic(t, files)

const browser = await launchChromium(t)

/** A fresh page (its own browser context: no localStorage from another test) on the static origin. */
function newPage(t: Test): Promise<Page & { errors: string[] }> {
  return openPage(t, browser, `${origin}/index.html`)
}

interface PageWindow {
  of: {
    getClient(): {
      getBooleanDetails(
        k: string,
        d: boolean,
      ): { value: boolean; reason?: string; variant?: string; errorCode?: string }
    }
  }
  changes: string[][]
  events: Array<{ type: string; data: string }>
}

t.test('OFREP web provider: evaluates cross-origin and sees a kill through its polling', async (t) => {
  const s = await startServer(t)
  const env = await createSdkEnv(s)
  await createFlag(s, 'banner', { clientSide: true })
  await putConfig(s, env.env, 'banner', { targets: [{ variation: 0, values: ['user-1'] }] })
  await createFlag(s, 'server-only')
  await createFlag(s, 'dark', { clientSide: true })
  await putConfig(s, env.env, 'dark', { on: false, offVariation: null })
  const page = await newPage(t)

  const first = await page.evaluate(
    async ({ url, token, origin }) => {
      const m = await import(`${origin}/ofrep.js`)
      const w = window as unknown as Record<string, unknown>
      const provider = new m.OFREPWebProvider({
        baseUrl: url,
        headers: [['Authorization', `Bearer ${token}`]],
        pollInterval: 250,
      })
      await m.OpenFeature.setContext({ targetingKey: 'user-1' })
      await m.OpenFeature.setProviderAndWait(provider)
      w.of = m.OpenFeature
      w.changes = []
      m.OpenFeature.getClient().addHandler(m.ProviderEvents.ConfigurationChanged, (d: { flagsChanged?: string[] }) =>
        (w.changes as string[][]).push(d.flagsChanged ?? []),
      )
      const c = m.OpenFeature.getClient()
      return {
        banner: c.getBooleanDetails('banner', false),
        serverOnly: c.getBooleanDetails('server-only', true),
        dark: c.getBooleanDetails('dark', true),
      }
    },
    { url: s.url, token: env.clientToken, origin },
  )
  t.match(first.banner, { value: true, reason: 'TARGETING_MATCH', variant: '0' })
  t.match(
    first.serverOnly,
    { value: true, reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND' },
    'a flag that is not clientSide is not there for a page',
  )
  t.match(
    first.dark,
    { value: true, reason: 'DISABLED' },
    "off without an off variation: the caller's default (OFREP codeDefaultFlag)",
  )
  t.notOk('errorCode' in first.dark, 'and no error')

  const killedAt = Date.now()
  const kill = await s.api('POST', `/api/v1/environments/${env.env}/flags/banner/kill`, {
    body: { reason: 'browser ofrep' },
  })
  t.equal(kill.status, 200)
  await page.waitForFunction(() => (window as unknown as PageWindow).changes.length > 0, undefined, { timeout: 20_000 })
  t.comment(`kill seen by the page ${Date.now() - killedAt} ms after the REST call (pollInterval 250 ms)`)
  const after = await page.evaluate(() => {
    const w = window as unknown as PageWindow
    return { changes: w.changes, banner: w.of.getClient().getBooleanDetails('banner', true) }
  })
  t.same(after.changes, [['banner']], 'CONFIGURATION_CHANGED for the killed flag')
  t.match(after.banner, { value: false, reason: 'DISABLED', variant: '1' })
  t.same(page.errors, [], 'no uncaught page errors')
})

t.test('OFREP web provider: a signed context in an environment that requires one', async (t) => {
  const s = await startServer(t)
  const env = await createSdkEnv(s, 'production', { requireSignedContext: true })
  await createFlag(s, 'banner', { clientSide: true })
  await putConfig(s, env.env, 'banner', {
    rules: [{ id: 'pro', clauses: [{ attribute: 'plan', op: 'in', values: ['pro'] }], serve: { variation: 0 } }],
  })
  // What the page's backend computes: the signature of { key, ...attributes }.
  const signature = signContext(env.signingSecret, { key: 'user-1', plan: 'pro' })
  const page = await newPage(t)
  const got = await page.evaluate(
    async ({ url, token, origin, signature }) => {
      const m = await import(`${origin}/ofrep.js`)
      const provider = new m.OFREPWebProvider({
        baseUrl: url,
        headers: [['Authorization', `Bearer ${token}`]],
        cacheMode: 'disabled',
      })
      await m.OpenFeature.setContext({ targetingKey: 'user-1', plan: 'pro', switchyardSignature: signature })
      await m.OpenFeature.setProviderAndWait(provider)
      const signed = m.OpenFeature.getClient().getBooleanDetails('banner', false)
      // A forged attribute: the server refuses the context (403), the provider keeps no values for it.
      const errors: string[] = []
      m.OpenFeature.getClient().addHandler(m.ProviderEvents.Error, (d: { message?: string }) =>
        errors.push(d.message ?? ''),
      )
      await m.OpenFeature.setContext({ targetingKey: 'user-1', plan: 'enterprise', switchyardSignature: signature })
      return { signed, errors }
    },
    { url: s.url, token: env.clientToken, origin, signature },
  )
  t.match(got.signed, { value: true, reason: 'TARGETING_MATCH' })
  t.match(got.errors, [/forbidden/i], 'a changed attribute breaks the signature: 403')
  t.same(page.errors, [], 'no uncaught page errors')
})

t.test('a native EventSource with ?access_token= receives a kill from /api/v1/sdk/client/stream', async (t) => {
  const s = await startServer(t)
  const env = await createSdkEnv(s)
  await createFlag(s, 'banner', { clientSide: true })
  await putConfig(s, env.env, 'banner', { fallthrough: { variation: 0 } })
  const page = await newPage(t)
  const src = `${s.url}/api/v1/sdk/client/stream?context=${encodeContext({ key: 'user-1' })}&access_token=${encodeURIComponent(env.clientToken)}`
  await page.evaluate((src) => {
    const w = window as unknown as PageWindow & { es: EventSource }
    w.events = []
    w.es = new EventSource(src)
    for (const type of ['put', 'patch'])
      w.es.addEventListener(type, (e) => w.events.push({ type, data: (e as MessageEvent<string>).data }))
  }, src)
  await page.waitForFunction(() => (window as unknown as PageWindow).events.some((e) => e.type === 'put'), undefined, {
    timeout: 20_000,
  })
  const put = await page.evaluate(() => (window as unknown as PageWindow).events[0] as { type: string; data: string })
  t.match(JSON.parse(put.data), { flags: { banner: { value: true } } }, 'the first values')

  t.equal(
    (
      await s.api('POST', `/api/v1/environments/${env.env}/flags/banner/kill`, {
        body: { reason: 'native EventSource' },
      })
    ).status,
    200,
  )
  await page.waitForFunction(
    () => (window as unknown as PageWindow).events.some((e) => e.type === 'patch'),
    undefined,
    { timeout: 20_000 },
  )
  const patch = await page.evaluate(
    () => (window as unknown as PageWindow).events.find((e) => e.type === 'patch') as { type: string; data: string },
  )
  t.match(JSON.parse(patch.data), { flags: { banner: { value: false, reason: { kind: 'OFF' } } } }, 'the kill')
  await page.evaluate(() => (window as unknown as { es: EventSource }).es.close())
  t.same(page.errors, [], 'no uncaught page errors')
})
