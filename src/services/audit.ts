import type { AuditEntry, AuditQuery } from '../schemas/audit.js'
import { isUint64 } from '../store/store.js'
import { appError } from '../errors.js'
import type { ServiceDeps } from './context.js'

export type { AuditEntry } from '../schemas/audit.js'

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

/** Newest-first audit reading across the global stream and each environment's. */
export class AuditService {
  constructor(private readonly deps: ServiceDeps) {}

  async query(q: AuditQuery): Promise<{ items: AuditEntry[]; nextCursor: string | null }> {
    if (q.cursor !== undefined && !isStreamId(q.cursor, true))
      throw appError('VALIDATION_FAILED', 'cursor is not an audit id from a previous page')
    if (q.env) await this.deps.store.requireEnv(q.env)
    const minId = toMinId(q.since)
    return this.deps.store.audit.newest({
      ...(q.env && { env: q.env }),
      minId,
      maxId: q.cursor ? `(${q.cursor}` : '+',
      limit: q.limit,
      keep: (r) => (!q.env || r.env === q.env) && (!q.flag || (r.target.type === 'flag' && r.target.key === q.flag)),
    })
  }
}
