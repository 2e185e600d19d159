/**
 * Live updates: every write to a flag, segment, environment or token appends an audit record, so the newest
 * audit record is a cheap "has anything changed?". It is asked conditionally (If-None-Match with the last ETag):
 * while nothing changed the answer is a 304 with no body. Pages reload what they show when it moves. Tokens
 * that may read every environment ask once; others ask per environment they may read.
 */
import { call, type Environment, type Me } from './api.js'

export const LIVE_INTERVAL_MS = 2000

export function startLive(me: Me, envs: Environment[], changed: () => void): () => void {
  const queries = me.can.read.includes('*') ? ['/audit?limit=1'] : envs.map((e) => `/audit?env=${e.key}&limit=1`)
  const etags = new Map<string, string>()
  let stopped = false
  let timer: ReturnType<typeof setTimeout> | undefined
  const poll = async () => {
    try {
      const moved = await Promise.all(
        queries.map(async (q) => {
          const last = etags.get(q)
          const r = await call('GET', q, last === undefined ? {} : { ifNoneMatch: last })
          if (r.status === 304 || !r.etag) return false
          etags.set(q, r.etag)
          // The first answer is where we start from, not a change.
          return last !== undefined
        }),
      )
      if (moved.some(Boolean)) changed()
    } catch {
      // Offline or the store is down: try again next time; the pages show their own errors.
    }
    if (!stopped) timer = setTimeout(poll, document.hidden ? LIVE_INTERVAL_MS * 5 : LIVE_INTERVAL_MS)
  }
  void poll()
  return () => {
    stopped = true
    clearTimeout(timer)
  }
}
