import { envKeys } from './keys.js'
import type { AuditRecord, Store } from './store.js'

/**
 * The alerts' own writes: an audit record of an alert that changed no flag (resolved, ignored by policy, refused
 * because plans cannot be halted here). Kills go through the flag write path and audit themselves.
 */
export async function recordAlert(store: Store, env: string, record: AuditRecord): Promise<void> {
  await store.atomic({ checks: [], commands: [store.auditCommand(envKeys(env).audit, record)] })
}
