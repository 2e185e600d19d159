// evaluateAllValues (allFlags' path: values without detail objects) reports exactly the values of
// evaluateAll, for every kind of flag, odd keys and invalid contexts, both with their generated result
// builder and without one (runtimes that forbid code generation).
import fc from 'fast-check'
import t from 'tap'
import {
  compile,
  evaluateAll,
  evaluateAllValues,
  evaluateDetail,
  type Context,
  type Ruleset,
  type RulesetFlag,
} from '../../sdk/core/index.js'
import { allValuesPlan } from '../../sdk/core/evaluate.js'
import { benchContexts, booleanFlag, mixedFlags } from '../helpers/ruleset.js'

const whitelist = Array.from({ length: 10_000 }, (_, i) => `user-${String(i * 14).padStart(7, '0')}`)
const { flags, segments } = mixedFlags(100, whitelist)
Object.defineProperty(flags, '__proto__', {
  value: booleanFlag('__proto__', { fallthrough: { variation: 0 } }),
  enumerable: true,
})
flags.broken = { ...booleanFlag('broken'), variations: 'no' } as unknown as (typeof flags)[string]
flags.json = booleanFlag('json', { kind: 'json', variations: [{ a: 1 }, [2]], fallthrough: { variation: 0 } })
// Needs no context key itself, but its prerequisite (a 50 % rollout) does.
flags.gated = booleanFlag('gated', { prerequisites: [{ flag: 'flag-5', variation: 0 }], fallthrough: { variation: 0 } })
flags.offNull = booleanFlag('offNull', { on: false, offVariation: null })
// Keys that must come out as they went in: an index-like one, quotes, a backslash, line breaks.
for (const k of ['42', 'say "hi"\\', 'a\nb\u2028c', 'back`tick', '</script>'])
  flags[k] = booleanFlag(k, { fallthrough: { variation: 0 } })
const ruleset = { specVersion: 1, environment: 'e', flags, segments } as Ruleset

for (const generateCode of [true, false])
  t.test(`the values of evaluateAll, key for key and in order (generated builder: ${generateCode})`, async (t) => {
    allValuesPlan.generateCode = generateCode
    t.teardown(() => {
      allValuesPlan.generateCode = true
    })
    // A fresh compile: the plan (and its builder) is made once per flags map.
    const c = compile(ruleset)
    // A context whose key cannot be read: the flags that need it fail (null), the others still answer.
    const throwing = Object.defineProperty({ country: 'GB' }, 'key', {
      enumerable: true,
      get() {
        throw new Error('no key')
      },
    })
    const contexts: unknown[] = [
      ...benchContexts(300),
      {},
      { key: '' },
      null,
      [],
      'x',
      { targetingKey: 'user-0000014' },
      throwing,
    ]
    for (const ctx of contexts) {
      const details = evaluateAll(c, ctx as Context)
      const expected: Record<string, unknown> = {}
      for (const k of Object.keys(details)) {
        Object.defineProperty(expected, k, { value: details[k]!.value, enumerable: true, writable: true })
      }
      const got = evaluateAllValues(c, ctx as Context)
      t.same(Object.keys(got), Object.keys(expected), 'same keys, same order')
      t.strictSame(got, expected, 'the same values (null stays null)')
    }
    const one = evaluateAllValues(c, { key: 'a' })
    t.ok(Object.hasOwn(one, '__proto__'), 'a "__proto__" flag is an own key')
    t.equal(Object.getPrototypeOf(one), Object.prototype, 'a plain object')
    t.equal(one['a\nb\u2028c'], true)
  })

// evaluateAll and evaluateAllValues read the context key once and prepare it for the salt of every flag
// that buckets by it (hash.ts PreparedValue); evaluateDetail of one flag hashes as it always did. So each
// flag of the bulk paths must answer exactly as it does alone: value, variation and reason.
t.test('each flag of the bulk paths answers as evaluateDetail does alone (random salts and keys)', async () => {
  const split = (salt: string, over: Partial<RulesetFlag> = {}) =>
    booleanFlag(`f-${salt}`, {
      salt,
      fallthrough: {
        rollout: {
          weights: [
            { variation: 0, weight: 37_000 },
            { variation: 1, weight: 63_000 },
          ],
        },
      },
      ...over,
    })
  const key = fc.oneof(
    fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 40 }),
    fc.string({ minLength: 1, maxLength: 12 }),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }),
    fc
      .array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 8 })
      .map((cs) => String.fromCharCode(...cs)),
    fc.nat(300).map((n) => 'k'.repeat(n + 1)), // past the longest prepared value (256)
  )
  fc.assert(
    fc.property(fc.uniqueArray(fc.string({ maxLength: 9 }), { minLength: 1, maxLength: 6 }), key, (salts, k) => {
      const flags: Record<string, RulesetFlag> = {}
      for (const salt of salts) {
        const f = split(salt)
        flags[f.key] = f
        // Bucketed by another attribute holding the same characters (not the same string object).
        const g = split(salt, { key: `g-${salt}` })
        ;(g.fallthrough as { rollout: { bucketBy?: string } }).rollout.bucketBy = 'id'
        flags[g.key] = g
        const r = split(salt, {
          key: `r-${salt}`,
          targets: [{ variation: 1, values: [`${k}!`] }],
          rules: [
            { id: 'in', clauses: [{ attribute: 'key', op: 'inSegment', values: ['part'] }], serve: { variation: 0 } },
          ],
        })
        flags[r.key] = r
        // Targets and a rollout by key, nothing else (evaluateAllValues' keyedRollout path): a hit, a miss.
        for (const [name, target] of [
          ['hit', k],
          ['miss', `${k}?`],
        ]) {
          const f = split(salt, { key: `${name}-${salt}`, targets: [{ variation: 1, values: [target!] }] })
          flags[f.key] = f
        }
      }
      const segments = {
        part: {
          key: 'part',
          included: [],
          excluded: [],
          rules: [{ id: 'half', clauses: [], weight: 50_000 }],
          salt: salts[0]!,
          version: 1,
        },
      }
      const c = compile({ specVersion: 1, environment: 'e', flags, segments })
      const ctx: Context = { key: k, id: [...k].join('') }
      const all = evaluateAll(c, ctx)
      const values = evaluateAllValues(c, ctx)
      for (const fk of Object.keys(flags)) {
        const alone = evaluateDetail(c, fk, ctx, null)
        if (JSON.stringify(all[fk]) !== JSON.stringify(alone)) return false
        if (values[fk] !== alone.value) return false
      }
      return true
    }),
    { numRuns: 2000 },
  )
})
