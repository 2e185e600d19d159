// The OpenFeature server SDK with Switchyard as its provider: application code depends on
// OpenFeature's API only (getBooleanDetails, reasons, variants, events), Switchyard answers.
//
//   npm install @openfeature/server-sdk @switchyard/sdk
//   SWITCHYARD_URL=http://127.0.0.1:3000 SWITCHYARD_SDK_TOKEN=sy_srv_… node examples/openfeature/app.mjs
import { OpenFeature, ProviderEvents } from '@openfeature/server-sdk'
import { SwitchyardProvider } from '@switchyard/sdk/openfeature/server'

const token = process.env.SWITCHYARD_SDK_TOKEN
if (!token) {
  console.error('Set SWITCHYARD_SDK_TOKEN to an sdk-server token (POST /api/v1/tokens, kind "sdk-server").')
  process.exit(2)
}

const provider = new SwitchyardProvider(
  { url: process.env.SWITCHYARD_URL ?? 'http://127.0.0.1:3000', token },
  { readyTimeoutMs: 5000 },
)
await OpenFeature.setProviderAndWait(provider)
const client = OpenFeature.getClient('checkout')

// `targetingKey` is Switchyard's context key; other attributes pass through to the rules.
const users = [
  { targetingKey: 'user-1', plan: 'pro' },
  { targetingKey: 'user-2', plan: 'free' },
]
async function report(when) {
  for (const context of users) {
    const d = await client.getBooleanDetails('new-checkout', false, context)
    const rule = d.flagMetadata.ruleId ? `, rule ${d.flagMetadata.ruleId}` : ''
    console.log(`${when} ${context.targetingKey}: ${d.value} (${d.reason}, variant ${d.variant ?? '-'}${rule})`)
  }
}

await report('start')
client.addHandler(ProviderEvents.ConfigurationChanged, (details) => {
  console.log(`changed: ${details?.flagsChanged?.join(', ')}`)
  void report('now')
})

// OpenFeature.close() closes the provider, which closes its Switchyard client; then the process ends.
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void OpenFeature.close())
