/**
 * The OpenFeature providers through the real OpenFeature SDKs, against the
 * transport-level SSE test server: evaluation with reasons, variants and error
 * codes; CONFIGURATION_CHANGED with flagsChanged; STALE then READY; ERROR on 401;
 * web: context change → identify.
 */
import t from 'tap'
import { OpenFeature as ServerOF, ProviderEvents as ServerEvents, type EventDetails } from '@openfeature/server-sdk'
import { OpenFeature as WebOF, ProviderEvents as WebEvents } from '@openfeature/web-sdk'
import { SwitchyardProvider } from '../../sdk/openfeature/server.js'
import { SwitchyardWebProvider } from '../../sdk/openfeature/web.js'
import type { ClientValues, Ruleset, RulesetFlag } from '../../sdk/types.js'
import { booleanFlag } from '../helpers/ruleset.js'
import { startSseTestServer } from '../helpers/sse-test-server.js'

/** The fixture flag: user-1 whitelisted, plan "pro" by rule, false otherwise. */
function flag(key: string, patch: Partial<RulesetFlag> = {}): RulesetFlag {
  return booleanFlag(key, {
    targets: [{ variation: 0, values: ['user-1'] }],
    rules: [{ id: 'pro', clauses: [{ attribute: 'plan', op: 'in', values: ['pro'] }], serve: { variation: 0 } }],
    ...patch,
  })
}

const ruleset = (): Ruleset => ({
  specVersion: 1,
  environment: 'test',
  flags: {
    checkout: flag('checkout'),
    color: { ...flag('color'), kind: 'string', variations: ['red', 'blue'], targets: [], rules: [] },
    split: {
      ...flag('split'),
      targets: [],
      rules: [],
      fallthrough: {
        rollout: {
          weights: [
            { variation: 0, weight: 100000 },
            { variation: 1, weight: 0 },
          ],
        },
      },
    },
    config: { ...flag('config'), kind: 'json', variations: [{ a: 1 }, { a: 2 }], targets: [], rules: [] },
  },
  segments: {},
})

