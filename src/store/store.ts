import { storeFull } from '../redis/check.js'
import type { RedisClient } from '../redis/connect.js'
import { appError } from '../errors.js'
import { AlertRepository } from './alerts.js'
import { AuditRepository } from './audit.js'
import { ChangeLog } from './changelog.js'
import { StoreContext } from './context.js'
import { EnvDiffRepository } from './env-diff.js'
import { EnvironmentRepository } from './environments.js'
import { FactRepository } from './facts.js'
import { FlagRepository } from './flags.js'
import { PlanRepository } from './plans.js'
import { SdkReportRepository } from './sdk-reports.js'
import { SegmentRepository } from './segments.js'
import { SnapshotReader } from './snapshot.js'
import { TokenRepository } from './tokens.js'

export type { AuditRecord } from '../schemas/audit.js'

/** Whether `s` (digits) fits Redis's unsigned 64-bit stream-id parts and SSCAN cursors; Redis refuses larger ones. */
export function isUint64(s: string): boolean {
  return /^\d{1,20}$/.test(s) && BigInt(s) < 2n ** 64n
}

/**
 * The boundary around Redis: the only code that knows Redis keys or issues
 * commands is in src/store/ (test/unit/imports.test.ts keeps it so). Services
 * and streams use one repository per resource; each write of state that needs
 * history, audit or a change-log entry is one atomic step (src/store/atomic.ts:
 * one Lua script with its checks). The few direct writes are inside the
 * repositories, each with the reason it is not atomic.
 */
export class Store {
  /** The client and limits every repository shares; never handed out. */
  readonly #ctx: StoreContext

  readonly flags: FlagRepository
  readonly segments: SegmentRepository
  readonly environments: EnvironmentRepository
  readonly tokens: TokenRepository
  readonly audit: AuditRepository
  readonly changelog: ChangeLog
  readonly snapshot: SnapshotReader
  readonly sdkReports: SdkReportRepository
  readonly facts: FactRepository
  readonly envDiff: EnvDiffRepository
  readonly plans: PlanRepository
  readonly alerts: AlertRepository

  constructor(
    redis: RedisClient,
    opts: { changelogMaxLen: number; auditMaxLen?: number; historyMaxVersions?: number },
  ) {
    this.#ctx = new StoreContext(redis, {
      changelogMaxLen: opts.changelogMaxLen,
      auditMaxLen: opts.auditMaxLen ?? 0,
      historyMaxVersions: opts.historyMaxVersions ?? 0,
    })
    this.changelog = new ChangeLog(this.#ctx)
    this.flags = new FlagRepository(this.#ctx)
    this.segments = new SegmentRepository(this.#ctx)
    this.facts = new FactRepository(this.#ctx)
    this.plans = new PlanRepository(this.#ctx)
    this.environments = new EnvironmentRepository(this.#ctx, this.changelog, this.plans, this.facts)
    this.tokens = new TokenRepository(this.#ctx)
    this.audit = new AuditRepository(this.#ctx)
    this.snapshot = new SnapshotReader(this.#ctx)
    this.sdkReports = new SdkReportRepository(this.#ctx)
    this.alerts = new AlertRepository(this.#ctx)
    this.envDiff = new EnvDiffRepository(this.#ctx)
  }

  // ---- the connection's health (readiness, outage detection) ----

  /** Whether the connection is up; a stalled Redis can still look connected (see ping). */
  get connected(): boolean {
    return this.#ctx.redis.status === 'ready'
  }

  /** Resolves when Redis answers a PING; rejects when it does not (within the command timeout). */
  async ping(): Promise<void> {
    await this.#ctx.redis.ping()
  }

  /** Redis is at maxmemory and refuses writes (src/redis/check.ts storeFull). */
  isFull(): Promise<boolean> {
    return storeFull(this.#ctx.redis)
  }

  envExists(env: string): Promise<boolean> {
    return this.environments.exists(env)
  }

  /** The one environment-exists check of routes and services: ENVIRONMENT_NOT_FOUND when it does not. */
  async requireEnv(env: string): Promise<void> {
    if (!(await this.envExists(env))) throw appError('ENVIRONMENT_NOT_FOUND', env)
  }

  /** Last id of an environment's change log ('0-0' when empty). */
  lastChangeId(env: string): Promise<string> {
    return this.changelog.lastId(env)
  }
}
