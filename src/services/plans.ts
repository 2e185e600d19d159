import { randomBytes, randomUUID } from 'node:crypto'
import type { RulesetFlag, UnmetRequirement } from '../../sdk/core/types.js'
import { AppError, appError } from '../errors.js'
import {
  type Comparison,
  type CreatePlan,
  durationMs,
  type Guard,
  type GuardReading,
  type PassedPoint,
  type Plan,
  type PlanStep,
} from '../schemas/plan.js'
import type { AuditRecord } from '../schemas/audit.js'
import type { Lease, PlanRepository, PlanWrite } from '../store/plans.js'
import { type Actor, auditRecord, MAX_RETRIES, type ServiceDeps } from './context.js'
import type { FlagService } from './flags.js'
import { queryNumber } from './prometheus.js'

/** How a plan service runs: where guards are read, how often each instance looks, how long a claim lasts. */
export interface PlanOptions {
  prometheusUrl?: string | undefined
  prometheusTimeoutMs: number
  /** 0: no timer; `tick()` is called by whoever drives it (tests). */
  tickMs: number
  leaseMs: number
  /**
   * The clock leases are judged by (ms). Absent: Redis's (TIME inside the claim), one clock for every instance,
   * so clock skew between instances cannot make a live lease look expired. Tests that inject `now` pass it here
   * too, so they expire leases by moving their clock.
   */
  leaseClock?: (() => number) | undefined
  log?: { warn: (obj: object, msg: string) => void }
  /**
   * Reports a failed tick that is a store outage to the app's outage log (one line per outage for the whole
   * instance, src/http/logging.ts OutageLog); true when it was one, so the runner adds no line of its own.
   */
  storeOutage?: (err: unknown) => boolean
}

const DEFAULTS: PlanOptions = { prometheusTimeoutMs: 5000, tickMs: 0, leaseMs: 15_000 }
const HISTORY_KEPT = 200
/** Writes since the plan's last one it reads to tell a definition change from a person's edit; more: an edit. */
const DEFINITION_WRITES_READ = 20
/** A plan's own decisions, and what it waits on, in the words of its history and pausedReason. */
type PauseCode =
  | 'PAUSED'
  | 'HALTED'
  | 'FLAG_CHANGED'
  | 'FLAG_MISSING'
  | 'GUARD_BREACHED'
  | 'GUARD_UNKNOWN'
  | 'STEP_INVALID'
  | 'FACTS_UNMET'

type ConfigFields = Pick<
  RulesetFlag,
  'on' | 'offVariation' | 'prerequisites' | 'targets' | 'rules' | 'fallthrough' | 'knob'
>

function configOf(f: RulesetFlag): ConfigFields {
  return {
    on: f.on,
    offVariation: f.offVariation,
    prerequisites: f.prerequisites,
    targets: f.targets,
    rules: f.rules,
    fallthrough: f.fallthrough,
    // A rollback to the start restores the knob value found then (a ramp's first step may have set one).
    ...(f.knob !== undefined && { knob: f.knob }),
  }
}

/** The configuration a step writes over `cur`: a `serve` step turns the flag on and sets its fallthrough. */
function applyStep(cur: RulesetFlag, step: PlanStep): RulesetFlag {
  if (step.serve) return { ...cur, on: true, fallthrough: step.serve }
  const c = step.config
  if (!c) return cur
  // `knob` as in a PUT (src/services/flags.ts putConfig): omitted keeps the value, null clears it, a value sets it;
  // so a plan ramps a knob with one `config` step per value, validated by the same checkConfig as a PUT.
  const { knob: _kept, ...rest } = cur
  const base: RulesetFlag = c.knob === null ? rest : c.knob === undefined ? cur : { ...cur, knob: c.knob }
  return {
    ...base,
    on: c.on,
    offVariation: c.offVariation ?? null,
    prerequisites: c.prerequisites ?? [],
    targets: c.targets ?? [],
    rules: (c.rules ?? []) as RulesetFlag['rules'],
    fallthrough: c.fallthrough,
  }
}

