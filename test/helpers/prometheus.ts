/**
 * Debian's real Prometheus and Alertmanager (`/usr/bin/prometheus`, `/usr/bin/prometheus-alertmanager`, installed by
 * .ci/run and scripts/ensure-deps.mjs) on free ports, with generated configurations in temp dirs, stopped at teardown.
 * General on purpose: the release-plan guards and the alerts tests start them the same way.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../../src/redis/embedded.js'
import type { Teardown } from './server.js'
import { type Proc, spawnProc } from './server-process.js'
import { until } from './wait.js'

export const PROMETHEUS_BIN = '/usr/bin/prometheus'
export const ALERTMANAGER_BIN = '/usr/bin/prometheus-alertmanager'

/** A running Prometheus or Alertmanager. */
export interface PromProcess {
  /** `http://127.0.0.1:<port>` */
  url: string
  port: number
  dir: string
  proc: Proc
  stop(): Promise<void>
}

/** A port nobody listens on right now (the tools take a fixed listen address, not port 0): the one helper, re-exported. */
export { freePort }

async function launch(
  t: Teardown,
  bin: string,
  prefix: string,
  files: Record<string, string | ((dir: string) => string)>,
  args: (dir: string, port: number) => string[],
): Promise<PromProcess> {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  for (const [name, text] of Object.entries(files))
    writeFileSync(join(dir, name), typeof text === 'function' ? text(dir) : text)
  const port = await freePort()
  const proc = spawnProc(bin, args(dir, port), { cwd: dir, env: { PATH: process.env.PATH ?? '' } })
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    if (proc.child.exitCode === null && proc.child.signalCode === null) {
      proc.child.kill('SIGTERM')
      await proc.exited
    }
    rmSync(dir, { recursive: true, force: true })
  }
  t.teardown(stop)
  const url = `http://127.0.0.1:${port}`
  let exited = false
  void proc.exited.then(() => {
    exited = true
  })
  await until(
    async () => {
      if (exited) throw new Error(`${bin} exited:\n${proc.output()}`)
      try {
        return (await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2000) })).ok
      } catch {
        return false
      }
    },
    60_000,
    `${bin} ready`,
  )
  return { url, port, dir, proc, stop }
}

export interface PrometheusOptions {
  /** `host:port` targets of one scrape job (`job="test"`). */
  targets: string[]
  /** Alerting / recording rules, as a rule-file YAML document. */
  rules?: string
  /** Alertmanager base URLs (`http://127.0.0.1:9093`) alerts are sent to. */
  alertmanagers?: string[]
  /** Default 1s (both). */
  scrapeInterval?: string
  evaluationInterval?: string
}

/** Starts Prometheus scraping `targets`, evaluating `rules`, alerting `alertmanagers`. Ready (`/-/ready`) when it returns. */
export function startPrometheus(t: Teardown, o: PrometheusOptions): Promise<PromProcess> {
  const am = (o.alertmanagers ?? []).map((u) => new URL(u).host)
  const config = [
    'global:',
    `  scrape_interval: ${o.scrapeInterval ?? '1s'}`,
    `  evaluation_interval: ${o.evaluationInterval ?? '1s'}`,
    ...(o.rules ? ['rule_files: [rules.yaml]'] : []),
    ...(am.length
      ? ['alerting:', '  alertmanagers:', `    - static_configs: [{ targets: ${JSON.stringify(am)} }]`]
      : []),
    'scrape_configs:',
    '  - job_name: test',
    `    static_configs: [{ targets: ${JSON.stringify(o.targets)} }]`,
    '',
  ].join('\n')
  return launch(
    t,
    PROMETHEUS_BIN,
    'sy-prom-',
    { 'prometheus.yml': config, ...(o.rules && { 'rules.yaml': o.rules }) },
    (dir, port) => [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
  )
}

export interface AlertmanagerOptions {
  /** The whole alertmanager.yml; a function gets the directory it lives in (for `credentials_file` paths). */
  config: string | ((dir: string) => string)
  /** Extra files next to the config (relative names resolve in its directory). */
  files?: Record<string, string>
}

/** Starts Alertmanager alone (no cluster peers). Ready (`/-/ready`) when it returns. */
export function startAlertmanager(t: Teardown, o: AlertmanagerOptions): Promise<PromProcess> {
  return launch(t, ALERTMANAGER_BIN, 'sy-am-', { 'alertmanager.yml': o.config, ...o.files }, (dir, port) => [
    `--config.file=${join(dir, 'alertmanager.yml')}`,
    `--storage.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    // An empty address turns gossip off: one Alertmanager per test, and no fixed port 9094 to collide on.
    '--cluster.listen-address=',
    '--log.level=warn',
  ])
}

/** An alerting rule like deploy/prometheus/kill-rules.example.yaml's, with a short `for`: `app_error_ratio > 0.05` kills `feed` in production. */
export const FEED_RULE = `groups:
  - name: switchyard-test
    rules:
      - alert: FeedErrors
        expr: app_error_ratio > 0.05
        for: 1s
        labels:
          switchyard_env: production
          switchyard_flag: feed
        annotations:
          summary: feed errors above 5 %
`

/** Alertmanager routing every alert to Switchyard at once, the token in http_config (a credentials file). */
export function alertmanagerConfig(apiUrl: string, dir: string): string {
  return `route:
  receiver: switchyard
  group_by: [switchyard_env, switchyard_flag]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: switchyard
    webhook_configs:
      - url: ${apiUrl}/api/v1/alerts
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials_file: ${join(dir, 'token')}
`
}
