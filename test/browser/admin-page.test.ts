/**
 * The admin page (/ui) in Debian's chromium against the real server and Redis: a whole release from the
 * page (sign in, create a flag, whitelist two users through a segment upload, ramp to 10 %, a concurrent edit
 * shown as a conflict, kill and watch a real Node SDK apply it, roll back), tokens, a viewer, hostile names,
 * the Content-Security-Policy and the redirect of `/`; a release plan approved from the page, a refused promote
 * and facts with hostile values; facts requirements (a refused toggle, forced with a reason), knobs, a kill past a
 * point of no return, guards (a real Prometheus) and scheduled changes, and the conditional live poll (304s).
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import type { Browser, Page } from 'playwright-core'
import t from 'tap'
import { createClient } from '../../sdk/index.js'
import { UI_CSP_DIRECTIVES } from '../../src/http/ui.js'
import { launchChromium, openPage } from '../helpers/browser.js'
import { startExporter, startPrometheus } from '../helpers/prometheus.js'
import { createFlag, createSdkEnv, putConfig } from '../helpers/sdk-fixtures.js'
import { ADMIN, startServer, type Teardown, type TestServer } from '../helpers/server.js'
import { until } from '../helpers/wait.js'

const quiet = { warn() {}, error() {}, info() {}, debug() {} }
const P = '/api/v1/environments/production'
const WAIT = { timeout: 30_000 }

// One build of the page for the whole file, in its own directory (parallel test files never share dist/ui).
const uiDir = mkdtempSync(join(tmpdir(), 'sy-ui-'))
t.teardown(() => rmSync(uiDir, { recursive: true, force: true }))
t.before(async () => {
  await promisify(execFile)(process.execPath, ['scripts/build-ui.mjs', '--outdir', uiDir])
})

async function setup(t: Teardown): Promise<{ s: TestServer; browser: Browser }> {
  const s = await startServer(t, { uiDir })
  return { s, browser: await launchChromium(t) }
}

/**
 * A page with CSP violations and console errors collected, signed in with `token`; `polls` holds the live
 * poll's answers in the order they arrived, from the first (the size of its body as received, -1 until known).
 */
async function signedIn(t: Teardown, browser: Browser, s: TestServer, token: string) {
  const page = await openPage(t, browser, `${s.url}/ui/`)
  const problems: string[] = []
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text())
  })
  const polls: Array<{ status: number; bytes: number }> = []
  page.on('response', (r) => {
    if (!r.url().includes('/api/v1/audit?limit=1')) return
    const poll = { status: r.status(), bytes: -1 }
    polls.push(poll)
    void r
      .request()
      .sizes()
      .then(
        (sizes) => {
          poll.bytes = sizes.responseBodySize
        },
        () => {},
      )
  })
  await page.getByLabel('Token (admin, editor or viewer)').fill(token)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('button', { name: 'Sign out' }).waitFor(WAIT)
  return Object.assign(page, { problems, polls })
}

const statusSays = (page: Page, text: string | RegExp) =>
  page.getByRole('status').filter({ hasText: text }).waitFor(WAIT)

t.test('/ redirects to the page, which is served under its own Content-Security-Policy', async (t) => {
  const { s, browser } = await setup(t)
  await createSdkEnv(s)
  let r = await fetch(`${s.url}/`, { redirect: 'manual' })
  t.equal(r.status, 302, '/ redirects')
  t.equal(r.headers.get('location'), '/ui/')
  r = await fetch(`${s.url}/ui`, { redirect: 'manual' })
  t.equal(r.status, 301, '/ui redirects to /ui/')
  t.equal(r.headers.get('location'), '/ui/')

  r = await fetch(`${s.url}/ui/`)
  t.equal(r.status, 200)
  t.match(r.headers.get('content-type'), /^text\/html/)
  t.equal(r.headers.get('cache-control'), 'no-cache', 'index.html is revalidated')
  const csp = r.headers.get('content-security-policy') ?? ''
  const directives = Object.fromEntries(
    csp.split(';').map((d) => {
      const [name, ...values] = d.trim().split(/\s+/)
      return [name, values]
    }),
  )
  t.same(
    directives,
    Object.fromEntries(Object.entries(UI_CSP_DIRECTIVES).map(([k, v]) => [k, [...v]])),
    'exactly the page’s directives',
  )
  t.same(directives['script-src'], ["'self'"], 'no inline script, no eval')
  t.same(directives['default-src'], ["'none'"], 'nothing else by default')
  t.notMatch(csp, /unsafe/, 'nothing unsafe')
  t.equal(r.headers.get('x-content-type-options'), 'nosniff')
  const html = await r.text()
  const script = /src="\.\/(app-[A-Z0-9]+\.js)"/.exec(html)?.[1]
  t.ok(script, 'index.html names a content-hashed script')
  r = await fetch(`${s.url}/ui/${script}`)
  t.equal(r.status, 200)
  t.match(r.headers.get('cache-control'), /immutable/, 'the hashed script is cached for good')
  t.notMatch(html, /<script>|\sstyle=|\son[a-z]+=/, 'no inline script, style or handler in the HTML')

  const docs = await fetch(`${s.url}/docs/static/index.html`)
  t.match(docs.headers.get('content-security-policy'), /script-src 'self'/, '/docs keeps its own policy')
  t.notSame(docs.headers.get('content-security-policy'), csp)

  // The page runs under it: a violation would be reported to the console.
  const page = await openPage(t, browser, `${s.url}/`)
  const violations: string[] = []
  page.on('console', (m) => {
    if (m.type() === 'error' || /Content[- ]Security[- ]Policy/i.test(m.text())) violations.push(m.text())
  })
  await page.getByLabel('Token (admin, editor or viewer)').waitFor(WAIT)
  t.equal(new URL(page.url()).pathname, '/ui/', 'the browser followed the redirect')
  // The keyboard alone: the field has focus after one Tab, Enter submits.
  await page.keyboard.press('Tab')
  t.equal(await page.evaluate(() => document.activeElement?.id), 'token', 'Tab reaches the token field')
  await page.keyboard.type(ADMIN)
  await page.keyboard.press('Enter')
  await page.getByRole('heading', { name: 'Flags' }).waitFor(WAIT)
  t.same([...violations, ...page.errors], [], 'no CSP violation, no error')

  // What it ships stays small (README "Admin page" states the measured size).
  let shipped = 0
  for (const f of await readdir(uiDir))
    if (/\.(html|js|css)$/.test(f)) shipped += gzipSync(await readFile(join(uiDir, f)), { level: 9 }).length
  t.ok(shipped < 30_000, `${shipped} bytes gzipped (budget 30,000)`)
})

