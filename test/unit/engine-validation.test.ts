// validateFlagConfig / validateSegment / findPrerequisiteCycle: every bad input names its path and code.
import t from 'tap'
import {
  compile,
  evaluateDetail,
  findPrerequisiteCycle,
  ISSUES,
  MAX_JSON_DEPTH,
  validateDefinition,
  validateFlagConfig,
  validateFlagWrite,
  validateSegment,
  validateSegmentWrite,
  type FlagConfig,
  type Ruleset,
  type ValidationIssue,
} from '../../sdk/core/index.js'

const boolDef = { key: 'f', kind: 'boolean', variations: [true, false] }
const good: FlagConfig = {
  on: true,
  offVariation: 1,
  prerequisites: [{ flag: 'other', variation: 0 }],
  targets: [{ variation: 0, values: ['u1'] }],
  rules: [
    {
      id: 'r1',
      clauses: [
        { attribute: 'country', op: 'in', values: ['GB'] },
        { attribute: 'v', op: 'semVerLessThan', values: ['2.0.0'] },
        { attribute: 'd', op: 'after', values: ['2024-01-01T00:00:00Z', 1700000000000] },
        { attribute: 'e', op: 'matches', values: ['^a+$'] },
        { attribute: 'x', op: 'exists', values: [] },
        { attribute: 'key', op: 'inSegment', values: ['beta'] },
      ],
      serve: {
        rollout: {
          weights: [
            { variation: 0, weight: 1 },
            { variation: 1, weight: 99_999 },
          ],
        },
      },
    },
  ],
  fallthrough: { variation: 1 },
  version: 3,
}

function codes(issues: ValidationIssue[]): string[] {
  return issues.map((i) => `${i.code} ${i.path}`)
}

t.same(validateFlagConfig(boolDef, good), [], 'a good configuration has no issue')

