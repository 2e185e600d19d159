/**
 * Prometheus guards on the real Prometheus (Debian's /usr/bin/prometheus): it scrapes a tiny exporter in this
 * test every second, the test raises an error rate, the guard does what the plan says. The app's clock is
 * injected (steps are due when the test says) and the runner is driven by tick(); only Prometheus runs on
 * real time, so the waits are for its scrapes, with a timeout, never a sleep.
 */
import t, { type Test } from 'tap'
import { type Exporter, startExporter, startPrometheus, type ToolProcess } from '../helpers/prometheus.js'
import { startServer } from '../helpers/server.js'
import { until } from '../helpers/wait.js'

const P = '/api/v1/environments/production'
const MIN = 60_000
const weights = (pct: number) => ({
  rollout: {
    weights: [
      { variation: 0, weight: pct * 1000 },
      { variation: 1, weight: 100_000 - pct * 1000 },
    ],
  },
})

let exporter: Exporter
let prometheus: ToolProcess

t.before(async () => {
  exporter = await startExporter(t)
  prometheus = await startPrometheus(t, { targets: [exporter.target], scrapeInterval: '1s' })
})

/**
 * A guard's query on a test series: its last sample within a minute. On 2 loaded cores a scrape of the
 * exporter (in this test process) can time out, and Prometheus then marks the series stale: the plain
 * series would read as empty (GUARD_UNKNOWN, which halts, as its own test shows) instead of its value.
 */
const held = (series: string) => `last_over_time(${series}[1m])`

/** Waits until Prometheus answers `query` with `value` (its next scrapes). */
async function seen(query: string, value: number): Promise<void> {
  await until(
    async () => {
      const r = await fetch(`${prometheus.url}/api/v1/query?${new URLSearchParams({ query })}`)
      const body = (await r.json()) as { data: { result: Array<{ value: [number, string] }> } }
      return Number(body.data.result[0]?.value[1]) === value
    },
    30_000,
    `${query} = ${value} in Prometheus`,
  )
}

async function setup(t: Test, series: string) {
  let ms = Date.parse('2026-12-01T05:00:00.000Z')
  const s = await startServer(t, {
    env: { PLAN_TICK_MS: '0', PROMETHEUS_URL: prometheus.url },
    now: () => new Date(ms),
  })
  t.equal((await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })).status, 201)
  t.equal((await s.api('POST', '/api/v1/flags', { body: { key: 'new-checkout', kind: 'boolean' } })).status, 201)
  exporter.set(series, 0.001)
  await seen(series, 0.001)
  const plan = async (id: string) => (await s.api('GET', `${P}/plans/${id}`)).body
  return {
    s,
    plan,
    advance: (d: number) => {
      ms += d
    },
    tick: () => s.app.services.plans.tick(),
  }
}

const ramp = [
  { name: '1 %', serve: weights(1), hold: '10m' },
  { name: '5 %', serve: weights(5), hold: '10m' },
  { name: '100 %', serve: { variation: 0 } },
]

t.test('a breached guard halts the plan at its step; the readings are in its state', async (t) => {
  const series = 'checkout_error_ratio{case="halt"}'
  const { s, plan, advance, tick } = await setup(t, series)
  const guard = { name: 'error rate', query: held(series), comparison: '>', threshold: 0.02, action: 'halt' }
  const r = await s.api('POST', `${P}/plans`, {
    body: { flag: 'new-checkout', steps: ramp, guards: [guard], start: true },
  })
  t.equal(r.status, 201, r.text)
  const id = r.body.id as string
  t.match(r.body, { status: 'running', current: 0 }, 'the guard reads fine: step 1 is applied')
  t.match(r.body.readings, [{ guard: 0, value: 0.001, breached: false }], 'its reading is stored')
  advance(10 * MIN)
  await tick()
  t.equal((await plan(id)).current, 1, 'healthy: the ramp goes on')

  exporter.set(series, 0.35)
  await until(
    async () => {
      await tick()
      return (await plan(id)).status === 'paused'
    },
    30_000,
    'the guard to halt the plan',
  )
  const p = await plan(id)
  t.match(p, { status: 'paused', current: 1, pausedReason: { code: 'GUARD_BREACHED' } }, 'halted at step 2')
  t.match(p.pausedReason.message, /guard error rate: 0\.35 > 0\.02: halted at step 2\/3 \(5 %\)/)
  t.match(p.readings, [{ guard: 0, value: 0.35, breached: true }])
  t.match((await s.api('GET', `${P}/flags/new-checkout`)).body, { version: 3, fallthrough: weights(5) }, 'stays at 5 %')
  advance(60 * MIN)
  await tick()
  t.equal((await plan(id)).current, 1, 'never advances while halted')
  const audit = (await s.api('GET', '/api/v1/audit?env=production&flag=new-checkout')).body.items
  t.match(audit[0], { action: 'plan.halt', actor: `plan:${id}`, details: { code: 'GUARD_BREACHED' } }, 'audited')
})

