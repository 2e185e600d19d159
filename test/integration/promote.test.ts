/**
 * Promote and diff between environments through the REST API (real Redis, real HTTP): parts, If-Match,
 * unknown environments, missing segments (refused with the list, or copied: definitions, members only when
 * asked), drift of facts, the audit of the source; and the structured diff with bounded member sampling.
 */
import t from 'tap'
import { createClient } from '../../sdk/index.js'
import { describeDiff } from '../../src/cli/environments.js'
import { createFlag, putConfig } from '../helpers/sdk-fixtures.js'
import { startServer, type Teardown, type TestServer } from '../helpers/server.js'
import { until } from '../helpers/wait.js'

const S = '/api/v1/environments/staging'
const P = '/api/v1/environments/production'

async function setup(t: Teardown): Promise<TestServer> {
  const s = await startServer(t)
  for (const key of ['staging', 'production']) {
    const r = await s.api('POST', '/api/v1/environments', { body: { key } })
    if (r.status !== 201) throw new Error(r.text)
  }
  return s
}

const quiet = { warn() {}, error() {}, info() {}, debug() {} }

/** The issue codes of a 400's validation details. */
// biome-ignore lint/suspicious/noExplicitAny: tests inspect arbitrary JSON
const codes = (body: any): string[] => (body.details ?? []).map((d: { code: string }) => d.code)

const STAGING_CONFIG = {
  on: true,
  offVariation: 1,
  targets: [{ variation: 0, values: ['qa-1', 'qa-2', 'qa-3'] }],
  rules: [
    {
      id: 'beta',
      clauses: [{ attribute: 'key', op: 'inSegment', values: ['beta-testers'] }],
      serve: { variation: 0 },
    },
  ],
  fallthrough: {
    rollout: {
      weights: [
        { variation: 0, weight: 10_000 },
        { variation: 1, weight: 90_000 },
      ],
    },
  },
}

