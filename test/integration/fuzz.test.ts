/**
 * Every route, fed arbitrary JSON bodies, odd path parameters and query
 * strings (fast-check): the answer is always a 2xx/3xx or a 4xx with a code
 * from the catalogue, never a 5xx.
 */
import fc from 'fast-check'
import t from 'tap'
import { ERRORS } from '../../src/errors.js'
import { startServer } from '../helpers/server.js'

t.test('no input produces a 5xx', async (t) => {
  const s = await startServer(t)
  await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })
  await s.api('POST', '/api/v1/flags', { body: { key: 'f', kind: 'boolean' } })
  await s.api('POST', '/api/v1/environments/production/segments', { body: { key: 'seg', included: ['u1'] } })
  const doc = (await s.api('GET', '/openapi.json', { token: null })).body as {
    paths: Record<string, Record<string, unknown>>
  }
  const routes: Array<{ method: string; path: string }> = []
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const method of Object.keys(ops)) {
      // Streams never end by themselves; they have their own tests.
      if (path.endsWith('/stream')) continue
      routes.push({ method: method.toUpperCase(), path })
    }
  }
  t.ok(routes.length >= 30, `${routes.length} routes`)

  const param = fc.oneof(
    fc.constantFrom('production', 'f', 'seg', 'u1', '1'),
    fc.string({ maxLength: 40 }),
    fc.constantFrom('..', '%00', 'a'.repeat(300), '{x}', 'global', '%F0%9F%92%A5', '__proto__', 'constructor'),
  )
  const query = fc.dictionary(
    fc.constantFrom('limit', 'cursor', 'since', 'env', 'flag', 'list', 'op', 'tag', 'changeId', 'reason', 'context'),
    fc.string({ maxLength: 30 }),
    { maxKeys: 3 },
  )
  const body = fc.oneof(
    fc.json({ maxDepth: 3 }).map((j) => ({ raw: j, type: 'application/json' })),
    fc.constantFrom(
      { raw: '{"on":true,"fallthrough":{"variation":99999999999}}', type: 'application/json' },
      { raw: '{"add":[null],"remove":{}}', type: 'application/json' },
      { raw: '{"__proto__":{"polluted":1},"key":"x","kind":"boolean"}', type: 'application/json' },
      { raw: 'not json', type: 'application/json' },
      { raw: 'u1\nu2', type: 'text/plain' },
      { raw: '', type: 'application/json' },
      { raw: '{"context":{"key":[1,2]}}', type: 'application/json' },
    ),
  )
  const codes = new Set(Object.keys(ERRORS))
  let requests = 0
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...routes), param, param, param, query, body, async (route, p1, p2, p3, q, b) => {
      const values = [p1, p2, p3]
      const path = route.path.replace(/\{[^}]+\}/g, () => encodeURIComponent(values.shift() ?? 'x'))
      const qs = new URLSearchParams(q).toString()
      const headers: Record<string, string> = { 'content-type': b.type, 'if-match': '"1"' }
      const hasBody = route.method !== 'GET' && route.method !== 'DELETE'
      const r = await s.api(route.method, `${path}${qs ? `?${qs}` : ''}`, { headers, ...(hasBody && { body: b.raw }) })
      requests++
      if (r.status >= 500)
        throw new Error(
          `${route.method} ${path}?${qs} ${JSON.stringify(b.raw)?.slice(0, 200)} → ${r.status} ${r.text.slice(0, 300)}`,
        )
      if (r.status >= 400 && !codes.has(r.body?.code))
        throw new Error(`${route.method} ${path}: unknown code ${r.text.slice(0, 200)}`)
    }),
    { numRuns: 1500 },
  )
  t.ok(requests >= 1500, `${requests} requests, none a 5xx`)
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution')
  t.equal((await s.api('GET', '/readyz', { token: null })).status, 200, 'still serving')
})