t.test(
  'a breach must last `for` before the action, and holds the ramp meanwhile; rollback goes back a step',
  async (t) => {
    const series = 'checkout_error_ratio{case="rollback"}'
    const { s, plan, advance, tick } = await setup(t, series)
    const guard = { query: held(series), comparison: '>=', threshold: 0.1, for: '2m', action: 'rollback' }
    let r = await s.api('POST', `${P}/plans`, {
      body: { flag: 'new-checkout', steps: ramp, guards: [guard], start: true },
    })
    const id = r.body.id as string
    advance(10 * MIN)
    await tick()
    t.equal((await plan(id)).current, 1)

    exporter.set(series, 0.5)
    await seen(series, 0.5)
    advance(10 * MIN)
    await tick()
    r = { ...r, body: await plan(id) }
    t.match(r.body, { status: 'running', current: 1 }, 'the step is due but a breach holds it')
    t.match(r.body.readings, [{ value: 0.5, breached: true, breachSince: '2026-12-01T05:20:00.000Z' }])
    advance(MIN)
    await tick()
    t.equal((await plan(id)).status, 'running', 'one minute of breach: not yet')
    advance(MIN)
    await tick()
    const p = await plan(id)
    t.match(p, { status: 'paused', current: 0, pausedReason: { code: 'GUARD_BREACHED' } }, 'rolled back a step')
    t.match(p.pausedReason.message, /rolled back to step 1\/3 \(1 %\)/)
    const flag = (await s.api('GET', `${P}/flags/new-checkout`)).body
    t.match(flag, { version: 4, fallthrough: weights(1) }, 'the flag serves step 1 again, as a new version')
    const hist = (await s.api('GET', `${P}/flags/new-checkout/history?limit=1`)).body.items[0]
    t.match(hist, { action: 'plan.rollback', actor: `plan:${id}` })
  },
)

t.test(
  'a guard with no data halts (never advances blindly); past a point of no return a kill guard halts',
  async (t) => {
    const series = 'checkout_error_ratio{case="pnr"}'
    const { s, plan, advance, tick } = await setup(t, series)
    let r = await s.api('POST', `${P}/plans`, {
      body: {
        flag: 'new-checkout',
        steps: ramp,
        guards: [{ query: 'no_such_metric_anywhere', comparison: '>', threshold: 1, action: 'halt' }],
        start: true,
      },
    })
    t.match(r.body, { status: 'paused', current: -1, pausedReason: { code: 'GUARD_UNKNOWN' } }, 'empty result: halted')
    t.match(r.body.pausedReason.message, /no data \(empty result\).*never advances without a reading/)
    t.equal((await s.api('POST', `${P}/plans/${r.body.id}/abort`, { body: {} })).status, 200)

    r = await s.api('POST', `${P}/plans`, {
      body: {
        flag: 'new-checkout',
        steps: [
          { name: 'migrate', serve: { variation: 0 }, hold: '1h', pointOfNoReturn: { note: 'new-format writes' } },
          { name: 'done', serve: { variation: 0 } },
        ],
        guards: [{ query: held(series), comparison: '>', threshold: 0.02, action: 'kill' }],
        start: true,
      },
    })
    const id = r.body.id as string
    t.match(r.body, { status: 'waiting', current: -1, waitingFor: { step: 0 } }, 'waits before the point of no return')
    r = await s.api('POST', `${P}/plans/${id}/approve`, { body: { reason: 'snapshot taken' } })
    t.match(r.body, { status: 'running', current: 0, passedPointOfNoReturn: { approvedBy: 'bootstrap admin' } })
    exporter.set(series, 0.9)
    await seen(series, 0.9)
    advance(MIN)
    await tick()
    const p = await plan(id)
    t.match(p, { status: 'paused', pausedReason: { code: 'GUARD_BREACHED' } })
    t.match(p.pausedReason.message, /kill not done: the flag passed a point of no return \(new-format writes\)/)
    t.match((await s.api('GET', `${P}/flags/new-checkout`)).body, { on: true, version: 2 }, 'not killed')
  },
)