t.test('a release from the page: whitelist, ramp, conflict, kill with proof, rollback', async (t) => {
  const { s, browser } = await setup(t)
  const e = await createSdkEnv(s)
  const page = await signedIn(t, browser, s, ADMIN)
  t.notMatch(page.url(), /test-admin-token/, 'the token is not in the URL')

  // Create a flag.
  await page.getByRole('button', { name: 'New flag' }).click()
  await page.getByLabel('Key', { exact: true }).fill('new-checkout')
  await page.getByLabel('Name', { exact: true }).fill('New checkout')
  await page.getByLabel('Tags (comma-separated)').fill('checkout, release-42')
  await page.getByLabel('Owner', { exact: true }).fill('payments-team')
  await page.getByRole('button', { name: 'Create flag' }).click()
  await page.getByRole('heading', { name: 'New checkout' }).waitFor(WAIT)
  let r = await s.api('GET', '/api/v1/flags/new-checkout')
  t.equal(r.status, 200, 'the flag exists')
  t.same([r.body.tags, r.body.owner, r.body.temporary], [['checkout', 'release-42'], 'payments-team', true])

  // Whitelist two users through a segment upload (a file).
  await page.goto(`${s.url}/ui/#/segments`)
  await page.getByLabel('New segment key').fill('beta')
  await page.getByRole('button', { name: 'Create segment' }).click()
  await page.getByRole('heading', { name: 'beta' }).waitFor(WAIT)
  await page.locator('input[name=ids-file]').setInputFiles({
    name: 'beta.txt',
    mimeType: 'text/plain',
    buffer: Buffer.from('user-17\nuser-18\n'),
  })
  await page.getByRole('button', { name: 'Send' }).click()
  await statusSays(page, 'Added 2 of 2 ids')
  await page.getByTestId('included-count').filter({ hasText: /^2$/ }).waitFor(WAIT)
  await page.getByLabel('Is this id a member?').fill('user-17')
  await page.getByRole('button', { name: 'Check' }).click()
  await page.getByRole('status').filter({ hasText: 'user-17 is a member' }).waitFor(WAIT)
  r = await s.api('GET', `${P}/segments/beta/members/user-18`)
  t.same(r.body.included, true, 'user-18 is in the segment')

  // A rule serving the segment `true`, everyone else ramped to 10 %.
  await page.goto(`${s.url}/ui/#/flags/new-checkout`)
  await page.getByRole('heading', { name: 'New checkout' }).waitFor(WAIT)
  await page.getByLabel('On (off serves the off variation)').check()
  await page.getByRole('button', { name: 'Add rule' }).click()
  await page.getByLabel('Values').fill('beta')
  await page.getByLabel('Values').press('Tab')
  const fallthrough = page.getByRole('group', { name: 'Fallthrough serves' })
  await fallthrough.getByLabel('percentage rollout').check()
  await fallthrough.getByLabel('Fallthrough serves: percent for true').fill('10')
  await fallthrough.getByLabel('Fallthrough serves: percent for true').press('Tab')
  t.equal(await fallthrough.getByLabel('Fallthrough serves: percent for false').inputValue(), '90', 'the rest')
  await page.getByLabel('Reason (audit log)').fill('beta testers and 10 %')
  await page.getByRole('button', { name: 'Save version 2' }).click()
  await statusSays(page, 'Saved new-checkout in production: version 2')
  r = await s.api('GET', `${P}/flags/new-checkout`)
  t.equal(r.body.on, true)
  t.same(r.body.rules[0].clauses, [{ attribute: 'key', op: 'inSegment', values: ['beta'] }])
  t.same(r.body.rules[0].serve, { variation: 0 })
  t.same(r.body.fallthrough.rollout.weights, [
    { variation: 0, weight: 10_000 },
    { variation: 1, weight: 90_000 },
  ])
  r = await s.api('POST', `${P}/evaluate`, { body: { context: { key: 'user-17' }, flags: ['new-checkout'] } })
  t.equal(r.body.flags['new-checkout'].value, true, 'a whitelisted user gets it')

  // A concurrent edit from the API while the form has edits: shown, not overwritten.
  await fallthrough.getByLabel('Fallthrough serves: percent for true').fill('20')
  await fallthrough.getByLabel('Fallthrough serves: percent for true').press('Tab')
  r = await s.api('GET', `${P}/flags/new-checkout`)
  const { key: _k, environment: _e, kind: _kind, variations: _v, salt: _s, clientSide: _c, version, ...cfg } = r.body
  r = await s.api('PUT', `${P}/flags/new-checkout`, {
    headers: { 'if-match': `"${version}"` },
    body: { ...cfg, targets: [{ variation: 0, values: ['api-user'] }], reason: 'from the API' },
  })
  t.equal(r.status, 200, 'the API writes version 3')
  await page.getByRole('button', { name: 'Save version 3' }).click()
  await page.getByRole('alert').filter({ hasText: 'Not saved: someone else changed this flag' }).waitFor(WAIT)
  t.match(await page.locator('.conflict').textContent(), /now version 3; you edited version 2/)
  r = await s.api('GET', `${P}/flags/new-checkout`)
  t.equal(r.body.version, 3, 'nothing was overwritten')
  t.same(r.body.targets, [{ variation: 0, values: ['api-user'] }])
  t.equal(r.body.fallthrough.rollout.weights[0].weight, 10_000, 'still 10 %')
  await page.getByRole('button', { name: 'Load the current version' }).click()
  const targets = page.getByLabel('Serve true to (one key per line)')
  await until(async () => (await targets.inputValue()) === 'api-user', 30_000, 'the form to show version 3')

  // A real Node SDK connected to the same server; kill from the page and watch it apply.
  const sdk = createClient({
    url: s.url,
    token: e.serverToken,
    logger: quiet,
    metricsDebounceMs: 50,
    metricsIntervalMs: 600_000,
  })
  t.teardown(() => sdk.close())
  await sdk.ready({ timeoutMs: 20_000 })
  t.equal(sdk.isEnabled('new-checkout', { key: 'user-17' }), true, 'the SDK serves the whitelist')
  await until(async () => (await s.api('GET', `${P}/sdk-status`)).body.total === 1, 20_000, 'the SDK to report once')
  await page.getByRole('button', { name: 'Kill in production' }).click()
  await page.locator('input[name=kill-reason]').fill('orders table locks at 06:30')
  await page.getByRole('button', { name: 'Yes, kill it' }).click()
  await page.locator('.delivery.done').waitFor(WAIT)
  t.equal(await page.getByTestId('applied').textContent(), '1', 'applied')
  t.equal(await page.getByTestId('total').textContent(), '1', '= total')
  t.equal(sdk.isEnabled('new-checkout', { key: 'user-17' }), false, 'the SDK serves off')
  r = await s.api('GET', `${P}/flags/new-checkout`)
  t.same([r.body.on, r.body.version], [false, 4])

  // The kill in the audit trail, then history: the diff of v4, and a rollback to v3.
  await page.getByRole('tab', { name: 'Audit trail' }).click()
  await page.getByRole('cell', { name: 'orders table locks at 06:30' }).waitFor(WAIT)
  await page.getByRole('tab', { name: 'History' }).click()
  await page.getByRole('button', { name: 'v4', exact: true }).click()
  await page.locator('.diff .add').filter({ hasText: '"on": false' }).waitFor(WAIT)
  t.ok(await page.locator('.diff .del').filter({ hasText: '"on": true' }).count(), 'v4 against v3: on → off')
  await page.getByRole('button', { name: 'Roll back to v3' }).click()
  await page.getByRole('button', { name: 'Yes, roll back' }).click()
  await statusSays(page, 'Rolled back to version 3')
  r = await s.api('GET', `${P}/flags/new-checkout`)
  t.same([r.body.on, r.body.version, r.body.targets[0].values], [true, 5, ['api-user']], 'v3 restored as v5')
  await until(() => sdk.isEnabled('new-checkout', { key: 'user-17' }), 20_000, 'the SDK to follow the rollback')

  // The list shows it on, at 10 %, with its target, and who changed it last.
  await page.getByRole('navigation').getByRole('link', { name: 'Flags' }).click()
  const row = page.getByRole('row').filter({ hasText: 'New checkout' })
  await row.getByText('10 %').waitFor(WAIT)
  t.match(await row.textContent(), /on.*1 targets · 1 rules · v5/s)
  await page.getByLabel('Tag').selectOption('release-42')
  t.equal(await page.getByRole('row').filter({ hasText: 'New checkout' }).count(), 1, 'the tag filter keeps it')
  await page.getByLabel('Search').fill('nothing-like-this')
  await page.getByText('No flag matches.').waitFor(WAIT)
  // Chromium logs every failed request; the conflict's 412 was the point.
  const problems = page.problems.filter((p) => !/status of 412/.test(p))
  t.same([...problems, ...page.errors], [], 'no console error but the expected 412')
})

