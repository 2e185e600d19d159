/**
 * A compact, exact set of string ids for very large segments.
 *
 * A plain `Set` of 1,000,000 short strings retains about 66 MB (one heap
 * string plus a hash-table entry each). This set keeps every id's UTF-8 bytes
 * in one `Uint8Array` pool (a length byte, or 0xFF + 4-byte length, then the
 * bytes) and an open-addressing table (`Int32Array`, linear probing) whose slots
 * hold `poolOffset + 1`, 0 for empty and -1 for a removed entry (tombstone),
 * plus one fingerprint byte per slot (the low byte of the entry's hash).
 * 1M ids of 12 bytes take about 13 MB of pool, 6.7 MB of slots and 1.7 MB of
 * fingerprints.
 *
 * Lookups hash the query with MurmurHash3, skip slots whose fingerprint
 * differs (so a miss rarely touches the pool, which is what makes misses
 * cheap on a big set) and compare bytes, so answers are exact (no false
 * positives). `add` and `delete` work in place; they are
 * amortised O(1): the pool grows by 1.5x, the table is rebuilt when live +
 * removed entries pass 75 % of the slots, and garbage bytes of removed ids are
 * compacted away when they exceed half of the pool.
 */
import { encodeUtf8Into, murmur3Ascii, murmur3AsciiInto, murmur3Bytes } from './hash.js'

const MAX_LOAD = 0.75
const BUILD_LOAD = 0.6

let probe = new Uint8Array(256)

/** Hash computed by the last `lookup` (for `add`, which stores its fingerprint). */
let lastHash = 0

/** One byte of the hash kept per slot: its low bits (the home slot comes from the high bits). */
function fingerprint(h: number): number {
  return h & 0xff
}

function probeBuffer(size: number): Uint8Array {
  if (probe.length < size) probe = new Uint8Array(Math.max(size, probe.length * 2))
  return probe
}

function capacityFor(n: number): number {
  return Math.max(8, Math.ceil(n / BUILD_LOAD))
}

/** Exact string set stored as UTF-8 bytes in one pool; see the module comment. */
export class IdSet {
  private pool: Uint8Array
  private end = 0
  private slots: Int32Array
  /** Per slot, the low byte of the entry's hash: most non-matching slots are skipped without reading the pool. */
  private fps: Uint8Array
  private live = 0
  private tombstones = 0
  private garbage = 0

  /** Builds a set from a list of ids (duplicates are fine). */
  constructor(ids: readonly string[] = []) {
    let chars = 0
    for (let i = 0; i < ids.length; i++) chars += (ids[i] as string).length
    // Pool sized for ASCII ids plus 1/16 slack for later deltas; grows if needed.
    this.pool = new Uint8Array(Math.max(64, Math.ceil((chars + ids.length) * 1.0625)))
    this.slots = new Int32Array(capacityFor(ids.length))
    this.fps = new Uint8Array(this.slots.length)
    if (ids.length < 4096) for (let i = 0; i < ids.length; i++) this.add(ids[i] as string)
    else this.bulkLoad(ids)
  }

