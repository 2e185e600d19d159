/**
 * Release plans on a real redis-server through real HTTP, with an injected clock: the runner never runs by
 * itself (PLAN_TICK_MS=0), the tests advance the clock and call tick(), so no test sleeps.
 */
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import type { Plan } from '../../src/schemas/plan.js'
import { startApp, startServer, type TestServer } from '../helpers/server.js'
import { until } from '../helpers/wait.js'

const P = '/api/v1/environments/production'
const MIN = 60_000

/** A clock the tests move by hand. */
function clock(start = Date.parse('2026-12-01T05:00:00.000Z')) {
  let ms = start
  return {
    now: () => new Date(ms),
    advance: (d: number) => {
      ms += d
    },
  }
}

async function setup(t: Test, env: Record<string, string> = {}) {
  const c = clock()
  const s = await startServer(t, { env: { PLAN_TICK_MS: '0', ...env }, now: c.now })
  t.equal((await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })).status, 201)
  t.equal((await s.api('POST', '/api/v1/flags', { body: { key: 'new-checkout', kind: 'boolean' } })).status, 201)
  return { s, c, tick: () => s.app.services.plans.tick() }
}

const weights = (pct: number) => ({
  rollout: {
    weights: [
      { variation: 0, weight: pct * 1000 },
      { variation: 1, weight: 100_000 - pct * 1000 },
    ],
  },
})

/** The plan's step writes as the flag's history shows them, oldest first. */
async function stepWrites(s: Pick<TestServer, 'api'>, flag = 'new-checkout') {
  const r = await s.api('GET', `${P}/flags/${flag}/history?limit=500`)
  return (r.body.items as Array<{ version: number; actor: string; action: string; config: { fallthrough: unknown } }>)
    .filter((e) => e.action === 'plan.step')
    .reverse()
}

/** The audit records of plan steps, oldest first, as [step, instance]. */
async function auditedSteps(s: Pick<TestServer, 'api'>) {
  const r = await s.api('GET', '/api/v1/audit?env=production&flag=new-checkout&limit=500')
  return (r.body.items as Array<{ action: string; actor: string; details: { step: number; instance: string } }>)
    .filter((a) => a.action === 'plan.step')
    .reverse()
    .map((a) => ({ step: a.details.step, instance: a.details.instance, actor: a.actor }))
}

t.test(
  'a ramp: each step on the clock is one versioned, audited write; approval holds; then it completes',
  async (t) => {
    const { s, c, tick } = await setup(t)
    let r = await s.api('POST', `${P}/plans`, {
      body: {
        flag: 'new-checkout',
        name: 'checkout ramp',
        steps: [
          { name: '1 %', serve: weights(1), hold: '10m' },
          { name: '5 %', serve: weights(5), hold: 'approval' },
          { name: '100 %', serve: { variation: 0 } },
        ],
        reason: 'release 42',
      },
    })
    t.equal(r.status, 201, r.text)
    const id = r.body.id as string
    t.match(r.body, { status: 'draft', current: -1, nextAt: null, flag: 'new-checkout', environment: 'production' })
    t.equal((await stepWrites(s)).length, 0, 'a draft writes nothing')

    r = await s.api('POST', `${P}/plans/${id}/start`, { body: { reason: 'go' } })
    t.equal(r.status, 200, r.text)
    t.match(r.body, {
      status: 'running',
      current: 0,
      nextAt: '2026-12-01T05:10:00.000Z',
      startedBy: { name: 'bootstrap admin' },
    })
    let flag = (await s.api('GET', `${P}/flags/new-checkout`)).body
    t.match(flag, { on: true, version: 2, fallthrough: weights(1) }, 'the first step is applied at start')

    c.advance(9 * MIN)
    await tick()
    t.equal((await s.api('GET', `${P}/plans/${id}`)).body.current, 0, 'not due before its hold ends')
    c.advance(MIN)
    await tick()
    r = await s.api('GET', `${P}/plans/${id}`)
    t.match(r.body, { status: 'waiting', current: 1, waitingFor: { step: 2 }, nextAt: null })
    c.advance(24 * 60 * MIN)
    await tick()
    t.equal((await s.api('GET', `${P}/plans/${id}`)).body.current, 1, 'an approval hold waits for as long as it takes')

    r = await s.api('POST', `${P}/plans/${id}/approve`, { body: { reason: '5 % looks fine' } })
    t.equal(r.status, 200, r.text)
    t.match(r.body, { status: 'completed', current: 2, nextAt: null })
    flag = (await s.api('GET', `${P}/flags/new-checkout`)).body
    t.match(flag, { on: true, version: 4, fallthrough: { variation: 0 } })

    const writes = await stepWrites(s)
    t.same(
      writes.map((w) => [w.version, w.actor, w.config.fallthrough]),
      [
        [2, `plan:${id}`, weights(1)],
        [3, `plan:${id}`, weights(5)],
        [4, `plan:${id}`, { variation: 0 }],
      ],
      'three versions in the history, in the plan name',
    )
    const audit = (await s.api('GET', '/api/v1/audit?env=production&flag=new-checkout&limit=100')).body.items as Array<{
      action: string
      actor: string
      actorTokenId: string
      reason?: string
      details?: { plan?: string; startedBy?: string; step?: number }
    }>
    const steps = audit.filter((a) => a.action === 'plan.step').reverse()
    t.same(
      steps.map((a) => [a.actor, a.details?.step, a.details?.startedBy]),
      [
        [`plan:${id}`, 0, 'bootstrap admin'],
        [`plan:${id}`, 1, 'bootstrap admin'],
        [`plan:${id}`, 2, 'bootstrap admin'],
      ],
      'each step audited as the plan, with who started it',
    )
    t.ok(
      steps.every((a) => a.actorTokenId && a.actorTokenId !== ''),
      'on behalf of the starting token',
    )
    t.match(steps[0]?.reason, /checkout ramp.*step 1\/3 \(1 %\)/)
    t.same(
      audit
        .filter((a) => a.action.startsWith('plan.') && a.action !== 'plan.step')
        .map((a) => a.action)
        .reverse(),
      ['plan.create', 'plan.start', 'plan.approve'],
      "people's decisions audited",
    )
    r = await s.api('GET', `${P}/plans/${id}`)
    t.same(
      r.body.history.map((e: { action: string; actor: string }) => `${e.action}:${e.actor}`),
      [
        'create:bootstrap admin',
        'start:bootstrap admin',
        `step:plan:${id}`,
        `step:plan:${id}`,
        `wait:plan:${id}`,
        'approve:bootstrap admin',
        `step:plan:${id}`,
        `complete:plan:${id}`,
      ],
      'the plan shows its history of decisions',
    )
    const changes = await s.redis.xrange('sy:{production}:log', '-', '+')
    t.equal(changes.filter(([, f]) => f[1] === 'flag.put').length, 4, 'every step is on the change log (create + 3)')
  },
)