t.test('tokens: create (secret once), a viewer sees no edit controls, the API refuses if forced, revoke', async (t) => {
  const { s, browser } = await setup(t)
  await createSdkEnv(s)
  await createFlag(s, 'checkout')
  const admin = await signedIn(t, browser, s, ADMIN)
  await admin.getByRole('link', { name: 'Tokens' }).click()
  await admin.getByLabel('Name').fill('read-only')
  await admin.getByLabel('Kind').selectOption('viewer')
  await admin.getByRole('button', { name: 'Create token' }).click()
  const secret = (await admin.getByTestId('secret').textContent()) ?? ''
  t.match(secret, /^sy_vwr_/, 'the secret is shown')
  await admin.getByRole('button', { name: 'I have stored it' }).click()
  t.equal(await admin.getByTestId('secret').count(), 0, 'and gone after')
  await admin.getByRole('row').filter({ hasText: 'read-only' }).waitFor(WAIT)

  const viewer = await signedIn(t, browser, s, secret)
  t.equal(await viewer.getByRole('link', { name: 'Tokens' }).count(), 0, 'no tokens page for a viewer')
  t.equal(await viewer.getByRole('button', { name: 'New flag' }).count(), 0, 'no new flag')
  await viewer.getByRole('link', { name: 'checkout' }).click()
  await viewer.getByRole('heading', { name: 'checkout' }).waitFor(WAIT)
  await viewer.getByLabel('Off variation', { exact: true }).waitFor(WAIT)
  for (const name of [/^Save/, /^Kill/, /^Turn (on|off)/, 'Add rule', 'Add prerequisite', 'Add requirement'])
    t.equal(await viewer.getByRole('button', { name }).count(), 0, `no ${name} button`)
  t.ok(await viewer.getByLabel('On (off serves the off variation)').isDisabled(), 'the form is read-only')
  await viewer.getByRole('tab', { name: 'History' }).click()
  await viewer.getByRole('button', { name: 'v1', exact: true }).waitFor(WAIT)
  t.equal(await viewer.getByRole('button', { name: /^Roll back/ }).count(), 0, 'no rollback')
  await viewer.getByRole('tab', { name: 'Details' }).click()
  t.ok(await viewer.locator('input[name=detail-owner]').isDisabled(), 'details are read-only')
  t.equal(await viewer.getByRole('button', { name: 'Save details' }).count(), 0, 'no save')
  await viewer.goto(`${s.url}/ui/#/segments`)
  await viewer.getByRole('heading', { name: 'Segments in production' }).waitFor(WAIT)
  t.equal(await viewer.getByRole('button', { name: 'Create segment' }).count(), 0, 'no new segment')

  // Forced: the page's own origin, its token, a write.
  const forced = await viewer.evaluate(async () => {
    const token = sessionStorage.getItem('switchyard.token')
    const res = await fetch('/api/v1/environments/production/flags/checkout/kill', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{}',
    })
    return { status: res.status, code: ((await res.json()) as { code: string }).code }
  })
  t.same(forced, { status: 403, code: 'FORBIDDEN' }, 'the API refuses')
  t.equal((await s.api('GET', `${P}/flags/checkout`)).body.on, false, 'nothing changed')

  // Sign out forgets the token.
  await viewer.getByRole('button', { name: 'Sign out' }).click()
  await viewer.getByLabel('Token (admin, editor or viewer)').waitFor(WAIT)
  t.equal(await viewer.evaluate(() => sessionStorage.getItem('switchyard.token')), null, 'forgotten')
  await viewer.reload()
  await viewer.getByLabel('Token (admin, editor or viewer)').waitFor(WAIT)

  // Revoked from the page: the secret no longer works.
  await admin.getByRole('row').filter({ hasText: 'read-only' }).getByRole('button', { name: 'Revoke' }).click()
  await admin.getByRole('button', { name: 'Yes, revoke' }).click()
  await statusSays(admin, 'Revoked read-only')
  t.equal((await s.api('GET', '/api/v1/flags', { token: secret })).status, 401, 'revoked')
  t.same([...admin.problems, ...admin.errors], [])
})

