/**
 * The operator CLI against the real server: every command, its refusals and exit codes (in process, through
 * run()), then the real binary as npm installs it — a global-prefix install of the packed package, a linked
 * folder, `npx` — killing a flag for real.
 */
import { execFile } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import t from 'tap'
import { createClient } from '../../sdk/index.js'
import { type CliResult, cliFor } from '../helpers/cli.js'
import { createSdkEnv } from '../helpers/sdk-fixtures.js'
import { until } from '../helpers/wait.js'
import { ADMIN, startServer, type Teardown } from '../helpers/server.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const quiet = { warn() {}, error() {}, info() {}, debug() {} }

function tmp(t: Teardown, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A listening server that accepts connections and never answers. */
async function silentServer(t: Teardown): Promise<string> {
  const srv: Server = createServer(() => {})
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    srv.closeAllConnections()
    srv.close()
  })
  const a = srv.address()
  return `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`
}

t.test('envs, flags, kill, toggle, audit: tables by default, JSON with --json', async (t) => {
  const s = await startServer(t)
  const cli = cliFor(s)
  await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })
  await s.api('POST', '/api/v1/environments', { body: { key: 'staging', requireSignedContext: true } })

  let r = await cli(['envs', 'list'])
  t.equal(r.code, 0, r.err)
  t.match(
    r.out,
    /^KEY +NAME +SIGNED CONTEXTS +VERSION\nproduction +production +optional +1\nstaging +staging +required +1$/,
  )
  r = await cli(['envs', 'list', '--json'])
  t.same(
    JSON.parse(r.out)
      .items.map((e: { key: string }) => e.key)
      .sort(),
    ['production', 'staging'],
  )

  r = await cli([
    'flags',
    'create',
    'new-checkout',
    '--tag',
    'release-42',
    '--tag',
    'checkout',
    '--client-side',
    '--temporary',
    '--name',
    'New checkout',
  ])
  t.same([r.code, r.out], [0, 'created boolean flag new-checkout (true, false), off in every environment'], r.err)
  r = await cli(['flags', 'create', 'plan', '--kind', 'string', '--variations', '["free","pro"]'])
  t.equal(r.code, 0, r.err)
  r = await cli(['flags', 'create', 'plan', '--kind', 'string', '--variations', '["a"]'])
  t.same(
    [r.code, r.err],
    [1, 'switchyard: 409 FLAG_EXISTS: Flag "plan" already exists'],
    'the API refusal: status, code, message',
  )
  r = await cli(['flags', 'create', 'x', '--variations', '[oops'])
  t.equal(r.code, 2)
  t.match(r.err, /--variations must be a JSON array/)
  r = await cli(['flags', 'create', 'bad key!'])
  t.same(
    [r.code, r.err],
    [
      1,
      "switchyard: 400 VALIDATION_FAILED: The request is invalid: body/key Expected string to match '^[A-Za-z0-9][A-Za-z0-9._-]*$'",
    ],
  )
  r = await cli(['flags', 'create', 'words', '--kind', 'string'])
  t.same(
    [r.code, r.err],
    [1, 'switchyard: 400 VALIDATION_FAILED: The request is invalid: /variations a flag needs at least one variation'],
    'details already in the message are not repeated',
  )

  r = await cli(['flags', 'list'])
  t.match(r.out, /new-checkout {2}boolean {2}New checkout {2}release-42,checkout {2}yes/)
  t.match(r.out, /plan {10}string/)
  r = await cli(['flags', 'list', '--tag', 'release-42', '--json'])
  t.same(
    JSON.parse(r.out).items.map((f: { key: string }) => f.key),
    ['new-checkout'],
  )
  r = await cli(['flags', 'list', 'production'])
  t.match(r.out, /^KEY +ON +FALLTHROUGH +RULES +VERSION\nnew-checkout +off +true +0 +1\nplan +off +"free" +0 +1$/)
  r = await cli(['flags', 'list', 'nowhere'])
  t.same([r.code, r.err], [1, 'switchyard: 404 ENVIRONMENT_NOT_FOUND: Environment "nowhere" does not exist'])

  r = await cli(['flags', 'get', 'new-checkout'])
  t.match(
    r.out,
    /^key +new-checkout\nname +New checkout\nkind +boolean\nvariations +true, false\ntags +release-42, checkout\nclient-side +yes\ntemporary +yes\nowner +-\nversion +1$/,
  )
  r = await cli(['flags', 'get', 'production', 'new-checkout'])
  t.match(
    r.out,
    /^flag +new-checkout in production\non +off\nversion +1\noff variation +false\nprerequisites +-\ntargets +-\nrules +-\nfallthrough +true$/,
  )
  r = await cli(['flags', 'get', 'production', 'new-checkout', '--json'])
  t.same([JSON.parse(r.out).on, JSON.parse(r.out).version], [false, 1])

  r = await cli(['toggle', 'production', 'new-checkout', 'on', '--reason', 'wave 1 starts'])
  t.equal(r.code, 0, r.err)
  t.match(r.out, /^new-checkout is on in production \(version 2, change \d+-\d+\)$/)
  r = await cli(['kill', 'production', 'new-checkout', '--reason', 'locks at 06:30', '--json'])
  const killed = JSON.parse(r.out)
  t.same([r.code, killed.on, killed.version], [0, false, 3])
  t.match(killed.changeId, /^\d+-\d+$/, 'the change id, for status')
  t.equal((await s.api('GET', '/api/v1/environments/production/flags/new-checkout')).body.on, false, 'killed for real')
  r = await cli(['kill', 'production', 'nope'])
  t.same([r.code, r.err], [1, 'switchyard: 404 FLAG_NOT_FOUND: Flag "nope" does not exist'])
  r = await cli(['toggle', 'staging', 'new-checkout', 'on'], { token: 'wrong-token' })
  t.equal(r.code, 1)
  t.match(r.err, /^switchyard: 401 UNAUTHORIZED: /)

  r = await cli(['audit', '--env', 'production', '--flag', 'new-checkout', '--limit', '2'])
  t.equal(r.code, 0, r.err)
  const lines = r.out.split('\n')
  t.equal(lines.length, 3, 'a header and two records')
  t.match(lines[0], /^AT +ACTOR +ACTION +TARGET +VERSIONS +REASON$/)
  t.match(lines[1], /bootstrap admin +flag\.kill +production\/new-checkout +v2→v3 +"locks at 06:30"$/)
  t.match(lines[2], /flag\.on +production\/new-checkout +v1→v2 +"wave 1 starts"$/)
  r = await cli(['audit', '--limit', '0'])
  t.equal(r.code, 2)
})

