/**
 * Facts: recorded per environment through the REST API (real Redis, real HTTP), typed, versioned, audited,
 * with history; a `facts` token that may record them but not touch flags; and flags that require facts:
 * PUT, toggle and rollback refused with FACTS_UNMET where they are not met, unless forced with a reason.
 */
import t from 'tap'
import { createFlag } from '../helpers/sdk-fixtures.js'
import { startServer, type Teardown, type TestServer } from '../helpers/server.js'

const P = '/api/v1/environments/production'

async function setup(t: Teardown): Promise<TestServer> {
  const s = await startServer(t)
  for (const key of ['production', 'staging']) {
    const r = await s.api('POST', '/api/v1/environments', { body: { key } })
    if (r.status !== 201) throw new Error(r.text)
  }
  return s
}

async function token(s: TestServer, kind: string, environments: string[]): Promise<string> {
  const r = await s.api('POST', '/api/v1/tokens', { body: { name: `${kind} ${environments}`, kind, environments } })
  if (r.status !== 201) throw new Error(r.text)
  return r.body.secret as string
}

const cfg = async (s: TestServer, key: string) => (await s.api('GET', `${P}/flags/${key}`)).body

t.test('facts are typed, versioned, audited and kept in a history', async (t) => {
  const s = await setup(t)
  let r = await s.api('GET', `${P}/facts`)
  t.equal(r.status, 200)
  t.same(r.body, { environment: 'production', version: 0, facts: [] }, 'none at first')
  t.equal(r.headers.get('etag'), '"0"')

  r = await s.api('POST', `${P}/facts`, {
    body: {
      set: { 'db.sessions.indexes': ['sessions_pkey'], 'app.framework': '5.2.4', 'db.shards': 4, 'cache.on': true },
      drift: { 'db.sessions.indexes': true },
      reason: 'baseline',
    },
  })
  t.equal(r.status, 200, r.text)
  t.equal(r.body.version, 1)
  t.same(r.body.changed.sort(), ['app.framework', 'cache.on', 'db.sessions.indexes', 'db.shards'])
  const byName = Object.fromEntries(r.body.facts.map((f: { name: string }) => [f.name, f]))
  t.match(byName, {
    'db.sessions.indexes': {
      type: 'list',
      value: ['sessions_pkey'],
      drift: true,
      version: 1,
      updatedBy: 'bootstrap admin',
    },
    'app.framework': { type: 'string', value: '5.2.4', drift: false },
    'db.shards': { type: 'number', value: 4 },
    'cache.on': { type: 'boolean', value: true },
  })

  r = await s.api('POST', `${P}/facts`, { body: { set: { 'app.framework': '5.2.4' } } })
  t.equal(r.body.version, 1, 'the same value again writes nothing')
  t.same(r.body.changed, [])

  r = await s.api('POST', `${P}/facts`, {
    body: { set: { 'app.framework': '5.3.1' }, unset: ['cache.on'], reason: 'upgrade' },
    headers: { 'if-match': '"1"' },
  })
  t.equal(r.status, 200)
  t.equal(r.body.version, 2)
  t.notOk(
    r.body.facts.some((f: { name: string }) => f.name === 'cache.on'),
    'unset',
  )

  r = await s.api('POST', `${P}/facts`, { body: { set: { 'app.framework': '6' } }, headers: { 'if-match': '"1"' } })
  t.equal(r.status, 412, 'stale If-Match')
  t.same(r.body.details, { currentVersion: 2 })

  r = await s.api('GET', `${P}/facts/history`)
  t.equal(r.status, 200)
  t.equal(r.body.items.length, 2)
  t.match(r.body.items[0], {
    version: 2,
    actor: 'bootstrap admin',
    reason: 'upgrade',
    changes: [
      { fact: 'app.framework', from: '5.2.4', to: '5.3.1' },
      { fact: 'cache.on', from: true, to: null },
    ],
  })
  r = await s.api('GET', `${P}/facts/history?fact=app.framework&limit=1`)
  t.same(
    r.body.items.map((e: { changes: unknown }) => e.changes),
    [[{ fact: 'app.framework', from: '5.2.4', to: '5.3.1' }]],
  )
  t.not(r.body.nextCursor, null)
  r = await s.api('GET', `${P}/facts/history?fact=app.framework&cursor=${r.body.nextCursor}`)
  t.same(
    r.body.items.map((e: { version: number }) => e.version),
    [1],
  )

  r = await s.api('GET', '/api/v1/audit?env=production')
  const facts = r.body.items.filter((a: { action: string }) => a.action === 'facts.set')
  t.equal(facts.length, 2, 'audited')
  t.match(facts[0], {
    fromVersion: 1,
    toVersion: 2,
    reason: 'upgrade',
    details: { set: ['app.framework'], unset: ['cache.on'] },
  })
})

