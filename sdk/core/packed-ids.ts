/**
 * An immutable, exact set of ids packed below their own size: the large
 * segments' representation (see id-set.ts for when it is used).
 *
 * Every id's UTF-8 bytes are written with only as many bits per byte as the
 * set's alphabet needs (the distinct byte values of all its ids: [0-9a-z] is
 * 36 symbols, so 6 bits instead of 8). A record is a run of 16-bit units: a
 * header byte (the byte length, or LONG and the length in the next two
 * units), then the packed bits, zero-padded to a whole unit. Records are
 * grouped by the top bits of a hash of their units into about n / 3 buckets
 * of consecutive units; one Uint32 per bucket says where it starts. Nothing
 * else is stored per id. 1,000,000 random 18-character [0-9a-z] ids take
 * 16 MB of records (8 + 18 × 6 bits = 8 units each) plus 1 MB of bucket
 * starts, against 18 MB of raw bytes.
 *
 * A lookup packs the query the same way into a scratch buffer (one table read
 * per char, no branch; a byte outside the alphabet is an immediate miss),
 * hashes its units, then compares whole units with the ~4 records of its
 * bucket: the first unit (header and first bits) almost always settles a
 * miss. Answers are exact. Lone surrogates are encoded as U+FFFD, as UTF-8
 * encoding does.
 *
 * Built without any per-id object: the alphabet of a sample (every id's when
 * an id falls outside it), one pass packing and hashing every id into a
 * buffer in input order, two cache-friendly scatters into bucket order (by
 * the top 8 hash bits, then within each part), and a pass over each bucket
 * that drops duplicates. Ids come from strings or, for the stream's and the
 * cache's JSON, from spans of the JSON text (sdk/core/member-lists.ts), so a
 * million ids need not become a million strings first.
 */
import { encodeUtf8Into, mixBlock, mixTailFinal } from './hash.js'

/** Header byte: DEAD (deleted) | the id's byte length (< LONG), or LONG and then the length in the next two units. */
const DEAD = 0x80
const LONG = 0x7f
/** `pack` results besides a unit count. */
const NOT_IN_ALPHABET = -1
const NOT_ASCII = -2
/** `chars` entries besides symbols: an ASCII char in no id, a char that is not ASCII. */
const OUT = 0x100
const WIDE = 0x200

/** The last packed id (a query, or an id being built); only grows. Safe as module state: all of this is synchronous. */
let Q = new Uint16Array(64)
/** Hash of the units the last pack wrote into Q. */
let H = 0
/** UTF-8 bytes of a non-ASCII id. */
let utf8Buf = new Uint8Array(256)

/** Q has room for an id of `len` bytes (3 header units and at most 8 bits per byte). */
function roomQ(len: number): void {
  if (Q.length < len + 4) Q = new Uint16Array(len * 2 + 8)
}

/** Starts a record of `len` bytes in Q: returns [acc, nb, o, h] through the module's scratch (see packChars). */
const S = { acc: 0, nb: 0, o: 0, h: 0 }
function head(len: number): void {
  if (len < LONG) {
    S.acc = len
    S.nb = 8
    S.o = 0
    S.h = 0
  } else {
    Q[0] = LONG
    Q[1] = len & 0xffff
    Q[2] = len >>> 16
    S.acc = 0
    S.nb = 0
    S.o = 3
    S.h = mixBlock(mixBlock(0, LONG), len)
  }
}

/** The hash `tail` gave the record of `units` units at data[pos] (see head and tail). */
function recordHash(data: Uint16Array, pos: number, units: number): number {
  let h = 0
  let i = pos
  if ((data[pos]! & LONG) === LONG) {
    h = mixBlock(mixBlock(0, LONG), data[pos + 1]! + data[pos + 2]! * 65536)
    i = pos + 3
  }
  const end = pos + units
  for (; i + 1 < end; i += 2) h = mixBlock(h, data[i]! | (data[i + 1]! << 16))
  if (i < end) h = mixBlock(h, data[i]!)
  return mixTailFinal(h, 0, 0, units)
}