t.test("a person's edit pauses the plan, which never overwrites it; resume continues from it", async (t) => {
  const { s, c, tick } = await setup(t)
  let r = await s.api('POST', `${P}/plans`, {
    body: {
      flag: 'new-checkout',
      steps: [
        { serve: weights(10), hold: '5m' },
        { serve: weights(50), hold: '5m' },
      ],
      start: true,
    },
  })
  t.equal(r.status, 201, r.text)
  const id = r.body.id as string
  t.equal(r.body.status, 'running', 'start: true starts it at once')
  r = await s.api('POST', `${P}/flags/new-checkout/toggle`, { body: { on: false, reason: 'hands on' } })
  t.equal(r.status, 200)
  c.advance(5 * MIN)
  await tick()
  r = await s.api('GET', `${P}/plans/${id}`)
  t.match(r.body, { status: 'paused', current: 0, pausedReason: { code: 'FLAG_CHANGED' } })
  t.match(r.body.pausedReason.message, /version 3 by bootstrap admin \(flag.off\)/)
  t.match((await s.api('GET', `${P}/flags/new-checkout`)).body, { on: false, version: 3 }, 'the edit stands')
  const halts = (await s.api('GET', '/api/v1/audit?env=production&flag=new-checkout')).body.items.filter(
    (a: { action: string }) => a.action === 'plan.halt',
  )
  t.match(halts, [{ actor: `plan:${id}`, details: { code: 'FLAG_CHANGED', plan: id } }], 'the pause is audited')

  r = await s.api('POST', `${P}/plans/${id}/resume`, { body: { reason: 'my edit is fine' } })
  t.equal(r.status, 200)
  t.match(r.body, { status: 'running', lastVersion: 4, current: 1 }, 'resumed: the next step follows at once')
  t.match((await s.api('GET', `${P}/flags/new-checkout`)).body, { on: true, version: 4, fallthrough: weights(50) })
  c.advance(5 * MIN)
  await tick()
  t.equal((await s.api('GET', `${P}/plans/${id}`)).body.status, 'completed', 'the last hold ends: completed')
})