t.test('hostile input: 4xx with a code, nothing written', async (t) => {
  const s = await setup(t)
  await s.api('POST', `${P}/facts`, { body: { set: { n: 1 } } })
  const bad = async (body: unknown, status: number, code: string, what: string) => {
    const r = await s.api('POST', `${P}/facts`, { body })
    t.equal(r.status, status, `${what}: ${r.text.slice(0, 200)}`)
    t.equal(r.body.code, code, what)
  }
  await bad({ set: { big: 'x'.repeat(1025) } }, 400, 'VALIDATION_FAILED', 'a string over 1024 characters')
  await bad(
    { set: { l: Array.from({ length: 1001 }, (_, i) => `i${i}`) } },
    400,
    'VALIDATION_FAILED',
    'a list over 1000',
  )
  await bad({ set: { l: [1, 2] } }, 400, 'VALIDATION_FAILED', 'a list of numbers')
  await bad({ set: { o: { a: 1 } } }, 400, 'VALIDATION_FAILED', 'an object')
  await bad({ set: { o: null } }, 400, 'VALIDATION_FAILED', 'null')
  await bad({ set: { 'bad name': 1 } }, 400, 'VALIDATION_FAILED', 'a name with a space')
  await bad({ set: { n: 'one' } }, 409, 'FACT_TYPE_MISMATCH', 'another type')
  await bad({ set: { a: 1 }, unset: ['a'] }, 400, 'VALIDATION_FAILED', 'set and unset at once')
  await bad({ drift: { nothing: true } }, 400, 'VALIDATION_FAILED', 'drift mark of an unknown fact')
  await bad({}, 400, 'VALIDATION_FAILED', 'an empty body')
  await bad({ set: { n: 1 }, extra: 1 }, 400, 'VALIDATION_FAILED', 'an unknown field')
  const r = await s.api('POST', `${P}/facts`, {
    body: '{"set":{"n":1e400}}',
    headers: { 'content-type': 'application/json' },
  })
  t.equal(r.status, 400, 'a number beyond float64 (Infinity) is refused')
  const huge = await s.api('POST', `${P}/facts`, {
    body: {
      set: Object.fromEntries(
        Array.from({ length: 200 }, (_, i) => [`f${i}`, Array.from({ length: 1000 }, () => 'y'.repeat(256))]),
      ),
    },
  })
  t.equal(huge.status, 413, 'a body over the limit')
  t.equal(huge.body.code, 'BODY_TOO_LARGE')
  const many: Record<string, number> = {}
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 200; i++) many[`m${round}.${i}`] = i
    const w = await s.api('POST', `${P}/facts`, {
      body: { set: Object.fromEntries(Object.entries(many).slice(round * 200)) },
    })
    if (round < 4) t.equal(w.status, 200, `round ${round}`)
    else {
      t.equal(w.status, 400, 'over 1000 facts in an environment')
      t.match(w.body.message, /at most 1000 facts/)
    }
  }
  t.equal((await s.api('GET', `${P}/facts`)).body.version, 5, 'only the accepted writes counted')
  const unknown = await s.api('POST', '/api/v1/environments/nowhere/facts', { body: { set: { a: 1 } } })
  t.equal(unknown.status, 404)
  t.equal(unknown.body.code, 'ENVIRONMENT_NOT_FOUND')
})

t.test('a facts token records facts in its environments and can do nothing else', async (t) => {
  const s = await setup(t)
  await createFlag(s, 'f')
  const pipeline = await token(s, 'facts', ['production'])
  let r = await s.api('POST', `${P}/facts`, { token: pipeline, body: { set: { 'migration.last': '0042' } } })
  t.equal(r.status, 200)
  t.equal(r.body.facts[0].updatedBy, 'facts production')
  t.equal((await s.api('GET', `${P}/facts`, { token: pipeline })).status, 200, 'reads them')
  r = await s.api('POST', '/api/v1/environments/staging/facts', { token: pipeline, body: { set: { a: 1 } } })
  t.equal(r.status, 403, 'not in another environment')
  for (const [method, path, body] of [
    ['GET', `${P}/flags/f`, undefined],
    ['POST', `${P}/flags/f/toggle`, { on: true }],
    ['POST', `${P}/flags/f/kill`, {}],
    ['GET', `${P}/segments`, undefined],
  ] as const) {
    r = await s.api(method, path, { token: pipeline, ...(body && { body }) })
    t.equal(r.status, 403, `${method} ${path}`)
    t.equal(r.body.code, 'FORBIDDEN')
  }
  const viewer = await token(s, 'viewer', ['production'])
  t.equal((await s.api('GET', `${P}/facts`, { token: viewer })).status, 200, 'a viewer reads facts')
  t.equal(
    (await s.api('POST', `${P}/facts`, { token: viewer, body: { set: { a: 1 } } })).status,
    403,
    'but records none',
  )
})