/** Ends a record: flushes the last bits, hashes the units (pairs as one block), sets H; returns the unit count. */
function tail(acc: number, nb: number, o: number, h: number): number {
  const q = Q
  if (nb > 0) q[o++] = acc
  let i = S.o
  for (; i + 1 < o; i += 2) h = mixBlock(h, q[i]! | (q[i + 1]! << 16))
  if (i < o) h = mixBlock(h, q[i]!)
  H = mixTailFinal(h, 0, 0, o)
  return o
}

/**
 * Packs the chars src[from, to) into Q (16-bit units) and sets H; returns the
 * number of units, NOT_IN_ALPHABET, or NOT_ASCII (the caller then packs the
 * UTF-8 bytes). `chars` maps every UTF-16 unit to its symbol, or to OUT (an
 * ASCII char no id holds) or WIDE (not ASCII): one table read and no branch
 * per char, the verdict read once from the OR of all reads. Q must have room
 * for to - from bytes.
 */
function packChars(src: string, from: number, to: number, chars: Uint16Array, bits: number): number {
  head(to - from)
  const q = Q
  let acc = S.acc
  let nb = S.nb
  let o = S.o
  let flags = 0
  const b2 = bits * 2
  let j = from
  // Two chars at a time (at most 16 bits, so acc never holds more than 32); OUT and WIDE bits spill into
  // `v`, but flags rejects those ids anyway.
  for (const end2 = from + ((to - from) & ~1); j < end2; j += 2) {
    const s0 = chars[src.charCodeAt(j)]!
    const s1 = chars[src.charCodeAt(j + 1)]!
    flags |= s0 | s1
    acc |= (s0 | (s1 << bits)) << nb
    nb += b2
    if (nb >= 16) {
      q[o++] = acc
      acc >>>= 16
      nb -= 16
    }
  }
  if (j < to) {
    const s0 = chars[src.charCodeAt(j)]!
    flags |= s0
    acc |= s0 << nb
    nb += bits
    if (nb >= 16) {
      q[o++] = acc
      acc >>>= 16
      nb -= 16
    }
  }
  if (flags > 0xff) return flags & WIDE ? NOT_ASCII : NOT_IN_ALPHABET
  return tail(acc, nb, o, S.h)
}

/** `packChars` for UTF-8 bytes buf[0, len) (never NOT_ASCII). */
function packBytes(buf: Uint8Array, len: number, codes: Uint8Array, bits: number): number {
  head(len)
  const q = Q
  let acc = S.acc
  let nb = S.nb
  let o = S.o
  for (let j = 0; j < len; j++) {
    const s = codes[buf[j]!]!
    if (s === 0) return NOT_IN_ALPHABET
    acc |= (s - 1) << nb
    nb += bits
    if (nb >= 16) {
      q[o++] = acc
      acc >>>= 16
      nb -= 16
    }
  }
  return tail(acc, nb, o, S.h)
}

/** UTF-8 of `s` into utf8Buf; returns its length. */
function encode(s: string): number {
  if (utf8Buf.length < s.length * 3) utf8Buf = new Uint8Array(s.length * 6)
  return encodeUtf8Into(s, utf8Buf, 0)
}

/** Packs src[from, to) (any chars), as its UTF-8 bytes. */
function packSpan(src: string, from: number, to: number, chars: Uint16Array, codes: Uint8Array, bits: number): number {
  roomQ(to - from)
  const o = packChars(src, from, to, chars, bits)
  if (o !== NOT_ASCII) return o
  const len = encode(from === 0 && to === src.length ? src : src.slice(from, to))
  roomQ(len)
  return packBytes(utf8Buf, len, codes, bits)
}

