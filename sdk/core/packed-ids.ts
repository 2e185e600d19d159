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
 * an id falls outside it), one pass packing and hashing every id and copying
 * it straight into a region of its partition (the top 8 hash bits; the hashes
 * kept, 4 bytes per id while building), then each partition, a few tens of KB,
 * scattered into its buckets, where a duplicate meets its twin and is dropped.
 * Should a region overflow (many duplicates of one id), the ids are packed in
 * input order and scattered by partition first. Measured on 1,000,000 ids:
 * one random scatter instead costs more than these two steps (cache misses).
 * Ids come from strings or, for the stream's and the cache's JSON, from spans
 * of the JSON text (sdk/core/member-lists.ts), so a million ids need not
 * become a million strings first.
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

/** The last packed query (or the UTF-8 bytes of a non-ASCII id being built); only grows. Safe as module state: all of this is synchronous. */
let Q = new Uint16Array(64)
/** Hash of the units the last pack wrote. */
let H = 0
/** UTF-8 bytes of a non-ASCII id. */
let utf8Buf = new Uint8Array(256)

/** Q has room for an id of `len` bytes (3 header units and at most 8 bits per byte). */
function roomQ(len: number): void {
  if (Q.length < len + 4) Q = new Uint16Array(len * 2 + 8)
}

/** Units of a record of `len` bytes at `bits` per byte (header included). */
function unitsOf(len: number, bits: number): number {
  return len < LONG ? (8 + len * bits + 15) >>> 4 : 3 + Math.ceil((len * bits) / 16)
}

/** The hash of the record out[o0, o) (its units, pairs as one block); the long header counts as one block. */
function hashUnits(out: Uint16Array, o0: number, o: number): number {
  let h = 0
  let i = o0
  if ((out[o0]! & LONG) === LONG) {
    h = mixBlock(mixBlock(0, LONG), out[o0 + 1]! + out[o0 + 2]! * 65536)
    i = o0 + 3
  }
  for (; i + 1 < o; i += 2) h = mixBlock(h, out[i]! | (out[i + 1]! << 16))
  if (i < o) h = mixBlock(h, out[i]!)
  // Signed: a small integer, where an unsigned value above 2^31 would be a heap number each time H is set.
  return mixTailFinal(h, 0, 0, o - o0) | 0
}

/**
 * Packs the chars src[from, to) into out[o0, ...) (16-bit units) and sets H;
 * returns the number of units, NOT_IN_ALPHABET, or NOT_ASCII (the caller then
 * packs the UTF-8 bytes). `chars` maps every UTF-16 unit to its symbol, or to
 * OUT (an ASCII char no id holds) or WIDE (not ASCII): one table read and no
 * branch per char, the verdict read once from the OR of all reads. `out` must
 * have room for unitsOf(to - from) units from o0 (garbage may be written there
 * when the verdict is negative).
 */
function packChars(
  src: string,
  from: number,
  to: number,
  chars: Uint16Array,
  bits: number,
  out: Uint16Array,
  o0: number,
): number {
  const len = to - from
  let acc = len
  let nb = 8
  let o = o0
  if (len >= LONG) {
    out[o0] = LONG
    out[o0 + 1] = len & 0xffff
    out[o0 + 2] = len >>> 16
    acc = 0
    nb = 0
    o = o0 + 3
  }
  let flags = 0
  const b2 = bits * 2
  let j = from
  // Two chars at a time (at most 16 bits, so acc never holds more than 32); OUT and WIDE bits spill into
  // `v`, but flags rejects those ids anyway.
  for (const end2 = from + (len & ~1); j < end2; j += 2) {
    const s0 = chars[src.charCodeAt(j)]!
    const s1 = chars[src.charCodeAt(j + 1)]!
    flags |= s0 | s1
    acc |= (s0 | (s1 << bits)) << nb
    nb += b2
    if (nb >= 16) {
      out[o++] = acc
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
      out[o++] = acc
      acc >>>= 16
      nb -= 16
    }
  }
  if (flags > 0xff) return flags & WIDE ? NOT_ASCII : NOT_IN_ALPHABET
  if (nb > 0) out[o++] = acc
  H = hashUnits(out, o0, o)
  return o - o0
}

/** `packChars` for UTF-8 bytes buf[0, len), into Q (never NOT_ASCII). */
function packBytes(buf: Uint8Array, len: number, codes: Uint8Array, bits: number): number {
  const q = Q
  let acc = len
  let nb = 8
  let o = 0
  if (len >= LONG) {
    q[0] = LONG
    q[1] = len & 0xffff
    q[2] = len >>> 16
    acc = 0
    nb = 0
    o = 3
  }
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
  if (nb > 0) q[o++] = acc
  H = hashUnits(q, 0, o)
  return o
}

