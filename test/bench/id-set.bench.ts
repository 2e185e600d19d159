// Where a plain Set stops being the better segment list: lookups/s (per CPU second, half hits) and
// retained bytes of a Set and of the packed form (sdk/core/packed-ids.ts) at growing sizes, random
// 18-character [0-9a-z] ids. sdk/core/id-set.ts picks a Set up to SMALL_MAX ids, packed above.
// Run: npm run bench -- id-set
import { PackedIds } from '../../sdk/core/packed-ids.js'
import { SMALL_MAX } from '../../sdk/core/id-set.js'

const gc = (globalThis as { gc?: () => void }).gc!
let s = 12345
// Set bytes: heap growth after GC (strings + table); packed: its byteLength.
const rnd = (): string => {
  let out = ''
  for (let i = 0; i < 18; i++) {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    out += '0123456789abcdefghijklmnopqrstuvwxyz'[(s >>> 0) % 36]
  }
  return out
}
const heap = (): number => {
  gc()
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}
function rate(has: (id: string) => boolean, probes: string[]): number {
  const N = 2_000_000
  const rates: number[] = []
  let hits = 0
  for (let r = 0; r < 5; r++) {
    const c0 = process.cpuUsage()
    for (let i = 0; i < N; i++) if (has(probes[i & 4095]!)) hits++
    rates.push(N / (process.cpuUsage(c0).user / 1e6))
  }
  if (hits !== 5 * N * 0.5) throw new Error(`wrong answers: ${hits}`)
  return rates.sort((a, b) => a - b)[2]!
}
console.log(
  `size        Set: M lookups/CPU s   bytes/id   packed: M lookups/CPU s   bytes/id   (IdSet: Set up to ${SMALL_MAX})`,
)
for (const n of [64, 1024, 4096, 16_384, 65_536, 262_144, 1_000_000]) {
  const ids = Array.from({ length: n }, rnd)
  const probes = Array.from({ length: 4096 }, (_, i) => (i % 2 === 0 ? ids[(i * 7) % n]! : rnd()))
  const copy = () => ids.map((x) => `${x} `.slice(0, -1)) // strings of their own, not the ones probed
  const b0 = heap()
  let set: Set<string> | null = new Set(copy())
  const setBytes = (heap() - b0) / n
  const setRate = rate((id) => set!.has(id), probes)
  set = null
  const packed = new PackedIds(copy())
  const packedBytes = packed.byteLength / n // typed arrays only: exact
  const packedRate = rate((id) => packed.has(id), probes)
  console.log(
    `${String(n).padEnd(10)}  ${(setRate / 1e6).toFixed(1).padStart(12)}            ${setBytes.toFixed(1).padStart(6)}   ${(packedRate / 1e6).toFixed(1).padStart(14)}              ${packedBytes.toFixed(1).padStart(6)}`,
  )
}
