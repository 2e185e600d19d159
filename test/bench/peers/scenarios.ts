/**
 * The six scenarios of `npm run bench:peers`, in a neutral form every SDK's adapter translates into its
 * own data model, with seeded data (every process of one run, and every run, holds the same ids) and the
 * expected answers the correctness check compares with.
 *
 * The model is small on purpose: a boolean flag is off (false), or on with, in order, a list of keys
 * served true (the flag's whitelist), one rule (conditions ANDed, then true for `percent` % of the
 * matching contexts) and a fallthrough (true for `fallthrough` % of the rest). No flag has both a
 * rollout rule and a non-zero fallthrough, so SDKs whose strategies are ORed (Unleash) express the same
 * flag exactly.
 */
import { idGenerator } from '../../helpers/big-segment.js'

/** One user, in neutral form; each adapter turns it into its SDK's context shape before timing starts. */
export interface Person {
  key: string
  country: string
  plan: string
  email: string
  version: string
}

export type Condition =
  | { kind: 'in'; attribute: 'country' | 'plan'; values: string[] }
  | { kind: 'endsWith'; attribute: 'email'; suffix: string }
  | { kind: 'semVerGreaterThan'; attribute: 'version'; version: string }
  /** The context key is in the shared list (a segment, saved group or shared evaluator) named `list`. */
  | { kind: 'inList'; list: string }

export interface FlagSpec {
  key: string
  on: boolean
  /** Name of a list in `Model.lists` whose keys this flag serves true before any rule. */
  whitelist?: string
  rule?: { conditions: Condition[]; percent: number }
  /** Percentage of the contexts no whitelist or rule decided that get true (0: false, 100: true). */
  fallthrough: number
}

export interface Model {
  flags: FlagSpec[]
  /** Lists of context keys, by name; shared by flags (as segments) or a flag's own whitelist. */
  lists: Record<string, string[]>
}

export const SCENARIOS = ['boolean', 'whitelist-10k', 'rollout', 'all-flags', 'whitelist-1m', 'memory-1m'] as const
export type ScenarioName = (typeof SCENARIOS)[number]

export const TITLES: Record<ScenarioName, string> = {
  boolean: 'boolean flag',
  'whitelist-10k': '10,000-id whitelist',
  rollout: 'two clauses + 10 % rollout',
  'all-flags': 'all 100 flags for one context',
  'whitelist-1m': '1,000,000-id whitelist: evaluations',
  'memory-1m': '1,000,000-id whitelist: retained memory',
}

/** Sizes: the real ones, or tiny ones for the smoke test (same code paths, a fraction of a second). */
export interface Sizes {
  whitelist: number
  big: number
  contexts: number
  rolloutContexts: number
  /** How many of the 1M scenarios' contexts the check evaluates (slow peers take ~0.2 s per answer). */
  bigChecked: number
  flagWhitelist: number
  flagSegment: number
}
export const FULL: Sizes = {
  whitelist: 10_000,
  big: 1_000_000,
  contexts: 4096,
  rolloutContexts: 20_000,
  bigChecked: 128,
  flagWhitelist: 200,
  flagSegment: 2000,
}
export const TINY: Sizes = {
  whitelist: 200,
  big: 2000,
  contexts: 256,
  rolloutContexts: 2000,
  bigChecked: 32,
  flagWhitelist: 20,
  flagSegment: 50,
}

/** Random 18-character ids (flat strings), shared with the SDK's own memory harness. */
export { idGenerator }

export function ids(seed: number, n: number): string[] {
  const next = idGenerator(seed)
  const out: string[] = new Array(n)
  for (let i = 0; i < n; i++) out[i] = next()
  return out
}

const COUNTRIES = ['GB', 'FR', 'DE', 'US', 'ES', 'IT', 'NL', 'SE']
const PLANS = ['free', 'pro', 'team']
/** The two clauses of the rollout scenario match 7 of 8 countries and 2 of 3 plans: 7/12 of the contexts. */
export const RULE_COUNTRIES = COUNTRIES.slice(0, 7)
export const RULE_PLANS = ['pro', 'team']

/** `n` people; the keys of even ones come from `members` (when given), odd ones from another seed. */
export function people(n: number, members: string[] | null, seed = 777): Person[] {
  const other = idGenerator(seed)
  const out: Person[] = []
  for (let i = 0; i < n; i++) {
    const key = members && i % 2 === 0 ? (members[(i * 7919) % members.length] as string) : other()
    out.push({
      key,
      country: COUNTRIES[i % COUNTRIES.length] as string,
      plan: PLANS[Math.floor(i / COUNTRIES.length) % PLANS.length] as string,
      email: `u${i}@example.${i % 3 === 0 ? 'com' : 'org'}`,
      version: `2.${i % 10}.${i % 3}`,
    })
  }
  return out
}

/** Seeds: lists and non-members never share a seed, so hits and misses are known. */
const SEED = { whitelist: 101, big: 12345, flagLists: 202, segment: 303 }

export interface Scenario {
  name: ScenarioName
  model: Model
  /** The flag a single-flag scenario evaluates. */
  flag: string
  /** Contexts the timed loop cycles over (a power of two). */
  timed: Person[]
  /** Contexts the correctness check evaluates (the timed ones, or more for a rollout share). */
  checked: Person[]
}