/** Marks in `seen` the UTF-8 byte values of src[from, to). */
function markBytes(src: string, from: number, to: number, seen: Uint8Array): void {
  for (let j = from; j < to; j++) {
    const c = src.charCodeAt(j)
    if (c > 0x7f) {
      const len = encode(src.slice(from, to))
      for (let k = 0; k < len; k++) seen[utf8Buf[k]!] = 1
      return
    }
    seen[c] = 1
  }
}

/** Where the ids of a build come from: strings, and/or [from, to) char spans of one text (flattened pairs). */
export interface IdSource {
  readonly ids: readonly string[]
  readonly text: string
  readonly spans: Uint32Array
  /** Number of spans (pairs) used in `spans`. */
  readonly spanCount: number
}

const NO_SPANS = new Uint32Array(0)

/** The symbols of a set: every byte value its ids hold, and what packing needs to know of them. */
interface Alphabet {
  codes: Uint8Array
  chars: Uint16Array
  bytes: Uint8Array
  bits: number
  shortWords: Uint8Array
}

/** The alphabet of every `step`-th id of `src`. */
function alphabet(src: IdSource, step: number): Alphabet {
  const seen = new Uint8Array(256)
  const { ids, text, spans, spanCount } = src
  for (let i = 0; i < ids.length; i += step) {
    const id = ids[i] as string
    markBytes(id, 0, id.length, seen)
  }
  for (let i = 0; i < spanCount; i += step) markBytes(text, spans[2 * i]!, spans[2 * i + 1]!, seen)
  const codes = new Uint8Array(256)
  const list: number[] = []
  for (let b = 0; b < 256; b++) if (seen[b]) codes[b] = list.push(b)
  const table = new Uint16Array(65536).fill(WIDE)
  for (let c = 0; c < 0x80; c++) table[c] = codes[c]! === 0 ? OUT : codes[c]! - 1
  const bits = Math.max(1, Math.ceil(Math.log2(Math.max(2, list.length))))
  const shortWords = new Uint8Array(LONG)
  for (let l = 0; l < LONG; l++) shortWords[l] = (8 + l * bits + 15) >>> 4
  return { codes, chars: table, bytes: Uint8Array.from(list), bits, shortWords }
}

/** Every id of a source packed, in source order: records in temp[0, used), the hash of the i-th in hashes[i]. */
interface Packed {
  temp: Uint16Array
  used: number
  hashes: Uint32Array
}

/** Packs every id of `src` once; null when one holds a byte outside `alpha`. */
function packAll(src: IdSource, alpha: Alphabet): Packed | null {
  const { ids, text, spans, spanCount } = src
  const { chars, codes, bits } = alpha
  const n = ids.length + spanCount
  const hashes = new Uint32Array(n)
  // Sized exactly for ASCII ids (char length = byte length), so the buffer never grows (and is never copied) then.
  const short = alpha.shortWords
  let size = 0
  for (let i = 0; i < ids.length; i++) {
    const l = (ids[i] as string).length
    size += l < LONG ? short[l]! : 3 + Math.ceil((l * bits) / 16)
  }
  for (let i = 0; i < spanCount; i++) {
    const l = spans[2 * i + 1]! - spans[2 * i]!
    size += l < LONG ? short[l]! : 3 + Math.ceil((l * bits) / 16)
  }
  let temp = new Uint16Array(Math.max(64, size))
  let at = 0
  for (let i = 0; i < n; i++) {
    const o =
      i < ids.length
        ? packSpan(ids[i] as string, 0, (ids[i] as string).length, chars, codes, bits)
        : packSpan(text, spans[2 * (i - ids.length)]!, spans[2 * (i - ids.length) + 1]!, chars, codes, bits)
    if (o < 0) return null
    if (at + o > temp.length) {
      const grown = new Uint16Array(Math.max(at + o, Math.ceil(temp.length * 1.5)))
      grown.set(temp)
      temp = grown
    }
    const q = Q
    for (let w = 0; w < o; w++) temp[at + w] = q[w]!
    at += o
    hashes[i] = H
  }
  return { temp, used: at, hashes }
}

