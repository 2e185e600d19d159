/**
 * An immutable, exact set of ids packed below their own size: the large
 * segments' representation (see id-set.ts for when it is used).
 *
 * Every id's UTF-8 bytes are written with only as many bits per byte as the
 * set's alphabet needs (the distinct byte values of all its ids: [0-9a-z] is
 * 36 symbols, so 6 bits instead of 8). Records (a length header, then the
 * packed bits) are grouped by the top bits of their MurmurHash3 into about
 * n / 3 buckets of consecutive bytes; one Uint32 per bucket says where it
 * starts. Nothing else is stored per id: no offsets, no slots, no hash.
 * 1,000,000 random 18-character [0-9a-z] ids take 15 MB of records plus 1 MB of
 * bucket starts, against 18 MB of raw bytes.
 *
 * A lookup packs the query the same way (a byte outside the alphabet is an
 * immediate miss), hashes it, and compares it with the ~3 records of its
 * bucket byte for byte: answers are exact. Lone surrogates are encoded as
 * U+FFFD, as UTF-8 encoding does. Built in linear passes: hash every id,
 * counting-sort by bucket, write the buckets front to back.
 */
import { encodeUtf8Into, murmur3Ascii, murmur3Bytes } from './hash.js'

/** Record header: DEAD (deleted) | the id's byte length (< LONG), or LONG and then 4 bytes of length. */
const DEAD = 0x80
const LONG = 0x7f

let scratch: Uint8Array = new Uint8Array(256)
let packed: Uint8Array = new Uint8Array(256)

function room(buf: Uint8Array, size: number): Uint8Array {
  return buf.length >= size ? buf : new Uint8Array(Math.max(size, buf.length * 2))
}

/** A packed id set, built once; `delete` marks records dead in place. See the module comment. */
export class PackedIds {
  /** Live ids. */
  size: number
  /** Deleted ids whose bytes are still in `data`. */
  dead = 0
  /** Byte value → symbol + 1 (0: the byte occurs in no id, so no id with it is a member). */
  private readonly codes: Uint8Array
  /** Symbol → byte value. */
  private readonly bytes: Uint8Array
  private readonly bits: number
  private readonly shift: number
  /** Bucket b's records are data[starts[b], starts[b + 1]). */
  private readonly starts: Uint32Array
  private readonly data: Uint8Array

  /** Builds the set from `ids` (duplicates are fine). */
  constructor(ids: readonly string[]) {
    const n = ids.length
    const hashes = new Uint32Array(n)
    /** Byte length of each id (for ASCII ids, its length). */
    const lens = new Uint32Array(n)
    const seen = new Uint8Array(256)
    for (let i = 0; i < n; i++) {
      const id = ids[i] as string
      let h = murmur3Ascii(id)
      if (h >= 0) {
        for (let j = 0; j < id.length; j++) seen[id.charCodeAt(j)] = 1
        lens[i] = id.length
      } else {
        scratch = room(scratch, id.length * 3)
        const len = encodeUtf8Into(id, scratch, 0)
        h = murmur3Bytes(scratch, len)
        for (let j = 0; j < len; j++) seen[scratch[j]!] = 1
        lens[i] = len
      }
      hashes[i] = h
    }
    const codes = new Uint8Array(256)
    const bytes: number[] = []
    for (let b = 0; b < 256; b++) if (seen[b]) codes[b] = bytes.push(b)
    this.codes = codes
    this.bytes = Uint8Array.from(bytes)
    const bits = Math.max(1, Math.ceil(Math.log2(Math.max(2, bytes.length))))
    this.bits = bits
    // About 3 records per bucket: one or two cache lines per lookup, 1.3 bytes of starts per id.
    const k = Math.min(26, Math.max(1, Math.floor(Math.log2(Math.max(2, n / 3)))))
    const buckets = 1 << k
    const shift = 32 - k
    this.shift = shift
    // Counting sort by bucket.
    const cursor = new Uint32Array(buckets + 1)
    let total = 0
    for (let i = 0; i < n; i++) {
      cursor[(hashes[i]! >>> shift) + 1]!++
      const l = lens[i]!
      total += (l < LONG ? 1 : 5) + ((l * bits + 7) >>> 3)
    }
    for (let b = 0; b < buckets; b++) cursor[b + 1]! += cursor[b]!
    const order = new Uint32Array(n)
    for (let i = 0; i < n; i++) order[cursor[hashes[i]! >>> shift]!++] = i
    // Buckets front to back; cursor[b] is now where bucket b + 1 begins in `order`.
    const data = new Uint8Array(total)
    const starts = new Uint32Array(buckets + 1)
    const recAt = new Uint32Array(n)
    let pos = 0
    let live = 0
    let from = 0
    for (let b = 0; b < buckets; b++) {
      starts[b] = pos
      const to = cursor[b]!
      for (let j = from; j < to; j++) {
        const i = order[j]!
        const at = pos
        pos = this.write(ids[i] as string, lens[i]!, data, at)
        // A duplicate has the same hash, so it is in this bucket: compare with the earlier equal-hash records.
        let dup = false
        for (let p = from; p < j && !dup; p++) {
          const q = order[p]!
          if (hashes[q] !== hashes[i] || recAt[p] === 0xffffffff) continue
          dup = same(data, recAt[p]!, at, pos - at)
        }
        if (dup) {
          recAt[j] = 0xffffffff
          pos = at
        } else {
          recAt[j] = at
          live++
        }
      }
      from = to
    }
    starts[buckets] = pos
    this.starts = starts
    this.data = pos === total ? data : data.slice(0, pos)
    this.size = live
  }

