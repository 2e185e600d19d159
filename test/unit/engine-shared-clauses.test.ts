// Shared clauses in the bulk paths: `evaluateAll` and `evaluateAllValues` test a clause that several rules of
// the flags map hold alike (same op, attribute, negation and values: `CompiledClause.id`) once per context
// (evaluate.ts `SharedClause`). Every flag must still answer exactly as `evaluateDetail` does alone (value,
// variation, reason), whatever the mix of shared and unshared clauses, segments (with rules), targets,
// prerequisites, negations, array attributes and attribute names found on Object.prototype; also when a
// context getter evaluates all flags again in the middle of a call, and when the flags change between calls.
import fc from 'fast-check'
import t from 'tap'
import {
  applyFlag,
  compile,
  evaluateAll,
  evaluateAllValues,
  evaluateDetail,
  type Clause,
  type Compiled,
  type Context,
  type Ruleset,
  type RulesetFlag,
  type Serve,
} from '../../sdk/core/index.js'
import { compileClause } from '../../sdk/core/operators.js'
import { createClient } from '../../sdk/index.js'
import { booleanFlag, split } from '../helpers/ruleset.js'

const CLAUSES: Clause[] = [
  { attribute: 'country', op: 'in', values: ['GB', 'FR'] },
  { attribute: 'country', op: 'in', values: ['GB', 'FR'], negate: true },
  { attribute: 'country', op: 'in', values: ['FR', 'GB'] }, // same set, other text: not shared, same answers
  { attribute: 'plan', op: 'in', values: ['pro'] },
  { attribute: 'key', op: 'inSegment', values: ['beta'] },
  { attribute: 'key', op: 'inSegment', values: ['ruled'] },
  { attribute: 'key', op: 'inSegment', values: ['beta'], negate: true },
  { attribute: 'email', op: 'endsWith', values: ['.com'] },
  { attribute: 'version', op: 'semVerGreaterThan', values: ['2.5.0'] },
  { attribute: 'tags', op: 'in', values: ['a'] },
  { attribute: 'toString', op: 'exists', values: [] },
  { attribute: 'constructor', op: 'in', values: ['x'] },
  { attribute: '__proto__', op: 'exists', values: [], negate: true },
  { attribute: 'key', op: 'startsWith', values: ['u'] },
]

const KEYS = ['u1', 'u2', 'v3', 'w4']

const SEGMENTS = {
  beta: { key: 'beta', included: ['u1', 'v3'], excluded: [], rules: [], salt: 'beta', version: 1 },
  // Members by a rule that itself holds a clause the flags share, and half of them by weight.
  ruled: {
    key: 'ruled',
    included: [],
    excluded: ['u2'],
    rules: [{ id: 'gb', clauses: [{ attribute: 'country', op: 'in', values: ['GB', 'FR'] }], weight: 50_000 }],
    salt: 'ruled',
    version: 1,
  },
}

const serveArb: fc.Arbitrary<Serve> = fc.oneof(
  fc.constantFrom({ variation: 0 }, { variation: 1 }),
  fc.integer({ min: 0, max: 100_000 }).map(split),
)

const flagArb = (i: number): fc.Arbitrary<RulesetFlag> =>
  fc
    .record({
      on: fc.constantFrom(true, true, true, false),
      rules: fc.array(
        fc.record({
          clauses: fc.array(fc.constantFrom(...CLAUSES), { minLength: 0, maxLength: 3 }),
          serve: serveArb,
        }),
        { minLength: 1, maxLength: 3 },
      ),
      targets: fc.constantFrom<RulesetFlag['targets']>([], [{ variation: 0, values: ['u2'] }]),
      prerequisite: fc.constantFrom(false, false, false, true),
      fallthrough: serveArb,
    })
    .map(({ rules, prerequisite, ...r }) =>
      booleanFlag(`f${i}`, {
        ...r,
        rules: rules.map((x, j) => ({ id: `r${j}`, ...x })),
        prerequisites: prerequisite && i > 0 ? [{ flag: `f${i - 1}`, variation: 0 }] : [],
      }),
    )

