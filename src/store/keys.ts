/**
 * Every Redis key Switchyard uses. All keys of one environment carry the hash
 * tag `{env}` so multi-key writes stay on one slot (Redis Cluster) and can run
 * in one Lua script. Global keys use the tag `{global}`, which is therefore a
 * reserved environment key.
 */
export const GLOBAL_TAG = 'global'

/** Environment keys refused at creation: their keys would collide with global ones (`envKeys('global').audit` is the global audit). */
export const RESERVED_ENV_KEYS: ReadonlySet<string> = new Set([GLOBAL_TAG])

export const globalKeys = {
  /** HASH env key → Environment JSON */
  envs: `sy:{${GLOBAL_TAG}}:envs`,
  /** HASH flag key → FlagDefinition JSON */
  flagDefs: `sy:{${GLOBAL_TAG}}:flagdefs`,
  /** HASH token id → TokenRecord JSON (no secret) */
  tokens: `sy:{${GLOBAL_TAG}}:tokens`,
  /** HASH sha256(secret) hex → token id */
  tokenHashes: `sy:{${GLOBAL_TAG}}:tokenhash`,
  /** STREAM of audit records of global actions (flag definitions, environments, tokens) */
  audit: `sy:{${GLOBAL_TAG}}:audit`,
  /** STRING: JSON `{ id, createdAt }` written once when the store is initialised; its absence means the data was lost (StoreMonitor) */
  marker: `sy:{${GLOBAL_TAG}}:marker`,
} as const

/** Keys of one environment. */
export function envKeys(env: string) {
  const p = `sy:{${env}}`
  return {
    /** HASH flag key → RulesetFlag JSON (definition fields + this env's configuration) */
    flags: `${p}:flags`,
    /** HASH flag key → current version (checked by every write) */
    flagVersions: `${p}:fver`,
    /** HASH version → FlagHistoryEntry JSON, one per flag */
    history: (flag: string) => `${p}:hist:${flag}`,
    /** HASH segment key → SegmentMeta JSON (no members) */
    segments: `${p}:segments`,
    /** HASH segment key → current version */
    segmentVersions: `${p}:sver`,
    /** SET of included / excluded context keys of a segment */
    included: (segment: string) => `${p}:seg:${segment}:inc`,
    excluded: (segment: string) => `${p}:seg:${segment}:exc`,
    /** STREAM: the change log the SDK stream replays */
    log: `${p}:log`,
    /** STREAM: audit records of this environment */
    audit: `${p}:audit`,
    /**
     * HASH: per-environment settings, the context-signing secret and
     * `generation` (random, set at creation): stream readers compare it after
     * every read, in the environment's own slot, so they notice a deletion
     * (null) or a re-creation with the same key (a new value).
     */
    meta: `${p}:meta`,
    /** HASH sdkId → latest SDK report JSON (applied change id, report times); stale fields pruned on read */
    sdkReports: `${p}:sdk`,
    /** HASH sdkId → latest report of a browser SDK (sdk-client token), kept apart from the server SDKs' proof */
    sdkClientReports: `${p}:sdkc`,
    /** HASH fact name → FactRecord JSON (src/store/facts.ts) */
    facts: `${p}:facts`,
    /** HASH `version` → the version of the environment's facts (checked by every fact write, and by gated flag writes) */
    factMeta: `${p}:factmeta`,
    /** STREAM of FactHistoryEntry JSON (field `r`), capped at FACT_HISTORY_MAXLEN */
    factHistory: `${p}:facthist`,
  }
}

export type EnvKeys = ReturnType<typeof envKeys>
