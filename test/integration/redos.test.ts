// ReDoS through the real server, Redis and the real Node SDK:
// hostile patterns are refused when written or run in linear time, and the
// public sdk-client token cannot freeze the instance with a crafted context.
import t from 'tap'
import { createClient } from '../../sdk/index.js'
import { MAX_CONTEXT_BYTES } from '../../src/stream/client-context.js'
import { ATTACK_LENGTH, CORPUS, type Catastrophic } from '../helpers/redos-corpus.js'
import { createFlag, createSdkEnv, encodeContext, putConfig } from '../helpers/sdk-fixtures.js'
import { ADMIN, startServer, type Teardown, type TestServer } from '../helpers/server.js'

const FLAG_PATH = '/api/v1/environments/production/flags'
/** Generous: a frozen instance never answers; a healthy one answers in milliseconds. */
const HTTP_TIMEOUT_MS = 15_000
const BOUND_MS = 10
const quiet = { warn() {}, error() {}, info() {}, debug() {} }

/** The patterns safe-regex2 let through, which froze the instance. */
const ISSUE_7 = ['^(a|a)*$', '^(a|aa)+$', '^(\\w|\\d)*!$', '.*.*.*.*.*.*=$']
const hostile = ISSUE_7.map((p, i) => ({
  key: `hostile-${i}`,
  entry: CORPUS.find((c) => c.pattern === p) as Catastrophic,
}))

/** Over HTTP a context is at most MAX_CONTEXT_BYTES of JSON (400 INVALID_CONTEXT beyond): the attack is as long as fits. */
function attackContext(c: Catastrophic): { key: string; a: string } {
  let n = MAX_CONTEXT_BYTES
  for (;;) {
    const ctx = { key: 'mallory', a: c.attack(n) }
    const bytes = Buffer.byteLength(JSON.stringify(ctx))
    if (bytes <= MAX_CONTEXT_BYTES) return ctx
    n = Math.floor((n * (MAX_CONTEXT_BYTES - 32)) / bytes)
  }
}

function config(pattern: string) {
  return {
    rules: [{ id: 'r', clauses: [{ attribute: 'a', op: 'matches', values: [pattern] }], serve: { variation: 0 } }],
  }
}

async function timedFetch(url: string, init: RequestInit = {}): Promise<{ status: number; body: unknown; ms: number }> {
  const t0 = performance.now()
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) })
  const body: unknown = await res.json()
  return { status: res.status, body, ms: performance.now() - t0 }
}

async function withHostileFlags(t: Teardown): Promise<{ s: TestServer; clientToken: string; serverToken: string }> {
  const s = await startServer(t)
  const e = await createSdkEnv(s)
  for (const h of hostile) {
    await createFlag(s, h.key, { clientSide: true })
    await putConfig(s, 'production', h.key, config(h.entry.pattern))
  }
  return { s, clientToken: e.clientToken, serverToken: e.serverToken }
}

t.test('REST: each corpus pattern is refused with 400 BAD_REGEX, or accepted', async (t) => {
  const s = await startServer(t)
  await createSdkEnv(s)
  await createFlag(s, 'target')
  for (const c of CORPUS) {
    const cur = await s.api('GET', `${FLAG_PATH}/target`)
    const body = {
      on: true,
      offVariation: 1,
      targets: [],
      prerequisites: [],
      fallthrough: { variation: 1 },
      ...config(c.pattern),
    }
    const r = await s.api('PUT', `${FLAG_PATH}/target`, { body, headers: { 'if-match': `"${cur.body.version}"` } })
    if (c.refused === false) {
      t.equal(r.status, 200, `${c.name}: accepted (RE2 runs it in linear time)`)
      continue
    }
    t.equal(r.status, 400, `${c.name}: refused`)
    t.equal(r.body.code, 'VALIDATION_FAILED')
    const d = (r.body.details as { path: string; code: string; message: string }[]).find((x) => x.code === 'BAD_REGEX')
    t.equal(d?.path, '/rules/0/clauses/0/values/0', `${c.name}: BAD_REGEX at the pattern`)
    t.match(d?.message, c.refused === 'size' ? /too complex/ : /RE2 syntax/)
  }
  // Segment rules go through the same check.
  const refused = CORPUS.find((c) => c.refused === 'syntax') as Catastrophic
  const r = await s.api('POST', '/api/v1/environments/production/segments', {
    body: {
      key: 'hostile',
      rules: [{ id: 'r', clauses: [{ attribute: 'a', op: 'matches', values: [refused.pattern] }] }],
    },
  })
  t.equal(r.status, 400)
  t.ok(
    r.body.details.some(
      (x: { code: string; path: string }) => x.code === 'BAD_REGEX' && x.path === '/rules/0/clauses/0/values/0',
    ),
    'segment: BAD_REGEX',
  )
})