const cases: { name: string; def?: object; patch: (c: FlagConfig) => unknown; expect: string[] }[] = [
  {
    name: 'off variation out of range',
    patch: (c) => ({ ...c, offVariation: 2 }),
    expect: ['VARIATION_OUT_OF_RANGE /offVariation'],
  },
  {
    name: 'negative variation',
    patch: (c) => ({ ...c, fallthrough: { variation: -1 } }),
    expect: ['VARIATION_OUT_OF_RANGE /fallthrough/variation'],
  },
  {
    name: 'fractional variation',
    patch: (c) => ({ ...c, targets: [{ variation: 0.5, values: ['a'] }] }),
    expect: ['VARIATION_OUT_OF_RANGE /targets/0/variation'],
  },
  {
    name: 'weights do not sum to 100000',
    patch: (c) => ({
      ...c,
      fallthrough: {
        rollout: {
          weights: [
            { variation: 0, weight: 50_000 },
            { variation: 1, weight: 40_000 },
          ],
        },
      },
    }),
    expect: ['WEIGHTS_SUM /fallthrough/rollout/weights'],
  },
  {
    name: 'negative and fractional weights',
    patch: (c) => ({
      ...c,
      fallthrough: {
        rollout: {
          weights: [
            { variation: 0, weight: -1 },
            { variation: 1, weight: 100_000.5 },
          ],
        },
      },
    }),
    expect: ['BAD_WEIGHT /fallthrough/rollout/weights/0/weight', 'BAD_WEIGHT /fallthrough/rollout/weights/1/weight'],
  },
  {
    name: 'empty rollout',
    patch: (c) => ({ ...c, fallthrough: { rollout: { weights: [] } } }),
    expect: ['EMPTY_ROLLOUT /fallthrough/rollout/weights'],
  },
  {
    name: 'serve with both',
    patch: (c) => ({ ...c, fallthrough: { variation: 0, rollout: { weights: [] } } }),
    expect: ['BAD_SERVE /fallthrough'],
  },
  { name: 'serve with neither', patch: (c) => ({ ...c, fallthrough: {} }), expect: ['BAD_SERVE /fallthrough'] },
  {
    name: 'empty bucketBy',
    patch: (c) => ({ ...c, fallthrough: { rollout: { bucketBy: '', weights: [{ variation: 0, weight: 100_000 }] } } }),
    expect: ['BAD_ATTRIBUTE /fallthrough/rollout/bucketBy'],
  },
  {
    name: 'duplicate and empty rule ids',
    patch: (c) => ({ ...c, rules: [c.rules[0], { ...c.rules[0], id: 'r1' }, { ...c.rules[0], id: '' }] }),
    expect: ['DUPLICATE_RULE_ID /rules/1/id', 'EMPTY_RULE_ID /rules/2/id'],
  },
  {
    name: 'unknown operator',
    patch: (c) => ({
      ...c,
      rules: [{ id: 'r', clauses: [{ attribute: 'a', op: 'equals', values: ['x'] }], serve: { variation: 0 } }],
    }),
    expect: ['UNKNOWN_OPERATOR /rules/0/clauses/0/op'],
  },
  {
    name: 'clause value types',
    patch: (c) => ({
      ...c,
      rules: [
        {
          id: 'r',
          clauses: [
            { attribute: 'a', op: 'lessThan', values: [1, '2'] },
            { attribute: 'a', op: 'startsWith', values: [3] },
            { attribute: 'a', op: 'in', values: [{ x: 1 }, null] },
            { attribute: 'a', op: 'inSegment', values: [7] },
            { attribute: 'a', op: 'before', values: ['2024-13-01', '2024-01-01T00:00:00', 'tomorrow'] },
            { attribute: 'a', op: 'semVerEqual', values: ['1.2.3', '1.2.3.4', 'v1.0.0', '01.0.0'] },
            { attribute: 'a', op: 'matches', values: ['(', '[a-', 'ok'] },
          ],
          serve: { variation: 0 },
        },
      ],
    }),
    expect: [
      'WRONG_VALUE_TYPE /rules/0/clauses/0/values/1',
      'WRONG_VALUE_TYPE /rules/0/clauses/1/values/0',
      'WRONG_VALUE_TYPE /rules/0/clauses/2/values/0',
      'WRONG_VALUE_TYPE /rules/0/clauses/2/values/1',
      'WRONG_VALUE_TYPE /rules/0/clauses/3/values/0',
      'BAD_DATE /rules/0/clauses/4/values/0',
      'BAD_DATE /rules/0/clauses/4/values/1',
      'BAD_DATE /rules/0/clauses/4/values/2',
      'BAD_SEMVER /rules/0/clauses/5/values/1',
      'BAD_SEMVER /rules/0/clauses/5/values/2',
      'BAD_SEMVER /rules/0/clauses/5/values/3',
      'BAD_REGEX /rules/0/clauses/6/values/0',
      'BAD_REGEX /rules/0/clauses/6/values/1',
    ],
  },
  {
    name: 'empty values and empty attribute',
    patch: (c) => ({
      ...c,
      rules: [{ id: 'r', clauses: [{ attribute: '', op: 'in', values: [] }], serve: { variation: 0 } }],
    }),
    expect: ['BAD_ATTRIBUTE /rules/0/clauses/0/attribute', 'EMPTY_VALUES /rules/0/clauses/0/values'],
  },
  {
    name: 'negate not a boolean',
    patch: (c) => ({
      ...c,
      rules: [
        { id: 'r', clauses: [{ attribute: 'a', op: 'exists', values: [], negate: 'yes' }], serve: { variation: 0 } },
      ],
    }),
    expect: ['INVALID_SHAPE /rules/0/clauses/0/negate'],
  },
  {
    name: 'self prerequisite',
    patch: (c) => ({ ...c, prerequisites: [{ flag: 'f', variation: 0 }] }),
    expect: ['SELF_PREREQUISITE /prerequisites/0/flag'],
  },
  {
    name: 'duplicate prerequisite',
    patch: (c) => ({
      ...c,
      prerequisites: [
        { flag: 'o', variation: 0 },
        { flag: 'o', variation: 1 },
      ],
    }),
    expect: ['DUPLICATE_PREREQUISITE /prerequisites/1/flag'],
  },
  {
    name: 'same key targeted to two variations',
    patch: (c) => ({
      ...c,
      targets: [
        { variation: 0, values: ['a'] },
        { variation: 1, values: ['b', 'a', 5] },
      ],
    }),
    expect: ['DUPLICATE_TARGET /targets/1/values/1', 'WRONG_VALUE_TYPE /targets/1/values/2'],
  },
  { name: 'not an object', patch: () => 'nope', expect: ['INVALID_SHAPE '] },
  { name: 'on missing', patch: (c) => ({ ...c, on: 'true' }), expect: ['INVALID_SHAPE /on'] },
  {
    name: 'boolean flag with three variations',
    def: { kind: 'boolean', variations: [true, false, true] },
    patch: (c) => c,
    expect: ['BAD_BOOLEAN_VARIATIONS /variations'],
  },
  {
    name: 'boolean flag [true, true]',
    def: { kind: 'boolean', variations: [true, true] },
    patch: (c) => c,
    expect: ['BAD_BOOLEAN_VARIATIONS /variations'],
  },
  {
    name: 'boolean flag [false, true] is fine',
    def: { kind: 'boolean', variations: [false, true] },
    patch: (c) => c,
    expect: [],
  },
  {
    name: 'kind mismatch',
    def: { kind: 'number', variations: [1, 'two'] },
    patch: (c) => c,
    expect: ['KIND_MISMATCH /variations/1'],
  },
  {
    name: 'string duplicates',
    def: { kind: 'string', variations: ['a', 'a'] },
    patch: (c) => c,
    expect: ['DUPLICATE_VARIATION /variations/1'],
  },
  { name: 'unknown kind', def: { kind: 'date', variations: [1, 2] }, patch: (c) => c, expect: ['UNKNOWN_KIND /kind'] },
  {
    name: 'no variations',
    def: { kind: 'json', variations: [] },
    patch: (c) => ({ ...c, offVariation: null, fallthrough: { variation: 0 }, targets: [], rules: [] }),
    expect: ['NO_VARIATIONS /variations', 'VARIATION_OUT_OF_RANGE /fallthrough/variation'],
  },
  { name: 'json accepts objects', def: { kind: 'json', variations: [{ a: [1] }, null] }, patch: (c) => c, expect: [] },
]

