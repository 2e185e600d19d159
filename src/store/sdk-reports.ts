import type { StoreContext } from './context.js'
import { envKeys } from './keys.js'

/** Server SDKs (sdk-server tokens) and browser SDKs (sdk-client tokens) report into separate hashes. */
export type ReportKind = 'server' | 'client'

/**
 * HSET only when the field exists or the hash is under the cap (the cap holds under concurrent reports),
 * and never over a report that names a later applied change: two reports of one SDK can be in flight at
 * once (its debounced report after one change and the next), and the older one may arrive or finish last.
 * Returns 1 stored, 0 not tracked (cap), 2 stale (an older applied id, or none, than the stored one).
 * ARGV: sdkId, report, cap, appliedId ('' for none).
 */
const TRACK = `local function id(s)
  if type(s) ~= 'string' then return nil end
  local ms, seq = string.match(s, '^(%d+)-(%d+)$')
  if not ms then return nil end
  return { tonumber(ms), tonumber(seq) }
end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local ok, prev = pcall(cjson.decode, cur)
  local held = ok and type(prev) == 'table' and id(prev.appliedId) or nil
  if held then
    local new = id(ARGV[4])
    if not new or held[1] > new[1] or (held[1] == new[1] and held[2] > new[2]) then return 2 end
  end
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
if redis.call('HLEN', KEYS[1]) < tonumber(ARGV[3]) then
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

  /**
   * Stores the report unless `cap` instances are tracked already and `sdkId` is not one of them
   * ('untracked'), or the stored report of `sdkId` names a later applied change than `appliedId` ('stale':
   * a report that finished after a newer one of the same SDK; what it would overwrite is fresher).
   */
  async track(
    env: string,
    kind: ReportKind,
    sdkId: string,
    report: string,
    appliedId: string | null,
    cap: number,
  ): Promise<'stored' | 'untracked' | 'stale'> {
    const r = (await this.ctx.redis.eval(TRACK, 1, this.key(env, kind), sdkId, report, cap, appliedId ?? '')) as number
    return r === 1 ? 'stored' : r === 2 ? 'stale' : 'untracked'
  }

  async forget(env: string, kind: ReportKind, sdkIds: string[]): Promise<void> {
    const key = this.key(env, kind)
    for (let i = 0; i < sdkIds.length; i += 1000) await this.ctx.redis.hdel(key, ...sdkIds.slice(i, i + 1000))
  }
}