t.test('promote: refusals leave the target as it was; a promote is one audited write with its source', async (t) => {
  const s = await setup(t)
  await createFlag(s, 'checkout')
  await s.api('POST', `${S}/segments`, {
    body: { key: 'beta-testers', name: 'Beta', included: ['u1', 'u2', 'u3'], excluded: ['u9'] },
  })
  await putConfig(s, 'staging', 'checkout', STAGING_CONFIG)
  const path = `${P}/flags/checkout/promote`
  const before = (await s.api('GET', `${P}/flags/checkout`)).body

  let r = await s.api('POST', path, { body: { from: 'staging' } })
  t.equal(r.status, 428, 'If-Match required')
  r = await s.api('POST', path, { body: { from: 'staging' }, headers: { 'if-match': '"9"' } })
  t.equal(r.status, 412, 'stale If-Match')
  t.same(r.body.details, { currentVersion: 1 })
  r = await s.api('POST', path, { body: { from: 'nowhere' }, headers: { 'if-match': '"1"' } })
  t.equal(r.status, 404, 'unknown source')
  t.equal(r.body.code, 'ENVIRONMENT_NOT_FOUND')
  r = await s.api('POST', '/api/v1/environments/nowhere/flags/checkout/promote', {
    body: { from: 'staging' },
    headers: { 'if-match': '"1"' },
  })
  t.equal(r.status, 404, 'unknown target')
  t.equal(r.body.code, 'ENVIRONMENT_NOT_FOUND')
  r = await s.api('POST', `${P}/flags/nothing/promote`, { body: { from: 'staging' }, headers: { 'if-match': '"1"' } })
  t.equal(r.body.code, 'FLAG_NOT_FOUND')
  r = await s.api('POST', path, { body: { from: 'production' }, headers: { 'if-match': '"1"' } })
  t.equal(r.status, 400, 'to itself')
  r = await s.api('POST', path, { body: { from: 'staging', parts: ['knobs'] }, headers: { 'if-match': '"1"' } })
  t.equal(r.status, 400, 'an unknown part')
  r = await s.api('POST', path, { body: { from: 'staging' }, headers: { 'if-match': '"1"' } })
  t.equal(r.status, 409, 'a segment missing in the target')
  t.equal(r.body.code, 'SEGMENTS_MISSING')
  t.same(r.body.details, { environment: 'production', missing: ['beta-testers'] })
  t.same((await s.api('GET', `${P}/flags/checkout`)).body, before, 'nothing written')
  t.equal((await s.api('GET', `${P}/segments`)).body.items.length, 0, 'no segment created')

  // Only the targets: no segment is needed.
  r = await s.api('POST', path, {
    body: { from: 'staging', parts: ['targets'], reason: 'QA first' },
    headers: { 'if-match': '"1"' },
  })
  t.equal(r.status, 200, r.text)
  t.same(r.body.targets, STAGING_CONFIG.targets)
  t.equal(r.body.on, false, 'on not promoted')
  t.same(r.body.rules, [])
  t.equal(r.headers.get('etag'), '"2"')
  t.ok(r.headers.get('x-change-id'), 'a change-log id')

  r = await s.api('POST', path, {
    body: { from: 'staging', copySegments: true, reason: 'sessions v2 to production' },
    headers: { 'if-match': '"2"' },
  })
  t.equal(r.status, 200, r.text)
  t.equal(r.headers.get('x-segments-copied'), 'beta-testers')
  t.match(r.body, { on: true, rules: STAGING_CONFIG.rules, fallthrough: STAGING_CONFIG.fallthrough, version: 3 })
  const seg = (await s.api('GET', `${P}/segments/beta-testers`)).body
  t.match(
    seg,
    { name: 'Beta', includedCount: 0, excludedCount: 0 },
    'definition copied, never the members unless asked',
  )

  const audit = (await s.api('GET', '/api/v1/audit?env=production&flag=checkout')).body.items
  t.match(audit[0], {
    action: 'flag.promote',
    env: 'production',
    fromVersion: 2,
    toVersion: 3,
    reason: 'sessions v2 to production',
    details: {
      from: 'staging',
      fromVersion: 2,
      parts: ['on', 'offVariation', 'targets', 'rules', 'fallthrough', 'prerequisites', 'requires', 'knob'],
      segmentsCopied: ['beta-testers'],
    },
  })
  const segAudit = (await s.api('GET', '/api/v1/audit?env=production')).body.items.find(
    (a: { action: string }) => a.action === 'segment.create',
  )
  t.match(segAudit, { target: { key: 'beta-testers' }, reason: 'sessions v2 to production' })
})

t.test('promote with copyMembers copies members in batches', async (t) => {
  const s = await setup(t)
  await createFlag(s, 'f')
  const ids = Array.from({ length: 25_000 }, (_, i) => `user-${i}`)
  await s.api('POST', `${S}/segments`, {
    body: { key: 'big', included: ids.slice(0, 20_000), excluded: ids.slice(20_000) },
  })
  await putConfig(s, 'staging', 'f', {
    rules: [{ id: 'r', clauses: [{ attribute: 'key', op: 'inSegment', values: ['big'] }], serve: { variation: 0 } }],
  })
  const r = await s.api('POST', `${P}/flags/f/promote`, {
    body: { from: 'staging', copySegments: true, copyMembers: true },
    headers: { 'if-match': '"1"' },
  })
  t.equal(r.status, 200, r.text)
  t.match((await s.api('GET', `${P}/segments/big`)).body, { includedCount: 20_000, excludedCount: 5000 })
  const diff = (await s.api('GET', `${S}/diff/production`)).body
  t.match(diff.segments[0], {
    key: 'big',
    status: 'same',
    members: { included: { from: 20_000, to: 20_000, onlyFrom: { found: 0, complete: true } } },
  })
})

