/** POST /api/v1/alerts with hand-written Alertmanager (version 4) notifications, against a real server and SDK. */
import t, { type Test } from 'tap'
import { createClient } from '../../sdk/index.js'
import { createFlag, createSdkEnv, toggle } from '../helpers/sdk-fixtures.js'
import { startServer } from '../helpers/server.js'

const P = '/api/v1/environments/production'
const MIN = 60_000

interface AlertIn {
  status?: 'firing' | 'resolved'
  labels: Record<string, string>
  annotations?: Record<string, string>
}

/** A notification as Alertmanager's webhook_config sends it (every field of version 4). */
function notification(alerts: AlertIn[], extra: Record<string, unknown> = {}) {
  return {
    version: '4',
    groupKey: '{}:{alertname="test"}',
    truncatedAlerts: 0,
    status: alerts.some((a) => (a.status ?? 'firing') === 'firing') ? 'firing' : 'resolved',
    receiver: 'switchyard',
    groupLabels: {},
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://alertmanager.example:9093',
    alerts: alerts.map((a, i) => ({
      status: a.status ?? 'firing',
      labels: a.labels,
      annotations: a.annotations ?? {},
      startsAt: '2026-12-02T06:30:00.000Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus.example:9090/graph',
      fingerprint: `f${i}`,
    })),
    ...extra,
  }
}

const kill = (flag: string, extra: Record<string, string> = {}): AlertIn => ({
  labels: { alertname: 'OrdersLockWaits', switchyard_env: 'production', switchyard_flag: flag, ...extra },
  annotations: { summary: 'lock waits above 20' },
})

async function setup(t: Test) {
  const s = await startServer(t)
  const production = await createSdkEnv(s, 'production')
  await createSdkEnv(s, 'staging')
  const r = await s.api('POST', '/api/v1/tokens', {
    body: { name: 'alertmanager', kind: 'alerts', environments: ['production'] },
  })
  t.equal(r.status, 201, 'an alerts token')
  t.match(r.body.secret, /^sy_alt_/)
  const alerts = r.body.secret as string
  const post = (body: unknown, token = alerts) => s.api('POST', '/api/v1/alerts', { token, body })
  return { s, alerts, post, production }
}

t.test('a firing alert kills the flag, audited with the alert; a repeat writes nothing', async (t) => {
  const { s, post } = await setup(t)
  await createFlag(s, 'orders-migration')
  await toggle(s, 'production', 'orders-migration', true)
  const before = (await s.api('GET', `${P}/flags/orders-migration`)).body.version as number

  let r = await post(notification([kill('orders-migration')]))
  t.equal(r.status, 200, r.text)
  t.match(r.body.results, [
    {
      alertname: 'OrdersLockWaits',
      status: 'firing',
      fingerprint: 'f0',
      environment: 'production',
      flag: 'orders-migration',
      outcome: 'killed',
      version: before + 1,
      changeId: /^\d+-\d+$/,
    },
  ])
  const cfg = (await s.api('GET', `${P}/flags/orders-migration`)).body
  t.same([cfg.on, cfg.version], [false, before + 1], 'off, one new version')

  const audit = (await s.api('GET', '/api/v1/audit?env=production&flag=orders-migration')).body.items
  const entry = audit.find((a: { action: string }) => a.action === 'flag.kill')
  t.match(entry, {
    actor: 'alert OrdersLockWaits (token alertmanager)',
    reason: 'Alertmanager: OrdersLockWaits: lock waits above 20',
    details: {
      alert: { name: 'OrdersLockWaits', fingerprint: 'f0', generatorURL: 'http://prometheus.example:9090/graph' },
    },
  })

  r = await post(notification([kill('orders-migration')]))
  t.equal(r.status, 200)
  t.match(r.body.results, [{ outcome: 'already-off', version: before + 1 }])
  t.notOk(r.body.results[0].changeId, 'no change id: nothing was written')
  t.equal((await s.api('GET', `${P}/flags/orders-migration`)).body.version, before + 1, 'the repeat changed nothing')

  // Two alerts for the same flag in one notification (or two Alertmanagers at once): one kill.
  await toggle(s, 'production', 'orders-migration', true)
  const [a, b] = await Promise.all([
    post(notification([kill('orders-migration'), kill('orders-migration')])),
    post(notification([kill('orders-migration')])),
  ])
  const outcomes = [...a.body.results, ...b.body.results].map((x: { outcome: string }) => x.outcome).sort()
  t.same(outcomes, ['already-off', 'already-off', 'killed'], 'concurrent duplicates: exactly one kill')
})

