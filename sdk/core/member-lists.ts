/**
 * JSON.parse for ruleset text (a stream `put`, a last-known-good snapshot)
 * that turns large segment member lists into packed sets straight from the
 * text, without making a million strings first (JSON.parse would, and the
 * engine would then pack and drop them).
 *
 * A small structural scanner walks the text to each segment's `included` and
 * `excluded` array (under `segments`, at the root or under `data` for a
 * snapshot). An array of more than SMALL_MAX plain strings is built into an
 * {@link IdSet} from spans of the text and replaced by `[]` in the text that
 * JSON.parse then reads; that empty array stands for the set (see
 * {@link takePrebuilt}), so the parsed ruleset validates and compiles as
 * usual. Strings with escapes are decoded by JSON.parse one by one. Anything
 * the scanner is unsure of (a non-string element, a control character, text
 * it cannot follow) stays in the text for JSON.parse: the result is always
 * what JSON.parse gives, and invalid JSON throws as it does. Duplicate keys
 * resolve as in JSON.parse (the last wins).
 */
import { IdSet, idSetLimits } from './id-set.js'
import { PackedIds } from './packed-ids.js'

/** Empty arrays of a parsed ruleset that stand for member sets built from the text. */
const PREBUILT = new WeakMap<object, IdSet>()

/** The set a member list stands for, when it came from {@link parseRulesText}; else null. */
export function takePrebuilt(list: unknown): IdSet | null {
  if (typeof list !== 'object' || list === null) return null
  const set = PREBUILT.get(list)
  if (set === undefined) return null
  // One compile owns it: a second would share (and mutate) the same set.
  PREBUILT.delete(list)
  return set
}

const QUOTE = 34
const BACKSLASH = 92
const COMMA = 44
const COLON = 58
const OPEN_BRACE = 123
const CLOSE_BRACE = 125
const OPEN_BRACKET = 91
const CLOSE_BRACKET = 93
// biome-ignore lint/suspicious/noControlCharactersInRegex: a raw control character makes a JSON string invalid
const CONTROL = /[\u0000-\u001f]/

/** The scanner lost its way (text it does not follow): JSON.parse reads everything instead. */
class Lost extends Error {}

/** One member list taken out of the text: [start, end) is replaced by `[]`. */
interface Cut {
  start: number
  end: number
  set: IdSet
  /** Where the set goes in the parsed value: segments[seg][list] (under `data` for a snapshot). */
  seg: string
  list: 'included' | 'excluded'
  data: boolean
}

class Scanner {
  i = 0
  cuts: Cut[] = []
  constructor(readonly text: string) {}

  ws(): void {
    const t = this.text
    let c = t.charCodeAt(this.i)
    while (c === 32 || c === 10 || c === 13 || c === 9) c = t.charCodeAt(++this.i)
  }

  /** Index after the string starting at i (a quote); sets `escaped` when it holds a backslash. */
  stringEnd(i: number): number {
    const t = this.text
    let j = i + 1
    for (;;) {
      const q = t.indexOf('"', j)
      if (q < 0) throw new Lost()
      // Escaped when preceded by an odd number of backslashes.
      let k = q - 1
      while (k > i && t.charCodeAt(k) === BACKSLASH) k--
      if ((q - 1 - k) % 2 === 0) return q + 1
      j = q + 1
    }
  }

