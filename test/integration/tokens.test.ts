import t from 'tap'
import { startServer } from '../helpers/server.js'

t.test('tokens: create, use, scope, revoke, no plaintext in Redis', async (t) => {
  const s = await startServer(t)
  await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })
  await s.api('POST', '/api/v1/environments', { body: { key: 'staging' } })
  await s.api('POST', '/api/v1/flags', { body: { key: 'f', kind: 'boolean' } })

  let r = await s.api('POST', '/api/v1/tokens', {
    body: { name: 'staging editor', kind: 'editor', environments: ['staging'] },
  })
  t.equal(r.status, 201, r.text)
  const editor = r.body.secret as string
  const editorId = r.body.token.id as string
  t.match(editor, /^sy_edt_/)
  t.notOk('hash' in r.body.token, 'the hash is never returned')
  r = await s.api('POST', '/api/v1/tokens', { body: { name: 'viewer', kind: 'viewer', environments: ['*'] } })
  const viewer = r.body.secret as string
  r = await s.api('POST', '/api/v1/tokens', {
    body: { name: 'site', kind: 'sdk-server', environments: ['production'] },
  })
  const sdk = r.body.secret as string

  // Bad token requests
  for (const body of [
    { name: 'x', kind: 'root' },
    { name: '', kind: 'viewer', environments: ['*'] },
    { name: 'x', kind: 'editor' },
    { name: 'x', kind: 'sdk-server', environments: ['production', 'staging'] },
    { name: 'x', kind: 'sdk-client', environments: ['*'] },
    { name: 'x', kind: 'editor', environments: ['nowhere'] },
  ]) {
    r = await s.api('POST', '/api/v1/tokens', { body })
    t.equal(r.status, 400, JSON.stringify(body))
    t.equal(r.body.code, 'VALIDATION_FAILED')
  }

  const put = (token: string | null, env: string) =>
    s.api('POST', `/api/v1/environments/${env}/flags/f/toggle`, { token, body: { on: true } })
  t.equal((await put(editor, 'staging')).status, 200, 'editor writes in its environment')
  r = await put(editor, 'production')
  t.equal(r.status, 403, 'editor cannot write elsewhere')
  t.equal(r.body.code, 'FORBIDDEN')
  t.equal((await put(viewer, 'staging')).status, 403, 'viewer cannot write')
  t.equal((await s.api('GET', '/api/v1/environments/staging/flags/f', { token: viewer })).status, 200, 'viewer reads')
  t.equal((await s.api('GET', '/api/v1/flags', { token: sdk })).status, 403, 'SDK tokens do not read the admin API')
  t.equal((await s.api('GET', '/api/v1/tokens', { token: editor })).status, 403, 'only admins manage tokens')
  t.equal((await s.api('POST', '/api/v1/environments', { token: editor, body: { key: 'x' } })).status, 403)
  t.equal(
    (await s.api('DELETE', '/api/v1/flags/f', { token: editor })).status,
    403,
    'deleting a flag definition needs admin or an editor scoped to "*"',
  )
  t.equal(
    (await s.api('GET', '/api/v1/audit', { token: editor })).status,
    403,
    'the whole audit needs a token for every environment',
  )
  t.equal((await s.api('GET', '/api/v1/audit?env=staging', { token: editor })).status, 200)
  r = await s.api('GET', '/api/v1/environments', { token: editor })
  t.same(
    r.body.items.map((e: { key: string }) => e.key),
    ['staging'],
    'environments are filtered to the token scope',
  )
  t.notOk(r.body.items[0].signingSecret, 'only admins see the signing secret')

  for (const bad of [null, 'nope', `${editor}x`]) {
    r = await put(bad, 'staging')
    t.equal(r.status, 401, `token ${String(bad).slice(0, 10)}`)
    t.equal(r.body.code, 'UNAUTHORIZED')
  }
  r = await s.api('GET', '/api/v1/flags', { token: null, headers: { authorization: 'Basic abc' } })
  t.equal(r.status, 401)

  r = await s.api('GET', '/api/v1/tokens')
  t.same(r.body.items.map((x: { name: string }) => x.name).sort(), [
    'bootstrap admin',
    'site',
    'staging editor',
    'viewer',
  ])
  r = await s.api('DELETE', `/api/v1/tokens/${editorId}`)
  t.equal(r.status, 204)
  t.equal((await put(editor, 'staging')).status, 401, 'a revoked token is refused')
  t.equal((await s.api('DELETE', `/api/v1/tokens/${editorId}`)).status, 404)

  // The audit names the actor of each write.
  r = await s.api('GET', '/api/v1/audit?env=staging&flag=f')
  const toggle = r.body.items.find((a: { action: string }) => a.action === 'flag.on')
  t.equal(toggle.actor, 'staging editor')
  t.equal(toggle.actorTokenId, editorId)

  // No plaintext secret anywhere in Redis.
  const keys = await s.redis.keys('*')
  let dump = ''
  for (const k of keys) {
    const type = await s.redis.type(k)
    if (type === 'hash') dump += JSON.stringify(await s.redis.hgetall(k))
    else if (type === 'stream') dump += JSON.stringify(await s.redis.xrange(k, '-', '+'))
    else if (type === 'set') dump += JSON.stringify(await s.redis.smembers(k))
    else if (type === 'string') dump += await s.redis.get(k)
  }
  t.ok(dump.length > 1000, 'the dump has content')
  for (const secret of [editor, viewer, sdk, 'test-admin-token-0123456789abcdef'])
    t.notOk(dump.includes(secret), 'secret not stored')
})

t.test('bootstrap: a generated first admin token, printed once', async (t) => {
  const s = await startServer(t)
  await s.redis.del('sy:{global}:tokens', 'sy:{global}:tokenhash')
  const secret = await s.app.services.tokens.bootstrap(undefined)
  t.match(secret, /^sy_adm_/)
  t.equal(await s.app.services.tokens.bootstrap(undefined), null, 'not generated again once an admin exists')
  const r = await s.api('GET', '/api/v1/tokens', { token: secret })
  t.equal(r.status, 200)
  t.equal(r.body.items.length, 1)
})
