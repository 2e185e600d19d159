import { AuditService } from './audit.js'
import type { ServiceDeps } from './context.js'
import { EnvironmentService } from './environments.js'
import { FactService } from './facts.js'
import { FlagService } from './flags.js'
import { type PlanOptions, PlanService } from './plans.js'
import { PromoteService } from './promote.js'
import { SegmentService } from './segments.js'
import { TokenService } from './tokens.js'

/** Every service, built once per app from the same dependencies. */
export function buildServices(deps: ServiceDeps, plans: Partial<PlanOptions> = {}) {
  const facts = new FactService(deps)
  const flags = new FlagService(deps, facts)
  const segments = new SegmentService(deps)
  return {
    plans: new PlanService(deps, flags, plans),
    flags,
    facts,
    promote: new PromoteService(flags, segments, facts),
    environments: new EnvironmentService(deps, flags),
    segments,
    audit: new AuditService(deps),
    tokens: new TokenService(deps),
  }
}

export type Services = ReturnType<typeof buildServices>