t.test('a file larger than one request goes in chunks of 100,000 ids, with progress', async (t) => {
  const { s, browser } = await setup(t)
  await createSdkEnv(s)
  t.equal((await s.api('POST', `${P}/segments`, { body: { key: 'everyone' } })).status, 201)
  const page = await signedIn(t, browser, s, ADMIN)
  const requests: number[] = []
  page.on('request', (r) => {
    if (r.method() === 'POST' && r.url().includes('/segments/everyone/members'))
      requests.push((r.postData() ?? '').split('\n').length)
  })
  await page.goto(`${s.url}/ui/#/segments/production/everyone`)
  await page.getByRole('heading', { name: 'everyone' }).waitFor(WAIT)
  const ids = Array.from({ length: 150_000 }, (_, i) => `user-${i}`).join('\n')
  await page
    .locator('input[name=ids-file]')
    .setInputFiles({ name: 'all.txt', mimeType: 'text/plain', buffer: Buffer.from(ids) })
  await page.getByRole('button', { name: 'Send' }).click()
  await statusSays(page, 'Added 150000 of 150000 ids')
  t.same(requests, [100_000, 50_000], 'two requests: 100,000 ids, then the rest')
  t.match(await page.locator('form[aria-label="Change members"]').textContent(), /150,000 \/ 150,000 ids sent/)
  t.equal((await s.api('GET', `${P}/segments/everyone`)).body.includedCount, 150_000)
  await page.getByTestId('included-count').filter({ hasText: '150,000' }).waitFor(WAIT)
})

t.test('live: changes made elsewhere show up without a reload', async (t) => {
  const { s, browser } = await setup(t)
  await createSdkEnv(s)
  await createFlag(s, 'search-v2', { name: 'Search v2' })
  const page = await signedIn(t, browser, s, ADMIN)
  // The live poll: conditional, so while nothing changes each answer is a 304 without a body.
  const polls = page.polls
  const row = page.getByRole('row').filter({ hasText: 'Search v2' })
  await row.getByText('off').waitFor(WAIT)
  await until(() => polls.some((p) => p.status === 304 && p.bytes >= 0), 30_000, 'an unchanged poll answered 304')
  const unchanged = polls.filter((p) => p.status === 304 && p.bytes >= 0)
  t.same(
    unchanged.map((p) => p.bytes),
    unchanged.map(() => 0),
    'no 304 carried a body',
  )
  t.equal(polls[0]?.status, 200, 'the first poll is a full answer')
  await until(() => (polls[0]?.bytes ?? -1) >= 0, 30_000, 'the first answer to be measured')
  t.ok((polls[0]?.bytes ?? 0) > 0, 'with a body (so a 304 body would have been measured too)')
  t.equal(
    (await s.api('POST', `${P}/flags/search-v2/toggle`, { body: { on: true, reason: 'from the CLI' } })).status,
    200,
  )
  await row.getByText('on', { exact: true }).waitFor(WAIT)
  await createFlag(s, 'brand-new', { name: 'Brand new' })
  await page.getByRole('row').filter({ hasText: 'Brand new' }).waitFor(WAIT)

  // An open flag page without edits follows a kill made elsewhere.
  await page.getByRole('link', { name: 'Search v2' }).click()
  // Exact: the Turn on/off button says "… in production" too.
  await page.getByText('on in production', { exact: true }).waitFor(WAIT)
  t.equal((await s.api('POST', `${P}/flags/search-v2/kill`, { body: { reason: 'elsewhere' } })).status, 200)
  await page.getByText('off in production', { exact: true }).waitFor(WAIT)
  t.notOk(await page.getByLabel('On (off serves the off variation)').isChecked(), 'the form shows the new version')

  // The definition's details, saved with If-Match.
  await page.getByRole('tab', { name: 'Details' }).click()
  await page.locator('input[name=detail-owner]').fill('search-team')
  await page.locator('input[name=detail-tags]').fill('search, q4')
  await page.getByRole('button', { name: 'Save details' }).click()
  await statusSays(page, 'Saved the details of search-v2')
  const def = (await s.api('GET', '/api/v1/flags/search-v2')).body
  t.same([def.owner, def.tags, def.version], ['search-team', ['search', 'q4'], 2])
})

t.test('live: an update while typing keeps what is typed, and edits made while it is read are kept', async (t) => {
  const { s, browser } = await setup(t)
  await createSdkEnv(s)
  await createFlag(s, 'ramp', { name: 'Ramp' })
  await createFlag(s, 'other', { name: 'Other' })
  const page = await signedIn(t, browser, s, ADMIN)
  const polls = page.polls
  const configRead = (key: string) =>
    page.waitForResponse((r) => new URL(r.url()).pathname === `${P}/flags/${key}` && r.request().method() === 'GET')
  await page.goto(`${s.url}/ui/#/flags/ramp`)
  await page.getByRole('heading', { name: 'Ramp' }).waitFor(WAIT)
  await until(() => polls.length > 0, 30_000, 'the live poll to start')

  // Half-typed (not committed: no blur yet) when a change elsewhere re-renders the page.
  const fallthrough = page.getByRole('group', { name: 'Fallthrough serves' })
  await fallthrough.getByLabel('percentage rollout').check()
  const share = fallthrough.getByLabel('Fallthrough serves: percent for true')
  await share.fill('10')
  const seen = polls.length
  const reread = configRead('ramp')
  t.equal((await s.api('POST', `${P}/flags/other/toggle`, { body: { on: true, reason: 'elsewhere' } })).status, 200)
  await reread // the page saw the change (the poll moved) and asked for this flag's configuration again
  t.ok(
    polls.slice(seen).some((p) => p.status === 200),
    'a poll saw the change',
  )
  t.equal(await share.inputValue(), '10', 'the re-render left the typed text alone')
  await share.press('Tab')
  t.equal(await fallthrough.getByLabel('Fallthrough serves: percent for false').inputValue(), '90', 'and it commits')

  // An untouched form when the poll moves, edited while the new version is being read: the edit is kept
  // and the new version announced (it replaces only a form without edits).
  await page.goto(`${s.url}/ui/#/flags/other`)
  await page.getByRole('heading', { name: 'Other' }).waitFor(WAIT)
  let arrived = () => {}
  const held = new Promise<void>((resolve) => {
    arrived = resolve
  })
  let release: () => Promise<void> = async () => {}
  await page.route(
    (url) => url.pathname === `${P}/flags/other`,
    (route) => {
      if (route.request().method() !== 'GET') return route.continue()
      release = () => route.continue()
      arrived()
    },
  )
  t.equal((await s.api('POST', `${P}/flags/other/toggle`, { body: { on: false, reason: 'elsewhere' } })).status, 200)
  await held
  const targets = page.getByLabel('Serve true to (one key per line)')
  await targets.fill('vip-1')
  await targets.press('Tab')
  await release()
  await page.getByText(/Version \d+ was written since you opened this one/).waitFor(WAIT)
  t.equal(await targets.inputValue(), 'vip-1', 'the edit is still there')
  t.same(page.errors, [], 'no page error')
})

