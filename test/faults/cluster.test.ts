/**
 * Redis Cluster: three masters, environments spread over them; every write
 * (one Lua script per change), snapshot (MULTI), change-log reader (XREAD +
 * generation check) and audit query works, because every multi-key operation
 * stays inside one hash tag.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { connectRedis } from '../../src/redis/connect.js'
import { ADMIN, startApp, startRedis } from '../helpers/server.js'
import { openSse } from '../helpers/sse-reader.js'
import { until } from '../helpers/wait.js'

t.test('the whole API on a three-master Redis Cluster', async (t) => {
  const nodes = await Promise.all(
    [0, 1, 2].map(() =>
      startRedis(t, {
        extraArgs: [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-node-timeout',
          '2000',
        ],
      }),
    ),
  )
  const addrs = nodes.map((n) => `127.0.0.1:${n.port}`)
  await promisify(execFile)('redis-cli', ['--cluster', 'create', ...addrs, '--cluster-replicas', '0', '--cluster-yes'])
  const probes = nodes.map((n) => new Redis(n.url))
  t.teardown(() => {
    for (const p of probes) p.disconnect()
  })
  await until(
    async () => {
      const infos = await Promise.all(probes.map((p) => p.cluster('INFO') as Promise<string>))
      return infos.every((i) => i.includes('cluster_state:ok'))
    },
    20_000,
    'cluster state ok on every node',
  )

  const config = loadConfig({ LOG_LEVEL: 'silent', ADMIN_TOKEN: ADMIN, REDIS_CLUSTER_NODES: addrs.join(',') })
  const redis = connectRedis(config, undefined)
  redis.on('error', () => {})
  await redis.connect()
  const { url, api } = await startApp(t, config, redis)

  const envs = ['production', 'staging', 'development', 'qa', 'eu-west', 'us-east']
  for (const env of envs) t.equal((await api('POST', '/api/v1/environments', { body: { key: env } })).status, 201, env)
  t.equal(
    (await api('POST', '/api/v1/flags', { body: { key: 'new-checkout', kind: 'boolean', clientSide: true } })).status,
    201,
  )
  t.equal(
    (await api('POST', '/api/v1/environments/production/segments', { body: { key: 'beta', included: ['user-17'] } }))
      .status,
    201,
  )
  const members = await api('POST', '/api/v1/environments/production/segments/beta/members', {
    body: { add: ['user-18', 'user-19'] },
  })
  t.equal(members.body.count, 3)
  const put = await api('PUT', '/api/v1/environments/production/flags/new-checkout', {
    headers: { 'if-match': '1' },
    body: {
      on: true,
      offVariation: 1,
      fallthrough: { variation: 1 },
      rules: [
        { id: 'beta', clauses: [{ attribute: 'segment', op: 'inSegment', values: ['beta'] }], serve: { variation: 0 } },
      ],
    },
  })
  t.equal(put.status, 200, put.text)

  const tok = await api('POST', '/api/v1/tokens', {
    body: { name: 'svc', kind: 'sdk-server', environments: ['production'] },
  })
  const stream = await openSse(t, `${url}/api/v1/sdk/stream`, { token: tok.body.secret })
  const first = await stream.next()
  t.equal(first.type, 'put')
  t.same(
    JSON.parse(first.data).segments.beta.included.sort(),
    ['user-17', 'user-18', 'user-19'],
    'snapshot with members (MULTI + SSCAN)',
  )

  const ev = await api('POST', '/api/v1/environments/production/evaluate', {
    body: { context: { key: 'user-18' }, flags: ['new-checkout'] },
  })
  t.match(ev.body.flags['new-checkout'], { value: true, reason: { kind: 'RULE_MATCH', ruleId: 'beta' } })

  const kill = await api('POST', '/api/v1/environments/production/flags/new-checkout/kill', {
    body: { reason: 'cluster test' },
  })
  t.equal(kill.status, 200)
  const patch = await stream.next((e) => e.type === 'patch')
  t.equal(JSON.parse(patch.data).flag.on, false, 'the kill reaches the stream (XREAD on the cluster)')

  const audit = await api('GET', '/api/v1/audit?limit=100')
  const auditEnvs = new Set((audit.body.items as Array<{ env: string | null }>).map((a) => a.env))
  for (const env of envs) t.ok(auditEnvs.has(env), `audit across nodes includes ${env}`)

  // The environments really are spread over the masters.
  const sizes = await Promise.all(probes.map((p) => p.dbsize()))
  t.ok(sizes.filter((n) => n > 0).length >= 2, `keys on several masters: ${sizes.join(', ')}`)

  t.equal((await api('DELETE', '/api/v1/environments/qa')).status, 204)
  t.equal((await api('GET', '/api/v1/environments/qa')).status, 404)
  t.equal((await api('GET', '/readyz')).status, 200)
})
