import type { AuditEntry, AuditRecord } from '../schemas/audit.js'
import type { Command } from './atomic.js'
import { compareIds } from './changelog.js'
import type { StoreContext } from './context.js'
import { envKeys, globalKeys } from './keys.js'

export type { AuditEntry, AuditRecord } from '../schemas/audit.js'

/** Entries read per XREVRANGE while filtering. */
const BATCH = 500
/** Entries examined per stream and request before returning a partial page with a cursor. */
const SCAN_BUDGET = 20_000

/**
 * The XADD of one audit record into the global stream (`env` null) or an
 * environment's; repositories put it into the atomic write of the change it
 * records. Approximate trimming (~) keeps XADD O(1): Redis drops whole macro nodes.
 */
export function auditCommand(ctx: StoreContext, env: string | null, record: AuditRecord): Command {
  const key = env === null ? globalKeys.audit : envKeys(env).audit
  const max = ctx.limits.auditMaxLen
  if (max > 0) return ['XADD', key, 'MAXLEN', '~', max, '*', 'r', JSON.stringify(record)]
  return ['XADD', key, '*', 'r', JSON.stringify(record)]
}

/** The audit trail: written only inside other repositories' atomic writes, read here. */
export class AuditRepository {
  constructor(private readonly ctx: StoreContext) {}

  /**
   * One page of records, newest first, across the global stream and one
   * environment's (`env`) or every environment's. `minId`/`maxId` are
   * XREVRANGE bounds (`-`, `+`, `(id`); `keep` filters. A stream scanned for
   * SCAN_BUDGET entries without filling the page ends it early with a cursor.
   */
  async newest(q: {
    env?: string
    minId: string
    maxId: string
    limit: number
    keep: (r: AuditRecord) => boolean
  }): Promise<{ items: AuditEntry[]; nextCursor: string | null }> {
    const { redis } = this.ctx
    const streams = q.env
      ? [envKeys(q.env).audit, globalKeys.audit]
      : [globalKeys.audit, ...(await redis.hkeys(globalKeys.envs)).map((e) => envKeys(e).audit)]
    const idLess = (a: string, b: string) => compareIds(a, b) < 0
    let partialBound: string | null = null
    const perStream = await Promise.all(
      streams.map(async (key) => {
        const out: AuditEntry[] = []
        let upper = q.maxId
        let scanned = 0
        while (out.length < q.limit) {
          const batch = (await redis.xrevrange(key, upper, q.minId, 'COUNT', BATCH)) as Array<[string, string[]]>
          for (const [id, fields] of batch) {
            const r = JSON.parse(fields[1] ?? '{}') as AuditRecord
            if (q.keep(r)) out.push({ id, ...r })
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
