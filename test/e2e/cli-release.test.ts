/**
 * `switchyard release start|status|approve|pause|resume|abort` against the real server (in process, through
 * run(), as test/e2e/cli.test.ts does), with the server's clock injected and its runner driven by tick().
 */
import t from 'tap'
import { cliFor } from '../helpers/cli.js'
import { startServer } from '../helpers/server.js'

t.test('release: start from a file, status, approve a point of no return, pause, resume, abort', async (t) => {
  let ms = Date.parse('2026-12-01T05:00:00.000Z')
  const s = await startServer(t, { env: { PLAN_TICK_MS: '0' }, now: () => new Date(ms) })
  await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })
  await s.api('POST', '/api/v1/flags', { body: { key: 'new-checkout', kind: 'boolean' } })
  const plan = {
    flag: 'new-checkout',
    name: 'checkout ramp',
    steps: [
      {
        name: '10 %',
        serve: {
          rollout: {
            weights: [
              { variation: 0, weight: 10_000 },
              { variation: 1, weight: 90_000 },
            ],
          },
        },
        hold: '30m',
      },
      { name: 'all', serve: { variation: 0 }, pointOfNoReturn: { note: 'new-format orders', runbook: 'https://rb' } },
    ],
  }
  const files: Record<string, string> = { 'plan.json': JSON.stringify(plan), 'bad.json': '{oops' }
  const cli = cliFor(s, files)

  let r = await cli(['release', 'start', 'production', 'bad.json'])
  t.equal(r.code, 2, 'not JSON: a usage error')
  t.match(r.err, /bad.json is not a JSON plan/)

  r = await cli(['release', 'start', 'production', 'plan.json', '--reason', 'release 42'])
  t.equal(r.code, 0, r.err)
  const id = /plan (pl_[0-9a-f]+)/.exec(r.out)?.[1] as string
  t.ok(id, 'prints the plan id')
  t.match(r.out, /"checkout ramp": new-checkout in production, running/)
  t.match(r.out, /step: 1\/2 10 % \(10% variation 0, 90% variation 1\)/)
  t.match(r.out, /next: 2\/2 all \(variation 0\) at 2026-12-01T05:30:00.000Z/)

  r = await cli(['release', 'status', 'production'])
  t.equal(r.code, 0, r.err)
  t.match(
    r.out,
    new RegExp(
      `^ID +FLAG +STATUS +STEP +NEXT +NAME\\n${id} +new-checkout +running +1/2 +2026-12-01T05:30:00.000Z +checkout ramp$`,
    ),
  )

  ms += 30 * 60_000
  await s.app.services.plans.tick()
  r = await cli(['release', 'status', 'production', id])
  t.match(r.out, /waiting for an approval of 2\/2 all/)
  t.match(r.out, /POINT OF NO RETURN: new-format orders \(runbook https:\/\/rb\)/)

  r = await cli(['release', 'approve', 'production', id])
  t.same([r.code, r.err], [1, 'switchyard: 400 REASON_REQUIRED: A reason is required to pass a point of no return'])
  r = await cli(['release', 'pause', 'production', id, '--reason', 'lunch'])
  t.equal(r.code, 0, r.err)
  t.match(r.out, /paused \(PAUSED\): lunch/)
  r = await cli(['release', 'resume', 'production', id])
  t.equal(r.code, 0, r.err)
  t.match(r.out, /, waiting\n/, 'resumed: it waits for the approval again at once')
  r = await cli(['release', 'approve', 'production', id, '--reason', 'backups verified', '--json'])
  t.equal(r.code, 0, r.err)
  t.match(JSON.parse(r.out), { status: 'completed', passedPointOfNoReturn: { reason: 'backups verified' } })
  r = await cli(['release', 'abort', 'production', id])
  t.same([r.code, r.err], [1, 'switchyard: 409 PLAN_STATE: The release plan is completed: it cannot abort'])

  r = await cli(['release', 'start', 'production', 'plan.json', '--draft'])
  t.match(r.out, /, draft/)
  const draft = /plan (pl_[0-9a-f]+)/.exec(r.out)?.[1] as string
  r = await cli(['release', 'abort', 'production', draft, '--reason', 'not this week'])
  t.equal(r.code, 0, r.err)
  t.match(r.out, /, aborted/)
  r = await cli(['release', 'status', 'production', 'pl_ffff'])
  t.same([r.code, r.err], [1, 'switchyard: 404 PLAN_NOT_FOUND: Release plan "pl_ffff" does not exist'])
})

t.test(
  'kill past a point of no return: the kill happens; stderr says what it does not undo; --json carries it',
  async (t) => {
    let ms = Date.parse('2026-12-01T05:00:00.000Z')
    const s = await startServer(t, { env: { PLAN_TICK_MS: '0' }, now: () => new Date(ms) })
    await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })
    for (const key of ['orders-v2', 'feed']) await s.api('POST', '/api/v1/flags', { body: { key, kind: 'boolean' } })
    const cli = cliFor(s)
    const P = '/api/v1/environments/production'
    const created = await s.api('POST', `${P}/plans`, {
      body: {
        flag: 'orders-v2',
        steps: [
          {
            name: 'new format',
            serve: { variation: 0 },
            pointOfNoReturn: { note: 'orders are written in the new format', runbook: 'https://rb/orders' },
          },
        ],
        start: true,
      },
    })
    t.equal(created.status, 201, created.text)
    const id = created.body.id as string
    ms += 60_000
    const approved = await s.api('POST', `${P}/plans/${id}/approve`, { body: { reason: 'backups verified' } })
    t.equal(approved.status, 200, approved.text)
    t.equal((await s.api('GET', `${P}/flags/orders-v2`)).body.on, true, 'past the point: on')

    let r = await cli(['kill', 'production', 'orders-v2', '--reason', 'locks at 06:30'])
    t.equal(r.code, 0, 'the kill succeeded')
    t.match(r.out, /^killed orders-v2 in production \(version \d+, change [^)]+\)$/)
    t.equal(
      r.err,
      'switchyard: warning: The flag is off, but this does not undo: orders are written in the new format ' +
        '(point of no return passed at 2026-12-01T05:01:00.000Z, approved by bootstrap admin); runbook: https://rb/orders',
    )
    t.equal((await s.api('GET', `${P}/flags/orders-v2`)).body.on, false, 'off')

    r = await cli(['kill', 'production', 'orders-v2', '--json'])
    t.equal(r.code, 0, r.err)
    const body = JSON.parse(r.out)
    t.match(body, {
      on: false,
      notUndone: /does not undo: orders are written in the new format/,
      pointOfNoReturn: {
        note: 'orders are written in the new format',
        approvedBy: 'admin',
        reason: 'backups verified',
      },
    })
    t.match(r.err, /^switchyard: warning: The flag is off, but this does not undo/, 'the warning on stderr as well')

    r = await cli(['kill', 'production', 'feed'])
    t.same([r.code, r.err], [0, ''], 'no point of no return: no warning')
    t.notOk('notUndone' in JSON.parse((await cli(['kill', 'production', 'feed', '--json'])).out))
  },
)
