// The engine's dependency index (sdk/core/dependents.ts): what a change affects, kept in `Compiled`
// by compile/apply/remove, checked against a brute-force walk of the raw flags and segments.
import t from 'tap'
import fc from 'fast-check'
import {
  affectedFlags,
  applyFlag,
  applySegment,
  applySegmentDelta,
  clauseSegments,
  compile,
  evaluate,
  flagsUsing,
  removeFlag,
  removeSegment,
  type Compiled,
  type Ruleset,
  type RulesetFlag,
  type Segment,
} from '../../sdk/core/index.js'
import { booleanFlag } from '../helpers/ruleset.js'

function segment(key: string, over: Partial<Segment> = {}): Segment {
  return { key, included: [], excluded: [], rules: [], salt: key, version: 1, ...over }
}

/** A flag with `prereqs` as prerequisites (variation 0) and one rule per segment it tests. */
function flag(key: string, prereqs: string[] = [], segs: string[] = [], over: Partial<RulesetFlag> = {}): RulesetFlag {
  return booleanFlag(key, {
    prerequisites: prereqs.map((p) => ({ flag: p, variation: 0 })),
    rules: segs.map((s, i) => ({
      id: `r${i}`,
      clauses: [{ attribute: 'key', op: 'inSegment', values: [s] }],
      serve: { variation: 0 },
    })),
    ...over,
  })
}

/** A segment whose rules test `segs`. */
function nested(key: string, segs: string[]): Segment {
  return segment(key, {
    rules: segs.map((s, i) => ({ id: `r${i}`, clauses: [{ attribute: 'key', op: 'inSegment', values: [s] }] })),
  })
}

function ruleset(flags: RulesetFlag[], segments: Segment[] = []): Ruleset {
  return {
    specVersion: 1,
    environment: 'test',
    flags: Object.fromEntries(flags.map((f) => [f.key, f])),
    segments: Object.fromEntries(segments.map((s) => [s.key, s])),
  }
}

const sorted = (keys: string[]) => [...keys].sort()

t.test('prerequisites: a flag affects itself and every flag depending on it, transitively', async (t) => {
  // c → b → a, d → a, e unrelated, f → c (chain of three)
  const c = compile(
    ruleset([flag('a'), flag('b', ['a']), flag('c', ['b']), flag('d', ['a']), flag('e'), flag('f', ['c'])]),
  )
  t.same(sorted(affectedFlags(c, ['a'])), ['a', 'b', 'c', 'd', 'f'])
  t.same(sorted(affectedFlags(c, ['b'])), ['b', 'c', 'f'])
  t.same(affectedFlags(c, ['e']), ['e'])
  t.same(affectedFlags(c, ['a'])[0], 'a', 'the keys given come first')
  t.same(affectedFlags(c, ['missing']), ['missing'], 'a key given is named even when no flag has it (a delete)')
  t.same(sorted(affectedFlags(c, ['b', 'd', 'b'])), ['b', 'c', 'd', 'f'], 'each key once')
  t.same(affectedFlags(c, []), [])
})

t.test('cycles (refused by the server, possible in SDK data) end the walk', async (t) => {
  const c = compile(
    ruleset(
      [flag('a', ['b']), flag('b', ['a']), flag('self', ['self']), flag('x', ['a']), flag('f', [], ['s1'])],
      [nested('s1', ['s2']), nested('s2', ['s1']), nested('s3', ['s3'])],
    ),
  )
  t.same(sorted(affectedFlags(c, ['a'])), ['a', 'b', 'x'])
  t.same(affectedFlags(c, ['self']), ['self'])
  t.same(affectedFlags(c, [], ['s2']), ['f'], 'through the segment cycle')
  t.same(affectedFlags(c, [], ['s3']), [], 'a segment testing itself, used by no flag')
  t.equal(evaluate(c, 'a', { key: 'u' }, 'd'), 'd', 'evaluation unchanged: a cycle serves the default')
})

