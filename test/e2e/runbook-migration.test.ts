/**
 * docs/runbook-migration.md, replayed: the knob's definition and the plan are read from the runbook itself, the
 * commands run through the real CLI (in process, through run()) against the real server with an injected clock,
 * and a real SDK reads the batch size. The plan's Prometheus guard is left out here (no Prometheus in this test:
 * guards run on the real one in test/integration/plan-guards.test.ts); the alert goes through POST /api/v1/alerts.
 */
import { readFileSync } from 'node:fs'
import t from 'tap'
import { createClient } from '../../sdk/index.js'
import { cliFor } from '../helpers/cli.js'
import { createSdkEnv } from '../helpers/sdk-fixtures.js'
import { startServer } from '../helpers/server.js'
import { until } from '../helpers/wait.js'

const RUNBOOK = readFileSync(new URL('../../docs/runbook-migration.md', import.meta.url), 'utf8')
const MIN = 60_000
const P = '/api/v1/environments/production'

/** The flag definition the runbook's curl creates, and its migration-plan.json. */
function fromRunbook(): { definition: Record<string, unknown>; plan: Record<string, unknown> } {
  const def = /-d '(\{"key":"orders-migration-batch"[^']*\})'/.exec(RUNBOOK)?.[1]
  const plan = /`migration-plan.json`:\n\n```json\n([\s\S]*?)\n```/.exec(RUNBOOK)?.[1]
  if (!def || !plan) throw new Error('the runbook no longer has the definition or the plan')
  return { definition: JSON.parse(def), plan: JSON.parse(plan) }
}

t.test(
  'the runbook: a knob ramped 100 → 500 → 2,000, the point of no return, the 06:30 alert, the morning after',
  async (t) => {
    let ms = Date.parse('2026-12-01T18:00:00.000Z')
    const s = await startServer(t, { env: { PLAN_TICK_MS: '0' }, now: () => new Date(ms) })
    const production = await createSdkEnv(s)
    const { definition, plan } = fromRunbook()
    t.match(definition, { kind: 'number', variations: [0], knob: { min: 0, max: 5000, step: 50 } })
    const created = await s.api('POST', '/api/v1/flags', { body: definition })
    t.equal(created.status, 201, created.text)
    const alerts = await s.api('POST', '/api/v1/tokens', {
      body: { name: 'alertmanager', kind: 'alerts', environments: ['production'] },
    })
    t.equal(alerts.status, 201, alerts.text)

    // The plan without its guard (see above); everything else as the runbook has it.
    const { guards, ...unguarded } = plan
    t.match(guards, [{ name: 'lock waits', action: 'halt' }])
    const files: Record<string, string> = { 'migration-plan.json': JSON.stringify(unguarded) }
    const cli = cliFor(s, files)
    const client = createClient({
      url: s.url,
      token: production.serverToken,
      sendMetrics: false,
      logger: { warn() {}, error() {}, info() {}, debug() {} },
    })
    t.teardown(() => client.close())
    await client.ready({ timeoutMs: 20_000 })
    const batch = () => client.variation('orders-migration-batch', { key: 'orders-worker' }, 0)
    const serves = (n: number) => until(() => batch() === n, 20_000, `the worker's SDK to serve ${n}`)
    const tick = async (d: number) => {
      ms += d
      await s.app.services.plans.tick()
    }
    t.equal(batch(), 0, 'a new flag is off: batch 0')
    let r: Awaited<ReturnType<typeof cli>>

    // 2. By hand: while off, the value is only stored.
    r = await cli([
      'knob',
      'set',
      'production',
      'orders-migration-batch',
      '250',
      '--reason',
      'DBA: 250 a batch for now',
    ])
    t.equal(r.code, 0, r.err)
    t.match(r.out, /^orders-migration-batch in production serves 250 \(was 0\) \(version 2, change .+\)$/)
    r = await cli(['knob', 'set', 'production', 'orders-migration-batch', '120'])
    t.match([r.code, r.err], [1, /KNOB_OFF_STEP|120 is not 0 \+ a multiple of 50/], 'off the 50 step: refused')
    t.equal(batch(), 0, 'still off')
    r = await cli(['alerts', 'test', 'production', 'orders-migration-batch', '--summary', 'fire drill'], {
      token: alerts.body.secret,
    })
    t.equal(r.out, 'SwitchyardFireDrill production/orders-migration-batch: already-off at version 2', 'the drill')

    // 3. The ramp.
    r = await cli(['release', 'start', 'production', 'migration-plan.json', '--reason', 'orders migration, release 42'])
    t.equal(r.code, 0, r.err)
    t.match(r.out, /"orders migration": orders-migration-batch in production, running/)
    t.match(r.out, /step: 1\/3 100\/batch/)
    const id = /plan (pl_[0-9a-f]+)/.exec(r.out)?.[1] as string
    await serves(100)
    await tick(30 * MIN)
    await serves(500)

    // 4. The point of no return.
    await tick(2 * 60 * MIN)
    r = await cli(['release', 'status', 'production', id])
    t.match(r.out, /waiting for an approval of 3\/3 2000\/batch/)
    t.match(r.out, /POINT OF NO RETURN: from 2000 a batch the worker writes new-format records only/)
    r = await cli(['release', 'approve', 'production', id])
    t.match([r.code, r.err], [1, /REASON_REQUIRED/])
    r = await cli(['release', 'approve', 'production', id, '--reason', 'row counts match on the replica; DBA on call'])
    t.equal(r.code, 0, r.err)
    await serves(2000)

    // 5. 06:30: the alert halts the plan; past the point of no return it does not kill.
    ms = Date.parse('2026-12-02T06:30:00.000Z')
    r = await cli(
      ['alerts', 'test', 'production', 'orders-migration-batch', '--name', 'DatabaseLockWaitsDuringMigration'],
      { token: alerts.body.secret },
    )
    t.equal(r.out, 'DatabaseLockWaitsDuringMigration production/orders-migration-batch: halted')
    t.equal(batch(), 2000, 'not killed: the knob stays at 2000')
    await tick(MIN)
    t.match((await s.api('GET', `${P}/plans/${id}`)).body, { status: 'paused', pausedReason: { code: 'HALTED' } })

    // 6. The morning after: half speed by hand; the plan watches again and never writes 2000 back.
    r = await cli([
      'knob',
      'set',
      'production',
      'orders-migration-batch',
      '500',
      '--reason',
      'locks at 06:30: half speed',
    ])
    t.equal(r.code, 0, r.err)
    await serves(500)
    r = await cli(['release', 'resume', 'production', id, '--reason', 'lock waits flat at 500'])
    t.equal(r.code, 0, r.err)
    await tick(12 * 60 * MIN)
    t.equal((await s.api('GET', `${P}/plans/${id}`)).body.status, 'completed')
    t.match((await s.api('GET', `${P}/flags/orders-migration-batch`)).body, { on: true, knob: { value: 500 } })
    r = await cli(['kill', 'production', 'orders-migration-batch', '--reason', 'stop the worker'])
    t.equal(r.code, 0, r.err)
    t.match(r.err, /^switchyard: warning: The flag is off, but this does not undo: from 2000 a batch/)
    await serves(0)
  },
)
