/**
 * A test SSE client: reads a fetch() body with the SDK's own parser and lets
 * tests wait for events (with a timeout, never a sleep). Keeps the raw text
 * so tests can assert on the exact bytes a browser would receive.
 */
import { SseParser, type SseEvent } from '../../sdk/transport/sse-parser.js'
import type { Teardown } from './server.js'

export type { SseEvent }

export interface SseConnection {
  status: number
  headers: Headers
  /** Body of a non-200 response (JSON when it parses). */
  // biome-ignore lint/suspicious/noExplicitAny: tests inspect arbitrary JSON
  error: any
  /** Every event received so far, in order. */
  events: SseEvent[]
  /** Comment lines (`ping`). */
  comments: string[]
  /** The `retry:` hint, when one came. */
  retry: number | null
  /** All bytes received, decoded. */
  raw(): string
  /** The next event not yet taken (optionally the next matching one; earlier non-matching ones are skipped). */
  next(match?: (e: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>
  /** Resolves once the server ended the stream (or it failed). */
  ended: Promise<void>
  isEnded(): boolean
  close(): void
}

export interface OpenOptions {
  token?: string | null
  headers?: Record<string, string>
  timeoutMs?: number
}

/** Opens an event stream; closed at teardown. */
export async function openSse(t: Teardown, url: string, o: OpenOptions = {}): Promise<SseConnection> {
  const ctrl = new AbortController()
  const headers: Record<string, string> = { accept: 'text/event-stream', ...o.headers }
  if (o.token) headers.authorization = `Bearer ${o.token}`
  const res = await fetch(url, { headers, signal: ctrl.signal })
  const events: SseEvent[] = []
  const comments: string[] = []
  let retry: number | null = null
  let raw = ''
  let cursor = 0
  let ended = false
  let wake: Array<() => void> = []
  const notify = () => {
    const w = wake
    wake = []
    for (const f of w) f()
  }
  const parser = new SseParser({
    onEvent: (e) => {
      events.push(e)
      notify()
    },
    onRetry: (ms) => {
      retry = ms
    },
    onComment: (c) => {
      comments.push(c)
      notify()
    },
  })
  const close = () => ctrl.abort()
  t.teardown(close)
  let error: unknown = null
  let endedP: Promise<void>
  if (res.status !== 200 || !res.body) {
    const text = await res.text()
    try {
      error = JSON.parse(text)
    } catch {
      error = text
    }
    ended = true
    endedP = Promise.resolve()
  } else {
    const decoder = new TextDecoder()
    const body = res.body
    endedP = (async () => {
      try {
        for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
          raw += decoder.decode(chunk, { stream: true })
          parser.feed(chunk)
        }
      } catch {
        // aborted or reset: the stream ended
      }
      ended = true
      notify()
    })()
  }
  const conn: SseConnection = {
    status: res.status,
    headers: res.headers,
    error,
    events,
    comments,
    get retry() {
      return retry
    },
    raw: () => raw,
    ended: endedP,
    isEnded: () => ended,
    close,
    next(match = () => true, timeoutMs = o.timeoutMs ?? 5000) {
      return new Promise<SseEvent>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(
            new Error(
              `no matching SSE event within ${timeoutMs} ms; got ${events.length} events: ${events
                .slice(-5)
                .map((e) => `${e.type} ${e.id} ${e.data.slice(0, 200)}`)
                .join(' | ')}`,
            ),
          )
        }, timeoutMs)
        const check = () => {
          while (cursor < events.length) {
            const e = events[cursor++] as SseEvent
            if (match(e)) {
              clearTimeout(timer)
              resolve(e)
              return
            }
          }
          if (ended) {
            clearTimeout(timer)
            reject(new Error('the stream ended before a matching event'))
            return
          }
          wake.push(check)
        }
        check()
      })
    },
  }
  return conn
}