t.test('a scheduled change: one step at startAt, listed per environment, cancellable', async (t) => {
  const { s, c, tick } = await setup(t)
  const at = '2026-12-01T06:00:00Z'
  let r = await s.api('POST', `${P}/plans`, {
    body: {
      flag: 'new-checkout',
      name: 'on at 06:00',
      startAt: at,
      steps: [{ config: { on: true, fallthrough: { variation: 0 } } }],
      start: true,
    },
  })
  t.equal(r.status, 201, r.text)
  const id = r.body.id as string
  t.match(r.body, { status: 'running', current: -1, nextAt: '2026-12-01T06:00:00.000Z' })
  await tick()
  t.equal((await s.api('GET', `${P}/flags/new-checkout`)).body.version, 1, 'nothing before its time')
  r = await s.api('GET', `${P}/plans?status=running`)
  t.same(
    r.body.items.map((p: { id: string; startAt: string }) => [p.id, p.startAt]),
    [[id, '2026-12-01T06:00:00.000Z']],
    'listed',
  )
  c.advance(60 * MIN)
  await tick()
  t.match((await s.api('GET', `${P}/flags/new-checkout`)).body, { on: true, version: 2, fallthrough: { variation: 0 } })
  t.equal((await s.api('GET', `${P}/plans/${id}`)).body.status, 'completed')

  r = await s.api('POST', `${P}/plans`, {
    body: {
      flag: 'new-checkout',
      startAt: '2026-12-01T07:00:00Z',
      steps: [{ config: { on: false, fallthrough: { variation: 0 } } }],
      start: true,
    },
  })
  const second = r.body.id as string
  r = await s.api('POST', `${P}/plans/${second}/abort`, { body: { reason: 'not tonight' } })
  t.match(r.body, { status: 'aborted' })
  c.advance(120 * MIN)
  await tick()
  t.equal((await s.api('GET', `${P}/flags/new-checkout`)).body.version, 2, 'a cancelled change never happens')
  t.equal((await s.api('GET', `${P}/plans?flag=new-checkout`)).body.items.length, 2)
})

t.test(
  'the point of no return: stops before it, needs who and why, the flag shows it, a kill says what it will not undo',
  async (t) => {
    const { s, c, tick } = await setup(t)
    let r = await s.api('POST', `${P}/plans`, {
      body: {
        flag: 'new-checkout',
        steps: [
          { name: 'staff', serve: weights(1), hold: '1m' },
          {
            name: 'migrate',
            serve: { variation: 0 },
            pointOfNoReturn: { note: 'orders are written in the new format', runbook: 'https://wiki.example/orders' },
          },
        ],
        start: true,
      },
    })
    const id = r.body.id as string
    c.advance(MIN)
    await tick()
    r = await s.api('GET', `${P}/plans/${id}`)
    t.match(r.body, {
      status: 'waiting',
      current: 0,
      waitingFor: { step: 1, pointOfNoReturn: { note: 'orders are written in the new format' } },
    })
    r = await s.api('POST', `${P}/plans/${id}/approve`, { body: {} })
    t.match([r.status, r.body.code], [400, 'REASON_REQUIRED'], 'no silent approval of a point of no return')
    r = await s.api('POST', `${P}/plans/${id}/approve`, { body: { reason: 'backups verified at 04:00' } })
    t.equal(r.status, 200, r.text)
    t.match(r.body, {
      status: 'completed',
      passedPointOfNoReturn: { step: 1, approvedBy: 'bootstrap admin', reason: 'backups verified at 04:00' },
    })
    const flag = (await s.api('GET', `${P}/flags/new-checkout`)).body
    t.match(
      flag.pointOfNoReturn,
      {
        plan: id,
        step: 1,
        note: 'orders are written in the new format',
        runbook: 'https://wiki.example/orders',
        passedAt: '2026-12-01T05:01:00.000Z',
        approvedBy: 'bootstrap admin',
        reason: 'backups verified at 04:00',
        afterwards: 'halt',
        version: 3,
      },
      'the flag shows when and by whom',
    )
    const audit = (await s.api('GET', '/api/v1/audit?env=production&flag=new-checkout')).body.items
    t.match(
      audit.find((a: { action: string }) => a.action === 'plan.approve'),
      {
        actor: 'bootstrap admin',
        reason: 'backups verified at 04:00',
        details: { step: 1, pointOfNoReturn: { note: /new format/ } },
      },
      'the approval is audited with who and why',
    )
    t.equal(
      await s.app.services.plans.automatedAction('production', 'new-checkout'),
      'halt',
      'automated kills now halt',
    )
    r = await s.api('POST', `${P}/flags/new-checkout/kill`, { body: { reason: 'locks' } })
    t.equal(r.status, 200)
    t.equal(r.body.on, false, 'a kill still works')
    t.match(
      r.body.notUndone,
      /does not undo: orders are written in the new format.*runbook: https:\/\/wiki.example\/orders/,
    )
  },
)