for (const c of cases) {
  const issues = validateFlagConfig(c.def ?? boolDef, c.patch(structuredClone(good)))
  t.same(codes(issues), c.expect, c.name)
  for (const i of issues) t.ok(i.message.length > 0 && /^[A-Z_]+$/.test(i.code), `${c.name}: ${i.code} has a message`)
}

t.test('validateSegment', async (t) => {
  t.same(
    validateSegment({ key: 's', included: ['a'], excluded: [], rules: [], salt: 's', version: 1 }),
    [],
    'good segment',
  )
  t.same(
    codes(
      validateSegment({
        key: '',
        included: ['a', 3],
        excluded: 'b',
        salt: 1,
        rules: [
          { id: 'r', clauses: [{ attribute: 'a', op: 'matches', values: ['('] }], weight: 100_001 },
          { id: 'r', clauses: [], bucketBy: '' },
        ],
      }),
    ),
    [
      'INVALID_SHAPE /key',
      'INVALID_SHAPE /salt',
      'WRONG_VALUE_TYPE /included/1',
      'INVALID_SHAPE /excluded',
      'DUPLICATE_RULE_ID /rules/1/id',
      'BAD_REGEX /rules/0/clauses/0/values/0',
      'BAD_WEIGHT /rules/0/weight',
      'BAD_ATTRIBUTE /rules/1/bucketBy',
    ],
  )
  t.same(codes(validateSegment(null)), ['INVALID_SHAPE '])
})

