import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { AppError, appError } from '../errors.js'
import { TOKEN_REVOKED_TYPE } from '../store/changelog.js'
import type { CreateToken, TokenKind, TokenView } from '../schemas/token.js'
import type { TokenRecord } from '../store/tokens.js'
import { type Actor, auditRecord, type ServiceDeps } from './context.js'

export { TOKEN_KINDS, type TokenRecord } from '../store/tokens.js'
export type { TokenKind } from '../schemas/token.js'

const PREFIX: Record<TokenKind, string> = {
  admin: 'adm',
  editor: 'edt',
  viewer: 'vwr',
  'sdk-server': 'srv',
  'sdk-client': 'cli',
  // Alertmanager's: it may only post notifications to /api/v1/alerts (kills and halts in its environments).
  alerts: 'alt',
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

  private get tokens() {
    return this.deps.store.tokens
  }

  authenticate(secret: string): Promise<TokenRecord | null> {
    return this.tokens.byHash(hashSecret(secret))
  }

  async list(): Promise<TokenView[]> {
    const all = await this.tokens.all()
    return Object.values(all)
      .map(({ hash: _hash, ...view }) => view)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
  }

  async get(id: string): Promise<TokenView> {
    const t = await this.tokens.get(id)
    if (!t) throw appError('TOKEN_NOT_FOUND', id)
    const { hash: _hash, ...view } = t
    return view
  }

  async create(input: CreateToken, actor: Actor): Promise<{ token: TokenView; secret: string }> {
    const envs = input.kind === 'admin' ? ['*'] : (input.environments ?? [])
    const problems: Array<{ path: string; message: string }> = []
    if (input.kind !== 'admin' && envs.length === 0)
      problems.push({
        path: '/environments',
        message: 'name at least one environment (or "*" for editor/viewer/alerts)',
      })
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
    const t = await this.tokens.get(id)
    if (!t) throw appError('TOKEN_NOT_FOUND', id)
    await this.tokens.delete(
      t,
      auditRecord(
        actor,
        this.deps.now().toISOString(),
        'token.revoke',
        null,
        { type: 'token', key: id },
        {
          details: { name: t.name, kind: t.kind },
        },
      ),
    )
    // SDK tokens hold streams: tell every instance through the environment's change log, so the
    // streams close now rather than at the next periodic token check.
    if (t.kind === 'sdk-server' || t.kind === 'sdk-client') {
      for (const env of t.environments) {
        await this.deps.store.changelog.announce(env, TOKEN_REVOKED_TYPE, { tokenId: id })
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
      const existing = await this.tokens.get(BOOTSTRAP_ADMIN_ID)
      const hash = hashSecret(adminToken)
      if (existing?.hash === hash) return null
      // The old ADMIN_TOKEN stops authenticating in the same atomic step that makes the new one the admin.
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
        existing?.hash,
      )
      return null
    }
    const all = await this.tokens.all()
    if (Object.values(all).some((t) => t.kind === 'admin')) return null
    const { secret } = await this.create({ name: 'first admin', kind: 'admin' }, system)
    return secret
  }

  private async write(record: TokenRecord, actor: Actor, action: string, replacedHash?: string): Promise<void> {
    await this.tokens.put(
      record,
      auditRecord(
        actor,
        record.createdAt,
        action,
        null,
        { type: 'token', key: record.id },
        {
          details: { name: record.name, kind: record.kind, environments: record.environments },
        },
      ),
      replacedHash,
    )
  }
}
