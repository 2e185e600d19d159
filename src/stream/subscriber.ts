/**
 * One stream's I/O: the subscriber records, the writes (shared pre-framed
 * chunks, `put` bodies, pings), backpressure and closing. The only code that
 * sets a record's `closed` and `allowance`; the channel and the browser
 * fan-out own the other fields, each its own.
 */
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { SSE_EVENTS } from '../../sdk/core/protocol.js'
import type { Context } from '../../sdk/core/types.js'
import type { LogEntry } from '../store/changelog.js'
import type { StreamMetrics } from './metrics.js'
import { type Wire, wire } from './sse.js'

export type DropReason = 'slow' | 'revoked' | 'resync' | 'shutdown' | 'deleted'

export interface Sub {
  readonly kind: 'server' | 'client'
  readonly res: ServerResponse
  /** The response's socket: shared pre-framed chunks are written here directly (null: through `res`). */
  readonly sock: Socket | null
  readonly tokenId: string
  closed: boolean
  /** Bytes of a `put` still allowed in the socket buffer on top of the limit (a big ruleset is not a slow client). */
  allowance: number
}

export interface ServerSub extends Sub {
  kind: 'server'
  /** Live entries buffered while the snapshot or replay is being sent; null once live. */
  pending: LogEntry[] | null
  /**
   * Id of the last entry sent by the snapshot/replay, which reads Redis and can
   * be ahead of this instance's reader: live entries up to it are skipped.
   * Null once the reader has passed it.
   */
  sentUpTo: string | null
}

export interface ClientSub extends Sub {
  kind: 'client'
  context: Context
  key: string | null
  /** Last value JSON sent per flag key. */
  values: Map<string, string>
  /** Id of the last event (put, patch or ack) written to this stream. */
  sentId: string
}

/** The response of an opened event stream and its socket (see openEventStream). */
export interface OpenStream {
  res: ServerResponse
  socket: Socket | null
}

/** A rules stream's record, before its snapshot or replay. */
export function serverSub(stream: OpenStream, tokenId: string): ServerSub {
  return {
    kind: 'server',
    res: stream.res,
    sock: stream.socket,
    tokenId,
    closed: false,
    allowance: 0,
    pending: null,
    sentUpTo: null,
  }
}

/** A browser values stream's record, before its first `put`. */
export function clientSub(stream: OpenStream, tokenId: string, context: Context): ClientSub {
  return {
    kind: 'client',
    res: stream.res,
    sock: stream.socket,
    tokenId,
    closed: false,
    allowance: 0,
    context,
    key: typeof context.key === 'string' ? context.key : null,
    values: new Map(),
    sentId: '0-0',
  }
}

/** A ruleset ready to send: the JSON as bytes (encoded once) and its change-log id. */
export interface Put {
  id: string
  body: Buffer
}

export const PING = wire(': ping\n\n')

export interface StreamWriterOptions {
  /** STREAM_MAX_BUFFER_BYTES: unsent bytes above it close the stream. */
  maxBufferBytes: number
  metrics: Pick<StreamMetrics, 'disconnects'>
  /**
   * Called synchronously once a stream is closed by {@link StreamWriter.drop}
   * (its `closed` already set), so its owner forgets it before the drop
   * returns; the response's own 'close' event comes later.
   */
  closed: (s: Sub) => void
}

/** Writes frames to streams and closes them; one per hub, shared by its channels. */
export class StreamWriter {
  private readonly maxBufferBytes: number

  constructor(private readonly o: StreamWriterOptions) {
    this.maxBufferBytes = o.maxBufferBytes
  }

  /**
   * Writes one frame: a shared {@link Wire} goes straight to the socket as
   * its pre-framed chunk (one write of one Buffer, nothing allocated per
   * stream); a string (a browser stream's own values) through the response.
   * Backpressure is O(1): a stream whose unsent bytes exceed
   * STREAM_MAX_BUFFER_BYTES is closed instead (it resumes later with
   * Last-Event-ID), so a client that does not read never grows this
   * process's memory without bound.
   */
  write(s: Sub, frame: Wire | string, isPut = false): boolean {
    if (s.closed) return false
    const sock = s.sock
    if (!isPut && (sock ?? s.res).writableLength > this.maxBufferBytes + s.allowance) {
      this.drop(s, 'slow')
      return false
    }
    let flushed: boolean
    if (typeof frame === 'string') flushed = s.res.write(frame)
    else if (sock !== null) flushed = sock.write(frame.chunk)
    else flushed = s.res.write(frame.frame)
    if (isPut) this.allowPut(s, flushed, typeof frame === 'string' ? frame.length : frame.frame.length)
    return true
  }

  /** Writes a `put` frame (the ruleset bytes are shared, not copied into a string per stream). */
  writePut(s: Sub, put: Put): void {
    if (s.closed) return
    s.res.write(`id: ${put.id}\nevent: ${SSE_EVENTS.put}\ndata: `)
    s.res.write(put.body)
    this.allowPut(s, s.res.write('\n\n'), put.body.length)
  }

  /** A big `put` still in the socket buffer is not a slow client: its bytes are allowed until drained. */
  private allowPut(s: Sub, flushed: boolean, bytes: number): void {
    if (flushed) {
      s.allowance = 0
      return
    }
    s.allowance = bytes
    ;(s.sock ?? s.res).once('drain', () => {
      s.allowance = 0
    })
  }

  /** Closes a stream (a slow one abruptly: its buffer would never drain) and tells its owner. */
  drop(s: Sub, reason: DropReason): void {
    if (s.closed) return
    this.o.metrics.disconnects.inc({ reason })
    s.closed = true
    if (reason === 'slow') s.res.destroy()
    else s.res.end()
    this.o.closed(s)
  }
}