const contextArb: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    key: fc.constantFrom(...KEYS),
    country: fc.constantFrom('GB', 'FR', 'DE'),
    plan: fc.constantFrom('pro', 'free'),
    email: fc.constantFrom('a@b.com', 'a@b.org'),
    version: fc.constantFrom('2.4.0', '2.6.1', 'nope'),
    tags: fc.constantFrom(['a', 'b'], ['c'], []),
    toString: fc.constant('own'),
  },
  { requiredKeys: ['key'] },
)

function flagsOf(list: RulesetFlag[]): Record<string, RulesetFlag> {
  return Object.fromEntries(list.map((f) => [f.key, f]))
}

function rulesetOf(flags: Record<string, RulesetFlag>): Ruleset {
  return { specVersion: 1, environment: 'e', flags, segments: SEGMENTS } as Ruleset
}

/** Whether every flag of the bulk paths (evaluateAll whole and filtered) answers `ctx` as evaluateDetail does alone. */
function sameAsAlone(c: Compiled, ctx: Context): boolean {
  const all = evaluateAll(c, ctx)
  const values = evaluateAllValues(c, ctx)
  // Every other flag, as the server's client-side filter keeps some: a filtered call shares clauses too.
  let n = 0
  const some = evaluateAll(c, ctx, () => n++ % 2 === 0)
  let i = 0
  for (const k of c.flags.keys()) {
    const alone = evaluateDetail(c, k, ctx, null)
    if (JSON.stringify(all[k]) !== JSON.stringify(alone)) return false
    if (values[k] !== alone.value) return false
    if (JSON.stringify(some[k]) !== (i++ % 2 === 0 ? JSON.stringify(alone) : undefined)) return false
  }
  return Object.keys(some).length === Math.ceil(c.flags.size / 2)
}

t.test('every flag of the bulk paths answers as evaluateDetail alone, clauses shared or not', async () => {
  fc.assert(
    fc.property(
      fc.tuple(flagArb(0), flagArb(1), flagArb(2), flagArb(3), flagArb(4), flagArb(5)),
      fc.array(contextArb, { minLength: 1, maxLength: 4 }),
      (list, contexts) => {
        const c = compile(rulesetOf(flagsOf(list)))
        return contexts.every((ctx) => sameAsAlone(c, ctx as Context))
      },
    ),
    { numRuns: 1500 },
  )
})

/** A context that counts how often each of its attributes is read. */
function counting(values: Record<string, unknown>): { ctx: Context; reads: Record<string, number> } {
  const reads: Record<string, number> = {}
  const ctx: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(values))
    Object.defineProperty(ctx, k, {
      enumerable: true,
      get() {
        reads[k] = (reads[k] ?? 0) + 1
        return v
      },
    })
  return { ctx: ctx as Context, reads }
}

t.test(
  'a clause ten flags share is tested once per context; one only a single rule holds, once per flag',
  async (t) => {
    const flags: Record<string, RulesetFlag> = {}
    for (let i = 0; i < 10; i++)
      flags[`s${i}`] = booleanFlag(`s${i}`, {
        rules: [{ id: 'r', clauses: [{ attribute: 'country', op: 'in', values: ['GB'] }], serve: { variation: 0 } }],
      })
    for (let i = 0; i < 3; i++)
      flags[`u${i}`] = booleanFlag(`u${i}`, {
        rules: [{ id: 'r', clauses: [{ attribute: 'plan', op: 'in', values: [`p${i}`] }], serve: { variation: 0 } }],
      })
    const c = compile(rulesetOf(flags))
    for (const bulk of [evaluateAllValues, evaluateAll]) {
      const { ctx, reads } = counting({ key: 'u1', country: 'GB', plan: 'p1' })
      bulk(c, ctx)
      t.equal(reads.country, 1, `${bulk.name}: "country" read once for the ten flags`)
      t.equal(reads.plan, 3, `${bulk.name}: "plan" read by each of its three different clauses`)
      t.equal(reads.key, 1, `${bulk.name}: the key read once`)
    }
    const values = evaluateAllValues(c, { key: 'u1', country: 'GB', plan: 'p1' })
    t.same(Object.values(values), [...Array(10).fill(true), false, true, false])
    // Each call tests the clause again: the next context gets its own answer.
    t.same(Object.values(evaluateAllValues(c, { key: 'u1', country: 'FR' })), Array(13).fill(false))
    // Without a context key (read once, as null), the clauses are still shared and still right.
    const noKey = counting({ country: 'GB' })
    t.same(Object.values(evaluateAllValues(c, noKey.ctx)).slice(0, 10), Array(10).fill(true))
    t.equal(noKey.reads.country, 1)
  },
)

