// Engine behaviour not covered by the JSON vectors: incremental updates, the 1M-id
// segment, IdSet against a Set model, semver order, reasons mapping, evaluateAll.
import t from 'tap'
import fc from 'fast-check'
import {
  applyFlag,
  applySegment,
  applySegmentDelta,
  compareSemVer,
  compile,
  compileIssues,
  evaluate,
  evaluateAll,
  evaluateDetail,
  IdSet,
  parseSemVer,
  removeFlag,
  removeSegment,
  toOpenFeatureReason,
  type Ruleset,
  type RulesetFlag,
  type Segment,
} from '../../sdk/core/index.js'

function flag(key: string, over: Partial<RulesetFlag> = {}): RulesetFlag {
  return {
    key,
    kind: 'boolean',
    variations: [true, false],
    salt: key,
    on: true,
    offVariation: 1,
    prerequisites: [],
    targets: [],
    rules: [],
    fallthrough: { variation: 1 },
    version: 1,
    ...over,
  }
}

function segment(key: string, included: string[], over: Partial<Segment> = {}): Segment {
  return { key, included, excluded: [], rules: [], salt: key, version: 1, ...over }
}

const inSeg = (seg: string): Partial<RulesetFlag> => ({
  rules: [{ id: 'seg', clauses: [{ attribute: 'key', op: 'inSegment', values: [seg] }], serve: { variation: 0 } }],
})

function ruleset(flags: RulesetFlag[], segments: Segment[] = []): Ruleset {
  return {
    specVersion: 1,
    environment: 'test',
    flags: Object.fromEntries(flags.map((f) => [f.key, f])),
    segments: Object.fromEntries(segments.map((s) => [s.key, s])),
  }
}

t.test('applyFlag / removeFlag are incremental and leave the old Compiled intact', async (t) => {
  const c1 = compile(ruleset([flag('a'), flag('b')], [segment('s', ['x'])]))
  const c2 = applyFlag(c1, flag('a', { fallthrough: { variation: 0 } }))
  t.equal(c2.flags.get('b'), c1.flags.get('b'), 'other flags are reused, not rebuilt')
  t.equal(c2.segments, c1.segments, 'segments are not copied')
  t.not(c2.flags.get('a'), c1.flags.get('a'), 'the changed flag is recompiled')
  t.equal(evaluate(c1, 'a', { key: 'u' }, null), false, 'old Compiled unchanged')
  t.equal(evaluate(c2, 'a', { key: 'u' }, null), true, 'new Compiled serves the change')
  const c3 = applyFlag(c2, flag('c', inSeg('s')))
  t.equal(evaluate(c3, 'c', { key: 'x' }, null), true, 'added flag sees existing segments')
  const c4 = removeFlag(c3, 'c')
  t.same(evaluateDetail(c4, 'c', { key: 'x' }, null).reason, { kind: 'ERROR', errorKind: 'FLAG_NOT_FOUND' })
  t.equal(removeFlag(c4, 'nope'), c4, 'removing an absent flag is a no-op')
})

t.test('applySegment / removeSegment do not recompile flags', async (t) => {
  const c1 = compile(ruleset([flag('f', inSeg('s'))], [segment('s', ['x'])]))
  const c2 = applySegment(c1, segment('s', ['y']))
  t.equal(c2.flags, c1.flags, 'flags map reused')
  t.equal(evaluate(c2, 'f', { key: 'x' }, null), false)
  t.equal(evaluate(c2, 'f', { key: 'y' }, null), true)
  t.equal(evaluate(c1, 'f', { key: 'x' }, null), true, 'old Compiled keeps the old segment')
  const c3 = removeSegment(c2, 's')
  t.equal(evaluate(c3, 'f', { key: 'y' }, null), false, 'a removed segment matches nobody')
})