t.test('guards that cannot be read halt the plan and say so; plans refuse guards without PROMETHEUS_URL', async (t) => {
  const none = await setup(t)
  const guard = { query: 'up', comparison: '<', threshold: 1, action: 'halt' }
  let r = await none.s.api('POST', `${P}/plans`, {
    body: { flag: 'new-checkout', steps: [{ serve: { variation: 0 } }], guards: [guard] },
  })
  t.match([r.status, r.body.code], [400, 'GUARDS_UNAVAILABLE'])

  // A port nobody listens on: Prometheus is down.
  const { s, c, tick } = await setup(t, { PROMETHEUS_URL: 'http://127.0.0.1:1' })
  r = await s.api('POST', `${P}/plans`, {
    body: {
      flag: 'new-checkout',
      steps: [{ serve: weights(1), hold: '1m' }, { serve: { variation: 0 } }],
      guards: [guard],
      start: true,
    },
  })
  t.equal(r.status, 201, r.text)
  t.match(r.body, { status: 'paused', current: -1, pausedReason: { code: 'GUARD_UNKNOWN' } }, 'not even the first step')
  t.match(r.body.pausedReason.message, /could not be evaluated: Prometheus is unreachable/)
  t.match(r.body.readings, [{ guard: 0, value: null, breached: false, error: /unreachable/ }])
  t.equal((await s.api('GET', `${P}/flags/new-checkout`)).body.version, 1, 'the flag is untouched')
  r = await s.api('POST', `${P}/plans/${r.body.id}/resume`, { body: {} })
  t.match(r.body, { status: 'paused', pausedReason: { code: 'GUARD_UNKNOWN' } }, 'resuming reads the guard again first')
  c.advance(MIN)
  await tick()
})

t.test('bad requests get 4xx codes', async (t) => {
  const { s } = await setup(t)
  const bad = async (body: unknown, code: string, status = 400) => {
    const r = await s.api('POST', `${P}/plans`, { body })
    t.match([r.status, r.body.code], [status, code], JSON.stringify(body).slice(0, 80))
  }
  await bad({ flag: 'new-checkout', steps: [] }, 'VALIDATION_FAILED')
  await bad({ flag: 'new-checkout', steps: [{ hold: '1m' }] }, 'VALIDATION_FAILED')
  await bad(
    { flag: 'new-checkout', steps: [{ serve: { variation: 0 }, config: { on: true, fallthrough: { variation: 0 } } }] },
    'VALIDATION_FAILED',
  )
  await bad({ flag: 'new-checkout', steps: [{ serve: { variation: 7 } }] }, 'VALIDATION_FAILED')
  await bad({ flag: 'new-checkout', steps: [{ serve: { variation: 0 }, hold: '10 minutes' }] }, 'VALIDATION_FAILED')
  await bad({ flag: 'new-checkout', startAt: 'tomorrow', steps: [{ serve: { variation: 0 } }] }, 'VALIDATION_FAILED')
  await bad({ flag: 'nope', steps: [{ serve: { variation: 0 } }] }, 'FLAG_NOT_FOUND', 404)
  let r = await s.api('GET', `${P}/plans/pl_0000`)
  t.match([r.status, r.body.code], [404, 'PLAN_NOT_FOUND'])
  r = await s.api('GET', '/api/v1/environments/nowhere/plans')
  t.match([r.status, r.body.code], [404, 'ENVIRONMENT_NOT_FOUND'])

  const mk = async () =>
    (
      await s.api('POST', `${P}/plans`, {
        body: { flag: 'new-checkout', steps: [{ serve: { variation: 0 }, hold: '1h' }] },
      })
    ).body.id as string
  const a = await mk()
  const b = await mk()
  r = await s.api('POST', `${P}/plans/${a}/resume`, { body: {} })
  t.match([r.status, r.body.code], [409, 'PLAN_STATE'], 'a draft does not resume')
  t.equal((await s.api('POST', `${P}/plans/${a}/start`, { body: {} })).status, 200)
  r = await s.api('POST', `${P}/plans/${b}/start`, { body: {} })
  t.match([r.status, r.body.code], [409, 'PLAN_ACTIVE'], 'one started plan per flag')
  t.equal((await s.api('POST', `${P}/plans/${b}/abort`, { body: {} })).status, 200, 'a draft can be aborted')
  t.equal((await s.api('POST', `${P}/plans/${a}/pause`, { body: {} })).status, 200)
  r = await s.api('POST', `${P}/plans/${a}/pause`, { body: {} })
  t.match([r.status, r.body.code], [409, 'PLAN_STATE'])
  t.equal((await s.api('POST', `${P}/plans/${a}/abort`, { body: {} })).status, 200)
  r = await s.api('POST', `${P}/plans/${a}/abort`, { body: {} })
  t.match([r.status, r.body.code], [409, 'PLAN_STATE'])
})

