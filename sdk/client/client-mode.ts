/** Client (browser) mode: endpoints and store. */
import { base64url } from '../transport/http.js'
import type { ModeSpec } from './client.js'
import { ValuesStore } from './values-store.js'

/** The {@link ModeSpec} of client mode. */
export function clientModeSpec(): ModeSpec {
  return {
    mode: 'client',
    store: new ValuesStore(),
    streamPath: '/api/v1/sdk/client/stream',
    pollPath: '/api/v1/sdk/client/values',
    query: (context, signature) =>
      `?context=${base64url(JSON.stringify(context ?? {}))}` +
      (signature ? `&signature=${encodeURIComponent(signature)}` : ''),
    etagIsAppliedId: false,
  }
}
