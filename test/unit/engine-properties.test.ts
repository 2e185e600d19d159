// Properties of the engine (fast-check): stickiness, ramp monotonicity, independence,
// uniformity of buckets, and "never throws" for arbitrary contexts and rulesets.
import t from 'tap'
import fc from 'fast-check'
import {
  bucket,
  compile,
  evaluate,
  evaluateDetail,
  OPERATORS,
  validateFlagConfig,
  type JsonValue,
  type Ruleset,
  type Serve,
} from '../../sdk/core/index.js'
import { booleanFlag } from '../helpers/ruleset.js'

const flag = booleanFlag

function rollout(weightOn: number, salt = 'ramp'): Ruleset {
  return {
    specVersion: 1,
    environment: 'p',
    segments: {},
    flags: {
      f: flag('f', {
        salt,
        fallthrough: {
          rollout: {
            weights: [
              { variation: 0, weight: weightOn },
              { variation: 1, weight: 100_000 - weightOn },
            ],
          },
        },
      }),
    },
  }
}

const key = fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' })

t.test('stickiness: the same key gets the same answer from independent compiles', async (t) => {
  fc.assert(
    fc.property(key, fc.integer({ min: 0, max: 100_000 }), fc.string(), (k, w, salt) => {
      const a = compile(rollout(w, salt))
      const b = compile(rollout(w, salt))
      const va = evaluate(a, 'f', { key: k }, null)
      return va === evaluate(b, 'f', { key: k }, null) && va === evaluate(a, 'f', { key: k }, null)
    }),
    { numRuns: 500 },
  )
  t.pass('sticky')
})

t.test('ramp monotonicity: raising a rollout keeps everyone who had it', async (t) => {
  fc.assert(
    fc.property(key, fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: 100_000 }), (k, x, y) => {
      const lo = Math.min(x, y)
      const hi = Math.max(x, y)
      const before = evaluate(compile(rollout(lo)), 'f', { key: k }, null)
      const after = evaluate(compile(rollout(hi)), 'f', { key: k }, null)
      return before !== true || after === true
    }),
    { numRuns: 500 },
  )
  // And the boundary is exact: in at weight w iff bucket < w.
  fc.assert(
    fc.property(key, fc.integer({ min: 0, max: 100_000 }), (k, w) => {
      return (evaluate(compile(rollout(w)), 'f', { key: k }, null) === true) === bucket('ramp', k) < w
    }),
    { numRuns: 300 },
  )
  t.pass('monotone')
})

/** Chi-square statistic of observed counts against expected counts. */
function chi2(observed: number[], expected: number[]): number {
  return observed.reduce((s, o, i) => s + (o - expected[i]!) ** 2 / expected[i]!, 0)
}

const N = 1_000_000
const buckets = new Int32Array(N)
for (let i = 0; i < N; i++) buckets[i] = bucket('uniformity', `user-${i}`)

t.test('uniformity over 1,000,000 keys', async (t) => {
  // Chi-square with 1 degree of freedom at 1 %, 25 %, 50 %: critical value 10.83 (p = 0.001).
  for (const pct of [1, 25, 50]) {
    const edge = pct * 1000
    let inside = 0
    for (let i = 0; i < N; i++) if (buckets[i]! < edge) inside++
    const p = pct / 100
    const stat = chi2([inside, N - inside], [N * p, N * (1 - p)])
    t.ok(stat < 10.83, `${pct} %: ${inside} of ${N} inside, chi2 = ${stat.toFixed(2)}`)
  }
  // All 100 one-percent bands: 99 degrees of freedom, critical value 148.23 (p = 0.001).
  const bands = new Array<number>(100).fill(0)
  for (let i = 0; i < N; i++) bands[Math.floor(buckets[i]! / 1000)]!++
  const stat = chi2(bands, new Array<number>(100).fill(N / 100))
  t.ok(stat < 148.23, `100 bands: chi2 = ${stat.toFixed(2)}`)
  t.ok(
    buckets.every((b) => b >= 0 && b < 100_000),
    'every bucket in [0, 100000)',
  )
})

