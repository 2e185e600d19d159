/**
 * Screenshots of the admin page for the README (docs/images/ui-*.png): a real server on a throwaway
 * redis-server, seeded through the REST API with a small release, a real Node SDK connected, then Debian's
 * chromium at desktop and phone sizes.
 *
 * Usage: npm run screenshots   (node --import=tsx scripts/screenshots.ts)
 */
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { createClient } from '../sdk/index.js'
import { launchChromium } from '../test/helpers/browser.js'
import { createFlag, createSdkEnv, putConfig } from '../test/helpers/sdk-fixtures.js'
import { ADMIN, startServer } from '../test/helpers/server.js'
import { until } from '../test/helpers/wait.js'

const root = resolve(import.meta.dirname, '..')
const out = join(root, 'docs/images')
mkdirSync(out, { recursive: true })
const cleanups: Array<() => unknown> = []
const t = { teardown: (fn: () => unknown) => void cleanups.unshift(fn) }
const uiDir = mkdtempSync(join(tmpdir(), 'sy-ui-shots-'))
cleanups.push(() => rmSync(uiDir, { recursive: true, force: true }))

try {
  await promisify(execFile)(process.execPath, [join(root, 'scripts/build-ui.mjs'), '--outdir', uiDir])
  const s = await startServer(t, { uiDir })
  await s.api('POST', '/api/v1/environments', { body: { key: 'staging', name: 'Staging' } })
  const e = await createSdkEnv(s, 'production')
  await s.api('PATCH', '/api/v1/environments/production', { body: { name: 'Production' } })
  await createFlag(s, 'new-checkout', {
    name: 'New checkout',
    description: 'The one-page checkout',
    tags: ['checkout', 'release-42'],
    owner: 'payments-team',
    temporary: true,
    removeBy: '2027-03-31',
  })
  await createFlag(s, 'search-v2', { name: 'Search v2', tags: ['search'], owner: 'search-team' })
  await createFlag(s, 'checkout-theme', {
    name: 'Checkout theme',
    kind: 'string',
    variations: ['classic', 'compact'],
    clientSide: true,
    owner: 'payments-team',
  })
  await s.api('POST', '/api/v1/environments/production/segments', {
    body: { key: 'beta-testers', name: 'Beta testers', included: ['user-17', 'user-18'] },
  })
  await s.api('POST', '/api/v1/environments/staging/segments', { body: { key: 'beta-testers', included: ['qa-1'] } })
  const release = {
    targets: [{ variation: 0, values: ['staff-1'] }],
    rules: [
      {
        id: 'beta',
        description: 'Beta testers',
        clauses: [{ attribute: 'key', op: 'inSegment', values: ['beta-testers'] }],
        serve: { variation: 0 },
      },
      {
        id: 'uk-pro',
        clauses: [
          { attribute: 'country', op: 'in', values: ['GB'] },
          { attribute: 'plan', op: 'in', values: ['pro'] },
        ],
        serve: {
          rollout: {
            bucketBy: 'key',
            weights: [
              { variation: 0, weight: 25_000 },
              { variation: 1, weight: 75_000 },
            ],
          },
        },
      },
    ],
    fallthrough: {
      rollout: {
        bucketBy: 'key',
        weights: [
          { variation: 0, weight: 1_000 },
          { variation: 1, weight: 99_000 },
        ],
      },
    },
  }
  await putConfig(s, 'production', 'new-checkout', { ...release, reason: 'beta testers and 1 %' })
  await putConfig(s, 'production', 'new-checkout', {
    ...release,
    fallthrough: {
      rollout: {
        bucketBy: 'key',
        weights: [
          { variation: 0, weight: 10_000 },
          { variation: 1, weight: 90_000 },
        ],
      },
    },
    reason: 'ramp to 10 %',
  })
  await putConfig(s, 'staging', 'new-checkout', { fallthrough: { variation: 0 } })
  await putConfig(s, 'production', 'search-v2', { fallthrough: { variation: 0 } })

  const sdk = createClient({
    url: s.url,
    token: e.serverToken,
    logger: { warn() {}, error() {}, info() {}, debug() {} },
    metricsDebounceMs: 50,
  })
  t.teardown(() => sdk.close())
  await sdk.ready({ timeoutMs: 20_000 })
  await until(async () => (await s.api('GET', '/api/v1/environments/production/sdk-status')).body.total === 1, 20_000)

  const browser = await launchChromium(t)
  const page = await browser.newPage({ viewport: { width: 1200, height: 820 } })
  const shot = async (name: string) => {
    await page.screenshot({ path: join(out, `ui-${name}.png`) })
    console.error(`docs/images/ui-${name}.png`)
  }
  await page.goto(`${s.url}/ui/`)
  await page.getByLabel('Token (admin, editor or viewer)').waitFor()
  await shot('sign-in')
  await page.getByLabel('Token (admin, editor or viewer)').fill(ADMIN)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('row').filter({ hasText: 'New checkout' }).getByText('10 %').waitFor()
  await shot('flags')

  await page.getByRole('link', { name: 'New checkout' }).click()
  await page.getByRole('heading', { name: 'New checkout' }).waitFor()
  await page.getByRole('group', { name: 'Fallthrough serves' }).scrollIntoViewIfNeeded()
  await page.evaluate(() => window.scrollTo(0, 0))
  await page.screenshot({ path: join(out, 'ui-flag.png'), fullPage: true })
  console.error('docs/images/ui-flag.png')

  await page.getByRole('button', { name: 'Kill in production' }).click()
  await page.locator('input[name=kill-reason]').fill('orders table locks at 06:30')
  await page.getByRole('button', { name: 'Yes, kill it' }).click()
  await page.locator('.delivery.done').waitFor({ timeout: 30_000 })
  await shot('kill')

  await page.getByRole('tab', { name: 'History' }).click()
  await page.getByRole('button', { name: 'v4', exact: true }).click()
  await page.locator('.diff .add').first().waitFor()
  await shot('history')

  await page.goto(`${s.url}/ui/#/segments/production/beta-testers`)
  await page.getByRole('heading', { name: 'Beta testers' }).waitFor()
  await shot('segment')

  await page.goto(`${s.url}/ui/#/audit`)
  await page.getByRole('cell', { name: 'orders table locks at 06:30' }).waitFor()
  await shot('audit')

  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 })
  await phone.goto(`${s.url}/ui/`)
  await phone.getByLabel('Token (admin, editor or viewer)').fill(ADMIN)
  await phone.getByRole('button', { name: 'Sign in' }).click()
  await phone.getByRole('row').filter({ hasText: 'Search v2' }).waitFor()
  await phone.screenshot({ path: join(out, 'ui-phone.png') })
  console.error('docs/images/ui-phone.png')
} finally {
  for (const fn of cleanups) await fn()
}
