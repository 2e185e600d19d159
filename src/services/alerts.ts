import { AppError, appError } from '../errors.js'
import type { Alert, AlertNotification, AlertResult } from '../schemas/alerts.js'
import { KEY_PATTERN } from '../schemas/common.js'
import type { FlagDefinitionRecord } from '../schemas/flag.js'
import type { TokenRecord } from '../store/tokens.js'
import { type Actor, auditRecord, type ServiceDeps } from './context.js'
import type { FlagService } from './flags.js'

/** The labels an alert names its target with (Prometheus alerting rules set them). */
export const ALERT_LABELS = { env: 'switchyard_env', flag: 'switchyard_flag', plan: 'switchyard_plan' } as const

/** What the flag's `alertPolicy` is when it names none: an alert turns the flag off. */
export const DEFAULT_ALERT_POLICY = 'kill'

/**
 * What an alert can do. `kill` is the flag write path; `haltPlan` halts the release plan of a flag in one
 * environment and is wired by whoever runs plans (absent: alerts whose policy is `halt` are refused with
 * PLANS_UNAVAILABLE and recorded, never turned into a kill).
 */
export interface AlertActions {
  /** Off unless already off: `changed` false writes nothing. */
  kill(
    env: string,
    flag: string,
    reason: string,
    actor: Actor,
    details: unknown,
  ): Promise<{ changed: boolean; version: number; changeId: string | null }>
  /** Halts the flag's running plan; `changed` false when none was running (nothing written). */
  /** `found` false: the flag has no started plan (nothing to halt). */
  haltPlan?(
    env: string,
    flag: string,
    reason: string,
    actor: Actor,
    details: unknown,
  ): Promise<{ changed: boolean; found?: boolean }>
  /**
   * What an automated action may do to this flag now: `halt` once its release passed a point of no return
   * (an automatic kill there can do harm), else `kill`. Absent: always `kill`.
   */
  automatedAction?(env: string, flag: string): Promise<'kill' | 'halt'>
}

/** The actions of a server without plans: kills through the flag service. */
export function flagActions(flags: FlagService): AlertActions {
  return {
    kill: async (env, flag, reason, actor, details) => {
      const w = await flags.killIfOn(env, flag, reason, actor, details)
      return { changed: w.changed, version: w.flag.version, changeId: w.changeId }
    },
  }
}

const KEY = new RegExp(KEY_PATTERN)
const isKey = (s: string) => s.length <= 128 && KEY.test(s)
const REASON_MAX = 1000

/**
 * Alertmanager notifications into kills and halts (POST /api/v1/alerts). Every alert gets an outcome; only a store
 * failure fails the whole notification (503, so Alertmanager retries; what was done already is not done twice).
 */
export class AlertService {
  constructor(
    private readonly deps: ServiceDeps,
    private readonly flags: FlagService,
    /** Replaceable so the plans can add `haltPlan` once they are built (see docs/runbook-migration.md). */
    public actions: AlertActions,
  ) {}

  async receive(n: AlertNotification, token: TokenRecord, requestId: string): Promise<AlertResult[]> {
    if (n.version !== '4') throw appError('ALERT_VERSION_UNSUPPORTED', n.version)
    const results: AlertResult[] = []
    const envs = new Map<string, boolean>()
    for (const a of n.alerts) results.push(await this.one(a, token, requestId, envs))
    return results
  }

  private async one(a: Alert, token: TokenRecord, requestId: string, envs: Map<string, boolean>): Promise<AlertResult> {
    const alertname = a.labels.alertname ?? '(unnamed alert)'
    const env = a.labels[ALERT_LABELS.env]
    const flagLabel = a.labels[ALERT_LABELS.flag]
    const planLabel = a.labels[ALERT_LABELS.plan]
    const flag = flagLabel ?? planLabel
    const base: AlertResult = {
      alertname,
      status: a.status,
      ...(a.fingerprint !== undefined && { fingerprint: a.fingerprint }),
      ...(env !== undefined && { environment: env }),
      ...(flag !== undefined && { flag }),
      outcome: 'skipped',
    }
    if (env === undefined || flag === undefined) return { ...base, code: 'NOT_LABELLED' }
    // Labels become keys of Redis and audit records: only valid keys, so no label can reach anything else.
    if (!isKey(env) || !isKey(flag) || (planLabel !== undefined && flagLabel !== undefined && planLabel !== flagLabel))
      return { ...base, code: 'INVALID_LABEL' }
    const refused = (code: string): AlertResult => ({ ...base, outcome: 'refused', code })
    if (!token.environments.includes('*') && !token.environments.includes(env)) return refused('FORBIDDEN')
    let exists = envs.get(env)
    if (exists === undefined) {
      exists = await this.deps.store.envExists(env)
      envs.set(env, exists)
    }
    if (!exists) return refused('ENVIRONMENT_NOT_FOUND')
    let def: FlagDefinitionRecord
    try {
      def = await this.flags.getDefinition(flag)
    } catch (e) {
      if (e instanceof AppError && e.code === 'FLAG_NOT_FOUND') return refused('FLAG_NOT_FOUND')
      throw e
    }

    const actor: Actor = { name: `alert ${alertname} (token ${token.name})`, tokenId: token.id, requestId }
    const summary = a.annotations?.summary ?? a.annotations?.description
    const reason = `Alertmanager: ${alertname}${summary ? `: ${summary}` : ''}`.slice(0, REASON_MAX)
    const details = {
      alert: {
        name: alertname,
        status: a.status,
        ...(a.fingerprint !== undefined && { fingerprint: a.fingerprint }),
        ...(a.startsAt !== undefined && { startsAt: a.startsAt }),
        ...(a.generatorURL !== undefined && { generatorURL: a.generatorURL }),
      },
    }
    const record = (action: string) =>
      this.deps.store.alerts.record(
        env,
        auditRecord(
          actor,
          this.deps.now().toISOString(),
          action,
          env,
          { type: 'flag', key: flag },
          { reason, details },
        ),
      )

    if (a.status === 'resolved') {
      // Resolving never turns anything back on: that stays a person's decision.
      await record('alert.resolved')
      return { ...base, outcome: 'recorded' }
    }
    const policy = def.alertPolicy ?? DEFAULT_ALERT_POLICY
    if (policy === 'ignore') {
      await record('alert.ignored')
      return { ...base, outcome: 'ignored' }
    }
    // An alert that names the plan (switchyard_plan) asks for a halt; a kill is only ever what the policy says.
    // Past a point of no return the plan's policy decides (default: halt instead of kill).
    const pastPoint = policy === 'kill' && (await this.actions.automatedAction?.(env, flag)) === 'halt'
    if (policy === 'halt' || flagLabel === undefined || pastPoint) {
      const halt = this.actions.haltPlan
      if (!halt) {
        await record('alert.unhandled')
        return refused('PLANS_UNAVAILABLE')
      }
      const r = await halt(env, flag, reason, actor, details)
      if (r.found === false) {
        await record('alert.unhandled')
        return refused('PLAN_NOT_FOUND')
      }
      return { ...base, outcome: r.changed ? 'halted' : 'already-halted' }
    }
    const r = await this.actions.kill(env, flag, reason, actor, details)
    return {
      ...base,
      outcome: r.changed ? 'killed' : 'already-off',
      version: r.version,
      ...(r.changeId !== null && { changeId: r.changeId }),
    }
  }
}
