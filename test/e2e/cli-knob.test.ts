/** `switchyard knob set <env> <flag> <value>` against the real server (in process, through run()) and a real SDK. */
import t from 'tap'
import { createClient } from '../../sdk/index.js'
import { cliFor } from '../helpers/cli.js'
import { createSdkEnv } from '../helpers/sdk-fixtures.js'
import { startServer } from '../helpers/server.js'
import { until } from '../helpers/wait.js'

t.test(
  'knob set: read-modify-write with If-Match, the SDK serves the value, bounds refused with the code',
  async (t) => {
    const s = await startServer(t)
    const production = await createSdkEnv(s)
    await s.api('POST', '/api/v1/flags', {
      body: { key: 'batch-size', kind: 'number', variations: [100], knob: { min: 1, max: 5000, step: 1 } },
    })
    const cli = cliFor(s)
    await s.api('POST', '/api/v1/environments/production/flags/batch-size/toggle', { body: { on: true } })
    const client = createClient({
      url: s.url,
      token: production.serverToken,
      sendMetrics: false,
      logger: { warn() {}, error() {}, info() {}, debug() {} },
    })
    t.teardown(() => client.close())
    await client.ready({ timeoutMs: 20_000 })
    t.equal(client.variation('batch-size', { key: 'w' }, 0), 100, 'the preset before the knob is set')

    let r = await cli(['knob', 'set', 'production', 'batch-size', '500', '--reason', 'faster at 06:30'])
    t.equal(r.code, 0, r.err)
    t.match(r.out, /^batch-size in production serves 500 \(was 100\) \(version 3, change \S+\)$/)
    await until(() => client.variation('batch-size', { key: 'w' }, 0) === 500, 20_000, 'the SDK to serve 500')
    r = await cli(['knob', 'set', 'production', 'batch-size', '2000'])
    t.equal(r.code, 0, r.err)
    t.match(r.out, /serves 2000 \(was 500\)/)
    await until(() => client.variation('batch-size', { key: 'w' }, 0) === 2000, 20_000, 'the SDK to serve 2000')

    r = await cli(['knob', 'set', 'production', 'batch-size', '9000'])
    t.not(r.code, 0)
    t.match(r.err, /KNOB_OUT_OF_BOUNDS|outside \[1, 5000\]/)
    r = await cli(['knob', 'set', 'production', 'batch-size', 'lots'])
    t.not(r.code, 0)
    t.match(r.err, /value must be a number, not "lots"/)
    const cfg = (await s.api('GET', '/api/v1/environments/production/flags/batch-size')).body
    t.same(
      [cfg.knob, cfg.fallthrough, cfg.on],
      [{ value: 2000 }, { variation: 1 }, true],
      'refused writes changed nothing',
    )
    const audit = await s.api('GET', '/api/v1/audit?limit=5')
    t.ok(
      audit.body.items.some((a: { reason?: string }) => a.reason === 'faster at 06:30'),
      'the knob write is audited with its reason',
    )
  },
)
