/**
 * Hashing contract, hashVersion 1 (frozen; see docs/hashing.md).
 *
 *   hash   = MurmurHash3_x86_32(UTF-8(salt + "." + value), seed 0)
 *   bucket = floor(hash * 100000 / 2^32)          (multiply-shift, exact in float64)
 *
 * Strings are encoded to UTF-8 by hand (lone surrogates become U+FFFD, as
 * WHATWG TextEncoder does) into one reusable scratch buffer, so hashing does
 * not allocate. Nothing here imports anything: it runs unchanged in browsers.
 */

/** Version of the hashing contract implemented here. */
export const HASH_VERSION = 1

/** Number of rollout buckets; weights are expressed in the same unit. */
export const BUCKETS = 100_000

const C1 = 0xcc9e2d51
const C2 = 0x1b873593

// Scratch buffer shared by every hash call. Safe because hashing is
// synchronous and never re-entrant; it only grows.
let scratch = new Uint8Array(256)

function ensureScratch(size: number): Uint8Array {
  if (scratch.length < size) {
    let n = scratch.length
    while (n < size) n *= 2
    const next = new Uint8Array(n)
    next.set(scratch)
    scratch = next
  }
  return scratch
}

/**
 * Writes the UTF-8 encoding of `s` into `buf` at `pos`; returns the end
 * position. `buf` must have room for `s.length * 3` bytes from `pos`.
 */
export function encodeUtf8Into(s: string, buf: Uint8Array, pos: number): number {
  const n = s.length
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i)
    if (c < 0x80) {
      buf[pos++] = c
    } else if (c < 0x800) {
      buf[pos++] = 0xc0 | (c >> 6)
      buf[pos++] = 0x80 | (c & 0x3f)
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const d = i + 1 < n ? s.charCodeAt(i + 1) : 0
        if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
          const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)
          i++
          buf[pos++] = 0xf0 | (cp >> 18)
          buf[pos++] = 0x80 | ((cp >> 12) & 0x3f)
          buf[pos++] = 0x80 | ((cp >> 6) & 0x3f)
          buf[pos++] = 0x80 | (cp & 0x3f)
          continue
        }
        c = 0xfffd // lone surrogate
      }
      buf[pos++] = 0xe0 | (c >> 12)
      buf[pos++] = 0x80 | ((c >> 6) & 0x3f)
      buf[pos++] = 0x80 | (c & 0x3f)
    }
  }
  return pos
}

/** UTF-8 bytes of a string (allocates; not for hot paths). */
export function utf8(s: string): Uint8Array {
  const buf = new Uint8Array(s.length * 3)
  return buf.slice(0, encodeUtf8Into(s, buf, 0))
}

/** Runs the MurmurHash3 x86_32 block loop over buf[from, to) (a multiple of 4 long). */
function blocks(h: number, buf: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i += 4) {
    h = mixBlock(h, buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24))
  }
  return h
}

/** Tail bytes and finalisation of MurmurHash3 x86_32; returns an unsigned 32-bit value. */
function finish(h: number, buf: Uint8Array, tailAt: number, tailLen: number, totalLen: number): number {
  let k = 0
  if (tailLen > 0) k = buf[tailAt]!
  if (tailLen > 1) k ^= buf[tailAt + 1]! << 8
  if (tailLen > 2) k ^= buf[tailAt + 2]! << 16
  return mixTailFinal(h, k, tailLen, totalLen)
}

/** MurmurHash3 x86_32 of buf[at, at + len) with the given seed (unsigned result). */
export function murmur3Bytes(buf: Uint8Array, len: number, seed = 0, at = 0): number {
  const full = at + (len & ~3)
  const h = blocks(seed | 0, buf, at, full)
  return finish(h, buf, full, len & 3, len)
}

/**
 * MurmurHash3 x86_32 (seed 0) of an all-ASCII string, read straight from its
 * char codes (ASCII chars are their own UTF-8 bytes). Returns -1 when `s`
 * holds a non-ASCII char; the caller then encodes and uses `murmur3Bytes`.
 */