/** A packed id set, built once; `delete` marks records dead in place. See the module comment. */
export class PackedIds {
  /** Live ids. */
  size = 0
  /** Deleted ids whose units are still in `data`. */
  dead = 0
  /** Byte value → symbol + 1 (0: the byte occurs in no id, so no id with it is a member). */
  private readonly codes: Uint8Array
  /** UTF-16 unit → symbol, OUT or WIDE (see packChars). */
  private readonly chars: Uint16Array
  /** Symbol → byte value. */
  private readonly bytes: Uint8Array
  private readonly bits: number
  private readonly shift: number
  /** Units of a record with a short header, by byte length. */
  private readonly shortWords: Uint8Array
  /** Bucket b's records are data[starts[b], starts[b + 1]). */
  private readonly starts: Uint32Array
  private readonly data: Uint16Array

  /** Builds the set from `ids` (duplicates are fine), or from the ids of `source`. */
  constructor(ids: readonly string[], source?: IdSource) {
    const src: IdSource = source ?? { ids, text: '', spans: NO_SPANS, spanCount: 0 }
    const n = src.ids.length + src.spanCount
    // The alphabet of a sample first: ids of one list nearly always share it. Should an id hold a
    // byte outside it, the packing pass stops and starts again with the alphabet of all ids.
    let alpha = alphabet(src, Math.max(1, Math.floor(n / 4096)))
    let packedIds = packAll(src, alpha)
    if (packedIds === null) {
      alpha = alphabet(src, 1)
      packedIds = packAll(src, alpha) as Packed
    }
    const { temp, used, hashes } = packedIds
    const { codes, chars, bytes, bits, shortWords } = alpha
    this.codes = codes
    this.chars = chars
    this.bytes = bytes
    this.bits = bits
    this.shortWords = shortWords
    // About 3 records per bucket: one or two cache lines per lookup, 1.3 bytes of starts per id.
    const k = Math.min(26, Math.max(1, Math.floor(Math.log2(Math.max(2, n / 3)))))
    const buckets = 1 << k
    const shift = 32 - k
    this.shift = shift
    // Into bucket order in two cache-friendly scatters instead of one random one: by the top P bits into
    // 2^P partitions (2^P write streams), then each partition (tens of KB) into its buckets, which are
    // consecutive and take the same place in the final buffer. `temp` is reused as that buffer.
    const P = Math.min(8, k)
    const parts = 1 << P
    const pshift = 32 - P
    const pUnits = new Uint32Array(parts + 1)
    for (let i = 0, at = 0; i < n; i++) {
      const w = this.words(temp, at)
      const p = hashes[i]! >>> pshift
      pUnits[p + 1]! += w
      at += w
    }
    for (let p = 0; p < parts; p++) pUnits[p + 1]! += pUnits[p]!
    const part = new Uint16Array(used)
    const pu = pUnits.slice(0, parts)
    for (let i = 0, at = 0; i < n; i++) {
      const w = this.words(temp, at)
      const p = hashes[i]! >>> pshift
      const to = pu[p]!
      for (let x = 0; x < w; x++) part[to + x] = temp[at + x]!
      pu[p] = to + w
      at += w
    }
    // From here each record's hash is recomputed from its units (cheaper than 4 bytes per id of peak memory).
    const starts = new Uint32Array(buckets + 1)
    const fine = 1 << (k - P)
    const fmask = fine - 1
    const cnt = new Uint32Array(fine + 1)
    const data = temp
    for (let p = 0; p < parts; p++) {
      cnt.fill(0)
      const from = pUnits[p]!
      const to = pUnits[p + 1]!
      for (let at = from; at < to; ) {
        const w = this.words(part, at)
        cnt[((recordHash(part, at, w) >>> shift) & fmask) + 1]! += w
        at += w
      }
      const first = p << (k - P)
      for (let j = 0; j < fine; j++) {
        cnt[j + 1]! += cnt[j]!
        starts[first + j] = from + cnt[j]!
      }
      for (let at = from; at < to; ) {
        const w = this.words(part, at)
        const local = (recordHash(part, at, w) >>> shift) & fmask
        const dest = from + cnt[local]!
        for (let x = 0; x < w; x++) data[dest + x] = part[at + x]!
        cnt[local] = cnt[local]! + w
        at += w
      }
    }
    starts[buckets] = used
    const total = data.length
    // Duplicates out, bucket by bucket (they share a bucket), moving the rest down.
    let out = 0
    let live = 0
    for (let b = 0; b < buckets; b++) {
      const to = starts[b + 1]!
      let r = starts[b]!
      const first = out
      starts[b] = out
      while (r < to) {
        const rw = this.words(data, r)
        let dup = false
        for (let p = first; p < out && !dup; p += this.words(data, p)) {
          if (data[p] === data[r]) dup = same(data, p, r, rw)
        }
        if (!dup) {
          if (out !== r) for (let w = 0; w < rw; w++) data[out + w] = data[r + w]!
          out += rw
          live++
        }
        r += rw
      }
    }
    starts[buckets] = out
    this.starts = starts
    this.data = out === total ? data : data.slice(0, out)
    this.size = live
  }

