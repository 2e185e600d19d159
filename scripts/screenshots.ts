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
import { startExporter, startPrometheus } from '../test/helpers/prometheus.js'
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
  // A real Prometheus scraping a tiny exporter, so the release plan's guard has a reading to show.
  const exporter = await startExporter(t)
  exporter.set('http_5xx_ratio', 0.004)
  const prometheus = await startPrometheus(t, { targets: [exporter.target], scrapeInterval: '1s' })
  const s = await startServer(t, { uiDir, env: { PROMETHEUS_URL: prometheus.url } })
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

  // Facts and a flag that requires what production does not have yet (the requirements form and a refusal).
  await s.api('POST', '/api/v1/environments/staging/facts', {
    body: { set: { 'app.framework': '5.3.1', 'db.sessions.indexes': ['sessions_pkey', 'sessions_user_idx'] } },
  })
  await s.api('POST', '/api/v1/environments/production/facts', {
    body: { set: { 'app.framework': '5.2.4', 'db.sessions.indexes': ['sessions_pkey'] } },
  })
  await createFlag(s, 'framework-upgrade', { name: 'Framework upgrade', owner: 'platform-team' })
  const requires = [
    { fact: 'db.sessions.indexes', op: 'in', value: 'sessions_user_idx' },
    { fact: 'app.framework', op: 'semVerGreaterThan', value: '5.3.0' },
  ]
  await putConfig(s, 'staging', 'framework-upgrade', { on: true, fallthrough: { variation: 0 }, requires })
  await putConfig(s, 'production', 'framework-upgrade', { on: false, fallthrough: { variation: 0 }, requires })
  // A live knob.
  await createFlag(s, 'orders-batch-size', {
    name: 'Orders batch size',
    kind: 'number',
    variations: [100],
    knob: { min: 1, max: 1000, step: 1 },
  })
  await putConfig(s, 'production', 'orders-batch-size', {
    on: true,
    offVariation: 0,
    fallthrough: { variation: 1 },
    knob: { value: 500 },
  })
  // A release plan with a guard, waiting for an approval; a scheduled change for tomorrow 05:00 UTC.
  const ramp = (share: number) => ({
    rollout: {
      weights: [
        { variation: 0, weight: share },
        { variation: 1, weight: 100_000 - share },
      ],
    },
  })
  let r = await s.api('POST', '/api/v1/environments/production/plans', {
    body: {
      flag: 'search-v2',
      name: 'search v2 ramp',
      start: true,
      steps: [
        { name: '1 %', serve: ramp(1_000), hold: 'approval' },
        { name: '5 %', serve: ramp(5_000), hold: '1h' },
        {
          name: 'everyone',
          serve: { variation: 0 },
          pointOfNoReturn: { note: 'the old index is dropped', runbook: 'https://wiki.example/search-v2' },
        },
      ],
      guards: [
        { name: '5xx ratio', query: 'http_5xx_ratio', comparison: '>', threshold: 0.02, for: '1m', action: 'rollback' },
      ],
    },
  })
  if (r.status !== 201) throw new Error(`plan: ${r.status} ${r.text}`)
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)
  r = await s.api('POST', '/api/v1/environments/production/plans', {
    body: {
      flag: 'checkout-theme',
      name: 'compact at 05:00',
      startAt: `${tomorrow}T05:00:00Z`,
      start: true,
      steps: [{ config: { on: true, offVariation: 0, fallthrough: { variation: 1 } } }],
    },
  })
  if (r.status !== 201) throw new Error(`scheduled change: ${r.status} ${r.text}`)

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

  const full = async (name: string) => {
    await page.evaluate(() => window.scrollTo(0, 0))
    await page.screenshot({ path: join(out, `ui-${name}.png`), fullPage: true })
    console.error(`docs/images/ui-${name}.png`)
  }
  await page.goto(`${s.url}/ui/#/flags/search-v2`)
  await page.getByRole('heading', { name: 'Search v2' }).waitFor()
  await page.getByRole('tab', { name: 'Release' }).click()
  await page.locator('.plan li[data-guard="0"]').filter({ hasText: '0.004' }).waitFor({ timeout: 60_000 })
  await page.getByRole('button', { name: 'New plan in production' }).click()
  await page.getByLabel('Plan name').fill('search v2, second try')
  await page.getByRole('button', { name: 'Add guard' }).click()
  await page.getByLabel('Guard name').fill('p99 latency')
  await page.getByLabel('PromQL').fill('histogram_quantile(0.99, sum by (le) (rate(search_seconds_bucket[5m])))')
  await page.getByLabel('Threshold').fill('0.8')
  await page.getByLabel('For (e.g. 1m; empty: at once)').fill('2m')
  await full('release')

  await page.goto(`${s.url}/ui/#/flags/checkout-theme`)
  await page.getByRole('heading', { name: 'Checkout theme' }).waitFor()
  await page.getByRole('tab', { name: 'Release' }).click()
  await page.getByTestId('scheduled-status').first().waitFor()
  await page.getByRole('button', { name: 'Schedule a change in production' }).click()
  await shot('schedule')

  await page.goto(`${s.url}/ui/#/flags/framework-upgrade`)
  await page.getByRole('heading', { name: 'Framework upgrade' }).waitFor()
  await page.getByRole('button', { name: 'Turn on in production' }).click()
  await page.getByTestId('facts-refusal').waitFor()
  await full('requirements')

  await page.goto(`${s.url}/ui/#/flags/orders-batch-size`)
  await page.getByRole('heading', { name: 'Orders batch size' }).waitFor()
  await page.getByLabel('Knob value').fill('5000')
  await page.getByRole('button', { name: /^Save version/ }).click()
  await page.getByRole('alert').filter({ hasText: 'KNOB_OUT_OF_BOUNDS' }).waitFor()
  await page.locator('form.config').screenshot({ path: join(out, 'ui-knob.png') })
  console.error('docs/images/ui-knob.png')

  await page.goto(`${s.url}/ui/#/environments`)
  await page.getByRole('heading', { name: 'Environments' }).waitFor()
  await page.locator('tr[data-flag=framework-upgrade]').waitFor()
  await page.locator('div[data-env=production] tr[data-fact="app.framework"]').waitFor()
  await full('environments')

  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 })
  await phone.goto(`${s.url}/ui/`)
  await phone.getByLabel('Token (admin, editor or viewer)').fill(ADMIN)
  await phone.getByRole('button', { name: 'Sign in' }).click()
  await phone.getByRole('row').filter({ hasText: 'Search v2' }).waitFor()
  await phone.screenshot({ path: join(out, 'ui-phone.png') })
  console.error('docs/images/ui-phone.png')
  // The release tab on a phone: the plan, its guard and the buttons, one column.
  await phone.goto(`${s.url}/ui/#/flags/search-v2`)
  await phone.getByRole('tab', { name: 'Release' }).click()
  await phone.locator('.plan li[data-guard="0"]').filter({ hasText: '0.004' }).waitFor({ timeout: 60_000 })
  await phone.screenshot({ path: join(out, 'ui-phone-release.png') })
  console.error('docs/images/ui-phone-release.png')
} finally {
  for (const fn of cleanups) await fn()
}
