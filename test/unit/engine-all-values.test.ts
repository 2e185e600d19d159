// evaluateAllValues (allFlags' path: values without detail objects) reports exactly the values of
// evaluateAll, for every kind of flag, odd keys and invalid contexts, both with their generated result
// builder and without one (runtimes that forbid code generation).
import t from 'tap'
import { compile, evaluateAll, evaluateAllValues, type Context, type Ruleset } from '../../sdk/core/index.js'
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