/** UTF-8 of `s` into utf8Buf; returns its length. */
function encode(s: string): number {
  if (utf8Buf.length < s.length * 3) utf8Buf = new Uint8Array(s.length * 6)
  return encodeUtf8Into(s, utf8Buf, 0)
}

/** Packs the query src[from, to) (any chars), as its UTF-8 bytes, into Q. */
function packSpan(src: string, from: number, to: number, chars: Uint16Array, codes: Uint8Array, bits: number): number {
  roomQ(to - from)
  const o = packChars(src, from, to, chars, bits, Q, 0)
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

/**
 * The units the records of `src` will take: from a sample of the strings
 * (reading every string's length first cost a pass over a million heap
 * objects, 30–70 ms, measured): exactly when the sampled ids all take the same
 * units, as fixed-length ids do, else with a quarter to spare (pages never
 * written take no memory). Spans are counted exactly. `maxU`: the most units
 * of one sampled record or span; `meanSq`: the mean of their squares.
 */
function estimateUnits(src: IdSource, bits: number): { size: number; maxU: number; meanSq: number } {
  const { ids, spans, spanCount } = src
  const nIds = ids.length
  const step = Math.max(1, Math.floor(nIds / 4096))
  let sampled = 0
  let squares = 0
  let minU = Number.MAX_SAFE_INTEGER
  let maxU = 0
  for (let i = 0; i < nIds; i += step) {
    const u = unitsOf((ids[i] as string).length, bits)
    sampled += u
    squares += u * u
    if (u < minU) minU = u
    if (u > maxU) maxU = u
  }
  const nSampled = Math.ceil(nIds / step)
  let size = nIds === 0 ? 0 : minU === maxU ? minU * nIds : Math.ceil((sampled / nSampled) * nIds * 1.25)
  let spanSquares = 0
  for (let i = 0; i < spanCount; i++) {
    const u = unitsOf(spans[2 * i + 1]! - spans[2 * i]!, bits)
    size += u
    spanSquares += u * u
    if (u > maxU) maxU = u
  }
  const meanSq = Math.max(nIds > 0 ? squares / nSampled : 0, spanCount > 0 ? spanSquares / spanCount : 0)
  return { size, maxU, meanSq }
}

/**
 * Every id of a source packed, in source order: records in temp[0, used), the
 * hash of the i-th in hashes[i], and units[p + 1] and records[p + 1] the units
 * and the number of the records of partition p (the top bits of their hash,
 * see the constructor).
 */
interface Packed {
  temp: Uint16Array
  used: number
  hashes: Int32Array
  units: Uint32Array
  records: Uint32Array
}

/** Packs every id of `src` once, straight into one buffer; null when one holds a byte outside `alpha`. */
function packAll(src: IdSource, alpha: Alphabet, pshift: number, parts: number): Packed | null {
  const { ids, text, spans, spanCount } = src
  const { chars, codes, bits } = alpha
  const nIds = ids.length
  const n = nIds + spanCount
  // Signed, as hashUnits returns them: read from a Uint32Array, a hash above 2^31 is no small integer, and
  // the scatters' optimised code was thrown away for it ("lost precision", --trace-deopt), several times.
  const hashes = new Int32Array(n)
  const counts = new Uint32Array(parts + 1)
  const records = new Uint32Array(parts + 1)
  const size = estimateUnits(src, bits).size
  let temp: Uint16Array = new Uint16Array(Math.max(64, size))
  let at = 0
  for (let i = 0; i < n; i++) {
    let s: string
    let from: number
    let to: number
    if (i < nIds) {
      s = ids[i] as string
      from = 0
      to = s.length
    } else {
      s = text
      from = spans[2 * (i - nIds)]!
      to = spans[2 * (i - nIds) + 1]!
    }
    let need = unitsOf(to - from, bits)
    if (at + need > temp.length) temp = grow(temp, at + need)
    let o = packChars(s, from, to, chars, bits, temp, at)
    if (o === NOT_ASCII) {
      // Its UTF-8 bytes, packed in Q and copied.
      const len = encode(from === 0 && to === s.length ? s : s.slice(from, to))
      roomQ(len)
      o = packBytes(utf8Buf, len, codes, bits)
      need = o
      if (at + need > temp.length) temp = grow(temp, at + need)
      if (o > 0) temp.set(Q.subarray(0, o), at)
    }
    if (o < 0) return null
    at += o
    const h = H
    hashes[i] = h
    const p = (h >>> pshift) + 1
    counts[p]! += o
    records[p]!++
  }
  return { temp, used: at, hashes, units: counts, records }
}

/**
 * Records grouped by partition (the top P bits of their hash), as build step
 * 3 reads them: partition p's nR[p] records at part[srcU[p], ...), their
 * hashes at partHashes[srcR[p], ...), to go to data[dstU[p], ...); `used`
 * units in all.
 */
interface Parted {
  part: Uint16Array
  partHashes: Int32Array
  srcU: Uint32Array
  srcR: Uint32Array
  nR: Uint32Array
  dstU: Uint32Array
  used: number
}

/** `packParted` results besides a Parted. */
const OVERFLOW = 1

/** Room in each partition's region, in standard deviations of its records (tests set 0 to walk the overflow path). */
export const packedLimits = { regionSlack: 6 }

/**
 * Build steps 1 and 2 in one pass: every id packed (into Q, a few cache lines)
 * and copied straight into a region of its partition, each region sized for
 * the mean plus 6 standard deviations of a partition's records (a uniform
 * hash spreads any distinct ids so; pages never written take no memory).
 * Saves a pass over every record and 16 MB of buffer per 1,000,000 ids.
 * OVERFLOW when a region is full (many duplicates, or lengths the sample did
 * not foresee: the caller then packs in order and scatters), NOT_IN_ALPHABET
 * when an id holds a byte outside `alpha`.
 */
function packParted(src: IdSource, alpha: Alphabet, P: number): Parted | number {
  const { ids, text, spans, spanCount } = src
  const { chars, codes, bits } = alpha
  const nIds = ids.length
  const n = nIds + spanCount
  const parts = 1 << P
  const pshift = 32 - P
  const { size, maxU, meanSq } = estimateUnits(src, bits)
  const mean = n / parts
  const room = packedLimits.regionSlack
  const capR = Math.ceil(mean + room * (Math.sqrt(mean) + 1))
  // A partition's units vary by about sqrt(records × mean square of a record's units): room for that,
  // and for one more of the longest record. Not room * maxU per record: one long id among short ones would
  // then reserve (if never touch) a region of long ones.
  const capU = Math.ceil(size / parts + room * (Math.sqrt(mean * meanSq) + maxU))
  const part = new Uint16Array(capU * parts)
  const partHashes = new Int32Array(capR * parts)
  const usedU = new Uint32Array(parts)
  const nR = new Uint32Array(parts)
  // Reading id i is written out here as in packAll: one helper for both (its span in module state) made
  // this build 5–25 % slower (bootstrap of 1M ids, pinned, 8 alternating pairs).
  for (let i = 0; i < n; i++) {
    let s: string
    let from: number
    let to: number
    if (i < nIds) {
      s = ids[i] as string
      from = 0
      to = s.length
    } else {
      s = text
      from = spans[2 * (i - nIds)]!
      to = spans[2 * (i - nIds) + 1]!
    }
    roomQ(to - from)
    let o = packChars(s, from, to, chars, bits, Q, 0)
    if (o === NOT_ASCII) {
      const len = encode(from === 0 && to === s.length ? s : s.slice(from, to))
      roomQ(len)
      o = packBytes(utf8Buf, len, codes, bits)
    }
    if (o < 0) return NOT_IN_ALPHABET
    const h = H
    const p = h >>> pshift
    const u = usedU[p]!
    const r = nR[p]!
    if (u + o > capU || r === capR) return OVERFLOW
    const q = Q
    const at = p * capU + u
    for (let x = 0; x < o; x++) part[at + x] = q[x]!
    usedU[p] = u + o
    partHashes[p * capR + r] = h
    nR[p] = r + 1
  }
  const srcU = new Uint32Array(parts)
  const srcR = new Uint32Array(parts)
  const dstU = new Uint32Array(parts)
  let used = 0
  for (let p = 0; p < parts; p++) {
    srcU[p] = p * capU
    srcR[p] = p * capR
    dstU[p] = used
    used += usedU[p]!
  }
  return { part, partHashes, srcU, srcR, nR, dstU, used }
}

/** A copy of `a` with room for at least `min` units. */
function grow(a: Uint16Array, min: number): Uint16Array {
  const grown = new Uint16Array(Math.max(min, Math.ceil(a.length * 1.5)))
  grown.set(a)
  return grown
}

/** Units of the record at data[pos], its header long (LONG). */
function longUnits(data: Uint16Array, pos: number, bits: number): number {
  return 3 + Math.ceil(((data[pos + 1]! + data[pos + 2]! * 65536) * bits) / 16)
}

/**
 * Build step 2 when step 1 packed in input order: the records of
 * temp[0, used) (hashes[i] the i-th's hash) copied by partition, partition p's
 * to part[srcU[p], ...) and their hashes to partHashes[srcR[p], ...); they go
 * back to the same place in temp (dstU = srcU).
 */
function byPartition(packed: Packed, pshift: number, shortWords: Uint8Array, bits: number): Parted {
  const { temp, used, hashes, units, records } = packed
  const n = hashes.length
  const parts = units.length - 1
  const srcU = new Uint32Array(parts)
  const srcR = new Uint32Array(parts)
  const nR = records.slice(1)
  for (let p = 1; p < parts; p++) {
    srcU[p] = srcU[p - 1]! + units[p]!
    srcR[p] = srcR[p - 1]! + records[p]!
  }
  const part = new Uint16Array(used)
  const partHashes = new Int32Array(n)
  const pu = srcU.slice()
  const pc = srcR.slice()
  for (let i = 0, at = 0; i < n; i++) {
    const hdr = temp[at]! & LONG
    const w = hdr < LONG ? shortWords[hdr]! : longUnits(temp, at, bits)
    const h = hashes[i]!
    const p = h >>> pshift
    const to = pu[p]!
    for (let x = 0; x < w; x++) part[to + x] = temp[at + x]!
    pu[p] = to + w
    partHashes[pc[p]!++] = h
    at += w
  }
  return { part, partHashes, srcU, srcR, nR, dstU: srcU, used }
}

/**
 * Build step 3: each partition's records into its 2^(k - P) buckets (consecutive,
 * in data[dstU[p], ...)), setting starts[b] and ends[b] (where bucket b's
 * records end; the next bucket starts later when duplicates were dropped).
 * Returns the number of duplicates dropped.
 */
function intoBuckets(
  parted: Parted,
  k: number,
  P: number,
  shortWords: Uint8Array,
  bits: number,
  data: Uint16Array,
  starts: Uint32Array,
  ends: Uint32Array,
): number {
  const { part, partHashes, srcU, srcR, nR, dstU } = parted
  const parts = 1 << P
  const shift = 32 - k
  const fine = 1 << (k - P)
  const cnt = new Uint32Array(fine + 1)
  let dups = 0
  // Every loop lives in the two small functions, called once per partition: V8 optimises each as a whole
  // after a few calls. Loops in this function (or nested in its loop) were compiled on the stack (OSR) with
  // the callees inlined, deoptimised on leaving each and compiled again, costing 10-30 ms each
  // (--trace-opt, --trace-deopt).
  for (let p = 0; p < parts; p++) {
    const first = p << (k - P)
    const hFrom = srcR[p]!
    const hTo = hFrom + nR[p]!
    const from = srcU[p]!
    const dest = dstU[p]!
    countBuckets(part, partHashes, hFrom, hTo, from, dest, shift, fine, shortWords, bits, cnt, starts, ends, first)
    dups += scatterBuckets(
      part,
      partHashes,
      hFrom,
      hTo,
      from,
      dest,
      shift,
      fine,
      shortWords,
      bits,
      cnt,
      data,
      starts,
      ends,
      first,
    )
  }
  return dups
}

/**
 * Counts a partition's units per bucket: cnt[j] and starts[first + j] are
 * then where bucket j begins (in units from the partition's start `from`, and
 * in `data`), and ends[first + j] too (the bucket still empty).
 */
function countBuckets(
  part: Uint16Array,
  partHashes: Int32Array,
  hFrom: number,
  hTo: number,
  from: number,
  dest: number,
  shift: number,
  fine: number,
  shortWords: Uint8Array,
  bits: number,
  cnt: Uint32Array,
  starts: Uint32Array,
  ends: Uint32Array,
  first: number,
): void {
  const fmask = fine - 1
  cnt.fill(0)
  for (let i = hFrom, at = from; i < hTo; i++) {
    const hdr = part[at]! & LONG
    const w = hdr < LONG ? shortWords[hdr]! : longUnits(part, at, bits)
    cnt[((partHashes[i]! >>> shift) & fmask) + 1]! += w
    at += w
  }
  for (let j = 0; j < fine; j++) {
    cnt[j + 1]! += cnt[j]!
    const at = dest + cnt[j]!
    starts[first + j] = at
    ends[first + j] = at
  }
}

/**
 * Copies a partition's records into their buckets (cnt[j]: the next free unit
 * of bucket j), moving ends[first + j] along; returns the duplicates dropped.
 * One loop and nothing after it: a loop after the hot one was reached by
 * that loop's on-stack-compiled code without type feedback, and deoptimised
 * it on every call (~40 times a build, --trace-deopt).
 */
function scatterBuckets(
  part: Uint16Array,
  partHashes: Int32Array,
  hFrom: number,
  hTo: number,
  from: number,
  dest: number,
  shift: number,
  fine: number,
  shortWords: Uint8Array,
  bits: number,
  cnt: Uint32Array,
  data: Uint16Array,
  starts: Uint32Array,
  ends: Uint32Array,
  first: number,
): number {
  const fmask = fine - 1
  let dups = 0
  // Duplicates are dropped on the way: they share a bucket, whose records so far sit just
  // before where the next one goes.
  for (let i = hFrom, at = from; i < hTo; i++) {
    const x = part[at]!
    const hdr = x & LONG
    const w = hdr < LONG ? shortWords[hdr]! : longUnits(part, at, bits)
    const local = (partHashes[i]! >>> shift) & fmask
    const to = dest + cnt[local]!
    let q = starts[first + local]!
    while (q < to) {
      const y = data[q]!
      if (y === x && sameAt(data, q, part, at, w)) break
      const yh = y & LONG
      q += yh < LONG ? shortWords[yh]! : longUnits(data, q, bits)
    }
    if (q < to) dups++
    else {
      for (let u = 0; u < w; u++) data[to + u] = part[at + u]!
      cnt[local] = cnt[local]! + w
      ends[first + local] = to + w
    }
    at += w
  }
  return dups
}

/** Closes the gaps duplicates left at the end of their buckets; returns the units left. */
function closeGaps(data: Uint16Array, starts: Uint32Array, ends: Uint32Array): number {
  const buckets = ends.length
  let out = 0
  for (let b = 0; b < buckets; b++) {
    const from = starts[b]!
    const to = ends[b]!
    starts[b] = out
    if (out !== from) data.copyWithin(out, from, to)
    out += to - from
  }
  starts[buckets] = out
  return out
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
    // About 3 records per bucket: one or two cache lines per lookup, 1.3 bytes of starts per id.
    const k = Math.min(26, Math.max(1, Math.floor(Math.log2(Math.max(2, n / 3)))))
    const buckets = 1 << k
    const shift = 32 - k
    // Into bucket order in two cache-friendly steps instead of one random scatter: by the top P bits into
    // 2^P partitions (2^P write streams), then each partition (tens of KB) into its buckets, which are
    // consecutive.
    const P = Math.min(8, k)
    const parts = 1 << P
    // The alphabet of a sample first: ids of one list nearly always share it. Should an id hold a
    // byte outside it, packing stops and starts again with the alphabet of all ids.
    let alpha = alphabet(src, Math.max(1, Math.floor(n / 4096)))
    let parted = packParted(src, alpha, P)
    if (parted === NOT_IN_ALPHABET) {
      alpha = alphabet(src, 1)
      parted = packParted(src, alpha, P)
    }
    // A partition's region overflowed: pack in input order instead, then scatter by partition (temp then
    // takes the records in bucket order, trimmed when it was sized with room to spare). The overflow may
    // have come before an id outside the sample's alphabet.
    let packed: Packed | null = null
    if (typeof parted === 'number') {
      packed = packAll(src, alpha, 32 - P, parts)
      if (packed === null) {
        alpha = alphabet(src, 1)
        packed = packAll(src, alpha, 32 - P, parts) as Packed
      }
    }
    const { codes, chars, bytes, bits, shortWords } = alpha
    this.codes = codes
    this.chars = chars
    this.bytes = bytes
    this.bits = bits
    this.shortWords = shortWords
    this.shift = shift
    // Each step is a function of its own: a build runs each loop once, from cold, and V8 compiles a small
    // function's hot loop in a few ms where it took 20–45 ms for each loop of one large constructor (measured).
    const grouped = packed !== null ? byPartition(packed, 32 - P, shortWords, bits) : (parted as Parted)
    const data = packed !== null ? packed.temp : new Uint16Array(grouped.used)
    const used = grouped.used
    const starts = new Uint32Array(buckets + 1)
    const ends = new Uint32Array(buckets)
    const dups = intoBuckets(grouped, k, P, shortWords, bits, data, starts, ends)
    starts[buckets] = used
    const out = dups > 0 ? closeGaps(data, starts, ends) : used
    this.starts = starts
    this.data = out === data.length ? data : data.slice(0, out)
    this.size = n - dups
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

/** True when a[i, i + n) and b[j, j + n) hold the same units, their first ones being equal. */
function sameAt(a: Uint16Array, i: number, b: Uint16Array, j: number, n: number): boolean {
  for (let k = 1; k < n; k++) if (a[i + k] !== b[j + k]) return false
  return true
}