t.test('drift: facts marked drift-relevant, or required, must be the same in both environments', async (t) => {
  const s = await setup(t)
  await createFlag(s, 'f')
  await s.api('POST', `${S}/facts`, { body: { set: { 'config.checksum': 'abc' }, drift: { 'config.checksum': true } } })
  await s.api('POST', `${P}/facts`, { body: { set: { 'config.checksum': 'abd' } } })
  await putConfig(s, 'staging', 'f', { fallthrough: { variation: 0 } })
  let r = await s.api('POST', `${P}/flags/f/promote`, { body: { from: 'staging' }, headers: { 'if-match': '"1"' } })
  t.equal(r.status, 409)
  t.equal(r.body.code, 'FACTS_DRIFT')
  t.same(r.body.details.drift, [{ fact: 'config.checksum', from: 'abc', to: 'abd' }])
  t.match(r.body.message, /config\.checksum: "abc" vs "abd"/)
  r = await s.api('POST', `${P}/flags/f/promote`, {
    body: { from: 'staging', parts: ['targets', 'rules', 'fallthrough'] },
    headers: { 'if-match': '"1"' },
  })
  t.equal(r.status, 200, 'a promote that leaves the flag off serves nothing: not gated')
  r = await s.api('POST', `${P}/flags/f/promote`, {
    body: { from: 'staging', force: true, reason: 'the checksum covers a comment only' },
    headers: { 'if-match': '"2"' },
  })
  t.equal(r.status, 200, 'forced with a reason')
  t.same(r.body.requirementsOverride.drift, [{ fact: 'config.checksum', from: 'abc', to: 'abd' }])
})

t.test(
  'diff: flags (targets, rules, fallthrough, fields it does not name), segments with member samples, facts',
  async (t) => {
    const s = await setup(t)
    await createFlag(s, 'f')
    await createFlag(s, 'g')
    await s.api('POST', `${S}/segments`, { body: { key: 'beta', included: ['a', 'b', 'c'], excluded: ['x'] } })
    await s.api('POST', `${P}/segments`, { body: { key: 'beta', included: ['b', 'c', 'd', 'e'] } })
    await s.api('POST', `${S}/segments`, { body: { key: 'staff', included: ['s1'] } })
    await putConfig(s, 'staging', 'f', {
      ...STAGING_CONFIG,
      rules: [
        { id: 'beta', clauses: [{ attribute: 'key', op: 'inSegment', values: ['beta'] }], serve: { variation: 0 } },
        { id: 'uk', clauses: [{ attribute: 'country', op: 'in', values: ['GB'] }], serve: { variation: 0 } },
      ],
    })
    await putConfig(s, 'production', 'f', {
      on: false,
      targets: [{ variation: 0, values: ['qa-1', 'p-1'] }],
      rules: [
        { id: 'uk', clauses: [{ attribute: 'country', op: 'in', values: ['GB', 'IE'] }], serve: { variation: 0 } },
        { id: 'beta', clauses: [{ attribute: 'key', op: 'inSegment', values: ['beta'] }], serve: { variation: 0 } },
      ],
    })
    await s.api('POST', `${S}/facts`, { body: { set: { a: 1, same: 'x', list: ['p', 'q'] } } })
    await s.api('POST', `${P}/facts`, { body: { set: { b: 2, same: 'x', list: ['q', 'p'] } } })

    let r = await s.api('GET', `${S}/diff/production?sample=1`)
    t.equal(r.status, 200, r.text)
    const d = r.body
    t.match(d, { from: 'staging', to: 'production', flag: null, summary: { flags: 1, segments: 2, facts: 2 } })
    const f = d.flags.find((x: { key: string }) => x.key === 'f')
    t.match(f, {
      status: 'different',
      changes: {
        on: { from: true, to: false },
        fallthrough: { from: STAGING_CONFIG.fallthrough, to: { variation: 1 } },
        targets: [{ variation: 0, onlyFrom: { count: 2, sample: ['qa-2'] }, onlyTo: { count: 1, sample: ['p-1'] } }],
        rules: { onlyFrom: [], onlyTo: [], changed: ['uk'], reordered: true },
      },
    })
    t.match(
      d.flags.find((x: { key: string }) => x.key === 'g'),
      { status: 'same', changes: {} },
    )
    const beta = d.segments.find((x: { key: string }) => x.key === 'beta')
    t.match(beta, {
      status: 'different',
      members: {
        included: {
          from: 3,
          to: 4,
          onlyFrom: { sample: ['a'], found: 1, complete: true },
          onlyTo: { found: 2, complete: true },
        },
        excluded: { from: 1, to: 0, onlyFrom: { sample: ['x'], found: 1 } },
      },
    })
    t.match(
      d.segments.find((x: { key: string }) => x.key === 'staff'),
      { status: 'only-from', members: null },
    )
    t.same(d.facts.differences, [
      { fact: 'a', status: 'only-from', from: 1, to: null },
      { fact: 'b', status: 'only-to', from: null, to: 2 },
    ])
    t.equal(d.facts.same, 2, 'lists compare as sets')

    r = await s.api('GET', `${S}/diff/production?flag=f`)
    t.same(
      r.body.flags.map((x: { key: string }) => x.key),
      ['f'],
      'one flag',
    )
    t.same(
      r.body.segments.map((x: { key: string }) => x.key),
      ['beta'],
      'and the segments it uses',
    )
    r = await s.api('GET', `${S}/diff/production?flag=nothing`)
    t.equal(r.body.code, 'FLAG_NOT_FOUND')
    r = await s.api('GET', `${S}/diff/nowhere`)
    t.equal(r.status, 404)
    t.equal(r.body.code, 'ENVIRONMENT_NOT_FOUND')

    // A field this server does not name (one a newer server adds, say) is compared as JSON.
    await s.redis.hset(
      'sy:{production}:flags',
      'g',
      JSON.stringify({ ...(await s.api('GET', `${P}/flags/g`)).body, environment: undefined, future: { x: 50 } }),
    )
    r = await s.api('GET', `${S}/diff/production?flag=g`)
    t.match(r.body.flags[0], { status: 'different', changes: { other: { future: { from: null, to: { x: 50 } } } } })
  },
)