t.test('rollout: a percentage of a boolean flag, If-Match with one retry on a conflict', async (t) => {
  const s = await startServer(t)
  await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })
  // Variations in the other order than usual: the CLI must find true and false by value.
  await s.api('POST', '/api/v1/flags', { body: { key: 'feed', kind: 'boolean', variations: [false, true] } })
  await s.api('POST', '/api/v1/flags', { body: { key: 'plan', kind: 'string', variations: ['free', 'pro'] } })
  const cli = cliFor(s)
  const config = async () => (await s.api('GET', '/api/v1/environments/production/flags/feed')).body

  let r = await cli(['rollout', 'production', 'feed', '12.5', '--reason', 'first 12.5 %'])
  t.equal(r.code, 0, r.err)
  t.match(r.out, /^feed in production serves true to 12\.5% of contexts \(version 2, change \S+\)$/)
  t.match(
    r.err,
    /note: feed is off in production: it serves its off variation until `switchyard toggle production feed on`/,
  )
  let c = await config()
  t.same(
    [c.on, c.fallthrough],
    [
      false,
      {
        rollout: {
          weights: [
            { variation: 1, weight: 12_500 },
            { variation: 0, weight: 87_500 },
          ],
        },
      },
    ],
    'weights in 1/100,000, true first',
  )
  r = await cli(['rollout', 'production', 'feed', '0.001', '--bucket-by', 'accountId'])
  c = await config()
  t.same(c.fallthrough.rollout, {
    bucketBy: 'accountId',
    weights: [
      { variation: 1, weight: 1 },
      { variation: 0, weight: 99_999 },
    ],
  })
  await s.api('POST', '/api/v1/environments/production/flags/feed/toggle', { body: { on: true } })
  r = await cli(['rollout', 'production', 'feed', '100%'])
  t.equal(r.err, '', 'no note: the flag is on')
  c = await config()
  t.same(
    c.fallthrough.rollout,
    {
      bucketBy: 'accountId',
      weights: [
        { variation: 1, weight: 100_000 },
        { variation: 0, weight: 0 },
      ],
    },
    'bucketBy kept',
  )
  t.equal(
    (
      await s.api('POST', '/api/v1/environments/production/evaluate', {
        body: { context: { key: 'u1', accountId: 'a1' }, flags: ['feed'] },
      })
    ).body.flags.feed.value,
    true,
  )

  for (const bad of ['101', '-1', '12.3456', 'ten']) {
    r = await cli(['rollout', 'production', 'feed', bad])
    t.equal(r.code, 2, bad)
    t.match(r.err, /usage: switchyard rollout <env> <flag> <percent>/)
  }
  r = await cli(['rollout', 'production', 'plan', '10'])
  t.equal(r.code, 2)
  t.match(r.err, /plan is a string flag/)

  // A real conflict: a proxy in front of the real server lets someone else write just before each PUT.
  let interlopers = 1
  const proxy = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (d: Buffer) => chunks.push(d))
    req.on('end', async () => {
      if (req.method === 'PUT' && interlopers > 0) {
        interlopers--
        await s.api('POST', '/api/v1/environments/production/flags/feed/toggle', {
          body: { on: false, reason: 'someone else' },
        })
      }
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'content-length'),
      ) as Record<string, string>
      const up = await fetch(s.url + (req.url ?? ''), {
        method: req.method ?? 'GET',
        headers,
        ...(chunks.length > 0 && { body: Buffer.concat(chunks) }),
      })
      const out: Record<string, string> = {}
      up.headers.forEach((v, k) => {
        if (k !== 'content-length' && k !== 'transfer-encoding') out[k] = v
      })
      res.writeHead(up.status, out)
      res.end(Buffer.from(await up.arrayBuffer()))
    })
  })
  await new Promise<void>((ok) => proxy.listen(0, '127.0.0.1', ok))
  t.teardown(() => proxy.close())
  const a = proxy.address()
  const via = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`
  const before = (await config()).version
  r = await cli(['rollout', 'production', 'feed', '30'], { url: via })
  t.equal(r.code, 0, r.err)
  t.match(r.err, /feed changed while the rollout was written .*: applying it to the new version/)
  c = await config()
  t.same(
    [c.version, c.on, c.fallthrough.rollout.weights[0]],
    [before + 2, false, { variation: 1, weight: 30_000 }],
    "the other writer's change is kept, the rollout applied on top",
  )
  interlopers = 2
  r = await cli(['rollout', 'production', 'feed', '40'], { url: via })
  t.equal(r.code, 1)
  t.match(
    r.err,
    /\nswitchyard: 412 VERSION_CONFLICT: Version mismatch: the current version is \d+$/,
    'a second conflict is reported, not forced',
  )
  t.equal((await config()).fallthrough.rollout.weights[0].weight, 30_000)
})

t.test('rollback: the version before, or a named one, as a new version', async (t) => {
  const s = await startServer(t)
  await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })
  await s.api('POST', '/api/v1/flags', { body: { key: 'feed', kind: 'boolean' } })
  const cli = cliFor(s)
  let r = await cli(['rollback', 'production', 'feed'])
  t.equal(r.code, 2)
  t.match(r.err, /feed in production is at version 1: there is no earlier version/)
  await cli(['toggle', 'production', 'feed', 'on'])
  await cli(['rollout', 'production', 'feed', '25'])
  r = await cli(['rollback', 'production', 'feed', '--reason', 'rollout hurt'])
  t.equal(r.code, 0, r.err)
  t.match(
    r.out,
    /^feed in production is back to the configuration of version 2: on, fallthrough true \(version 4, change \S+\)$/,
  )
  r = await cli(['rollback', 'production', 'feed', '1'])
  t.match(r.out, /configuration of version 1: off/)
  t.equal((await s.api('GET', '/api/v1/environments/production/flags/feed')).body.on, false)
  r = await cli(['rollback', 'production', 'feed', '99'])
  t.same([r.code, r.err], [1, 'switchyard: 404 VERSION_NOT_FOUND: Version 99 of flag "feed" does not exist'])
  r = await cli(['rollback', 'production', 'feed', 'v2'])
  t.equal(r.code, 2)
})

t.test("members add, remove and import print the server's counts", async (t) => {
  const s = await startServer(t)
  await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })
  await s.api('POST', '/api/v1/environments/production/segments', { body: { key: 'wave-1' } })
  const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `acct-${from + i}`).join('\n')
  const cli = cliFor(s, {
    big: ids(0, 150_001),
    strangers: 'x-1\nx-2\n\nx-3\n',
    again: 'acct-1\nacct-2\nnew-1\n',
    next: ids(100_000, 220_000),
    '-': '',
  })
  const count = async () => (await s.api('GET', '/api/v1/environments/production/segments/wave-1')).body.includedCount

  let r = await cli(['members', 'add', 'production', 'wave-1', 'big'])
  t.same(
    [r.code, r.out],
    [0, 'added 150001 of 150001 ids sent; wave-1 now has 150001 included members'],
    'two calls of ≤ 100,000',
  )
  r = await cli(['members', 'remove', 'production', 'wave-1', 'strangers'])
  t.same(
    [r.code, r.out],
    [0, 'removed 0 of 3 ids sent; 3 were not members; wave-1 now has 150001 included members'],
    'not "removed 3 ids"',
  )
  r = await cli(['members', 'add', 'production', 'wave-1', 'again', '--json'])
  t.same(JSON.parse(r.out), { key: 'wave-1', list: 'included', sent: 3, added: 1, removed: 0, count: 150_002 })
  r = await cli(['members', 'add', 'production', 'wave-1', 'strangers', '--list', 'excluded'])
  t.equal(r.out, 'added 3 of 3 ids sent; wave-1 now has 3 excluded members')
  r = await cli(['members', 'remove', 'production', 'wave-1', '-'])
  t.equal(
    r.out,
    'removed 0 of 0 ids sent; wave-1 now has 150002 included members',
    'an empty input still checks the segment',
  )
  r = await cli(['members', 'add', 'production', 'nope', 'again'])
  t.same([r.code, r.err], [1, 'switchyard: 404 SEGMENT_NOT_FOUND: Segment "nope" does not exist'])
  r = await cli(['members', 'add', 'production', 'wave-1', 'again', '--list', 'both'])
  t.equal(r.code, 2)

  // Replace: 150,002 members become exactly acct-100000 … acct-219999.
  r = await cli(['members', 'import', 'production', 'wave-1', 'next', '--replace', '--reason', 'wave 2'])
  t.equal(r.code, 0, r.err)
  t.equal(r.out, 'imported 120000 ids into wave-1 (included): added 69999, removed 100001; it now has 120000 members')
  t.match(
    r.err,
    /wave-1 has 150,002 included members: 69,999 to add, 100,001 to remove\nadding: 69,999 of 69,999 ids sent\nremoving: 100,000 of 100,001 ids sent\nremoving: 100,001 of 100,001 ids sent/,
    'progress on stderr',
  )
  t.equal(await count(), 120_000)
  for (const [id, member] of [
    ['acct-99999', false],
    ['acct-100000', true],
    ['acct-219999', true],
    ['new-1', false],
  ] as const) {
    t.equal(
      (await s.api('GET', `/api/v1/environments/production/segments/wave-1/members/${id}`)).body.included,
      member,
      id,
    )
  }
  r = await cli(['members', 'import', 'production', 'wave-1', 'again', '--json'])
  t.same(
    JSON.parse(r.out),
    { key: 'wave-1', list: 'included', ids: 3, added: 3, removed: 0, count: 120_003, calls: 1 },
    'without --replace: adds (the replace removed these three)',
  )
})

t.test('status: the proof every live server SDK applied a change, waiting with a deadline', async (t) => {
  const s = await startServer(t)
  const e = await createSdkEnv(s)
  await s.api('POST', '/api/v1/flags', { body: { key: 'feed', kind: 'boolean' } })
  const cli = cliFor(s)
  let r = await cli(['status', 'production'])
  t.same([r.code, r.out.split('\n')[1]], [0, 'no server SDK instance reported in the last 10 minutes'])

  // An instance that reports an old change and then stops: pending until the deadline.
  const stale = await s.api('POST', '/api/v1/sdk/metrics', {
    token: e.serverToken,
    body: { sdkId: 'old-api', mode: 'server', appliedId: '1-0' },
  })
  t.equal(stale.status, 202)
  r = await cli(['status', 'production'])
  t.equal(r.code, 1, 'pending: not proven')
  t.match(r.out, /applied by 0 of 1 server SDK instances; pending: old-api/)
  const started = Date.now()
  r = await cli(['status', 'production', '--wait', '--timeout', '1.5'])
  t.equal(r.code, 3, 'the deadline passed')
  t.match(r.err, /^switchyard: 1 server SDK instances have not applied change \S+ after 1\.5 s \(--timeout\): old-api$/)
  t.ok(Date.now() - started >= 1500 && Date.now() - started < 6000, `gave up after ${Date.now() - started} ms`)
  t.equal(
    (
      await s.api('POST', '/api/v1/sdk/metrics', {
        token: e.serverToken,
        body: { sdkId: 'old-api', mode: 'server', appliedId: '1-0', closing: true },
      })
    ).status,
    202,
  )

  // The real SDK: kill, then wait until it reports having applied the kill.
  const sdk = createClient({ url: s.url, token: e.serverToken, logger: quiet, metricsDebounceMs: 200 })
  t.teardown(() => sdk.close())
  await sdk.ready()
  await until(
    async () => (await s.api('GET', '/api/v1/environments/production/sdk-status')).body.total === 1,
    30_000,
    'the SDK to report',
  )
  r = await cli(['kill', 'production', 'feed', '--json'])
  const { changeId } = JSON.parse(r.out) as { changeId: string }
  r = await cli(['status', 'production', changeId, '--wait', '--timeout', '30'])
  t.equal(r.code, 0, r.err)
  t.match(
    r.out,
    new RegExp(
      `^change ${changeId} \\(.+\\): applied by 1 of 1 server SDK instances\\nSDK +APPLIED +LAG +VERSION +REPORTED\\n\\S+ +yes +\\d+ ms`,
    ),
  )
  r = await cli(['status', 'production', changeId, '--json'])
  t.same([r.code, JSON.parse(r.out).applied, JSON.parse(r.out).pending], [0, 1, []])
  r = await cli(['status', 'production', 'not-an-id'])
  t.equal(r.code, 1)
  t.match(r.err, /400 VALIDATION_FAILED/)
})

t.test('tokens create, list and revoke', async (t) => {
  const s = await startServer(t)
  await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })
  const cli = cliFor(s)
  let r = await cli(['tokens', 'create', '--name', 'deploy bot', '--kind', 'editor', '--env', 'production'])
  t.equal(r.code, 0, r.err)
  const m =
    /^created editor token (\S+) "deploy bot" for production\nsecret: (\S+)\n\(shown once: Switchyard keeps only its hash\)$/.exec(
      r.out,
    )
  t.ok(m, r.out)
  const [, id, secret] = m ?? []
  r = await cli(['envs', 'list'], { token: secret! })
  t.equal(r.code, 0, 'the new token works')
  r = await cli(['tokens', 'list'])
  t.match(
    r.out,
    new RegExp(
      `^ID +NAME +KIND +ENVIRONMENTS +CREATED +BY\\n(.*\\n)*${id} +deploy bot +editor +production +\\S+ +bootstrap admin`,
    ),
  )
  t.notMatch(r.out, secret!, 'never a secret')
  r = await cli(['tokens', 'list'], { token: secret! })
  t.same([r.code, r.err.startsWith('switchyard: 403 FORBIDDEN: ')], [1, true], 'an editor may not list tokens')
  r = await cli(['tokens', 'revoke', id!])
  t.same([r.code, r.out], [0, `revoked token ${id}`])
  r = await cli(['envs', 'list'], { token: secret! })
  t.match(r.err, /^switchyard: 401 UNAUTHORIZED/, 'revoked at once')
  r = await cli(['tokens', 'revoke', id!])
  t.equal(r.code, 1)
  t.match(r.err, /^switchyard: 404 TOKEN_NOT_FOUND/)
  r = await cli(['tokens', 'create', '--name', 'x'])
  t.equal(r.code, 2)
  t.match(r.err, /tokens create needs --name and --kind\nusage: switchyard tokens create \[options\]/)
})

t.test('alerts test: a fire drill through POST /api/v1/alerts with an alerts token', async (t) => {
  const s = await startServer(t)
  await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })
  await s.api('POST', '/api/v1/flags', { body: { key: 'feed', kind: 'boolean' } })
  await s.api('POST', '/api/v1/environments/production/flags/feed/toggle', { body: { on: true } })
  const cli = cliFor(s)
  let r = await cli(['tokens', 'create', '--name', 'drill', '--kind', 'alerts', '--env', 'production'])
  const secret = /secret: (\S+)/.exec(r.out)?.[1] as string
  r = await cli(['alerts', 'test', 'production', 'feed', '--summary', 'drill'], { token: secret })
  t.same([r.code, r.out], [0, 'SwitchyardFireDrill production/feed: killed at version 3'], r.err)
  r = await cli(['alerts', 'test', 'production', 'feed'], { token: secret })
  t.equal(r.out, 'SwitchyardFireDrill production/feed: already-off at version 3', 'a repeat writes nothing')
  r = await cli(['alerts', 'test', 'production', 'nope', '--resolved'], { token: secret })
  t.equal(r.out, 'SwitchyardFireDrill production/nope: refused (FLAG_NOT_FOUND)')
  r = await cli(['alerts', 'test', 'production', 'feed'])
  t.match([r.code, r.err], [1, /^switchyard: 403 FORBIDDEN/], 'the admin token is not an alerts token')
})

/** A URL where nothing listens (a port just freed). */
async function deadUrl(): Promise<string> {
  const srv = createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const a = srv.address()
  await new Promise((r) => srv.close(r))
  return `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`
}

t.test('usage, help, version and the network: exit 2, 0 without calling the API, 3', async (t) => {
  // Nothing listens there: any API call would fail with exit 3, so exit 0 proves help calls nothing.
  const dead = await deadUrl()
  const cli = cliFor({ url: dead })
  let r = await cli(['--help'])
  t.equal(r.code, 0)
  for (const c of [
    'envs list',
    'flags list',
    'flags get',
    'flags create',
    'kill',
    'toggle',
    'rollout',
    'rollback',
    'members add',
    'members remove',
    'members import',
    'audit',
    'status',
    'tokens create',
    'tokens list',
    'tokens revoke',
  ]) {
    t.match(r.out, new RegExp(`\\n {2}${c}`), `the tool's help lists ${c}`)
    const h = await cli([...c.split(' '), '--help'])
    t.equal(h.code, 0, `${c} --help`)
    t.match(h.out, new RegExp(`^usage: switchyard ${c}`))
  }
  t.match(r.out, /exit codes: 0 done · 1 refused by the API/)
  r = await cli(['kill', '-h'])
  t.match(r.out, /--reason TEXT +why; recorded in the audit log/)
  r = await cli(['members', '--help'])
  t.match(r.out, /^usage: switchyard members <add\|remove\|import> …/)
  const v = `switchyard ${JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version}`
  r = await cli(['--version'])
  t.same([r.code, r.out], [0, v])
  r = await cli(['kill', 'production', 'x', '--version'])
  t.same([r.code, r.out], [0, v], 'a command with --version prints it and calls nothing')

  for (const [argv, why] of [
    [[], /no command/],
    [['explode'], /unknown command "explode"/],
    [['flags'], /flags needs a subcommand/],
    [['flags', 'burn'], /unknown command "flags burn"/],
    [['kill', 'production'], /kill takes <env> <flag>/],
    [['kill', 'a', 'b', 'c'], /unexpected "c"/],
    [['toggle', 'production', 'x', 'maybe'], /toggle takes on or off/],
    [['audit', '--colour', 'red'], /Unknown option '--colour'/],
    [['kill', 'a', 'b', '--reason'], /--reason/],
    [['envs', 'list', '--timeout', 'soon'], /--timeout takes a number of seconds/],
    [['envs', 'list', '--url', 'localhost:3000'], /must start with http/],
  ] as const) {
    r = await cli([...argv])
    t.equal(r.code, 2, argv.join(' '))
    t.match(r.err, why)
    t.match(r.err, /usage: switchyard/)
  }

  r = await cli(['kill', 'production', 'x'])
  t.same(
    [r.code, r.err],
    [3, `switchyard: cannot reach ${dead} (ECONNREFUSED); set SWITCHYARD_URL or --url`],
    'one line, where it looked',
  )
  const silent = await silentServer(t)
  const started = Date.now()
  r = await cli(['kill', 'production', 'x', '--timeout', '0.5'], { url: silent })
  t.same([r.code, r.err], [3, `switchyard: no answer from ${silent} within 0.5 s (--timeout)`])
  t.ok(Date.now() - started < 5000, `gave up after ${Date.now() - started} ms`)
})

