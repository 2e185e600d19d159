// parseRulesText (sdk/core/member-lists.ts) against JSON.parse: large member lists packed straight from
// the text must give the same ruleset as JSON.parse, for any text (escapes, unicode, lone surrogates,
// whitespace, duplicate keys, non-string elements, invalid JSON), with the cut lowered so small data is packed.
import t from 'tap'
import fc from 'fast-check'
import { isDeepStrictEqual } from 'node:util'
import { idSetLimits } from '../../sdk/core/id-set.js'
import { parseRulesText, takePrebuilt } from '../../sdk/core/member-lists.js'
import { compile, evaluate } from '../../sdk/core/index.js'
import { createClient, memoryStorage } from '../../sdk/index.js'
import { fnv1a } from '../../sdk/client/last-known-good.js'
import { until } from '../helpers/wait.js'

const norm = (s: string): string => new TextDecoder().decode(new TextEncoder().encode(s))

const cut = idSetLimits.smallMax
t.teardown(() => {
  idSetLimits.smallMax = cut
})
idSetLimits.smallMax = 2

const id = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: fc.constantFrom('a', 'b', '0', '-'), maxLength: 6 }) },
  fc.string({ maxLength: 5 }), // quotes, backslashes, control characters: escaped by JSON.stringify
  fc.string({ unit: 'grapheme', maxLength: 3 }),
  fc.string({ unit: 'binary', maxLength: 3 }), // lone surrogates (escaped as \udxxx)
  fc.constantFrom('"', '\\', '\\"', '"\\', '\n', 'é', '😀', '\u2028', 'a'.repeat(130)),
)
const list = fc.oneof(
  { weight: 5, arbitrary: fc.array(id, { maxLength: 12 }) },
  fc.array(fc.oneof(id, fc.integer(), fc.constant(null)), { maxLength: 5 }), // not only strings: JSON.parse's
  fc.constant('not a list'),
)
const segment = fc.record(
  { key: fc.string({ maxLength: 4 }), included: list, excluded: list, rules: fc.constant([]), version: fc.nat() },
  { requiredKeys: ['key'] },
)
const ruleset = fc.record({
  specVersion: fc.constant(1),
  flags: fc.dictionary(fc.string({ maxLength: 3 }), fc.jsonValue({ maxDepth: 2 })),
  segments: fc.dictionary(fc.oneof(fc.string({ maxLength: 4 }), fc.constant('__proto__')), segment, {
    maxKeys: 3,
  }),
})

/** JSON text of `v`, with optional whitespace after each structural character. */
function spaced(v: unknown, ws: string): string {
  const text = JSON.stringify(v)
  if (ws === '') return text
  let out = ''
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    out += c
    if (inString) {
      if (c === '\\') out += text[++i]
      else if (c === '"') inString = false
    } else if (c === '"') inString = true
    else if ('{}[],:'.includes(c)) out += ws
  }
  return out
}

let packedLists = 0

/** Replaces each member list that stands for a packed set by its sorted members. */
function expand(v: unknown, underData: boolean): unknown {
  const root = (underData ? (v as { data?: unknown }).data : v) as { segments?: unknown } | null
  const segs = root && typeof root === 'object' ? root.segments : undefined
  if (segs && typeof segs === 'object') {
    for (const seg of Object.values(segs as Record<string, Record<string, unknown>>)) {
      if (!seg || typeof seg !== 'object') continue
      for (const l of ['included', 'excluded']) {
        const set = takePrebuilt(seg[l])
        if (set === null) continue
        packedLists++
        const ids: string[] = []
        set.forEach((x) => {
          ids.push(x)
        })
        Object.defineProperty(seg, l, { value: ids.sort(), enumerable: true, writable: true, configurable: true })
      }
    }
  }
  return v
}

/** JSON.parse's answer, with every member list of strings as the sorted set UTF-8 makes of it. */
function expected(text: string, underData: boolean): unknown {
  const v = JSON.parse(text) as unknown
  const root = (underData ? (v as { data?: unknown }).data : v) as { segments?: unknown } | null
  const segs = root && typeof root === 'object' ? root.segments : undefined
  if (segs && typeof segs === 'object') {
    for (const seg of Object.values(segs as Record<string, Record<string, unknown>>)) {
      if (!seg || typeof seg !== 'object') continue
      for (const l of ['included', 'excluded']) {
        const a = seg[l]
        if (!Array.isArray(a) || a.length <= 2 || !a.every((x) => typeof x === 'string')) continue
        const ids = [...new Set(a.map(norm))].sort()
        Object.defineProperty(seg, l, { value: ids, enumerable: true, writable: true, configurable: true })
      }
    }
  }
  return v
}

t.test('parseRulesText gives what JSON.parse gives, member lists as sets', async (t) => {
  fc.assert(
    fc.property(ruleset, fc.constantFrom('', ' ', '\n\t'), fc.boolean(), (rs, ws, snapshot) => {
      const doc = snapshot ? { v: 1, scope: 's', data: rs, appliedId: null } : rs
      const text = spaced(doc, ws)
      return isDeepStrictEqual(expand(parseRulesText(text, snapshot), snapshot), expected(text, snapshot))
    }),
    { numRuns: 400 },
  )
  t.pass('400 rulesets, raw and spaced, as put data and as snapshots')
  t.ok(packedLists > 100, `${packedLists} lists were packed from the text`)
})