t.test('a hostile flag name renders as text', async (t) => {
  const { s, browser } = await setup(t)
  await createSdkEnv(s)
  const hostile = '<img src=x onerror=alert(1)>'
  await createFlag(s, 'hostile', { name: hostile, description: '<script>alert(2)</script>', owner: '"><b>x</b>' })
  const page = await signedIn(t, browser, s, ADMIN)
  const dialogs: string[] = []
  page.on('dialog', (d) => {
    dialogs.push(d.message())
    void d.dismiss()
  })
  const name = page.getByText(hostile, { exact: true })
  await name.waitFor(WAIT)
  t.ok(await name.isVisible(), 'the list shows the name as text')
  await name.click()
  await page.getByRole('heading', { name: hostile }).waitFor(WAIT)
  t.ok(await page.getByText('<script>alert(2)</script>').isVisible(), 'the description as text')
  t.equal(await page.locator('main img, main script, main b').count(), 0, 'no element was made from them')
  // A page load later (the live poll has run at least once), still nothing fired.
  await page.reload()
  await page.getByRole('heading', { name: hostile }).waitFor(WAIT)
  t.same(dialogs, [], 'no dialog fired')
  t.same(page.errors, [])
})

t.test('GET /api/v1/whoami: the caller and what it may do', async (t) => {
  const s = await startServer(t, { uiDir })
  await createSdkEnv(s)
  let r = await s.api('GET', '/api/v1/whoami')
  t.equal(r.status, 200)
  t.same(r.body.can, { read: ['*'], write: ['*'], define: true, admin: true })
  t.equal(r.body.kind, 'admin')
  const mk = async (kind: string, environments: string[]) =>
    (await s.api('POST', '/api/v1/tokens', { body: { name: kind, kind, environments } })).body.secret as string
  r = await s.api('GET', '/api/v1/whoami', { token: await mk('editor', ['production']) })
  t.same(r.body.can, { read: ['production'], write: ['production'], define: false, admin: false })
  r = await s.api('GET', '/api/v1/whoami', { token: await mk('viewer', ['*']) })
  t.same(r.body.can, { read: ['*'], write: [], define: false, admin: false })
  r = await s.api('GET', '/api/v1/whoami', { token: await mk('sdk-server', ['production']) })
  t.same(r.body.can, { read: [], write: [], define: false, admin: false }, 'an SDK token may use no page')
  t.notOk('secret' in r.body || 'hash' in r.body, 'never the secret or its hash')
  r = await s.api('GET', '/api/v1/whoami', { token: null })
  t.equal(r.status, 401)
})

t.test('release tab: approve a waiting plan and the step advances; a viewer sees no plan buttons', async (t) => {
  const { s, browser } = await setup(t)
  await createSdkEnv(s)
  await createFlag(s, 'ramp')
  const r = await s.api('POST', `${P}/plans`, {
    body: {
      flag: 'ramp',
      name: 'ramp plan',
      start: true,
      steps: [
        {
          name: '1 %',
          serve: {
            rollout: {
              weights: [
                { variation: 0, weight: 1000 },
                { variation: 1, weight: 99000 },
              ],
            },
          },
          hold: 'approval',
        },
        { name: 'everyone', serve: { variation: 0 } },
      ],
    },
  })
  t.equal(r.status, 201, r.text)
  const page = await signedIn(t, browser, s, ADMIN)
  await page.goto(`${s.url}/ui/#/flags/ramp`)
  await page.getByRole('tab', { name: 'Release' }).click()
  const card = page.locator('.plan')
  await card.getByTestId('plan-status').filter({ hasText: 'waiting' }).waitFor(WAIT)
  t.equal(await card.getByTestId('plan-step').textContent(), '1', 'step 1 of 2 applied')
  await card.getByText('Waiting for an approval of 2/2 everyone').waitFor(WAIT)
  await card.getByLabel('Reason').fill('looks good')
  await card.getByRole('button', { name: 'Approve' }).click()
  await card.getByTestId('plan-step').filter({ hasText: /^2$/ }).waitFor(WAIT)
  await card.getByTestId('plan-status').filter({ hasText: 'completed' }).waitFor(WAIT)
  await card.getByText(/^Decisions/).click()
  await card.getByText('approve step 2 — looks good', { exact: false }).waitFor(WAIT)
  const flag = await s.api('GET', `${P}/flags/ramp`)
  t.same(flag.body.fallthrough, { variation: 0 }, 'the last step is written')

  // A new plan from the form: percentages of the first variation, each with its hold.
  await page.getByRole('button', { name: 'New plan in production' }).click()
  await page.getByLabel('Plan name').fill('form ramp')
  await page.locator('textarea[name=plan-steps]').fill('10 approval\n100')
  await page.getByRole('button', { name: 'Create plan' }).click()
  const formCard = page.locator('.plan', { hasText: 'form ramp' })
  await formCard.getByTestId('plan-status').filter({ hasText: 'waiting' }).waitFor(WAIT)
  const plans = await s.api('GET', `${P}/plans?flag=ramp&status=waiting`)
  t.same(
    plans.body.items[0].steps.map((x: { serve: unknown; hold?: string }) => [x.serve, x.hold]),
    [
      [
        {
          rollout: {
            weights: [
              { variation: 0, weight: 10000 },
              { variation: 1, weight: 90000 },
            ],
          },
        },
        'approval',
      ],
      [{ variation: 0 }, undefined],
    ],
    'the steps as typed',
  )
  await formCard.getByRole('button', { name: 'Abort' }).click()
  await formCard.getByTestId('plan-status').filter({ hasText: 'aborted' }).waitFor(WAIT)
  t.same(page.problems, [], 'no console error')

  const secret = (await s.api('POST', '/api/v1/tokens', { body: { name: 'v', kind: 'viewer', environments: ['*'] } }))
    .body.secret as string
  await s.api('POST', `${P}/plans`, {
    body: { flag: 'ramp', name: 'second', steps: [{ serve: { variation: 1 } }] },
  })
  const viewer = await signedIn(t, browser, s, secret)
  await viewer.goto(`${s.url}/ui/#/flags/ramp`)
  await viewer.getByRole('tab', { name: 'Release' }).click()
  await viewer.getByText('second').first().waitFor(WAIT)
  for (const name of ['Approve', 'Start', 'Pause', 'Resume', 'Abort'])
    t.equal(await viewer.getByRole('button', { name }).count(), 0, `no ${name} button for a viewer`)
})

