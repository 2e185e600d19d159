import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { run } from '../../src/cli.js'
import { ADMIN, startServer } from '../helpers/server.js'

t.test('the operator CLI against the real server', async (t) => {
  const s = await startServer(t)
  await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })
  await s.api('POST', '/api/v1/flags', { body: { key: 'migration', kind: 'boolean' } })
  await s.api('POST', '/api/v1/environments/production/segments', { body: { key: 'wave-1' } })
  const dir = mkdtempSync(join(tmpdir(), 'sy-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const ids = join(dir, 'ids.txt')
  writeFileSync(ids, Array.from({ length: 150_001 }, (_, i) => `acct-${i}`).join('\n'))

  const cli = async (argv: string[], token: string | undefined = ADMIN) => {
    const out: string[] = []
    const err: string[] = []
    const code = await run(argv, {
      env: { SWITCHYARD_URL: s.url, ...(token && { SWITCHYARD_TOKEN: token }) },
      out: (x) => out.push(x),
      err: (x) => err.push(x),
      readInput: (p) => (p === '-' ? 'from-stdin\n' : readFileSync(p, 'utf8')),
    })
    return { code, out: out.join('\n'), err: err.join('\n') }
  }

  let r = await cli(['toggle', 'production', 'migration', 'on', '--reason', 'wave 1 starts'])
  t.same([r.code, r.out], [0, 'migration is on in production (version 2)'])
  r = await cli(['members', 'production', 'wave-1', 'add', ids])
  t.equal(r.code, 0, r.err)
  t.equal(r.out, 'added 150001 ids; wave-1 now has 150001 members', 'uploaded in two calls of ≤ 100,000')
  r = await cli(['kill', 'production', 'migration', '--reason', 'locks at 06:30'])
  t.same([r.code, r.out], [0, 'killed migration in production (version 3)'])
  t.equal((await s.api('GET', '/api/v1/environments/production/flags/migration')).body.on, false)
  r = await cli(['audit', '--env', 'production', '--flag', 'migration', '--limit', '2'])
  t.equal(r.code, 0)
  t.match(r.out, /flag\.kill {2}production\/migration v2→v3 {2}"locks at 06:30"/)
  t.match(r.out, /flag\.on/)
  r = await cli(['get', 'production', 'migration'])
  t.equal(JSON.parse(r.out).version, 3)
  r = await cli(['status', 'production'])
  t.same([r.code, r.out.startsWith('change ')], [0, true], 'no SDK reporting: nothing pending')

  // Refusals: the API's code and message, exit 1; bad usage: exit 2.
  r = await cli(['kill', 'production', 'nope'])
  t.equal(r.code, 1)
  t.match(r.err, /404 FLAG_NOT_FOUND/)
  r = await cli(['kill', 'production', 'migration'], 'wrong-token')
  t.equal(r.code, 1)
  t.match(r.err, /401 UNAUTHORIZED/)
  const down = await run(['kill', 'production', 'migration'], { env: { SWITCHYARD_URL: 'http://127.0.0.1:1' }, out: () => {}, err: (x) => t.match(x, /cannot reach http:\/\/127\.0\.0\.1:1 \((ECONNREFUSED|network error)\); set SWITCHYARD_URL/), readInput: () => '' })
  t.equal(down, 1, 'an unreachable API says where it looked')
  for (const argv of [[], ['explode'], ['kill', 'production'], ['toggle', 'production', 'migration', 'maybe'], ['audit', '--colour', 'red']]) {
    r = await cli(argv)
    t.equal(r.code, 2, argv.join(' '))
    t.match(r.err, /usage: switchyard/)
  }
})
