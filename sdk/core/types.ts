/**
 * Wire types shared by the server, the SDK and the test vectors.
 *
 * This file is the contract: the REST API stores and returns these shapes, the
 * change-log and the SSE stream carry them, and `compile()` ingests them.
 * It imports nothing, so the browser bundle can include it as-is.
 */

/** Value kinds a flag can serve. */
export type FlagKind = 'boolean' | 'string' | 'number' | 'json'

/** Any JSON value a variation can hold. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

/** Every clause operator of the rule language. */
export const OPERATORS = [
  'in',
  'startsWith',
  'endsWith',
  'contains',
  'matches',
  'lessThan',
  'lessThanOrEqual',
  'greaterThan',
  'greaterThanOrEqual',
  'before',
  'after',
  'semVerEqual',
  'semVerLessThan',
  'semVerGreaterThan',
  'exists',
  'inSegment',
] as const

/** A clause operator. */
export type Operator = (typeof OPERATORS)[number]

/** One test on one context attribute; the clauses of a rule are ANDed. */
export interface Clause {
  /** Context attribute name (`key` is the context key). Ignored by `inSegment`, which tests the context key. */
  attribute: string
  /** The operator. */
  op: Operator
  /** Values to compare with; the clause matches when any value matches. `inSegment` lists segment keys. */
  values: JsonValue[]
  /** Invert the result of the clause. */
  negate?: boolean
}

/** One slice of a percentage rollout. */
export interface WeightedVariation {
  /** Index into the flag's `variations`. */
  variation: number
  /** Weight in 1/100,000ths; all weights of a rollout sum to 100,000. */
  weight: number
}

/** A percentage rollout over the buckets of `bucketBy`. */
export interface Rollout {
  /** Context attribute to bucket by; defaults to `key`. */
  bucketBy?: string
  /** Slices in order; they sum to 100,000. */
  weights: WeightedVariation[]
}

/** What a rule or the fallthrough serves: one variation, or a rollout. */
export type Serve = { variation: number } | { rollout: Rollout }

/** A targeting rule: clauses ANDed, then serve. */
export interface Rule {
  /** Stable id, unique within the flag configuration; reported in RULE_MATCH reasons. */
  id: string
  /** Optional human description. */
  description?: string
  /** Clauses, all of which must match. An empty list matches everyone. */
  clauses: Clause[]
  /** What to serve when the rule matches. */
  serve: Serve
}

/** The flag's own whitelist: these context keys get this variation. */
export interface Target {
  /** Index into `variations`. */
  variation: number
  /** Context keys. */
  values: string[]
}

/** Another flag that must serve a given variation before this one is evaluated. */
export interface Prerequisite {
  /** Key of the prerequisite flag. */
  flag: string
  /** Variation index the prerequisite must serve. */
  variation: number
}

/** Flag definition: the same in every environment. */
export interface FlagDefinition {
  key: string
  name: string
  description?: string
  kind: FlagKind
  variations: JsonValue[]
  tags?: string[]
  owner?: string
  temporary?: boolean
  /** Expected removal date of a temporary flag (ISO 8601 date). */
  removeBy?: string
  /** May a browser (`sdk-client` token) see this flag's value. */
  clientSide?: boolean
  /** Bucketing salt; set at creation (defaults to the key) and never changed, so buckets stay stable. */
  salt: string
  /** A number flag that is a live knob: the values a configuration may serve besides the presets. */
  knob?: KnobBounds
}

/** A knob's bounds: `min ≤ value ≤ max`, and with `step`, `value = min + k·step` for a whole `k`. */
export interface KnobBounds {
  min: number
  max: number
  step?: number
}

/** A knob's literal value in one environment; the engine serves it as variation index `variations.length`. */
export interface KnobValue {
  value: number
}

/** Per-environment flag configuration (versioned). */
export interface FlagConfig {
  on: boolean
  /** Variation served when `on` is false; null serves the caller's default value. */
  offVariation: number | null
  prerequisites: Prerequisite[]
  targets: Target[]
  rules: Rule[]
  fallthrough: Serve
  /** Increases by one on every change. */
  version: number
  /** Facts the environment must meet before this configuration may be turned on or serve anew (server-side gate; the evaluator ignores it). */
  requires?: FactRequirement[]
  /** Set while the flag serves despite unmet requirements: who forced it, why, and what was unmet. */
  requirementsOverride?: RequirementsOverride
  /** A knob's literal value: index `variations.length` serves it (an SDK that predates knobs rejects that index). */
  knob?: KnobValue
}

/** A fact value: recorded per environment by pipelines, or reported by server SDKs. */
export type FactValue = string | number | boolean | string[]

