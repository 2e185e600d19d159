/** Server mode: endpoints and store. */
import type { ModeSpec } from './client.js'
import { RulesStore } from './rules-store.js'

/** The {@link ModeSpec} of server mode (sdk-server token, full rules). */
export function serverModeSpec(): ModeSpec {
  return {
    mode: 'server',
    store: new RulesStore(),
    streamPath: '/api/v1/sdk/stream',
    pollPath: '/api/v1/sdk/rules',
    query: () => '',
    etagIsAppliedId: true,
  }
}
