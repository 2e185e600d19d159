/**
 * The OpenFeature providers through the real OpenFeature SDKs against the real
 * server and Redis: reasons mapped, CONFIGURATION_CHANGED on a REST kill.
 */
import { OpenFeature as ServerOF, ProviderEvents as ServerEvents, type EventDetails } from '@openfeature/server-sdk'
import { OpenFeature as WebOF, ProviderEvents as WebEvents } from '@openfeature/web-sdk'
import t from 'tap'
import { SwitchyardProvider } from '../../sdk/openfeature/server.js'
import { SwitchyardWebProvider } from '../../sdk/openfeature/web.js'
import { createFlag, createSdkEnv, putConfig } from '../helpers/sdk-fixtures.js'
import { startServer } from '../helpers/server.js'

const quiet = { warn() {}, error() {} }

function next<T>(
  target: { addHandler(e: never, fn: (d?: T) => void): void; removeHandler(e: never, fn: (d?: T) => void): void },
  event: string,
  ms = 10_000,
): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${event}`)), ms)
    const fn = (d?: T) => {
      clearTimeout(timer)
      target.removeHandler(event as never, fn)
      resolve(d)
    }
    target.addHandler(event as never, fn)
  })
}

t.test('server and web providers against the real server', async (t) => {
  const s = await startServer(t)
  const env = await createSdkEnv(s)
  await createFlag(s, 'new-checkout', { clientSide: true })
  await putConfig(s, env.env, 'new-checkout', {
    targets: [{ variation: 0, values: ['user-1'] }],
    rules: [{ id: 'pro', clauses: [{ attribute: 'plan', op: 'in', values: ['pro'] }], serve: { variation: 0 } }],
  })

  const provider = new SwitchyardProvider({ url: s.url, token: env.serverToken, logger: quiet, sendMetrics: false })
  t.teardown(() => ServerOF.clearProviders())
  await ServerOF.setProviderAndWait('e2e', provider)
  const client = ServerOF.getClient('e2e')
  t.match(await client.getBooleanDetails('new-checkout', false, { targetingKey: 'user-1' }), {
    value: true,
    reason: 'TARGETING_MATCH',
    variant: '0',
  })
  t.match(await client.getBooleanDetails('new-checkout', false, { targetingKey: 'user-2', plan: 'pro' }), {
    value: true,
    reason: 'TARGETING_MATCH',
    flagMetadata: { ruleId: 'pro' },
  })
  t.match(await client.getBooleanDetails('new-checkout', true, { targetingKey: 'user-2' }), {
    value: false,
    reason: 'DEFAULT',
  })
  t.match(await client.getBooleanDetails('missing', true, { targetingKey: 'u' }), {
    value: true,
    reason: 'ERROR',
    errorCode: 'FLAG_NOT_FOUND',
  })

  const web = new SwitchyardWebProvider({ url: s.url, token: env.clientToken, logger: quiet, sendMetrics: false })
  t.teardown(() => WebOF.clearProviders())
  await WebOF.setContext({ targetingKey: 'user-1' })
  await WebOF.setProviderAndWait(web)
  const webClient = WebOF.getClient()
  t.match(webClient.getBooleanDetails('new-checkout', false), { value: true, reason: 'TARGETING_MATCH' })

  const serverChanged = next<EventDetails>(client, ServerEvents.ConfigurationChanged)
  const webChanged = next<EventDetails>(webClient, WebEvents.ConfigurationChanged)
  const kill = await s.api('POST', `/api/v1/environments/${env.env}/flags/new-checkout/kill`, {
    body: { reason: 'of e2e' },
  })
  t.equal(kill.status, 200)
  t.same((await serverChanged)?.flagsChanged, ['new-checkout'])
  t.same((await webChanged)?.flagsChanged, ['new-checkout'])
  t.match(await client.getBooleanDetails('new-checkout', true, { targetingKey: 'user-1' }), {
    value: false,
    reason: 'DISABLED',
  })
  t.match(webClient.getBooleanDetails('new-checkout', true), { value: false, reason: 'DISABLED' })
})