t.test('three instances on one Redis, one dying mid-plan: every step exactly once, none skipped', async (t) => {
  const c = clock()
  const first = await startServer(t, { env: { PLAN_TICK_MS: '0', PLAN_LEASE_MS: '300000' }, now: c.now })
  const others = []
  for (let i = 0; i < 2; i++) {
    const redis = new Redis(first.redisServer.url, { maxRetriesPerRequest: 1 })
    others.push(await startApp(t, first.config, redis, { now: c.now }))
  }
  const apps = [first, ...others]
  t.equal((await first.api('POST', '/api/v1/environments', { body: { key: 'production' } })).status, 201)
  t.equal((await first.api('POST', '/api/v1/flags', { body: { key: 'new-checkout', kind: 'boolean' } })).status, 201)
  const N = 12
  const steps = Array.from({ length: N }, (_, i) => ({ name: `${i + 1}`, serve: weights(i + 1), hold: '1m' }))
  const r = await first.api('POST', `${P}/plans`, { body: { flag: 'new-checkout', steps, start: true } })
  t.equal(r.status, 201, r.text)
  const id = r.body.id as string
  const plans = apps.map((a) => a.app.services.plans)
  let alive = plans
  for (let round = 0; round < 4 * N; round++) {
    c.advance(MIN)
    // Every live instance finds the same step due at the same moment.
    await Promise.all(alive.flatMap((p) => [p.tick(), p.tick()]))
    const plan = (await first.api('GET', `${P}/plans/${id}`)).body
    if (round === 3) {
      // The holder of the lease stops (as if frozen or dead, without giving its lease up).
      const holder = (await first.redis.hget('sy:{production}:plans:lease', id))?.split('|')[0]
      alive = plans.filter((p) => p.instance !== holder)
      t.equal(alive.length, 2, 'one instance stops')
    }
    if (plan.status === 'completed') break
  }
  t.equal((await first.api('GET', `${P}/plans/${id}`)).body.status, 'completed')
  const audited = await auditedSteps(first)
  t.same(
    audited.map((a) => a.step),
    Array.from({ length: N }, (_, i) => i),
    'the audit shows each step once, in order',
  )
  t.ok(new Set(audited.map((a) => a.instance)).size >= 2, 'another instance took over after the lease expired')
  const writes = await stepWrites(first)
  t.same(
    writes.map((w) => [w.version, w.config.fallthrough]),
    steps.map((s, i) => [i + 2, s.serve]),
    'the history: one version per step, consecutive',
  )
})

t.test(
  'halts from outside (the alerts webhook): haltFlag pauses the started plan with HALTED; repeats are harmless',
  async (t) => {
    const { s, c, tick } = await setup(t)
    const plans = s.app.services.plans
    const actor = { name: 'alertmanager', tokenId: 'tok_am' }
    t.equal(await plans.haltFlag('production', 'new-checkout', 'no plan', actor), null, 'no started plan: nothing')
    const r = await s.api('POST', `${P}/plans`, {
      body: { flag: 'new-checkout', steps: [{ serve: weights(1), hold: '1m' }, { serve: weights(2) }], start: true },
    })
    const id = r.body.id as string
    const first = await plans.haltFlag('production', 'new-checkout', 'alert PgLockWaits firing', actor)
    t.match(first, {
      halted: true,
      plan: { id, status: 'paused', pausedReason: { code: 'HALTED', message: 'alert PgLockWaits firing' } },
    })
    const again = await plans.halt('production', id, 'alert PgLockWaits firing', actor)
    t.match(again, { halted: false, plan: { status: 'paused' } }, 'a repeat changes nothing')
    c.advance(5 * MIN)
    await tick()
    t.equal((await s.api('GET', `${P}/plans/${id}`)).body.current, 0, 'halted: no step')
    const audit = (await s.api('GET', '/api/v1/audit?env=production&flag=new-checkout')).body.items
    t.equal(audit.filter((a: { action: string }) => a.action === 'plan.halt').length, 1, 'audited once')
    t.match(audit[0], { action: 'plan.halt', actor: 'alertmanager', reason: 'alert PgLockWaits firing' })
    t.equal(await plans.automatedAction('production', 'new-checkout'), 'kill', 'no point of no return: kills may kill')
  },
)