t.test('segments: the flags testing them, through segments that test them, and their dependents', async (t) => {
  const c = compile(
    ruleset(
      [
        flag('direct', [], ['beta']),
        flag('via', [], ['outer']),
        flag('gated', ['direct']),
        flag('other', [], ['gamma']),
        flag('both', [], ['beta', 'gamma']),
      ],
      [segment('beta'), nested('outer', ['beta']), segment('gamma')],
    ),
  )
  t.same(sorted(affectedFlags(c, [], ['beta'])), ['both', 'direct', 'gated', 'via'])
  t.same(sorted(affectedFlags(c, [], ['outer'])), ['via'])
  t.same(sorted(affectedFlags(c, [], ['gamma'])), ['both', 'other'])
  t.same(sorted(affectedFlags(c, ['other'], ['outer'])), ['other', 'via'])
  t.same(affectedFlags(c, [], ['nobody-uses-it']), [])
})

t.test('references count before the item they name exists, and from broken flags', async (t) => {
  let c = compile(ruleset([flag('early', [], ['later']), flag('orphan', ['not-yet'])]))
  t.same(affectedFlags(c, [], ['later']), ['early'])
  c = applySegment(c, segment('later', { included: ['u'] }))
  t.same(affectedFlags(c, [], ['later']), ['early'])
  t.equal(evaluate(c, 'early', { key: 'u' }, false), true)
  t.same(sorted(affectedFlags(c, ['not-yet'])), ['not-yet', 'orphan'])
  // Invalid (a rule serving a variation that does not exist): it evaluates to PARSE_ERROR, yet it names its references.
  const broken = flag('broken', ['early'], ['later'], { fallthrough: { variation: 7 } })
  c = applyFlag(c, broken)
  t.equal(evaluate(c, 'broken', { key: 'u' }, 'd'), 'd')
  t.same(sorted(affectedFlags(c, ['early'])), ['broken', 'early'])
  t.same(sorted(affectedFlags(c, [], ['later'])), ['broken', 'early'])
})

t.test('updates and removals move the edges; the previous Compiled keeps its index', async (t) => {
  const c1 = compile(
    ruleset([flag('a'), flag('b', ['a']), flag('c', ['b'], ['s'])], [segment('s'), nested('t', ['s'])]),
  )
  const c2 = applyFlag(c1, flag('b'))
  t.same(affectedFlags(c2, ['a']), ['a'], 'b no longer depends on a')
  t.same(sorted(affectedFlags(c1, ['a'])), ['a', 'b', 'c'], 'old Compiled unchanged')
  const c3 = removeFlag(c2, 'c')
  t.same(affectedFlags(c3, ['b']), ['b'], 'a removed flag depends on nothing')
  t.same(affectedFlags(c3, [], ['s']), [])
  t.same(sorted(affectedFlags(c2, [], ['s'])), ['c'])
  // A flag listing a removed flag keeps the edge: it depends on it again when it comes back.
  const c4 = removeFlag(c1, 'a')
  t.same(sorted(affectedFlags(c4, ['a'])), ['a', 'b', 'c'])
  // Segments: `t` tests `s`; a flag on `t` is affected by `s` until `t` is removed or stops testing it.
  const c5 = applyFlag(c1, flag('on-t', [], ['t']))
  t.same(sorted(affectedFlags(c5, [], ['s'])), ['c', 'on-t'])
  t.same(sorted(affectedFlags(applySegment(c5, segment('t')), [], ['s'])), ['c'])
  t.same(sorted(affectedFlags(removeSegment(c5, 't'), [], ['s'])), ['c'])
  t.same(sorted(affectedFlags(removeSegment(c5, 's'), [], ['s'])), ['c', 'on-t'], 'edges into a removed segment stay')
  t.same(sorted(affectedFlags(c5, [], ['s'])), ['c', 'on-t'], 'old Compiled unchanged')
})

