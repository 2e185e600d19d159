/**
 * Node-only helper for a site's backend: signs the context a page hands to
 * the browser SDK, for environments with `requireSignedContext`. Not part of
 * the browser bundle (it needs node:crypto, and the secret must never reach a
 * page).
 *
 * The signature covers the whole context: hex HMAC-SHA256, keyed by the
 * environment's signing secret, of the context's canonical JSON (RFC 8785,
 * JSON Canonicalization Scheme) in UTF-8. docs/streaming.md spells the form
 * out byte for byte; test/vectors/signing.json has vectors for other languages.
 */
import { createHmac } from 'node:crypto'
import type { Context } from './types.js'

/** Matches an unpaired UTF-16 surrogate (with the `u` flag, pairs are one code point and do not match). */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u

/**
 * The canonical JSON of a JSON value (RFC 8785): no whitespace; object members
 * sorted by their names' UTF-16 code units, recursively; arrays in order;
 * numbers and strings exactly as JSON.stringify writes them (ECMAScript
 * number formatting; only `"`, `\` and U+0000–U+001F escaped). Throws a
 * TypeError on what JSON cannot carry faithfully: a non-finite number, an
 * unpaired surrogate, undefined, a function.
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      if (LONE_SURROGATE.test(value)) throw new TypeError('canonicalJson: a string holds an unpaired UTF-16 surrogate')
      return JSON.stringify(value)
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} is not a JSON number`)
      return JSON.stringify(value)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object': {
      if (value === null) return 'null'
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
      // Default sort compares UTF-16 code units, as RFC 8785 requires.
      const names = Object.keys(value).sort()
      const o = value as Record<string, unknown>
      return `{${names.map((n) => `${canonicalJson(n)}:${canonicalJson(o[n])}`).join(',')}}`
    }
    default:
      throw new TypeError(`canonicalJson: a ${typeof value} is not JSON`)
  }
}

/**
 * The `signature` for `context`: hex HMAC-SHA256(secret, UTF-8 of
 * canonicalJson(context)). Sign exactly the object the page passes to
 * `createClient({ context, signature })`; any attribute added or changed
 * afterwards makes the server refuse it (403 BAD_SIGNATURE).
 */
export function signContext(secret: string, context: Context): string {
  return createHmac('sha256', secret).update(canonicalJson(context), 'utf8').digest('hex')
}