  key(): string {
    this.ws()
    if (this.text.charCodeAt(this.i) !== QUOTE) throw new Lost()
    const end = this.stringEnd(this.i)
    const raw = this.text.slice(this.i, end)
    this.i = end
    this.ws()
    if (this.text.charCodeAt(this.i) !== COLON) throw new Lost()
    this.i++
    this.ws()
    return raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1)
  }

  /** Skips any value (JSON.parse checks it later). */
  skip(): void {
    const t = this.text
    const c = t.charCodeAt(this.i)
    if (c === QUOTE) {
      this.i = this.stringEnd(this.i)
      return
    }
    if (c !== OPEN_BRACE && c !== OPEN_BRACKET) {
      // A number, true, false or null.
      let j = this.i
      for (;;) {
        const d = t.charCodeAt(j)
        if (d === COMMA || d === CLOSE_BRACE || d === CLOSE_BRACKET || d === 32 || d === 10 || d === 13 || d === 9)
          break
        if (Number.isNaN(d)) break
        j++
      }
      if (j === this.i) throw new Lost()
      this.i = j
      return
    }
    let depth = 0
    let j = this.i
    for (;;) {
      const d = t.charCodeAt(j)
      if (Number.isNaN(d)) throw new Lost()
      if (d === QUOTE) {
        j = this.stringEnd(j)
        continue
      }
      if (d === OPEN_BRACE || d === OPEN_BRACKET) depth++
      else if ((d === CLOSE_BRACE || d === CLOSE_BRACKET) && --depth === 0) {
        this.i = j + 1
        return
      }
      j++
    }
  }

  /** Walks the members of the object at i, calling `member` with each key (positioned at its value). */
  object(member: (key: string) => void): void {
    this.ws()
    if (this.text.charCodeAt(this.i) !== OPEN_BRACE) {
      this.skip()
      return
    }
    this.i++
    this.ws()
    if (this.text.charCodeAt(this.i) === CLOSE_BRACE) {
      this.i++
      return
    }
    for (;;) {
      member(this.key())
      this.ws()
      const c = this.text.charCodeAt(this.i++)
      if (c === CLOSE_BRACE) return
      if (c !== COMMA) throw new Lost()
    }
  }

  /** The ruleset object at i: its segments' large lists become cuts. */
  ruleset(data: boolean): void {
    this.object((k) => {
      if (k !== 'segments') return this.skip()
      // The last "segments" wins, as in JSON.parse.
      this.cuts = this.cuts.filter((c) => c.data !== data)
      this.object((seg) => {
        this.cuts = this.cuts.filter((c) => c.data !== data || c.seg !== seg)
        this.object((list) => {
          if (list !== 'included' && list !== 'excluded') return this.skip()
          this.cuts = this.cuts.filter((c) => c.data !== data || c.seg !== seg || c.list !== list)
          const cut = this.list()
          if (cut) this.cuts.push({ ...cut, seg, list, data })
        })
      })
    })
  }

  /** The array at i: a cut when it is a large array of plain strings, else skipped. */
  list(): { start: number; end: number; set: IdSet } | null {
    const t = this.text
    const start = this.i
    if (t.charCodeAt(start) !== OPEN_BRACKET) {
      this.skip()
      return null
    }
    let spans = new Uint32Array(1024)
    let count = 0
    const decoded: string[] = []
    let j = start + 1
    let backslash = t.indexOf('\\', j)
    if (backslash < 0) backslash = t.length
    for (;;) {
      let c = t.charCodeAt(j)
      while (c === 32 || c === 10 || c === 13 || c === 9) c = t.charCodeAt(++j)
      if (c === CLOSE_BRACKET && count === 0 && decoded.length === 0) break
      if (c !== QUOTE) {
        // Not an array of strings: JSON.parse decides.
        this.skip()
        return null
      }
      let close = t.indexOf('"', j + 1)
      if (close < 0) throw new Lost()
      if (backslash < close) {
        close = this.stringEnd(j) - 1
        decoded.push(JSON.parse(t.slice(j, close + 1)) as string)
        backslash = t.indexOf('\\', close + 1)
        if (backslash < 0) backslash = t.length
      } else {
        if (count * 2 + 2 > spans.length) {
          const grown = new Uint32Array(spans.length * 2)
          grown.set(spans)
          spans = grown
        }
        spans[count * 2] = j + 1
        spans[count * 2 + 1] = close
        count++
      }
      j = close + 1
      c = t.charCodeAt(j)
      while (c === 32 || c === 10 || c === 13 || c === 9) c = t.charCodeAt(++j)
      if (c === COMMA) {
        j++
        continue
      }
      if (c === CLOSE_BRACKET) break
      throw new Lost()
    }
    const end = j + 1
    this.i = end
    const n = count + decoded.length
    // Small lists stay for JSON.parse.
    if (n <= idSetLimits.smallMax) return null
    const packed = new PackedIds([], { ids: decoded, text: t, spans, spanCount: count })
    // A raw control character in a string is invalid JSON, JSON.parse's to reject. Only when some id holds
    // one (escaped ones may) are the raw spans searched.
    if (packed.minByte < 0x20) {
      for (let i = 0; i < count; i++) if (CONTROL.test(t.slice(spans[2 * i]!, spans[2 * i + 1]!))) return null
    }
    return { start, end, set: IdSet.ofPacked(packed) }
  }
}

/**
 * JSON.parse(text), with the large member lists of the ruleset at the root
 * (or, `snapshot`, under `data`) packed straight from the text. Throws as
 * JSON.parse does on invalid JSON.
 */
export function parseRulesText(text: string, snapshot = false): unknown {
  const s = new Scanner(text)
  try {
    if (snapshot)
      s.object((k) => {
        if (k !== 'data') return s.skip()
        // The last "data" wins, as in JSON.parse.
        s.cuts = []
        s.ruleset(true)
      })
    else s.ruleset(false)
  } catch (e) {
    if (!(e instanceof Lost)) throw e
    return JSON.parse(text)
  }
  const cuts = s.cuts.sort((a, b) => a.start - b.start)
  if (cuts.length === 0) return JSON.parse(text)
  const parts: string[] = []
  let at = 0
  for (const c of cuts) {
    parts.push(text.slice(at, c.start), '[]')
    at = c.end
  }
  parts.push(text.slice(at))
  const value = JSON.parse(parts.join('')) as Record<string, unknown>
  for (const c of cuts) {
    const root = (c.data ? value.data : value) as { segments?: Record<string, Record<string, unknown> | null> }
    const list = root.segments?.[c.seg]?.[c.list]
    if (typeof list === 'object' && list !== null) PREBUILT.set(list, c.set)
  }
  return value
}
