/**
 * Exactly once across real instances: two apps in this process and the real server (src/server.ts) as a child
 * process, on one redis-server, all running plans on real time (PLAN_TICK_MS=50). The child starts a plan and
 * holds its lease; it is killed with SIGKILL mid-plan (no goodbye, its lease left behind); another instance
 * takes the plan over when the lease expires. The audit and the flag history show every step exactly once.
 */
import { Redis } from 'ioredis'
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { listening, start } from '../helpers/server-process.js'
import { ADMIN, startApp, startRedis } from '../helpers/server.js'
import { until } from '../helpers/wait.js'

const P = '/api/v1/environments/production'

// Real time: a step is held HOLD_MS, a dead instance's lease runs out after LEASE_MS. The kill must land mid-plan:
// within 4 holds of the second step, while the test process starts two apps. 1.5 s holds (6 s) were not enough on
// a loaded machine (the child had finished the plan); 3 s holds give 12 s. A shorter lease gains nothing: the
// takeover waits for the step's hold to end anyway.
const HOLD_MS = 3000
const LEASE_MS = 3000

t.test('three instances, one SIGKILLed mid-plan: every step applied exactly once, none skipped', async (t) => {
  const redisServer = await startRedis(t)
  const env = {
    REDIS_URL: redisServer.url,
    ADMIN_TOKEN: ADMIN,
    PLAN_TICK_MS: '50',
    PLAN_LEASE_MS: String(LEASE_MS),
    RATE_LIMIT_WRITES: '0',
  }
  const config = loadConfig({ LOG_LEVEL: 'silent', PORT: '0', ...env })
  const child = start({ ...env, LOG_LEVEL: 'info' })
  t.teardown(() => child.child.kill('SIGKILL'))
  const [, url] = await child.waitFor(listening)
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    })
    return { status: r.status, body: (await r.json()) as Record<string, unknown> }
  }
  t.equal((await call('POST', '/api/v1/environments', { key: 'production' })).status, 201)
  t.equal((await call('POST', '/api/v1/flags', { key: 'new-checkout', kind: 'boolean' })).status, 201)
  const N = 6
  const steps = Array.from({ length: N }, (_, i) => ({
    name: `${i + 1}`,
    serve: {
      rollout: {
        weights: [
          { variation: 0, weight: (i + 1) * 10_000 },
          { variation: 1, weight: 100_000 - (i + 1) * 10_000 },
        ],
      },
    },
    hold: `${HOLD_MS}ms`,
  }))
  // Started through the child: it applies step 1 in that request and holds the plan's lease from then on.
  const r = await call('POST', `${P}/plans`, { flag: 'new-checkout', steps, start: true })
  t.equal(r.status, 201, JSON.stringify(r.body))
  const id = r.body.id as string

  // The two other instances join once the child holds the plan (else one of them could claim it first).
  const audited = async () => {
    const res = await call('GET', '/api/v1/audit?env=production&flag=new-checkout&limit=500')
    return (res.body.items as Array<{ action: string; details: { step: number; instance: string } }>)
      .filter((x) => x.action === 'plan.step')
      .reverse()
      .map((x) => x.details)
  }
  await until(async () => (await audited()).length >= 1, 30_000, 'the child to apply step 1')
  const childInstance = (await audited())[0]?.instance
  const apps = []
  for (let i = 0; i < 2; i++) apps.push(await startApp(t, config, new Redis(redisServer.url)))
  const [a] = apps
  if (!a) throw new Error('no app')
  const auditedVia = async () => {
    const res = await a.api('GET', '/api/v1/audit?env=production&flag=new-checkout&limit=500')
    return (res.body.items as Array<{ action: string; details: { step: number; instance: string } }>)
      .filter((x) => x.action === 'plan.step')
      .reverse()
      .map((x) => x.details)
  }
  t.ok(childInstance, 'step 1 applied by the child')
  await until(async () => (await auditedVia()).length >= 2, 30_000, 'the child to apply two steps')
  const killedAt = Date.now()
  child.child.kill('SIGKILL')
  await child.exited
  const applied = (await auditedVia()).length
  t.ok(applied < N, `killed mid-plan, after ${applied} of ${N} steps`)

  await until(
    async () => (await a.api('GET', `${P}/plans/${id}`)).body.status === 'completed',
    60_000,
    'the surviving instances to finish the plan',
  )
  const all = await auditedVia()
  const firstAfter = (await a.api('GET', '/api/v1/audit?env=production&flag=new-checkout&limit=500')).body.items
    .filter(
      (x: { action: string; details: { step: number } }) => x.action === 'plan.step' && x.details.step === applied,
    )
    .map((x: { at: string }) => Date.parse(x.at))[0] as number
  t.comment(
    `first step after the SIGKILL: ${firstAfter - killedAt} ms later (lease ${LEASE_MS} ms, hold ${HOLD_MS} ms)`,
  )
  t.same(
    all.map((x) => x.step),
    Array.from({ length: N }, (_, i) => i),
    'the audit: each step once, in order, none skipped',
  )
  const survivors: string[] = apps.map((x) => x.app.services.plans.instance)
  t.ok(
    all.slice(applied).every((x) => survivors.includes(x.instance as string)),
    'the steps after the kill by the surviving instances',
  )
  t.notOk(survivors.includes(childInstance as string), 'the child was a third instance')
  const hist = await a.api('GET', `${P}/flags/new-checkout/history?limit=500`)
  const versions = (hist.body.items as Array<{ version: number; action: string }>)
    .filter((h) => h.action === 'plan.step')
    .map((h) => h.version)
    .reverse()
  t.same(
    versions,
    Array.from({ length: N }, (_, i) => i + 2),
    'the history: one version per step, consecutive',
  )
})