  /**
   * Bulk build, in linear passes over contiguous arrays and without probing:
   * (1) copy every id into the pool and hash it in the same pass (ASCII ids
   * are read straight from their char codes; others are UTF-8 encoded first);
   * (2) sort the (hash, pool offset) pairs by home slot with an LSD radix sort
   * (11-bit digits, so the 2048 write cursors stay in cache);
   * (3) place them in that order: each entry goes to max(home, previous slot
   * + 1), which is where linear probing would have put it, writing the table
   * front to back. Entries pushed past the end wrap around through the
   * ordinary probing insert. Duplicates have equal hashes, hence equal homes:
   * they are found among the entries of the same home slot.
   */
  private bulkLoad(ids: readonly string[]): void {
    const n = ids.length
    let hashes = new Uint32Array(n)
    let offsets = new Int32Array(n)
    for (let i = 0; i < n; i++) {
      const id = ids[i] as string
      const len = id.length
      const start = this.end
      let h = -1
      if (len < 0xff) {
        if (this.pool.length - start < len + 1) this.growPool(len + 1)
        const pool = this.pool
        h = murmur3AsciiInto(id, pool, start + 1)
        if (h >= 0) {
          pool[start] = len
          this.end = start + 1 + len
        }
      }
      if (h < 0) {
        this.appendBytes(id)
        const [off, l] = this.entry(start)
        h = murmur3Bytes(this.pool, l, 0, off)
      }
      offsets[i] = start
      hashes[i] = h
    }
    // (2) LSD radix sort by home slot.
    const slots = this.slots
    const cap = slots.length
    const scale = cap / 4294967296
    const DIGIT = 11
    const RADIX = 1 << DIGIT
    const counts = new Int32Array(RADIX)
    let hashes2 = new Uint32Array(n)
    let offsets2 = new Int32Array(n)
    for (let shift = 0; (cap - 1) >>> shift > 0; shift += DIGIT) {
      counts.fill(0)
      for (let i = 0; i < n; i++) counts[(Math.floor(hashes[i]! * scale) >>> shift) & (RADIX - 1)]!++
      let sum = 0
      for (let d = 0; d < RADIX; d++) {
        const c = counts[d]!
        counts[d] = sum
        sum += c
      }
      for (let i = 0; i < n; i++) {
        const h = hashes[i]!
        const to = counts[(Math.floor(h * scale) >>> shift) & (RADIX - 1)]!++
        hashes2[to] = h
        offsets2[to] = offsets[i]!
      }
      const th = hashes
      hashes = hashes2
      hashes2 = th
      const to = offsets
      offsets = offsets2
      offsets2 = to
    }
    // (3) placement in home-slot order.
    const pool = this.pool
    const fps = this.fps
    const wrapped: number[] = []
    let next = 0
    let run = 0
    let runHome = -1
    for (let o = 0; o < n; o++) {
      const h = hashes[o]!
      const at = offsets[o]!
      const home = Math.floor(h * scale)
      if (home === runHome) {
        let dup = false
        for (let p = run; p < o && !dup; p++) {
          if (hashes[p] !== h) continue
          const [a, la] = this.entry(offsets[p]!)
          const [b, lb] = this.entry(at)
          if (la !== lb) continue
          let j = 0
          while (j < la && pool[a + j] === pool[b + j]) j++
          dup = j === la
        }
        if (dup) {
          const [b, lb] = this.entry(at)
          this.garbage += b - at + lb
          continue
        }
      } else {
        run = o
        runHome = home
      }
      const s = Math.max(home, next)
      if (s >= cap) {
        wrapped.push(o)
        continue
      }
      slots[s] = at + 1
      fps[s] = fingerprint(h)
      next = s + 1
      this.live++
    }
    for (let i = 0; i < wrapped.length; i++) {
      const o = wrapped[i]!
      this.insertSlot(hashes[o]!, offsets[o]! + 1)
      this.live++
    }
  }

  /** Appends `id` with its length header at the end of the pool. */
  private appendBytes(id: string): void {
    const need = 5 + id.length * 3
    if (this.pool.length - this.end < need) this.growPool(need)
    const pool = this.pool
    const start = this.end
    if (id.length * 3 < 0xff) {
      const len = encodeUtf8Into(id, pool, start + 1) - start - 1
      pool[start] = len
      this.end = start + 1 + len
      return
    }
    const len = encodeUtf8Into(id, pool, start + 5) - start - 5
    if (len < 0xff) {
      pool.copyWithin(start + 1, start + 5, start + 5 + len)
      pool[start] = len
      this.end = start + 1 + len
    } else {
      pool[start] = 0xff
      pool[start + 1] = len & 0xff
      pool[start + 2] = (len >>> 8) & 0xff
      pool[start + 3] = (len >>> 16) & 0xff
      pool[start + 4] = (len >>> 24) & 0xff
      this.end = start + 5 + len
    }
  }

  /** Number of ids in the set. */
  get size(): number {
    return this.live
  }

  /** Bytes held by the pool and the table (for memory reports). */
  get byteLength(): number {
    return this.pool.byteLength + this.slots.byteLength + this.fps.byteLength
  }

  private slotOf(h: number): number {
    return Math.floor((h * this.slots.length) / 4294967296)
  }

  /**
   * Probes for bytes buf[at, at + len) with hash `h`: returns the slot index
   * when present, else `-(insertion slot) - 1` (the first tombstone or empty).
   */
  private findBytes(buf: Uint8Array, at: number, len: number, h: number): number {
    const slots = this.slots
    const fps = this.fps
    const fp = fingerprint(h)
    const cap = slots.length
    const pool = this.pool
    let i = this.slotOf(h)
    let free = -1
    for (;;) {
      const s = slots[i]!
      if (s === 0) return -(free < 0 ? i : free) - 1
      if (s > 0) {
        if (fps[i] !== fp) {
          if (++i === cap) i = 0
          continue
        }
        let off = s - 1
        let l = pool[off]!
        off++
        if (l === 0xff) {
          l = pool[off]! | (pool[off + 1]! << 8) | (pool[off + 2]! << 16) | (pool[off + 3]! << 24)
          off += 4
        }
        if (l === len) {
          let j = 0
          while (j < len && pool[off + j] === buf[at + j]) j++
          if (j === len) return i
        }
      } else if (free < 0) free = i
      if (++i === cap) i = 0
    }
  }

