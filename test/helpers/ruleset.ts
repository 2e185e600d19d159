import type { RulesetFlag } from '../../sdk/core/types.js'

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
