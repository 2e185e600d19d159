/**
 * /docs (Swagger UI) under helmet's Content-Security-Policy, in Debian's
 * chromium over plain HTTP: the page renders the API and the browser reports
 * no CSP violation.
 */
import t from 'tap'
import { startServer } from '../helpers/server.js'
import { launchChromium } from '../helpers/browser.js'

t.test('Swagger UI renders under the CSP', async (t) => {
  const s = await startServer(t)
  const browser = await launchChromium(t)
  const page = await browser.newPage()
  const problems: string[] = []
  page.on('console', (m) => {
    if (m.type() === 'error' || /Content[- ]Security[- ]Policy/i.test(m.text())) problems.push(m.text())
  })
  page.on('pageerror', (e) => problems.push(e.message))
  const res = await page.goto(`${s.url}/docs`, { waitUntil: 'load' })
  t.equal(res?.status(), 200, '/docs: 200')
  const h = (await res?.allHeaders()) ?? {}
  t.match(h['content-type'], /^text\/html/, 'HTML')
  t.match(h['content-security-policy'], /script-src 'self'/, 'CSP: scripts from the same origin only')
  t.match(h['content-security-policy'], /object-src 'none'/, 'CSP: no plugins')
  t.equal(h['x-content-type-options'], 'nosniff')
  await page.waitForSelector('.swagger-ui .info .title', { timeout: 30_000 })
  t.match(await page.textContent('.swagger-ui .info .title'), /Switchyard/, 'the API title is rendered')
  await page.waitForSelector('.opblock', { timeout: 30_000 })
  t.ok((await page.$$('.opblock')).length >= 30, 'the operations are listed (the spec loaded)')
  t.same(problems, [], 'no console errors, no CSP violations')
})
