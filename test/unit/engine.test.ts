// Engine behaviour not covered by the JSON vectors: incremental updates, the 1M-id
// segment, IdSet against a Set model, semver order, reasons mapping, evaluateAll.
import t from 'tap'
import fc from 'fast-check'
import { isDeepStrictEqual } from 'node:util'
import {
  applyFlag,
  applySegment,
  applySegmentDelta,
  compareSemVer,
  compile,
  compileIssues,
  evaluate,
  lastVariation,
  evaluateAll,
  evaluateDetail,
  IdSet,
  parseSemVer,
  removeFlag,
  removeSegment,
  murmur3,
  toOpenFeatureReason,
  type Compiled,
  type CompiledFlag,
  type Context,
  type JsonValue,
  type Ruleset,
  type RulesetFlag,
  type Segment,
  type SegmentPatch,
  type Serve,
} from '../../sdk/core/index.js'
import { murmur3Ascii, murmur3AsciiInto, PreparedValue, SaltHasher } from '../../sdk/core/hash.js'
import { booleanFlag } from '../helpers/ruleset.js'

const flag = booleanFlag

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
  t.equal(
    applySegmentDelta(c5, { key: 'ghost', list: 'included', add: ['a'], remove: [], version: 9 }),
    c5,
    'unknown segment: ignored',
  )
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
      set.forEach((s) => {
        listed.push(s)
      })
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
  const order = [
    '1.0.0-alpha',
    '1.0.0-alpha.1',
    '1.0.0-alpha.beta',
    '1.0.0-beta',
    '1.0.0-beta.2',
    '1.0.0-beta.11',
    '1.0.0-rc.1',
    '1.0.0',
    '1.0.1',
    '1.1.0',
    '2.0.0',
  ]
  for (let i = 0; i + 1 < order.length; i++) {
    t.equal(compareSemVer(parseSemVer(order[i])!, parseSemVer(order[i + 1])!), -1, `${order[i]} < ${order[i + 1]}`)
    t.equal(compareSemVer(parseSemVer(order[i + 1])!, parseSemVer(order[i])!), 1)
  }
  t.equal(
    compareSemVer(parseSemVer('1.0.0-1.99999999999999999999')!, parseSemVer('1.0.0-1.100000000000000000000')!),
    -1,
    'huge numeric identifiers',
  )
  for (const bad of [
    '',
    '1.',
    '1.2.3.4',
    '01.1.1',
    '1.01.1',
    '1.1.01',
    'v1.1.1',
    '1.1.1-',
    '1.1.1-01',
    '1.1.1+',
    ' 1.1.1',
    'a.b.c',
  ]) {
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
      flag('j', {
        kind: 'json',
        variations: [{ deep: { list: [1] } }],
        offVariation: 0,
        fallthrough: { variation: 0 },
      }),
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

  const throwing = new Proxy(
    {},
    {
      get: () => {
        throw new Error('boom')
      },
    },
  )
  const r = compile(
    ruleset([
      flag('r', {
        rules: [{ id: 'x', clauses: [{ attribute: 'a', op: 'exists', values: [] }], serve: { variation: 0 } }],
      }),
    ]),
  )
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

t.test('applySegment: absent member lists keep the current members, without copying them', async (t) => {
  const c1 = compile(ruleset([flag('f', inSeg('s'))], [segment('s', ['x', 'y'], { excluded: ['y'] })]))
  const s1 = c1.segments.get('s')!
  const meta: SegmentPatch = {
    key: 's',
    name: 'Renamed',
    rules: [{ id: 'gb', clauses: [{ attribute: 'country', op: 'in', values: ['GB'] }] }],
    salt: 's',
    version: 2,
  }
  const c2 = applySegment(c1, meta)
  const s2 = c2.segments.get('s')!
  t.equal(s2.included, s1.included, 'included set kept as is (same object, no copy)')
  t.equal(s2.excluded, s1.excluded, 'excluded set kept as is')
  t.equal(s2.version, 2, 'version from the patch')
  t.equal(c2.flags, c1.flags, 'flags untouched')
  t.equal(evaluate(c2, 'f', { key: 'x' }, null), true, 'member kept')
  t.equal(evaluate(c2, 'f', { key: 'y', country: 'GB' }, null), false, 'excluded kept (wins over the new rule)')
  t.equal(evaluate(c2, 'f', { key: 'z', country: 'GB' }, null), true, 'new rule applies')
  t.equal(evaluate(c1, 'f', { key: 'z', country: 'GB' }, null), false, 'old Compiled keeps the old rules')

  const c3 = applySegment(c2, { ...meta, included: null, excluded: [], version: 3 })
  t.equal(c3.segments.get('s')!.included, s1.included, 'null keeps the list too')
  t.not(c3.segments.get('s')!.excluded, s1.excluded, 'a present list replaces the members')
  t.equal(evaluate(c3, 'f', { key: 'y' }, null), true, 'excluded emptied by []')
  const c4 = applySegment(c3, { ...meta, included: [], version: 4 })
  t.equal(evaluate(c4, 'f', { key: 'x' }, null), false, 'included emptied by []')
  t.equal(c4.segments.get('s')!.excluded, c3.segments.get('s')!.excluded, 'the absent list is still kept')

  const c5 = applySegmentDelta(c2, { key: 's', list: 'included', add: ['w'], remove: [], version: 5 })
  t.equal(evaluate(c5, 'f', { key: 'w' }, null), true, 'deltas still apply after a metadata patch')
  t.equal(evaluate(c1, 'f', { key: 'w' }, null), true, 'documented: the kept set is shared with the previous Compiled')

  const c6 = applySegment(c1, { key: 'fresh', rules: [], salt: 'fresh', version: 1 })
  const fresh = c6.segments.get('fresh')!
  t.equal(fresh.included.size + fresh.excluded.size, 0, 'a new segment without lists has no members')
  t.same(c6.segments.get('fresh')!.issues, [], 'absent lists are valid')

  // Keeping a 1,000,000-id set costs nothing (no copy, no rebuild).
  const big = compile(
    ruleset(
      [flag('f', inSeg('big'))],
      [
        segment(
          'big',
          Array.from({ length: 1_000_000 }, (_, i) => `m-${i}`),
        ),
      ],
    ),
  )
  const t0 = performance.now()
  const big2 = applySegment(big, { key: 'big', name: 'n', rules: [], salt: 'big', version: 2 })
  const ms = performance.now() - t0
  t.ok(ms < 50, `metadata patch of a 1M-id segment in ${ms.toFixed(2)} ms`)
  t.equal(big2.segments.get('big')!.included, big.segments.get('big')!.included)
  t.equal(evaluate(big2, 'f', { key: 'm-999999' }, null), true)
})

/** The same Compiled with every flag forced through the general evaluation path. */
function generalOnly(c: Compiled): Compiled {
  const flags = new Map<string, CompiledFlag>()
  for (const [k, f] of c.flags) flags.set(k, { ...f, constant: false })
  return { ...c, flags }
}

t.test('constant-flag fast path: same values, variations and reasons as the general path', async (t) => {
  const variation = fc.integer({ min: 0, max: 1 })
  const serve = fc.oneof(
    variation.map((v) => ({ variation: v })),
    fc.constantFrom<Serve>(
      { rollout: { weights: [{ variation: 1, weight: 100_000 }] } },
      {
        rollout: {
          weights: [
            { variation: 0, weight: 0 },
            { variation: 1, weight: 100_000 },
          ],
        },
      },
      {
        rollout: {
          weights: [
            { variation: 0, weight: 30_000 },
            { variation: 1, weight: 70_000 },
          ],
        },
      },
      { rollout: { bucketBy: 'org', weights: [{ variation: 0, weight: 100_000 }] } },
    ),
  )
  const kind = fc.constantFrom<[RulesetFlag['kind'], JsonValue[]]>(
    ['boolean', [true, false]],
    ['string', ['a', 'b']],
    ['json', [{ a: 1 }, [2]]],
    ['number', [1, 1]], // duplicate variation: invalid, compiles to a broken flag
  )
  const config = fc.record({
    on: fc.boolean(),
    offVariation: fc.oneof(fc.constant(null), variation),
    kind,
    prerequisites: fc.constantFrom<RulesetFlag['prerequisites'][]>([], [{ flag: 'p', variation: 0 }]),
    targets: fc.constantFrom<RulesetFlag['targets'][]>([], [{ variation: 0, values: ['u'] }]),
    rules: fc.constantFrom<RulesetFlag['rules'][]>(
      [],
      [{ id: 'r', clauses: [{ attribute: 'plan', op: 'in', values: ['pro'] }], serve: { variation: 0 } }],
    ),
    fallthrough: serve,
  })
  const contexts: unknown[] = [
    { key: 'u' },
    { key: 'v', plan: 'pro' },
    {},
    { key: 5 },
    { targetingKey: 't' },
    'nope',
    null,
    [],
  ]
  const defaults: JsonValue[] = [null, true, 'x', 7, { d: 1 }]
  let constants = 0
  let general = 0
  fc.assert(
    fc.property(config, ({ kind: [k, variations], ...cfg }) => {
      const f = flag('f', { ...cfg, kind: k, variations })
      const c = compile(ruleset([f, flag('p', { fallthrough: { variation: 0 } })]))
      const g = generalOnly(c)
      if (c.flags.get('f')!.constant) constants++
      else general++
      for (const ctx of contexts) {
        for (const d of defaults) {
          const fast = evaluateDetail(c, 'f', ctx as Context, d)
          const slow = evaluateDetail(g, 'f', ctx as Context, d)
          if (!isDeepStrictEqual(fast, slow)) throw new Error(`detail ${JSON.stringify({ cfg, ctx, d, fast, slow })}`)
          if (fast.reason !== slow.reason) throw new Error('reasons are the same shared frozen objects')
          if (!isDeepStrictEqual(evaluate(c, 'f', ctx as Context, d), evaluate(g, 'f', ctx as Context, d)))
            throw new Error('value')
        }
        if (!isDeepStrictEqual(evaluateAll(c, ctx as Context), evaluateAll(g, ctx as Context)))
          throw new Error('evaluateAll')
      }
    }),
    { numRuns: 400 },
  )
  t.ok(constants > 50 && general > 50, `both paths exercised (${constants} constant, ${general} general)`)
  const plain = compile(
    ruleset([flag('on', { fallthrough: { variation: 0 } }), flag('off', { on: false, offVariation: null })]),
  )
  t.same(evaluateDetail(plain, 'on', { key: 'u' }, false), {
    value: true,
    variation: 0,
    reason: { kind: 'FALLTHROUGH' },
  })
  t.same(evaluateDetail(plain, 'on', {}, 'str'), {
    value: 'str',
    variation: null,
    reason: { kind: 'ERROR', errorKind: 'TYPE_MISMATCH' },
  })
  t.same(evaluateDetail(plain, 'off', { key: 'u' }, false), { value: false, variation: null, reason: { kind: 'OFF' } })
  t.ok(plain.flags.get('on')!.constant && plain.flags.get('off')!.constant, 'plain on and off flags take the fast path')
})

t.test('evaluateAll: the reused output template gives what a fresh object gives', async (t) => {
  const keys = ['b', '__proto__', '10', 'constructor', '', 'a.b', '2', 'toString', 'x\u{1F600}', 'lone\uD800']
  const flags = keys.map((k, i) =>
    flag(
      k,
      i % 3 === 0
        ? { on: false }
        : i % 3 === 1
          ? { fallthrough: { variation: 0 } }
          : {
              fallthrough: {
                rollout: {
                  weights: [
                    { variation: 0, weight: 50_000 },
                    { variation: 1, weight: 50_000 },
                  ],
                },
              },
            },
    ),
  )
  const c = compile(ruleset(flags))
  const all = () => true
  for (const ctx of [{ key: 'u' }, { key: 'w' }, {}, 'nope']) {
    const fast = evaluateAll(c, ctx as Context)
    const slow = evaluateAll(c, ctx as Context, all)
    t.same(Object.keys(fast), Object.keys(slow), `same keys in the same order (${JSON.stringify(ctx)})`)
    t.ok(isDeepStrictEqual(fast, slow), 'same details')
    t.equal(Object.getPrototypeOf(fast), Object.prototype, 'plain object; "__proto__" is an own key')
    t.ok(Object.hasOwn(fast, '__proto__'))
  }
  const a = evaluateAll(c, { key: 'u' })
  const b = evaluateAll(c, { key: 'u' })
  t.not(a, b, 'a fresh object per call')
  t.not(a.b, b.b, 'fresh detail objects per call')
  // biome-ignore lint/complexity/useLiteralKeys: a flag keyed "constructor", not Object's property
  ;(a as Record<string, unknown>)['constructor'] = { value: 'mutated', variation: null, reason: { kind: 'OFF' } }
  t.same(
    // biome-ignore lint/complexity/useLiteralKeys: as above
    evaluateAll(c, { key: 'u' })['constructor'],
    // biome-ignore lint/complexity/useLiteralKeys: as above
    b['constructor'],
    'mutating a result does not leak into the next one',
  )
  const c2 = applyFlag(c, flag('new', { fallthrough: { variation: 0 } }))
  t.same(
    Object.keys(evaluateAll(c2, { key: 'u' })),
    [...Object.keys(b), 'new'],
    'a new flags map gets its own template',
  )
  const c3 = removeFlag(c2, 'b')
  t.notOk('b' in evaluateAll(c3, { key: 'u' }), 'removed flag absent')
  t.same(evaluateAll(compile(ruleset([])), { key: 'u' }), {}, 'no flags')
})

/** Reference hashVersion 1 bucket, written as in docs/hashing.md (TextEncoder, no pre-hashing). */
function referenceHash(salt: string, value: string): number {
  const bytes = new TextEncoder().encode(`${salt}.${value}`)
  let h = 0
  const n = bytes.length
  const full = n & ~3
  for (let i = 0; i < full; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)
    k = Math.imul(k, 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, 0x1b873593)
    h ^= k
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  let k = 0
  const tail = n & 3
  if (tail > 0) {
    k = bytes[full]!
    if (tail > 1) k ^= bytes[full + 1]! << 8
    if (tail > 2) k ^= bytes[full + 2]! << 16
    k = Math.imul(k, 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, 0x1b873593)
    h ^= k
  }
  h ^= n
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

t.test('salted hash: the one-pass ASCII path equals the reference for every prefix alignment', async (t) => {
  const text = fc.oneof(
    fc.string({ unit: 'binary-ascii', maxLength: 24 }),
    fc.string({ maxLength: 12 }),
    fc.string({ unit: 'binary', maxLength: 8 }),
    fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 8 }).map((cs) => String.fromCharCode(...cs)), // lone surrogates
  )
  fc.assert(
    fc.property(text, text, (salt, value) => {
      const h = new SaltHasher(salt)
      const ref = referenceHash(salt, value)
      if (h.hash(value) !== ref || h.bucket(value) !== Math.floor((ref * 100000) / 4294967296)) return false
      const buf = new Uint8Array(value.length + 3)
      const ascii = murmur3AsciiInto(value, buf, 3)
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the range is "not ASCII", from U+0000 on purpose
      if (ascii === -1) return /[^\x00-\x7f]/.test(value)
      return ascii === murmur3Ascii(value) && new TextDecoder().decode(buf.subarray(3)) === value
    }),
    { numRuns: 20_000 },
  )
  // Every salt length mod 4 (0–3 leftover prefix bytes) against every value length mod 4.
  for (const salt of ['', 'a', 'ab', 'abc', 'abcd', 'new-checkout', 'é', '日本']) {
    for (const value of ['', 'u', 'us', 'use', 'user', 'user-1', 'user-1000000', 'héllo', '😀x']) {
      t.equal(
        new SaltHasher(salt).hash(value),
        referenceHash(salt, value),
        `${JSON.stringify(salt)} + ${JSON.stringify(value)}`,
      )
    }
  }
  t.equal(murmur3AsciiInto('hello', new Uint8Array(5), 0), 0x248bfa47, 'murmur3("hello")')
})