t.test('independence: two salts bucket the same keys independently', async (t) => {
  // 2x2 contingency of "in the 50 % rollout" under two salts: 1 degree of freedom, 10.83 at p = 0.001.
  const n = 200_000
  const cell = [0, 0, 0, 0]
  for (let i = 0; i < n; i++) {
    const a = bucket('flag-one', `user-${i}`) < 50_000 ? 1 : 0
    const b = bucket('flag-two', `user-${i}`) < 50_000 ? 1 : 0
    cell[a * 2 + b]!++
  }
  const stat = chi2(cell, [n / 4, n / 4, n / 4, n / 4])
  t.ok(stat < 16.27, `joint counts ${cell.join('/')}, chi2 = ${stat.toFixed(2)} (3 df, p = 0.001)`)
  // A 10 % rollout of one flag is not the same 10 % as another's.
  let both = 0
  for (let i = 0; i < n; i++)
    if (bucket('flag-one', `user-${i}`) < 10_000 && bucket('flag-two', `user-${i}`) < 10_000) both++
  t.ok(Math.abs(both - n * 0.01) < 5 * Math.sqrt(n * 0.01), `overlap of two 10 % rollouts ≈ 1 %: ${both}`)
})

// ---- arbitrary rulesets and contexts never make the evaluator throw ---------------
const attrValue: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.integer({ min: -5, max: 5 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom('1.2.3', '1.0.0-rc.1', '2024-01-01', '2024-01-01T00:00:00Z', 'a.*', '(', 'GB'),
  fc.array(fc.oneof(fc.string({ maxLength: 4 }), fc.integer()), { maxLength: 3 }),
)
const clause = fc.record({
  attribute: fc.constantFrom('key', 'a', 'b', 'country', 'toString', '__proto__', ''),
  op: fc.constantFrom(...OPERATORS),
  values: fc.array(attrValue, { maxLength: 3 }),
  negate: fc.boolean(),
})
const serve: fc.Arbitrary<Serve> = fc.oneof(
  fc.record({ variation: fc.integer({ min: -1, max: 2 }) }),
  fc.integer({ min: 0, max: 100_000 }).map((w) => ({
    rollout: {
      bucketBy: w % 2 === 0 ? 'key' : 'a',
      weights: [
        { variation: 0, weight: w },
        { variation: 1, weight: 100_000 - w },
      ],
    },
  })),
)
const arbFlag = fc.record({
  on: fc.boolean(),
  offVariation: fc.oneof(fc.constant(null), fc.integer({ min: 0, max: 2 })),
  targets: fc.array(
    fc.record({
      variation: fc.integer({ min: 0, max: 1 }),
      values: fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }),
    }),
    { maxLength: 2 },
  ),
  rules: fc.array(fc.record({ id: fc.string({ maxLength: 3 }), clauses: fc.array(clause, { maxLength: 3 }), serve }), {
    maxLength: 3,
  }),
  fallthrough: serve,
  prereq: fc.boolean(),
})
const context = fc.oneof(
  fc.dictionary(fc.constantFrom('key', 'targetingKey', 'a', 'b', 'country', '__proto__', 'constructor'), attrValue),
  fc.anything(),
)

t.test('evaluate never throws; valid flags never yield PARSE_ERROR', async (t) => {
  let valid = 0
  fc.assert(
    fc.property(arbFlag, context, (af, ctx) => {
      const f = flag('f', {
        on: af.on,
        offVariation: af.offVariation,
        targets: af.targets,
        rules: af.rules,
        fallthrough: af.fallthrough,
        prerequisites: af.prereq ? [{ flag: 'g', variation: 0 }] : [],
      })
      const g = flag('g', {
        prerequisites: [{ flag: 'f', variation: 0 }],
        rules: af.rules,
        fallthrough: af.fallthrough,
      })
      const rs: Ruleset = {
        specVersion: 1,
        environment: 'p',
        flags: { f, g },
        segments: {
          s: {
            key: 's',
            included: ['x'],
            excluded: [],
            rules: [{ id: 'r', clauses: af.rules[0]?.clauses ?? [] }],
            salt: 's',
            version: 1,
          },
        },
      }
      const c = compile(rs)
      const value = evaluate(c, 'f', ctx as Record<string, unknown>, false)
      const d = evaluateDetail(c, 'f', ctx as Record<string, unknown>, false)
      if (value !== d.value) return false
      if (validateFlagConfig(f, f).length === 0) {
        valid++
        if (d.reason.errorKind === 'PARSE_ERROR') return false
      }
      return true
    }),
    { numRuns: 2000 },
  )
  t.ok(valid > 100, `${valid} generated flags passed validation`)
})