t.test('segment deltas on a 1,000,000-id segment', async (t) => {
  const ids = Array.from({ length: 1_000_000 }, (_, i) => `member-${i}`)
  const c1 = compile(ruleset([flag('f', inSeg('big'))], [segment('big', ids)]))
  t.equal(c1.segments.get('big')!.included.size, 1_000_000)
  t.equal(evaluate(c1, 'f', { key: 'member-999999' }, null), true)
  t.equal(evaluate(c1, 'f', { key: 'member-1000000' }, null), false, 'exact: no false positive next to a member')
  const t0 = performance.now()
  const c2 = applySegmentDelta(c1, { key: 'big', list: 'included', add: ['new-one'], remove: ['member-5'], version: 2 })
  const ms = performance.now() - t0
  t.ok(ms < 50, `one-id delta applied in ${ms.toFixed(2)} ms (no rebuild of 1M ids)`)
  t.equal(c2.flags, c1.flags, 'flags untouched')
  t.equal(c2.segments.get('big')!.included, c1.segments.get('big')!.included, 'member set mutated in place, not copied')
  t.equal(c2.segments.get('big')!.version, 2)
  t.equal(evaluate(c2, 'f', { key: 'new-one' }, null), true, 'added')
  t.equal(evaluate(c2, 'f', { key: 'member-5' }, null), false, 'removed')
  t.equal(evaluate(c1, 'f', { key: 'new-one' }, null), true, 'documented: the previous Compiled shares the mutated set')
  const c3 = applySegmentDelta(c2, { key: 'big', list: 'included', add: ['member-5'], remove: [], version: 2 })
  t.equal(c3, c2, 'a replayed version is ignored')
  t.equal(evaluate(c3, 'f', { key: 'member-5' }, null), false)
  const c4 = applySegmentDelta(c3, { key: 'big', list: 'excluded', add: ['member-6'], remove: [], version: 3 })
  t.equal(evaluate(c4, 'f', { key: 'member-6' }, null), false, 'excluded delta wins over included')
  const c5 = applySegmentDelta(c4, { key: 'big', list: 'included', add: ['both'], remove: ['both'], version: 4 })
  t.equal(evaluate(c5, 'f', { key: 'both' }, null), false, 'adds then removes: an id in both ends up removed')
  t.equal(applySegmentDelta(c5, { key: 'ghost', list: 'included', add: ['a'], remove: [], version: 9 }), c5, 'unknown segment: ignored')
  // Bulk removal then re-adding exercises tombstones, rehash and compaction.
  const c6 = applySegmentDelta(c5, { key: 'big', list: 'included', add: [], remove: ids.slice(0, 600_000), version: 5 })
  t.equal(c6.segments.get('big')!.included.size, 400_001)
  t.equal(evaluate(c6, 'f', { key: 'member-599999' }, null), false)
  t.equal(evaluate(c6, 'f', { key: 'member-600000' }, null), true)
  t.equal(evaluate(c6, 'f', { key: 'new-one' }, null), true)
})

t.test('IdSet behaves like a Set (model-based)', async (t) => {
  const id = fc.oneof(
    fc.string({ maxLength: 6 }),
    fc.string({ unit: 'grapheme', maxLength: 4 }),
    fc.string({ unit: 'binary', maxLength: 4 }), // includes lone surrogates
    fc.nat(300).map((n) => 'L'.repeat(n)), // ids beyond the 255-byte short header
    fc.constantFrom('a', 'b', 'é', '😀', ''),
  )
  const op = fc.tuple(fc.constantFrom('add', 'delete', 'has'), id)
  fc.assert(
    fc.property(fc.array(id, { maxLength: 50 }), fc.array(op, { maxLength: 300 }), (init, ops) => {
      const set = new IdSet(init)
      const model = new Set(init.map((s) => new TextDecoder().decode(new TextEncoder().encode(s))))
      for (const [o, raw] of ops) {
        const k = new TextDecoder().decode(new TextEncoder().encode(raw)) // lone surrogates normalise like UTF-8
        if (o === 'add') {
          if (set.add(raw) !== !model.has(k)) return false
          model.add(k)
        } else if (o === 'delete') {
          if (set.delete(raw) !== model.has(k)) return false
          model.delete(k)
        } else if (set.has(raw) !== model.has(k)) return false
        if (set.size !== model.size) return false
      }
      const listed: string[] = []
      set.forEach((s) => listed.push(s))
      return listed.length === model.size && listed.every((s) => model.has(s))
    }),
    { numRuns: 300 },
  )
  const big = new IdSet(Array.from({ length: 20_000 }, (_, i) => `k${i % 15_000}`))
  t.equal(big.size, 15_000, 'bulk build drops duplicates')
  t.ok(big.has('k14999') && !big.has('k15000'), 'bulk build lookups')
  for (let i = 0; i < 15_000; i++) big.delete(`k${i}`)
  t.equal(big.size, 0, 'deletes all')
  t.notOk(big.has('k1'))
  t.ok(big.add('k1') && big.has('k1'), 'usable after compaction')
})