/** A condition on one fact, written with the rule language's operators (`inSegment` excepted). */
export interface FactRequirement {
  fact: string
  op: Exclude<Operator, 'inSegment'>
  /** Compared as a clause's values (a list: any of them); absent for `exists`. */
  value?: string | number | boolean | Array<string | number | boolean>
  negate?: boolean
}

/** A requirement that an environment's facts do not meet, with the value found (null: no such fact). */
export interface UnmetRequirement extends FactRequirement {
  actual: FactValue | null
}

/** The record of a forced write (unmet requirements or drifted facts overridden). */
export interface RequirementsOverride {
  at: string
  actor: string
  reason: string
  unmet: UnmetRequirement[]
  /** Facts that differed from the source environment of a forced promote. */
  drift?: Array<{ fact: string; from: FactValue | null; to: FactValue | null }>
}

/** A flag as the SDK receives it: definition fields plus that environment's configuration. */
export interface RulesetFlag extends FlagConfig {
  key: string
  kind: FlagKind
  variations: JsonValue[]
  salt: string
  clientSide?: boolean
  /** The definition's knob bounds (`FlagDefinition.knob`), so every validator checks `knob` against them. */
  knobBounds?: KnobBounds
}

/** A segment rule: clauses ANDed; optional percentage of matching contexts. */
export interface SegmentRule {
  id: string
  clauses: Clause[]
  /** If set, only this share (in 1/100,000ths) of matching contexts is in the segment. */
  weight?: number
  /** Attribute bucketed by `weight`; defaults to `key`. */
  bucketBy?: string
}

/** A segment (cohort / reusable whitelist) of one environment. */
export interface Segment {
  key: string
  name?: string
  description?: string
  /** Context keys always in the segment (may be very large). */
  included: string[]
  /** Context keys never in the segment (wins over included and rules). */
  excluded: string[]
  rules: SegmentRule[]
  /** Salt for segment rule bucketing (defaults to the key). */
  salt: string
  version: number
}

/**
 * A segment as `applySegment` accepts it: a `Segment` whose member lists may
 * be absent. An absent (`undefined` or `null`) `included` / `excluded` keeps
 * that list's current members (a stream patch that changes only the name or
 * the rules carries no members); a list that is present replaces the members.
 */
export type SegmentPatch = Omit<Segment, 'included' | 'excluded'> & {
  /** Context keys always in the segment; absent: keep the current ones. */
  included?: string[] | null
  /** Context keys never in the segment; absent: keep the current ones. */
  excluded?: string[] | null
}

/** Everything one environment's SDK needs to evaluate locally. */
export interface Ruleset {
  /** Wire format version of this document. */
  specVersion: 1
  environment: string
  flags: Record<string, RulesetFlag>
  segments: Record<string, Segment>
}

/** Membership change of a segment, sent instead of the whole list. */
export interface SegmentDelta {
  key: string
  add: string[]
  remove: string[]
  /** Which list the delta applies to. */
  list: 'included' | 'excluded'
  version: number
}

/** What the SDK is asked about. `key` identifies the user, account or device. */
export interface Context {
  key?: string
  [attribute: string]: unknown
}

/**
 * Reason kinds, as on the wire (DESIGN.md). The OpenFeature providers map them:
 * OFF→DISABLED, TARGET_MATCH/RULE_MATCH→TARGETING_MATCH (SPLIT when a rollout
 * chose the variation), FALLTHROUGH→DEFAULT (or SPLIT), ERROR→ERROR.
 */
export type ReasonKind = 'OFF' | 'TARGET_MATCH' | 'RULE_MATCH' | 'PREREQUISITE_FAILED' | 'FALLTHROUGH' | 'ERROR'

/** Why a value was served. */
export interface Reason {
  kind: ReasonKind
  /** Rule id, for RULE_MATCH. */
  ruleId?: string
  /** Key of the failing prerequisite, for PREREQUISITE_FAILED. */
  prerequisiteKey?: string
  /** True when a percentage rollout chose the variation. */
  inRollout?: boolean
  /** For ERROR. */
  errorKind?: ErrorKind
}

/** Result of one evaluation. `variation` is null when the default value was served. */
export interface EvaluationDetail<T = JsonValue> {
  value: T
  variation: number | null
  reason: Reason
}

/** Error kinds (OpenFeature error codes). */
export type ErrorKind =
  | 'FLAG_NOT_FOUND'
  | 'TYPE_MISMATCH'
  | 'PARSE_ERROR'
  | 'TARGETING_KEY_MISSING'
  | 'INVALID_CONTEXT'
  | 'PROVIDER_NOT_READY'
  | 'GENERAL'