t.test('a kill reaches a connected SDK', async (t) => {
  const { s, post, production } = await setup(t)
  await createFlag(s, 'feed')
  await toggle(s, 'production', 'feed', true)
  const client = createClient({
    url: s.url,
    token: production.serverToken,
    sendMetrics: false,
    logger: { warn() {}, error() {}, info() {}, debug() {} },
  })
  t.teardown(() => client.close())
  await client.ready({ timeoutMs: 20_000 })
  t.equal(client.variation('feed', { key: 'u1' }, false), true, 'on before the alert')
  const off = new Promise<void>((resolve) =>
    client.on('change', (keys) => {
      if (keys.includes('feed') && client.variation('feed', { key: 'u1' }, true) === false) resolve()
    }),
  )
  t.equal((await post(notification([kill('feed')]))).body.results[0].outcome, 'killed')
  await off
  t.equal(client.variation('feed', { key: 'u1' }, true), false, 'off in the SDK')
})

t.test('resolved alerts are recorded, not acted on; policies ignore and halt', async (t) => {
  const { s, post } = await setup(t)
  await createFlag(s, 'feed')
  await createFlag(s, 'quiet', { alertPolicy: 'ignore' })
  await createFlag(s, 'careful', { alertPolicy: 'halt' })
  for (const f of ['feed', 'quiet', 'careful']) await toggle(s, 'production', f, true)

  const r = await post(
    notification([
      { ...kill('feed'), status: 'resolved' },
      kill('quiet'),
      kill('careful'),
      { labels: { alertname: 'PlanGuard', switchyard_env: 'production', switchyard_plan: 'feed' } },
    ]),
  )
  t.equal(r.status, 200)
  t.match(
    r.body.results.map((x: { outcome: string; code?: string }) => [x.outcome, x.code]),
    [
      ['recorded', undefined],
      ['ignored', undefined],
      ['refused', 'PLAN_NOT_FOUND'],
      ['refused', 'PLAN_NOT_FOUND'],
    ],
  )
  for (const f of ['feed', 'quiet', 'careful'])
    t.equal((await s.api('GET', `${P}/flags/${f}`)).body.on, true, `${f} stays on`)
  const actions = (await s.api('GET', '/api/v1/audit?env=production')).body.items.map(
    (a: { action: string; target: { key: string } }) => `${a.action} ${a.target.key}`,
  )
  for (const a of ['alert.resolved feed', 'alert.ignored quiet', 'alert.unhandled careful', 'alert.unhandled feed'])
    t.ok(actions.includes(a), `audited: ${a}`)

  // With plans wired (the lead's plan service), a halt goes to them and never becomes a kill.
  const halted: string[] = []
  s.app.services.alerts.actions = {
    ...s.app.services.alerts.actions,
    haltPlan: async (env, flag, reason, actor) => {
      halted.push(`${env}/${flag} ${actor.name}: ${reason}`)
      return { changed: halted.length === 1 }
    },
  }
  const h = await post(notification([kill('careful'), kill('careful')]))
  t.same(
    h.body.results.map((x: { outcome: string }) => x.outcome),
    ['halted', 'already-halted'],
  )
  t.same(
    halted[0],
    'production/careful alert OrdersLockWaits (token alertmanager): Alertmanager: OrdersLockWaits: lock waits above 20',
  )
  t.equal((await s.api('GET', `${P}/flags/careful`)).body.on, true, 'halt, not kill')
})

t.test('alerts Switchyard cannot act on get an outcome each; the notification is still 200', async (t) => {
  const { s, post } = await setup(t)
  await createFlag(s, 'feed')
  await toggle(s, 'staging', 'feed', true)
  const r = await post(
    notification([
      { labels: { alertname: 'Unrelated', severity: 'page' } },
      { labels: { alertname: 'NoFlag', switchyard_env: 'production' } },
      { labels: { alertname: 'Odd', switchyard_env: 'production', switchyard_flag: '../tokens' } },
      { labels: { alertname: 'Other', switchyard_env: 'staging', switchyard_flag: 'feed' } },
      { labels: { alertname: 'Gone', switchyard_env: 'nowhere', switchyard_flag: 'feed' } },
      kill('no-such-flag'),
    ]),
  )
  t.equal(r.status, 200, r.text)
  t.same(
    r.body.results.map((x: { outcome: string; code?: string }) => `${x.outcome} ${x.code}`),
    [
      'skipped NOT_LABELLED',
      'skipped NOT_LABELLED',
      'skipped INVALID_LABEL',
      'refused FORBIDDEN',
      'refused FORBIDDEN',
      'refused FLAG_NOT_FOUND',
    ],
  )
  t.equal((await s.api('GET', '/api/v1/environments/staging/flags/feed')).body.on, true, 'outside the token: untouched')

  const star = await s.api('POST', '/api/v1/tokens', { body: { name: 'am-all', kind: 'alerts', environments: ['*'] } })
  const g = await post(
    notification([{ labels: { alertname: 'Gone', switchyard_env: 'nowhere', switchyard_flag: 'feed' } }]),
    star.body.secret,
  )
  t.match(g.body.results, [{ outcome: 'refused', code: 'ENVIRONMENT_NOT_FOUND' }])
})

