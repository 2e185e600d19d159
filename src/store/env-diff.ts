import { envKeys } from './keys.js'
import type { StoreContext } from './context.js'

/** Ids of one side of a member list missing from the other side, as far as a bounded scan saw. */
export interface OneSided {
  /** Missing ids found (the first `sample` of them). */
  sample: string[]
  /** How many were found missing; exact when `complete`. */
  found: number
  /** The scan covered the whole list (else `found` is a lower bound). */
  complete: boolean
}

/** Members scanned per side and list by one diff: bounded work whatever the size of the segments (1,000,000 and more). */
export const MEMBER_SCAN_BUDGET = 20_000
const BATCH = 1000

/**
 * The reads of an environment diff that services cannot express with other repositories: the members of
 * a segment list in one environment that another environment's list lacks. The two lists live in
 * different hash slots (each environment has its own tag), so no SDIFF: SSCAN one side in batches and ask
 * the other with SMISMEMBER, up to MEMBER_SCAN_BUDGET ids — a sample, and an exact answer for lists that
 * fit in the budget.
 */
export class EnvDiffRepository {
  constructor(private readonly ctx: StoreContext) {}

  async onlyIn(
    env: string,
    other: string,
    segment: string,
    list: 'included' | 'excluded',
    sample: number,
    budget = MEMBER_SCAN_BUDGET,
  ): Promise<OneSided> {
    const pick = (e: string) => (list === 'included' ? envKeys(e).included(segment) : envKeys(e).excluded(segment))
    const from = pick(env)
    const to = pick(other)
    const out: OneSided = { sample: [], found: 0, complete: false }
    let cursor = '0'
    let scanned = 0
    do {
      const [next, ids] = await this.ctx.redis.sscan(from, cursor, 'COUNT', BATCH)
      cursor = next
      scanned += ids.length
      if (ids.length > 0) {
        const there = (await this.ctx.redis.smismember(to, ...ids)) as number[]
        ids.forEach((id, i) => {
          if (there[i] === 1) return
          out.found++
          if (out.sample.length < sample) out.sample.push(id)
        })
      }
    } while (cursor !== '0' && scanned < budget)
    out.complete = cursor === '0'
    return out
  }
}
