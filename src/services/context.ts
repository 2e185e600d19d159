import { AppError } from '../errors.js'
import type { AuditRecord } from '../store/audit.js'
import type { Store } from '../store/store.js'

/** Who makes a change: the token's name and id, and the request it came in. */
export interface Actor {
  name: string
  tokenId: string
  requestId?: string
}

/** What every service needs; injected so tests control time. */
export interface ServiceDeps {
  store: Store
  now: () => Date
}

/** How many times a read-modify-write retries on a concurrent change before giving up. */
export const MAX_RETRIES = 25

/** 412 VERSION_CONFLICT when the caller named a version (If-Match) that is not the current one. */
export function checkVersion(current: number, ifMatch: number | undefined): void {
  if (ifMatch !== undefined && ifMatch !== current)
    throw new AppError('VERSION_CONFLICT', [current], { currentVersion: current })
}

/**
 * The one builder of audit records: who (`actor`), when, what, where, on
 * which target, plus what the change adds (versions, reason, details).
 */
export function auditRecord(
  actor: Actor,
  at: string,
  action: string,
  env: string | null,
  target: AuditRecord['target'],
  extra: Pick<AuditRecord, 'fromVersion' | 'toVersion' | 'reason' | 'details'> = {},
): AuditRecord {
  return {
    at,
    actor: actor.name,
    actorTokenId: actor.tokenId,
    action,
    env,
    target,
    ...extra,
    ...(actor.requestId && { requestId: actor.requestId }),
  }
}
