/** What a client mode keeps in memory: the rules (server mode) or one context's values (client mode). */
import type { Context, EvaluationDetail, JsonValue } from '../core/types.js'

/** A mode's data holder. Methods that take wire data throw on malformed input. */
export interface Store {
  /** True once any data (server, bootstrap or cache) was loaded. */
  readonly hasData: boolean
  /** Replace everything (a `put`, a poll body, bootstrap, cache). Returns the keys that changed. */
  replace(data: unknown): string[]
  /** Apply a stream event other than `put`. Unknown event types return [] (forward compatible). */
  apply(type: string, data: unknown): string[]
  /** Forget everything (client mode: a new context whose values failed to load). Returns the keys that were known. */
  clear(): string[]
  /** JSON-able snapshot, in the shape `replace` accepts. */
  snapshot(): unknown
  /** Evaluate one flag; may throw (the client turns that into ERROR/GENERAL). */
  detail(key: string, context: Context, defaultValue: JsonValue): EvaluationDetail
  /**
   * The value only (the hot path: allocates nothing in server mode); then
   * `lastVariation()` is the variation index it served, -1 for the default.
   */
  value(key: string, context: Context, defaultValue: JsonValue): JsonValue
  lastVariation(): number
  /** Values of all flags for a context. */
  all(context: Context): Record<string, JsonValue>
}

/** Keys in either record whose JSON differs. */
export function diffKeys<T>(
  before: Record<string, T>,
  after: Record<string, T>,
  same: (a: T, b: T) => boolean,
): string[] {
  const out: string[] = []
  for (const k in after) {
    const b = before[k]
    if (b === undefined || !same(b, after[k] as T)) out.push(k)
  }
  for (const k in before) if (!(k in after)) out.push(k)
  return out
}

/** Throw a readable error unless `v` is a plain object. */
export function expectObject(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${what} must be an object`)
  return v as Record<string, unknown>
}