t.test(
  'a flag that requires facts: turning it on, serving anew and rolling back are gated; a kill never is',
  async (t) => {
    const s = await setup(t)
    await createFlag(s, 'upgrade')
    await s.api('POST', `${P}/facts`, {
      body: { set: { 'db.sessions.indexes': ['sessions_pkey'], 'app.framework': '5.2.4' } },
    })
    const requires = [
      { fact: 'db.sessions.indexes', op: 'in', value: 'sessions_user_combined_idx' },
      { fact: 'app.framework', op: 'semVerGreaterThan', value: '5.2.9' },
      { fact: 'app.runtime', op: 'exists' },
    ]
    // Requirements recorded while off: nothing is served anew, so nothing is checked.
    let r = await s.api('PUT', `${P}/flags/upgrade`, {
      headers: { 'if-match': '"1"' },
      body: { on: false, offVariation: 1, fallthrough: { variation: 0 }, requires },
    })
    t.equal(r.status, 200, r.text)
    t.same(r.body.requires, requires, 'stored and shown')

    r = await s.api('POST', `${P}/flags/upgrade/toggle`, { body: { on: true } })
    t.equal(r.status, 409, 'toggle on')
    t.equal(r.body.code, 'FACTS_UNMET')
    t.same(r.body.details.unmet, [
      { ...requires[0], actual: ['sessions_pkey'] },
      { ...requires[1], actual: '5.2.4' },
      { ...requires[2], actual: null },
    ])
    t.match(r.body.message, /db\.sessions\.indexes in "sessions_user_combined_idx" \(actual: \["sessions_pkey"\]\)/)

    r = await s.api('PUT', `${P}/flags/upgrade`, {
      headers: { 'if-match': '"2"' },
      body: { on: true, offVariation: 1, fallthrough: { variation: 0 } },
    })
    t.equal(r.status, 409, 'PUT on, requires kept when omitted')
    t.equal(r.body.code, 'FACTS_UNMET')

    r = await s.api('POST', `${P}/flags/upgrade/toggle`, { body: { on: true, force: true } })
    t.equal(r.status, 400, 'force without a reason')
    t.equal(r.body.details[0].path, '/reason')

    r = await s.api('POST', `${P}/flags/upgrade/toggle`, {
      body: { on: true, force: true, reason: 'INC-7: hotfix needs it' },
    })
    t.equal(r.status, 200, 'forced by an editor with a reason')
    t.match(r.body.requirementsOverride, {
      actor: 'bootstrap admin',
      reason: 'INC-7: hotfix needs it',
      unmet: [{ fact: 'db.sessions.indexes' }, { fact: 'app.framework' }, { fact: 'app.runtime' }],
    })
    t.match((await cfg(s, 'upgrade')).requirementsOverride, { reason: 'INC-7: hotfix needs it' }, 'visible on the flag')
    const audit = (await s.api('GET', '/api/v1/audit?env=production&flag=upgrade')).body.items
    t.match(audit[0], {
      action: 'flag.on',
      reason: 'INC-7: hotfix needs it',
      details: { requirements: { forced: true } },
    })

    r = await s.api('POST', `${P}/flags/upgrade/kill`, { body: { reason: 'sessions expire' } })
    t.equal(r.status, 200, 'a kill is never gated')
    t.equal(r.body.requirementsOverride, undefined, 'off: the override is over')

    r = await s.api('POST', `${P}/flags/upgrade/rollback`, { body: { version: 3 } })
    t.equal(r.status, 409, 'rolling back to the forced (on) version is gated too')
    t.equal(r.body.code, 'FACTS_UNMET')

    r = await s.api('POST', `${P}/facts`, {
      body: {
        set: {
          'db.sessions.indexes': ['sessions_pkey', 'sessions_user_combined_idx'],
          'app.framework': '5.3.1',
          'app.runtime': 'node 22',
        },
      },
    })
    t.equal(r.status, 200)
    r = await s.api('POST', `${P}/flags/upgrade/toggle`, { body: { on: true } })
    t.equal(r.status, 200, 'met: turned on')
    t.equal(r.body.requirementsOverride, undefined)

    // Serving anew while on: a new fallthrough is checked; a description-only PUT with the same serving is not.
    await s.api('POST', `${P}/facts`, { body: { set: { 'app.framework': '5.2.0' } } })
    const v = (await cfg(s, 'upgrade')).version
    r = await s.api('PUT', `${P}/flags/upgrade`, {
      headers: { 'if-match': `"${v}"` },
      body: { on: true, offVariation: 1, fallthrough: { variation: 1 } },
    })
    t.equal(r.status, 409, 'a new variation served is gated')
    t.same(
      r.body.details.unmet.map((u: { fact: string }) => u.fact),
      ['app.framework'],
    )
    r = await s.api('PUT', `${P}/flags/upgrade`, {
      headers: { 'if-match': `"${v}"` },
      body: { on: true, offVariation: 0, fallthrough: { variation: 0 }, reason: 'off variation only' },
    })
    t.equal(r.status, 200, 'the off variation of an on flag serves nothing new')
  },
)

