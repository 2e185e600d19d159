import t from 'tap'
import { createFlag, createSdkEnv, putConfig, toggle } from '../helpers/sdk-fixtures.js'
import { startServer } from '../helpers/server.js'

const EVAL = '/api/v1/environments/production/evaluate'

t.test('evaluate: values, variations and reasons with the engine', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s)
  await createFlag(s, 'new-checkout', { clientSide: true })
  await createFlag(s, 'new-payments')
  await createFlag(s, 'copy', { kind: 'string', variations: ['a', 'b'] })
  await createFlag(s, 'dormant')
  let r = await s.api('POST', '/api/v1/environments/production/segments', {
    body: { key: 'beta-testers', included: ['user-17'] },
  })
  t.equal(r.status, 201, r.text)
  await putConfig(s, 'production', 'new-payments', { fallthrough: { variation: 0 } })
  await putConfig(s, 'production', 'new-checkout', {
    prerequisites: [{ flag: 'new-payments', variation: 0 }],
    targets: [{ variation: 0, values: ['user-1'] }],
    rules: [
      {
        id: 'beta',
        clauses: [{ attribute: 'segment', op: 'inSegment', values: ['beta-testers'] }],
        serve: { variation: 0 },
      },
      {
        id: 'uk-pro',
        clauses: [
          { attribute: 'country', op: 'in', values: ['GB'] },
          { attribute: 'plan', op: 'in', values: ['pro'] },
        ],
        serve: { variation: 0 },
      },
    ],
    fallthrough: { variation: 1 },
  })
  await putConfig(s, 'production', 'copy', {
    rules: [{ id: 'de', clauses: [{ attribute: 'country', op: 'in', values: ['DE'] }], serve: { variation: 0 } }],
    fallthrough: { variation: 1 },
  })

  r = await s.api('POST', EVAL, { body: { context: { key: 'user-17', country: 'GB', plan: 'pro' } } })
  t.equal(r.status, 200, r.text)
  t.same(r.body.flags['new-checkout'], { value: true, variation: 0, reason: { kind: 'RULE_MATCH', ruleId: 'beta' } })
  t.same(r.body.flags['new-payments'], { value: true, variation: 0, reason: { kind: 'FALLTHROUGH' } })
  t.same(r.body.flags.copy, { value: 'b', variation: 1, reason: { kind: 'FALLTHROUGH' } })
  t.same(r.body.flags.dormant.reason, { kind: 'OFF' })
  t.same(Object.keys(r.body.flags).sort(), ['copy', 'dormant', 'new-checkout', 'new-payments'])

  r = await s.api('POST', EVAL, {
    body: { context: { key: 'user-99', country: 'GB', plan: 'pro' }, flags: ['new-checkout', 'nope'] },
  })
  t.same(Object.keys(r.body.flags), ['new-checkout', 'nope'], 'only the listed flags')
  t.same(r.body.flags['new-checkout'].reason, { kind: 'RULE_MATCH', ruleId: 'uk-pro' })
  t.same(r.body.flags.nope, { value: null, variation: null, reason: { kind: 'ERROR', errorKind: 'FLAG_NOT_FOUND' } })

  r = await s.api('POST', EVAL, { body: { context: { key: 'user-1' }, flags: ['new-checkout'] } })
  t.same(r.body.flags['new-checkout'].reason, { kind: 'TARGET_MATCH' })

  // Read-your-writes: a change is visible to the next evaluation at once.
  await toggle(s, 'production', 'new-payments', false)
  r = await s.api('POST', EVAL, { body: { context: { key: 'user-1' }, flags: ['new-checkout'] } })
  t.same(r.body.flags['new-checkout'].reason, { kind: 'PREREQUISITE_FAILED', prerequisiteKey: 'new-payments' })
  r = await s.api('POST', '/api/v1/environments/production/segments/beta-testers/members', {
    body: { add: ['user-5'] },
  })
  await toggle(s, 'production', 'new-payments', true)
  r = await s.api('POST', EVAL, { body: { context: { key: 'user-5' }, flags: ['new-checkout'] } })
  t.same(r.body.flags['new-checkout'].reason, { kind: 'RULE_MATCH', ruleId: 'beta' }, 'member delta applied')

  // sdk-server tokens of the environment may evaluate too.
  r = await s.api('POST', EVAL, { token: e.serverToken, body: { context: { key: 'user-1' } } })
  t.equal(r.status, 200, r.text)
})

