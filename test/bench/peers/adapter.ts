/**
 * What `harness.ts` needs from each SDK: turn a neutral person into the SDK's context (done before timing),
 * and build a client from the neutral model through the SDK's public, offline API.
 */
import type { Model, Person, ScenarioName } from './scenarios.js'

interface BuiltCommon {
  /** How the data was expressed, where that is not the obvious form (shown under the table). */
  form?: string
  close?(): unknown
}

/** An SDK whose evaluations return at once. */
export interface SyncBuilt<C> extends BuiltCommon {
  async: false
  isOn(flag: string, ctx: C): boolean
  /** Every flag for one context, in the SDK's own result form (what the timed loop calls). */
  all(ctx: C): unknown
  /** The same, as flag key → value (for the correctness check). */
  values(ctx: C): Record<string, unknown>
}

/** An SDK whose evaluations return promises (LaunchDarkly's server SDK). */
export interface AsyncBuilt<C> extends BuiltCommon {
  async: true
  isOn(flag: string, ctx: C): Promise<boolean>
  all(ctx: C): Promise<unknown>
  values(ctx: C): Promise<Record<string, unknown>>
}

export type Built<C> = SyncBuilt<C> | AsyncBuilt<C>

export interface Adapter<C> {
  /** Column title. */
  title: string
  /** The npm package measured (its installed version is printed), or null for the Set reference. */
  pkg: string | null
  context(p: Person): C
  build(model: Model): Promise<Built<C>>
}

/** The keys of `model`'s list that serve `flag` true, for adapters that only hold lists (the Set reference). */
export function listOf(model: Model, flag: string): string[] {
  const f = model.flags.find((x) => x.key === flag)
  const cond = f?.rule?.conditions.find((c) => c.kind === 'inList')
  const name = f?.whitelist ?? (cond?.kind === 'inList' ? cond.list : undefined)
  if (name === undefined) throw new Error(`flag ${flag} has no list`)
  return model.lists[name] ?? []
}

export const SDKS = ['unleash', 'launchdarkly', 'growthbook', 'flagd', 'client', 'engine', 'set'] as const
export type SdkName = (typeof SDKS)[number]
/** The peers' adapters import packages that exist only once `npm run bench:peers` installed them. */
export const PEERS: readonly SdkName[] = ['unleash', 'launchdarkly', 'growthbook', 'flagd']

/** Each peer's npm package (pinned in test/bench/peers/package.json). */
export const PKG: Partial<Record<SdkName, string>> = {
  unleash: 'unleash-client',
  launchdarkly: '@launchdarkly/node-server-sdk',
  growthbook: '@growthbook/growthbook',
  flagd: '@openfeature/flagd-core',
}

export interface Result {
  sdk: SdkName
  scenario: ScenarioName
  title: string
  version: string
  ok: boolean
  /** Why the check failed, or why the cell could not run. */
  error?: string
  /** What the check saw (shares, hits and misses). */
  checked?: string
  form?: string
  /** evals/s, contexts/s, or bytes for memory-1m. */
  unit?: 'evals/s' | 'contexts/s' | 'bytes'
  /** Median by the wall clock (bytes for memory-1m). */
  median?: number
  /** Median per CPU second of the process (bytes for memory-1m). */
  cpuMedian?: number
  runs?: number[]
  cpuRuns?: number[]
  ingestMs?: number
}