t.test('diff of a 1,000,000-member segment is bounded work', async (t) => {
  const s = await setup(t)
  // Seeded straight into Redis (the members API is tested elsewhere): 2 × 1,000,000 ids, 1,000 apart.
  for (const [env, offset] of [
    ['staging', 0],
    ['production', 1000],
  ] as const) {
    t.equal((await s.api('POST', `/api/v1/environments/${env}/segments`, { body: { key: 'huge' } })).status, 201)
    for (let i = 0; i < 1_000_000; i += 50_000) {
      const batch = Array.from({ length: 50_000 }, (_, j) => `id-${offset + i + j}`)
      await s.redis.sadd(`sy:{${env}}:seg:huge:inc`, ...batch)
    }
  }
  const t0 = performance.now()
  const r = await s.api('GET', `${S}/diff/production?sample=5`)
  const ms = performance.now() - t0
  t.equal(r.status, 200)
  const m = r.body.segments[0].members.included
  t.match(m, { from: 1_000_000, to: 1_000_000, onlyFrom: { complete: false }, onlyTo: { complete: false } })
  t.ok(m.onlyFrom.sample.length <= 5)
  t.ok(
    m.onlyFrom.sample.every((id: string) => Number(id.slice(3)) < 1000),
    'what it found is really only in staging',
  )
  t.comment(`diff of two 1,000,000-member segments: ${ms.toFixed(0)} ms (2 cores, noisy)`)
})

