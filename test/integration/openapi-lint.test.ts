/**
 * The REST reference: /openapi.json of the real app, checked by a real OpenAPI
 * linter (Redocly, the `recommended` rules: no error, no warning), by what
 * the linter does not check (summaries, descriptions, examples, content
 * types, required headers), and by the server itself: the documented request
 * examples are accepted as they are.
 */
import { createConfig, lintFromString, type NormalizedProblem } from '@redocly/openapi-core'
import t from 'tap'
import { startServer } from '../helpers/server.js'

interface Media {
  schema?: unknown
  example?: unknown
  examples?: Record<string, { value: unknown }>
}
interface Parameter {
  name: string
  in: string
  required?: boolean
}
interface Operation {
  operationId: string
  summary?: string
  description?: string
  parameters?: Parameter[]
  requestBody?: { content: Record<string, Media> }
  responses: Record<string, { description: string; content?: Record<string, Media> }>
}
interface Doc {
  paths: Record<string, Record<string, Operation>>
}

async function lint(doc: unknown): Promise<NormalizedProblem[]> {
  const config = await createConfig({ extends: ['recommended'] })
  return lintFromString({ source: JSON.stringify(doc), absoluteRef: 'openapi.json', config })
}

const describe = (ps: NormalizedProblem[]) =>
  ps.map((p) => `${p.severity} ${p.ruleId}: ${p.message} at ${p.location[0]?.pointer ?? '?'}`)

function operations(doc: Doc): Array<[string, Operation]> {
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([m, op]): [string, Operation] => [`${m.toUpperCase()} ${path}`, op]),
  )
}

/** The first example of a media type (`example`, or the first of `examples`). */
function exampleOf(media: Media | undefined): unknown {
  if (media === undefined) return undefined
  return media.example ?? Object.values(media.examples ?? {})[0]?.value
}

t.test('/openapi.json is clean under Redocly recommended: 0 errors, 0 warnings', async (t) => {
  const s = await startServer(t)
  const r = await s.api('GET', '/openapi.json', { token: null })
  t.equal(r.status, 200)
  const problems = await lint(r.body)
  t.same(describe(problems), [], 'no problem reported')

  // The linter is live: the same document with a wrong example and a missing summary is refused.
  const broken = structuredClone(r.body) as Doc
  const create = broken.paths['/api/v1/environments']!.post!
  delete create.summary
  create.requestBody!.content['application/json']!.example = { key: 42 }
  const found = new Set((await lint(broken)).map((p) => `${p.severity} ${p.ruleId}`))
  t.ok(found.has('error operation-summary'), 'a missing summary is an error')
  t.ok(found.has('warn no-invalid-media-type-examples'), 'an example that breaks its schema is a warning')
})