/** The 100-flag mix: booleans, whitelists + 25 %, 50 % rollouts, two clauses → 25 %, segments, string and semver rules. */
function hundredFlags(sizes: Sizes): Model {
  const flagIds = ids(SEED.flagLists, sizes.flagWhitelist * 10)
  const lists: Record<string, string[]> = { beta: ids(SEED.segment, sizes.flagSegment) }
  const flags: FlagSpec[] = []
  for (let i = 0; i < 100; i++) {
    const key = `flag-${i}`
    const kind = i % 10
    if (kind < 3) flags.push({ key, on: i % 2 === 0, fallthrough: 100 })
    else if (kind < 5) {
      const list = `wl-${i}`
      const start = ((i * 37) % 10) * sizes.flagWhitelist
      lists[list] = flagIds.slice(start, start + sizes.flagWhitelist)
      flags.push({ key, on: true, whitelist: list, fallthrough: 25 })
    } else if (kind < 7) flags.push({ key, on: true, fallthrough: 50 })
    else if (kind === 7)
      flags.push({
        key,
        on: true,
        rule: {
          conditions: [
            { kind: 'in', attribute: 'country', values: ['GB', 'FR'] },
            { kind: 'in', attribute: 'plan', values: ['pro'] },
          ],
          percent: 25,
        },
        fallthrough: 0,
      })
    else if (kind === 8)
      flags.push({
        key,
        on: true,
        rule: { conditions: [{ kind: 'inList', list: 'beta' }], percent: 100 },
        fallthrough: 0,
      })
    else if (i % 20 === 9)
      flags.push({
        key,
        on: true,
        rule: { conditions: [{ kind: 'endsWith', attribute: 'email', suffix: '.com' }], percent: 100 },
        fallthrough: 0,
      })
    else
      flags.push({
        key,
        on: true,
        rule: { conditions: [{ kind: 'semVerGreaterThan', attribute: 'version', version: '2.5.0' }], percent: 100 },
        fallthrough: 0,
      })
  }
  return { flags, lists }
}

export function scenario(name: ScenarioName, sizes: Sizes): Scenario {
  const n = sizes.contexts
  switch (name) {
    case 'boolean': {
      const ps = people(n, null)
      return {
        name,
        model: { flags: [{ key: 'bool', on: true, fallthrough: 100 }], lists: {} },
        flag: 'bool',
        timed: ps,
        checked: ps,
      }
    }
    case 'whitelist-10k': {
      const list = ids(SEED.whitelist, sizes.whitelist)
      const ps = people(n, list)
      return {
        name,
        model: { flags: [{ key: 'wl', on: true, whitelist: 'wl', fallthrough: 0 }], lists: { wl: list } },
        flag: 'wl',
        timed: ps,
        checked: ps,
      }
    }
    case 'rollout': {
      const rule = {
        conditions: [
          { kind: 'in', attribute: 'country', values: RULE_COUNTRIES } as const,
          { kind: 'in', attribute: 'plan', values: RULE_PLANS } as const,
        ],
        percent: 10,
      }
      return {
        name,
        model: { flags: [{ key: 'ro', on: true, rule, fallthrough: 0 }], lists: {} },
        flag: 'ro',
        timed: people(n, null),
        checked: people(sizes.rolloutContexts, null, 4242),
      }
    }
    case 'all-flags': {
      const model = hundredFlags(sizes)
      // Some contexts are in a flag's whitelist or the segment, so every kind of answer is exercised.
      const members = [...Object.values(model.lists).flat()]
      const ps = people(n, members)
      return { name, model, flag: 'flag-0', timed: ps, checked: ps }
    }
    case 'whitelist-1m':
    case 'memory-1m': {
      const big = ids(SEED.big, sizes.big)
      const ps = people(n, big)
      return {
        name,
        model: {
          flags: [
            {
              key: 'big',
              on: true,
              rule: { conditions: [{ kind: 'inList', list: 'big' }], percent: 100 },
              fallthrough: 0,
            },
          ],
          lists: { big },
        },
        flag: 'big',
        timed: ps,
        checked: ps.slice(0, sizes.bigChecked),
      }
    }
  }
}

/** The exact answer, or null where a rollout decides (then only the share over many contexts is checked). */
export function expected(flag: FlagSpec, p: Person, sets: Map<string, Set<string>>): boolean | null {
  if (!flag.on) return false
  if (flag.whitelist && sets.get(flag.whitelist)?.has(p.key)) return true
  if (flag.rule?.conditions.every((c) => matches(c, p, sets))) {
    return flag.rule.percent === 100 ? true : flag.rule.percent === 0 ? false : null
  }
  return flag.fallthrough === 100 ? true : flag.fallthrough === 0 ? false : null
}

/** The percentage that decides `p`'s answer when `expected` is null. */
export function rolloutPercent(flag: FlagSpec, p: Person, sets: Map<string, Set<string>>): number {
  if (flag.rule?.conditions.every((c) => matches(c, p, sets))) return flag.rule.percent
  return flag.fallthrough
}

function matches(c: Condition, p: Person, sets: Map<string, Set<string>>): boolean {
  switch (c.kind) {
    case 'in':
      return c.values.includes(p[c.attribute])
    case 'endsWith':
      return p.email.endsWith(c.suffix)
    case 'semVerGreaterThan':
      return compareSemVer(p.version, c.version) > 0
    case 'inList':
      return sets.get(c.list)?.has(p.key) === true
  }
}

function compareSemVer(a: string, b: string): number {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0)
  return 0
}
