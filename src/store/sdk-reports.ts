import type { StoreContext } from './context.js'
import { envKeys } from './keys.js'

/** Server SDKs (sdk-server tokens) and browser SDKs (sdk-client tokens) report into separate hashes. */
export type ReportKind = 'server' | 'client'

/** HSET only when the field exists or the hash is under the cap: the cap holds under concurrent reports. */
const TRACK = `if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 or redis.call('HLEN', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0`

/**
 * SDK reports: the latest one per SDK instance, as JSON text (the service
 * parses it: stale or unreadable reports are its call). Written directly, not
 * through the atomic script: a report is a measurement that each new report
 * replaces, with no history, audit record or change-log entry to keep with it.
 */
export class SdkReportRepository {
  constructor(private readonly ctx: StoreContext) {}

  private key(env: string, kind: ReportKind): string {
    const k = envKeys(env)
    return kind === 'server' ? k.sdkReports : k.sdkClientReports
  }

  get(env: string, kind: ReportKind, sdkId: string): Promise<string | null> {
    return this.ctx.redis.hget(this.key(env, kind), sdkId)
  }

  /** Every report of one kind, by sdkId. */
  all(env: string, kind: ReportKind): Promise<Record<string, string>> {
    return this.ctx.redis.hgetall(this.key(env, kind))
  }

  /** Stores the report unless `cap` instances are tracked already and `sdkId` is not one of them; true when stored. */
  async track(env: string, kind: ReportKind, sdkId: string, report: string, cap: number): Promise<boolean> {
    return ((await this.ctx.redis.eval(TRACK, 1, this.key(env, kind), sdkId, report, cap)) as number) === 1
  }

  async forget(env: string, kind: ReportKind, sdkIds: string[]): Promise<void> {
    const key = this.key(env, kind)
    for (let i = 0; i < sdkIds.length; i += 1000) await this.ctx.redis.hdel(key, ...sdkIds.slice(i, i + 1000))
  }
}
