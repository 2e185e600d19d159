import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { AppError, appError } from '../errors.js'
import { TOKEN_REVOKED_TYPE } from '../store/changelog.js'
import { globalKeys } from '../store/keys.js'
import type { Actor, ServiceDeps } from './context.js'

/** `facts`: a deploy pipeline's token, which records facts in its environments and can do nothing else. */
export const TOKEN_KINDS = ['admin', 'editor', 'viewer', 'sdk-server', 'sdk-client', 'facts'] as const
export type TokenKind = (typeof TOKEN_KINDS)[number]

/** A token as stored: never the secret, only its SHA-256. */
export interface TokenRecord {
  id: string
  name: string
  kind: TokenKind
  /** Environments it may act in; `*` means all (admin, or editor/viewer of every environment). */
  environments: string[]
  createdAt: string
  createdBy: string
  hash: string
}

export type TokenView = Omit<TokenRecord, 'hash'>

const PREFIX: Record<TokenKind, string> = {
  admin: 'adm',
  editor: 'edt',
  viewer: 'vwr',
  'sdk-server': 'srv',
  'sdk-client': 'cli',
  facts: 'fct',
}

/**
 * Secrets are 256 random bits, so a plain SHA-256 is a safe way to store them
 * (a slow password hash buys nothing against a key space this large).
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex')
}

export const BOOTSTRAP_ADMIN_ID = 'bootstrap-admin'

export class TokenService {
  constructor(private readonly deps: ServiceDeps) {}

  private get redis() {
    return this.deps.store.redis
  }

  async authenticate(secret: string): Promise<TokenRecord | null> {
    const id = await this.redis.hget(globalKeys.tokenHashes, hashSecret(secret))
    if (id === null) return null
    const raw = await this.redis.hget(globalKeys.tokens, id)
    return raw === null ? null : (JSON.parse(raw) as TokenRecord)
  }

  async list(): Promise<TokenView[]> {
    const all = await this.deps.store.hgetAllJson<TokenRecord>(globalKeys.tokens)
    return Object.values(all)
      .map(({ hash: _hash, ...view }) => view)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
  }

  async get(id: string): Promise<TokenView> {
    const t = await this.deps.store.hgetJson<TokenRecord>(globalKeys.tokens, id)
    if (!t) throw appError('TOKEN_NOT_FOUND', id)
    const { hash: _hash, ...view } = t
    return view
  }

  async create(
    input: { name: string; kind: TokenKind; environments?: string[] },
    actor: Actor,
  ): Promise<{ token: TokenView; secret: string }> {
    const envs = input.kind === 'admin' ? ['*'] : (input.environments ?? [])
    const problems: Array<{ path: string; message: string }> = []
    if (input.kind !== 'admin' && envs.length === 0)
      problems.push({ path: '/environments', message: 'name at least one environment (or "*" for editor/viewer)' })
    if ((input.kind === 'sdk-server' || input.kind === 'sdk-client') && (envs.length !== 1 || envs[0] === '*')) {
      problems.push({ path: '/environments', message: 'an SDK token belongs to exactly one environment' })
    }
    for (const [i, e] of envs.entries()) {
      if (e !== '*' && !(await this.deps.store.envExists(e)))
        problems.push({ path: `/environments/${i}`, message: `environment "${e}" does not exist` })
    }
    if (problems.length > 0)
      throw new AppError('VALIDATION_FAILED', [problems.map((p) => p.message).join('; ')], problems)
    const secret = `sy_${PREFIX[input.kind]}_${randomBytes(32).toString('base64url')}`
    const record: TokenRecord = {
      id: randomUUID(),
      name: input.name,
      kind: input.kind,
      environments: envs,
      createdAt: this.deps.now().toISOString(),
      createdBy: actor.name,
      hash: hashSecret(secret),
    }
    await this.write(record, actor, 'token.create')
    const { hash: _hash, ...token } = record
    return { token, secret }
  }

  async revoke(id: string, actor: Actor): Promise<void> {
    const t = await this.deps.store.hgetJson<TokenRecord>(globalKeys.tokens, id)
    if (!t) throw appError('TOKEN_NOT_FOUND', id)
    const { store } = this.deps
    await store.atomic({
      checks: [],
      commands: [
        ['HDEL', globalKeys.tokens, id],
        ['HDEL', globalKeys.tokenHashes, t.hash],
        store.auditCommand(globalKeys.audit, {
          at: this.deps.now().toISOString(),
          actor: actor.name,
          actorTokenId: actor.tokenId,
          action: 'token.revoke',
          env: null,
          target: { type: 'token', key: id },
          details: { name: t.name, kind: t.kind },
          ...(actor.requestId && { requestId: actor.requestId }),
        }),
      ],
    })
    // SDK tokens hold streams: tell every instance through the environment's change log, so the
    // streams close now rather than at the next periodic token check.
    if (t.kind === 'sdk-server' || t.kind === 'sdk-client') {
      for (const env of t.environments) {
        await this.redis.call(...this.deps.store.changeCommand(env, TOKEN_REVOKED_TYPE, { tokenId: id }))
      }
    }
  }

  /**
   * Start-up: make ADMIN_TOKEN the bootstrap admin, or, when it is unset and
   * no admin exists yet, generate one and return its secret (printed once).
   */
  async bootstrap(adminToken: string | undefined): Promise<string | null> {
    const system: Actor = { name: 'system', tokenId: 'system' }
    if (adminToken) {
      const existing = await this.deps.store.hgetJson<TokenRecord>(globalKeys.tokens, BOOTSTRAP_ADMIN_ID)
      const hash = hashSecret(adminToken)
      if (existing?.hash === hash) return null
      if (existing) await this.redis.hdel(globalKeys.tokenHashes, existing.hash)
      await this.write(
        {
          id: BOOTSTRAP_ADMIN_ID,
          name: 'bootstrap admin',
          kind: 'admin',
          environments: ['*'],
          createdAt: this.deps.now().toISOString(),
          createdBy: 'ADMIN_TOKEN',
          hash,
        },
        system,
        'token.bootstrap',
      )
      return null
    }
    const all = await this.deps.store.hgetAllJson<TokenRecord>(globalKeys.tokens)
    if (Object.values(all).some((t) => t.kind === 'admin')) return null
    const { secret } = await this.create({ name: 'first admin', kind: 'admin' }, system)
    return secret
  }

  private async write(record: TokenRecord, actor: Actor, action: string): Promise<void> {
    const { store } = this.deps
    await store.atomic({
      checks: [],
      commands: [
        ['HSET', globalKeys.tokens, record.id, JSON.stringify(record)],
        ['HSET', globalKeys.tokenHashes, record.hash, record.id],
        store.auditCommand(globalKeys.audit, {
          at: record.createdAt,
          actor: actor.name,
          actorTokenId: actor.tokenId,
          action,
          env: null,
          target: { type: 'token', key: record.id },
          details: { name: record.name, kind: record.kind, environments: record.environments },
          ...(actor.requestId && { requestId: actor.requestId }),
        }),
      ],
    })
  }
}
