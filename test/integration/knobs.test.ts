/** Live knobs through REST and a real SDK: bounds on the definition, a value per environment, streamed. */
import t from 'tap'
import { createClient } from '../../sdk/index.js'
import { createFlag, createSdkEnv, putConfig } from '../helpers/sdk-fixtures.js'
import { startServer, type TestServer } from '../helpers/server.js'
import { until } from '../helpers/wait.js'

const quiet = { warn() {}, error() {}, info() {}, debug() {} }

/** The codes of a 400's validation details. */
// biome-ignore lint/suspicious/noExplicitAny: tests inspect arbitrary JSON
const codes = (body: any): string[] => (body.details ?? []).map((d: { code: string }) => d.code)

async function knobPut(s: TestServer, knob: unknown, fallthrough = 2) {
  const cur = await s.api('GET', '/api/v1/environments/production/flags/batch-size')
  return s.api('PUT', '/api/v1/environments/production/flags/batch-size', {
    headers: { 'if-match': `"${cur.body.version}"` },
    body: { on: true, offVariation: 0, fallthrough: { variation: fallthrough }, knob },
  })
}

t.test('a knob set 100 → 500 reaches a connected SDK; out of bounds is a 400 with the code', async (t) => {
  const s = await startServer(t)
  const production = await createSdkEnv(s)
  await createFlag(s, 'batch-size', { kind: 'number', variations: [10, 20], knob: { min: 1, max: 5000, step: 1 } })
  const def = await s.api('GET', '/api/v1/flags/batch-size')
  t.same(def.body.knob, { min: 1, max: 5000, step: 1 }, 'bounds on the definition')
  const first = await putConfig(s, 'production', 'batch-size', {
    offVariation: 0,
    fallthrough: { variation: 2 },
    knob: { value: 100 },
  })
  t.same(first.knob, { value: 100 })
  t.same(first.knobBounds, { min: 1, max: 5000, step: 1 }, 'the configuration carries the bounds')

  const client = createClient({ url: s.url, token: production.serverToken, sendMetrics: false, logger: quiet })
  t.teardown(() => client.close())
  await client.ready({ timeoutMs: 20_000 })
  t.equal(client.variation('batch-size', { key: 'w1' }, 0), 100)

  const r = await knobPut(s, { value: 500 })
  t.equal(r.status, 200)
  await until(() => client.variation('batch-size', { key: 'w1' }, 0) === 500, 20_000, 'the SDK to serve 500')
  t.same(client.variationDetail('batch-size', { key: 'w1' }, 0).reason, { kind: 'FALLTHROUGH' })

  const out = await knobPut(s, { value: 9000 })
  t.equal(out.status, 400)
  t.equal(out.body.code, 'VALIDATION_FAILED')
  t.ok(codes(out.body).includes('KNOB_OUT_OF_BOUNDS'), 'the issue code')
  const off = await knobPut(s, { value: 2.5 })
  t.ok(codes(off.body).includes('KNOB_OFF_STEP'))
  const kept = await knobPut(s, undefined)
  t.same([kept.status, kept.body.knob], [200, { value: 500 }], 'omitted, the knob value is kept')
  const none = await knobPut(s, null)
  t.equal(none.status, 400, 'cleared: index 2 is out of range')
  t.ok(codes(none.body).includes('VARIATION_OUT_OF_RANGE'))
  t.equal(client.variation('batch-size', { key: 'w1' }, 0), 500, 'refused writes change nothing')

  const history = await s.api('GET', '/api/v1/environments/production/flags/batch-size/history')
  t.same(
    history.body.items.map((h: { version: number; config: { knob?: unknown } }) => [h.version, h.config.knob]),
    [
      [4, { value: 500 }],
      [3, { value: 500 }],
      [2, { value: 100 }],
      [1, undefined],
    ],
    'every knob write is a version (omitted in a PUT: kept)',
  )

  const narrow = await s.api('PATCH', '/api/v1/flags/batch-size', { body: { knob: { min: 1, max: 200 } } })
  t.equal(narrow.status, 400, 'bounds that exclude a served value are refused')
  t.ok(codes(narrow.body).includes('KNOB_OUT_OF_BOUNDS'))
  const widen = await s.api('PATCH', '/api/v1/flags/batch-size', { body: { knob: { min: 1, max: 10_000 } } })
  t.equal(widen.status, 200)
  t.same((await s.api('GET', '/api/v1/environments/production/flags/batch-size')).body.knobBounds, {
    min: 1,
    max: 10_000,
  })
})

t.test('bounds are checked on the definition; only knobs take a value', async (t) => {
  const s = await startServer(t)
  await createSdkEnv(s)
  const bad = await s.api('POST', '/api/v1/flags', {
    body: { key: 'k', kind: 'number', variations: [1], knob: { min: 9, max: 1 } },
  })
  t.equal(bad.status, 400)
  t.ok(codes(bad.body).includes('KNOB_BAD_BOUNDS'))
  const str = await s.api('POST', '/api/v1/flags', {
    body: { key: 'k', kind: 'string', variations: ['a'], knob: { min: 1, max: 2 } },
  })
  t.ok(codes(str.body).includes('KNOB_NOT_NUMBER'))
  await createFlag(s, 'batch-size', { kind: 'number', variations: [10] })
  const r = await knobPut(s, { value: 5 }, 0)
  t.equal(r.status, 400)
  t.ok(codes(r.body).includes('NOT_A_KNOB'))
})