  /** Bytes held (for memory reports). */
  get byteLength(): number {
    return this.data.byteLength + this.starts.byteLength + 512
  }

  /** Writes the record of `id` (`len` UTF-8 bytes) at data[at]; returns its end. */
  private write(id: string, len: number, data: Uint8Array, at: number): number {
    let src: Uint8Array | null = null
    if (len !== id.length) {
      scratch = room(scratch, id.length * 3)
      encodeUtf8Into(id, scratch, 0)
      src = scratch
    }
    let pos = at
    if (len < LONG) data[pos++] = len
    else {
      data[pos] = LONG
      data[pos + 1] = len & 0xff
      data[pos + 2] = (len >>> 8) & 0xff
      data[pos + 3] = (len >>> 16) & 0xff
      data[pos + 4] = len >>> 24
      pos += 5
    }
    const codes = this.codes
    const bits = this.bits
    let acc = 0
    let nb = 0
    for (let j = 0; j < len; j++) {
      acc |= (codes[src === null ? id.charCodeAt(j) : src[j]!]! - 1) << nb
      nb += bits
      if (nb >= 8) {
        data[pos++] = acc & 0xff
        acc >>>= 8
        nb -= 8
      }
    }
    if (nb > 0) data[pos++] = acc
    return pos
  }

  /** Offset of the live record of `id`, or -1. */
  private find(id: string): number {
    const codes = this.codes
    const bits = this.bits
    const n = id.length
    let q = packed
    if (q.length < n + 8) q = packed = new Uint8Array(n * 3 + 8)
    let acc = 0
    let nb = 0
    let o = 0
    let h: number
    let len = n
    let j = 0
    for (; j < n; j++) {
      const c = id.charCodeAt(j)
      if (c > 0x7f) break
      const s = codes[c]!
      if (s === 0) return -1
      acc |= (s - 1) << nb
      nb += bits
      if (nb >= 8) {
        q[o++] = acc & 0xff
        acc >>>= 8
        nb -= 8
      }
    }
    if (j === n) h = murmur3Ascii(id)
    else {
      // Not ASCII: pack its UTF-8 bytes instead.
      scratch = room(scratch, n * 3)
      len = encodeUtf8Into(id, scratch, 0)
      h = murmur3Bytes(scratch, len)
      acc = nb = o = 0
      for (let k = 0; k < len; k++) {
        const s = codes[scratch[k]!]!
        if (s === 0) return -1
        acc |= (s - 1) << nb
        nb += bits
        if (nb >= 8) {
          q[o++] = acc & 0xff
          acc >>>= 8
          nb -= 8
        }
      }
    }
    if (nb > 0) q[o++] = acc
    const b = h >>> this.shift
    const data = this.data
    let pos = this.starts[b]!
    const end = this.starts[b + 1]!
    while (pos < end) {
      let l = data[pos++]!
      const at = pos - 1
      // A dead record's header (>= DEAD) never equals a short length.
      let match = l === len && len < LONG
      if ((l & LONG) === LONG) {
        const ll = (data[pos]! | (data[pos + 1]! << 8) | (data[pos + 2]! << 16) | (data[pos + 3]! << 24)) >>> 0
        match = l === LONG && ll === len
        l = ll
        pos += 4
      } else l &= LONG
      if (match) {
        let k = 0
        while (k < o && data[pos + k] === q[k]) k++
        if (k === o) return at
      }
      pos += (l * bits + 7) >>> 3
    }
    return -1
  }

  /** True when `id` is in the set. */
  has(id: string): boolean {
    return this.find(id) >= 0
  }

  /** Removes `id` (marks its record dead); false when it was not in the set. */
  delete(id: string): boolean {
    const at = this.find(id)
    if (at < 0) return false
    this.data[at]! |= DEAD
    this.size--
    this.dead++
    return true
  }

  /** Calls `fn` for every id (allocates strings; for rebuilds, exports and tests). */
  forEach(fn: (id: string) => void): void {
    const data = this.data
    const bits = this.bits
    const bytes = this.bytes
    const mask = (1 << bits) - 1
    const dec = new TextDecoder()
    let pos = 0
    const end = data.length
    while (pos < end) {
      const head = data[pos++]!
      let l = head & LONG
      if (l === LONG) {
        l = (data[pos]! | (data[pos + 1]! << 8) | (data[pos + 2]! << 16) | (data[pos + 3]! << 24)) >>> 0
        pos += 4
      }
      if (head & DEAD) {
        pos += (l * bits + 7) >>> 3
        continue
      }
      scratch = room(scratch, l)
      let acc = 0
      let nb = 0
      let ascii = true
      for (let j = 0; j < l; j++) {
        while (nb < bits) {
          acc |= data[pos++]! << nb
          nb += 8
        }
        const c = bytes[acc & mask]!
        acc >>>= bits
        nb -= bits
        if (c > 0x7f) ascii = false
        scratch[j] = c
      }
      const s = scratch.subarray(0, l)
      fn(ascii && l < 4096 ? String.fromCharCode.apply(null, s as unknown as number[]) : dec.decode(s))
    }
  }
}

function same(data: Uint8Array, a: number, b: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (data[a + k] !== data[b + k]) return false
  return true
}
