/**
 * The story behind facts, replayed end to end with the real server, the real `switchyard` CLI as a process
 * and the real SDK: staging records the combined index, production does not; promoting the upgrade flag is
 * refused naming the index; the database change is applied to production and its fact recorded; the
 * promote succeeds; the audit shows the whole sequence. Then: applications whose versions differ between
 * staging and production, reported by the SDK, appear in the diff.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { build } from 'esbuild'
import t from 'tap'
import { createClient } from '../../sdk/index.js'
import { createFlag, createSdkEnv } from '../helpers/sdk-fixtures.js'
import { startServer, type TestServer } from '../helpers/server.js'
import { until } from '../helpers/wait.js'

const root = resolve(import.meta.dirname, '../..')
const quiet = { warn() {}, error() {}, info() {}, debug() {} }

// The CLI as it ships: src/cli.ts bundled, run by node in its own process.
const dir = mkdtempSync(join(tmpdir(), 'sy-env-cli-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const cliFile = join(dir, 'cli.mjs')
await build({
  entryPoints: [join(root, 'src/cli.ts')],
  outfile: cliFile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  logLevel: 'silent',
})

interface Result {
  code: number
  out: string
  err: string
}

function switchyard(s: TestServer, token: string, args: string[]): Promise<Result> {
  return new Promise((ok) => {
    execFile(
      process.execPath,
      [cliFile, ...args],
      { env: { ...process.env, SWITCHYARD_URL: s.url, SWITCHYARD_TOKEN: token }, timeout: 60_000 },
      (err, stdout, stderr) =>
        ok({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out: stdout.trim(), err: stderr.trim() }),
    )
  })
}

async function token(s: TestServer, name: string, kind: string, environments: string[]): Promise<string> {
  const r = await s.api('POST', '/api/v1/tokens', { body: { name, kind, environments } })
  if (r.status !== 201) throw new Error(r.text)
  return r.body.secret as string
}

t.test('the framework upgrade: a fact requirement catches the index production lacks', async (t) => {
  const s = await startServer(t)
  for (const key of ['staging', 'production'])
    t.equal((await s.api('POST', '/api/v1/environments', { body: { key } })).status, 201)
  const pipeline = await token(s, 'deploy-pipeline', 'facts', ['staging', 'production'])
  const releaser = await token(s, 'release-manager', 'editor', ['*'])
  await createFlag(s, 'framework-upgrade')

  // The DBA applied the combined index in staging; the pipeline records what it applied.
  let r = await switchyard(s, pipeline, [
    'facts',
    'set',
    'staging',
    'db.sessions.indexes=sessions_pkey,sessions_user_combined_idx',
    'app.framework=5.3.1',
    '--reason',
    'migration 0042 (combined index)',
  ])
  t.equal(r.code, 0, r.err)
  t.match(r.out, /staging: recorded db\.sessions\.indexes, app\.framework \(facts version 1\)/)
  r = await switchyard(s, pipeline, [
    'facts',
    'set',
    'production',
    'db.sessions.indexes=sessions_pkey,',
    'app.framework=5.2.4',
  ])
  t.equal(r.code, 0, r.err)
  r = await switchyard(s, pipeline, ['toggle', 'staging', 'framework-upgrade', 'on'])
  t.equal(r.code, 1, 'the pipeline token cannot touch flags')
  t.match(r.err, /403 FORBIDDEN/)

  // The upgrade requires what it was tested with, and is on in staging.
  const requires = [
    { fact: 'db.sessions.indexes', op: 'in', value: 'sessions_user_combined_idx' },
    { fact: 'app.framework', op: 'semVerGreaterThan', value: '5.3.0' },
  ]
  const put = await s.api('PUT', '/api/v1/environments/staging/flags/framework-upgrade', {
    token: releaser,
    headers: { 'if-match': '"1"' },
    body: { on: true, offVariation: 1, fallthrough: { variation: 0 }, requires, reason: 'tested in staging' },
  })
  t.equal(put.status, 200, put.text)

  const diff = await switchyard(s, releaser, ['diff', 'staging', 'production', 'framework-upgrade'])
  t.equal(diff.code, 0, diff.err)
  t.match(diff.out, /on: true → false/)
  t.match(diff.out, /db\.sessions\.indexes: \["sessions_pkey","sessions_user_combined_idx"\] → \["sessions_pkey"\]/)

  const promote = [
    'promote',
    'framework-upgrade',
    '--from',
    'staging',
    '--to',
    'production',
    '--reason',
    'framework 5.3',
  ]
  r = await switchyard(s, releaser, promote)
  t.equal(r.code, 1, 'refused')
  t.match(r.err, /409 FACTS_UNMET/)
  t.match(
    r.err,
    /db\.sessions\.indexes in "sessions_user_combined_idx" \(actual: \["sessions_pkey"\]\)/,
    'names the index',
  )
  t.match(r.err, /app\.framework semVerGreaterThan "5\.3\.0" \(actual: "5\.2\.4"\)/)
  t.equal((await s.api('GET', '/api/v1/environments/production/flags/framework-upgrade')).body.on, false, 'still off')
  r = await switchyard(s, releaser, ['toggle', 'production', 'framework-upgrade', 'on', '--force'])
  t.equal(r.code, 1, 'a force needs a reason')
  t.match(r.err, /400 VALIDATION_FAILED.*reason/)

  // The database change is applied to production, and the app deployed; the pipeline records both.
  r = await switchyard(s, pipeline, [
    'facts',
    'set',
    'production',
    'db.sessions.indexes=sessions_pkey,sessions_user_combined_idx',
    'app.framework=5.3.1',
    '--reason',
    'migration 0042 in production',
  ])
  t.equal(r.code, 0, r.err)
  r = await switchyard(s, releaser, promote)
  t.equal(r.code, 0, r.err)
  t.match(r.out, /promoted framework-upgrade from staging to production: on \(version 2\)/)

  const history = await switchyard(s, releaser, ['facts', 'history', 'production', '--fact', 'db.sessions.indexes'])
  t.match(
    history.out,
    /deploy-pipeline\s+db\.sessions\.indexes: \["sessions_pkey"\] → \["sessions_pkey","sessions_user_combined_idx"\]\s+"migration 0042 in production"/,
  )

  const audit = (await s.api('GET', '/api/v1/audit?limit=50')).body.items as Array<{
    action: string
    env: string | null
    actor: string
    details?: { from?: string }
  }>
  const story = audit
    .filter((a) => ['facts.set', 'flag.update', 'flag.promote'].includes(a.action))
    .reverse()
    .map((a) => `${a.env} ${a.action} by ${a.actor}`)
  t.same(story, [
    'staging facts.set by deploy-pipeline',
    'production facts.set by deploy-pipeline',
    'staging flag.update by release-manager',
    'production facts.set by deploy-pipeline',
    'production flag.promote by release-manager',
  ])
  t.match(
    audit.find((a) => a.action === 'flag.promote'),
    { details: { from: 'staging', fromVersion: 2 } },
  )
})

t.test('applications reported by the SDK: which versions run where, and their drift in the diff', async (t) => {
  const s = await startServer(t)
  const staging = await createSdkEnv(s, 'staging')
  const production = await createSdkEnv(s, 'production')
  const client = (token: string, version: string) => {
    const c = createClient({
      url: s.url,
      token,
      logger: quiet,
      metricsDebounceMs: 10,
      application: { name: 'sessions-api', version },
      facts: { 'app.framework': version, 'orm.lazy': true },
    })
    t.teardown(() => c.close())
    return c
  }
  const a = client(staging.serverToken, '5.3.1')
  const b = client(production.serverToken, '5.2.4')
  await Promise.all([a.ready({ timeoutMs: 10_000 }), b.ready({ timeoutMs: 10_000 })])
  await until(
    async () => (await s.api('GET', '/api/v1/environments/production/applications')).body.items?.length === 1,
    20_000,
    'the production report',
  )
  await until(
    async () => (await s.api('GET', '/api/v1/environments/staging/applications')).body.items?.length === 1,
    20_000,
    'the staging report',
  )
  const apps = (await s.api('GET', '/api/v1/environments/production/applications')).body
  t.match(apps, {
    environment: 'production',
    unnamed: 0,
    items: [
      {
        name: 'sessions-api',
        version: '5.2.4',
        instances: 1,
        runtimes: [`node ${process.versions.node}`],
        facts: { 'app.framework': '5.2.4', 'orm.lazy': true },
      },
    ],
  })
  const d = (await s.api('GET', '/api/v1/environments/staging/diff/production')).body
  t.same(d.applications.differences, [
    {
      name: 'sessions-api',
      status: 'different',
      from: [{ version: '5.3.1', instances: 1 }],
      to: [{ version: '5.2.4', instances: 1 }],
      facts: [{ fact: 'app.framework', status: 'different', from: '5.3.1', to: '5.2.4' }],
    },
  ])
  const r = await switchyard(s, s.config.ADMIN_TOKEN as string, ['diff', 'staging', 'production'])
  t.equal(r.code, 0, r.err)
  t.match(r.out, /sessions-api: 5\.3\.1 ×1 → 5\.2\.4 ×1\n\s+app\.framework: "5\.3\.1" → "5\.2\.4"/)

  // A browser's token is public: what it claims about applications is not recorded.
  const res = await fetch(`${s.url}/api/v1/sdk/metrics`, {
    method: 'POST',
    headers: { authorization: `Bearer ${production.clientToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      sdkId: 'page',
      mode: 'client',
      appliedId: null,
      application: { name: 'evil', version: '6' },
    }),
  })
  t.equal(res.status, 202)
  // Hostile reports: too many facts, a bad name, an object value.
  for (const facts of [
    Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`f${i}`, i])),
    { 'bad name': 1 },
    { f: { nested: true } },
  ]) {
    const bad = await fetch(`${s.url}/api/v1/sdk/metrics`, {
      method: 'POST',
      headers: { authorization: `Bearer ${production.serverToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sdkId: 'x', mode: 'server', appliedId: null, facts }),
    })
    t.equal(bad.status, 400, `refused: ${JSON.stringify(facts).slice(0, 40)}`)
  }
  const after = (await s.api('GET', '/api/v1/environments/production/applications')).body.items
  t.same(
    after.map((x: { name: string }) => x.name),
    ['sessions-api'],
  )
})
