import type { FactValue } from '../../sdk/core/types.js'
import type { Command } from './atomic.js'
import { type AuditRecord, auditCommand } from './audit.js'
import type { StoreContext } from './context.js'
import { WriteExtra } from './flags.js'
import { envKeys } from './keys.js'

/** The type of a fact, fixed when it is first recorded. */
export type FactType = 'string' | 'number' | 'boolean' | 'list'

/** One fact as stored (the facts hash, one field per name). */
export interface FactRecord {
  name: string
  type: FactType
  value: FactValue
  /** Compared between environments by every promote, whichever flag is promoted. */
  drift: boolean
  /** Of this fact: 1 when first recorded, +1 per change. */
  version: number
  updatedAt: string
  updatedBy: string
}

/** One write of an environment's facts, as kept in its history. */
export interface FactChange {
  fact: string
  from: FactValue | null
  to: FactValue | null
}

export interface FactHistoryEntry {
  /** Of the environment's facts after this write. */
  version: number
  at: string
  actor: string
  reason?: string
  changes: FactChange[]
}

/** The facts of one environment and their version (+1 per write; 0 before the first). */
export interface FactsState {
  version: number
  facts: Record<string, FactRecord>
}

/** Writes kept in an environment's fact history (approximately: XADD MAXLEN ~). */
export const FACT_HISTORY_MAXLEN = 10_000

/** The version as the atomic check reads it: a missing field reads as ''. */
const stored = (version: number): string => (version === 0 ? '' : String(version))

/**
 * Environments' facts: the records, their version and their history. Every
 * write is one atomic step with its audit record; all keys carry the
 * environment's hash tag, so a "facts unchanged" guard can join a flag write.
 */
export class FactRepository {
  constructor(private readonly ctx: StoreContext) {}

  /** Every key of an environment's facts (removed with the environment). */
  keysOf(env: string): string[] {
    const k = envKeys(env)
    return [k.facts, k.factMeta, k.factHistory]
  }

  async read(env: string): Promise<FactsState> {
    const k = envKeys(env)
    // One MULTI (one slot): the facts and their version from the same moment.
    const r = await this.ctx.redis.multi().hgetall(k.facts).hget(k.factMeta, 'version').exec()
    const all = (r?.[0]?.[1] ?? {}) as Record<string, string>
    const version = Number((r?.[1]?.[1] as string | null) ?? 0)
    const facts: Record<string, FactRecord> = {}
    for (const [name, raw] of Object.entries(all)) facts[name] = JSON.parse(raw) as FactRecord
    return { version, facts }
  }

  /** For a gated flag write (FlagRepository.write's `extra`): the facts are still at `version`. */
  unchanged(env: string, version: number): WriteExtra {
    return new WriteExtra([{ key: envKeys(env).factMeta, field: 'version', op: 'eq', value: stored(version) }], [])
  }

  /** One atomic step: version check, new records, removals, version, history entry, audit record. False when the version moved. */
  async write(
    env: string,
    expected: number,
    change: { set: FactRecord[]; unset: string[]; entry: FactHistoryEntry; audit: AuditRecord },
  ): Promise<boolean> {
    const k = envKeys(env)
    const commands: Command[] = []
    for (const f of change.set) commands.push(['HSET', k.facts, f.name, JSON.stringify(f)])
    if (change.unset.length > 0) commands.push(['HDEL', k.facts, ...change.unset])
    commands.push(
      ['HSET', k.factMeta, 'version', change.entry.version],
      ['XADD', k.factHistory, 'MAXLEN', '~', FACT_HISTORY_MAXLEN, '*', 'r', JSON.stringify(change.entry)],
      auditCommand(this.ctx, env, change.audit),
    )
    const r = await this.ctx.atomic({
      checks: [{ key: k.factMeta, field: 'version', op: 'eq', value: stored(expected) }],
      commands,
    })
    return r.ok
  }

  /** History entries, newest first, strictly before the stream id `before` when given. */
  async history(
    env: string,
    opts: { before?: string; limit: number },
  ): Promise<{ items: Array<FactHistoryEntry & { id: string }>; nextCursor: string | null }> {
    const end = opts.before === undefined ? '+' : `(${opts.before}`
    const rows = (await this.ctx.redis.xrevrange(envKeys(env).factHistory, end, '-', 'COUNT', opts.limit + 1)) as Array<
      [string, string[]]
    >
    const items = rows.slice(0, opts.limit).map(([id, fields]) => ({
      id,
      ...(JSON.parse(fields[1] ?? '{}') as FactHistoryEntry),
    }))
    return { items, nextCursor: rows.length > opts.limit ? (items[items.length - 1]?.id ?? null) : null }
  }
}
