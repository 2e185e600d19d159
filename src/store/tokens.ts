import type { TokenView } from '../schemas/token.js'
import type { Command } from './atomic.js'
import { type AuditRecord, auditCommand } from './audit.js'
import type { StoreContext } from './context.js'
import { globalKeys } from './keys.js'

export { TOKEN_KINDS, type TokenKind } from '../schemas/token.js'

/** A token as stored: never the secret, only its SHA-256. */
export interface TokenRecord extends TokenView {
  hash: string
}

/** API tokens: records by id and an index from the secret's hash to the id, written together with their audit record. */
export class TokenRepository {
  constructor(private readonly ctx: StoreContext) {}

  /** The token whose secret hashes to `hash`, or null. */
  async byHash(hash: string): Promise<TokenRecord | null> {
    const id = await this.ctx.redis.hget(globalKeys.tokenHashes, hash)
    if (id === null) return null
    return this.get(id)
  }

  get(id: string): Promise<TokenRecord | null> {
    return this.ctx.hgetJson<TokenRecord>(globalKeys.tokens, id)
  }

  all(): Promise<Record<string, TokenRecord>> {
    return this.ctx.hgetAllJson<TokenRecord>(globalKeys.tokens)
  }

  /** Whether each of `ids` is still a token (one round trip, for the streams' periodic recheck). */
  async exist(ids: string[]): Promise<boolean[]> {
    const found = await this.ctx.redis.hmget(globalKeys.tokens, ...ids)
    return found.map((r) => r !== null)
  }

  /** Writes (or replaces) a token and its hash index; `replacedHash`, the hash of the secret it replaces, stops authenticating in the same step. */
  async put(record: TokenRecord, audit: AuditRecord, replacedHash?: string): Promise<void> {
    const commands: Command[] = []
    if (replacedHash !== undefined) commands.push(['HDEL', globalKeys.tokenHashes, replacedHash])
    commands.push(
      ['HSET', globalKeys.tokens, record.id, JSON.stringify(record)],
      ['HSET', globalKeys.tokenHashes, record.hash, record.id],
      auditCommand(this.ctx, null, audit),
    )
    await this.ctx.atomic({ checks: [], commands })
  }

  async delete(record: TokenRecord, audit: AuditRecord): Promise<void> {
    await this.ctx.atomic({
      checks: [],
      commands: [
        ['HDEL', globalKeys.tokens, record.id],
        ['HDEL', globalKeys.tokenHashes, record.hash],
        auditCommand(this.ctx, null, audit),
      ],
    })
  }
}