t.test('semver precedence (semver.org example order)', async (t) => {
  const order = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.1.0', '2.0.0']
  for (let i = 0; i + 1 < order.length; i++) {
    t.equal(compareSemVer(parseSemVer(order[i])!, parseSemVer(order[i + 1])!), -1, `${order[i]} < ${order[i + 1]}`)
    t.equal(compareSemVer(parseSemVer(order[i + 1])!, parseSemVer(order[i])!), 1)
  }
  t.equal(compareSemVer(parseSemVer('1.0.0-1.99999999999999999999')!, parseSemVer('1.0.0-1.100000000000000000000')!), -1, 'huge numeric identifiers')
  for (const bad of ['', '1.', '1.2.3.4', '01.1.1', '1.01.1', '1.1.01', 'v1.1.1', '1.1.1-', '1.1.1-01', '1.1.1+', ' 1.1.1', 'a.b.c']) {
    t.equal(parseSemVer(bad), null, `invalid: ${JSON.stringify(bad)}`)
  }
})

t.test('toOpenFeatureReason', async (t) => {
  t.equal(toOpenFeatureReason({ kind: 'OFF' }), 'DISABLED')
  t.equal(toOpenFeatureReason({ kind: 'TARGET_MATCH' }), 'TARGETING_MATCH')
  t.equal(toOpenFeatureReason({ kind: 'RULE_MATCH', ruleId: 'r' }), 'TARGETING_MATCH')
  t.equal(toOpenFeatureReason({ kind: 'RULE_MATCH', ruleId: 'r', inRollout: true }), 'SPLIT')
  t.equal(toOpenFeatureReason({ kind: 'FALLTHROUGH' }), 'DEFAULT')
  t.equal(toOpenFeatureReason({ kind: 'FALLTHROUGH', inRollout: true }), 'SPLIT')
  t.equal(toOpenFeatureReason({ kind: 'PREREQUISITE_FAILED', prerequisiteKey: 'p' }), 'DISABLED')
  t.equal(toOpenFeatureReason({ kind: 'ERROR', errorKind: 'FLAG_NOT_FOUND' }), 'ERROR')
})

t.test('evaluateAll, frozen values, hostile contexts', async (t) => {
  const c = compile(
    ruleset([
      flag('a', { clientSide: true, fallthrough: { variation: 0 } }),
      flag('b', { on: false, offVariation: null }),
      flag('__proto__', { fallthrough: { variation: 0 } }),
      flag('j', { kind: 'json', variations: [{ deep: { list: [1] } }], offVariation: 0, fallthrough: { variation: 0 } }),
      flag('broken', { fallthrough: { variation: 7 } }),
    ]),
  )
  const all = evaluateAll(c, { key: 'u' })
  t.same(Object.keys(all), ['a', 'b', '__proto__', 'j', 'broken'], 'every flag, in ruleset order')
  t.same(all.a, { value: true, variation: 0, reason: { kind: 'FALLTHROUGH' } })
  t.same(all.b, { value: null, variation: null, reason: { kind: 'OFF' } })
  t.equal(Object.getPrototypeOf(all), Object.prototype, 'a flag named __proto__ does not replace the prototype')
  t.same(all.broken!.reason, { kind: 'ERROR', errorKind: 'PARSE_ERROR' })
  t.same(Object.keys(evaluateAll(c, { key: 'u' }, (f) => f.clientSide === true)), ['a'], 'filter')
  t.same(evaluateAll(c, 'nope' as never).a!.reason, { kind: 'ERROR', errorKind: 'INVALID_CONTEXT' })
  t.same(Object.keys(compileIssues(c).flags), ['broken'], 'compileIssues names the broken flag')

  const v = evaluate(c, 'j', { key: 'u' }, null) as { deep: { list: number[] } }
  t.ok(Object.isFrozen(v) && Object.isFrozen(v.deep.list), 'json values are deep-frozen (shared between calls)')

  const throwing = new Proxy({}, { get: () => { throw new Error('boom') } })
  const r = compile(ruleset([flag('r', { rules: [{ id: 'x', clauses: [{ attribute: 'a', op: 'exists', values: [] }], serve: { variation: 0 } }] })]))
  t.equal(evaluate(r, 'r', throwing, 'd' as never), 'd', 'a throwing context yields the default')
  t.same(evaluateDetail(r, 'r', throwing, null).reason, { kind: 'ERROR', errorKind: 'GENERAL' })
})

t.test('compile never throws on malformed input', async (t) => {
  const bad = {
    specVersion: 1,
    environment: 'x',
    flags: { f: { key: 'f', kind: 'boolean', variations: 'no', on: 'maybe', rules: 5 } },
    segments: { s: { key: 's', included: 'x', rules: [null, { clauses: 'y' }] } },
  } as unknown as Ruleset
  const c = compile(bad)
  t.same(evaluateDetail(c, 'f', { key: 'u' }, true).reason, { kind: 'ERROR', errorKind: 'PARSE_ERROR' })
  t.ok(compileIssues(c).segments.s!.length > 0, 'segment issues recorded')
})