t.test('evaluate: bad input', async (t) => {
  const s = await startServer(t)
  await createSdkEnv(s)
  const bad: Array<[string, unknown]> = [
    ['an array', [1]],
    ['a string', 'user-1'],
    ['null', null],
    ['a numeric key', { key: 5 }],
    ['a key too long', { key: 'k'.repeat(257) }],
    ['too big', { key: 'k', pad: 'x'.repeat(9000) }],
  ]
  for (const [name, context] of bad) {
    const r = await s.api('POST', EVAL, { body: { context } })
    t.equal(r.status, 400, name)
    t.equal(r.body.code, 'INVALID_CONTEXT', name)
  }
  let r = await s.api('POST', EVAL, { body: {} })
  t.equal(r.status, 400, 'missing context')
  t.equal(r.body.code, 'VALIDATION_FAILED')
  r = await s.api('POST', EVAL, { body: { context: {}, extra: 1 } })
  t.equal(r.body.code, 'VALIDATION_FAILED', 'unknown property')
  r = await s.api('POST', '/api/v1/environments/nowhere/evaluate', { body: { context: { key: 'a' } } })
  t.equal(r.status, 404)
  t.equal(r.body.code, 'ENVIRONMENT_NOT_FOUND')
})

t.test('evaluate: who may call it', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s)
  const other = await createSdkEnv(s, 'staging')
  const mk = async (kind: string, environments: string[]) =>
    (await s.api('POST', '/api/v1/tokens', { body: { name: kind, kind, environments } })).body.secret as string
  const viewer = await mk('viewer', ['production'])
  const editor = await mk('editor', ['production'])
  const stagingViewer = await mk('viewer', ['staging'])
  const body = { context: { key: 'a' } }
  for (const [name, tok] of [
    ['admin', undefined],
    ['viewer', viewer],
    ['editor', editor],
    ['sdk-server', e.serverToken],
  ] as const) {
    const r = await s.api('POST', EVAL, { ...(tok !== undefined && { token: tok }), body })
    t.equal(r.status, 200, `${name} may`)
  }
  let r = await s.api('POST', EVAL, { token: null, body })
  t.equal(r.status, 401)
  for (const [name, tok] of [
    ['sdk-client', e.clientToken],
    ['viewer of staging', stagingViewer],
    ['sdk-server of staging', other.serverToken],
  ] as const) {
    r = await s.api('POST', EVAL, { token: tok, body })
    t.equal(r.status, 403, `${name} may not`)
    t.equal(r.body.code, 'FORBIDDEN')
  }
})

t.test('evaluate: a segment edit without member lists keeps the members; one with lists replaces them', async (t) => {
  const s = await startServer(t)
  await createSdkEnv(s)
  await createFlag(s, 'f')
  await s.api('POST', '/api/v1/environments/production/segments', { body: { key: 'beta', included: ['user-17'] } })
  await putConfig(s, 'production', 'f', {
    rules: [
      { id: 'beta', clauses: [{ attribute: 'segment', op: 'inSegment', values: ['beta'] }], serve: { variation: 0 } },
    ],
  })
  const who = async (key: string) =>
    (await s.api('POST', EVAL, { body: { context: { key }, flags: ['f'] } })).body.flags.f.reason.kind
  t.equal(await who('user-17'), 'RULE_MATCH')
  t.equal(
    (await s.api('PUT', '/api/v1/environments/production/segments/beta', { body: { name: 'Beta, renamed' } })).status,
    200,
  )
  t.equal(await who('user-17'), 'RULE_MATCH', 'members kept')
  t.equal(
    (await s.api('PUT', '/api/v1/environments/production/segments/beta', { body: { included: ['user-18'] } })).status,
    200,
  )
  t.equal(await who('user-17'), 'FALLTHROUGH', 'replaced: user-17 is out')
  t.equal(await who('user-18'), 'RULE_MATCH', 'replaced: user-18 is in')
})