/** Resolve on the next event of an OpenFeature client/API; reject after timeoutMs. */
function nextOF<T>(
  target: { addHandler(e: never, fn: (d?: T) => void): void; removeHandler(e: never, fn: (d?: T) => void): void },
  event: string,
  timeoutMs = 5000,
): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${event}`)), timeoutMs)
    const fn = (d?: T): void => {
      clearTimeout(timer)
      target.removeHandler(event as never, fn)
      resolve(d)
    }
    target.addHandler(event as never, fn)
  })
}

t.test('server provider: evaluation with reasons, variants and error codes', async (t) => {
  const server = await startSseTestServer({ document: ruleset() })
  t.teardown(() => server.close())
  const provider = new SwitchyardProvider({ url: server.url, token: 'test-token', logger: {}, sendMetrics: false })
  t.teardown(() => ServerOF.clearProviders())
  await ServerOF.setProviderAndWait('eval', provider)
  const client = ServerOF.getClient('eval')

  const target = await client.getBooleanDetails('checkout', false, { targetingKey: 'user-1' })
  t.match(target, { value: true, variant: '0', reason: 'TARGETING_MATCH' })
  t.equal(target.errorCode, undefined)
  const rule = await client.getBooleanDetails('checkout', false, { targetingKey: 'user-2', plan: 'pro' })
  t.match(rule, { value: true, reason: 'TARGETING_MATCH', flagMetadata: { ruleId: 'pro', reasonKind: 'RULE_MATCH' } })
  t.match(await client.getBooleanDetails('checkout', true, { targetingKey: 'user-2' }), {
    value: false,
    reason: 'DEFAULT',
  })
  t.match(await client.getBooleanDetails('split', false, { targetingKey: 'user-2' }), { value: true, reason: 'SPLIT' })
  t.match(await client.getStringDetails('color', 'green', { targetingKey: 'u' }), { value: 'blue', reason: 'DEFAULT' })
  t.same((await client.getObjectDetails('config', {}, { targetingKey: 'u' })).value, { a: 2 })
  t.match(await client.getBooleanDetails('nope', true, { targetingKey: 'u' }), {
    value: true,
    reason: 'ERROR',
    errorCode: 'FLAG_NOT_FOUND',
  })
  t.match(await client.getStringDetails('checkout', 'x', { targetingKey: 'u' }), {
    value: 'x',
    reason: 'ERROR',
    errorCode: 'TYPE_MISMATCH',
  })
  t.match(await client.getNumberDetails('color', 7, { targetingKey: 'u' }), { value: 7, errorCode: 'TYPE_MISMATCH' })
})

t.test(
  'server provider: CONFIGURATION_CHANGED with flagsChanged, then the new value; DISABLED when killed',
  async (t) => {
    const server = await startSseTestServer({ document: ruleset() })
    t.teardown(() => server.close())
    const provider = new SwitchyardProvider({ url: server.url, token: 'test-token', logger: {}, sendMetrics: false })
    t.teardown(() => ServerOF.clearProviders())
    await ServerOF.setProviderAndWait('changes', provider)
    const client = ServerOF.getClient('changes')
    const changed = nextOF<EventDetails>(client, ServerEvents.ConfigurationChanged)
    server.publish('patch', { kind: 'flag', flag: flag('checkout', { on: false, version: 2 }) })
    t.same((await changed)?.flagsChanged, ['checkout'])
    t.match(await client.getBooleanDetails('checkout', true, { targetingKey: 'user-1' }), {
      value: false,
      reason: 'DISABLED',
    })
  },
)

t.test('server provider: STALE when the server is gone, READY when it is back', async (t) => {
  const server = await startSseTestServer({ document: ruleset() })
  t.teardown(() => server.close())
  const provider = new SwitchyardProvider({
    url: server.url,
    token: 'test-token',
    logger: {},
    sendMetrics: false,
    staleAfterMs: 200,
    initialRetryMs: 20,
    maxRetryMs: 50,
    streamFailuresBeforePolling: 1000,
  })
  t.teardown(() => ServerOF.clearProviders())
  await ServerOF.setProviderAndWait('stale', provider)
  const client = ServerOF.getClient('stale')
  server.alwaysFail.stream = { status: 503 }
  const stale = nextOF(client, ServerEvents.Stale)
  ;(await server.connection(1)).destroy()
  await stale
  t.equal(client.providerStatus, 'STALE')
  const ready = nextOF(client, ServerEvents.Ready)
  delete server.alwaysFail.stream
  await ready
  t.equal(client.providerStatus, 'READY')
})

t.test('server provider: a bad token ends in ERROR', async (t) => {
  const server = await startSseTestServer({ document: ruleset() })
  t.teardown(() => server.close())
  const provider = new SwitchyardProvider({ url: server.url, token: 'bad', logger: {}, sendMetrics: false })
  t.teardown(() => ServerOF.clearProviders())
  await t.rejects(ServerOF.setProviderAndWait('bad', provider))
  const client = ServerOF.getClient('bad')
  t.match(client.providerStatus, /ERROR|FATAL/)
  t.match(await client.getBooleanDetails('checkout', true, { targetingKey: 'u' }), { value: true })
})

t.test(
  'server provider: a token refused later → ERROR with the last values still served; READY again when it works',
  async (t) => {
    const server = await startSseTestServer({ document: ruleset() })
    t.teardown(() => server.close())
    const provider = new SwitchyardProvider({
      url: server.url,
      token: 'test-token',
      logger: {},
      sendMetrics: false,
      initialRetryMs: 20,
      maxRetryMs: 50,
      authRetryMs: 200,
    })
    t.teardown(() => ServerOF.clearProviders())
    await ServerOF.setProviderAndWait('refused', provider)
    const client = ServerOF.getClient('refused')
    const ctx = { targetingKey: 'u', plan: 'pro' }
    t.equal((await client.getBooleanDetails('checkout', false, ctx)).value, true)
    server.token = 'rotated'
    const error = nextOF(client, ServerEvents.Error)
    ;(await server.connection(1)).destroy()
    await error
    t.equal(client.providerStatus, 'ERROR', 'not FATAL: OpenFeature keeps asking the provider')
    t.match(await client.getBooleanDetails('checkout', false, ctx), { value: true }, 'the last rules answer')
    const ready = nextOF(client, ServerEvents.Ready)
    server.token = 'test-token'
    await ready
    t.equal(client.providerStatus, 'READY')
  },
)

const values = (v: boolean): ClientValues => ({
  flags: {
    banner: { value: v, variation: v ? 0 : 1, reason: { kind: 'TARGET_MATCH' } },
    theme: { value: 'dark', variation: 0, reason: { kind: 'FALLTHROUGH', inRollout: true } },
  },
})

t.test('web provider: values, reasons, CONFIGURATION_CHANGED, and setContext → identify', async (t) => {
  const server = await startSseTestServer({ document: values(true) })
  t.teardown(() => server.close())
  const signed: string[] = []
  const provider = new SwitchyardWebProvider({
    url: server.url,
    token: 'test-token',
    logger: {},
    sendMetrics: false,
    signContext: (ctx) => {
      signed.push(String(ctx.targetingKey))
      return `sig-${String(ctx.targetingKey)}`
    },
  })
  t.teardown(() => WebOF.clearProviders())
  await WebOF.setContext('web', { targetingKey: 'user-1', plan: 'pro' })
  await WebOF.setProviderAndWait('web', provider)
  const client = WebOF.getClient('web')
  t.match(client.getBooleanDetails('banner', false), { value: true, variant: '0', reason: 'TARGETING_MATCH' })
  t.match(client.getStringDetails('theme', 'light'), { value: 'dark', reason: 'SPLIT' })
  t.match(client.getNumberDetails('theme', 1), { value: 1, errorCode: 'TYPE_MISMATCH' })
  t.match(client.getBooleanDetails('nope', true), { value: true, errorCode: 'FLAG_NOT_FOUND' })
  const conn1 = await server.connection(1)
  t.equal(conn1.request.query.get('signature'), 'sig-user-1')
  t.same(JSON.parse(Buffer.from(conn1.request.query.get('context') ?? '', 'base64url').toString()), {
    plan: 'pro',
    key: 'user-1',
  })

  const changed = nextOF<EventDetails>(client, WebEvents.ConfigurationChanged)
  server.publish('patch', { flags: { banner: values(false).flags.banner } })
  t.same((await changed)?.flagsChanged, ['banner'])
  t.equal(client.getBooleanValue('banner', true), false)

  server.document = values(true)
  await WebOF.setContext('web', { targetingKey: 'user-2' })
  const conn2 = await server.connection(2)
  t.equal(conn2.request.query.get('signature'), 'sig-user-2')
  t.same(JSON.parse(Buffer.from(conn2.request.query.get('context') ?? '', 'base64url').toString()), { key: 'user-2' })
  t.equal(client.getBooleanValue('banner', false), true, 'new context values after setContext resolved')
  t.same(signed, ['user-1', 'user-2'])
})
