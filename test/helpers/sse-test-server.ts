/**
 * A transport-level stand-in for the Switchyard SDK endpoints, on a real
 * node:http server (port 0): SSE streams with ids, replay from Last-Event-ID,
 * `put` when the id is unknown, ETag polling, metrics, scripted failures and
 * drops. It speaks the protocol of docs/streaming.md; it does not evaluate rules (client
 * mode values are whatever the test sets).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { once } from 'node:events'
import type { ClientEventName, ClientEvents, SwitchyardClient } from '../../sdk/types.js'

/** One recorded request. */
export interface RecordedRequest {
  method: string
  path: string
  query: URLSearchParams
  headers: IncomingMessage['headers']
}

/** An open SSE response. */
export interface StreamConnection {
  request: RecordedRequest
  /** Last-Event-ID the client sent, or null. */
  lastEventId: string | null
  /** Write one event. */
  send(event: string, data: unknown, id?: string): void
  /** Write a raw string (for chunking tests). */
  raw(text: string): void
  /** Comment / heartbeat line. */
  comment(text?: string): void
  /** Close the response gracefully (end of stream). */
  end(): void
  /** Cut the TCP connection. */
  destroy(): void
  /** Resolves when the connection closes (either side). */
  closed: Promise<void>
  isOpen(): boolean
}

/** A scripted failure for the next requests to a route. */
export interface Failure {
  status: number
  code?: string
  message?: string
  headers?: Record<string, string>
}

interface LogEntry {
  id: string
  event: string
  data: unknown
}

type Route = 'stream' | 'poll' | 'metrics'

/** The test server. Every field is mutable by tests. */
export class SseTestServer {
  readonly server = createServer((req, res) => this.handle(req, res))
  url = ''
  /** The current document: a Ruleset (server mode) or `{flags}` (client mode). */
  document: object
  /** Change log: id and event of every publish since the last `reset`. */
  log: LogEntry[] = []
  /** Id of the current state (what put / ETag carry). */
  currentId: string
  /** Ids at and before this (exclusive of newer) are "trimmed": a resume from them gets a put. */
  trimmedBefore = 0
  /** The retry hint sent first on each stream. */
  retryMs = 1000
  /** Failures served (and consumed, one per request) per route, before normal answers. */
  failures: Record<Route, Failure[]> = { stream: [], poll: [], metrics: [] }
  /** Fail every request of a route with this (not consumed). */
  alwaysFail: Partial<Record<Route, Failure>> = {}
  /** When set, a new stream is held open in silence (no retry line, no put): a dead proxy. */
  silentStreams = false
  /** Send the put/replay automatically on connect (tests of raw scripting turn this off). */
  autoStart = true
  /** The expected bearer token (401 otherwise). */
  token: string
  readonly requests: RecordedRequest[] = []
  readonly metrics: Record<string, unknown>[] = []
  readonly connections: StreamConnection[] = []
  private seq = 0
  private waiters: (() => void)[] = []

  constructor(opts: { token?: string; document: object }) {
    this.token = opts.token ?? 'test-token'
    this.document = opts.document
    this.currentId = this.nextId()
  }

  /** Start on 127.0.0.1, port 0. */
  async listen(): Promise<this> {
    this.server.listen(0, '127.0.0.1')
    await once(this.server, 'listening')
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
    return this
  }

  /** Close every stream and the server. */
  async close(): Promise<void> {
    for (const c of this.connections) c.destroy()
    this.server.closeAllConnections()
    await new Promise<void>((r) => this.server.close(() => r()))
  }

  /** Open stream connections. */
  open(): StreamConnection[] {
    return this.connections.filter((c) => c.isOpen())
  }

  /**
   * Record a change: update the document, append to the log with a new id,
   * and write it to every open stream.
   */
  publish(event: 'patch' | 'delete' | 'segment-delta', data: Record<string, unknown>): string {
    const id = this.nextId()
    this.applyToDocument(event, data)
    this.log.push({ id, event, data })
    this.currentId = id
    for (const c of this.open()) c.send(event, data, id)
    this.notify()
    return id
  }

