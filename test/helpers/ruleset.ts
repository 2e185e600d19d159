import type { RulesetFlag, Segment, Serve } from '../../sdk/core/types.js'

/** A rollout of `weight` (of 100,000) to variation 0 and the rest to variation 1, by key. */
export function split(weight: number): Serve {
  return {
    rollout: {
      weights: [
        { variation: 0, weight },
        { variation: 1, weight: 100_000 - weight },
      ],
    },
  }
}

/** A boolean flag, on, serving false (variation 1) to everyone unless `over` says otherwise. */
export function booleanFlag(key: string, over: Partial<RulesetFlag> = {}): RulesetFlag {
  return {
    key,
    kind: 'boolean',
    variations: [true, false],
    salt: key,
    on: true,
    offVariation: 1,
    prerequisites: [],
    targets: [],
    rules: [],
    fallthrough: { variation: 1 },
    version: 1,
    ...over,
  }
}

const COUNTRIES = ['GB', 'FR', 'DE', 'US', 'ES', 'IT', 'NL', 'SE']
const PLANS = ['free', 'pro', 'team']

/** `n` benchmark contexts: keys user-0000000, user-0000007, …, with country, plan, email, version and age. */
export function benchContexts(n: number): Record<string, string | number>[] {
  const out: Record<string, string | number>[] = []
  for (let i = 0; i < n; i++) {
    out.push({
      key: `user-${String(i * 7).padStart(7, '0')}`,
      country: COUNTRIES[i % COUNTRIES.length]!,
      plan: PLANS[i % PLANS.length]!,
      email: `u${i}@example.${i % 3 === 0 ? 'com' : 'org'}`,
      version: `2.${i % 10}.${i % 3}`,
      age: i % 90,
    })
  }
  return out
}

const rollout = (share: number) => ({
  rollout: {
    weights: [
      { variation: 0, weight: share },
      { variation: 1, weight: 100_000 - share },
    ],
  },
})

/**
 * The benchmarks' "all flags for one context" ruleset: `n` flags of every kind in turn (constant on/off,
 * 200-id targets + a 25 % rollout, 50 % rollouts, two clauses + rollout, a 2,000-id segment, a string
 * flag with endsWith and semVer rules), ids taken from `whitelist`.
 */
export function mixedFlags(
  n: number,
  whitelist: readonly string[],
): { flags: Record<string, RulesetFlag>; segments: Record<string, Segment> } {
  const flags: Record<string, RulesetFlag> = {}
  const segments: Record<string, Segment> = {
    beta: { key: 'beta', included: whitelist.slice(0, 2000), excluded: [], rules: [], salt: 'beta', version: 1 },
  }
  const flag = (key: string, over: Partial<RulesetFlag>) => booleanFlag(key, { fallthrough: { variation: 0 }, ...over })
  for (let i = 0; i < n; i++) {
    const key = `flag-${i}`
    const kind = i % 10
    let f: RulesetFlag
    if (kind < 3) f = flag(key, { on: i % 2 === 0 })
    else if (kind < 5)
      f = flag(key, {
        targets: [{ variation: 0, values: whitelist.slice(i * 50, i * 50 + 200) }],
        fallthrough: rollout(25_000),
      })
    else if (kind < 7) f = flag(key, { fallthrough: rollout(50_000) })
    else if (kind === 7)
      f = flag(key, {
        rules: [
          {
            id: 'r',
            clauses: [
              { attribute: 'country', op: 'in', values: ['GB', 'FR'] },
              { attribute: 'plan', op: 'in', values: ['pro'] },
            ],
            serve: rollout(25_000),
          },
        ],
      })
    else if (kind === 8)
      f = flag(key, {
        rules: [
          { id: 'seg', clauses: [{ attribute: 'key', op: 'inSegment', values: ['beta'] }], serve: { variation: 0 } },
        ],
        fallthrough: { variation: 1 },
      })
    else
      f = flag(key, {
        kind: 'string',
        variations: ['a', 'b', 'c'],
        offVariation: 0,
        rules: [
          { id: 'mail', clauses: [{ attribute: 'email', op: 'endsWith', values: ['.com'] }], serve: { variation: 1 } },
          {
            id: 'ver',
            clauses: [{ attribute: 'version', op: 'semVerGreaterThan', values: ['2.5.0'] }],
            serve: { variation: 2 },
          },
        ],
      })
    flags[key] = f
  }
  return { flags, segments }
}
