/**
 * Live updates: every write to a flag, segment, environment or token appends an audit record, so the newest
 * audit id is a cheap "has anything changed?" (one record per request). Pages reload what they show when it
 * moves. Tokens that may read every environment ask once; others ask per environment they may read.
 */
import { type Environment, get, type Me, type Page } from './api.js'

export const LIVE_INTERVAL_MS = 2000

export function startLive(me: Me, envs: Environment[], changed: () => void): () => void {
  const queries = me.can.read.includes('*') ? ['/audit?limit=1'] : envs.map((e) => `/audit?env=${e.key}&limit=1`)
  let last: string | null = null
  let stopped = false
  let timer: ReturnType<typeof setTimeout> | undefined
  const poll = async () => {
    try {
      const newest = await Promise.all(
        queries.map(async (q) => (await get<Page<{ id: string }>>(q)).items[0]?.id ?? ''),
      )
      const seen = newest.join(',')
      if (last !== null && seen !== last) changed()
      last = seen
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
