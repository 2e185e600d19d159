/**
 * What the memory harnesses (sdk-memory-path.ts, sdk-retained-heap.ts) share: a ruleset whose one flag
 * gates on one big segment, and a measure of what the heap retains. Run with `node --expose-gc`.
 */
import type { Ruleset } from '../../sdk/types.js'
import { booleanFlag } from './ruleset.js'

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
