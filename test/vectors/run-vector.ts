/**
 * Runs one evaluation vector against the engine. Pure (no node: modules), so
 * the browser tests can import it and run the same JSON files in Chromium.
 */
import { bucket, compile, evaluateDetail, hashSalted } from '../../sdk/core/index.js'
import type { Context, EvaluationDetail, JsonValue, Ruleset } from '../../sdk/core/index.js'

/** Version of the vector file format understood here. */
export const VECTOR_SPEC_VERSION = 1

/** One evaluation vector (named object; see test/vectors/*.json). */
export interface Vector {
  name: string
  ruleset: Ruleset
  context: Context
  flag: string
  default: JsonValue
  expected: EvaluationDetail
}

/** A file of evaluation vectors. */
export interface VectorFile {
  specVersion: number
  vectors: Vector[]
}

/** One pinned hash: MurmurHash3 x86_32 of UTF-8(salt + "." + value) and its bucket. */
export interface HashVector {
  salt: string
  value: string
  hash: number
  bucket: number
}

/** The hash vector file. */
export interface HashVectorFile {
  specVersion: number
  hashVersion: number
  vectors: HashVector[]
}

/** Outcome of running a vector. */
export interface VectorResult {
  pass: boolean
  actual: unknown
  expected: unknown
}

/** Structural equality of JSON-like values (key order ignored; undefined fields ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]))
  const ao = a as Record<string, unknown>
  const bo = b as Record<string, unknown>
  const ka = Object.keys(ao).filter((k) => ao[k] !== undefined)
  const kb = Object.keys(bo).filter((k) => bo[k] !== undefined)
  return ka.length === kb.length && ka.every((k) => jsonEqual(ao[k], bo[k]))
}

/** Compiles the vector's ruleset and evaluates its flag; compares value, variation and reason. */
export function runVector(v: Vector): VectorResult {
  const c = compile(v.ruleset)
  const d = evaluateDetail(c, v.flag, v.context, v.default)
  const actual = { value: d.value, variation: d.variation, reason: { ...d.reason } }
  return { pass: jsonEqual(actual, v.expected), actual, expected: v.expected }
}

/** Checks one pinned hash vector. */
export function runHashVector(v: HashVector): VectorResult {
  const actual = { hash: hashSalted(v.salt, v.value), bucket: bucket(v.salt, v.value) }
  const expected = { hash: v.hash, bucket: v.bucket }
  return { pass: jsonEqual(actual, expected), actual, expected }
}
