// The segment member sets against a plain Set: the packed form (sdk/core/packed-ids.ts) on its own,
// and the IdSet that switches between a Set and the packed form (sdk/core/id-set.ts) through every
// transition, with the cut lowered so small data walks both.
import t from 'tap'
import fc from 'fast-check'
import { IdSet, idSetLimits, SMALL_MAX } from '../../sdk/core/id-set.js'
import { PackedIds, packedLimits } from '../../sdk/core/packed-ids.js'

/** What UTF-8 makes of a string (lone surrogates become U+FFFD): the sets compare ids that way. */
const norm = (s: string): string => new TextDecoder().decode(new TextEncoder().encode(s))

const id = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: fc.constantFrom('a', 'b', 'c', '0', '1'), maxLength: 8 }) },
  { weight: 2, arbitrary: fc.string({ maxLength: 6 }) },
  fc.string({ unit: 'grapheme', maxLength: 4 }),
  fc.string({ unit: 'binary', maxLength: 4 }), // lone surrogates too
  fc.nat(300).map((n) => 'L'.repeat(n)), // around the 127-byte short header
  fc.constantFrom('', 'é', '😀', '\ud800', '\ufffd', 'a'.repeat(126), 'a'.repeat(127), 'a'.repeat(128)),
)

const listed = (s: { forEach(fn: (id: string) => void): void }): string[] => {
  const out: string[] = []
  s.forEach((x) => {
    out.push(x)
  })
  return out
}

t.test('PackedIds: build, has and delete agree with a Set', async (t) => {
  fc.assert(
    fc.property(
      fc.array(id, { maxLength: 80 }),
      fc.array(fc.tuple(fc.constantFrom('has', 'delete'), id), { maxLength: 200 }),
      (init, ops) => {
        const p = new PackedIds(init)
        const model = new Set(init.map(norm))
        if (p.size !== model.size) return false
        for (const m of model) if (!p.has(m)) return false
        for (const [op, raw] of ops) {
          const k = norm(raw)
          if (op === 'has' && p.has(raw) !== model.has(k)) return false
          if (op === 'delete') {
            if (p.delete(raw) !== model.has(k)) return false
            model.delete(k)
          }
          if (p.size !== model.size) return false
        }
        const out = listed(p)
        return out.length === model.size && out.every((x) => model.has(x))
      },
    ),
    { numRuns: 500 },
  )
  t.pass('500 random builds and operation sequences agree with the model')
})

t.test(
  'PackedIds: packed straight into partitions, or in input order when a region overflows: the same sets',
  async (t) => {
    // regionSlack 0 leaves no room beyond a partition's mean, so most builds overflow and take the fallback
    // (pack in input order, then scatter by partition); the default room almost never overflows on distinct ids.
    const saved = packedLimits.regionSlack
    t.teardown(() => {
      packedLimits.regionSlack = saved
    })
    const build = (ids: string[], slack: number): PackedIds => {
      packedLimits.regionSlack = slack
      const p = new PackedIds(ids)
      packedLimits.regionSlack = saved
      return p
    }
    fc.assert(
      fc.property(
        fc.array(id, { maxLength: 300 }),
        fc.nat(4),
        fc.array(id, { maxLength: 20 }),
        (distinct, copies, probes) => {
          // Each id `copies` more times (duplicates: one partition's region fills with one id).
          const ids = distinct.flatMap((x) => Array.from({ length: copies + 1 }, () => x))
          const model = new Set(ids.map(norm))
          const direct = build(ids, saved)
          const fallback = build(ids, 0)
          for (const p of [direct, fallback]) {
            if (p.size !== model.size) return false
            for (const m of model) if (!p.has(m)) return false
            for (const q of probes) if (p.has(q) !== model.has(norm(q))) return false
          }
          const a = listed(direct).sort()
          const b = listed(fallback).sort()
          return a.length === b.length && a.every((x, i) => x === b[i]) && direct.byteLength === fallback.byteLength
        },
      ),
      { numRuns: 300 },
    )
    const n = 60_000
    const ids = Array.from({ length: n }, (_, i) => `id-${i.toString(36)}`)
    ids.push(...Array.from({ length: 20_000 }, () => 'one-id'))
    for (const [name, slack] of [
      ['default room', saved],
      ['no room', 0],
    ] as const) {
      const p = build(ids, slack)
      let wrong = 0
      for (let i = 0; i < n; i++) if (!p.has(ids[i]!) || p.has(`${ids[i]}!`)) wrong++
      t.equal(p.size, n + 1, `${name}: 20,000 copies of one id (one region overflows) counted once`)
      t.ok(p.has('one-id'), `${name}: the repeated id is a member`)
      t.equal(wrong, 0, `${name}: every member found, no near miss answered`)
    }
  },
)

t.test('PackedIds: 100,000 ids, hits and near misses exact, packed below their raw size', async (t) => {
  const ids = Array.from({ length: 100_000 }, (_, i) => `user-${(i * 7919).toString(36).padStart(12, '0')}`)
  const p = new PackedIds([...ids, ...ids.slice(0, 1000)])
  t.equal(p.size, 100_000, 'duplicates dropped')
  let wrong = 0
  for (let i = 0; i < ids.length; i++) {
    if (!p.has(ids[i]!)) wrong++
    if (p.has(`${ids[i]!}0`) || p.has(ids[i]!.slice(0, -1)) || p.has(ids[i]!.replace('user', 'usex'))) wrong++
  }
  t.equal(wrong, 0, 'every member found, no near miss answered')
  const raw = ids.reduce((n, s) => n + s.length, 0)
  t.ok(p.byteLength < raw, `${p.byteLength} bytes for ${raw} bytes of ids`)
})

