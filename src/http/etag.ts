/** Conditional GETs and POSTs: If-None-Match against the ETag a route computed. */
import type { FastifyReply, FastifyRequest } from 'fastify'

/** True when an If-None-Match header lists this ETag (or `*`). */
export function notModified(req: FastifyRequest, etag: string): boolean {
  const h = req.headers['if-none-match']
  if (h === undefined) return false
  return String(h)
    .split(',')
    .map((v) => v.trim().replace(/^W\//, ''))
    .some((v) => v === etag || v === '*')
}

/** A 304 with no body and no Content-Length (RFC 9110): `send(null)` would serialize "null" and announce 4 bytes. */
export function sendNotModified(reply: FastifyReply): FastifyReply {
  return reply.code(304).send()
}