t.test('leases: a live claim refuses others, an expired one is retaken with a greater fencing token', async (t) => {
  const { s } = await setup(t)
  const repo = s.app.store.plans
  const a = await repo.claim('production', 'pl_1', 'A', 1000, 500)
  t.match(a, { token: 1, untilMs: 1500 })
  t.equal(await repo.claim('production', 'pl_1', 'B', 1400, 500), null, 'A holds it')
  t.match(await repo.claim('production', 'pl_1', 'A', 1400, 500), { token: 1, untilMs: 1900 }, 'A renews it')
  const b = await repo.claim('production', 'pl_1', 'B', 1901, 500)
  t.match(b, { token: 2 }, 'expired: B takes it with a greater token')
  if (!a || !b) return
  const at = '2026-12-01T05:00:00.000Z'
  const plan: Plan = {
    id: 'pl_1',
    environment: 'production',
    flag: 'new-checkout',
    name: 'fenced',
    steps: [{ serve: { variation: 0 } }],
    guards: [],
    status: 'draft',
    current: -1,
    nextAt: null,
    lastVersion: null,
    createdAt: at,
    createdBy: { name: 'test', tokenId: 'tok' },
    readings: [],
    history: [],
    revision: 1,
  }
  const write = (lease: typeof a) => repo.write(plan, { raw: null, lease })
  t.equal(await write(a), false, "A's late write fails its lease check (the fence)")
  t.equal(await write(b), true, "B's passes")
  await repo.release('production', 'pl_1', 'A')
  t.equal(await repo.claim('production', 'pl_1', 'C', 1902, 500), null, 'A cannot give up what it no longer holds')
  await repo.release('production', 'pl_1', 'B')
  t.match(await repo.claim('production', 'pl_1', 'C', 1902, 500), { token: 3 }, 'given up: taken at once')
})

t.test('deleting an environment deletes its plans', async (t) => {
  const { s } = await setup(t)
  await s.api('POST', `${P}/plans`, {
    body: { flag: 'new-checkout', steps: [{ serve: weights(1), hold: '1h' }], start: true },
  })
  t.equal((await s.api('DELETE', P)).status, 204)
  t.same(await s.redis.keys('sy:{production}:plans*'), [], 'no plan keys left')
  t.equal((await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })).status, 201)
  t.same((await s.api('GET', `${P}/plans`)).body.items, [], 'a new environment of that name has none')
})

t.test(
  'a step the facts do not allow is refused: the plan pauses with FACTS_UNMET and the actual value; after the fact is recorded, resume applies it',
  async (t) => {
    const { s, c, tick } = await setup(t)
    const requires = [{ fact: 'db.sessions.indexes', op: 'contains', value: 'sessions_user_combined_idx' }]
    let r = await s.api('POST', `${P}/facts`, { body: { set: { 'db.sessions.indexes': ['sessions_pkey'] } } })
    t.equal(r.status, 200, r.text)
    // Recorded while off: nothing is served anew, so the PUT is not gated.
    r = await s.api('PUT', `${P}/flags/new-checkout`, {
      headers: { 'if-match': '"1"' },
      body: { on: false, offVariation: 1, fallthrough: { variation: 1 }, requires },
    })
    t.equal(r.status, 200, r.text)
    r = await s.api('POST', `${P}/plans`, {
      body: {
        flag: 'new-checkout',
        name: 'sessions ramp',
        steps: [
          { name: '10 %', serve: weights(10), hold: '10m' },
          { name: '100 %', serve: { variation: 0 } },
        ],
        start: true,
        reason: 'session upgrade',
      },
    })
    t.equal(r.status, 201, r.text)
    const id = r.body.id as string
    await tick()
    const unmet = [{ ...requires[0], actual: ['sessions_pkey'] }]
    r = await s.api('GET', `${P}/plans/${id}`)
    t.match(r.body, { status: 'paused', current: -1, pausedReason: { code: 'FACTS_UNMET' } })
    t.same(r.body.pausedReason.unmet, unmet, 'each unmet requirement with its actual value')
    t.match(
      r.body.pausedReason.message,
      /db\.sessions\.indexes contains "sessions_user_combined_idx" \(actual: \["sessions_pkey"\]\)/,
    )
    t.match(
      r.body.history.at(-1),
      { action: 'halt', reason: /FACTS_UNMET|sessions_user_combined_idx/ },
      'in its history',
    )
    let flag = (await s.api('GET', `${P}/flags/new-checkout`)).body
    t.match(flag, { on: false, version: 2, fallthrough: { variation: 1 } }, 'the step was never applied')
    t.equal((await stepWrites(s)).length, 0)
    const audit = (await s.api('GET', '/api/v1/audit?env=production&limit=100')).body.items as Array<{
      action: string
      details?: { code?: string; unmet?: unknown }
    }>
    const halt = audit.find((a) => a.action === 'plan.halt')
    t.match(halt?.details, { code: 'FACTS_UNMET', unmet, plan: id }, 'audited with the unmet requirements')

    c.advance(MIN)
    await tick()
    t.equal((await s.api('GET', `${P}/plans/${id}`)).body.status, 'paused', 'a paused plan stays paused')

    r = await s.api('POST', `${P}/facts`, {
      body: { set: { 'db.sessions.indexes': ['sessions_pkey', 'sessions_user_combined_idx'] }, reason: 'migration 42' },
    })
    t.equal(r.status, 200, r.text)
    r = await s.api('POST', `${P}/plans/${id}/resume`, { body: { reason: 'index recorded' } })
    t.equal(r.status, 200, r.text)
    await tick()
    r = await s.api('GET', `${P}/plans/${id}`)
    t.match(r.body, { status: 'running', current: 0 })
    t.notOk(r.body.pausedReason)
    flag = (await s.api('GET', `${P}/flags/new-checkout`)).body
    t.match(flag, { on: true, version: 3, fallthrough: weights(10) }, 'the step applies once the facts are met')
    t.equal((await stepWrites(s)).length, 1)
  },
)

