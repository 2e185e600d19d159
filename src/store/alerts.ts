import type { AuditRecord } from '../schemas/audit.js'
import { auditCommand } from './audit.js'
import type { StoreContext } from './context.js'

/**
 * The alerts' own writes: an audit record of an alert that changed no flag (resolved, ignored by policy, refused
 * because plans cannot be halted here). Kills go through the flag repository's write and audit themselves.
 */
export class AlertRepository {
  constructor(private readonly ctx: StoreContext) {}

  /** Appends `record` to the audit stream of `env`. */
  async record(env: string, record: AuditRecord): Promise<void> {
    await this.ctx.atomic({ checks: [], commands: [auditCommand(this.ctx, env, record)] })
  }
}
