// The engine's specialised paths against its general one. A flag that is on, with no prerequisites or
// rules (`CompiledFlag.simple`: targets, then a fixed fallthrough or a rollout by key) is served by
// `evaluate`, `evaluateCounted` and `evaluateAllValues` without the general path; `evaluateDetail` always
// takes the general path (it needs the reason). Random flags of that shape and of the shapes next to it
// (a rule, a prerequisite, a rollout by another attribute, off) must answer the same through every entry:
// value, variation, and the count `evaluateCounted` records; reasons through `evaluateAll` and alone.
import fc from 'fast-check'
import t from 'tap'
import {
  applyFlag,
  applySegment,
  compile,
  evaluate,
  evaluateAll,
  evaluateAllValues,
  evaluateCounted,
  evaluateDetail,
  lastVariation,
  removeFlag,
  takeCounts,
  type Context,
  type JsonValue,
  type RulesetFlag,
  type Serve,
} from '../../sdk/core/index.js'
import { booleanFlag, split } from '../helpers/ruleset.js'

const KEYS = ['a', 'bb', 'user-1', 'user-2', 'ünï', '\ud800x']

const serve: fc.Arbitrary<Serve> = fc.oneof(
  fc.integer({ min: 0, max: 1 }).map((variation) => ({ variation })),
  fc.integer({ min: 0, max: 100_000 }).map(split),
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

t.test('targets serve their variation, whether they serve one (a Set of keys) or several (a map)', async () => {
  const targetsArb = fc.array(fc.record({ variation: fc.integer({ min: 0, max: 2 }), values: fc.subarray(KEYS) }), {
    maxLength: 3,
  })
  fc.assert(
    fc.property(targetsArb, fc.constantFrom(...KEYS, 'other'), (targets, key) => {
      const f: RulesetFlag = {
        ...booleanFlag('m', { targets, fallthrough: { variation: 1 } }),
        kind: 'string',
        variations: ['x', 'y', 'z'],
      }
      const c = compile({ specVersion: 1, environment: 'e', flags: { m: f }, segments: {} })
      // A key targeted to two variations makes the flag invalid (DUPLICATE_TARGET): it serves the default.
      if (c.flags.get('m')?.broken) return evaluate(c, 'm', { key }, 'd') === 'd'
      const hit = targets.find((tg) => tg.values.includes(key))
      const want = hit === undefined ? 1 : hit.variation
      const ctx = { key }
      const d = evaluateDetail(c, 'm', ctx, 'd')
      const reason = hit === undefined ? 'FALLTHROUGH' : 'TARGET_MATCH'
      return (
        evaluate(c, 'm', ctx, 'd') === f.variations[want] &&
        lastVariation() === want &&
        evaluateCounted(c, 'm', ctx, 'd') === f.variations[want] &&
        d.variation === want &&
        d.reason.kind === reason &&
        evaluateAll(c, ctx).m?.reason.kind === reason &&
        evaluateAllValues(c, ctx).m === f.variations[want]
      )
    }),
    { numRuns: 2000 },
  )
})

t.test('targets serving one variation are kept as a Set of keys, several as a key → variation map', async (t) => {
  const c = compile({
    specVersion: 1,
    environment: 'e',
    segments: {},
    flags: {
      one: booleanFlag('one', {
        targets: [
          { variation: 1, values: [] },
          { variation: 0, values: ['a', 'b'] },
          { variation: 0, values: ['b', 'c'] },
        ],
      }),
      two: booleanFlag('two', {
        targets: [
          { variation: 0, values: ['a', 'a'] },
          { variation: 1, values: ['b'] },
        ],
        fallthrough: { variation: 0 },
      }),
      none: booleanFlag('none', { targets: [{ variation: 0, values: [] }], fallthrough: { variation: 0 } }),
    },
  })
  const one = c.flags.get('one')
  t.same([...(one?.targetKeys ?? [])], ['a', 'b', 'c'], 'an empty target does not count as another variation')
  t.equal(one?.targetVariation, 0)
  t.equal(one?.targets, null)
  const two = c.flags.get('two')
  t.equal(two?.targetKeys, null)
  t.same(
    [...(two?.targets ?? [])],
    [
      ['a', 0],
      ['b', 1],
    ],
  )
  t.equal(evaluate(c, 'two', { key: 'b' }, null), false)
  t.equal(evaluate(c, 'two', { key: 'c' }, null), true, 'the fallthrough')
  t.equal(c.flags.get('none')?.constant, true, 'targets without keys leave a flag constant')
})

t.test('the flag looked up last is answered from its Compiled only', async (t) => {
  const on = (key: string) => booleanFlag(key, { fallthrough: { variation: 0 } })
  const c1 = compile({ specVersion: 1, environment: 'e', segments: {}, flags: { a: on('a'), b: on('b'), '': on('') } })
  t.equal(evaluate(c1, '', {}, null), true, 'a flag keyed "" is found on the first lookup')
  t.equal(evaluate(c1, 'a', {}, null), true)
  t.equal(evaluate(c1, 'a', {}, null), true, 'asked twice')
  t.equal(evaluate(c1, 'missing', {}, 'd'), 'd')
  t.equal(evaluate(c1, 'missing', {}, 'd'), 'd', 'a missing flag, asked twice')
  const c2 = applyFlag(c1, booleanFlag('a', { on: false }))
  t.equal(evaluate(c2, 'a', {}, null), false, 'the changed flag, right after the old one was asked')
  t.equal(evaluate(c1, 'a', {}, null), true, 'the old Compiled keeps its flag')
  const c3 = applySegment(c2, { key: 's', included: ['u'], excluded: [], rules: [], salt: 's', version: 1 })
  t.equal(evaluate(c3, 'a', {}, null), false, 'a Compiled sharing the flags map')
  const c4 = removeFlag(c3, 'a')
  t.equal(evaluate(c4, 'a', {}, 'gone'), 'gone', 'removed')
  t.equal(evaluateCounted(c4, 'a', {}, 'gone'), undefined)
  t.equal(evaluateCounted(c3, 'a', {}, true), false)
  t.equal(evaluateDetail(c4, 'b', {}, null).value, true)
})

t.test('a simple flag whose context key throws when read serves the default, as the general path does', async (t) => {
  const throwing = new Proxy(
    {},
    {
      get: () => {
        throw new Error('boom')
      },
    },
  )
  const c = compile({
    specVersion: 1,
    environment: 'e',
    segments: {},
    flags: { w: booleanFlag('w', { targets: [{ variation: 0, values: ['u'] }], fallthrough: { variation: 1 } }) },
  })
  t.equal(c.flags.get('w')?.simple, true)
  t.equal(evaluate(c, 'w', throwing, 'd' as never), 'd')
  t.equal(evaluateCounted(c, 'w', throwing, 'd' as never), 'd')
  t.same(evaluateDetail(c, 'w', throwing, null).reason, { kind: 'ERROR', errorKind: 'GENERAL' })
  t.equal(evaluateAllValues(c, throwing).w, null)
  const counts: Record<string, number[]> = {}
  takeCounts(c.flags.values(), counts)
  t.same(counts, { w: [1] }, 'counted as the default')
})