t.test('a plan ramps a live knob 100 → 500 → 2000; out of bounds is refused at create', async (t) => {
  const { s, c, tick } = await setup(t)
  const def = { key: 'batch-size', kind: 'number', variations: [10, 20], knob: { min: 1, max: 5000 } }
  t.equal((await s.api('POST', '/api/v1/flags', { body: def })).status, 201)
  const step = (value: number) => ({
    config: { on: true, offVariation: 0, fallthrough: { variation: 2 }, knob: { value } },
    hold: '10m',
  })
  const out = await s.api('POST', `${P}/plans`, { body: { flag: 'batch-size', steps: [step(100), step(9000)] } })
  t.equal(out.status, 400, 'a step out of the bounds is refused, not dropped')
  t.ok(JSON.stringify(out.body).includes('KNOB_OUT_OF_BOUNDS'), out.text)

  const r = await s.api('POST', `${P}/plans`, {
    body: { flag: 'batch-size', steps: [step(100), step(500), step(2000)], start: true },
  })
  t.equal(r.status, 201, r.text)
  const knobAt = async () => (await s.api('GET', `${P}/flags/batch-size`)).body.knob
  t.same(await knobAt(), { value: 100 }, 'the first step sets the knob')
  c.advance(10 * MIN)
  await tick()
  t.same(await knobAt(), { value: 500 })
  c.advance(10 * MIN)
  await tick()
  t.same(await knobAt(), { value: 2000 })
  c.advance(10 * MIN)
  await tick()
  t.equal((await s.api('GET', `${P}/plans/${r.body.id}`)).body.status, 'completed')
  const history = await s.api('GET', `${P}/flags/batch-size/history`)
  t.same(
    history.body.items.map((h: { config: { knob?: { value: number } } }) => h.config.knob?.value),
    [2000, 500, 100, undefined],
    'each value is written once, as its own version',
  )
})

t.test(
  'a knob step made invalid later (bounds narrowed mid-ramp): when due, nothing is written; paused STEP_INVALID, says why',
  async (t) => {
    const { s, c, tick } = await setup(t)
    const def = { key: 'batch-size', kind: 'number', variations: [10, 20], knob: { min: 1, max: 5000 } }
    t.equal((await s.api('POST', '/api/v1/flags', { body: def })).status, 201)
    const step = (value: number) => ({
      name: `${value}`,
      config: { on: true, offVariation: 0, fallthrough: { variation: 2 }, knob: { value } },
      hold: '10m',
    })
    const r = await s.api('POST', `${P}/plans`, {
      body: { flag: 'batch-size', steps: [step(100), step(500), step(2000)], start: true },
    })
    t.equal(r.status, 201, r.text)
    const id = r.body.id as string
    const flag = async () => (await s.api('GET', `${P}/flags/batch-size`)).body
    c.advance(10 * MIN)
    await tick()
    t.match(await flag(), { knob: { value: 500 }, version: 3 })

    // Someone narrows the bounds for every environment; 500 still fits, so the PATCH is accepted.
    const narrow = await s.api('PATCH', '/api/v1/flags/batch-size', { body: { knob: { min: 1, max: 1000 } } })
    t.equal(narrow.status, 200, narrow.text)
    t.match(await flag(), { version: 4, knobBounds: { min: 1, max: 1000 } }, 'the definition change is a version')
    c.advance(MIN)
    await tick()
    t.match(
      (await s.api('GET', `${P}/plans/${id}`)).body,
      { status: 'running', current: 1, lastVersion: 4 },
      'a change of the definition alone is no edit of the configuration: the plan goes on',
    )

    c.advance(9 * MIN)
    await tick()
    const p = (await s.api('GET', `${P}/plans/${id}`)).body
    t.match(p, { status: 'paused', current: 1, pausedReason: { code: 'STEP_INVALID' } }, 'the step is not taken')
    t.match(p.pausedReason.message, /the next write is no longer valid: .*\/knob\/value 2000 is outside \[1, 1000\]/)
    t.match(p.history.at(-1), { action: 'halt', actor: `plan:${id}`, reason: /2000 is outside \[1, 1000\]/ })
    t.match(await flag(), { knob: { value: 500 }, version: 4 }, 'nothing written: the flag serves 500')
    const audit = (await s.api('GET', '/api/v1/audit?env=production&flag=batch-size')).body.items
    t.match(audit[0], { action: 'plan.halt', actor: `plan:${id}`, details: { code: 'STEP_INVALID', plan: id } })
    const history = (await s.api('GET', `${P}/flags/batch-size/history`)).body.items
    t.notOk(
      history.some((h: { config: { knob?: { value: number } } }) => h.config.knob?.value === 2000),
      'no version ever served 2000',
    )

    // Another tick changes nothing; resuming tries the step again, and it is refused again.
    c.advance(10 * MIN)
    await tick()
    t.match((await s.api('GET', `${P}/plans/${id}`)).body, { status: 'paused', revision: p.revision })
    const again = await s.api('POST', `${P}/plans/${id}/resume`, { body: { reason: 'try again' } })
    t.equal(again.status, 200)
    t.match(again.body, { status: 'paused', pausedReason: { code: 'STEP_INVALID' } })
    t.equal((await flag()).version, 4)
  },
)

