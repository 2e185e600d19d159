/** Server mode: endpoints, store, and the client's evaluation path. */
import type { JsonValue } from '../core/types.js'
import type { ClientOptions, Context, Widen } from '../types.js'
import { Client, type ModeSpec } from './client.js'
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
    collect: () => store.collect(),
    report: {
      ...(o.application && { application: o.application }),
      ...(rt !== undefined && { runtime: rt }),
      ...(o.facts && { facts: o.facts }),
    },
  }
}

/**
 * The server-mode client: an evaluation is the engine's plus one increment of a counter on the
 * compiled flag (`RulesStore.counted`), which the reporter collects for each report, instead of a
 * lookup of the flag's counters by key. Everything else is the shared {@link Client}.
 */
export class ServerClient extends Client {
  constructor(
    options: ClientOptions,
    private readonly rules: RulesStore,
  ) {
    super(options, serverModeSpec(options, rules))
  }

  override isEnabled(key: string, context?: Context, defaultValue = false): boolean {
    return this.variation(key, context, defaultValue)
  }

  override variation<T extends JsonValue>(key: string, context: Context | undefined, defaultValue: T): Widen<T> {
    // The engine never throws; no data or no such flag serves (and counts) the default.
    const v = this.rules.counted(key, context ?? this.context ?? {}, defaultValue)
    if (v !== undefined) return v as Widen<T>
    this.reporter?.count(key, -1)
    return defaultValue as Widen<T>
  }

  override close(): Promise<void> {
    // The goodbye report carries the last counts (the reporter only asks for them when it sends).
    this.reporter?.add(this.rules.collect())
    return super.close()
  }
}