t.test('the public sdk-client token cannot freeze the instance: /values and /healthz both answer', async (t) => {
  const { s, clientToken } = await withHostileFlags(t)
  for (const h of hostile) {
    const ctx = encodeContext(attackContext(h.entry))
    const [values, health] = await Promise.all([
      timedFetch(`${s.url}/api/v1/sdk/client/values?context=${ctx}`, {
        headers: { authorization: `Bearer ${clientToken}` },
      }),
      timedFetch(`${s.url}/healthz`),
    ])
    t.equal(values.status, 200, `${h.entry.pattern}: /values answered in ${values.ms.toFixed(0)} ms`)
    t.equal(health.status, 200, `${h.entry.pattern}: /healthz answered meanwhile in ${health.ms.toFixed(0)} ms`)
    const flags = (values.body as { flags: Record<string, { reason: { kind: string } }> }).flags
    t.ok(['RULE_MATCH', 'FALLTHROUGH'].includes(flags[h.key]?.reason.kind ?? ''), `${h.key} evaluated`)
  }
})

t.test(
  '/evaluate with the longest attribute a context may carry answers (every accepted corpus pattern)',
  async (t) => {
    const s = await startServer(t)
    await createSdkEnv(s)
    const accepted = CORPUS.filter((c) => c.refused === false)
    for (const [i, c] of accepted.entries()) {
      await createFlag(s, `p-${i}`)
      await putConfig(s, 'production', `p-${i}`, config(c.pattern))
    }
    for (const [i, c] of accepted.entries()) {
      const [r, health] = await Promise.all([
        timedFetch(`${s.url}/api/v1/environments/production/evaluate`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ context: attackContext(c), flags: [`p-${i}`] }),
        }),
        timedFetch(`${s.url}/healthz`),
      ])
      t.equal(r.status, 200, `${c.name}: ${r.ms.toFixed(0)} ms`)
      t.equal(health.status, 200, `${c.name}: /healthz meanwhile`)
    }
  },
)

t.test('the Node SDK in server mode evaluates the attacks in < 10 ms each', async (t) => {
  const { s, serverToken } = await withHostileFlags(t)
  const c = createClient({ url: s.url, token: serverToken, logger: quiet, sendMetrics: false })
  t.teardown(() => c.close())
  await c.ready({ timeoutMs: 10_000 })
  t.equal(c.source, 'server')
  for (const h of hostile) {
    const context = { key: 'mallory', a: h.entry.attack(ATTACK_LENGTH) }
    const times: number[] = []
    let kind = ''
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now()
      kind = c.variationDetail(h.key, context, false).reason.kind
      times.push(performance.now() - t0)
    }
    t.ok(kind === 'RULE_MATCH' || kind === 'FALLTHROUGH', `${h.key}: evaluated (${kind})`)
    const best = Math.min(...times)
    t.ok(
      best < BOUND_MS,
      `${h.entry.pattern}: ${best.toFixed(2)} ms < ${BOUND_MS} ms (first call, cold automaton: ${times[0]!.toFixed(2)} ms)`,
    )
  }
})
