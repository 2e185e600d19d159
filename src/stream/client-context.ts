import { timingSafeEqual } from 'node:crypto'
import { contextKey } from '../../sdk/core/evaluate.js'
import type { Context, EvaluationDetail, Reason } from '../../sdk/core/types.js'
import { signContext } from '../../sdk/sign.js'
import { deeperThan, MAX_CONTEXT_DEPTH } from '../../sdk/core/validate.js'
import { appError } from '../errors.js'
import type { EnvironmentService } from '../services/environments.js'

/** Largest context accepted (bytes of its JSON). */
export const MAX_CONTEXT_BYTES = 8192
/** Longest context key (as for segment members). */
export const MAX_CONTEXT_KEY = 256

/** Checks a context object (evaluate route and browser routes): 400 INVALID_CONTEXT when unusable. */
export function checkContext(v: unknown, jsonBytes?: number): Context {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw appError('INVALID_CONTEXT', 'it must be a JSON object')
  if (deeperThan(v, MAX_CONTEXT_DEPTH))
    throw appError('INVALID_CONTEXT', `it is nested more than ${MAX_CONTEXT_DEPTH} levels deep`)
  const bytes = jsonBytes ?? Buffer.byteLength(JSON.stringify(v))
  if (bytes > MAX_CONTEXT_BYTES) throw appError('INVALID_CONTEXT', `it is larger than ${MAX_CONTEXT_BYTES} bytes`)
  const key = (v as Context).key
  if (key !== undefined && (typeof key !== 'string' || key.length === 0 || key.length > MAX_CONTEXT_KEY)) {
    throw appError('INVALID_CONTEXT', `"key" must be a string of 1 to ${MAX_CONTEXT_KEY} characters`)
  }
  return v as Context
}

/** Decodes `?context=` (base64url of the context's JSON). */
export function decodeContext(param: string | undefined): Context {
  if (param === undefined || param === '')
    throw appError('INVALID_CONTEXT', 'the "context" query parameter is required')
  // base64url of 8 KB is ~10.9 KB of text; refuse before decoding anything bigger.
  if (param.length > Math.ceil((MAX_CONTEXT_BYTES * 4) / 3) + 4)
    throw appError('INVALID_CONTEXT', `it is larger than ${MAX_CONTEXT_BYTES} bytes`)
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(param)) throw appError('INVALID_CONTEXT', 'it is not base64url')
  const json = Buffer.from(param, 'base64url').toString('utf8')
  let v: unknown
  try {
    v = JSON.parse(json)
  } catch {
    throw appError('INVALID_CONTEXT', 'it is not base64url-encoded JSON')
  }
  return checkContext(v, Buffer.byteLength(json))
}

/**
 * Verifies `?signature=` when given, and requires it when the environment
 * does. The signature covers the whole context (sdk/sign.ts: HMAC-SHA256 of
 * its RFC 8785 canonical JSON), so no attribute can be added or changed, and
 * any of `secrets` may have made it (the current one, and the previous one
 * during a rotation's grace period). Constant-time comparison of the digests.
 */
export function verifySignature(opts: {
  required: boolean
  secrets: readonly string[]
  context: Context
  signature: string | undefined
}): void {
  const { signature, context } = opts
  // Every keyless context would share one signature, the HMAC of its attributes alone: a signed identity needs a key.
  if (opts.required && contextKey(context) === null) throw appError('CONTEXT_KEY_REQUIRED')
  if (signature === undefined || signature === '') {
    if (opts.required) throw appError('SIGNATURE_REQUIRED')
    return
  }
  if (!/^[0-9a-fA-F]{64}$/.test(signature)) throw appError('BAD_SIGNATURE')
  const given = Buffer.from(signature, 'hex')
  let ok = false
  for (const secret of opts.secrets) {
    let expected: Buffer
    try {
      expected = Buffer.from(signContext(secret, context), 'hex')
    } catch (e) {
      throw appError('INVALID_CONTEXT', (e as Error).message)
    }
    // No early exit: the time taken does not tell which secret matched.
    ok = timingSafeEqual(expected, given) || ok
  }
  if (!ok) throw appError('BAD_SIGNATURE')
}

/**
 * Verifies a browser context's signature (required when the environment says so) and returns the context.
 * Unsigned requests (the common case) need no secret: one Redis read fewer.
 */
export async function verifiedClientContext(
  environments: EnvironmentService,
  env: string,
  context: Context,
  signature: string | undefined,
): Promise<Context> {
  const e = await environments.get(env)
  const secrets = signature ? await environments.verifyingSecrets(env) : []
  verifySignature({ required: e.requireSignedContext, secrets, context, signature })
  return context
}

/** A reason as a browser may see it: no rule ids, no prerequisite keys. */
export function clientReason(r: Reason): Reason {
  const out: Reason = { kind: r.kind }
  if (r.inRollout) out.inRollout = true
  if (r.errorKind !== undefined) out.errorKind = r.errorKind
  return out
}

/** The JSON of one value sent to a browser. */
export function clientValueJson(d: EvaluationDetail): string {
  return JSON.stringify({ value: d.value, variation: d.variation, reason: clientReason(d.reason) })
}