t.test('bad notifications and tokens of other kinds', async (t) => {
  const { s, post } = await setup(t)
  let r = await post(notification([], { version: '3' }))
  t.same([r.status, r.body.code], [400, 'ALERT_VERSION_UNSUPPORTED'])
  r = await post({ version: '4' })
  t.same([r.status, r.body.code], [400, 'VALIDATION_FAILED'], 'no alerts')
  r = await post({ version: '4', alerts: [{ status: 'burning', labels: {} }] })
  t.same([r.status, r.body.code], [400, 'VALIDATION_FAILED'], 'unknown status')
  r = await post({ version: '4', alerts: [{ status: 'firing', labels: { n: 1 } }] })
  t.same([r.status, r.body.code], [400, 'VALIDATION_FAILED'], 'labels are strings')
  r = await s.api('POST', '/api/v1/alerts', { body: '{"version":', headers: { 'content-type': 'application/json' } })
  t.same(
    [r.status, r.body.code],
    [403, 'FORBIDDEN'],
    'the admin token is not an alerts token (refused before the body)',
  )
  r = await s.api('POST', '/api/v1/alerts', { token: null, body: notification([]) })
  t.same([r.status, r.body.code], [401, 'UNAUTHORIZED'])
  const editor = await s.api('POST', '/api/v1/tokens', { body: { name: 'ed', kind: 'editor', environments: ['*'] } })
  r = await s.api('POST', '/api/v1/alerts', { token: editor.body.secret, body: notification([kill('feed')]) })
  t.same([r.status, r.body.code], [403, 'FORBIDDEN'], 'an editor token is refused')
  // And the alerts token can do nothing else.
  const alertsToken = (
    await s.api('POST', '/api/v1/tokens', { body: { name: 'am2', kind: 'alerts', environments: ['production'] } })
  ).body.secret
  await createFlag(s, 'feed')
  for (const [m, p, b] of [
    ['GET', `${P}/flags/feed`, undefined],
    ['POST', `${P}/flags/feed/kill`, {}],
    ['GET', '/api/v1/audit?env=production', undefined],
  ] as const) {
    r = await s.api(m, p, { token: alertsToken, ...(b !== undefined && { body: b }) })
    t.equal(r.status, 403, `${m} ${p}`)
  }
  r = await s.api('POST', '/api/v1/tokens', { body: { name: 'am3', kind: 'alerts' } })
  t.same([r.status, r.body.code], [400, 'VALIDATION_FAILED'], 'an alerts token names its environments')
  r = await s.api('POST', '/api/v1/alerts', {
    token: alertsToken,
    body: '{"version":"4","alerts":[',
    headers: { 'content-type': 'application/json' },
  })
  t.same([r.status, r.body.code], [400, 'INVALID_JSON'])
})

/**
 * Alerts and release plans together, through REST: the plan runner never runs by itself (PLAN_TICK_MS=0), the
 * test moves the clock and calls tick() (as test/integration/plans.test.ts does).
 */
async function planSetup(t: Test) {
  let ms = Date.parse('2026-12-01T17:00:00.000Z')
  const s = await startServer(t, { env: { PLAN_TICK_MS: '0' }, now: () => new Date(ms) })
  await createSdkEnv(s, 'production')
  const r = await s.api('POST', '/api/v1/tokens', {
    body: { name: 'alertmanager', kind: 'alerts', environments: ['production'] },
  })
  const post = (body: unknown) => s.api('POST', '/api/v1/alerts', { token: r.body.secret, body })
  const advance = async (d: number) => {
    ms += d
    await s.app.services.plans.tick()
  }
  return { s, post, advance }
}