t.test('requirements are validated with the engine: operators, value types, patterns', async (t) => {
  const s = await setup(t)
  await createFlag(s, 'f')
  const put = (requires: unknown) =>
    s.api('PUT', `${P}/flags/f`, {
      headers: { 'if-match': '"1"' },
      body: { on: false, fallthrough: { variation: 0 }, requires },
    })
  for (const [requires, what] of [
    [[{ fact: 'a', op: 'inSegment', value: 's' }], 'inSegment'],
    [[{ fact: 'a', op: 'lessThan', value: 'ten' }], 'a number operator with a string'],
    [[{ fact: 'a', op: 'matches', value: '(a' }], 'a bad pattern'],
    [[{ fact: 'a', op: 'contains' }], 'no value'],
    [[{ fact: 'bad name', op: 'exists' }], 'a bad fact name'],
    [Array.from({ length: 51 }, () => ({ fact: 'a', op: 'exists' })), 'more than 50'],
  ] as const) {
    const r = await put(requires)
    t.equal(r.status, 400, what)
    t.equal(r.body.code, 'VALIDATION_FAILED', what)
  }
  t.equal((await put([{ fact: 'a', op: 'matches', value: '^sessions_' }])).status, 200, 'a good one')
})

t.test('checkRequirements (for release plans): the unmet requirements with their actual values', async (t) => {
  const s = await setup(t)
  await s.api('POST', `${P}/facts`, { body: { set: { 'app.framework': '5.3.1', tables: ['a', 'b'] } } })
  const unmet = await s.app.services.facts.checkRequirements('production', {
    requires: [
      { fact: 'app.framework', op: 'semVerGreaterThan', value: '5.2.0' },
      { fact: 'tables', op: 'in', value: 'c' },
      { fact: 'tables', op: 'in', value: ['b', 'c'] },
      { fact: 'app.framework', op: 'startsWith', value: '6.', negate: true },
      { fact: 'missing', op: 'exists', negate: true },
      { fact: 'missing', op: 'in', value: 'x', negate: true },
    ],
  })
  t.same(
    unmet,
    [
      { fact: 'tables', op: 'in', value: 'c', actual: ['a', 'b'] },
      { fact: 'missing', op: 'in', value: 'x', negate: true, actual: null },
    ],
    'a missing fact never matches an operator, even negated (the engine rule); "not exists" it meets',
  )
  t.same(await s.app.services.facts.checkRequirements('production', {}), [], 'no requirements')
})

t.test('deleting an environment deletes its facts and their history', async (t) => {
  const s = await setup(t)
  await s.api('POST', `${P}/facts`, { body: { set: { a: 1 } } })
  t.equal((await s.api('DELETE', P)).status, 204)
  t.equal((await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })).status, 201)
  t.same((await s.api('GET', `${P}/facts`)).body, { environment: 'production', version: 0, facts: [] })
  t.same((await s.api('GET', `${P}/facts/history`)).body.items, [])
  t.same(await s.redis.keys('sy:{production}:fact*'), [], 'no key left behind')
})
