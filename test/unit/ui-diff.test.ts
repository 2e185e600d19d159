/** The admin page's version diff (ui/diff.ts): a line diff of pretty-printed JSON, unchanged runs collapsed. */
import t from 'tap'
import { jsonDiff, withContext } from '../../ui/diff.js'

t.test('a kill is one line changed', async (t) => {
  const before = { on: true, offVariation: 1, rules: [], fallthrough: { variation: 0 } }
  const d = jsonDiff(before, { ...before, on: false })
  t.same(
    d.filter((l) => l.kind !== 'same'),
    [
      { kind: 'del', text: '  "on": true,' },
      { kind: 'add', text: '  "on": false,' },
    ],
  )
  t.equal(
    d.filter((l) => l.kind !== 'del').length,
    JSON.stringify({ ...before, on: false }, null, 2).split('\n').length,
  )
})

t.test('the same value: no change; from nothing: all added', async (t) => {
  t.ok(jsonDiff({ a: [1, 2] }, { a: [1, 2] }).every((l) => l.kind === 'same'))
  t.ok(jsonDiff({}, { a: 1 }).some((l) => l.kind === 'add' && l.text === '  "a": 1'))
})

t.test('long unchanged runs collapse around the changes', async (t) => {
  const big = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, i]))
  const lines = withContext(jsonDiff(big, { ...big, k15: 'x' }), 2)
  t.same(
    lines.map((l) => l.kind),
    ['gap', 'same', 'same', 'del', 'add', 'same', 'same', 'gap'],
  )
  t.match(lines[0]?.text, /… 14 unchanged lines/)
})
