/**
 * If-Match on every write of a versioned resource: optional (only PUT of a
 * flag configuration requires it), but honoured when given: 412
 * VERSION_CONFLICT with details.currentVersion when stale. The kill switch
 * ignores it by design. Segment writes answer X-Change-Id like flag writes.
 */
import t, { type Test } from 'tap'
import { createFlag } from '../helpers/sdk-fixtures.js'
import { type ApiResponse, startServer, type TestServer } from '../helpers/server.js'

const P = '/api/v1/environments/production'

async function setup(t: Test): Promise<TestServer> {
  const s = await startServer(t)
  for (const env of ['production', 'staging']) await s.api('POST', '/api/v1/environments', { body: { key: env } })
  await createFlag(s, 'f')
  return s
}

const etag = (r: ApiResponse) => Number(/^"(\d+)"$/.exec(r.headers.get('etag') ?? '')?.[1])

/** A stale If-Match is refused and changes nothing; the current one succeeds; none at all succeeds too. */
async function honours(
  t: Test,
  what: string,
  read: () => Promise<number>,
  write: (ifMatch: string | undefined) => Promise<ApiResponse>,
  okStatus = 200,
): Promise<void> {
  const v = await read()
  let r = await write(`"${v - 1 || v + 7}"`)
  t.equal(r.status, 412, `${what}: stale If-Match`)
  t.equal(r.body.code, 'VERSION_CONFLICT', what)
  t.same(r.body.details, { currentVersion: v }, `${what}: details.currentVersion`)
  t.equal(await read(), v, `${what}: nothing written`)
  r = await write(`"${v}"`)
  t.equal(r.status, okStatus, `${what}: current If-Match ${r.text.slice(0, 200)}`)
  if (okStatus === 200) {
    t.equal(etag(r), v + 1, `${what}: ETag is the new version`)
    r = await write(undefined)
    t.equal(r.status, 200, `${what}: If-Match stays optional`)
  }
}

const withIfMatch = (ifMatch: string | undefined): Record<string, string> =>
  ifMatch === undefined ? {} : { 'if-match': ifMatch }

t.test('flag definitions and environments have versions and honour If-Match', async (t) => {
  const s = await setup(t)
  let r = await s.api('GET', '/api/v1/flags/f')
  t.equal(r.body.version, 1, 'a new definition is version 1')
  t.equal(etag(r), 1)
  const defVersion = async () => (await s.api('GET', '/api/v1/flags/f')).body.version as number
  await honours(t, 'PATCH flag definition (metadata)', defVersion, (m) =>
    s.api('PATCH', '/api/v1/flags/f', { body: { description: 'd' }, headers: withIfMatch(m) }),
  )
  await honours(t, 'PATCH flag definition (clientSide)', defVersion, (m) =>
    s.api('PATCH', '/api/v1/flags/f', { body: { clientSide: true }, headers: withIfMatch(m) }),
  )

  r = await s.api('GET', `${P}`)
  t.equal(r.body.version, 1, 'a new environment is version 1')
  t.equal(etag(r), 1)
  const envVersion = async () => (await s.api('GET', P)).body.version as number
  await honours(t, 'PATCH environment', envVersion, (m) =>
    s.api('PATCH', P, { body: { name: 'Prod' }, headers: withIfMatch(m) }),
  )

  // Deletes: stale refused, current accepted.
  await createFlag(s, 'g')
  await honours(
    t,
    'DELETE flag',
    async () => (await s.api('GET', '/api/v1/flags/g')).body.version as number,
    (m) => s.api('DELETE', '/api/v1/flags/g', { headers: withIfMatch(m) }),
    204,
  )
  await s.api('PATCH', '/api/v1/environments/staging', { body: { name: 'Staging' } })
  await honours(
    t,
    'DELETE environment',
    async () => (await s.api('GET', '/api/v1/environments/staging')).body.version as number,
    (m) => s.api('DELETE', '/api/v1/environments/staging', { headers: withIfMatch(m) }),
    204,
  )

  // Records written before versions existed read as version 1.
  const raw = JSON.parse((await s.redis.hget('sy:{global}:flagdefs', 'f')) as string)
  delete raw.version
  await s.redis.hset('sy:{global}:flagdefs', 'f', JSON.stringify(raw))
  t.equal(await defVersion(), 1, 'a definition without a version is version 1')
  r = await s.api('PATCH', '/api/v1/flags/f', { body: { name: 'F' }, headers: { 'if-match': '"1"' } })
  t.equal(r.status, 200)
  t.equal(r.body.version, 2)
})