t.test('every operation: summary, description, examples, described responses, content types', async (t) => {
  const s = await startServer(t)
  const doc = (await s.api('GET', '/openapi.json', { token: null })).body as Doc
  const ops = operations(doc)
  t.ok(ops.length >= 42, `${ops.length} operations`)
  for (const [name, op] of ops) {
    t.ok(op.summary && op.summary.length <= 60, `${name} has a short summary`)
    t.ok(op.description && op.description.length > 10, `${name} has a description`)
    for (const [ct, media] of Object.entries(op.requestBody?.content ?? {}))
      t.not(exampleOf(media), undefined, `${name} ${ct} body has an example`)
    for (const [status, res] of Object.entries(op.responses)) {
      t.not(res.description, 'Default Response', `${name} ${status} is described`)
      // Errors are JSON everywhere, also on the text/plain and text/event-stream routes.
      if (Number(status) >= 400)
        t.same(Object.keys(res.content ?? {}), ['application/json'], `${name} ${status} is JSON`)
    }
    if (name.startsWith('POST') || name.startsWith('PUT') || name.startsWith('PATCH')) {
      if (op.requestBody) t.ok('413' in op.responses && '415' in op.responses, `${name} documents 413 and 415`)
    }
  }
  const op = (name: string) => ops.find(([n]) => n === name)?.[1] as Operation

  const members = op('POST /api/v1/environments/{env}/segments/{key}/members')
  t.same(
    Object.keys(members.requestBody!.content).sort(),
    ['application/json', 'text/plain'],
    'member uploads: JSON or text/plain',
  )
  t.equal(exampleOf(members.requestBody!.content['text/plain']), 'user-17\nuser-18\n')
  for (const name of ['GET /api/v1/sdk/stream', 'GET /api/v1/sdk/client/stream']) {
    t.same(Object.keys(op(name).responses['200']!.content!), ['text/event-stream'], `${name} streams text/event-stream`)
    t.match(
      exampleOf(op(name).responses['200']!.content!['text/event-stream']),
      /^retry: \d+\n\nid: .+\nevent: put\ndata: \{/,
      `${name} example is SSE`,
    )
  }
  t.same(Object.keys(op('GET /metrics').responses['200']!.content!), ['text/plain'], '/metrics is text/plain')
  for (const name of ['GET /healthz', 'GET /readyz', 'GET /metrics'])
    t.same((op(name) as { security?: unknown }).security, [], `${name} is public`)

  // If-Match: required where 428 answers its absence, optional where it is honoured, absent where it is ignored (README table).
  const ifMatch = (name: string) => op(name).parameters?.find((p) => p.in === 'header' && p.name === 'if-match')
  t.equal(ifMatch('PUT /api/v1/environments/{env}/flags/{key}')?.required, true, 'PUT flag config: If-Match required')
  t.ok('428' in op('PUT /api/v1/environments/{env}/flags/{key}').responses, 'PUT flag config: 428 documented')
  for (const name of [
    'POST /api/v1/environments/{env}/flags/{key}/toggle',
    'POST /api/v1/environments/{env}/flags/{key}/rollback',
    'PATCH /api/v1/flags/{key}',
    'DELETE /api/v1/flags/{key}',
    'PATCH /api/v1/environments/{env}',
    'DELETE /api/v1/environments/{env}',
    'PUT /api/v1/environments/{env}/segments/{key}',
    'DELETE /api/v1/environments/{env}/segments/{key}',
    'POST /api/v1/environments/{env}/segments/{key}/members',
  ]) {
    t.equal(ifMatch(name)?.required, false, `${name}: If-Match optional`)
    t.ok('412' in op(name).responses, `${name}: 412 documented`)
  }
  t.equal(
    ifMatch('POST /api/v1/environments/{env}/flags/{key}/kill'),
    undefined,
    'kill: If-Match ignored by design, not a parameter',
  )
  // The conditional and resume headers the SDK routes honour.
  const header = (name: string, h: string) => op(name).parameters?.find((p) => p.in === 'header' && p.name === h)
  for (const name of ['GET /api/v1/sdk/rules', 'GET /api/v1/sdk/client/values']) {
    t.equal(header(name, 'if-none-match')?.required, false, `${name}: If-None-Match optional`)
    t.ok('304' in op(name).responses, `${name}: 304 documented`)
  }
  t.equal(header('GET /api/v1/sdk/stream', 'last-event-id')?.required, false, 'sdk stream: Last-Event-ID optional')
})

t.test('the documented request examples are accepted by the server as they are', async (t) => {
  const s = await startServer(t)
  const doc = (await s.api('GET', '/openapi.json', { token: null })).body as Doc
  const body = (method: string, path: string, ct = 'application/json') =>
    exampleOf(doc.paths[path]![method]!.requestBody!.content[ct])
  const P = '/api/v1/environments/production'
  t.equal((await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })).status, 201)

  let r = await s.api('POST', '/api/v1/environments', { body: body('post', '/api/v1/environments') })
  t.equal(r.status, 201, 'createEnvironment example')
  r = await s.api('POST', '/api/v1/flags', { body: body('post', '/api/v1/flags') })
  t.equal(r.status, 201, 'createFlag example')
  const flag = r.body.key as string
  r = await s.api('POST', `${P}/segments`, { body: body('post', '/api/v1/environments/{env}/segments') })
  t.equal(r.status, 201, 'createSegment example')
  const segment = r.body.key as string
  r = await s.api('PUT', `${P}/flags/${flag}`, {
    body: body('put', '/api/v1/environments/{env}/flags/{key}'),
    headers: { 'if-match': '"1"' },
  })
  t.equal(r.status, 200, 'putFlagConfig example (with the documented If-Match)')
  r = await s.api('POST', `${P}/segments/${segment}/members`, {
    body: body('post', '/api/v1/environments/{env}/segments/{key}/members'),
  })
  t.same([r.status, r.body.added, r.body.removed], [200, 0, 0], 'members JSON example: its ids were already in')
  r = await s.api('POST', `${P}/segments/${segment}/members?op=remove`, {
    body: body('post', '/api/v1/environments/{env}/segments/{key}/members', 'text/plain') as string,
    headers: { 'content-type': 'text/plain' },
  })
  t.same([r.status, r.body.removed, r.body.count], [200, 2, 0], 'members text/plain example')
  r = await s.api('PUT', `${P}/segments/${segment}`, { body: body('put', '/api/v1/environments/{env}/segments/{key}') })
  t.equal(r.status, 200, 'putSegment example')
  r = await s.api('POST', `${P}/evaluate`, { body: body('post', '/api/v1/environments/{env}/evaluate') })
  t.equal(r.status, 200, 'evaluate example')
  t.same(
    r.body,
    exampleOf(doc.paths['/api/v1/environments/{env}/evaluate']!.post!.responses['200']!.content!['application/json']),
    'answers the documented response example',
  )
  for (const [path, expected] of [
    ['/flags/{key}/toggle', 200],
    ['/flags/{key}/kill', 200],
    ['/flags/{key}/rollback', 200],
  ] as const) {
    r = await s.api('POST', `${P}/flags/${flag}${path.slice('/flags/{key}'.length)}`, {
      body: body('post', `/api/v1/environments/{env}${path}`),
    })
    t.equal(r.status, expected, `${path} example`)
  }
  r = await s.api('PATCH', `/api/v1/flags/${flag}`, { body: body('patch', '/api/v1/flags/{key}') })
  t.equal(r.status, 200, 'updateFlag example')
  r = await s.api('PATCH', P, { body: body('patch', '/api/v1/environments/{env}') })
  t.equal(r.status, 200, 'updateEnvironment example')
  r = await s.api('POST', `${P}/signing-secret/rotate`, {
    body: body('post', '/api/v1/environments/{env}/signing-secret/rotate'),
  })
  t.equal(r.status, 200, 'rotateSigningSecret example')
  r = await s.api('POST', '/api/v1/tokens', { body: body('post', '/api/v1/tokens') })
  t.equal(r.status, 201, 'createToken example')
  const sdk = r.body.secret as string
  r = await s.api('POST', '/api/v1/sdk/metrics', { token: sdk, body: body('post', '/api/v1/sdk/metrics') })
  t.equal(r.status, 202, 'sdkMetrics example')
})
