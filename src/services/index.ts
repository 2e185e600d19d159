import { AlertService, flagActions } from './alerts.js'
import { AuditService } from './audit.js'
import type { Actor, ServiceDeps } from './context.js'
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
  const planService = new PlanService(deps, flags, plans)
  // Alerts kill through the flag service and halt through the plans (and halt instead of kill past a point
  // of no return).
  const alertActions = {
    ...flagActions(flags),
    haltPlan: async (env: string, flag: string, reason: string, actor: Actor) => {
      const r = await planService.haltFlag(env, flag, reason, actor)
      return r === null ? { changed: false, found: false } : { changed: r.halted, found: true }
    },
    automatedAction: (env: string, flag: string) => planService.automatedAction(env, flag),
  }
  return {
    plans: planService,
    flags,
    facts,
    promote: new PromoteService(flags, segments, facts),
    environments: new EnvironmentService(deps, flags),
    segments,
    audit: new AuditService(deps),
    tokens: new TokenService(deps),
    alerts: new AlertService(deps, flags, alertActions),
  }
}

export type Services = ReturnType<typeof buildServices>