t.test('re-entrancy: a context getter that evaluates all flags for another context', async (t) => {
  const list: RulesetFlag[] = []
  for (let i = 0; i < 6; i++)
    list.push(
      booleanFlag(`f${i}`, {
        rules: [
          {
            id: 'r',
            clauses: [
              { attribute: 'country', op: 'in', values: ['GB'] },
              { attribute: 'key', op: 'inSegment', values: ['beta'] },
            ],
            serve: { variation: 0 },
          },
        ],
      }),
    )
  const c = compile(rulesetOf(flagsOf(list)))
  // Passes the first clause and fails the second (w4 is not in beta): the inner call leaves both cells
  // stamped with answers the outer context must not get.
  const plainInner = { key: 'w4', country: 'GB' }
  const expectedInner = evaluateAllValues(c, plainInner)
  for (const bulk of [evaluateAllValues, evaluateAll]) {
    const inner: unknown[] = []
    // The getter runs in the middle of the outer call (the first flag's first clause), and the inner call
    // evaluates the same shared clauses for a context that answers them the other way.
    const ctx = {
      key: 'u1',
      get country() {
        inner.push(bulk(c, plainInner))
        return 'GB'
      },
    }
    const got = bulk(c, ctx)
    t.same(got, bulk(c, { key: 'u1', country: 'GB' }), `${bulk.name}: the outer call answers as without the getter`)
    t.equal(inner.length, 1, 'the getter ran once (the clause is shared)')
    t.same(inner[0], bulk(c, plainInner), `${bulk.name}: the inner call answered its own context`)
  }
  // A filter (called between flags) that evaluates all flags for the other context.
  let innerCalls = 0
  const filtered = evaluateAll(c, { key: 'u1', country: 'GB' }, (f) => {
    innerCalls += Object.values(evaluateAll(c, plainInner)).every((d) => d.value === false) ? 1 : 0
    return f.key !== 'f0'
  })
  t.equal(innerCalls, 6, 'each inner call answered its own context')
  t.same(Object.keys(filtered), ['f1', 'f2', 'f3', 'f4', 'f5'])
  t.ok(
    Object.values(filtered).every((d) => d.value === true && d.reason.kind === 'RULE_MATCH'),
    'filtered: each kept flag answers as without the filter',
  )
  t.same(Object.values(evaluateAllValues(c, { key: 'u1', country: 'GB' })), Array(6).fill(true))
  t.same(Object.values(expectedInner), Array(6).fill(false))

  // Through the client's allFlags, the same.
  const client = createClient({
    url: 'http://127.0.0.1:9',
    token: 'test',
    bootstrap: rulesetOf(flagsOf(list)),
    logger: {},
    sendMetrics: false,
    fetch: () => new Promise<Response>(() => {}),
    timers: { setTimeout: () => 0, clearTimeout: () => {} },
  })
  t.teardown(() => client.close())
  let innerAll: unknown = null
  const outer = client.allFlags({
    key: 'u1',
    get country() {
      innerAll = client.allFlags(plainInner)
      return 'GB'
    },
  })
  t.same(outer, client.allFlags({ key: 'u1', country: 'GB' }), 'allFlags: outer answers as without the getter')
  t.same(innerAll, expectedInner, 'allFlags: the inner call answered its own context')
})

t.test('flags changing between calls: old and new flags maps, interleaved, each answers as alone', async (t) => {
  const clause = { attribute: 'plan', op: 'in', values: ['pro'] } as Clause
  const list = [0, 1, 2].map((i) =>
    booleanFlag(`f${i}`, { rules: [{ id: 'r', clauses: [clause], serve: { variation: 0 } }] }),
  )
  const before = compile(rulesetOf(flagsOf(list)))
  // f1 now tests another plan (it no longer shares the clause); f3 joins the sharers.
  let after = applyFlag(
    before,
    booleanFlag('f1', {
      version: 2,
      rules: [{ id: 'r', clauses: [{ ...clause, values: ['team'] }], serve: { variation: 0 } }],
    }),
  )
  after = applyFlag(after, booleanFlag('f3', { rules: [{ id: 'r', clauses: [clause], serve: { variation: 0 } }] }))
  const contexts: Context[] = [
    { key: 'a', plan: 'pro' },
    { key: 'b', plan: 'team' },
    { key: 'c', plan: 'free' },
  ]
  for (let round = 0; round < 3; round++)
    for (const ctx of contexts) {
      t.ok(sameAsAlone(before, ctx), `before, ${JSON.stringify(ctx)}`)
      t.ok(sameAsAlone(after, ctx), `after, ${JSON.stringify(ctx)}`)
    }
  t.same(evaluateAllValues(before, { key: 'a', plan: 'pro' }), { f0: true, f1: true, f2: true })
  t.same(evaluateAllValues(after, { key: 'a', plan: 'pro' }), { f0: true, f1: false, f2: true, f3: true })
  t.same(evaluateAllValues(after, { key: 'b', plan: 'team' }), { f0: false, f1: true, f2: false, f3: false })
})