  /** The smallest byte value any id holds (256 when there is none). */
  get minByte(): number {
    return this.bytes.length > 0 ? this.bytes[0]! : 256
  }

  /** Bytes held (for memory reports). */
  get byteLength(): number {
    return this.data.byteLength + this.starts.byteLength + 512
  }

  /** Units of the record at data[pos]. */
  private words(data: Uint16Array, pos: number): number {
    const hdr = data[pos]! & LONG
    return hdr < LONG
      ? this.shortWords[hdr]!
      : 3 + Math.ceil(((data[pos + 1]! + data[pos + 2]! * 65536) * this.bits) / 16)
  }

  /** Offset of the live record of `id`, or -1. */
  private find(id: string): number {
    const o = packSpan(id, 0, id.length, this.chars, this.codes, this.bits)
    if (o < 0) return -1
    const q = Q
    const w0 = q[0]!
    const data = this.data
    const starts = this.starts
    const b = H >>> this.shift
    let pos = starts[b]!
    const end = starts[b + 1]!
    while (pos < end) {
      const x = data[pos]!
      // Same first unit: same header (a dead record's never is), so the same number of units.
      if (x === w0) {
        let k = 1
        while (k < o && data[pos + k] === q[k]) k++
        if (k === o) return pos
      }
      const hdr = x & LONG
      pos += hdr < LONG ? this.shortWords[hdr]! : this.words(data, pos)
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
    let buf = new Uint8Array(256)
    let pos = 0
    const end = data.length
    while (pos < end) {
      const x = data[pos]!
      const words = this.words(data, pos)
      if (x & DEAD) {
        pos += words
        continue
      }
      const long = (x & LONG) === LONG
      const l = long ? data[pos + 1]! + data[pos + 2]! * 65536 : x & LONG
      let wi = long ? pos + 3 : pos
      let sh = long ? 0 : 8
      if (buf.length < l) buf = new Uint8Array(l * 2)
      let ascii = true
      for (let j = 0; j < l; j++) {
        let v = data[wi]! >>> sh
        if (sh + bits > 16) v |= data[wi + 1]! << (16 - sh)
        const c = bytes[v & mask]!
        sh += bits
        if (sh >= 16) {
          sh -= 16
          wi++
        }
        if (c > 0x7f) ascii = false
        buf[j] = c
      }
      const s = buf.subarray(0, l)
      fn(ascii && l < 4096 ? String.fromCharCode.apply(null, s as unknown as number[]) : dec.decode(s))
      pos += words
    }
  }
}

function same(data: Uint16Array, a: number, b: number, n: number): boolean {
  for (let k = 0; k < n; k++) if (data[a + k] !== data[b + k]) return false
  return true
}
