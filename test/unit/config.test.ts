import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.js'

t.test('defaults', async (t) => {
  const c = loadConfig({})
  t.equal(c.PORT, 3000)
  t.equal(c.HOST, '127.0.0.1')
  t.equal(c.REDIS_URL, undefined)
  t.equal(c.TRUST_PROXY, false)
})

t.test('types are converted', async (t) => {
  const c = loadConfig({ PORT: '8080', TRUST_PROXY: 'true', CHANGELOG_MAXLEN: '500', LOG_LEVEL: 'warn' })
  t.equal(c.PORT, 8080)
  t.equal(c.TRUST_PROXY, true)
  t.equal(c.CHANGELOG_MAXLEN, 500)
  t.equal(c.LOG_LEVEL, 'warn')
})

t.test('every bad variable is reported at once, secrets hidden', async (t) => {
  const secret = 'short-secret'
  let err: unknown
  try {
    loadConfig({ PORT: 'eighty', LOG_LEVEL: 'loud', REDIS_URL: 'http://x', ADMIN_TOKEN: secret, CHANGELOG_MAXLEN: '5' })
  } catch (e) {
    err = e
  }
  t.ok(err instanceof ConfigError)
  const e = err as ConfigError
  const names = e.problems.map((p) => p.split('=')[0])
  t.same(names.sort(), ['ADMIN_TOKEN', 'CHANGELOG_MAXLEN', 'LOG_LEVEL', 'PORT', 'REDIS_URL'])
  t.notOk(e.message.includes(secret), 'the admin token is not echoed')
  t.match(e.message, /PORT="eighty"/)
})

t.test('empty values count as unset', async (t) => {
  t.equal(loadConfig({ PORT: '' }).PORT, 3000)
})