/** Runs a process to its end (never rejects). */
function sh(
  file: string,
  args: string[],
  o: { cwd?: string; env?: Record<string, string>; timeoutMs?: number; input?: string } = {},
): Promise<CliResult> {
  return new Promise((ok) => {
    const child = execFile(
      file,
      args,
      {
        cwd: o.cwd ?? root,
        env: { ...process.env, ...o.env },
        timeout: o.timeoutMs ?? 120_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0
        ok({ code, out: stdout.trim(), err: stderr.trim() })
      },
    )
    child.stdin?.end(o.input ?? '')
  })
}

/**
 * The package as npm sees it: the root package.json's name, version, type and bin, with src/cli.ts built
 * where `bin` points. Dependencies are left out: the CLI needs none (it only talks HTTP), so npm installs
 * it offline here.
 */
async function cliPackage(t: Teardown): Promise<{ dir: string; tarball: string; npmEnv: Record<string, string> }> {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    name: string
    version: string
    type: string
    bin: Record<string, string>
  }
  const base = tmp(t, 'sy-cli-pkg-')
  const dir = join(base, 'switchyard')
  const bin = pkg.bin.switchyard
  if (!bin) throw new Error('package.json declares no switchyard binary')
  mkdirSync(join(dir, dirname(bin!)), { recursive: true })
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: pkg.name, version: pkg.version, type: pkg.type, bin: pkg.bin }, null, 2),
  )
  await build({
    entryPoints: [join(root, 'src/cli.ts')],
    outfile: join(dir, bin!),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'silent',
  })
  chmodSync(join(dir, bin!), 0o755)
  // npm's cache in the scratch dir: nothing read from or left in the user's.
  const npmEnv = {
    npm_config_cache: join(base, 'npm-cache'),
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
  }
  const packed = await sh('npm', ['pack', '--pack-destination', base, '--json'], { cwd: dir, env: npmEnv })
  if (packed.code !== 0) throw new Error(`npm pack: ${packed.err}`)
  const tarball = join(base, (JSON.parse(packed.out) as Array<{ filename: string }>)[0]!.filename)
  return { dir, tarball, npmEnv }
}