t.test('findPrerequisiteCycle', async (t) => {
  t.equal(
    findPrerequisiteCycle(
      new Map([
        ['a', ['b']],
        ['b', ['c']],
        ['c', []],
      ]),
    ),
    null,
    'chain',
  )
  t.equal(
    findPrerequisiteCycle(
      new Map([
        ['a', ['b', 'c']],
        ['b', ['d']],
        ['c', ['d']],
        ['d', []],
      ]),
    ),
    null,
    'diamond is not a cycle',
  )
  t.same(
    findPrerequisiteCycle(
      new Map([
        ['a', ['b']],
        ['b', ['a']],
      ]),
    ),
    ['a', 'b', 'a'],
  )
  t.same(
    findPrerequisiteCycle(
      new Map([
        ['x', ['a']],
        ['a', ['b']],
        ['b', ['c']],
        ['c', ['a']],
      ]),
    ),
    ['a', 'b', 'c', 'a'],
  )
  t.same(findPrerequisiteCycle(new Map([['a', ['a']]])), ['a', 'a'], 'self loop')
  t.equal(findPrerequisiteCycle(new Map([['a', ['missing']]])), null, 'unknown keys are leaves')
  const long = new Map<string, string[]>()
  for (let i = 0; i < 100_000; i++) long.set(`f${i}`, [`f${i + 1}`])
  t.equal(findPrerequisiteCycle(long), null, 'a 100,000-deep chain does not overflow the stack')
  long.set('f100000', ['f0'])
  t.equal(findPrerequisiteCycle(long)?.length, 100_002, 'and its closing cycle is found')
})

t.test('validateDefinition: the checks of a definition, as the server runs them on create and patch', async (t) => {
  t.same(codes(validateDefinition({ kind: 'boolean', variations: [true, false] })), [], 'a good boolean flag')
  t.same(
    codes(validateDefinition({ kind: 'boolean', variations: [true, true] })),
    ['BAD_BOOLEAN_VARIATIONS /variations'],
    'the code compile() reports too',
  )
  t.same(codes(validateDefinition({ kind: 'string', variations: [] })), ['NO_VARIATIONS /variations'])
  t.same(
    codes(validateDefinition({ kind: 'json', variations: [{ a: 1 }, [1], { a: 1 }] })),
    ['DUPLICATE_VARIATION /variations/2'],
    'json: the same JSON text twice',
  )
  t.same(
    codes(
      validateDefinition({
        kind: 'json',
        variations: [
          { a: 1, b: 2 },
          { b: 2, a: 1 },
        ],
      }),
    ),
    [],
    'json: other key order, other value',
  )
  t.same(
    codes(validateDefinition({ kind: 'json', variations: ['{"a":1}', { a: 1 }, '1', 1] })),
    [],
    'json: a string is not the value it spells',
  )
  let deep: unknown = 1
  for (let i = 0; i < MAX_JSON_DEPTH; i++) deep = [deep]
  t.same(
    codes(validateDefinition({ kind: 'json', variations: [deep, 2] })),
    [],
    `${MAX_JSON_DEPTH} levels are accepted`,
  )
  // Alone: the kind checks are skipped, as they recurse into the values.
  t.same(
    codes(validateDefinition({ kind: 'boolean', variations: [[deep], true, false] })),
    ['TOO_DEEP /variations/0'],
    `${MAX_JSON_DEPTH + 1} levels are not`,
  )
  let hostile: unknown = 1
  for (let i = 0; i < 100_000; i++) hostile = [hostile]
  t.same(
    codes(validateDefinition({ kind: 'json', variations: [hostile] })),
    ['TOO_DEEP /variations/0'],
    'a 100,000-level value does not overflow the stack',
  )
})

