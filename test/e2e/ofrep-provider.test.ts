/**
 * OpenFeature's own OFREP provider (@openfeature/ofrep-provider, what a Node
 * service without our SDK would install) on @openfeature/server-sdk, against
 * the real server and Redis: values of every kind with OpenFeature reasons,
 * variants and metadata; a missing flag is the default with FLAG_NOT_FOUND;
 * a kill is seen by the next evaluation.
 */
import { OFREPProvider } from '@openfeature/ofrep-provider'
import { OpenFeature } from '@openfeature/server-sdk'
import t from 'tap'
import { createFlag, createSdkEnv, putConfig } from '../helpers/sdk-fixtures.js'
import { startServer } from '../helpers/server.js'

t.test('the OFREP server provider evaluates through Switchyard', async (t) => {
  const s = await startServer(t)
  const env = await createSdkEnv(s)
  await createFlag(s, 'new-checkout')
  await putConfig(s, env.env, 'new-checkout', {
    targets: [{ variation: 0, values: ['user-1'] }],
    rules: [{ id: 'pro', clauses: [{ attribute: 'plan', op: 'in', values: ['pro'] }], serve: { variation: 0 } }],
  })
  await createFlag(s, 'button', { kind: 'string', variations: ['green', 'blue'] })
  await putConfig(s, env.env, 'button', {
    fallthrough: {
      rollout: {
        weights: [
          { variation: 0, weight: 50_000 },
          { variation: 1, weight: 50_000 },
        ],
      },
    },
  })
  await createFlag(s, 'page-size', { kind: 'number', variations: [20, 50] })
  await putConfig(s, env.env, 'page-size', { fallthrough: { variation: 1 } })
  await createFlag(s, 'limits', { kind: 'json', variations: [{ rps: 10 }, { rps: 100 }] })
  await putConfig(s, env.env, 'limits', { fallthrough: { variation: 0 } })
  await createFlag(s, 'dark')
  await putConfig(s, env.env, 'dark', { on: false, offVariation: null })

  const provider = new OFREPProvider({ baseUrl: s.url, headers: [['Authorization', `Bearer ${env.serverToken}`]] })
  t.teardown(() => OpenFeature.clearProviders())
  await OpenFeature.setProviderAndWait('ofrep', provider)
  const client = OpenFeature.getClient('ofrep')

  t.match(await client.getBooleanDetails('new-checkout', false, { targetingKey: 'user-1' }), {
    value: true,
    reason: 'TARGETING_MATCH',
    variant: '0',
    flagMetadata: { reasonKind: 'TARGET_MATCH', version: 2 },
  })
  t.match(await client.getBooleanDetails('new-checkout', false, { targetingKey: 'user-2', plan: 'pro' }), {
    value: true,
    reason: 'TARGETING_MATCH',
    flagMetadata: { reasonKind: 'RULE_MATCH', ruleId: 'pro' },
  })
  t.match(await client.getBooleanDetails('new-checkout', true, { targetingKey: 'user-2' }), {
    value: false,
    reason: 'DEFAULT',
    variant: '1',
  })
  const split = await client.getStringDetails('button', 'red', { targetingKey: 'user-7' })
  t.match(split, { reason: 'SPLIT', flagMetadata: { inRollout: true } })
  t.ok(['green', 'blue'].includes(split.value), `a rollout variation: ${split.value}`)
  t.match(await client.getNumberDetails('page-size', 10, { targetingKey: 'u' }), {
    value: 50,
    variant: '1',
    reason: 'DEFAULT',
  })
  t.match(await client.getObjectDetails('limits', {}, { targetingKey: 'u' }), { value: { rps: 10 }, variant: '0' })

  t.match(
    await client.getBooleanDetails('dark', true, { targetingKey: 'u' }),
    { value: true, reason: 'ERROR' },
    'off without an off variation: the answer has no value (OFREP codeDefaultFlag), which this provider version reads as an error: the default all the same',
  )
  t.match(await client.getBooleanDetails('missing', true, { targetingKey: 'u' }), {
    value: true,
    reason: 'ERROR',
    errorCode: 'FLAG_NOT_FOUND',
  })
  t.match(await client.getStringDetails('new-checkout', 'x', { targetingKey: 'user-1' }), {
    value: 'x',
    reason: 'ERROR',
    errorCode: 'TYPE_MISMATCH',
  })
  t.match(
    await client.getStringDetails('button', 'red', {}),
    { value: 'red', reason: 'ERROR', errorCode: 'TARGETING_KEY_MISSING' },
    'a rollout needs a targetingKey',
  )

  const kill = await s.api('POST', `/api/v1/environments/${env.env}/flags/new-checkout/kill`, {
    body: { reason: 'ofrep e2e' },
  })
  t.equal(kill.status, 200)
  t.match(
    await client.getBooleanDetails('new-checkout', true, { targetingKey: 'user-1' }),
    { value: false, reason: 'DISABLED', variant: '1' },
    'the kill, at the next evaluation',
  )

  const stranger = new OFREPProvider({ baseUrl: s.url, headers: [['Authorization', 'Bearer sy_srv_not-a-token']] })
  await OpenFeature.setProviderAndWait('stranger', stranger)
  t.match(
    await OpenFeature.getClient('stranger').getBooleanDetails('new-checkout', true, { targetingKey: 'user-1' }),
    {
      value: true,
      reason: 'ERROR',
      errorCode: 'GENERAL',
    },
    'a refused token (401) is the default with an error',
  )
})