t.test('salted hash: a value prepared once buckets as hashing it does, under every salt', async (t) => {
  const salt = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 6 }))
  const value = fc.oneof(
    fc.string({ unit: 'binary-ascii', maxLength: 24 }),
    fc.string({ unit: 'binary-ascii', minLength: 250, maxLength: 260 }), // around the longest prepared (256)
    fc.string({ maxLength: 12 }),
    fc.string({ unit: 'binary', maxLength: 8 }),
  )
  const p = new PreparedValue()
  fc.assert(
    fc.property(fc.array(salt, { minLength: 1, maxLength: 8 }), value, (salts, v) => {
      p.prepare(v)
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the range is "ASCII", from U+0000 on purpose
      if (p.value !== (v.length <= 256 && /^[\x00-\x7f]*$/.test(v) ? v : null)) return false
      if (p.value === null) return true
      return salts.every(
        (s) => new SaltHasher(s).bucketPrepared(p) === Math.floor((referenceHash(s, v) * 100000) / 4294967296),
      )
    }),
    { numRuns: 20_000 },
  )
  for (const s of ['', 'a', 'ab', 'abc', 'abcd'])
    for (const v of ['', 'u', 'us', 'use', 'user', 'user-1', 'user-1000000']) {
      p.prepare(v)
      t.equal(
        new SaltHasher(s).bucketPrepared(p),
        new SaltHasher(s).bucket(v),
        `${JSON.stringify(s)} + ${JSON.stringify(v)}`,
      )
    }
  p.prepare(null)
  t.equal(p.value, null, 'nothing prepared')
})

