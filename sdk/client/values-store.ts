/**
 * Client mode: the server evaluates; the browser holds one context's values of
 * client-side flags. No rule engine here, which keeps the browser bundle small
 * and means no whitelist ever reaches the page.
 */
import type { EvaluationDetail, JsonValue } from '../core/types.js'
// Types only: the browser bundle carries no sdk/core module (test/unit/sdk-bundle-size.test.ts).
import type { ClientFlagValue, SseEventName } from '../core/protocol.js'
import { diffKeys, expectObject, type Store } from './store.js'

function sameType(value: JsonValue, def: JsonValue): boolean {
  if (def === null || def === undefined || typeof value === 'object') return true
  return typeof value === typeof def
}

function sameValue(a: ClientFlagValue, b: ClientFlagValue): boolean {
  return a.variation === b.variation && JSON.stringify(a.value) === JSON.stringify(b.value)
}

function readFlags(data: unknown, what: string): Record<string, ClientFlagValue> {
  const flags = expectObject(expectObject(data, what).flags ?? {}, `${what}.flags`)
  for (const k in flags) {
    const f = expectObject(flags[k], `${what}.flags.${k}`)
    if (!('value' in f)) throw new Error(`${what}.flags.${k}.value is missing`)
  }
  return flags as unknown as Record<string, ClientFlagValue>
}

/** Values of one context, keyed by flag key. */
export class ValuesStore implements Store {
  private flags: Record<string, ClientFlagValue> = {}
  private loaded = false

  get hasData(): boolean {
    return this.loaded
  }

  replace(data: unknown): string[] {
    const next = readFlags(data, 'values')
    const changed = diffKeys(this.flags, next, sameValue)
    this.flags = { ...next }
    this.loaded = true
    return changed
  }

  apply(type: string, data: unknown): string[] {
    if (type !== ('patch' satisfies SseEventName)) return []
    const body = expectObject(data, 'patch')
    const flags = readFlags(body, 'patch')
    const removed = body.removed ?? []
    if (!Array.isArray(removed)) throw new Error('patch.removed must be an array')
    const changed: string[] = []
    for (const k in flags) {
      const prev = this.flags[k]
      const f = flags[k] as ClientFlagValue
      if (!prev || !sameValue(prev, f)) changed.push(k)
      this.flags[k] = f
    }
    for (const k of removed) {
      if (typeof k === 'string' && k in this.flags) {
        delete this.flags[k]
        changed.push(k)
      }
    }
    return changed
  }

  clear(): string[] {
    const keys = Object.keys(this.flags)
    this.flags = {}
    this.loaded = false
    return keys
  }

  snapshot(): unknown {
    return { flags: this.flags }
  }

  detail(key: string, _context: unknown, defaultValue: JsonValue): EvaluationDetail {
    const f = Object.hasOwn(this.flags, key) ? this.flags[key] : undefined
    if (!f) return { value: defaultValue, variation: null, reason: { kind: 'ERROR', errorKind: 'FLAG_NOT_FOUND' } }
    // variation null: the server served "the caller's default" (off without offVariation).
    const variation = f.variation ?? null
    // The engine's rule, approximated without the flag kind: a primitive value must have the default's type.
    if (variation !== null && !sameType(f.value, defaultValue)) {
      return { value: defaultValue, variation: null, reason: { kind: 'ERROR', errorKind: 'TYPE_MISMATCH' } }
    }
    return {
      value: variation === null ? defaultValue : f.value,
      variation,
      reason: f.reason ?? { kind: 'FALLTHROUGH' },
    }
  }

  private last = -1

  value(key: string, context: unknown, defaultValue: JsonValue): JsonValue {
    const d = this.detail(key, context, defaultValue)
    this.last = d.variation ?? -1
    return d.value
  }

  lastVariation(): number {
    return this.last
  }

  all(): Record<string, JsonValue> {
    const out: Record<string, JsonValue> = {}
    for (const k in this.flags) out[k] = (this.flags[k] as ClientFlagValue).value
    return out
  }
}