t.test('environments: a refused promote names the missing segment; facts render as text', async (t) => {
  const { s, browser } = await setup(t)
  await createSdkEnv(s, 'staging')
  await createSdkEnv(s, 'production')
  await createFlag(s, 'promo')
  let r = await s.api('POST', '/api/v1/environments/staging/segments', { body: { key: 'vip-testers' } })
  t.equal(r.status, 201, r.text)
  await putConfig(s, 'staging', 'promo', {
    rules: [
      { id: 'vip', clauses: [{ attribute: 'key', op: 'inSegment', values: ['vip-testers'] }], serve: { variation: 0 } },
    ],
  })
  const hostile = '<img src=x onerror=alert(1)>'
  r = await s.api('POST', `${P}/facts`, { body: { set: { 'app.note': hostile }, reason: 'hostile' } })
  t.equal(r.status, 200, r.text)

  const page = await signedIn(t, browser, s, ADMIN)
  await page.goto(`${s.url}/ui/#/environments`)
  await page.getByLabel('From').selectOption('staging')
  await page.getByLabel('To').selectOption('production')
  await page.locator('tr[data-flag=promo]').waitFor(WAIT)
  await page.locator('li[data-segment=vip-testers]').waitFor(WAIT)
  await page.getByRole('cell', { name: 'app.note' }).first().waitFor(WAIT)

  await page.getByLabel('Flag key').fill('promo')
  await page.getByRole('button', { name: 'Promote' }).click()
  const refusal = page.getByTestId('promote-refusal')
  await refusal.getByText('segment missing in production: vip-testers').waitFor(WAIT)
  t.match(await refusal.textContent(), /SEGMENTS_MISSING/)
  r = await s.api('GET', `${P}/flags/promo`)
  t.same(r.body.rules, [], 'nothing was promoted')

  const value = page.locator('div[data-env=production] tr[data-fact="app.note"] .fact-value')
  await value.waitFor(WAIT)
  t.equal(await value.textContent(), hostile, 'the value is shown as text')
  t.equal(await page.locator('img').count(), 0, 'no element from the value')
  await page.locator('div[data-env=production]').getByRole('button', { name: 'Facts history' }).click()
  await page.locator('div[data-env=production]').getByText('hostile', { exact: false }).first().waitFor(WAIT)
  // The refused promote's 409 is the one console line (Chromium logs every failed request).
  t.same(
    [...page.problems.filter((p) => !/status of 409/.test(p)), ...page.errors],
    [],
    'no other console error, no script ran',
  )
})

t.test('release tab: passing a point of no return needs a reason and the confirmation', async (t) => {
  const { s, browser } = await setup(t)
  await createSdkEnv(s)
  await createFlag(s, 'migrate')
  const note = 'writes new-format orders <b>for good</b>'
  const r = await s.api('POST', `${P}/plans`, {
    body: {
      flag: 'migrate',
      name: 'migration',
      start: true,
      steps: [
        { name: 'none', serve: { variation: 1 } },
        { name: 'all', serve: { variation: 0 }, pointOfNoReturn: { note, runbook: 'https://wiki.example/rb' } },
      ],
    },
  })
  t.equal(r.status, 201, r.text)
  const page = await signedIn(t, browser, s, ADMIN)
  await page.goto(`${s.url}/ui/#/flags/migrate`)
  await page.getByRole('tab', { name: 'Release' }).click()
  const card = page.locator('.plan')
  await card.getByText(`Point of no return: ${note}`).waitFor(WAIT)
  await card.getByRole('button', { name: 'Approve' }).click()
  await card.getByRole('alert').filter({ hasText: 'needs a reason and the confirmation' }).waitFor(WAIT)
  t.equal((await s.api('GET', `${P}/plans?flag=migrate`)).body.items[0].status, 'waiting', 'nothing sent')
  await card.getByLabel('Reason (required)').fill('backup verified')
  await card.getByLabel('I have read the note: pass the point of no return').check()
  await card.getByRole('button', { name: 'Approve' }).click()
  await card.getByTestId('plan-status').filter({ hasText: 'completed' }).waitFor(WAIT)
  await card.getByText(/approved by bootstrap admin: backup verified/).waitFor(WAIT)
  t.equal(await page.locator('b').count(), 0, 'the note is text')
})