t.test("leases on Redis's clock: an instance whose clock runs 10 minutes ahead cannot take a live lease", async (t) => {
  const c = clock()
  // Leases on Redis's TIME although the steps run on the injected clock; the lease is long enough that the
  // claims below happen well within it on a slow machine, and short enough that a takeover is waited for.
  const env = { PLAN_TICK_MS: '0', PLAN_LEASE_MS: '4000' }
  const a = await startServer(t, { env, now: c.now, leaseClock: 'store' })
  const ahead = () => new Date(c.now().getTime() + 10 * MIN)
  const redis = new Redis(a.redisServer.url, { maxRetriesPerRequest: 1 })
  const b = await startApp(t, a.config, redis, { now: ahead, leaseClock: 'store' })
  const repo = a.app.store.plans

  // The repository: "now" from Redis (TIME), whatever the callers' clocks.
  const lease = await repo.claim('production', 'pl_x', 'A', null, 60_000)
  const redisNow = Number((await a.redis.time())[0]) * 1000
  t.ok(lease && Math.abs(lease.untilMs - (redisNow + 60_000)) < 2000, 'until = Redis time + lease')
  t.equal(await repo.claim('production', 'pl_x', 'B', null, 60_000), null, 'a live lease refuses others')
  t.match(await repo.claim('production', 'pl_x', 'B', Date.now() + 10 * MIN, 60_000), { token: 2 }, 'a caller clock')

  t.equal((await a.api('POST', '/api/v1/environments', { body: { key: 'production' } })).status, 201)
  t.equal((await a.api('POST', '/api/v1/flags', { body: { key: 'new-checkout', kind: 'boolean' } })).status, 201)
  const steps = [1, 2, 3].map((i) => ({ serve: weights(i), hold: '1m' }))
  const r = await a.api('POST', `${P}/plans`, { body: { flag: 'new-checkout', steps, start: true } })
  t.equal(r.status, 201, r.text)
  const id = r.body.id as string
  const holder = async () => (await a.redis.hget('sy:{production}:plans:lease', id))?.split('|')[0]
  t.equal(await holder(), a.app.services.plans.instance, 'A applied step 1 and holds the lease')

  // By B's clock A's lease ran out ten minutes ago; by Redis's it is live: B leaves the plan alone.
  await b.app.services.plans.tick()
  await b.app.services.plans.tick()
  t.equal(await holder(), a.app.services.plans.instance, 'B did not take it')
  t.equal((await a.api('GET', `${P}/plans/${id}`)).body.current, 0, 'and applied nothing')

  // A stops renewing (as if dead): once the lease ends on Redis's clock, B takes the plan over.
  await until(
    async () => {
      await b.app.services.plans.tick()
      return (await holder()) === b.app.services.plans.instance
    },
    30_000,
    'B to take the plan over when the lease expires',
  )
  const steps2 = await auditedSteps(a)
  t.same(
    steps2.map((x) => x.step),
    Array.from({ length: steps2.length }, (_, i) => i),
    'each step once, in order',
  )
  t.equal(steps2[0]?.instance, a.app.services.plans.instance)
  t.equal(steps2.at(-1)?.instance, b.app.services.plans.instance, 'then B applies the due steps')
})
