/**
 * Time to safety: how long from an alert to the flag being off in every connected SDK.
 * Run: `npm run bench -- alert` (`--quick` for a smoke run).
 *
 * 1. From Alertmanager's webhook request (POST /api/v1/alerts, a version-4 notification as Alertmanager sends it) to
 *    the flag off in each of 1,000 connected Node SDK clients (one SSE stream each), over several rounds.
 * 2. From the metric crossing its threshold (an exporter's gauge) through Debian's Prometheus (scrape 1 s,
 *    evaluation 1 s, rule `for: 1s`) and Alertmanager (group_wait 0s) to the flag off in every one of those SDKs.
 *
 * The API runs as its own process (src/server.ts) on a redis-server this script starts; the SDK clients, the exporter
 * and the tools share the machine with it, so the output states the load average. Clocks: one machine, Date.now().
 */
import { createServer } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient, type SwitchyardClient } from '../../sdk/index.js'
import { EmbeddedRedis } from '../../src/redis/embedded.js'
import { alertmanagerConfig, FEED_RULE, startAlertmanager, startPrometheus } from '../helpers/prometheus.js'
import { listening, start } from '../helpers/server-process.js'
import { until } from '../helpers/wait.js'

const quick = process.argv.includes('--quick')
const STREAMS = quick ? 100 : 1000
const ROUNDS = quick ? 3 : 20
const TOOL_ROUNDS = quick ? 1 : 5
const ADMIN = 'bench-admin-token-0123456789abcdef'
const quiet = { warn() {}, error() {}, info() {}, debug() {} }