t.test('a bad boolean flag has one code on both sides: the write check and the compiled flag', async (t) => {
  const def = { key: 'f', kind: 'boolean' as const, variations: [true, true] }
  const config = { on: true, offVariation: 1, prerequisites: [], targets: [], rules: [], fallthrough: { variation: 0 } }
  const written = validateFlagWrite(def, config, { flags: {}, segments: new Set() })
  t.same(codes(written), ['BAD_BOOLEAN_VARIATIONS /variations'])
  const ruleset = {
    environment: 'e',
    flags: { f: { ...def, ...config, salt: 'f', version: 1 } },
    segments: {},
  } as unknown as Ruleset
  t.same(
    evaluateDetail(compile(ruleset), 'f', { key: 'u' }, false).reason,
    { kind: 'ERROR', errorKind: 'PARSE_ERROR' },
    'the engine refuses it to evaluate',
  )
})

t.test("validateFlagWrite: the engine's checks, then those that need the environment", async (t) => {
  const def = { key: 'f', kind: 'boolean', variations: [true, false] }
  const env = {
    flags: {
      f: { variations: [true, false], prerequisites: [] }, // the flag being written: ignored
      other: { variations: [true, false], prerequisites: [{ flag: 'third' }] },
      third: { variations: ['a', 'b', 'c'], prerequisites: [] },
    },
    segments: new Set(['beta']),
  }
  const config = { ...good, prerequisites: [{ flag: 'other', variation: 0 }] }
  t.same(validateFlagWrite(def, config, env), [], 'a good configuration, its segment and prerequisite there')
  const inSeg = (k: string) => ({
    id: `r-${k}`,
    clauses: [{ attribute: 'key', op: 'inSegment' as const, values: [k] }],
    serve: { variation: 0 },
  })
  const bad = {
    ...good,
    offVariation: 2,
    rules: [inSeg('beta'), inSeg('ghosts')],
    prerequisites: [
      { flag: 'nope', variation: 0 },
      { flag: 'other', variation: 2 },
      { flag: 'constructor', variation: 0 },
      { flag: 'f', variation: 0 },
    ],
  }
  t.same(
    codes(validateFlagWrite(def, bad, env)),
    [
      'VARIATION_OUT_OF_RANGE /offVariation',
      'SELF_PREREQUISITE /prerequisites/3/flag',
      'SEGMENT_NOT_FOUND /rules/1',
      'FLAG_NOT_FOUND /prerequisites/0/flag',
      'VARIATION_OUT_OF_RANGE /prerequisites/1/variation',
      'FLAG_NOT_FOUND /prerequisites/2/flag',
      'PREREQUISITE_CYCLE /prerequisites',
    ],
    'in order: the engine\'s, segments, prerequisites, cycle ("constructor" is no flag, whatever Object.prototype has)',
  )
  const cyc = validateFlagWrite(
    { ...def, key: 'third' },
    { ...good, prerequisites: [{ flag: 'f', variation: 0 }] },
    {
      ...env,
      flags: { ...env.flags, f: { variations: [true, false], prerequisites: [{ flag: 'other' }] } },
    },
  )
  t.same(codes(cyc), ['PREREQUISITE_CYCLE /prerequisites'])
  t.equal(cyc[0]?.message, 'prerequisite cycle: f → other → third → f', 'the message names the cycle')
})

