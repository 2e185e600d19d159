/**
 * The exact set of string ids of a segment list, in the representation its
 * size calls for, chosen invisibly:
 *
 * - up to SMALL_MAX ids, a plain `Set` (the fastest lookups; ~70 bytes per id);
 * - above, a {@link PackedIds} (ids packed below their raw size: 1,000,000
 *   random 18-character ids in ~16 MB, where a `Set` retains ~66 MB). Deletes
 *   mark its records dead in place; ids added since it was built wait in a
 *   small `Set`. When that reaches 1/16 of the base (at least SMALL_MAX ids),
 *   or dead records outnumber live ones, the packed form is rebuilt, so a
 *   delta costs amortised O(1) per id and the `Set` never holds more than a
 *   few MB.
 *
 * Ids compare by their UTF-8 bytes: a lone surrogate is U+FFFD, as the
 * packed form (and UTF-8 on the wire) makes of it, whichever representation
 * holds the set.
 */
import { PackedIds } from './packed-ids.js'

/**
 * Largest list kept as a plain `Set` (a bigger one is converted when it
 * passes twice this). Measured (test/bench/id-set.bench.ts, 18-character
 * ids): a `Set` answers 2–4× faster than the packed form up to ~65,000 ids and
 * is overtaken (cache misses) by ~250,000, but costs ~100 bytes per id
 * against ~16: the cut is where its memory starts to count, 16,384 ids ≈ 1.6 MB.
 */
export const SMALL_MAX = 16_384

/** The cut in use: SMALL_MAX, lowered by tests to walk both representations with small data. */
export const idSetLimits = { smallMax: SMALL_MAX }

interface WellFormed {
  isWellFormed(): boolean
  toWellFormed(): string
}

/** `s` with lone surrogates replaced by U+FFFD (what UTF-8 encoding does); usually `s` itself. */
function wellFormed(s: string): string {
  return (s as unknown as WellFormed).isWellFormed() ? s : (s as unknown as WellFormed).toWellFormed()
}

function setHas(set: Set<string>, id: string): boolean {
  return set.has(id) || (!(id as unknown as WellFormed).isWellFormed() && set.has(wellFormed(id)))
}

/** Exact string set; see the module comment. */
export class IdSet {
  /** Small sets: the ids (well-formed). Null while packed. */
  private small: Set<string> | null = null
  private base: PackedIds | null = null
  /** Packed mode: ids added since the base was built (none in the base). */
  private added = new Set<string>()
  private n = 0

  /** Builds a set from a list of ids (duplicates are fine). */
  constructor(ids: readonly string[] = []) {
    if (ids.length <= idSetLimits.smallMax) {
      const s = new Set<string>()
      for (let i = 0; i < ids.length; i++) s.add(wellFormed(ids[i] as string))
      this.small = s
      this.n = s.size
    } else {
      this.base = new PackedIds(ids)
      this.n = this.base.size
    }
  }

  /** A set holding the ids of `base` (built elsewhere, e.g. straight from JSON text: member-lists.ts). */
  static ofPacked(base: PackedIds): IdSet {
    const s = new IdSet()
    s.small = null
    s.base = base
    s.n = base.size
    return s
  }

  /** Number of ids in the set. */
  get size(): number {
    return this.n
  }

  /** Bytes held, approximately (for memory reports): ~70 per id in a `Set`. */
  get byteLength(): number {
    return this.small ? this.small.size * 70 : (this.base as PackedIds).byteLength + this.added.size * 70
  }

  /** Which representation holds the ids now (for memory reports and tests). */
  get representation(): 'set' | 'packed' {
    return this.small ? 'set' : 'packed'
  }

  /** True when `id` is in the set. */
  has(id: string): boolean {
    const s = this.small
    if (s !== null) return s.size > 0 && setHas(s, id)
    return (this.base as PackedIds).has(id) || (this.added.size > 0 && setHas(this.added, id))
  }

  /** Adds `id`; returns false when it was already present. */
  add(id: string): boolean {
    const k = wellFormed(id)
    const s = this.small
    if (s !== null) {
      if (s.has(k)) return false
      s.add(k)
      if (++this.n > idSetLimits.smallMax * 2) this.rebuild()
      return true
    }
    const base = this.base as PackedIds
    if (this.added.has(k) || base.has(k)) return false
    this.added.add(k)
    this.n++
    if (this.added.size > Math.max(idSetLimits.smallMax, base.size >> 4)) this.rebuild()
    return true
  }

  /** Removes `id`; returns false when it was absent. */
  delete(id: string): boolean {
    const k = wellFormed(id)
    const s = this.small
    if (s !== null) {
      if (!s.delete(k)) return false
      this.n--
      return true
    }
    const base = this.base as PackedIds
    if (!this.added.delete(k)) {
      if (!base.delete(k)) return false
      if (base.dead > base.size && base.dead > idSetLimits.smallMax) this.rebuild()
    }
    this.n--
    return true
  }

  /** Calls `fn` for every id (allocates strings; for tests and exports). */
  forEach(fn: (id: string) => void): void {
    if (this.small) {
      for (const id of this.small) fn(id)
      return
    }
    ;(this.base as PackedIds).forEach(fn)
    for (const id of this.added) fn(id)
  }

  /** Re-chooses the representation for the current members (O(size), amortised over the changes that led here). */
  private rebuild(): void {
    const ids: string[] = []
    this.forEach((id) => {
      ids.push(id)
    })
    this.added = new Set()
    if (ids.length <= idSetLimits.smallMax) {
      this.small = new Set(ids)
      this.base = null
    } else {
      this.small = null
      this.base = new PackedIds(ids)
    }
  }
}
