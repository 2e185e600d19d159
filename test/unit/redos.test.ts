// ReDoS: `matches` runs on RE2, so no pattern can backtrack.
// Every catastrophic pattern of the corpus is refused by validation or the
// engine evaluates its 10,000-character attack in under 10 ms.
import t from 'tap'
import {
  compile,
  compilePattern,
  evaluateDetail,
  ISSUE,
  MAX_REGEX_INPUT,
  MAX_REGEX_PROGRAM,
  validateFlagConfig,
  type Ruleset,
} from '../../sdk/core/index.js'
import { ATTACK_LENGTH, CORPUS } from '../helpers/redos-corpus.js'
import { booleanFlag } from '../helpers/ruleset.js'

/** The issue's bound for one evaluation of a 10,000-character adversarial input. */
const BOUND_MS = 10
const TRIALS = 5
const def = { key: 'f', kind: 'boolean', variations: [true, false] }

function flagWith(pattern: string) {
  return booleanFlag('f', {
    rules: [{ id: 'r', clauses: [{ attribute: 'a', op: 'matches', values: [pattern] }], serve: { variation: 0 } }],
  })
}

function rulesetWith(pattern: string): Ruleset {
  return { specVersion: 1, environment: 'test', flags: { f: flagWith(pattern) }, segments: {} }
}

function refusal(pattern: string): string | null {
  const issues = validateFlagConfig(def, flagWith(pattern))
  const bad = issues.filter((i) => i.code === ISSUE.BAD_REGEX && i.path === '/rules/0/clauses/0/values/0')
  return bad.length > 0
    ? bad.map((i) => i.message).join('; ')
    : issues.length > 0
      ? `other issues: ${JSON.stringify(issues)}`
      : null
}

t.test('the corpus: at least 30 catastrophic patterns, each with a 10,000-character attack', async (t) => {
  t.ok(CORPUS.length >= 30, `${CORPUS.length} patterns`)
  t.equal(new Set(CORPUS.map((c) => c.pattern)).size, CORPUS.length, 'no pattern twice')
  for (const c of CORPUS) t.equal(c.attack(ATTACK_LENGTH).length, ATTACK_LENGTH, c.name)
})

t.test('each catastrophic pattern is refused at write time or evaluates its attack in < 10 ms', async (t) => {
  // Warm the engine's code once (a running server or SDK has): what is measured is the pattern, not the JIT.
  evaluateDetail(compile(rulesetWith('^w(a|b)+$')), 'f', { key: 'u', a: 'wab'.repeat(400) }, false)
  const timings: { name: string; best: number; worst: number }[] = []
  for (const c of CORPUS) {
    const why = refusal(c.pattern)
    if (c.refused !== false) {
      t.ok(why?.includes(c.refused === 'size' ? 'too complex' : 'RE2 syntax'), `${c.name}: refused (${c.refused})`, {
        why,
      })
      // The SDK compiles the same flag as invalid: served as the default with PARSE_ERROR, the pattern is never run.
      const d = evaluateDetail(compile(rulesetWith(c.pattern)), 'f', { key: 'u', a: c.attack(ATTACK_LENGTH) }, false)
      t.same(d.reason, { kind: 'ERROR', errorKind: 'PARSE_ERROR' }, `${c.name}: an invalid flag is not evaluated`)
      continue
    }
    t.equal(why, null, `${c.name}: accepted`)
    const context = { key: 'u', a: c.attack(ATTACK_LENGTH) }
    let best = Infinity
    let worst = 0
    for (let i = 0; i < TRIALS; i++) {
      // A fresh compile per trial: RE2's lazily built automaton starts cold each time.
      const compiled = compile(rulesetWith(c.pattern))
      const t0 = performance.now()
      const d = evaluateDetail(compiled, 'f', context, false)
      const ms = performance.now() - t0
      best = Math.min(best, ms)
      worst = Math.max(worst, ms)
      if (i === 0)
        t.ok(
          d.reason.kind === 'RULE_MATCH' || d.reason.kind === 'FALLTHROUGH',
          `${c.name}: evaluated (${d.reason.kind})`,
        )
    }
    timings.push({ name: c.name, best, worst })
    t.ok(best < BOUND_MS, `${c.name}: ${best.toFixed(2)} ms < ${BOUND_MS} ms`)
  }
  timings.sort((a, b) => b.worst - a.worst)
  const top = timings.slice(0, 3).map((x) => `${x.name} best ${x.best.toFixed(2)} / worst ${x.worst.toFixed(2)} ms`)
  t.comment(
    `slowest of ${timings.length} accepted patterns on ${ATTACK_LENGTH} chars (2 shared cores): ${top.join('; ')}`,
  )
})

t.test('the engine is linear beyond the input cap too: the whole 10,000 characters, each pattern', async (t) => {
  let slowest = { name: '', ms: 0 }
  for (const c of CORPUS) {
    if (c.refused !== false) continue
    const re = compilePattern(c.pattern)
    if (typeof re === 'string') {
      t.fail(`${c.name}: ${re}`)
      continue
    }
    const input = c.attack(ATTACK_LENGTH)
    const t0 = performance.now()
    re.test(input)
    const ms = performance.now() - t0
    if (ms > slowest.ms) slowest = { name: c.name, ms }
    // Generous: a backtracking engine takes seconds to ages on these inputs; RE2 takes milliseconds.
    t.ok(ms < 1000, `${c.name}: uncut input in ${ms.toFixed(1)} ms`)
  }
  t.comment(`slowest uncut (${ATTACK_LENGTH} chars, cold automaton): ${slowest.name} ${slowest.ms.toFixed(1)} ms`)
})

