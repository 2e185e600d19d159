// The engine's specialised paths against its general one. A flag that is on, with no prerequisites or
// rules (`CompiledFlag.simple`: targets, then a fixed fallthrough or a rollout by key) is served by
// `evaluate`, `evaluateCounted` and `evaluateAllValues` without the general path; `evaluateDetail` always
// takes the general path (it needs the reason). Random flags of that shape and of the shapes next to it
// (a rule, a prerequisite, a rollout by another attribute, off) must answer the same through every entry:
// value, variation, and the count `evaluateCounted` records; reasons through `evaluateAll` and alone.
import fc from 'fast-check'
import t from 'tap'
import {
  compile,
  evaluate,
  evaluateAll,
  evaluateAllValues,
  evaluateCounted,
  evaluateDetail,
  lastVariation,
  takeCounts,
  type Context,
  type JsonValue,
  type RulesetFlag,
  type Serve,
} from '../../sdk/core/index.js'
import { booleanFlag } from '../helpers/ruleset.js'

const KEYS = ['a', 'bb', 'user-1', 'user-2', 'ünï', '\ud800x']

const serve: fc.Arbitrary<Serve> = fc.oneof(
  fc.integer({ min: 0, max: 1 }).map((variation) => ({ variation })),
  fc.integer({ min: 0, max: 100_000 }).map((w) => ({
    rollout: {
      weights: [
        { variation: 0, weight: w },
        { variation: 1, weight: 100_000 - w },
      ],
    },
  })),
)

const flagArb = (i: number): fc.Arbitrary<RulesetFlag> =>
  fc
    .record({
      on: fc.boolean(),
      offVariation: fc.constantFrom(0, 1, null),
      targets: fc.array(fc.record({ variation: fc.integer({ min: 0, max: 1 }), values: fc.subarray(KEYS) }), {
        maxLength: 2,
      }),
      fallthrough: serve,
      // What takes a flag off the specialised path: nothing (most), a rule, a prerequisite, another bucketBy.
      extra: fc.constantFrom('none', 'none', 'none', 'rule', 'prerequisite', 'bucketBy'),
      salt: fc.string({ maxLength: 6 }),
    })
    .map(({ extra, ...r }) => {
      const f = booleanFlag(`f${i}`, r)
      if (extra === 'rule')
        f.rules = [{ id: 'r', clauses: [{ attribute: 'plan', op: 'in', values: ['pro'] }], serve: { variation: 1 } }]
      if (extra === 'prerequisite' && i > 0) f.prerequisites = [{ flag: `f${i - 1}`, variation: 0 }]
      if (extra === 'bucketBy' && 'rollout' in f.fallthrough) f.fallthrough.rollout.bucketBy = 'id'
      return f
    })

const contextArb: fc.Arbitrary<Context> = fc.oneof(
  fc.record({
    key: fc.constantFrom(...KEYS, 'other'),
    plan: fc.constantFrom('pro', 'free'),
    id: fc.constantFrom('a', 'z'),
  }),
  fc.record({ targetingKey: fc.constantFrom(...KEYS) }),
  fc.constant({}),
  fc.constant({ key: '' }),
)

const defaultArb: fc.Arbitrary<JsonValue> = fc.constantFrom(false, true, null, 'x', 0)

t.test('simple flags: evaluate, evaluateCounted and evaluateAllValues answer as the general path', async () => {
  fc.assert(
    fc.property(
      fc.tuple(flagArb(0), flagArb(1), flagArb(2), flagArb(3)),
      fc.array(fc.tuple(contextArb, defaultArb), { minLength: 1, maxLength: 6 }),
      (list, calls) => {
        const flags = Object.fromEntries(list.map((f) => [f.key, f]))
        const c = compile({ specVersion: 1, environment: 'e', flags, segments: {} })
        const expectedCounts: Record<string, number[]> = {}
        for (const [ctx, def] of calls) {
          const all = evaluateAll(c, ctx)
          const values = evaluateAllValues(c, ctx)
          for (const f of list) {
            const d = evaluateDetail(c, f.key, ctx, def)
            if (evaluate(c, f.key, ctx, def) !== d.value || lastVariation() !== (d.variation ?? -1)) return false
            if (evaluateCounted(c, f.key, ctx, def) !== d.value) return false
            expectedCounts[f.key] ??= []
            const slots = expectedCounts[f.key]!
            const slot = (d.variation ?? -1) + 1
            slots[slot] = (slots[slot] ?? 0) + 1
            const n = evaluateDetail(c, f.key, ctx, null)
            if (JSON.stringify(all[f.key]) !== JSON.stringify(n) || values[f.key] !== n.value) return false
          }
        }
        const counts: Record<string, number[]> = {}
        takeCounts(c.flags.values(), counts)
        return JSON.stringify(counts) === JSON.stringify(expectedCounts)
      },
    ),
    { numRuns: 3000 },
  )
})