t.test('the real binary through npm: global install of the tarball, a linked folder, npx', async (t) => {
  const s = await startServer(t)
  await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })
  for (const key of ['new-checkout', 'feed', 'search']) {
    await s.api('POST', '/api/v1/flags', { body: { key, kind: 'boolean' } })
    await s.api('POST', `/api/v1/environments/production/flags/${key}/toggle`, { body: { on: true } })
  }
  const isOn = async (key: string) =>
    (await s.api('GET', `/api/v1/environments/production/flags/${key}`)).body.on as boolean
  const { dir, tarball, npmEnv } = await cliPackage(t)
  const env = { ...npmEnv, SWITCHYARD_URL: s.url, SWITCHYARD_TOKEN: ADMIN }

  // npm install -g --prefix: what `npm install -g switchyard-….tgz` does, into a scratch prefix.
  const prefix = tmp(t, 'sy-cli-prefix-')
  let r = await sh('npm', ['install', '-g', '--offline', '--prefix', prefix, tarball], { env })
  t.equal(r.code, 0, r.err)
  r = await sh(join(prefix, 'bin/switchyard'), ['kill', 'production', 'new-checkout', '--reason', 'global install'], {
    env,
  })
  t.equal(r.code, 0, r.err)
  t.match(
    r.out,
    /^killed new-checkout in production \(version 3, change \S+\)$/,
    'the globally installed binary runs the command',
  )
  t.equal(await isOn('new-checkout'), false, 'and the flag is off, as REST says')

  // A linked folder (npm install -g <folder>, like npm link): the bin is a symlink to a symlinked package.
  const linked = tmp(t, 'sy-cli-link-')
  r = await sh('npm', ['install', '-g', '--offline', '--prefix', linked, dir], { env })
  t.equal(r.code, 0, r.err)
  r = await sh(join(linked, 'bin/switchyard'), ['toggle', 'production', 'feed', 'off'], { env })
  t.same([r.code, r.out.startsWith('feed is off in production')], [0, true], r.err)
  t.equal(await isOn('feed'), false)

  // npx in an app that depends on the package (node_modules/.bin), and npx in the package itself.
  const app = tmp(t, 'sy-cli-app-')
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'ops-scripts', version: '1.0.0', private: true }))
  r = await sh('npm', ['install', '--offline', tarball], { cwd: app, env })
  t.equal(r.code, 0, r.err)
  r = await sh('npx', ['--no-install', 'switchyard', 'kill', 'production', 'search'], { cwd: app, env })
  t.equal(r.code, 0, r.err)
  t.match(r.out, /^killed search in production/)
  t.equal(await isOn('search'), false)
  r = await sh('npx', ['--no-install', 'switchyard', 'flags', 'list', 'production', '--json'], { cwd: dir, env })
  t.equal(r.code, 0, r.err)
  t.same(
    JSON.parse(r.out)
      .items.map((f: { key: string; on: boolean }) => [f.key, f.on])
      .sort(),
    [
      ['feed', false],
      ['new-checkout', false],
      ['search', false],
    ],
  )

  // Exit codes of the real process.
  const sy = join(prefix, 'bin/switchyard')
  r = await sh(sy, ['kill', 'production', 'nope'], { env })
  t.same([r.code, r.out, r.err], [1, '', 'switchyard: 404 FLAG_NOT_FOUND: Flag "nope" does not exist'])
  r = await sh(sy, ['kil', 'production', 'new-checkout'], { env })
  t.same([r.code, r.err.split('\n')[0]], [2, 'switchyard: unknown command "kil"'])
  r = await sh(sy, ['--version'], { env })
  t.match(r.out, /^switchyard \d+\.\d+\.\d+/)
  r = await sh(sy, ['envs', 'list', '--url', await silentServer(t), '--timeout', '0.5'], { env })
  t.same([r.code, r.err.endsWith('within 0.5 s (--timeout)')], [3, true], r.err)
  r = await sh(sy, ['members', 'add', 'production', 'nope', '-'], { env, input: 'a\nb\n' })
  t.same(
    [r.code, r.err],
    [1, 'switchyard: 404 SEGMENT_NOT_FOUND: Segment "nope" does not exist'],
    'ids read from stdin ("-") and sent',
  )
})