t.test('what RE2 cannot run is refused with BAD_REGEX and a message naming the supported syntax', async (t) => {
  const jsOnly: [string, string][] = [
    ['(a)\\1', 'backreference'],
    ['(?<n>a)\\k<n>', 'named backreference'],
    ['a(?=b)', 'lookahead'],
    ['a(?!b)', 'negative lookahead'],
    ['(?<=a)b', 'lookbehind'],
    ['(?<!a)b', 'negative lookbehind'],
    ['(?>a+)b', 'atomic group'],
    ['a++', 'possessive quantifier'],
    ['\\u00e9', 'JavaScript \\u escape (RE2: \\x{e9})'],
    ['[^]', 'JavaScript empty negated class'],
    ['\\cA', 'JavaScript control escape'],
    ['a{1001}', 'repetition count over 1000'],
    ['(', 'unbalanced parenthesis'],
  ]
  for (const [p, what] of jsOnly) {
    const why = refusal(p)
    t.ok(why?.includes('RE2 syntax'), `${what}: ${p}`, { why })
  }
  t.match(refusal('(a)\\1'), /no backreferences, lookahead or lookbehind/, 'the message says what is not supported')
})

t.test(
  `patterns over ${MAX_REGEX_PROGRAM} RE2 instructions are refused (cost of one match is input × program)`,
  async (t) => {
    t.equal(refusal('a'.repeat(MAX_REGEX_PROGRAM - 2)), null, `a literal of ${MAX_REGEX_PROGRAM - 2} characters fits`)
    t.equal(refusal(`.{${MAX_REGEX_PROGRAM - 2}}`), null, 'so does the same count as a repetition')
    for (const p of [
      'a'.repeat(MAX_REGEX_PROGRAM - 1),
      `.{${MAX_REGEX_PROGRAM - 1}}`,
      '\\p{L}{1000}',
      '(?:.\\b|.\\B){160}',
      '(?:[a-z]{50}){10}',
    ]) {
      t.match(
        refusal(p),
        /too complex: \d+ RE2 instructions/,
        p.length > 40 ? `${p.slice(0, 12)}… (${p.length} chars)` : p,
      )
    }
  },
)

t.test('matching semantics: RegExp.test (unanchored search) for the syntax both share', async (t) => {
  // [pattern, input, expected, same as JavaScript's RegExp?]
  const cases: [string, string, boolean, boolean][] = [
    ['b+', 'abbbc', true, true],
    ['^b+', 'abbbc', false, true],
    ['^user-\\d+$', 'user-42', true, true],
    ['^user-\\d+$', 'user-42x', false, true],
    ['^user', 'USER-1', false, true],
    ['a$', 'a\n', false, true],
    ['^\\w+@corp\\.example$', 'ann_1@corp.example', true, true],
    ['\\bcat\\b', 'a cat!', true, true],
    ['\\bcat\\b', 'concat', false, true],
    ['^[^@]+@(?:a|b)\\.example$', 'x@b.example', true, true],
    ['(?P<year>\\d{4})-\\d{2}', 'on 2024-05', true, false],
    ['(?<year>\\d{4})-\\d{2}', 'on 2024-05', true, true],
    ['/api/v1/', 'GET /api/v1/flags', true, true],
    // RE2 only: inline flags, \x{…}, POSIX classes, \z, \Q…\E
    ['(?i)^user', 'USER-1', true, false],
    ['(?i:ab)c', 'ABc', true, false],
    ['(?i:ab)c', 'ABC', false, false],
    ['(?s)a.b', 'a\nb', true, false],
    ['(?m)^b$', 'a\nb\nc', true, false],
    ['caf\\x{e9}', 'café', true, false],
    ['^[[:alpha:]]+$', 'abc', true, false],
    ['a\\z', 'xa', true, false],
    ['\\Q1+1\\E', 'is 1+1?', true, false],
    // Differences from JavaScript without the u flag: `.` is one code point; `/…/i` is not flag syntax, just text.
    ['^.$', '😀', true, false],
    ['/abc/i', 'ABC', false, true],
    ['/abc/i', 'x/abc/i', true, true],
  ]
  for (const [p, input, expected, jsToo] of cases) {
    const d = evaluateDetail(compile(rulesetWith(p)), 'f', { key: 'u', a: input }, false)
    t.equal(d.value, expected, `${p} on ${JSON.stringify(input)}`)
    if (jsToo) t.equal(new RegExp(p).test(input), expected, `${p}: JavaScript agrees`)
  }
  // The cut is kept: MAX_REGEX_INPUT code units, then the rest is not seen.
  const long = `${'x'.repeat(MAX_REGEX_INPUT - 1)}yz`
  t.equal(
    evaluateDetail(compile(rulesetWith('y$')), 'f', { key: 'u', a: long }, false).value,
    true,
    `input cut to ${MAX_REGEX_INPUT}`,
  )
  t.equal(
    evaluateDetail(compile(rulesetWith('z')), 'f', { key: 'u', a: long }, false).value,
    false,
    'the tail is not seen',
  )
  // A cut through a surrogate pair leaves a lone surrogate: it matches nothing special, and nothing throws.
  const split = `${'x'.repeat(MAX_REGEX_INPUT - 1)}😀`
  t.equal(
    evaluateDetail(compile(rulesetWith('^x+')), 'f', { key: 'u', a: split }, false).value,
    true,
    'a split surrogate pair is harmless',
  )
})
