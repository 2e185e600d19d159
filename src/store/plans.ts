import type { AuditRecord } from '../schemas/audit.js'
import type { PassedPoint, Plan } from '../schemas/plan.js'
import type { Check, Command } from './atomic.js'
import { auditCommand } from './audit.js'
import type { StoreContext } from './context.js'
import { WriteExtra } from './flags.js'

/**
 * Release plans in Redis. Every key carries the environment's hash tag, so a
 * plan's own state, its lease and the flag write of a step go into one atomic
 * script (src/store/atomic.ts) on a single node and on Redis Cluster alike.
 */
function planKeys(env: string) {
  const p = `sy:{${env}}`
  return {
    /** HASH plan id → Plan JSON (every plan, finished ones too) */
    plans: `${p}:plans`,
    /** HASH flag key → id of its started plan (running, waiting or paused): one per flag, what the runners run */
    started: `${p}:plans:started`,
    /** HASH plan id → lease `owner|token|untilMs` of the instance running it */
    leases: `${p}:plans:lease`,
    /** HASH plan id → last fencing token handed out (HINCRBY: every new claim gets a greater one) */
    fence: `${p}:plans:fence`,
    /** HASH flag key → PassedPoint JSON: the last point of no return the flag passed */
    passed: `${p}:pnr`,
  }
}

/** A claim on running one plan: `value` is compared by every write the holder makes (the fence). */
export interface Lease {
  env: string
  planId: string
  value: string
  token: number
  untilMs: number
}

// Claims (or renews) a plan's lease. A live lease of another owner refuses; an expired one is retaken with a new,
// greater fencing token, so the dead holder's late writes fail their lease check. "Now" is Redis's own clock
// (TIME, read inside the script, so every instance judges every lease by one clock whatever their own clocks
// say), unless the caller passes one (ARGV[3], tests with an injected clock). Scripts replicate by their effects
// (Redis ≥ 5 by default, always from 7), so TIME before a write is allowed.
const CLAIM = `
local now
if ARGV[3] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[3])
end
local untilMs = string.format('%.0f', now + tonumber(ARGV[4]))
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local owner, token, curUntil = string.match(cur, '^(.*)|(%d+)|(%d+)$')
  if owner == ARGV[2] then
    local v = owner .. '|' .. token .. '|' .. untilMs
    redis.call('HSET', KEYS[1], ARGV[1], v)
    return v
  end
  if curUntil and tonumber(curUntil) > now then return false end
end
local token = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
local v = ARGV[2] .. '|' .. token .. '|' .. untilMs
redis.call('HSET', KEYS[1], ARGV[1], v)
return v
`