export function murmur3Ascii(s: string): number {
  const len = s.length
  const full = len & ~3
  let h = 0
  let or = 0
  let i = 0
  for (; i < full; i += 4) {
    const a = s.charCodeAt(i)
    const b = s.charCodeAt(i + 1)
    const c = s.charCodeAt(i + 2)
    const d = s.charCodeAt(i + 3)
    or |= a | b | c | d
    h = mixBlock(h, a | (b << 8) | (c << 16) | (d << 24))
  }
  let k = 0
  for (let sh = 0; i < len; i++, sh += 8) {
    const a = s.charCodeAt(i)
    or |= a
    k |= a << sh
  }
  if (or > 0x7f) return -1
  return mixTailFinal(h, k, len & 3, len)
}

/** MurmurHash3 x86_32 of the UTF-8 bytes of `s`, seed 0 (unsigned result). */
export function murmur3(s: string, seed = 0): number {
  const buf = ensureScratch(s.length * 3)
  return murmur3Bytes(buf, encodeUtf8Into(s, buf, 0), seed)
}

/** Maps an unsigned 32-bit hash to a bucket in [0, 100000) without modulo bias. */
export function hashToBucket(h: number): number {
  // h * 100000 < 2^49, so the product and the division by 2^32 are exact in float64:
  // this equals (h * 100000) >> 32 in 64-bit integer arithmetic.
  return Math.floor((h * BUCKETS) / 4294967296)
}

/** One MurmurHash3 x86_32 block: mixes the 4-byte little-endian word `k` into `h`. */
export function mixBlock(h: number, k: number): number {
  return foldK(h, mixK(k))
}

/** One block word `k` mixed as MurmurHash3 mixes it before folding it into the state (the part that does not depend on the state). */
function mixK(k: number): number {
  k = Math.imul(k, C1)
  k = (k << 15) | (k >>> 17)
  return Math.imul(k, C2)
}

/** A mixed block word (`mixK`) folded into the state `h`. */
function foldK(h: number, k: number): number {
  h ^= k
  h = (h << 13) | (h >>> 19)
  return (Math.imul(h, 5) + 0xe6546b64) | 0
}