t.test('validateSegmentWrite: segments cannot refer to segments', async (t) => {
  const seg = { key: 's', included: [], excluded: [], salt: 's', version: 1 }
  t.same(
    validateSegmentWrite({
      ...seg,
      rules: [{ id: 'r', clauses: [{ attribute: 'country', op: 'in', values: ['GB'] }] }],
    }),
    [],
  )
  const nested = {
    ...seg,
    rules: [
      { id: 'a', clauses: [{ attribute: 'country', op: 'in', values: ['GB'] }] },
      { id: 'b', clauses: [{ attribute: 'key', op: 'inSegment', values: ['other'] }] },
      { id: 'c', clauses: [{ attribute: 'key', op: 'inSegment', values: [''] }] },
    ],
  }
  t.same(codes(validateSegmentWrite(nested)), [
    'WRONG_VALUE_TYPE /rules/2/clauses/0/values/0',
    'NESTED_SEGMENT /rules/1',
    'NESTED_SEGMENT /rules/2',
  ])
  t.same(
    codes(validateSegment(nested)),
    ['WRONG_VALUE_TYPE /rules/2/clauses/0/values/0'],
    'the engine alone still evaluates nesting (rulesets from elsewhere)',
  )
  t.same(codes(validateSegmentWrite(null)), ['INVALID_SHAPE '])
})

t.test('every issue has a catalogue code and a message', async (t) => {
  const issues = [
    ...validateFlagConfig(
      { kind: 'date', variations: 'x' },
      { on: 1, rules: {}, targets: {}, prerequisites: {}, fallthrough: {} },
    ),
    ...validateSegmentWrite({ key: 1, rules: [{ id: '', clauses: [{ op: 'inSegment', values: [1] }] }] }),
  ]
  t.ok(issues.length > 5)
  for (const i of issues) t.ok(Object.hasOwn(ISSUES, i.code) && i.message.length > 0, `${i.code} ${i.path}`)
})

t.test('knobs: bounds on the definition, a value in the configuration', async (t) => {
  const knob = { kind: 'number', variations: [100, 500], knobBounds: { min: 1, max: 5000, step: 1 } }
  const base = { ...good, offVariation: 0, targets: [], rules: [], prerequisites: [] }
  const cfg = (value: unknown) => ({ ...base, fallthrough: { variation: 2 }, knob: { value } })
  t.same(validateFlagConfig(knob, cfg(2000)), [], 'a value in bounds is variation 2')
  t.same(codes(validateFlagConfig(knob, cfg(9000))), [
    'KNOB_OUT_OF_BOUNDS /knob/value',
    'VARIATION_OUT_OF_RANGE /fallthrough/variation',
  ])
  t.same(codes(validateFlagConfig(knob, cfg(2.5))), [
    'KNOB_OFF_STEP /knob/value',
    'VARIATION_OUT_OF_RANGE /fallthrough/variation',
  ])
  t.same(codes(validateFlagConfig(knob, cfg('2000'))), [
    'KNOB_NOT_NUMBER /knob/value',
    'VARIATION_OUT_OF_RANGE /fallthrough/variation',
  ])
  t.same(
    codes(validateFlagConfig({ kind: 'number', variations: [100] }, { ...cfg(5), fallthrough: { variation: 0 } })),
    ['NOT_A_KNOB /knob'],
  )
  t.same(
    codes(validateFlagConfig({ kind: 'number', variations: [100] }, { ...base, fallthrough: { variation: 1 } })),
    ['VARIATION_OUT_OF_RANGE /fallthrough/variation'],
    'without knob, index variations.length is out of range (what an SDK that predates knobs sees)',
  )
  t.same(codes(validateDefinition({ kind: 'string', variations: ['a'], knobBounds: { min: 1, max: 2 } })), [
    'KNOB_NOT_NUMBER /knob',
  ])
  t.same(codes(validateDefinition({ kind: 'number', variations: [1], knobBounds: { min: 5, max: 2 } })), [
    'KNOB_BAD_BOUNDS /knob',
  ])
  t.same(codes(validateDefinition({ kind: 'number', variations: [1], knobBounds: { min: 1, max: 2, step: 0 } })), [
    'KNOB_BAD_BOUNDS /knob/step',
  ])
  t.same(validateDefinition({ kind: 'number', variations: [1], knobBounds: { min: 0, max: 1, step: 0.1 } }), [])
})