  /** `findBytes` for an all-ASCII string, comparing char codes with pool bytes. */
  private findAscii(id: string, h: number): number {
    const slots = this.slots
    const fps = this.fps
    const fp = fingerprint(h)
    const cap = slots.length
    const pool = this.pool
    const len = id.length
    let i = this.slotOf(h)
    let free = -1
    for (;;) {
      const s = slots[i]!
      if (s === 0) return -(free < 0 ? i : free) - 1
      if (s > 0) {
        if (fps[i] !== fp) {
          if (++i === cap) i = 0
          continue
        }
        const off = s - 1
        // Ids of 255+ bytes have a 0xFF header, never equal to an ASCII length < 255.
        if (pool[off] === len) {
          let j = 0
          while (j < len && pool[off + 1 + j] === id.charCodeAt(j)) j++
          if (j === len) return i
        }
      } else if (free < 0) free = i
      if (++i === cap) i = 0
    }
  }

  /** Slot of `id` (>= 0) or `-(insertion slot) - 1`. */
  private lookup(id: string): number {
    if (id.length < 0xff) {
      const h = murmur3Ascii(id)
      if (h >= 0) {
        lastHash = h
        return this.findAscii(id, h)
      }
    }
    const buf = probeBuffer(id.length * 3)
    const len = encodeUtf8Into(id, buf, 0)
    const h = murmur3Bytes(buf, len)
    lastHash = h
    return this.findBytes(buf, 0, len, h)
  }

  /** True when `id` is in the set. */
  has(id: string): boolean {
    return this.lookup(id) >= 0
  }

  /** Adds `id`; returns false when it was already present. */
  add(id: string): boolean {
    const found = this.lookup(id)
    if (found >= 0) return false
    const start = this.end
    this.appendBytes(id)
    const slot = -found - 1
    if (this.slots[slot] === -1) this.tombstones--
    this.slots[slot] = start + 1
    this.fps[slot] = fingerprint(lastHash)
    this.live++
    if (this.live + this.tombstones > this.slots.length * MAX_LOAD) this.rehash(capacityFor(this.live * 1.5))
    return true
  }

  /** Removes `id`; returns false when it was absent. */
  delete(id: string): boolean {
    const i = this.lookup(id)
    if (i < 0) return false
    const [, len] = this.entry(this.slots[i]! - 1)
    this.slots[i] = -1
    this.live--
    this.tombstones++
    this.garbage += len + (len >= 0xff ? 5 : 1)
    if (this.garbage > this.end / 2 && this.garbage > 4096) this.compact()
    else if (this.tombstones > this.slots.length / 4) this.rehash(this.slots.length)
    return true
  }

  /** Calls `fn` for every id (allocates strings; for tests and exports). */
  forEach(fn: (id: string) => void): void {
    const dec = new TextDecoder()
    const slots = this.slots
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i]!
      if (s > 0) {
        const [off, len] = this.entry(s - 1)
        fn(dec.decode(this.pool.subarray(off, off + len)))
      }
    }
  }

  private entry(at: number): [number, number] {
    const pool = this.pool
    const l = pool[at]!
    if (l !== 0xff) return [at + 1, l]
    return [at + 5, pool[at + 1]! | (pool[at + 2]! << 8) | (pool[at + 3]! << 16) | (pool[at + 4]! << 24)]
  }

  private insertSlot(h: number, value: number): void {
    const slots = this.slots
    const cap = slots.length
    let i = this.slotOf(h)
    while (slots[i]! > 0) if (++i === cap) i = 0
    if (slots[i] === -1) this.tombstones--
    slots[i] = value
    this.fps[i] = fingerprint(h)
  }

  private growPool(need: number): void {
    const next = new Uint8Array(Math.max(this.end + need, Math.ceil(this.pool.length * 1.5)))
    next.set(this.pool.subarray(0, this.end))
    this.pool = next
  }

  /** Rebuilds the table (drops tombstones) with `cap` slots. */
  private rehash(cap: number): void {
    const old = this.slots
    this.slots = new Int32Array(cap)
    this.fps = new Uint8Array(cap)
    this.tombstones = 0
    for (let i = 0; i < old.length; i++) {
      const s = old[i]!
      if (s > 0) {
        const [off, len] = this.entry(s - 1)
        this.insertSlot(murmur3Bytes(this.pool, len, 0, off), s)
      }
    }
  }

  /** Copies live ids into a fresh pool and rebuilds the table. */
  private compact(): void {
    const oldPool = this.pool
    const old = this.slots
    const pool = new Uint8Array(Math.max(64, Math.ceil((this.end - this.garbage) * 1.0625)))
    this.slots = new Int32Array(capacityFor(this.live))
    this.fps = new Uint8Array(this.slots.length)
    this.tombstones = 0
    let end = 0
    for (let i = 0; i < old.length; i++) {
      const s = old[i]!
      if (s > 0) {
        const at = s - 1
        const [off, len] = this.entry(at)
        const total = off - at + len
        pool.set(oldPool.subarray(at, at + total), end)
        this.insertSlot(murmur3Bytes(pool, len, 0, off - at + end), end + 1)
        end += total
      }
    }
    this.pool = pool
    this.end = end
    this.garbage = 0
  }
}
