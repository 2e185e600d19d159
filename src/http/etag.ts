/** Conditional GETs and POSTs: If-None-Match against the ETag a route computed. */
import { createHash } from 'node:crypto'
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

/**
 * A route's onSend hook for JSON answers that carry no version of their own (a page of the audit log): ETag = a
 * hash of the serialized body, and 304 with no body when If-None-Match names it. The route still does its reads;
 * a poller that asks "anything new?" every few seconds saves the body, its transfer and its parsing.
 */
export async function etagOfBody(req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  if (reply.statusCode !== 200 || typeof payload !== 'string') return payload
  const etag = `"${createHash('sha256').update(payload).digest('base64url').slice(0, 32)}"`
  reply.header('etag', etag)
  if (!notModified(req, etag)) return payload
  reply.code(304).removeHeader('content-type')
  // null: Fastify writes the head alone, without a Content-Length (RFC 9110 for a 304).
  return null
}
