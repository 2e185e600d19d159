import type { ServerResponse } from 'node:http'
import type { FastifyReply } from 'fastify'

/**
 * Takes the response over from Fastify and starts an event stream: status,
 * headers (no compression, no proxy buffering), and the reconnect hint.
 */
export function openEventStream(reply: FastifyReply, retryMs: number, extraHeaders: Record<string, string> = {}): ServerResponse {
  reply.hijack()
  const res = reply.raw
  res.socket?.setNoDelay(true)
  res.socket?.setKeepAlive(true)
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
    connection: 'keep-alive',
    ...extraHeaders,
  })
  res.write(`retry: ${retryMs}\n\n`)
  return res
}
