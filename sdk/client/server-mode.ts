/** Server mode: endpoints and store. */
import type { ModeSpec } from './client.js'
import { RulesStore } from './rules-store.js'

/** The {@link ModeSpec} of server mode (sdk-server token, full rules). */
export function serverModeSpec(store = new RulesStore()): ModeSpec {
  return {
    mode: 'server',
    store,
    streamPath: '/api/v1/sdk/stream',
    pollPath: '/api/v1/sdk/rules',
    query: () => '',
    etagIsAppliedId: true,
  }
}