// Gives a lease up, only when the caller still holds it.
const RELEASE = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and string.sub(cur, 1, string.len(ARGV[2]) + 1) == ARGV[2] .. '|' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
`

declare module 'ioredis' {
  interface RedisCommander<Context> {
    syPlanClaim(numKeys: number, ...args: string[]): Promise<string | null>
    syPlanRelease(numKeys: number, ...args: string[]): Promise<number>
  }
}

const TERMINAL = new Set<Plan['status']>(['completed', 'aborted'])

/**
 * What a write of a plan expects and adds, in the plan's own words: the
 * repository turns it into the checks and commands of one atomic step.
 */
export interface PlanWrite {
  /** The plan's stored text as read: the write fails when it changed since (null: the plan must not exist yet). */
  raw: string | null
  /** The lease the writer must still hold (the fencing check). */
  lease?: Lease
  /** No plan of the plan's flag may be started (checked when one starts, so two cannot). */
  noneStarted?: boolean
  /** An audit record of a plan decision, in the environment's audit stream. */
  audit?: AuditRecord
  /** The point of no return the flag passes with this write (shown with the flag from then on). */
  passed?: PassedPoint
}

/**
 * Release plans in Redis: the plans, the index of started ones, the leases
 * and fencing tokens of the instances running them, and the points of no
 * return each flag passed.
 */
export class PlanRepository {
  constructor(private readonly ctx: StoreContext) {
    ctx.redis.defineCommand('syPlanClaim', { lua: CLAIM })
    ctx.redis.defineCommand('syPlanRelease', { lua: RELEASE })
  }

  /** A plan and its stored text (the compare-and-set value of its next write). */
  async get(env: string, id: string): Promise<{ plan: Plan; raw: string } | null> {
    const raw = await this.ctx.redis.hget(planKeys(env).plans, id)
    return raw === null ? null : { plan: JSON.parse(raw) as Plan, raw }
  }

  async list(env: string): Promise<Plan[]> {
    const all = await this.ctx.redis.hvals(planKeys(env).plans)
    return all.map((r) => JSON.parse(r) as Plan)
  }

  /** The started plans of `env` (running, waiting or paused): flag key → plan id. */
  started(env: string): Promise<Record<string, string>> {
    return this.ctx.redis.hgetall(planKeys(env).started)
  }

  passed(env: string, flag: string): Promise<PassedPoint | null> {
    return this.ctx.hgetJson<PassedPoint>(planKeys(env).passed, flag)
  }

  /** Every key of `env`'s plans (purged with the environment: src/store/environments.ts). */
  keysOf(env: string): string[] {
    return Object.values(planKeys(env))
  }

  /** Writes a plan change alone (no flag write): false when the plan (or the lease, or the started index) changed meanwhile. */
  async write(plan: Plan, w: PlanWrite): Promise<boolean> {
    const { checks, commands } = this.#parts(plan, w)
    const r = await this.ctx.atomic({ checks, commands })
    return r.ok
  }

  /**
   * The same plan change, to be made in one atomic step with a flag write:
   * the argument FlagRepository.write takes (`extra`). Its checks failing
   * means the plan moved meanwhile (another instance or request) and nothing
   * was written.
   */
  withFlagWrite(plan: Plan, w: PlanWrite): WriteExtra {
    const { checks, commands } = this.#parts(plan, w)
    return new WriteExtra(checks, commands)
  }

  /**
   * Claims or renews the lease of one plan until now + `leaseMs`; null while another live instance holds it.
   * `nowMs` null: now is Redis's clock (TIME), the same for every instance; a number: the caller's (tests).
   */
  async claim(
    env: string,
    planId: string,
    owner: string,
    nowMs: number | null,
    leaseMs: number,
  ): Promise<Lease | null> {
    const k = planKeys(env)
    const now = nowMs === null ? '' : String(nowMs)
    const v = await this.ctx.redis.syPlanClaim(2, k.leases, k.fence, planId, owner, now, String(leaseMs))
    if (v === null) return null
    const [, token, untilMs] = v.split('|').slice(-3)
    return { env, planId, value: v, token: Number(token), untilMs: Number(untilMs) }
  }

  async release(env: string, planId: string, owner: string): Promise<void> {
    await this.ctx.redis.syPlanRelease(1, planKeys(env).leases, planId, owner)
  }

  #parts(plan: Plan, w: PlanWrite): { checks: Check[]; commands: Command[] } {
    const env = plan.environment
    const k = planKeys(env)
    const checks: Check[] = [
      w.raw === null
        ? { key: k.plans, field: plan.id, op: 'absent' }
        : { key: k.plans, field: plan.id, op: 'eq', value: w.raw },
    ]
    if (w.lease) checks.push({ key: k.leases, field: w.lease.planId, op: 'eq', value: w.lease.value })
    if (w.noneStarted) checks.push({ key: k.started, field: plan.flag, op: 'absent' })
    const commands: Command[] = [['HSET', k.plans, plan.id, JSON.stringify(plan)]]
    // Finished plans leave the runners' index and give their lease up; a draft never entered the index (another
    // plan of its flag may be the started one).
    if (TERMINAL.has(plan.status)) {
      if (plan.startedAt !== undefined) commands.push(['HDEL', k.started, plan.flag])
      commands.push(['HDEL', k.leases, plan.id])
    } else if (plan.status !== 'draft') commands.push(['HSET', k.started, plan.flag, plan.id])
    if (w.passed) commands.push(['HSET', k.passed, plan.flag, JSON.stringify(w.passed)])
    if (w.audit) commands.push(auditCommand(this.ctx, env, w.audit))
    return { checks, commands }
  }
}
