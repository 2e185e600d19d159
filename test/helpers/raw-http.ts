/**
 * Raw HTTP/1.1 over a TCP socket, for what fetch() hides: the exact bytes of
 * a response, pipelined requests, partial bodies, malformed request lines.
 */
import { connect, type Socket } from 'node:net'
import { until } from './wait.js'
import type { Teardown } from './server.js'

export interface RawResponse {
  status: number
  /** Header names lower-cased; repeated headers joined with ", ". */
  headers: Record<string, string>
  body: Buffer
}

export interface RawConnection {
  socket: Socket
  /** Every byte received so far. */
  received(): Buffer
  /** The complete responses received so far, in order. */
  responses(): RawResponse[]
  /** Bytes received after the last complete response. */
  parsedRest(): Buffer
  /** Resolves once the server closed (or reset) the connection. */
  closed: Promise<void>
  isClosed(): boolean
  write(data: string | Buffer): Promise<void>
  /** Waits until `n` complete responses arrived. */
  waitResponses(n: number, timeoutMs?: number): Promise<RawResponse[]>
}

/** Opens a TCP connection to an http:// URL's host and port; destroyed at teardown. */
export async function rawConnect(t: Teardown, url: string): Promise<RawConnection> {
  const u = new URL(url)
  const socket = connect({ host: u.hostname, port: Number(u.port) })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  const chunks: Buffer[] = []
  let closed = false
  socket.on('data', (c: Buffer) => chunks.push(c))
  socket.on('error', () => {})
  const closedP = new Promise<void>((resolve) =>
    socket.once('close', () => {
      closed = true
      resolve()
    }),
  )
  t.teardown(() => socket.destroy())
  const received = () => Buffer.concat(chunks)
  const conn: RawConnection = {
    socket,
    received,
    responses: () => parseResponses(received()).responses,
    parsedRest: () => parseResponses(received()).rest,
    closed: closedP,
    isClosed: () => closed,
    write: (data) =>
      new Promise<void>((resolve, reject) => socket.write(data, (err) => (err ? reject(err) : resolve()))),
    async waitResponses(n, timeoutMs = 10_000) {
      await until(() => conn.responses().length >= n || closed, timeoutMs, `${n} responses`)
      return conn.responses()
    },
  }
  return conn
}

/**
 * Splits a byte stream into HTTP/1.1 responses (Content-Length, chunked, or
 * no body for 1xx/204/304). `rest` is what follows the last complete one.
 */
export function parseResponses(buf: Buffer): { responses: RawResponse[]; rest: Buffer } {
  const responses: RawResponse[] = []
  let at = 0
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', at)
    if (end < 0) break
    const head = buf.subarray(at, end).toString('latin1').split('\r\n')
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')?.[1] ?? NaN)
    const headers: Record<string, string> = {}
    for (const line of head.slice(1)) {
      const i = line.indexOf(':')
      const name = line.slice(0, i).trim().toLowerCase()
      const value = line.slice(i + 1).trim()
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
    }
    let bodyStart = end + 4
    let body: Buffer
    if ((status >= 100 && status < 200) || status === 204 || status === 304) {
      body = Buffer.alloc(0)
    } else if (headers['transfer-encoding']?.includes('chunked')) {
      const parts: Buffer[] = []
      let p = bodyStart
      let done = false
      for (;;) {
        const lineEnd = buf.indexOf('\r\n', p)
        if (lineEnd < 0) break
        const size = parseInt(buf.subarray(p, lineEnd).toString('latin1'), 16)
        if (buf.length < lineEnd + 2 + size + 2) break
        parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size))
        p = lineEnd + 2 + size + 2
        if (size === 0) {
          done = true
          break
        }
      }
      if (!done) break
      body = Buffer.concat(parts)
      bodyStart = p
      responses.push({ status, headers, body })
      at = bodyStart
      continue
    } else {
      const length = Number(headers['content-length'] ?? 0)
      if (buf.length < bodyStart + length) break
      body = buf.subarray(bodyStart, bodyStart + length)
      bodyStart += length
    }
    responses.push({ status, headers, body })
    at = bodyStart
  }
  return { responses, rest: buf.subarray(at) }
}