t.test('duplicate keys: the last wins, as in JSON.parse', async (t) => {
  const big = (p: string) => JSON.stringify([`${p}1`, `${p}2`, `${p}3`])
  const texts = [
    `{"segments":{"s":{"key":"s","included":${big('a')},"included":${big('b')}}}}`,
    `{"segments":{"s":{"key":"s","included":${big('a')}},"s":{"key":"s"}}}`,
    `{"segments":{"s":{"key":"s","included":${big('a')}}},"segments":{}}`,
    `{"segments":{"s":{"key":"s","included":${big('a')}}},"segments":{"s":{"key":"s","excluded":${big('c')}}}}`,
  ]
  for (const text of texts) t.same(expand(parseRulesText(text), false), expected(text, false), text)
  const snap = `{"data":{"segments":{"s":{"key":"s","included":${big('a')}}}},"data":{"segments":{}}}`
  t.same(expand(parseRulesText(snap, true), true), expected(snap, true), snap)
})

t.test('invalid JSON throws exactly when JSON.parse throws', async (t) => {
  fc.assert(
    fc.property(
      ruleset,
      fc.nat(),
      fc.constantFrom('', '"', '\\', ',', ']', '}', '\u0001', '\n', '[', 'x'),
      fc.boolean(),
      (rs, at, insert, truncate) => {
        const good = JSON.stringify(rs)
        const pos = at % (good.length + 1)
        const text = truncate ? good.slice(0, pos) : good.slice(0, pos) + insert + good.slice(pos)
        let jsonThrew = false
        try {
          JSON.parse(text)
        } catch {
          jsonThrew = true
        }
        let ours: unknown
        let threw = false
        try {
          ours = parseRulesText(text)
        } catch {
          threw = true
        }
        return threw === jsonThrew && (threw || isDeepStrictEqual(expand(ours, false), expected(text, false)))
      },
    ),
    { numRuns: 600 },
  )
  t.pass('600 truncated or corrupted texts')
})

t.test('a packed list compiles and evaluates like the list JSON.parse gives', async (t) => {
  const ids = Array.from({ length: 50 }, (_, i) => (i % 5 === 0 ? `é-${i}` : i % 7 === 0 ? `q"${i}\\` : `u${i}`))
  const text = JSON.stringify({
    specVersion: 1,
    environment: 'e',
    flags: {
      f: {
        key: 'f',
        kind: 'boolean',
        on: true,
        version: 1,
        variations: [true, false],
        offVariation: 1,
        fallthrough: { variation: 1 },
        rules: [{ id: 'r', clauses: [{ attribute: 'key', op: 'inSegment', values: ['s'] }], serve: { variation: 0 } }],
      },
    },
    segments: { s: { key: 's', included: ids, excluded: ['u1'], rules: [], salt: 's', version: 1 } },
  })
  const c = compile(parseRulesText(text) as Parameters<typeof compile>[0])
  t.equal(c.segments.get('s')!.included.representation, 'packed', 'built from the text')
  t.same(c.segments.get('s')!.issues, [])
  for (const k of [...ids, 'u999', 'é', 'q"7']) {
    t.equal(evaluate(c, 'f', { key: k }, false), ids.includes(k) && k !== 'u1', k)
  }
})

t.test('a server-mode client answers from a cached snapshot whose lists were packed from its text', async (t) => {
  const url = 'http://127.0.0.1:9'
  const token = 'sy_srv_test'
  const ids = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? `ü${i}` : `k${i}`))
  const data = {
    specVersion: 1,
    environment: 'e',
    flags: {
      f: {
        key: 'f',
        kind: 'boolean',
        on: true,
        version: 1,
        variations: [true, false],
        offVariation: 1,
        fallthrough: { variation: 1 },
        rules: [{ id: 'r', clauses: [{ attribute: 'key', op: 'inSegment', values: ['s'] }], serve: { variation: 0 } }],
      },
    },
    segments: { s: { key: 's', included: ids, excluded: [], rules: [], salt: 's', version: 1 } },
  }
  const snap = { v: 1, scope: fnv1a(`server\n${url}\n${token}\n`), mode: 'server', appliedId: '1-0', syncedAt: 0, data }
  const client = createClient({
    url,
    token,
    storage: memoryStorage(JSON.stringify(snap)),
    sendMetrics: false,
    logger: {},
    // Never answers, but like fetch gives up when its signal aborts: close() aborts the stream, and a fetch
    // that ignored it would keep the stream's 37.5 s heartbeat watchdog (and this process) alive.
    fetch: (_url, init) =>
      new Promise<Response>((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason))),
  })
  t.teardown(() => client.close())
  await until(() => client.source === 'cache')
  for (const k of [...ids, 'k1x', 'ü', 'nobody']) t.equal(client.isEnabled('f', { key: k }), ids.includes(k), k)
})