function compare(value: number, op: Comparison, threshold: number): boolean {
  if (op === '>') return value > threshold
  if (op === '>=') return value >= threshold
  if (op === '<') return value < threshold
  return value <= threshold
}

const guardName = (g: Guard, i: number) => g.name ?? `#${i + 1} (${g.query})`
const stepName = (p: Plan, i: number) =>
  `step ${i + 1}/${p.steps.length}${p.steps[i]?.name ? ` (${p.steps[i]?.name})` : ''}`

/** Does step `i` (= steps.length: completion) need someone's approval before it happens? */
function needsApproval(p: Plan, i: number): boolean {
  return Boolean(p.steps[i]?.pointOfNoReturn) || (i > 0 && p.steps[i - 1]?.hold === 'approval')
}

/**
 * Release plans: the rules (what each action may do, when a step is due, what a guard breach does) and the
 * runner that lives in every API instance. A step is an ordinary flag write (FlagService.planWrite) made in one
 * atomic step with the plan's new state, checked against the plan as read and against the instance's lease:
 * two instances that find the same step due cannot both apply it, and a dead instance's late write fails.
 */
export class PlanService {
  /** This instance's name in leases and audit details. */
  readonly instance = randomUUID()
  private readonly repo: PlanRepository
  private readonly opts: PlanOptions
  private timer: NodeJS.Timeout | null = null
  private ticking: Promise<void> | null = null
  private readonly held = new Map<string, { env: string; id: string }>()

  constructor(
    private readonly deps: ServiceDeps,
    private readonly flags: FlagService,
    opts: Partial<PlanOptions> = {},
  ) {
    this.repo = deps.store.plans
    this.opts = { ...DEFAULTS, ...opts }
  }

  // ---- reads ----

