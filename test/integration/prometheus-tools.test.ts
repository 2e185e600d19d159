/**
 * The test helpers for the real Prometheus and Alertmanager (test/helpers/prometheus.ts) do what the tests
 * built on them rely on: Prometheus scrapes the exporter and fires a generated alerting rule into
 * Alertmanager, which delivers it to a webhook with the bearer token.
 */
import { createServer } from 'node:http'
import t from 'tap'
import { startAlertmanager, startExporter, startPrometheus } from '../helpers/prometheus.js'
import { until } from '../helpers/wait.js'

t.test('exporter → Prometheus rule → Alertmanager → webhook, with the bearer token', async (t) => {
  const received: Array<{
    auth: string | undefined
    body: { status: string; alerts: Array<{ labels: Record<string, string> }> }
  }> = []
  const hook = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => {
      body += c.toString()
    })
    req.on('end', () => {
      received.push({ auth: req.headers.authorization, body: JSON.parse(body) })
      res.writeHead(200).end()
    })
  })
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => hook.close(() => r())))
  const addr = hook.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0

  const am = await startAlertmanager(t, { webhookUrl: `http://127.0.0.1:${port}/hook`, bearerToken: 'am-secret' })
  const exporter = await startExporter(t)
  exporter.set('checkout_error_ratio', 0)
  await startPrometheus(t, {
    targets: [exporter.target],
    alertmanagers: [am.url],
    ruleGroups: [
      {
        name: 'test',
        rules: [
          {
            alert: 'CheckoutErrors',
            expr: 'checkout_error_ratio > 0.02',
            labels: { switchyard_env: 'production', switchyard_flag: 'new-checkout' },
          },
        ],
      },
    ],
  })
  exporter.set('checkout_error_ratio', 0.5)
  await until(() => received.length > 0, 60_000, 'the webhook to receive the alert')
  const first = received[0]
  t.equal(first?.auth, 'Bearer am-secret', 'with the bearer token')
  t.match(first?.body, {
    status: 'firing',
    alerts: [
      { labels: { alertname: 'CheckoutErrors', switchyard_env: 'production', switchyard_flag: 'new-checkout' } },
    ],
  })
})