t.test('a firing alert halts the started plan of a halt-policy flag (or one named by switchyard_plan)', async (t) => {
  const { s, post, advance } = await planSetup(t)
  await createFlag(s, 'careful', { alertPolicy: 'halt' })
  await createFlag(s, 'feed')
  const ramp = { steps: [{ serve: { variation: 0 }, hold: '1h' }, { serve: { variation: 1 } }], start: true }
  const ids: string[] = []
  for (const flag of ['careful', 'feed']) {
    const r = await s.api('POST', `${P}/plans`, { body: { flag, ...ramp } })
    t.equal(r.status, 201, r.text)
    t.equal(r.body.status, 'running')
    ids.push(r.body.id)
  }
  const byPlan = { labels: { alertname: 'PlanGuard', switchyard_env: 'production', switchyard_plan: 'feed' } }
  let r = await post(notification([kill('careful'), byPlan]))
  t.equal(r.status, 200, r.text)
  t.match(r.body.results, [
    { flag: 'careful', outcome: 'halted' },
    { flag: 'feed', outcome: 'halted' },
  ])
  for (const [i, flag] of ['careful', 'feed'].entries()) {
    const plan = (await s.api('GET', `${P}/plans/${ids[i]}`)).body
    t.match(plan, { status: 'paused', current: 0, pausedReason: { code: 'HALTED' } }, `${flag}: halted at its step`)
    t.match(plan.history.at(-1), {
      action: 'halt',
      actor: /^alert (OrdersLockWaits|PlanGuard) \(token alertmanager\)$/,
    })
    t.equal((await s.api('GET', `${P}/flags/${flag}`)).body.on, true, `${flag}: halted, not killed`)
  }
  t.match(
    (await s.api('GET', `${P}/plans/${ids[0]}`)).body.pausedReason.message,
    'Alertmanager: OrdersLockWaits: lock waits above 20',
  )
  const audit = (await s.api('GET', '/api/v1/audit?env=production&flag=careful')).body.items
  t.match(
    audit.filter((a: { action: string }) => a.action === 'plan.halt'),
    [{ actor: 'alert OrdersLockWaits (token alertmanager)', reason: /OrdersLockWaits/, details: { plan: ids[0] } }],
    'the halt is audited once, as the alert',
  )

  r = await post(notification([kill('careful'), byPlan]))
  t.match(
    r.body.results.map((x: { outcome: string }) => x.outcome),
    ['already-halted', 'already-halted'],
    'Alertmanager repeats write nothing',
  )
  await advance(2 * 60 * MIN)
  t.equal((await s.api('GET', `${P}/plans/${ids[0]}`)).body.current, 0, 'halted: no step when it was due')
  const halts = (await s.api('GET', '/api/v1/audit?env=production&flag=careful')).body.items.filter(
    (a: { action: string }) => a.action === 'plan.halt',
  )
  t.equal(halts.length, 1, 'still one halt')
})

t.test('past a point of no return, an alert on a kill-policy flag halts its plan instead of killing', async (t) => {
  const { s, post, advance } = await planSetup(t)
  // A number flag's preset batch sizes, ramped by a plan (the runbook's knob: test/e2e/runbook-migration.test.ts).
  let r = await s.api('POST', '/api/v1/flags', {
    body: { key: 'orders-migration-batch', kind: 'number', variations: [0, 100, 500, 2000] },
  })
  t.equal(r.status, 201, r.text)
  r = await s.api('POST', `${P}/plans`, {
    body: {
      flag: 'orders-migration-batch',
      steps: [
        { serve: { variation: 1 }, hold: '30m' },
        { serve: { variation: 2 }, hold: '2h' },
        { serve: { variation: 3 }, hold: '1h', pointOfNoReturn: { note: 'records are written in the new format' } },
      ],
      start: true,
    },
  })
  t.equal(r.status, 201, r.text)
  const id = r.body.id as string
  await advance(30 * MIN)
  await advance(2 * 60 * MIN)
  t.match((await s.api('GET', `${P}/plans/${id}`)).body, { status: 'waiting', waitingFor: { step: 2 } })
  r = await s.api('POST', `${P}/plans/${id}/approve`, { body: { reason: 'row counts match' } })
  t.equal(r.status, 200, r.text)
  await advance(0)
  t.match((await s.api('GET', `${P}/plans/${id}`)).body, {
    status: 'running',
    current: 2,
    passedPointOfNoReturn: { step: 2 },
  })
  t.match((await s.api('GET', `${P}/flags/orders-migration-batch`)).body, { on: true, fallthrough: { variation: 3 } })

  r = await post(notification([kill('orders-migration-batch')]))
  t.equal(r.status, 200, r.text)
  t.match(r.body.results, [{ flag: 'orders-migration-batch', outcome: 'halted' }], 'halted, not killed')
  t.notOk(r.body.results[0].changeId, 'no flag write')
  t.match((await s.api('GET', `${P}/flags/orders-migration-batch`)).body, { on: true, fallthrough: { variation: 3 } })
  t.match((await s.api('GET', `${P}/plans/${id}`)).body, { status: 'paused', pausedReason: { code: 'HALTED' } })
  r = await post(notification([kill('orders-migration-batch')]))
  t.match(r.body.results, [{ outcome: 'already-halted' }])
  t.equal((await s.api('GET', `${P}/flags/orders-migration-batch`)).body.on, true, 'a repeat does not kill either')
})