t.test('the shape that takes the specialised path', async (t) => {
  const c = compile({
    specVersion: 1,
    environment: 'e',
    segments: {},
    flags: {
      list: booleanFlag('list', { targets: [{ variation: 0, values: ['u1'] }], fallthrough: { variation: 1 } }),
      split: booleanFlag('split', {
        fallthrough: {
          rollout: {
            weights: [
              { variation: 0, weight: 50_000 },
              { variation: 1, weight: 50_000 },
            ],
          },
        },
      }),
      fixed: booleanFlag('fixed', { fallthrough: { variation: 0 } }),
      ruled: booleanFlag('ruled', {
        rules: [{ id: 'r', clauses: [{ attribute: 'plan', op: 'in', values: ['pro'] }], serve: { variation: 0 } }],
      }),
    },
  })
  t.equal(c.flags.get('list')?.simple, true, 'a whitelist')
  t.equal(c.flags.get('split')?.simple, true, 'a rollout by key')
  t.equal(c.flags.get('fixed')?.simple, false, 'constant flags have their own path')
  t.equal(c.flags.get('ruled')?.simple, false, 'rules take the general path')
  t.equal(evaluate(c, 'list', { key: 'u1' }, false), true)
  t.equal(evaluate(c, 'list', { key: 'u2' }, true), false)
  t.equal(evaluate(c, 'split', {}, 'no key'), 'no key', 'a rollout without a key serves the default')
  t.same(evaluateDetail(c, 'split', {}, false).reason, { kind: 'ERROR', errorKind: 'TARGETING_KEY_MISSING' })
})

t.test(
  'the bulk paths’ shared target index: keys in several flags, repeats in one, and too many to index',
  async (t) => {
    for (const n of [10, 20_000]) {
      // More than 16,384 target entries in all: no index, each flag looks the key up itself.
      const many = Array.from({ length: n }, (_, i) => `id-${i}`)
      const c = compile({
        specVersion: 1,
        environment: 'e',
        segments: {},
        flags: {
          a: booleanFlag('a', { targets: [{ variation: 0, values: ['k1', 'k2'] }], fallthrough: { variation: 1 } }),
          // A key listed twice in one flag (to the same variation: two would make the flag invalid).
          b: booleanFlag('b', {
            targets: [{ variation: 1, values: ['k1', 'k3', 'k1'] }],
            fallthrough: { variation: 0 },
          }),
          big: booleanFlag('big', { targets: [{ variation: 0, values: many }], fallthrough: { variation: 1 } }),
          gated: booleanFlag('gated', {
            prerequisites: [{ flag: 'a', variation: 0 }],
            targets: [{ variation: 1, values: ['k2'] }],
            fallthrough: { variation: 0 },
          }),
        },
      })
      for (const key of ['k1', 'k2', 'k3', 'id-3', 'id-19999', 'none']) {
        const all = evaluateAll(c, { key })
        const values = evaluateAllValues(c, { key })
        for (const f of ['a', 'b', 'big', 'gated']) {
          const alone = evaluateDetail(c, f, { key }, null)
          t.strictSame(all[f], alone, `${n} ids: ${f} for ${key} (evaluateAll)`)
          t.equal(values[f], alone.value, `${n} ids: ${f} for ${key} (evaluateAllValues)`)
        }
      }
      t.equal(evaluateAllValues(c, { key: 'k1' }).b, false, 'a key listed twice')
      t.equal(evaluateAllValues(c, { key: 'k1' }).a, true, 'and in another flag')
      t.equal(evaluateAllValues(c, { key: 'k2' }).gated, false, 'a target after a prerequisite that passes')
    }
  },
)