  /** Replace the document (as a fresh put would), without telling open streams. */
  replaceDocument(doc: object): string {
    this.document = doc
    this.currentId = this.nextId()
    this.trimmedBefore = this.seq
    return this.currentId
  }

  /**
   * Wait until `pred()` holds; re-checked after each request, publish or close, and every 10 ms
   * (for predicates on client state); rejects after `timeoutMs`.
   */
  async waitFor(pred: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!pred()) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, Math.min(left, 10))
        function done(): void {
          clearTimeout(t)
          resolve()
        }
        this.waiters.push(done)
      })
    }
  }

  /** Wait for the n-th (1-based) stream connection. */
  async connection(n: number, timeoutMs = 5000): Promise<StreamConnection> {
    await this.waitFor(() => this.connections.length >= n, timeoutMs, `stream connection #${n}`)
    return this.connections[n - 1] as StreamConnection
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w()
  }

  private nextId(): string {
    return `${1732262400000 + ++this.seq}-0`
  }

  private idSeq(id: string): number {
    return Number(id.split('-')[0]) - 1732262400000
  }

  private applyToDocument(event: string, data: Record<string, unknown>): void {
    const doc = this.document as {
      flags: Record<string, unknown>
      segments?: Record<string, { included?: string[]; excluded?: string[] }>
    }
    if ('kind' in data) {
      // Server-mode shapes.
      const kind = data.kind as 'flag' | 'segment'
      doc.segments ??= {}
      const coll = (kind === 'flag' ? doc.flags : doc.segments) as Record<string, unknown>
      if (event === 'delete') delete coll[data.key as string]
      else if (kind === 'flag') coll[(data.flag as { key: string }).key] = data.flag
      else {
        const seg = data.segment as { key: string; included?: string[]; excluded?: string[] }
        const prev = coll[seg.key] as { included?: string[]; excluded?: string[] } | undefined
        coll[seg.key] = {
          ...seg,
          included: seg.included ?? prev?.included ?? [],
          excluded: seg.excluded ?? prev?.excluded ?? [],
        }
      }
    } else if (event === 'segment-delta') {
      const d = data as { key: string; list: 'included' | 'excluded'; add: string[]; remove: string[]; version: number }
      const seg = doc.segments?.[d.key] as Record<string, unknown> | undefined
      if (seg) {
        const set = new Set(seg[d.list] as string[])
        for (const k of d.add) set.add(k)
        for (const k of d.remove) set.delete(k)
        seg[d.list] = [...set]
        seg.version = d.version
      }
    } else {
      // Client-mode patch: {flags, removed}.
      Object.assign(doc.flags, data.flags ?? {})
      for (const k of (data.removed as string[] | undefined) ?? []) delete doc.flags[k]
    }
  }

  private cors(res: ServerResponse): void {
    res.setHeader('Access-Control-Allow-Origin', '*')
    res.setHeader('Access-Control-Allow-Headers', 'Authorization, Last-Event-ID, If-None-Match, Content-Type, Accept')
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS')
    res.setHeader('Access-Control-Expose-Headers', 'ETag')
  }

  private fail(res: ServerResponse, f: Failure): void {
    res.writeHead(f.status, { 'Content-Type': 'application/json', ...f.headers })
    res.end(
      JSON.stringify({
        statusCode: f.status,
        code: f.code ?? 'TEST_FAILURE',
        message: f.message ?? 'scripted failure',
      }),
    )
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const u = new URL(req.url ?? '/', 'http://x')
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      path: u.pathname,
      query: u.searchParams,
      headers: req.headers,
    }
    this.cors(res)
    if (req.method === 'OPTIONS') {
      res.writeHead(204).end()
      return
    }
    this.requests.push(rec)
    this.notify()
    const route: Route | null =
      u.pathname === '/api/v1/sdk/stream' || u.pathname === '/api/v1/sdk/client/stream'
        ? 'stream'
        : u.pathname === '/api/v1/sdk/rules' || u.pathname === '/api/v1/sdk/client/values'
          ? 'poll'
          : u.pathname === '/api/v1/sdk/metrics'
            ? 'metrics'
            : null
    if (!route) {
      this.fail(res, { status: 404, code: 'NOT_FOUND' })
      return
    }
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      this.fail(res, { status: 401, code: 'UNAUTHORIZED', message: 'invalid token' })
      return
    }
    const f = this.failures[route].shift() ?? this.alwaysFail[route]
    if (f) {
      this.fail(res, f)
      return
    }
    if (route === 'metrics') {
      let body = ''
      req.setEncoding('utf8')
      req.on('data', (c: string) => (body += c))
      req.on('end', () => {
        this.metrics.push(JSON.parse(body) as Record<string, unknown>)
        res.writeHead(202).end()
        this.notify()
      })
      return
    }
    if (route === 'poll') {
      const etag = `"${this.currentId}"`
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, { ETag: etag }).end()
        return
      }
      res.writeHead(200, { 'Content-Type': 'application/json', ETag: etag })
      res.end(JSON.stringify(this.document))
      return
    }
    this.openStream(rec, req, res)
  }

  private openStream(rec: RecordedRequest, req: IncomingMessage, res: ServerResponse): void {
    const lastHeader = req.headers['last-event-id']
    const lastEventId = typeof lastHeader === 'string' ? lastHeader : null
    let open = true
    const closed = new Promise<void>((resolve) =>
      res.on('close', () => {
        open = false
        resolve()
        this.notify()
      }),
    )
    const write = (s: string): void => {
      if (open) res.write(s)
    }
    const conn: StreamConnection = {
      request: rec,
      lastEventId,
      send: (event, data, id) =>
        write(`event: ${event}\n${id !== undefined ? `id: ${id}\n` : ''}data: ${JSON.stringify(data)}\n\n`),
      raw: write,
      comment: (text = 'ping') => write(`: ${text}\n`),
      end: () => res.end(),
      destroy: () => res.destroy(),
      closed,
      isOpen: () => open,
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache',
      'X-Accel-Buffering': 'no',
    })
    res.flushHeaders()
    this.connections.push(conn)
    if (!this.silentStreams && this.autoStart) {
      write(`retry: ${this.retryMs}\n\n`)
      const from = lastEventId ? this.idSeq(lastEventId) : NaN
      // Resumable when the id is neither trimmed nor from the future (another server's log).
      const known = lastEventId !== null && from >= this.trimmedBefore && from <= this.idSeq(this.currentId)
      if (known) {
        for (const e of this.log) if (this.idSeq(e.id) > from) conn.send(e.event, e.data, e.id)
      } else {
        conn.send('put', this.document, this.currentId)
      }
    }
    this.notify()
  }
}

/** Start a test server; the caller tears it down. */
export async function startSseTestServer(opts: { token?: string; document: object }): Promise<SseTestServer> {
  return new SseTestServer(opts).listen()
}

/** Resolve with the payload of the next client `event` matching `pred`; reject after `timeoutMs`. */
export function nextEvent<E extends ClientEventName>(
  client: Pick<SwitchyardClient, 'on' | 'off'>,
  event: E,
  pred: (p: ClientEvents[E]) => boolean = () => true,
  timeoutMs = 5000,
): Promise<ClientEvents[E]> {
  return new Promise<ClientEvents[E]>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off(event, fn)
      reject(new Error(`timed out after ${timeoutMs} ms waiting for "${event}"`))
    }, timeoutMs)
    function fn(p: ClientEvents[E]): void {
      if (!pred(p)) return
      clearTimeout(timer)
      client.off(event, fn)
      resolve(p)
    }
    client.on(event, fn)
  })
}
