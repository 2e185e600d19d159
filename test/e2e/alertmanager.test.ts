/**
 * The whole loop on the real tools: a tiny exporter's error rate crosses a threshold, Debian's Prometheus (scrape and
 * evaluation every 1 s) fires an alerting rule, Debian's Alertmanager posts it to POST /api/v1/alerts with an alerts
 * token, and a connected Node SDK sees the flag off. No mocked Prometheus or Alertmanager.
 */
import { createServer } from 'node:http'
import t from 'tap'
import { createClient } from '../../sdk/index.js'
import { createFlag, createSdkEnv, toggle } from '../helpers/sdk-fixtures.js'
import { alertmanagerConfig, FEED_RULE, startAlertmanager, startPrometheus } from '../helpers/prometheus.js'
import { startServer, type Teardown } from '../helpers/server.js'
import { until } from '../helpers/wait.js'

/** An exporter with one gauge the test sets: the app's error ratio. */
async function exporter(t: Teardown): Promise<{ target: string; set: (v: number) => void; scrapes: () => number }> {
  let value = 0
  let scrapes = 0
  const srv = createServer((req, res) => {
    if (req.url !== '/metrics') return res.writeHead(404).end()
    scrapes++
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
    res.end(`# HELP app_error_ratio Share of failed requests\n# TYPE app_error_ratio gauge\napp_error_ratio ${value}\n`)
  })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    // Prometheus keeps its scrape connection alive: close it, or close() waits for its idle timeout.
    srv.closeAllConnections()
    return new Promise<void>((r) => srv.close(() => r()))
  })
  const addr = srv.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0
  return {
    target: `127.0.0.1:${port}`,
    set: (v) => {
      value = v
    },
    scrapes: () => scrapes,
  }
}

t.test(
  'a metric over its threshold turns the flag off in a connected SDK, through Prometheus and Alertmanager',
  async (t) => {
    const s = await startServer(t)
    const prod = await createSdkEnv(s, 'production')
    const tok = await s.api('POST', '/api/v1/tokens', {
      body: { name: 'alertmanager', kind: 'alerts', environments: ['production'] },
    })
    t.equal(tok.status, 201)
    await createFlag(s, 'feed')
    await toggle(s, 'production', 'feed', true)

    const app = await exporter(t)
    const am = await startAlertmanager(t, {
      config: (dir) => alertmanagerConfig(s.url, dir),
      files: { token: tok.body.secret },
    })
    await startPrometheus(t, { targets: [app.target], rules: FEED_RULE, alertmanagers: [am.url] })

    const client = createClient({
      url: s.url,
      token: prod.serverToken,
      sendMetrics: false,
      logger: { warn() {}, error() {}, info() {}, debug() {} },
    })
    t.teardown(() => client.close())
    await client.ready({ timeoutMs: 30_000 })
    t.equal(client.variation('feed', { key: 'u1' }, false), true, 'on while the error rate is low')
    const off = new Promise<number>((resolve) =>
      client.on('change', (keys) => {
        if (keys.includes('feed') && client.variation('feed', { key: 'u1' }, true) === false) resolve(Date.now())
      }),
    )

    // Prometheus has scraped the healthy value (so the rule starts from "not firing"), then the errors begin.
    await until(() => app.scrapes() >= 2, 60_000, 'two scrapes')
    const crossed = Date.now()
    app.set(0.3)
    let timer: NodeJS.Timeout | undefined
    const at = await Promise.race([
      off,
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Error('the flag was not killed within 90 s')), 90_000)
      }),
    ]).finally(() => clearTimeout(timer))
    t.pass(
      `off in the SDK ${at - crossed} ms after the metric crossed (scrape 1 s, evaluation 1 s, for 1s, group_wait 0s)`,
    )

    const audit = (await s.api('GET', '/api/v1/audit?env=production&flag=feed')).body.items
    t.match(
      audit.find((a: { action: string }) => a.action === 'flag.kill'),
      {
        actor: 'alert FeedErrors (token alertmanager)',
        reason: 'Alertmanager: FeedErrors: feed errors above 5 %',
        details: { alert: { name: 'FeedErrors', generatorURL: /^http:\/\// } },
      },
      'audited with the alert and its summary',
    )

    // The errors stop: the resolved notification is recorded, and the flag stays off.
    app.set(0)
    await until(
      async () =>
        (await s.api('GET', '/api/v1/audit?env=production&flag=feed')).body.items.some(
          (a: { action: string }) => a.action === 'alert.resolved',
        ),
      90_000,
      'the resolved alert in the audit log',
    )
    t.equal(client.variation('feed', { key: 'u1' }, true), false, 'resolving turns nothing back on')
  },
)
