import { AlertService, flagActions } from './alerts.js'
import { AuditService } from './audit.js'
import type { ServiceDeps } from './context.js'
import { EnvironmentService } from './environments.js'
import { FlagService } from './flags.js'
import { type PlanOptions, PlanService } from './plans.js'
import { SegmentService } from './segments.js'
import { TokenService } from './tokens.js'

/** Every service, built once per app from the same dependencies. */
export function buildServices(deps: ServiceDeps, plans: Partial<PlanOptions> = {}) {
  const flags = new FlagService(deps)
  return {
    plans: new PlanService(deps, flags, plans),
    flags,
    environments: new EnvironmentService(deps, flags),
    segments: new SegmentService(deps),
    audit: new AuditService(deps),
    tokens: new TokenService(deps),
    // Plans add `haltPlan` to these actions when they are wired (services.alerts.actions).
    alerts: new AlertService(deps, flags, flagActions(flags)),
  }
}

export type Services = ReturnType<typeof buildServices>
