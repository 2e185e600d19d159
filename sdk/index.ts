/**
 * Switchyard SDK, main entry (Node ≥ 20 and other runtimes with fetch).
 *
 * Server mode (default): an `sdk-server` token, the full ruleset in memory,
 * local evaluation by the engine, kept current over SSE. Client mode is here
 * too (one context's values); browsers should use the smaller `browser` entry.
 * Last-known-good in a file: `fileStorage` from `./node-storage.js`.
 */
import { Client } from './client/client.js'
import { clientModeSpec } from './client/client-mode.js'
import { journaled } from './client/rules-journal.js'
import { RulesStore } from './client/rules-store.js'
import { ServerClient } from './client/server-mode.js'
import type { ClientOptions, SwitchyardClient } from './types.js'

export type * from './types.js'
export { SwitchyardError } from './transport/http.js'
export { localStorageStorage, memoryStorage } from './storage.js'
export { SDK_VERSION } from './version.js'

/**
 * Create a client. `mode` defaults to `server`; evaluation is synchronous and
 * never throws. Call `close()` when done (it stops the stream and timers).
 */
export function createClient(options: ClientOptions): SwitchyardClient {
  if (options.mode === 'client') return new Client({ ...options, mode: 'client' }, clientModeSpec())
  const store = new RulesStore()
  // A storage that can append (fileStorage) keeps a journal of changes after a snapshot.
  const storage = options.storage && journaled(options.storage, store)
  return new ServerClient({ ...options, mode: 'server', ...(storage ? { storage } : {}) }, store)
}