t.test('hot paths: the index is shared, not copied, when references do not change', async (t) => {
  const ids = Array.from({ length: 10_000 }, (_, i) => `m-${i}`)
  const c1 = compile(ruleset([flag('a'), flag('b', ['a'], ['big'])], [segment('big', { included: ids })]))
  const c2 = applySegmentDelta(c1, { key: 'big', list: 'included', add: ['new'], remove: ['m-1'], version: 2 })
  t.equal(c2.dependents, c1.dependents, 'a membership delta leaves the index as it is')
  const c3 = applyFlag(c2, flag('b', ['a'], ['big'], { on: false, version: 2 }))
  t.equal(c3.dependents, c2.dependents, 'a flag edit with the same references too')
  const c4 = applySegment(
    c3,
    segment('big', { version: 3, rules: [{ id: 'r', clauses: [{ attribute: 'country', op: 'in', values: ['GB'] }] }] }),
  )
  t.equal(c4.dependents, c3.dependents, 'a segment edit without segment references too')
  t.not(applyFlag(c4, flag('b', [], ['big'])).dependents, c4.dependents, 'a changed reference makes a new index')
})

t.test('malformed wire data names what it can and never throws', async (t) => {
  const flags = {
    bad: {
      key: 'bad',
      prerequisites: 'nope',
      rules: [null, 7, { clauses: 'x' }, { clauses: [null, { op: 'inSegment', values: 'beta' }] }],
    },
    odd: {
      key: 'odd',
      prerequisites: [null, { flag: 5 }, { flag: 'a' }],
      rules: [{ clauses: [{ op: 'inSegment', values: [1, null, 'beta', 'beta'] }] }],
    },
    num: 5,
    a: flag('a'),
  } as unknown as Record<string, RulesetFlag>
  const segments = {
    s: { key: 's', rules: [{ clauses: [{ op: 'inSegment', values: ['beta', {}] }] }, 'x'] },
  } as unknown as Record<string, Segment>
  let c: Compiled | undefined
  t.doesNotThrow(() => (c = compile({ specVersion: 1, environment: 'x', flags, segments })))
  t.same(sorted(affectedFlags(c!, ['a'])), ['a', 'odd'])
  t.same(affectedFlags(c!, [], ['beta']), ['odd'])
  t.same(affectedFlags(c!, [], ['s']), [])
  t.same(
    clauseSegments([
      { op: 'inSegment', values: ['x', 2, 'y', 'x'] },
      { op: 'in', values: ['z'] },
    ]),
    ['x', 'y', 'x'],
    'each occurrence, in order',
  )
  t.same(clauseSegments('nope'), [])
})

t.test('flagsUsing: direct users of a flag or a segment (what the server refuses to delete)', async (t) => {
  const flags = [flag('a'), flag('b', ['a']), flag('c', ['b'], ['s']), flag('d', [], ['t', 's'])]
  t.same(flagsUsing(flags, { flag: 'a' }), ['b'])
  t.same(flagsUsing(flags, { flag: 'c' }), [])
  t.same(flagsUsing(flags, { segment: 's' }), ['c', 'd'])
  t.same(flagsUsing(flags, { segment: 'a' }), [], 'a flag key is not a segment key')
})

// --- property: the incremental index against a brute-force walk --------------------------------

const FLAGS = ['f0', 'f1', 'f2', 'f3', 'f4', 'f5']
const SEGS = ['s0', 's1', 's2', 's3']

type Op =
  | { op: 'flag'; key: string; prereqs: string[]; segs: string[]; broken: boolean }
  | { op: 'removeFlag'; key: string }
  | { op: 'segment'; key: string; segs: string[]; members: boolean }
  | { op: 'removeSegment'; key: string }
  | { op: 'delta'; key: string; version: number }