t.test('PackedIds: 50,000 mixed ids (multibyte, long, empty, duplicates far apart) agree with a Set', async (t) => {
  // Multibyte ids take more bytes than chars, so the build buffer (sized by chars) must grow; long ids
  // take the 3-unit header; duplicates are spread over the whole input, so they meet in the last scatter.
  const ids: string[] = []
  for (let i = 0; i < 50_000; i++) {
    const k = (i * 7919) % 50_000
    if (i % 97 === 0) ids.push(`é😀${k}`)
    else if (i % 89 === 0) ids.push(`${'x'.repeat(130)}${k}`)
    else ids.push(`id-${k.toString(36)}`)
  }
  ids.push('', ...ids.slice(0, 5000).reverse())
  const model = new Set(ids)
  const p = new PackedIds(ids)
  t.equal(p.size, model.size, 'duplicates dropped')
  let wrong = 0
  for (const x of model) if (!p.has(x) || p.has(`${x}!`)) wrong++
  t.equal(wrong, 0, 'every member found, no near miss answered')
  t.same(listed(p).sort(), [...model].sort(), 'the members listed are the ids')
})

t.test(
  'PackedIds: ids longer than the sampled ones (the build buffer, sized from a sample, grows) agree with a Set',
  async (t) => {
    // The buffer is sized from every (n / 4096)-th id: here those are short and all the others long, so the
    // estimate is several times short and the buffer grows while packing; sampled ids of one length (the
    // estimate is then exact for them) and of several lengths (then a quarter is added) size it two ways.
    const n = 100_000
    const step = Math.floor(n / 4096)
    for (const [name, short] of [
      ['sampled ids of one length', (i: number) => `s${String(i).padStart(6, '0')}`],
      ['sampled ids of several lengths', (i: number) => `s${i}`],
    ] as const) {
      const ids = Array.from({ length: n }, (_, i) => (i % step === 0 ? short(i) : `${'long-id-'.repeat(6)}${i}`))
      ids.push(...ids.slice(0, 3000))
      const p = new PackedIds(ids)
      const model = new Set(ids)
      t.equal(p.size, model.size, `${name}: duplicates dropped`)
      let wrong = 0
      for (const x of model) if (!p.has(x) || p.has(`${x}!`)) wrong++
      t.equal(wrong, 0, `${name}: every member found, no near miss answered`)
      t.same(listed(p).sort(), [...model].sort(), `${name}: the members listed are the ids`)
      const raw = ids.reduce((k, s) => k + s.length, 0)
      t.ok(p.byteLength < raw, `${name}: trimmed to what it holds, ${p.byteLength} bytes for ${raw} bytes of ids`)
    }
  },
)

t.test('IdSet: a Set when small, packed when large, the same answers through every switch', async (t) => {
  const cut = idSetLimits.smallMax
  t.teardown(() => {
    idSetLimits.smallMax = cut
  })
  idSetLimits.smallMax = 4
  const op = fc.oneof(
    { weight: 3, arbitrary: fc.tuple(fc.constant('add'), id) },
    { weight: 2, arbitrary: fc.tuple(fc.constant('delete'), id) },
    { weight: 2, arbitrary: fc.tuple(fc.constant('has'), id) },
  )
  const seen = new Set<string>()
  fc.assert(
    fc.property(fc.array(id, { maxLength: 40 }), fc.array(op, { maxLength: 300 }), (init, ops) => {
      const set = new IdSet(init)
      const model = new Set(init.map(norm))
      seen.add(set.representation)
      for (const [o, raw] of ops) {
        const k = norm(raw)
        if (o === 'add') {
          if (set.add(raw) !== !model.has(k)) return false
          model.add(k)
        } else if (o === 'delete') {
          if (set.delete(raw) !== model.has(k)) return false
          model.delete(k)
        } else if (set.has(raw) !== model.has(k)) return false
        if (set.size !== model.size) return false
        seen.add(set.representation)
      }
      for (const m of model) if (!set.has(m)) return false
      const out = listed(set)
      return out.length === model.size && out.every((x) => model.has(x))
    }),
    { numRuns: 400 },
  )
  t.same([...seen].sort(), ['packed', 'set'], 'both representations were exercised')
})

t.test('IdSet: the default cut, and a large set that shrinks back to a Set', async (t) => {
  t.equal(new IdSet(Array.from({ length: SMALL_MAX }, (_, i) => `a${i}`)).representation, 'set')
  const ids = Array.from({ length: SMALL_MAX * 4 }, (_, i) => `b${i}`)
  const big = new IdSet(ids)
  t.equal(big.representation, 'packed')
  let deleted = 0
  for (let i = 0; i < ids.length - 10; i++) if (big.delete(ids[i]!)) deleted++
  t.equal(deleted, ids.length - 10)
  t.equal(big.size, 10)
  t.equal(big.representation, 'set', 'rebuilt as a Set once most ids are gone')
  t.ok(big.has(ids[ids.length - 1]!) && !big.has(ids[0]!))
  for (let i = 0; i < SMALL_MAX * 3; i++) big.add(`c${i}`)
  t.equal(big.representation, 'packed', 'packed again once it grew')
  t.equal(big.size, SMALL_MAX * 3 + 10)
  t.ok(big.has('c0') && big.has(`c${SMALL_MAX * 3 - 1}`) && !big.has(`c${SMALL_MAX * 3}`))
})