/** MurmurHash3 x86_32 tail (1–3 bytes packed little-endian in `k`) and finalisation. */
export function mixTailFinal(h: number, k: number, tailLen: number, totalLen: number): number {
  if (tailLen > 0) h ^= mixK(k)
  h ^= totalLen
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * Writes the all-ASCII string `s` (its char codes are its UTF-8 bytes) into
 * buf[pos, pos + s.length) and returns its MurmurHash3 x86_32 (seed 0), in one
 * pass. Returns -1 when `s` holds a non-ASCII char (the bytes written are then
 * garbage: the caller encodes properly). `buf` needs room for s.length bytes.
 */
export function murmur3AsciiInto(s: string, buf: Uint8Array, pos: number): number {
  const len = s.length
  const full = len & ~3
  let h = 0
  let or = 0
  let i = 0
  for (; i < full; i += 4) {
    const a = s.charCodeAt(i)
    const b = s.charCodeAt(i + 1)
    const c = s.charCodeAt(i + 2)
    const d = s.charCodeAt(i + 3)
    or |= a | b | c | d
    buf[pos + i] = a
    buf[pos + i + 1] = b
    buf[pos + i + 2] = c
    buf[pos + i + 3] = d
    h = mixBlock(h, a | (b << 8) | (c << 16) | (d << 24))
  }
  let k = 0
  for (let sh = 0; i < len; i++, sh += 8) {
    const a = s.charCodeAt(i)
    or |= a
    buf[pos + i] = a
    k |= a << sh
  }
  if (or > 0x7f) return -1
  return mixTailFinal(h, k, len & 3, len)
}

/**
 * Pre-hashed `salt + "."` prefix: the complete 4-byte blocks of the prefix are
 * folded into the hash state once, so each call hashes only the value. The
 * 0–3 leftover prefix bytes are kept packed in one word; an all-ASCII value is
 * then hashed straight from its char codes in one pass (no buffer, no copy).
 */
export class SaltHasher {
  /** The salt this hasher was made for. */
  readonly salt: string
  private readonly state: number
  private readonly tail: Uint8Array
  /** The tail bytes packed little-endian. */
  private readonly tailWord: number
  /** Bit offset after the tail bytes (0, 8, 16 or 24). */
  private readonly tailShift: number
  private readonly headLen: number

  constructor(salt: string) {
    this.salt = salt
    const bytes = utf8(`${salt}.`)
    const full = bytes.length & ~3
    this.state = blocks(0, bytes, 0, full)
    this.headLen = full
    this.tail = bytes.slice(full)
    let w = 0
    for (let i = 0; i < this.tail.length; i++) w |= this.tail[i]! << (i * 8)
    this.tailWord = w
    this.tailShift = this.tail.length * 8
  }

  /** MurmurHash3 x86_32 of UTF-8(salt + "." + value). */
  hash(value: string): number {
    const len = value.length
    let h = this.state
    let k = this.tailWord
    let shift = this.tailShift
    let or = 0
    let i = 0
    if (shift !== 0) {
      // Complete the block the prefix started.
      while (shift < 32 && i < len) {
        const a = value.charCodeAt(i++)
        or |= a
        k |= a << shift
        shift += 8
      }
      if (shift === 32) {
        h = mixBlock(h, k)
        k = 0
        shift = 0
      }
    }
    if (shift === 0) {
      const full = i + ((len - i) & ~3)
      for (; i < full; i += 4) {
        const a = value.charCodeAt(i)
        const b = value.charCodeAt(i + 1)
        const c = value.charCodeAt(i + 2)
        const d = value.charCodeAt(i + 3)
        or |= a | b | c | d
        h = mixBlock(h, a | (b << 8) | (c << 16) | (d << 24))
      }
      for (; i < len; i++, shift += 8) {
        const a = value.charCodeAt(i)
        or |= a
        k |= a << shift
      }
    }
    if (or > 0x7f) return this.hashUtf8(value)
    return mixTailFinal(h, k, shift >>> 3, this.headLen + this.tailShift / 8 + len)
  }

  /** `hash` for any string: encodes the value to UTF-8 after the prefix tail in the scratch buffer. */
  private hashUtf8(value: string): number {
    const t = this.tail.length
    const buf = ensureScratch(t + value.length * 3)
    for (let i = 0; i < t; i++) buf[i] = this.tail[i]!
    const end = encodeUtf8Into(value, buf, t)
    const full = end & ~3
    const h = blocks(this.state, buf, 0, full)
    return finish(h, buf, full, end & 3, this.headLen + end)
  }

  /** Bucket in [0, 100000) of `value` under this salt. */
  bucket(value: string): number {
    return hashToBucket(this.hash(value))
  }

  /**
   * `bucket(p.value)`, from the blocks `p` mixed once for every salt: only the block the prefix
   * tail shares with the value and the per-salt part of each block are left to do. `p` must hold
   * a value (`p.value !== null`).
   */
  bucketPrepared(p: PreparedValue): number {
    const t = this.tailShift >>> 3
    if ((p.ready & (1 << t)) === 0) p.align(t)
    const total = this.headLen + t + p.len
    const head = this.tailWord | p.head[t]!
    const n = p.blocks[t]!
    if (n === 0) return hashToBucket(mixTailFinal(this.state, head, t + p.len, total))
    let h = mixBlock(this.state, head)
    const ks = p.mixed
    for (let j = t * p.stride + 1, end = t * p.stride + n; j < end; j++) h = foldK(h, ks[j]!)
    return hashToBucket(mixTailFinal(h ^ p.tailMixed[t]!, 0, 0, total))
  }
}

/** Longest value `PreparedValue` prepares; longer ones are hashed per salt. */
const PREPARED_MAX = 256

/**
 * One all-ASCII value prepared to be hashed under many salts (`SaltHasher.bucketPrepared`): every
 * flag of an `evaluateAllValues` that buckets by the context key hashes salt + "." + the same key.
 * A salt's prefix leaves t = 0–3 bytes before the value in its first block, so for each t the value's
 * chars are read and its later blocks mixed here once, instead of once per flag.
 */
export class PreparedValue {
  /** The value prepared, or null (none, not ASCII, or longer than PREPARED_MAX). */
  value: string | null = null
  len = 0
  /** Blocks per alignment in `mixed` (PREPARED_MAX / 4 + 1). */
  readonly stride = (PREPARED_MAX >>> 2) + 1
  /** Per t: the value's first 4 - t bytes (or fewer), packed and shifted past the t prefix bytes. */
  readonly head = new Int32Array(4)
  /** Per t: complete blocks of t prefix bytes + the value (0: all of it is the tail). */
  readonly blocks = new Int32Array(4)
  /** Per t, from index t * stride + 1: the mixed words of the blocks after the first. */
  readonly mixed = new Int32Array(4 * ((PREPARED_MAX >>> 2) + 1))
  /** Per t: the mixed tail word (0 without tail bytes, which leaves the state as it is). */
  readonly tailMixed = new Int32Array(4)

  /** Bit t set: alignment t is filled in (`align`) for `value`. */
  ready = 0

  /**
   * Prepares `value`; `this.value` is then `value`, or null when it cannot be prepared. Each alignment
   * is filled in by the first `bucketPrepared` that needs it: a flags map's salts use one or two of the
   * four (the salts "flag-1" … "flag-99" leave 3 or 0 prefix bytes), so the others cost nothing.
   */
  prepare(value: string | null): void {
    this.value = null
    this.ready = 0
    if (value === null) return
    const len = value.length
    if (len > PREPARED_MAX) return
    let or = 0
    for (let i = 0; i < len; i++) or |= value.charCodeAt(i)
    if (or <= 0x7f) {
      this.value = value
      this.len = len
    }
  }

  /** Fills in alignment t (0–3 prefix bytes before the value in its first block) for `value`, which is all ASCII. */
  align(t: number): void {
    const value = this.value as string
    const len = this.len
    // The stream is t prefix bytes, then the value: block 0 takes its first 4 - t chars.
    const first = Math.min(4 - t, len)
    let w = 0
    for (let i = 0; i < first; i++) w |= value.charCodeAt(i) << (8 * (t + i))
    this.head[t] = w
    const n = (t + len) >>> 2
    this.blocks[t] = n
    let i = 4 - t
    const base = t * this.stride
    for (let j = 1; j < n; j++, i += 4) {
      const a = value.charCodeAt(i)
      const b = value.charCodeAt(i + 1)
      const c = value.charCodeAt(i + 2)
      const d = value.charCodeAt(i + 3)
      this.mixed[base + j] = mixK(a | (b << 8) | (c << 16) | (d << 24))
    }
    let k = 0
    if (n > 0) for (let sh = 0; i < len; i++, sh += 8) k |= value.charCodeAt(i) << sh
    this.tailMixed[t] = n > 0 && (t + len) & 3 ? mixK(k) : 0
    this.ready |= 1 << t
  }
}

/** MurmurHash3 x86_32 of UTF-8(salt + "." + value): the hashVersion 1 hash. */
export function hashSalted(salt: string, value: string): number {
  return murmur3(`${salt}.${value}`)
}

/** Rollout bucket in [0, 100000) of `value` under `salt`, hashVersion 1. */
export function bucket(salt: string, value: string): number {
  return hashToBucket(hashSalted(salt, value))
}
