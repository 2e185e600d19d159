/** Server mode: endpoints and store. */
import type { ClientOptions } from '../types.js'
import type { ModeSpec } from './client.js'
import { parseRulesText } from '../core/index.js'
import { RulesStore } from './rules-store.js'

/** "node 22.11.0", "bun 1.1.0", "deno 2.0.0", or undefined elsewhere (never fails: read from globals when present). */
function runtime(): string | undefined {
  const g = globalThis as {
    process?: { versions?: Record<string, string | undefined> }
    Deno?: { version?: { deno?: string } }
  }
  const v = g.process?.versions
  if (v?.bun) return `bun ${v.bun}`
  if (g.Deno?.version?.deno) return `deno ${g.Deno.version.deno}`
  if (v?.node) return `node ${v.node}`
  return undefined
}

/**
 * The {@link ModeSpec} of server mode (sdk-server token, full rules). Its reports describe the application
 * (`application`, the runtime, `facts`): only server mode sends them, so the browser bundle carries none of it.
 */
export function serverModeSpec(
  o: Pick<ClientOptions, 'application' | 'facts'> = {},
  store = new RulesStore(),
): ModeSpec {
  const rt = runtime()
  return {
    mode: 'server',
    store,
    streamPath: '/api/v1/sdk/stream',
    pollPath: '/api/v1/sdk/rules',
    query: () => '',
    etagIsAppliedId: true,
    parse: parseRulesText,
    report: {
      ...(o.application && { application: o.application }),
      ...(rt !== undefined && { runtime: rt }),
      ...(o.facts && { facts: o.facts }),
    },
  }
}
