/**
 * A Server-Sent Events parser that follows the WHATWG "event stream
 * interpretation" rules: LF, CR and CRLF line ends (also split across chunks),
 * a leading BOM, comments, multi-line `data`, `id` persisting across events
 * (an empty `id` resets it, an id containing NUL is ignored), `retry` with
 * digits only, and pending data discarded at the end of the stream.
 *
 * Bytes may be split anywhere, even inside a multibyte UTF-8 character:
 * decoding uses one streaming TextDecoder.
 */

/** One dispatched event. */
export interface SseEvent {
  /** The `event` field; `message` when absent. */
  type: string
  /** The `data` lines joined with LF. */
  data: string
  /** The last event id at dispatch time (it persists across events); '' when none was ever set. */
  id: string
}

/** Callbacks of {@link SseParser}. */
export interface SseHandlers {
  /** A complete event. */
  onEvent(event: SseEvent): void
  /** A valid `retry:` field (milliseconds). */
  onRetry?(ms: number): void
  /** A comment line (`: ping`), without the leading colon. */
  onComment?(text: string): void
}

const LF = 10
const CR = 13

/** Incremental SSE parser. Feed bytes or text; it calls the handlers synchronously. */
export class SseParser {
  private readonly decoder = new TextDecoder('utf-8')
  private readonly handlers: SseHandlers
  /** Pieces of the current, not yet terminated line (joined once, to stay linear on huge lines). */
  private pending: string[] = []
  /** The previous chunk ended with CR: a LF starting the next chunk belongs to it. */
  private afterCR = false
  private started = false
  private dataLines: string[] = []
  private hasData = false
  private eventType = ''
  private lastId = ''

  constructor(handlers: SseHandlers) {
    this.handlers = handlers
  }

  /** The last event id buffer (what `Last-Event-ID` would carry). */
  get lastEventId(): string {
    return this.lastId
  }

  /** Feed raw bytes from the response body. */
  feed(chunk: Uint8Array): void {
    this.feedText(this.decoder.decode(chunk, { stream: true }))
  }

  /** Feed already decoded text. Do not mix with {@link feed} inside one multibyte character. */
  feedText(text: string): void {
    if (text.length === 0) return
    if (!this.started) {
      this.started = true
      // TextDecoder already drops a BOM; text fed directly may still carry one.
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
    }
    let start = 0
    if (this.afterCR && text.charCodeAt(0) === LF) start = 1
    // A native search for line ends, not a loop over every char: a put is one line of megabytes. Most of
    // its chunks hold none, which indexOf tells ~14× faster than the regex.
    const ends = /\r\n?|\n/g
    ends.lastIndex = text.includes('\n') || text.includes('\r') ? start : text.length
    for (let m = ends.exec(text); m; m = ends.exec(text)) {
      this.pending.push(text.slice(start, m.index))
      // A join of one piece is that piece (no copy).
      this.line(this.pending.join(''))
      this.pending = []
      start = ends.lastIndex
    }
    // Every CR ends a line: one ending this chunk may be the first half of a CRLF.
    this.afterCR = text.charCodeAt(text.length - 1) === CR
    if (start < text.length) this.pending.push(text.slice(start))
  }

  /** End of stream: flush the decoder; an unterminated event is discarded, as the spec says. */
  end(): void {
    const rest = this.decoder.decode()
    if (rest) this.feedText(rest)
    this.pending = []
    this.dataLines = []
    this.hasData = false
    this.eventType = ''
  }

  private line(line: string): void {
    if (line.length === 0) {
      this.dispatch()
      return
    }
    const colon = line.indexOf(':')
    if (colon === 0) {
      this.handlers.onComment?.(line.slice(1))
      return
    }
    let field: string
    let value: string
    if (colon < 0) {
      field = line
      value = ''
    } else {
      field = line.slice(0, colon)
      value = line.charCodeAt(colon + 1) === 32 ? line.slice(colon + 2) : line.slice(colon + 1)
    }
    switch (field) {
      case 'event':
        this.eventType = value
        break
      case 'data':
        this.dataLines.push(value)
        this.hasData = true
        break
      case 'id':
        if (!value.includes('\0')) this.lastId = value
        break
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.handlers.onRetry?.(Number(value))
        break
      default:
        // Unknown fields are ignored (spec).
        break
    }
  }

  private dispatch(): void {
    if (!this.hasData) {
      this.eventType = ''
      return
    }
    const event: SseEvent = {
      type: this.eventType || 'message',
      data: this.dataLines.join('\n'),
      id: this.lastId,
    }
    this.dataLines = []
    this.hasData = false
    this.eventType = ''
    this.handlers.onEvent(event)
  }
}