t.test(
  'requirements: added from the form; a toggle the facts do not meet is refused, each unmet shown; forced with a reason',
  async (t) => {
    const { s, browser } = await setup(t)
    await createSdkEnv(s)
    await createFlag(s, 'upgrade', { name: 'Framework upgrade' })
    let r = await s.api('POST', `${P}/facts`, { body: { set: { 'app.framework': '5.2.4' }, reason: 'deploy' } })
    t.equal(r.status, 200, r.text)
    const page = await signedIn(t, browser, s, ADMIN)
    await page.goto(`${s.url}/ui/#/flags/upgrade`)
    await page.getByRole('heading', { name: 'Framework upgrade' }).waitFor(WAIT)

    // Two requirements: one on a recorded fact, one on a fact production does not have.
    await page.getByRole('button', { name: 'Add requirement' }).click()
    await page.getByLabel('Fact', { exact: true }).fill('app.framework')
    await page.getByLabel('Requirement operator').selectOption('semVerGreaterThan')
    await page.getByLabel('Requirement values').fill('5.3.0')
    await page.getByLabel('Requirement values').press('Tab')
    await page.getByRole('button', { name: 'Add requirement' }).click()
    await page.getByLabel('Fact', { exact: true }).nth(1).fill('db.sessions.indexes')
    await page.getByLabel('Requirement values').nth(1).fill('sessions_user_idx')
    await page.getByLabel('Requirement values').nth(1).press('Tab')
    await page.getByRole('button', { name: 'Save version 2' }).click()
    await statusSays(page, 'Saved upgrade in production: version 2')
    r = await s.api('GET', `${P}/flags/upgrade`)
    t.same(
      r.body.requires,
      [
        { fact: 'app.framework', op: 'semVerGreaterThan', value: '5.3.0' },
        { fact: 'db.sessions.indexes', op: 'in', value: 'sessions_user_idx' },
      ],
      'the requirements as typed',
    )

    // Turning it on is refused: nothing written, each requirement with what production has.
    await page.getByRole('button', { name: 'Turn on in production' }).click()
    const refusal = page.getByTestId('facts-refusal')
    await refusal.waitFor(WAIT)
    t.match(
      await refusal.locator('li[data-fact="app.framework"]').textContent(),
      /app\.framework semVerGreaterThan "5\.3\.0" — actual: 5\.2\.4/,
    )
    t.match(
      await refusal.locator('li[data-fact="db.sessions.indexes"]').textContent(),
      /db\.sessions\.indexes in "sessions_user_idx" — actual: no such fact/,
    )
    r = await s.api('GET', `${P}/flags/upgrade`)
    t.same([r.body.on, r.body.version], [false, 2], 'nothing was written')

    // The override needs a reason; with one it goes through, audited, and the flag says so.
    t.ok(await refusal.getByRole('button', { name: 'Force it anyway' }).isDisabled(), 'no override without a reason')
    await refusal.getByLabel('Reason for the override (audit log)').fill('index built by hand, fact pending')
    // The keyboard: Enter in the reason field is the override (not a plain save of the form around it).
    await refusal.getByLabel('Reason for the override (audit log)').press('Enter')
    await statusSays(page, 'Turned upgrade on in production (requirements overridden)')
    await page.getByText('on in production', { exact: true }).waitFor(WAIT)
    await page
      .getByTestId('requirements-override')
      .filter({ hasText: 'index built by hand, fact pending' })
      .waitFor(WAIT)
    r = await s.api('GET', `${P}/flags/upgrade`)
    t.same([r.body.on, r.body.requirementsOverride.reason], [true, 'index built by hand, fact pending'])
    t.equal(r.body.requirementsOverride.unmet.length, 2, 'the override records both')
    const audit = await s.api('GET', `/api/v1/audit?env=production&flag=upgrade&limit=1`)
    t.match(audit.body.items[0], { action: 'flag.on', reason: 'index built by hand, fact pending' })
    t.match(audit.body.items[0].details, { requirements: { forced: true } }, 'audited as forced')
    t.same(
      [...page.problems.filter((p) => !/status of 409/.test(p)), ...page.errors],
      [],
      'no console error but the refusal',
    )
  },
)

t.test(
  'knobs: bounds in Details, a value in the configuration, an out-of-bounds value refused with the API message',
  async (t) => {
    const { s, browser } = await setup(t)
    await createSdkEnv(s)
    await createFlag(s, 'batch-size', { name: 'Batch size', kind: 'number', variations: [100] })
    const page = await signedIn(t, browser, s, ADMIN)
    await page.goto(`${s.url}/ui/#/flags/batch-size`)
    await page.getByRole('heading', { name: 'Batch size' }).waitFor(WAIT)
    t.equal(await page.getByLabel('Knob value').count(), 0, 'no knob before it has bounds')

    await page.getByRole('tab', { name: 'Details' }).click()
    await page.getByLabel('Knob min').fill('1')
    await page.getByLabel('Knob max').fill('1000')
    await page.getByLabel('Knob step (optional)').fill('1')
    await page.getByRole('button', { name: 'Save details' }).click()
    await statusSays(page, 'Saved the details of batch-size')
    let r = await s.api('GET', '/api/v1/flags/batch-size')
    t.same(r.body.knob, { min: 1, max: 1000, step: 1 }, 'the bounds are on the definition')
    // New bounds reach every environment's served configuration as a new version.
    const v = (await s.api('GET', `${P}/flags/batch-size`)).body.version as number

    // A value, served to everyone else, the flag on.
    await page.getByRole('tab', { name: 'Configuration' }).click()
    await page.getByLabel('Knob value').fill('500')
    await page.getByRole('button', { name: 'Serve the knob to everyone else' }).click()
    t.equal(
      await page.getByLabel('Fallthrough serves variation').inputValue(),
      '1',
      'the fallthrough serves choice 1 (the knob)',
    )
    await page.getByLabel('On (off serves the off variation)').check()
    await page.getByRole('button', { name: `Save version ${v + 1}` }).click()
    await statusSays(page, `Saved batch-size in production: version ${v + 1}`)
    r = await s.api('GET', `${P}/flags/batch-size`)
    t.same([r.body.on, r.body.knob, r.body.fallthrough], [true, { value: 500 }, { variation: 1 }])
    r = await s.api('POST', `${P}/evaluate`, { body: { context: { key: 'w1' }, flags: ['batch-size'] } })
    t.equal(r.body.flags['batch-size'].value, 500, 'the knob is served')

    // Out of bounds: the API's validator refuses, its code and message are shown, nothing is written.
    await page.getByLabel('Knob value').fill('5000')
    await page.getByRole('button', { name: `Save version ${v + 2}` }).click()
    const alert = page.getByRole('alert').filter({ hasText: 'KNOB_OUT_OF_BOUNDS' })
    await alert.waitFor(WAIT)
    t.match(
      await alert.textContent(),
      /VALIDATION_FAILED · \/knob\/value KNOB_OUT_OF_BOUNDS: 5000 is outside \[1, 1000\]/,
    )
    r = await s.api('GET', `${P}/flags/batch-size`)
    t.same([r.body.version, r.body.knob], [v + 1, { value: 500 }], 'nothing was written')
    t.same([...page.problems.filter((p) => !/status of 400/.test(p)), ...page.errors], [], 'no other console error')
  },
)