t.test('IdSet bulk build: wrap-around at the table end, duplicates, non-ASCII and long ids', async (t) => {
  const n = 6000
  const cap = Math.ceil(n / 0.6) // IdSet's build load factor
  // Ids whose home slot is the last one: all but the first wrap around to the start of the table.
  const last: string[] = []
  for (let i = 0; last.length < 12; i++) {
    const id = `end-${i}`
    if (Math.floor((murmur3(id) * cap) / 4294967296) === cap - 1) last.push(id)
  }
  const first: string[] = []
  for (let i = 0; first.length < 6; i++) {
    const id = `start-${i}`
    if (Math.floor((murmur3(id) * cap) / 4294967296) === 0) first.push(id)
  }
  const others = Array.from({ length: n - last.length - first.length - 40 }, (_, i) =>
    i % 7 === 0 ? `ü-${i}` : i % 11 === 0 ? 'L'.repeat(256) + i : `id-${i}`,
  )
  const ids = [
    ...last,
    ...first,
    ...others,
    ...Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? last[i % last.length]! : others[i]!)),
  ]
  t.equal(ids.length, n)
  const set = new IdSet(ids)
  const model = new Set(ids)
  t.equal(set.size, model.size, 'duplicates dropped')
  let found = 0
  for (const id of model) if (set.has(id)) found++
  t.equal(found, model.size, 'every id found, including the wrapped ones')
  let falsePositives = 0
  for (let i = 0; i < 20_000; i++)
    if (set.has(`end-x${i}`) || set.has(`id-${n + i}`) || set.has(`ü-x${i}`)) falsePositives++
  t.equal(falsePositives, 0, 'no false positives')
  const listed: string[] = []
  set.forEach((id) => {
    listed.push(id)
  })
  t.same(listed.sort(), [...model].sort(), 'forEach lists the members')
  for (const id of last) t.ok(set.delete(id), 'wrapped id deleted')
  for (const id of first) t.ok(set.has(id), 'ids at the start survive deletes of the wrapped ones')
  t.ok(set.add(last[3]!) && set.has(last[3]!), 're-added')
})

t.test('lastVariation: the index evaluate() served, -1 for the default', async (t) => {
  const c = compile({
    specVersion: 1,
    environment: 'x',
    segments: {},
    flags: {
      on: booleanFlag('on', { targets: [{ variation: 0, values: ['u1'] }] }),
      offNull: booleanFlag('offNull', { on: false, offVariation: null }),
    },
  })
  t.equal(evaluate(c, 'on', { key: 'u1' }, false), true)
  t.equal(lastVariation(), 0)
  t.equal(evaluate(c, 'on', { key: 'u2' }, true), false)
  t.equal(lastVariation(), 1)
  t.equal(evaluate(c, 'missing', { key: 'u1' }, true), true)
  t.equal(lastVariation(), -1, 'missing flag')
  t.equal(evaluate(c, 'offNull', { key: 'u1' }, true), true)
  t.equal(lastVariation(), -1, 'off without an off variation')
  t.equal(evaluate(c, 'on', { key: 'u1' }, 'text'), 'text')
  t.equal(lastVariation(), -1, 'type mismatch serves the default')
})