t.test(
  'promote carries a live knob: the target serves the value (real SDK); diff names it; out of bounds refused',
  async (t) => {
    const s = await setup(t)
    const tok = await s.api('POST', '/api/v1/tokens', {
      body: { name: 'production-server', kind: 'sdk-server', environments: ['production'] },
    })
    t.equal(tok.status, 201, tok.text)
    await createFlag(s, 'batch-size', { kind: 'number', variations: [10, 20], knob: { min: 1, max: 5000, step: 1 } })
    // Index 2 (= variations.length) serves the knob.
    await putConfig(s, 'staging', 'batch-size', {
      offVariation: 0,
      fallthrough: { variation: 2 },
      knob: { value: 500 },
    })
    await putConfig(s, 'production', 'batch-size', { offVariation: 0, fallthrough: { variation: 0 } })
    const path = `${P}/flags/batch-size/promote`
    const version = async () => (await s.api('GET', `${P}/flags/batch-size`)).body.version as number
    const promote = async (body: Record<string, unknown>) =>
      s.api('POST', path, { body: { from: 'staging', ...body }, headers: { 'if-match': `"${await version()}"` } })

    let d = await s.api('GET', `${S}/diff/production?flag=batch-size`)
    t.match(d.body.flags[0].changes, { knob: { from: 500, to: null }, fallthrough: { from: { variation: 2 } } })
    t.notOk(d.body.flags[0].changes.other, 'the knob is compared by name, not as JSON')
    t.ok(describeDiff(d.body).includes('    knob: 500 → (none)'), 'the CLI says it by value')

    const client = createClient({ url: s.url, token: tok.body.secret, sendMetrics: false, logger: quiet })
    t.teardown(() => client.close())
    await client.ready({ timeoutMs: 20_000 })
    t.equal(client.variation('batch-size', { key: 'w1' }, 0), 10)

    const before = await version()
    let r = await promote({ parts: ['fallthrough'] })
    t.equal(r.status, 400, 'the fallthrough serves the knob, the knob is not copied and production has none')
    t.equal(r.body.code, 'VALIDATION_FAILED')
    t.match(r.body.details, [{ path: '/parts', message: /add "knob"/ }])
    t.equal(await version(), before, 'nothing written')

    r = await promote({ reason: 'batch size from staging' })
    t.equal(r.status, 200, r.text)
    t.match(r.body, { knob: { value: 500 }, fallthrough: { variation: 2 }, knobBounds: { min: 1, max: 5000 } })
    await until(() => client.variation('batch-size', { key: 'w1' }, 0) === 500, 20_000, 'the SDK to serve 500')
    const audit = (await s.api('GET', '/api/v1/audit?env=production&flag=batch-size')).body.items[0]
    t.match(audit, { action: 'flag.promote', details: { from: 'staging', parts: /knob/ } })
    t.ok(audit.details.parts.includes('knob'), 'the knob is one of the parts copied by default')
    d = await s.api('GET', `${S}/diff/production?flag=batch-size`)
    t.equal(d.body.flags[0].status, 'same', JSON.stringify(d.body.flags[0].changes))

    // Staging turns its knob; only the knob travels, production keeps everything else.
    await putConfig(s, 'staging', 'batch-size', {
      offVariation: 0,
      fallthrough: { variation: 1 },
      knob: { value: 800 },
    })
    d = await s.api('GET', `${S}/diff/production?flag=batch-size`)
    t.match(d.body.flags[0].changes, { knob: { from: 800, to: 500 } })
    r = await promote({ parts: ['knob'] })
    t.equal(r.status, 200, r.text)
    t.match(r.body, { knob: { value: 800 }, fallthrough: { variation: 2 } })
    await until(() => client.variation('batch-size', { key: 'w1' }, 0) === 800, 20_000, 'the SDK to serve 800')

    // A value outside the bounds (stored before they narrowed, as an older server or a restored backup leaves it):
    // checked against the bounds of the definition the target carries, refused with the validator's code.
    const staging = (await s.api('GET', `${S}/flags/batch-size`)).body
    await s.redis.hset(
      'sy:{staging}:flags',
      'batch-size',
      JSON.stringify({ ...staging, environment: undefined, knob: { value: 9000 } }),
    )
    const held = await version()
    r = await promote({})
    t.equal(r.status, 400)
    t.equal(r.body.code, 'VALIDATION_FAILED')
    t.ok(codes(r.body).includes('KNOB_OUT_OF_BOUNDS'), 'the issue code')
    t.equal(await version(), held, 'nothing written')
    t.equal(client.variation('batch-size', { key: 'w1' }, 0), 800)

    // A source without a knob: promoting everything clears the target's (it serves what the source serves).
    await putConfig(s, 'staging', 'batch-size', { offVariation: 0, fallthrough: { variation: 1 }, knob: null })
    r = await promote({})
    t.equal(r.status, 200, r.text)
    t.notOk('knob' in r.body, 'cleared')
    await until(() => client.variation('batch-size', { key: 'w1' }, 0) === 20, 20_000, 'the SDK to serve 20')
  },
)