const teardowns: Array<() => unknown> = []
const t = { teardown: (fn: () => unknown) => void teardowns.push(fn) }

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN
}
const ms = (x: number) => `${Math.round(x)} ms`

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sy-bench-redis-'))
  const redis = new EmbeddedRedis({
    bin: 'redis-server',
    dir,
    port: 0,
    appendOnly: false,
    supervise: false,
    install: false,
  })
  await redis.start()
  t.teardown(async () => {
    await redis.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  const server = start({
    REDIS_URL: redis.url,
    ADMIN_TOKEN: ADMIN,
    STREAM_MAX_PER_TOKEN: '20000',
    STREAM_MAX_PER_INSTANCE: '20000',
  })
  t.teardown(async () => {
    server.child.kill('SIGTERM')
    await server.exited
  })
  const url = (await server.waitFor(listening, 60_000))[1] as string
  const api = async (method: string, path: string, body?: unknown, token = ADMIN) => {
    const r = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    })
    const text = await r.text()
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${text}`)
    return JSON.parse(text)
  }
  await api('POST', '/api/v1/environments', { key: 'production' })
  const sdkToken = (
    await api('POST', '/api/v1/tokens', { name: 'app', kind: 'sdk-server', environments: ['production'] })
  ).secret as string
  const alertsToken = (
    await api('POST', '/api/v1/tokens', { name: 'alertmanager', kind: 'alerts', environments: ['production'] })
  ).secret as string
  await api('POST', '/api/v1/flags', { key: 'feed', kind: 'boolean' })
  const on = () => api('POST', '/api/v1/environments/production/flags/feed/toggle', { on: true })

  // The SDKs: one stream each; `offAt[i]` is when client i first answered false after the round began.
  const clients: SwitchyardClient[] = []
  const offAt: Array<number | null> = []
  for (let i = 0; i < STREAMS; i++) {
    const c = createClient({ url, token: sdkToken, sendMetrics: false, logger: quiet })
    clients.push(c)
    offAt.push(null)
    c.on('change', (keys) => {
      if (keys.includes('feed') && offAt[i] === null && c.variation('feed', { key: 'u' }, true) === false)
        offAt[i] = Date.now()
    })
  }
  t.teardown(() => {
    for (const c of clients) c.close()
  })
  await Promise.all(clients.map((c) => c.ready({ timeoutMs: 120_000 })))
  const allAre = (v: boolean) => clients.every((c) => c.variation('feed', { key: 'u' }, !v) === v)
  const reset = async () => {
    await on()
    await until(() => allAre(true), 60_000, 'every SDK on')
    offAt.fill(null)
  }

  console.log(
    `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), shared; ${STREAMS} SDK clients in one process, the API in another`,
  )

  // ---- 1. webhook request → every SDK
  const perSdk: number[] = []
  const all: number[] = []
  const responses: number[] = []
  const notification = {
    version: '4',
    groupKey: '{}:{switchyard_env="production", switchyard_flag="feed"}',
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'switchyard',
    groupLabels: { switchyard_env: 'production', switchyard_flag: 'feed' },
    commonLabels: { alertname: 'FeedErrors', switchyard_env: 'production', switchyard_flag: 'feed' },
    commonAnnotations: { summary: 'feed errors above 5 %' },
    externalURL: 'http://alertmanager:9093',
    alerts: [
      {
        status: 'firing',
        labels: { alertname: 'FeedErrors', switchyard_env: 'production', switchyard_flag: 'feed' },
        annotations: { summary: 'feed errors above 5 %' },
        startsAt: new Date().toISOString(),
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus:9090/graph',
        fingerprint: '0123456789abcdef',
      },
    ],
  }
  for (let r = 0; r < ROUNDS; r++) {
    await reset()
    const t0 = Date.now()
    const res = await api('POST', '/api/v1/alerts', notification, alertsToken)
    responses.push(Date.now() - t0)
    if (res.results[0].outcome !== 'killed') throw new Error(`round ${r}: ${JSON.stringify(res)}`)
    await until(() => offAt.every((x) => x !== null), 60_000, 'every SDK off')
    const d = offAt.map((x) => (x as number) - t0)
    perSdk.push(...d)
    all.push(Math.max(...d))
  }
  console.log(
    `\n1. webhook request → flag off, ${STREAMS} SDK streams, ${ROUNDS} rounds (load ${loadavg()[0]?.toFixed(2)})`,
  )
  console.log(`   webhook response:       p50 ${ms(pct(responses, 50))}, p99 ${ms(pct(responses, 99))}`)
  console.log(`   each SDK:               p50 ${ms(pct(perSdk, 50))}, p99 ${ms(pct(perSdk, 99))}`)
  console.log(
    `   every SDK (last one):   p50 ${ms(pct(all, 50))}, p99 ${ms(pct(all, 99))}, max ${ms(Math.max(...all))}`,
  )

  // ---- 2. metric crosses its threshold → Prometheus → Alertmanager → every SDK
  let value = 0
  let scrapes = 0
  const exporter = createServer((_req, res) => {
    scrapes++
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(`app_error_ratio ${value}\n`)
  })
  await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    exporter.closeAllConnections()
    exporter.close()
  })
  const addr = exporter.address()
  const target = `127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`
  const am = await startAlertmanager(t, { config: (d) => alertmanagerConfig(url, d), files: { token: alertsToken } })
  await startPrometheus(t, { targets: [target], rules: FEED_RULE, alertmanagers: [am.url] })
  const tools: number[] = []
  for (let r = 0; r < TOOL_ROUNDS; r++) {
    await reset()
    // Prometheus has seen the healthy value twice: the rule starts from "inactive".
    const s0 = scrapes
    await until(() => scrapes >= s0 + 2, 60_000, 'two scrapes')
    const t0 = Date.now()
    value = 0.3
    await until(() => offAt.every((x) => x !== null), 120_000, 'every SDK off')
    tools.push(Math.max(...offAt.map((x) => (x as number) - t0)))
    value = 0
    // Wait until Alertmanager forgets the alert (resolved), so the next round fires a new one.
    await until(
      async () => {
        const r = await fetch(`${am.url}/api/v2/alerts?active=true`)
        return ((await r.json()) as unknown[]).length === 0
      },
      120_000,
      'the alert resolved',
    )
  }
  console.log(
    `\n2. metric over threshold → Prometheus (scrape 1 s, evaluation 1 s, for: 1s) → Alertmanager (group_wait 0s) → every SDK, ${TOOL_ROUNDS} rounds`,
  )
  console.log(
    `   every SDK (last one):   p50 ${ms(pct(tools, 50))}, max ${ms(Math.max(...tools))} (each: ${tools.map(ms).join(', ')})`,
  )
  console.log(
    `   load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  )
}

try {
  await main()
} finally {
  for (const fn of teardowns.reverse()) await fn()
}
process.exit(0)