t.test('toggle and rollback honour If-Match; kill ignores it by design', async (t) => {
  const s = await setup(t)
  const cfgVersion = async () => (await s.api('GET', `${P}/flags/f`)).body.version as number
  await honours(t, 'toggle', cfgVersion, (m) =>
    s.api('POST', `${P}/flags/f/toggle`, { body: { on: true }, headers: withIfMatch(m) }),
  )
  await honours(t, 'rollback', cfgVersion, (m) =>
    s.api('POST', `${P}/flags/f/rollback`, { body: { version: 1 }, headers: withIfMatch(m) }),
  )

  const v = await cfgVersion()
  const r = await s.api('POST', `${P}/flags/f/kill`, { body: {}, headers: { 'if-match': '"1"' } })
  t.equal(r.status, 200, 'a kill with a stale If-Match still turns the flag off')
  t.equal(r.body.on, false)
  t.equal(r.body.version, v + 1)
})

t.test('segment writes honour If-Match and answer X-Change-Id', async (t) => {
  const s = await setup(t)
  const lastLogId = async () =>
    ((await s.redis.xrevrange('sy:{production}:log', '+', '-', 'COUNT', 1)) as Array<[string, string[]]>)[0]?.[0]
  const changeId = async (r: ApiResponse, what: string) => {
    t.ok(r.headers.get('x-change-id'), `${what}: X-Change-Id`)
    t.equal(r.headers.get('x-change-id'), await lastLogId(), `${what}: the id of its change-log entry`)
  }

  let r = await s.api('POST', `${P}/segments`, { body: { key: 'beta', included: ['u1'] } })
  t.equal(r.status, 201)
  t.equal(etag(r), 1)
  await changeId(r, 'POST segment')
  const segVersion = async () => (await s.api('GET', `${P}/segments/beta`)).body.version as number

  await honours(t, 'PUT segment', segVersion, (m) =>
    s.api('PUT', `${P}/segments/beta`, { body: { name: 'Beta' }, headers: withIfMatch(m) }),
  )
  r = await s.api('PUT', `${P}/segments/beta`, { body: { included: ['u2'] } })
  await changeId(r, 'PUT segment')

  await honours(t, 'members (JSON)', segVersion, (m) =>
    s.api('POST', `${P}/segments/beta/members`, { body: { add: ['u3'] }, headers: withIfMatch(m) }),
  )
  await honours(t, 'members (text/plain)', segVersion, (m) =>
    s.api('POST', `${P}/segments/beta/members`, {
      body: 'u4\nu5\n',
      headers: { 'content-type': 'text/plain', ...withIfMatch(m) },
    }),
  )
  r = await s.api('POST', `${P}/segments/beta/members?op=remove`, {
    body: 'u4\n',
    headers: { 'content-type': 'text/plain' },
  })
  t.equal(r.status, 200)
  await changeId(r, 'members')
  r = await s.api('GET', `${P}/segments/beta/members/u5`)
  t.equal(r.body.member, true, 'the accepted change is applied')

  await honours(
    t,
    'DELETE segment',
    segVersion,
    (m) => s.api('DELETE', `${P}/segments/beta`, { headers: withIfMatch(m) }),
    204,
  )
  t.equal((await s.api('GET', `${P}/segments/beta`)).status, 404)
  await s.api('POST', `${P}/segments`, { body: { key: 'gone' } })
  r = await s.api('DELETE', `${P}/segments/gone`)
  t.equal(r.status, 204)
  await changeId(r, 'DELETE segment')
})
