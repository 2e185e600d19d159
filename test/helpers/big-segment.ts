/**
 * What the memory harnesses (sdk-memory-path.ts, sdk-retained-heap.ts) share: a ruleset whose one flag
 * gates on one big segment, and a measure of what the heap retains. Run with `node --expose-gc`.
 */
import type { Ruleset } from '../../sdk/types.js'
import { booleanFlag } from './ruleset.js'

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz'

/**
 * xorshift32 over [0-9a-z]: random ids of `length` characters, the same in every process for one seed. Each id is
 * made in one piece (`String.fromCharCode`), a flat string as JSON.parse would give an SDK: appending
 * character by character would leave chains of V8 cons-strings, ~5× the bytes, in any SDK that keeps them
 * (and cost ~250 ms to flatten on first read, for 1,000,000 of them, in whatever reads them first).
 */
export function idGenerator(seed: number, length = 18): () => string {
  let s = seed >>> 0 || 1
  const codes: number[] = new Array(length)
  return () => {
    for (let i = 0; i < length; i++) {
      s ^= s << 13
      s ^= s >>> 17
      s ^= s << 5
      codes[i] = ALPHABET.charCodeAt((s >>> 0) % 36)
    }
    return String.fromCharCode(...codes)
  }
}

/** One flag, `gate`, serving variation 0 to members of the segment `big` (its `included` ids). */
export function bigSegmentRuleset(included: string[]): Ruleset {
  return {
    specVersion: 1,
    environment: 'production',
    flags: {
      gate: booleanFlag('gate', {
        rules: [
          { id: 'r', clauses: [{ attribute: 'key', op: 'inSegment', values: ['big'] }], serve: { variation: 0 } },
        ],
      }),
    },
    segments: { big: { key: 'big', included, excluded: [], rules: [], salt: 'big', version: 1 } },
  }
}

/**
 * Heap + ArrayBuffers after full collections, run after the current job so that WeakRef targets of
 * this job can go too.
 */
export async function settle(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc) throw new Error('run with --expose-gc')
  await new Promise<void>((r) => setImmediate(r))
  gc()
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}