  async list(env: string, q: { flag?: string; status?: Plan['status'] } = {}): Promise<Plan[]> {
    await this.deps.store.requireEnv(env)
    return (await this.repo.list(env))
      .filter((p) => (!q.flag || p.flag === q.flag) && (!q.status || p.status === q.status))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id))
  }

  async get(env: string, id: string): Promise<Plan> {
    const got = await this.repo.get(env, id)
    if (!got) {
      await this.deps.store.requireEnv(env)
      throw appError('PLAN_NOT_FOUND', id)
    }
    return got.plan
  }

  /** The point of no return `flag` passed last in `env` (shown with the flag, warned about on a kill), or null. */
  passedPoint(env: string, flag: string): Promise<PassedPoint | null> {
    return this.repo.passed(env, flag)
  }

  /**
   * What an automated kill (a guard, an alert) of `flag` should do: `kill`, or `halt` once the flag passed a
   * point of no return whose policy (`afterwards`, default halt) says so. For the Alertmanager webhook.
   */
  async automatedAction(env: string, flag: string): Promise<'kill' | 'halt'> {
    const p = await this.repo.passed(env, flag)
    return p && p.afterwards !== 'kill' ? 'halt' : 'kill'
  }

  // ---- people (and alerts) ----

  async create(env: string, input: CreatePlan, actor: Actor): Promise<Plan> {
    const flag = await this.flags.getConfig(env, input.flag)
    const problems = input.steps.flatMap((s, i) =>
      (s.serve === undefined) === (s.config === undefined)
        ? [{ path: `/steps/${i}`, message: 'needs exactly one of "serve" or "config"' }]
        : [],
    )
    if (problems.length > 0) throw new AppError('VALIDATION_FAILED', [`/steps: ${problems[0]?.message}`], problems)
    if (input.startAt !== undefined && Number.isNaN(Date.parse(input.startAt)))
      throw new AppError('VALIDATION_FAILED', ['/startAt is not a date'], [{ path: '/startAt', message: 'not a date' }])
    if ((input.guards ?? []).length > 0 && !this.opts.prometheusUrl) throw appError('GUARDS_UNAVAILABLE')
    // Every step must be writable over today's configuration (variations exist, segments exist, …).
    for (const s of input.steps) await this.flags.checkConfig(env, { ...applyStep(flag, s), version: flag.version + 1 })
    const at = this.deps.now().toISOString()
    const who = { name: actor.name, tokenId: actor.tokenId }
    const plan: Plan = {
      id: `pl_${randomBytes(6).toString('hex')}`,
      environment: env,
      flag: input.flag,
      name: input.name ?? `${input.flag} release`,
      steps: input.steps,
      guards: input.guards ?? [],
      ...(input.startAt !== undefined && { startAt: new Date(input.startAt).toISOString() }),
      status: 'draft',
      current: -1,
      nextAt: null,
      lastVersion: null,
      createdAt: at,
      createdBy: who,
      readings: [],
      history: [{ at, actor: actor.name, action: 'create', ...(input.reason && { reason: input.reason }) }],
      revision: 1,
    }
    const ok = await this.repo.write(plan, { raw: null, audit: this.auditOf(plan, actor, 'plan.create', input.reason) })
    if (!ok) throw appError('PLAN_CONFLICT')
    return input.start ? this.start(env, plan.id, input.reason, actor) : plan
  }

  async start(env: string, id: string, reason: string | undefined, actor: Actor): Promise<Plan> {
    return this.change(env, id, actor, 'start', reason, async (p, at) => {
      if (p.status !== 'draft') throw appError('PLAN_STATE', p.status, 'start (only a draft starts)')
      const other = (await this.repo.started(env))[p.flag]
      if (other !== undefined && other !== p.id) throw appError('PLAN_ACTIVE', p.flag, other)
      const flag = await this.flags.getConfig(env, p.flag)
      p.status = 'running'
      p.startedAt = at
      p.startedBy = { name: actor.name, tokenId: actor.tokenId }
      p.lastVersion = flag.version
      p.baseline = configOf(flag)
      p.nextAt = p.startAt && p.startAt > at ? p.startAt : at
      return { noneStarted: true }
    })
  }

  pause(env: string, id: string, reason: string | undefined, actor: Actor): Promise<Plan> {
    return this.change(env, id, actor, 'pause', reason, async (p) => {
      if (p.status !== 'running' && p.status !== 'waiting') throw appError('PLAN_STATE', p.status, 'pause')
      p.status = 'paused'
      p.pausedReason = { code: 'PAUSED', message: reason ?? `paused by ${actor.name}` }
      return {}
    })
  }

  /**
   * Halts a running or waiting plan from outside (the Alertmanager webhook): it stays at its current step,
   * paused with code HALTED and `reason`, until someone resumes it. A plan already paused or finished is left
   * as it is (repeats are harmless): the answer says which.
   */
  async halt(env: string, id: string, reason: string, actor: Actor): Promise<{ plan: Plan; halted: boolean }> {
    try {
      const plan = await this.change(env, id, actor, 'halt', reason, async (p) => {
        if (p.status !== 'running' && p.status !== 'waiting') throw appError('PLAN_STATE', p.status, 'halt')
        p.status = 'paused'
        p.pausedReason = { code: 'HALTED', message: reason }
        return {}
      })
      return { plan, halted: true }
    } catch (e) {
      if (e instanceof AppError && e.code === 'PLAN_STATE') return { plan: await this.get(env, id), halted: false }
      throw e
    }
  }

  /** Halts the started plan of `flag` in `env`, if it has one (see {@link halt}); null when it has none. */
  async haltFlag(
    env: string,
    flag: string,
    reason: string,
    actor: Actor,
  ): Promise<{ plan: Plan; halted: boolean } | null> {
    const id = (await this.repo.started(env))[flag]
    return id === undefined ? null : this.halt(env, id, reason, actor)
  }

  resume(env: string, id: string, reason: string | undefined, actor: Actor): Promise<Plan> {
    return this.change(env, id, actor, 'resume', reason, async (p, at) => {
      if (p.status !== 'paused') throw appError('PLAN_STATE', p.status, 'resume (only a paused plan resumes)')
      // A person's edit paused it: resuming accepts the configuration as it is now as the plan's base.
      const flag = await this.flags.getConfig(env, p.flag)
      p.lastVersion = flag.version
      p.status = 'running'
      delete p.pausedReason
      if (p.nextAt === null || p.nextAt < at) p.nextAt = at
      return {}
    })
  }

  approve(env: string, id: string, reason: string | undefined, actor: Actor): Promise<Plan> {
    return this.change(env, id, actor, 'approve', reason, async (p, at) => {
      if (p.status !== 'waiting' && p.status !== 'running')
        throw appError('PLAN_STATE', p.status, 'be approved (only a running or waiting plan)')
      const step = p.waitingFor?.step ?? p.current + 1
      if (p.steps[step]?.pointOfNoReturn && !reason) throw appError('REASON_REQUIRED', 'pass a point of no return')
      p.approval = { step, by: actor.name, at, ...(reason && { reason }) }
      p.status = 'running'
      p.nextAt = at
      delete p.waitingFor
      return {}
    })
  }

  abort(env: string, id: string, reason: string | undefined, actor: Actor): Promise<Plan> {
    return this.change(env, id, actor, 'abort', reason, async (p) => {
      if (p.status === 'completed' || p.status === 'aborted') throw appError('PLAN_STATE', p.status, 'abort')
      p.status = 'aborted'
      p.nextAt = null
      delete p.waitingFor
      return {}
    })
  }

  // ---- the runner ----

  /** Starts this instance's timer (PLAN_TICK_MS; none when 0). */
  run(): void {
    if (this.opts.tickMs <= 0 || this.timer) return
    // One warning per outage (Redis unreachable), not one per tick.
    let failing = false
    this.timer = setInterval(() => {
      this.tick().then(
        () => {
          failing = false
        },
        (err: unknown) => {
          if (this.opts.storeOutage?.(err)) return
          if (!failing) this.opts.log?.warn({ err }, 'release plan runner: tick failed (retried every PLAN_TICK_MS)')
          failing = true
        },
      )
    }, this.opts.tickMs)
    this.timer.unref()
  }

  /** Stops the timer, waits for the tick under way and gives this instance's leases up (others take over at once). */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    await this.ticking?.catch(() => {})
    for (const { env, id } of this.held.values()) await this.repo.release(env, id, this.instance).catch(() => {})
    this.held.clear()
  }

  /** One pass over every started plan of every environment: due steps, guards, edits. Never runs twice at once. */
  tick(): Promise<void> {
    this.ticking ??= (async () => {
      for (const env of await this.deps.store.environments.keys()) {
        for (const id of Object.values(await this.repo.started(env))) {
          try {
            await this.runOne(env, id)
          } catch (err) {
            this.opts.log?.warn({ err, env, plan: id }, 'release plan runner: plan not processed')
          }
        }
      }
    })().finally(() => {
      this.ticking = null
    })
    return this.ticking
  }

  /** Processes one plan if this instance holds (or can take) its lease. */
  private async runOne(env: string, id: string): Promise<void> {
    const got = await this.repo.get(env, id)
    const key = `${env}\u0000${id}`
    if (!got || (got.plan.status !== 'running' && got.plan.status !== 'waiting')) {
      if (this.held.delete(key)) await this.repo.release(env, id, this.instance)
      return
    }
    const lease = await this.repo.claim(env, id, this.instance, this.opts.leaseClock?.() ?? null, this.opts.leaseMs)
    if (!lease) return
    this.held.set(key, { env, id })
    await this.advance(got.plan, got.raw, lease)
  }

  private async advance(plan: Plan, raw: string, lease: Lease): Promise<void> {
    const now = this.deps.now()
    const at = now.toISOString()
    // One advance writes the plan at most once: its next revision.
    const next = { ...structuredClone(plan), revision: plan.revision + 1 }
    const env = plan.environment
    const flag = await this.deps.store.flags.get(env, plan.flag)
    if (!flag) return this.stop(next, raw, lease, 'FLAG_MISSING', `flag "${plan.flag}" no longer exists`)
    // A change of the definition alone (variations, knob bounds, clientSide: `flag.definition` writes every
    // environment's copy) is no edit of this environment's configuration, so the plan goes on from it; the step
    // it writes next is validated against the new definition (STEP_INVALID when it no longer fits).
    const definitionOnly = flag.version !== plan.lastVersion && (await this.definitionOnlySince(plan, flag.version))
    if (definitionOnly) next.lastVersion = flag.version
    else if (flag.version !== plan.lastVersion) {
      const last = (await this.flags.history(env, plan.flag, { limit: 1 })).items[0]
      const by = last ? ` by ${last.actor} (${last.action})` : ''
      return this.stop(
        next,
        raw,
        lease,
        'FLAG_CHANGED',
        `the flag changed to version ${flag.version}${by} since the plan's last write (version ${plan.lastVersion}); a plan never overwrites it: resume to continue from the configuration as it is`,
      )
    }
    if (plan.guards.length > 0) {
      next.readings = await this.read(plan, now)
      const unknown = next.readings.find((r) => r.value === null)
      if (unknown) {
        const g = plan.guards[unknown.guard] as Guard
        return this.stop(
          next,
          raw,
          lease,
          'GUARD_UNKNOWN',
          `guard ${guardName(g, unknown.guard)} could not be evaluated: ${unknown.error}; the plan holds at ${this.where(plan)} and never advances without a reading`,
        )
      }
      const fired = next.readings.find((r) => {
        const g = plan.guards[r.guard] as Guard
        return r.breached && now.getTime() - Date.parse(r.breachSince ?? at) >= durationMs(g.for ?? '0s')
      })
      if (fired) return this.act(next, raw, lease, fired, flag)
      // A breach not yet held for its `for`: no step happens meanwhile.
      if (next.readings.some((r) => r.breached)) return this.save(next, raw, lease)
    }
    if (next.status === 'running' && next.nextAt !== null && now.getTime() >= Date.parse(next.nextAt)) {
      const step = next.current + 1
      if (needsApproval(next, step) && next.approval?.step !== step) {
        next.status = 'waiting'
        next.nextAt = null
        next.waitingFor = {
          step,
          ...(next.steps[step]?.pointOfNoReturn && { pointOfNoReturn: next.steps[step]?.pointOfNoReturn }),
        }
        this.event(next, { at, action: 'wait', step })
        return this.save(next, raw, lease)
      }
      if (step >= next.steps.length) {
        next.status = 'completed'
        next.nextAt = null
        delete next.approval
        this.event(next, { at, action: 'complete' })
        return this.save(next, raw, lease, this.auditOf(next, this.planActor(next), 'plan.complete'))
      }
      return this.applyStep(next, raw, lease, flag, step)
    }
    if (plan.guards.length > 0 || definitionOnly) return this.save(next, raw, lease)
  }

  /** Were all the flag's writes since the plan's last one definition changes (and few enough to read)? */
  private async definitionOnlySince(plan: Plan, version: number): Promise<boolean> {
    const from = plan.lastVersion
    if (from === null || version <= from || version - from > DEFINITION_WRITES_READ) return false
    const versions = Array.from({ length: version - from }, (_, i) => from + 1 + i)
    const entries = await this.deps.store.flags.historyEntries(plan.environment, plan.flag, versions)
    // A trimmed history (HISTORY_MAX_VERSIONS) cannot tell: the plan pauses, as for any edit.
    return entries.length === versions.length && entries.every((e) => e.action === 'flag.definition')
  }

  private async applyStep(next: Plan, raw: string, lease: Lease, flag: RulesetFlag, k: number): Promise<void> {
    const at = this.deps.now().toISOString()
    const step = next.steps[k] as PlanStep
    const version = flag.version + 1
    const approval = next.approval
    next.current = k
    next.lastVersion = version
    delete next.approval
    this.event(next, { at, action: 'step', step: k, version })
    const last = k === next.steps.length - 1
    if (step.hold === 'approval') {
      next.status = 'waiting'
      next.nextAt = null
      next.waitingFor = { step: k + 1 }
      this.event(next, { at, action: 'wait', step: k + 1 })
    } else if (last && step.hold === undefined) {
      next.status = 'completed'
      next.nextAt = null
      this.event(next, { at, action: 'complete' })
    } else next.nextAt = new Date(Date.parse(at) + durationMs(step.hold ?? '0s')).toISOString()
    let passed: PassedPoint | undefined
    if (step.pointOfNoReturn) {
      const point: PassedPoint = {
        plan: next.id,
        step: k,
        note: step.pointOfNoReturn.note,
        ...(step.pointOfNoReturn.runbook !== undefined && { runbook: step.pointOfNoReturn.runbook }),
        afterwards: step.pointOfNoReturn.afterwards ?? 'halt',
        passedAt: at,
        approvedBy: approval?.by ?? '',
        reason: approval?.reason ?? '',
        version,
      }
      next.passedPointOfNoReturn = point
      passed = point
    }
    await this.write(next, raw, lease, flag, (cur) => applyStep(cur, step), {
      action: 'plan.step',
      reason: `release plan "${next.name}": ${stepName(next, k)}${step.pointOfNoReturn ? ', past the point of no return' : ''}`,
      details: {
        plan: next.id,
        step: k,
        instance: this.instance,
        startedBy: next.startedBy?.name,
        ...(approval && { approvedBy: approval.by }),
      },
      ...(passed && { passed }),
      gated: true,
    })
  }

  /** A guard breach held for its `for`: halt, roll back or kill, as the guard says, past a point of no return as its policy says. */
  private async act(next: Plan, raw: string, lease: Lease, r: GuardReading, flag: RulesetFlag): Promise<void> {
    const g = next.guards[r.guard] as Guard
    const at = this.deps.now().toISOString()
    const what = `guard ${guardName(g, r.guard)}: ${r.value} ${g.comparison} ${g.threshold}${g.for ? ` for ${g.for}` : ''}`
    let action = g.action
    let note = ''
    const passed = await this.repo.passed(next.environment, next.flag)
    if (passed && action !== 'halt' && !(action === 'kill' && passed.afterwards === 'kill')) {
      note = `; ${action} not done: the flag passed a point of no return (${passed.note}) at ${passed.passedAt}, so automated actions halt`
      action = 'halt'
    }
    if (action === 'halt')
      return this.stop(next, raw, lease, 'GUARD_BREACHED', `${what}: halted at ${this.where(next)}${note}`)
    next.status = 'paused'
    next.lastVersion = flag.version + 1
    if (action === 'kill') {
      next.pausedReason = {
        code: 'GUARD_BREACHED',
        message: `${what}: flag killed, plan paused at ${this.where(next)}`,
      }
      this.event(next, { at, action: 'kill', version: flag.version + 1, reason: next.pausedReason.message })
      return this.write(next, raw, lease, flag, (cur) => ({ ...cur, on: false }), {
        action: 'flag.kill',
        reason: next.pausedReason.message,
        details: { plan: next.id, guard: r.guard, value: r.value, instance: this.instance },
        validate: false,
      })
    }
    const back = next.current - 1
    const target = back >= 0 ? (next.steps[back] as PlanStep) : null
    const baseline = next.baseline as ConfigFields | undefined
    next.current = back
    next.pausedReason = {
      code: 'GUARD_BREACHED',
      message: `${what}: rolled back to ${back >= 0 ? stepName(next, back) : 'the configuration before the plan'}, plan paused`,
    }
    this.event(next, {
      at,
      action: 'rollback',
      ...(back >= 0 && { step: back }),
      version: flag.version + 1,
      reason: next.pausedReason.message,
    })
    return this.write(next, raw, lease, flag, (cur) => (target ? applyStep(cur, target) : { ...cur, ...baseline }), {
      action: 'plan.rollback',
      reason: next.pausedReason.message,
      details: { plan: next.id, guard: r.guard, value: r.value, instance: this.instance, toStep: back },
    })
  }

  /** A flag write of the plan with the plan's new state, or (when the flag moved meanwhile) a pause instead. */
  private async write(
    next: Plan,
    raw: string,
    lease: Lease,
    flag: RulesetFlag,
    change: (cur: RulesetFlag) => RulesetFlag,
    w: {
      action: string
      reason: string
      details: unknown
      passed?: PassedPoint
      validate?: boolean
      /** Through the facts gate (a step; a kill or a guard's rollback takes exposure away and never waits). */
      gated?: boolean
    },
  ): Promise<void> {
    // The plan as read and the lease are checked in the flag write's atomic step (the fence).
    const plan = this.repo.withFlagWrite(next, { raw, lease, ...(w.passed && { passed: w.passed }) })
    try {
      await this.flags.planWrite(
        next.environment,
        next.flag,
        flag.version,
        change,
        { action: w.action, reason: w.reason, details: w.details },
        this.planActor(next),
        plan,
        w.validate ?? true,
        w.gated === true,
      )
    } catch (e) {
      // Another instance or request moved the plan: it is theirs to continue.
      if (e instanceof AppError && e.code === 'PLAN_CONFLICT') return
      // The plan as it was before this write, at its next revision: the pause is a change of the plan.
      const read = JSON.parse(raw) as Plan
      const plan = { ...read, revision: read.revision + 1 }
      if (e instanceof AppError && e.code === 'VERSION_CONFLICT')
        return this.stop(
          plan,
          raw,
          lease,
          'FLAG_CHANGED',
          'the flag changed while the plan wrote it; a plan never overwrites it: resume to continue from the configuration as it is',
        )
      if (e instanceof AppError && e.code === 'FACTS_UNMET') {
        // No override for a plan: record the fact and resume, or a person writes the flag with force.
        const unmet = (e.details as { unmet: UnmetRequirement[] }).unmet
        return this.stop(
          plan,
          raw,
          lease,
          'FACTS_UNMET',
          `the next step is refused: ${e.message.replace(/ \(force with a reason to override\)$/, '')}; record the fact and resume, or write the flag by hand with force`,
          unmet,
        )
      }
      if (e instanceof AppError && e.code === 'VALIDATION_FAILED')
        return this.stop(plan, raw, lease, 'STEP_INVALID', `the next write is no longer valid: ${e.message}`)
      throw e
    }
  }

  /** Pauses the plan with a reason (its own decision: audited). */
  private async stop(
    next: Plan,
    raw: string,
    lease: Lease,
    code: PauseCode,
    message: string,
    unmet?: UnmetRequirement[],
  ): Promise<void> {
    next.status = 'paused'
    next.pausedReason = { code, message, ...(unmet && { unmet }) }
    const at = this.deps.now().toISOString()
    this.event(next, { at, action: 'halt', reason: message })
    this.opts.log?.warn({ env: next.environment, plan: next.id, code }, `release plan halted: ${message}`)
    await this.save(
      next,
      raw,
      lease,
      this.auditOf(next, this.planActor(next), 'plan.halt', message, { code, ...(unmet && { unmet }) }),
    )
  }

  private async save(next: Plan, raw: string, lease: Lease, audit?: AuditRecord): Promise<void> {
    await this.repo.write(next, { raw, lease, ...(audit && { audit }) })
  }

  private async read(plan: Plan, now: Date): Promise<GuardReading[]> {
    const at = now.toISOString()
    const url = this.opts.prometheusUrl
    return Promise.all(
      plan.guards.map(async (g, i): Promise<GuardReading> => {
        const r = url
          ? await queryNumber(url, g.query, this.opts.prometheusTimeoutMs)
          : { error: 'PROMETHEUS_URL is not set' }
        if ('error' in r) return { guard: i, at, value: null, error: r.error, breached: false }
        const breached = compare(r.value, g.comparison, g.threshold)
        const prev = plan.readings.find((x) => x.guard === i)
        return {
          guard: i,
          at,
          value: r.value,
          breached,
          ...(breached && { breachSince: prev?.breached && prev.breachSince ? prev.breachSince : at }),
        }
      }),
    )
  }

  // ---- internals ----

  /** A person's (or an alert's) change of a plan: read, check, change, write, with retries on concurrent changes. */
  private async change(
    env: string,
    id: string,
    actor: Actor,
    action: string,
    reason: string | undefined,
    fn: (p: Plan, at: string) => Promise<Pick<PlanWrite, 'noneStarted'>>,
  ): Promise<Plan> {
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const got = await this.repo.get(env, id)
      if (!got) {
        await this.deps.store.requireEnv(env)
        throw appError('PLAN_NOT_FOUND', id)
      }
      const at = this.deps.now().toISOString()
      const next = structuredClone(got.plan)
      const expects = await fn(next, at)
      next.revision++
      const step = action === 'approve' ? next.approval?.step : undefined
      this.event(next, {
        at,
        actor: actor.name,
        action,
        ...(step !== undefined && { step }),
        ...(reason && { reason }),
      })
      const details =
        step !== undefined && next.steps[step]?.pointOfNoReturn
          ? { pointOfNoReturn: next.steps[step]?.pointOfNoReturn, step }
          : step !== undefined
            ? { step }
            : undefined
      const audit = this.auditOf(next, actor, `plan.${action}`, reason, details)
      if (await this.repo.write(next, { raw: got.raw, audit, ...expects })) {
        // Started, resumed or approved: this instance takes the next step at once if it is due (and the lease free).
        if (next.status === 'running')
          await this.runOne(env, id).catch((err: unknown) =>
            this.opts.log?.warn({ err }, 'release plan: first step deferred'),
          )
        return (await this.repo.get(env, id))?.plan ?? next
      }
    }
    throw appError('WRITE_CONFLICT', `release plan ${id}`)
  }

  private where(p: Plan): string {
    return p.current < 0 ? 'no step applied yet' : stepName(p, p.current)
  }

  private event(p: Plan, e: Omit<Plan['history'][number], 'actor'> & { actor?: string }): void {
    p.history.push({ actor: `plan:${p.id}`, ...e })
    if (p.history.length > HISTORY_KEPT) p.history.splice(0, p.history.length - HISTORY_KEPT)
  }

  /** The plan writes in its own name, on behalf of the token that started it. */
  private planActor(p: Plan): Actor {
    return { name: `plan:${p.id}`, tokenId: p.startedBy?.tokenId ?? p.createdBy.tokenId }
  }

  private auditOf(p: Plan, actor: Actor, action: string, reason?: string, details?: object): AuditRecord {
    return auditRecord(
      actor,
      this.deps.now().toISOString(),
      action,
      p.environment,
      { type: 'flag', key: p.flag },
      {
        ...(reason && { reason }),
        details: { plan: p.id, ...(p.startedBy && { startedBy: p.startedBy.name }), ...details },
      },
    )
  }
}