t.test('a kill guard kills the flag (before any point of no return) and pauses the plan', async (t) => {
  const series = 'checkout_error_ratio{case="kill"}'
  const { s, plan, tick } = await setup(t, series)
  const guard = { query: held(series), comparison: '>', threshold: 0.02, action: 'kill' }
  const r = await s.api('POST', `${P}/plans`, {
    body: { flag: 'new-checkout', steps: ramp, guards: [guard], start: true },
  })
  const id = r.body.id as string
  exporter.set(series, 0.2)
  await until(
    async () => {
      await tick()
      return (await plan(id)).status === 'paused'
    },
    30_000,
    'the guard to kill the flag',
  )
  t.match(await plan(id), { pausedReason: { code: 'GUARD_BREACHED', message: /flag killed/ } })
  const flag = (await s.api('GET', `${P}/flags/new-checkout`)).body
  t.match(flag, { on: false, version: 3 }, 'the flag is off')
  const hist = (await s.api('GET', `${P}/flags/new-checkout/history?limit=1`)).body.items[0]
  t.match(hist, { action: 'flag.kill', actor: `plan:${id}` }, 'a kill in the history, by the plan')
})

t.test(
  "a rollback never overwrites a person's knob: their edit pauses the plan first; after a resume, a rollback to a step that does not set the knob keeps it",
  async (t) => {
    const series = 'orders_lock_waits{case="knob"}'
    const { s, plan, advance, tick } = await setup(t, series)
    const def = { key: 'batch-size', kind: 'number', variations: [10, 20], knob: { min: 1, max: 5000 } }
    t.equal((await s.api('POST', '/api/v1/flags', { body: def })).status, 201)
    const base = { on: true, offVariation: 0 }
    const steps = [
      { name: 'preset 10', config: { ...base, fallthrough: { variation: 0 } }, hold: '10m' },
      { name: '500', config: { ...base, fallthrough: { variation: 2 }, knob: { value: 500 } }, hold: '10m' },
      { name: '2000', config: { ...base, fallthrough: { variation: 2 }, knob: { value: 2000 } } },
    ]
    const guard = { query: held(series), comparison: '>', threshold: 20, action: 'rollback' }
    let r = await s.api('POST', `${P}/plans`, {
      body: { flag: 'batch-size', steps, guards: [guard], start: true },
    })
    t.equal(r.status, 201, r.text)
    const id = r.body.id as string
    advance(10 * MIN)
    await tick()
    const flag = async () => (await s.api('GET', `${P}/flags/batch-size`)).body
    t.match(await flag(), { knob: { value: 500 }, version: 3 })

    // 06:30: a person turns the batch size down by hand (what `switchyard knob set` sends).
    r = await s.api('PUT', `${P}/flags/batch-size`, {
      headers: { 'if-match': '"3"' },
      body: { ...base, fallthrough: { variation: 2 }, knob: { value: 300 }, reason: 'locks: slower' },
    })
    t.equal(r.status, 200, r.text)
    exporter.set(series, 50)
    await seen(series, 50)
    advance(MIN)
    await tick()
    let p = await plan(id)
    t.match(p, { status: 'paused', current: 1, pausedReason: { code: 'FLAG_CHANGED' } }, 'the edit pauses it')
    t.match(p.pausedReason.message, /version 4 by bootstrap admin \(flag.update\).*never overwrites it/)
    t.match(await flag(), { knob: { value: 300 }, version: 4 }, 'no rollback over the edit: 300 stands')
    const actions = async () =>
      (await s.api('GET', `${P}/flags/batch-size/history`)).body.items.map((h: { action: string }) => h.action)
    t.notOk((await actions()).includes('plan.rollback'))

    // Resumed, the plan goes on from the person's configuration; the guard still breaches, so it rolls back to
    // step 1, which does not set the knob: the person's value is kept (served again when the fallthrough points at it).
    r = await s.api('POST', `${P}/plans/${id}/resume`, { body: { reason: 'plan, take over' } })
    t.equal(r.status, 200, r.text)
    p = await plan(id)
    t.match(p, { status: 'paused', current: 0, pausedReason: { code: 'GUARD_BREACHED' } })
    t.match(p.pausedReason.message, /rolled back to step 1\/3 \(preset 10\)/)
    t.match(await flag(), { version: 5, fallthrough: { variation: 0 }, knob: { value: 300 } }, 'the knob is kept')
    t.equal((await actions())[0], 'plan.rollback')
  },
)
