/**
 * Browser entry: client mode only (one context's evaluated values; no rule
 * engine, no whitelists in the page). Bundled as dist/switchyard.browser.js (`@switchyard/sdk/browser`).
 */
import { Client } from './client/client.js'
import { clientModeSpec } from './client/client-mode.js'
import { SwitchyardError } from './transport/http.js'
import type { ClientOptions, SwitchyardClient } from './types.js'

export type * from './types.js'
export { SwitchyardError } from './transport/http.js'
export { localStorageStorage, memoryStorage } from './storage.js'
export { SDK_VERSION } from './version.js'

/**
 * Create a browser client for one context (`context`, optional `signature`
 * from your backend) with an `sdk-client` token.
 */
export function createClient(options: ClientOptions): SwitchyardClient {
  if (options.mode === 'server') {
    throw new SwitchyardError(
      'INVALID_OPTIONS',
      "createClient: the browser entry supports mode 'client' only (server mode needs an sdk-server token, which must never ship to a browser)",
    )
  }
  return new Client({ ...options, mode: 'client' }, clientModeSpec())
}
