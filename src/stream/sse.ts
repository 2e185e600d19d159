import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyReply } from 'fastify'

/**
 * An SSE frame ready for the fan-out, encoded once and shared by every
 * stream: the frame's bytes, and the same bytes framed as one HTTP/1.1 chunk
 * (hex size, CRLF, bytes, CRLF).
 */
export interface Wire {
  frame: Buffer
  chunk: Buffer
}

/** Encodes a frame once for every stream. */
export function wire(frame: string | Buffer): Wire {
  const bytes = typeof frame === 'string' ? Buffer.from(frame) : frame
  const chunk = Buffer.allocUnsafe(bytes.length + 32)
  let n = chunk.write(`${bytes.length.toString(16)}\r\n`, 0, 'latin1')
  n += bytes.copy(chunk, n)
  n += chunk.write('\r\n', n, 'latin1')
  return { frame: bytes, chunk: chunk.subarray(0, n) }
}

/**
 * Takes the response over from Fastify and starts an event stream: status,
 * headers (no compression, no proxy buffering), and the reconnect hint.
 *
 * Returns the socket too: the fan-out writes each change's pre-framed chunk
 * ({@link Wire}) straight to it, one write of one shared Buffer per stream,
 * without ServerResponse's per-write chunk framing and cork/nextTick. The
 * response keeps its chunked transfer coding (so `end()` closes the body
 * properly and the connection can be reused). Null when the response has no
 * socket of its own yet (queued behind a pipelined one): then frames go
 * through the response.
 *
 * Headers that hooks already set on the reply (CORS) go out too: a hijacked
 * reply never writes them itself.
 */
export function openEventStream(reply: FastifyReply, retryMs: number): { res: ServerResponse; socket: Socket | null } {
  const hooked: OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) hooked[name] = value
  reply.hijack()
  const res = reply.raw
  const socket = res.socket
  socket?.setNoDelay(true)
  socket?.setKeepAlive(true)
  res.writeHead(200, {
    ...hooked,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
    connection: 'keep-alive',
  })
  // Sends the headers; direct socket writes come after them.
  res.write(`retry: ${retryMs}\n\n`)
  return { res, socket: socket !== null && res.chunkedEncoding ? socket : null }
}
