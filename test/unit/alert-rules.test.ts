// The shipped Prometheus rules are valid and their unit tests pass, checked by the real promtool.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'

const dir = join(import.meta.dirname, '../../deploy/prometheus')

function promtool(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('promtool', args, { cwd: dir, encoding: 'utf8' })
  if (r.error)
    throw new Error(`promtool does not run (Debian package prometheus; .ci/run installs it): ${r.error.message}`)
  return { status: r.status, out: `${r.stdout}${r.stderr}` }
}

t.test('promtool check rules: the alert rules and the kill-rule example', async (t) => {
  const r = promtool(['check', 'rules', 'alerts.yaml', 'kill-rules.example.yaml'])
  t.equal(r.status, 0, r.out)
})

t.test('promtool test rules: every alert fires when and only when its unit test says', async (t) => {
  const r = promtool(['test', 'rules', 'alerts.test.yaml'])
  t.equal(r.status, 0, r.out)
  t.match(r.out, /SUCCESS/)
})
