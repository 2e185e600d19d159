import type { AuditEntry, AuditQuery, AuditRecord } from '../schemas/audit.js'
import { isUint64 } from '../store/store.js'
import { envKeys, globalKeys } from '../store/keys.js'
import { appError } from '../errors.js'
import type { ServiceDeps } from './context.js'

/** Entries read per XREVRANGE while filtering. */
const BATCH = 500
/** Entries examined per stream and request before returning a partial page with a cursor. */
const SCAN_BUDGET = 20_000

/** Whether Redis accepts `id` (`ms` or `ms-seq`) as a stream id; `(0-0` has nothing below it and is refused too. */
function isStreamId(id: string, exclusive: boolean): boolean {
  const m = /^(\d{1,20})(?:-(\d{1,20}))?$/.exec(id)
  if (!m || !isUint64(m[1] as string) || (m[2] !== undefined && !isUint64(m[2]))) return false
  return !exclusive || BigInt(m[1] as string) > 0n || BigInt(m[2] ?? '1') > 0n
}

function toMinId(since: string | undefined): string {
  if (!since) return '-'
  if (/^\d+(-\d+)?$/.test(since)) {
    if (!isStreamId(since, false)) throw appError('VALIDATION_FAILED', 'since is not an audit id')
    return since
  }
  const ms = Date.parse(since)
  if (Number.isNaN(ms)) throw appError('VALIDATION_FAILED', 'since must be an ISO 8601 time or an audit id')
  // Stream ids start at 0: a time before 1970 means "everything".
  return String(Math.max(0, ms))
}

function idLess(a: string, b: string): boolean {
  const [am = 0, as = 0] = a.split('-').map(Number)
  const [bm = 0, bs = 0] = b.split('-').map(Number)
  return am < bm || (am === bm && as < bs)
}

/** Newest-first audit reading across the global stream and each environment's. */
export class AuditService {
  constructor(private readonly deps: ServiceDeps) {}

  async query(q: AuditQuery): Promise<{ items: AuditEntry[]; nextCursor: string | null }> {
    if (q.cursor !== undefined && !isStreamId(q.cursor, true))
      throw appError('VALIDATION_FAILED', 'cursor is not an audit id from a previous page')
    const { redis } = this.deps.store
    let streams: string[]
    if (q.env) {
      await this.deps.store.requireEnv(q.env)
      streams = [envKeys(q.env).audit, globalKeys.audit]
    } else {
      streams = [globalKeys.audit, ...(await redis.hkeys(globalKeys.envs)).map((e) => envKeys(e).audit)]
    }
    const minId = toMinId(q.since)
    const maxId = q.cursor ? `(${q.cursor}` : '+'
    const keep = (r: AuditRecord) =>
      (!q.env || r.env === q.env) && (!q.flag || (r.target.type === 'flag' && r.target.key === q.flag))
    let partialBound: string | null = null
    const perStream = await Promise.all(
      streams.map(async (key) => {
        const out: AuditEntry[] = []
        let upper = maxId
        let scanned = 0
        while (out.length < q.limit) {
          const batch = (await redis.xrevrange(key, upper, minId, 'COUNT', BATCH)) as Array<[string, string[]]>
          for (const [id, fields] of batch) {
            const r = JSON.parse(fields[1] ?? '{}') as AuditRecord
            if (keep(r)) out.push({ id, ...r })
          }
          scanned += batch.length
          if (batch.length < BATCH) break
          upper = `(${batch[batch.length - 1]?.[0]}`
          if (scanned >= SCAN_BUDGET) {
            // Stop scanning; the page ends at the last id examined so the client can continue.
            const last = batch[batch.length - 1]?.[0] as string
            if (partialBound === null || idLess(partialBound, last)) partialBound = last
            break
          }
        }
        return out
      }),
    )
    let merged = perStream.flat().sort((a, b) => (idLess(a.id, b.id) ? 1 : -1))
    if (partialBound !== null) merged = merged.filter((e) => !idLess(e.id, partialBound as string))
    const items = merged.slice(0, q.limit)
    const more = merged.length > q.limit || partialBound !== null
    const nextCursor = more ? (items[items.length - 1]?.id ?? partialBound) : null
    return { items, nextCursor }
  }
}
