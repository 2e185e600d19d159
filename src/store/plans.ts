import type { RedisClient } from '../redis/connect.js'
import type { PassedPoint, Plan } from '../schemas/plan.js'
import type { Check, Command } from './atomic.js'
import { envKeys, globalKeys } from './keys.js'
import type { AuditRecord, Store } from './store.js'

/**
 * Release plans in Redis. Every key carries the environment's hash tag, so a
 * plan's own state, its lease and the flag write of a step go into one atomic
 * script (src/store/atomic.ts) on a single node and on Redis Cluster alike.
 */
export function planKeys(env: string) {
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
// greater fencing token, so the dead holder's late writes fail their lease check.
const CLAIM = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local owner, token, untilMs = string.match(cur, '^(.*)|(%d+)|(%d+)$')
  if owner == ARGV[2] then
    local v = owner .. '|' .. token .. '|' .. ARGV[4]
    redis.call('HSET', KEYS[1], ARGV[1], v)
    return v
  end
  if untilMs and tonumber(untilMs) > tonumber(ARGV[3]) then return false end
end
local token = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
local v = ARGV[2] .. '|' .. token .. '|' .. ARGV[4]
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

export class PlanStore {
  private readonly redis: RedisClient

  constructor(private readonly store: Store) {
    this.redis = store.redis
    this.redis.defineCommand('syPlanClaim', { lua: CLAIM })
    this.redis.defineCommand('syPlanRelease', { lua: RELEASE })
  }

  /** A plan and its stored text (the compare-and-set value of its next write). */
  async get(env: string, id: string): Promise<{ plan: Plan; raw: string } | null> {
    const raw = await this.redis.hget(planKeys(env).plans, id)
    return raw === null ? null : { plan: JSON.parse(raw) as Plan, raw }
  }

  async list(env: string): Promise<Plan[]> {
    const all = await this.redis.hvals(planKeys(env).plans)
    return all.map((r) => JSON.parse(r) as Plan)
  }

  /** The started plans of `env` (running, waiting or paused): flag key → plan id. */
  started(env: string): Promise<Record<string, string>> {
    return this.redis.hgetall(planKeys(env).started)
  }

  /** No plan of `flag` is started (checked when one starts, so two cannot). */
  noneStarted(env: string, flag: string): Check {
    return { key: planKeys(env).started, field: flag, op: 'absent' }
  }

  /** Every environment (where runners look for plans). */
  environments(): Promise<string[]> {
    return this.redis.hkeys(globalKeys.envs)
  }

  async passed(env: string, flag: string): Promise<PassedPoint | null> {
    const raw = await this.redis.hget(planKeys(env).passed, flag)
    return raw === null ? null : (JSON.parse(raw) as PassedPoint)
  }

  // ---- write pieces (no I/O): checks and commands that go into one atomic step, with a flag write or alone ----

  /** The plan is still what was read (nobody changed it since). */
  unchanged(env: string, id: string, raw: string): Check {
    return { key: planKeys(env).plans, field: id, op: 'eq', value: raw }
  }

  /** The lease is still the caller's (the fencing check). */
  held(lease: Lease): Check {
    return { key: planKeys(lease.env).leases, field: lease.planId, op: 'eq', value: lease.value }
  }

  /** Stores the plan; finished plans leave the runners' index and give their lease up. */
  save(plan: Plan): Command[] {
    const k = planKeys(plan.environment)
    const out: Command[] = [['HSET', k.plans, plan.id, JSON.stringify(plan)]]
    // A draft never entered the index (another plan of its flag may be the started one).
    if (TERMINAL.has(plan.status)) {
      if (plan.startedAt !== undefined) out.push(['HDEL', k.started, plan.flag])
      out.push(['HDEL', k.leases, plan.id])
    } else if (plan.status !== 'draft') out.push(['HSET', k.started, plan.flag, plan.id])
    return out
  }

  /** An audit record of a plan decision, in the environment's audit stream. */
  audit(env: string, record: AuditRecord): Command {
    return this.store.auditCommand(envKeys(env).audit, record)
  }

  markPassed(env: string, flag: string, point: PassedPoint): Command {
    return ['HSET', planKeys(env).passed, flag, JSON.stringify(point)]
  }

  /** Writes a plan change alone (no flag write): false when the plan (or the lease) changed meanwhile. */
  async write(
    plan: Plan,
    expected: { raw: string | null; lease?: Lease; checks?: Check[] },
    extra: Command[] = [],
  ): Promise<boolean> {
    const k = planKeys(plan.environment)
    const checks: Check[] = [
      expected.raw === null
        ? { key: k.plans, field: plan.id, op: 'absent' }
        : this.unchanged(plan.environment, plan.id, expected.raw),
      ...(expected.lease ? [this.held(expected.lease)] : []),
      ...(expected.checks ?? []),
    ]
    const r = await this.store.atomic({ checks, commands: [...this.save(plan), ...extra] })
    return r.ok
  }

  /** Claims or renews the lease of one plan until `nowMs + leaseMs`; null while another live instance holds it. */
  async claim(env: string, planId: string, owner: string, nowMs: number, leaseMs: number): Promise<Lease | null> {
    const k = planKeys(env)
    const untilMs = nowMs + leaseMs
    const v = await this.redis.syPlanClaim(2, k.leases, k.fence, planId, owner, String(nowMs), String(untilMs))
    if (v === null) return null
    const token = Number(v.split('|')[1])
    return { env, planId, value: v, token, untilMs }
  }

  async release(env: string, planId: string, owner: string): Promise<void> {
    await this.redis.syPlanRelease(1, planKeys(env).leases, planId, owner)
  }
}