const sub = (keys: string[]) => fc.subarray(keys)
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('flag' as const),
    key: fc.constantFrom(...FLAGS),
    prereqs: sub(FLAGS),
    segs: sub(SEGS),
    broken: fc.boolean(),
  }),
  fc.record({ op: fc.constant('removeFlag' as const), key: fc.constantFrom(...FLAGS) }),
  fc.record({
    op: fc.constant('segment' as const),
    key: fc.constantFrom(...SEGS),
    segs: sub(SEGS),
    members: fc.boolean(),
  }),
  fc.record({ op: fc.constant('removeSegment' as const), key: fc.constantFrom(...SEGS) }),
  fc.record({
    op: fc.constant('delta' as const),
    key: fc.constantFrom(...SEGS),
    version: fc.integer({ min: 0, max: 5 }),
  }),
)

/** What the SDK did before the index: fixpoints over the raw items (rules-store.ts withDependents / flagsUsingSegments). */
function bruteForce(
  flags: Map<string, RulesetFlag>,
  segments: Map<string, Segment>,
  keys: string[],
  segKeys: string[],
): Set<string> {
  const segRefs = (rules: { clauses: { op: string; values: unknown[] }[] }[]) =>
    new Set(
      rules.flatMap((r) =>
        r.clauses
          .filter((c) => c.op === 'inSegment')
          .flatMap((c) => c.values.filter((v): v is string => typeof v === 'string')),
      ),
    )
  const segsAffected = new Set(segKeys)
  for (let grew = true; grew; ) {
    grew = false
    for (const [k, s] of segments) {
      if (!segsAffected.has(k) && [...segRefs(s.rules)].some((r) => segsAffected.has(r))) {
        segsAffected.add(k)
        grew = true
      }
    }
  }
  const out = new Set(keys)
  for (const [k, f] of flags) if ([...segRefs(f.rules)].some((r) => segsAffected.has(r))) out.add(k)
  for (let grew = true; grew; ) {
    grew = false
    for (const [k, f] of flags) {
      if (!out.has(k) && f.prerequisites.some((p) => out.has(p.flag))) {
        out.add(k)
        grew = true
      }
    }
  }
  return out
}

t.test(
  'property: after any sequence of changes the index answers as a brute-force walk and as a fresh compile',
  async (t) => {
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 30 }),
        fc.subarray(FLAGS, { maxLength: 2 }),
        fc.subarray(SEGS, { maxLength: 2 }),
        (ops, keys, segKeys) => {
          let c = compile(ruleset([]))
          const flags = new Map<string, RulesetFlag>()
          const segments = new Map<string, Segment>()
          for (const o of ops) {
            if (o.op === 'flag') {
              const f = flag(o.key, o.prereqs, o.segs, o.broken ? { fallthrough: { variation: 9 } } : {})
              flags.set(o.key, f)
              c = applyFlag(c, f)
            } else if (o.op === 'removeFlag') {
              flags.delete(o.key)
              c = removeFlag(c, o.key)
            } else if (o.op === 'segment') {
              const s = nested(o.key, o.segs)
              segments.set(o.key, s)
              // Without member lists, as the stream sends metadata-only patches.
              c = applySegment(c, o.members ? s : { key: s.key, rules: s.rules, salt: s.salt, version: s.version })
            } else if (o.op === 'removeSegment') {
              segments.delete(o.key)
              c = removeSegment(c, o.key)
            } else {
              c = applySegmentDelta(c, { key: o.key, list: 'included', add: ['x'], remove: [], version: o.version })
            }
            const want = bruteForce(flags, segments, keys, segKeys)
            const got = affectedFlags(c, keys, segKeys)
            if (got.length !== want.size || !got.every((k) => want.has(k))) return false
          }
          // The same ruleset compiled from scratch has the same edges.
          const fresh = compile(ruleset([...flags.values()], [...segments.values()]))
          for (const m of ['prerequisiteOf', 'flagsTesting', 'segmentsTesting'] as const) {
            const norm = (x: ReadonlyMap<string, readonly string[]>) =>
              JSON.stringify([...x].map(([k, l]) => [k, [...l].sort()]).sort())
            if (norm(fresh.dependents[m]) !== norm(c.dependents[m])) return false
          }
          return true
        },
      ),
      { numRuns: 500 },
    )
    t.pass('500 random sequences agreed')
  },
)
