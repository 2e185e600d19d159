/**
 * Debian's real Prometheus and Alertmanager for tests: each on a free port with its own temp dir and a
 * generated configuration, ready (GET /-/ready) before the helper returns, stopped and removed at teardown.
 * Configurations are written as JSON, which both read as YAML.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Teardown } from './server.js'
import { type Proc, spawnProc } from './server-process.js'

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus'
export const ALERTMANAGER_BIN = process.env.ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager'

/** A port free on 127.0.0.1 right now (the OS picks it; the process started next binds it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

export interface ToolProcess {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string
  port: number
  dir: string
  proc: Proc
  /** Stops the process (SIGTERM, then SIGKILL after 5 s); teardown does it too. */
  stop: () => Promise<void>
}

async function waitReady(url: string, proc: Proc, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let exited = false
  void proc.exited.then(() => {
    exited = true
  })
  for (;;) {
    if (exited) throw new Error(`${what} exited before it was ready:\n${proc.output()}`)
    try {
      const r = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) })
      if (r.ok) return
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${what} not ready within ${timeoutMs} ms:\n${proc.output()}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function launch(
  t: Teardown,
  what: string,
  bin: string,
  dir: string,
  port: number,
  args: string[],
): Promise<ToolProcess> {
  const proc = spawnProc(bin, args, { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir } })
  let stopped: Promise<void> | null = null
  const stop = () => {
    stopped ??= (async () => {
      if (proc.child.exitCode === null && proc.child.signalCode === null) {
        proc.child.kill('SIGTERM')
        const timer = setTimeout(() => proc.child.kill('SIGKILL'), 5000)
        await proc.exited
        clearTimeout(timer)
      }
    })()
    return stopped
  }
  t.teardown(async () => {
    await stop()
    rmSync(dir, { recursive: true, force: true })
  })
  const url = `http://127.0.0.1:${port}`
  await waitReady(url, proc, what)
  return { url, port, dir, proc, stop }
}

export interface PrometheusOptions {
  /** `host:port` targets scraped at /metrics (job `test`). */
  targets?: string[]
  /** Default 1s. */
  scrapeInterval?: string
  /** Rule evaluation interval, default 1s. */
  evaluationInterval?: string
  /** Alerting or recording rule groups (`groups:` of a rule file), written to rules.yml. */
  ruleGroups?: unknown[]
  /** Alertmanager base URLs to send alerts to. */
  alertmanagers?: string[]
  /** Anything else for the top level of prometheus.yml. */
  extra?: Record<string, unknown>
}

/** Starts Prometheus on a free port with a generated prometheus.yml (and rules.yml). */
export async function startPrometheus(t: Teardown, o: PrometheusOptions = {}): Promise<ToolProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'sy-prom-'))
  const port = await freePort()
  const config: Record<string, unknown> = {
    global: { scrape_interval: o.scrapeInterval ?? '1s', evaluation_interval: o.evaluationInterval ?? '1s' },
    scrape_configs: [{ job_name: 'test', static_configs: [{ targets: o.targets ?? [] }] }],
    ...(o.ruleGroups && { rule_files: [join(dir, 'rules.yml')] }),
    ...(o.alertmanagers && {
      alerting: {
        alertmanagers: [{ static_configs: [{ targets: o.alertmanagers.map((u) => new URL(u).host) }] }],
      },
    }),
    ...o.extra,
  }
  if (o.ruleGroups) writeFileSync(join(dir, 'rules.yml'), JSON.stringify({ groups: o.ruleGroups }, null, 2))
  writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config, null, 2))
  return launch(t, 'prometheus', PROMETHEUS_BIN, dir, port, [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ])
}

export interface AlertmanagerOptions {
  /** Where every alert goes (one webhook receiver). */
  webhookUrl: string
  /** Sent as `Authorization: Bearer …` to the webhook. */
  bearerToken?: string
  /** Route timings; defaults are short for tests (group_wait 0s, group_interval 1s, repeat_interval 1h). */
  groupWait?: string
  groupInterval?: string
  repeatInterval?: string
  groupBy?: string[]
  sendResolved?: boolean
}

/** Starts Alertmanager on a free port (clustering off) with one webhook receiver. */
export async function startAlertmanager(t: Teardown, o: AlertmanagerOptions): Promise<ToolProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'sy-am-'))
  const port = await freePort()
  const config = {
    route: {
      receiver: 'webhook',
      group_by: o.groupBy ?? ['alertname'],
      group_wait: o.groupWait ?? '0s',
      group_interval: o.groupInterval ?? '1s',
      repeat_interval: o.repeatInterval ?? '1h',
    },
    receivers: [
      {
        name: 'webhook',
        webhook_configs: [
          {
            url: o.webhookUrl,
            send_resolved: o.sendResolved ?? true,
            ...(o.bearerToken && { http_config: { authorization: { type: 'Bearer', credentials: o.bearerToken } } }),
          },
        ],
      },
    ],
  }
  writeFileSync(join(dir, 'alertmanager.yml'), JSON.stringify(config, null, 2))
  return launch(t, 'alertmanager', ALERTMANAGER_BIN, dir, port, [
    `--config.file=${join(dir, 'alertmanager.yml')}`,
    `--storage.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    // No gossip port (9094 by default): parallel test files would fight over it.
    '--cluster.listen-address=',
    '--log.level=warn',
  ])
}

/** A tiny exporter: serves `/metrics` in the text format from values the test sets. */
export interface Exporter {
  /** `host:port` for a scrape target. */
  target: string
  set: (series: string, value: number) => void
}

export async function startExporter(t: Teardown): Promise<Exporter> {
  const { createServer: createHttp } = await import('node:http')
  const values = new Map<string, number>()
  const srv = createHttp((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end()
      return
    }
    // Untyped samples: no TYPE lines to keep grouped.
    const lines = [...values].map(([s, v]) => `${s} ${v}`)
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(`${lines.join('\n')}\n`)
  })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => srv.close(() => r())))
  const addr = srv.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0
  return { target: `127.0.0.1:${port}`, set: (s, v) => void values.set(s, v) }
}