t.test('a kill past a point of no return says what it will not undo, before and after', async (t) => {
  const { s, browser } = await setup(t)
  await createSdkEnv(s)
  await createFlag(s, 'orders-v2', { name: 'Orders v2' })
  const note = 'the migration writes new-format orders'
  let r = await s.api('POST', `${P}/plans`, {
    body: {
      flag: 'orders-v2',
      name: 'orders migration',
      start: true,
      steps: [
        { name: 'none', serve: { variation: 1 } },
        { name: 'all', serve: { variation: 0 }, pointOfNoReturn: { note, runbook: 'https://wiki.example/orders' } },
      ],
    },
  })
  t.equal(r.status, 201, r.text)
  const id = r.body.id as string
  r = await s.api('POST', `${P}/plans/${id}/approve`, { body: { reason: 'backup verified' } })
  t.equal(r.status, 200, r.text)
  await until(
    async () => (await s.api('GET', `${P}/flags/orders-v2`)).body.pointOfNoReturn !== undefined,
    30_000,
    'the plan to pass its point of no return',
  )

  const page = await signedIn(t, browser, s, ADMIN)
  await page.goto(`${s.url}/ui/#/flags/orders-v2`)
  await page.getByText('on in production', { exact: true }).waitFor(WAIT)
  await page.getByRole('button', { name: 'Kill in production' }).click()
  const point = page.getByTestId('kill-point')
  await point.waitFor(WAIT)
  t.match(await point.textContent(), `this kill will not undo: ${note}`, 'the confirmation says it first')
  t.match(await point.textContent(), /approved by bootstrap admin: “backup verified”.*https:\/\/wiki\.example\/orders/s)
  await page.locator('input[name=kill-reason]').fill('orders look wrong')
  await page.getByRole('button', { name: 'Yes, kill it' }).click()
  const after = page.getByTestId('not-undone')
  await after.waitFor(WAIT)
  r = await s.api('GET', `${P}/flags/orders-v2`)
  t.equal(r.body.on, false, 'the kill went through')
  t.match(await after.textContent(), `The flag is off, but this does not undo: ${note}`, 'the API’s notUndone is shown')
  t.same([...page.problems, ...page.errors], [], 'no console error')
})

t.test(
  'release tab: a new plan with a Prometheus guard, read in its state; a scheduled change listed, then cancelled',
  async (t) => {
    const exporter = await startExporter(t)
    const prometheus = await startPrometheus(t, { targets: [exporter.target], scrapeInterval: '1s' })
    const series = 'checkout_error_ratio'
    exporter.set(series, 0.001)
    await until(
      async () => {
        const r = await fetch(`${prometheus.url}/api/v1/query?${new URLSearchParams({ query: series })}`)
        const body = (await r.json()) as { data: { result: Array<{ value: [number, string] }> } }
        return Number(body.data.result[0]?.value[1]) === 0.001
      },
      30_000,
      'Prometheus to scrape the exporter',
    )
    const s = await startServer(t, { uiDir, env: { PROMETHEUS_URL: prometheus.url } })
    const browser = await launchChromium(t)
    await createSdkEnv(s)
    await createFlag(s, 'checkout', { name: 'Checkout' })
    const page = await signedIn(t, browser, s, ADMIN)
    await page.goto(`${s.url}/ui/#/flags/checkout`)
    await page.getByRole('tab', { name: 'Release' }).click()

    // A plan with a guard, from the form.
    await page.getByRole('button', { name: 'New plan in production' }).click()
    const form = page.getByRole('form', { name: 'New plan' })
    await form.getByLabel('Plan name').fill('guarded ramp')
    await form.locator('textarea[name=plan-steps]').fill('5 approval\n100')
    await form.getByRole('button', { name: 'Add guard' }).click()
    await form.getByLabel('Guard name').fill('error rate')
    // Its last sample within a minute: a scrape that times out on loaded cores would make the plain series
    // stale, an empty reading, and the plan would (rightly) halt before the test reads it.
    const query = `last_over_time(${series}[1m])`
    await form.getByLabel('PromQL').fill(query)
    await form.getByLabel('Breach when the value is').selectOption('>=')
    await form.getByLabel('Threshold').fill('0.02')
    await form.getByLabel('For (e.g. 1m; empty: at once)').fill('1m')
    await form.getByLabel('Action').selectOption('rollback')
    await form.getByRole('button', { name: 'Create plan' }).click()
    const card = page.locator('.plan', { hasText: 'guarded ramp' })
    await card.getByTestId('plan-status').filter({ hasText: 'waiting' }).waitFor(WAIT)
    // The runner reads the guard on its ticks: the reading shows up in the plan's state.
    await card
      .locator('li[data-guard="0"]')
      .filter({ hasText: 'error rate: 0.001 (>= 0.02 for 1m → rollback)' })
      .waitFor(WAIT)
    let r = await s.api('GET', `${P}/plans?flag=checkout`)
    t.same(
      r.body.items[0].guards,
      [{ name: 'error rate', query, comparison: '>=', threshold: 0.02, for: '1m', action: 'rollback' }],
      'the guard as typed',
    )
    t.match(r.body.items[0].readings[0], { guard: 0, value: 0.001, breached: false })
    await card.getByRole('button', { name: 'Abort' }).click()
    await card.getByTestId('plan-status').filter({ hasText: 'aborted' }).waitFor(WAIT)

    // A scheduled change: at a time (UTC), on, everyone else gets `true`; listed, then cancelled.
    // (The aborted plan left the flag at its 5 % step.)
    const before = (await s.api('GET', `${P}/flags/checkout`)).body.version as number
    await page.getByRole('button', { name: 'Schedule a change in production' }).click()
    const sched = page.getByRole('form', { name: 'Schedule a change' })
    await sched.getByLabel('At (UTC)').fill('2030-01-02T05:00')
    await sched.getByLabel('On', { exact: true }).check()
    await sched.getByLabel('Everyone else gets').selectOption('0')
    await sched.getByLabel('Reason (audit log)').fill('launch at 05:00')
    await sched.getByRole('button', { name: 'Schedule' }).click()
    await statusSays(page, 'Scheduled checkout in production for 2030-01-02 05:00 UTC')
    const item = page.locator('.scheduled li', { hasText: '2030-01-02 05:00 UTC' })
    await item.getByTestId('scheduled-status').filter({ hasText: 'scheduled' }).waitFor(WAIT)
    t.match(await item.textContent(), /on, everyone else true/)
    r = await s.api('GET', `${P}/plans?flag=checkout&status=running`)
    t.equal(r.body.items.length, 1, 'one scheduled change')
    const planned = r.body.items[0]
    t.same([planned.startAt, planned.nextAt], ['2030-01-02T05:00:00.000Z', '2030-01-02T05:00:00.000Z'])
    t.match(planned.steps[0].config, { on: true, fallthrough: { variation: 0 } })
    t.equal((await s.api('GET', `${P}/flags/checkout`)).body.version, before, 'nothing applied before its time')
    await item.getByRole('button', { name: 'Cancel' }).click()
    await item.getByTestId('scheduled-status').filter({ hasText: 'cancelled' }).waitFor(WAIT)
    r = await s.api('GET', `${P}/plans/${planned.id}`)
    t.equal(r.body.status, 'aborted', 'cancelled through the API')
    t.same([...page.problems, ...page.errors], [], 'no console error')
  },
)
