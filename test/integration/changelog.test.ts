import t from 'tap'
import { ENV_DELETED_TYPE, TOKEN_REVOKED_TYPE } from '../../src/store/changelog.js'
import { startServer } from '../helpers/server.js'
import { until } from '../helpers/wait.js'

// Every change-log append goes through one builder with one cap. Redis's MONITOR shows the XADDs the
// server really sends (Lua's included), so the test checks the writes themselves, not the builder.
t.test('change log: every writer caps the log at CHANGELOG_MAXLEN (flags, tokens, environment delete)', async (t) => {
  const s = await startServer(t, { env: { CHANGELOG_MAXLEN: '123' } })
  await s.api('POST', '/api/v1/environments', { body: { key: 'staging' } })
  await s.api('POST', '/api/v1/flags', { body: { key: 'f', kind: 'boolean' } })
  const r = await s.api('POST', '/api/v1/tokens', {
    body: { name: 'site', kind: 'sdk-server', environments: ['staging'] },
  })
  t.equal(r.status, 201, r.text)

  const monitor = await s.redis.duplicate().monitor()
  t.teardown(() => monitor.disconnect())
  const appends: string[][] = []
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args[0]?.toUpperCase() === 'XADD' && args[1] === 'sy:{staging}:log') appends.push(args)
  })

  t.equal((await s.api('POST', '/api/v1/environments/staging/flags/f/toggle', { body: { on: true } })).status, 200)
  t.equal((await s.api('DELETE', `/api/v1/tokens/${r.body.token.id}`)).status, 204)
  t.equal((await s.api('DELETE', '/api/v1/environments/staging')).status, 204)
  const type = (a: string[]) => a[a.indexOf('t') + 1]
  await until(() => appends.some((a) => type(a) === ENV_DELETED_TYPE), 15_000, 'the env.delete append')

  t.same(
    appends.map(type),
    ['flag.put', TOKEN_REVOKED_TYPE, ENV_DELETED_TYPE],
    'the flag change, the revocation, the deletion',
  )
  for (const a of appends) t.same(a.slice(2, 5), ['MAXLEN', '~', '123'], `${type(a)} is capped`)
})