t.test('attribute names of Object.prototype, a "__proto__" flag, and a getter that throws', async (t) => {
  const flags: Record<string, RulesetFlag> = {}
  const add = (key: string, clauses: Clause[]) => {
    Object.defineProperty(flags, key, {
      value: booleanFlag(key, { rules: [{ id: 'r', clauses, serve: { variation: 0 } }] }),
      enumerable: true,
    })
  }
  add('__proto__', [{ attribute: 'toString', op: 'exists', values: [] }])
  add('a', [{ attribute: 'toString', op: 'exists', values: [] }])
  add('b', [{ attribute: 'constructor', op: 'exists', values: [] }])
  add('c', [{ attribute: 'constructor', op: 'exists', values: [] }])
  add('d', [{ attribute: 'plan', op: 'in', values: ['pro'] }])
  add('e', [{ attribute: 'plan', op: 'in', values: ['pro'] }])
  const c = compile(rulesetOf(flags))
  const inherited = evaluateAllValues(c, { key: 'k' })
  t.ok(Object.hasOwn(inherited, '__proto__'), '"__proto__" is an own key of the result')
  t.equal(Object.getPrototypeOf(inherited), Object.prototype)
  t.same(
    Object.values(inherited),
    Array(6).fill(false),
    'toString and constructor of Object.prototype are not the context',
  )
  const own = { key: 'k', plan: 'pro' } as Record<string, unknown>
  Object.defineProperty(own, 'toString', { value: 'mine', enumerable: true })
  t.same(Object.values(evaluateAllValues(c, own as Context)), [true, true, false, false, true, true])
  t.ok(sameAsAlone(c, own as Context))
  // A getter that throws fails the flags that read it (null), each as alone; the others still answer.
  const throwing = Object.defineProperty({ key: 'k' }, 'plan', {
    enumerable: true,
    get() {
      throw new Error('no plan')
    },
  }) as Context
  t.ok(sameAsAlone(c, throwing))
  const values = evaluateAllValues(c, throwing)
  t.same([values.d, values.e], [null, null])
  t.equal(evaluateAll(c, throwing).d?.reason.kind, 'ERROR')
})

t.test('a clause id stands for what the clause tests: values JSON would print as others make none', async (t) => {
  const id = (values: unknown[], over: Partial<Clause> = {}) =>
    compileClause({ attribute: 'a', op: 'in', values: values as Clause['values'], ...over }, true).id
  t.not(id(['x', 1, true, null]), '', 'strings, finite numbers, booleans and null')
  t.equal(id(['x']), id(['x']))
  t.not(id(['x']), id(['x'], { negate: true }), 'negation is part of it')
  t.not(id(['x']), id(['x'], { attribute: 'b' }), 'so is the attribute')
  t.not(id(['x']), id(['x'], { op: 'startsWith' }), 'and the op')
  t.not(id(['1']), id([1]), '"1" is not 1')
  for (const odd of [Number.NaN, Number.POSITIVE_INFINITY, new Date(0), { a: 1 }, undefined])
    t.equal(id(['x', odd]), '', `never shared with ${String(odd)} among the values`)
  t.equal(id(['x'.repeat(600)]), '', 'nor when longer than 512 characters')
  t.equal(id(Array.from({ length: 300 }, (_, i) => i)), '', 'nor with 300 values')
  t.equal(compileClause({ attribute: 'a', op: 'in', values: ['x'] }, false).id, '', 'nor when invalid')
})
