/**
 * GrowthBook's JS SDK, server side: one `GrowthBookClient` for all users, its payload given with
 * `setPayload` (no API host, so nothing is fetched) and each user passed as a `UserContext`. A flag is a
 * feature with boolean `defaultValue` and force rules: a whitelist the condition `{ id: { $in: [...] } }`,
 * a shared list a saved group (`$inGroup`), a percentage a rule with `coverage` hashed on `id`; `endsWith`
 * is `$regex`, semver `$vgt`. GrowthBook scans lists as arrays. No "all flags" call: isOn over every key.
 */
import { GrowthBookClient } from '@growthbook/growthbook'
import type { ConditionInterface, FeatureDefinition, FeatureRule, UserContext } from '@growthbook/growthbook'
import type { Adapter } from '../adapter.js'
import type { Condition, Model } from '../scenarios.js'

function condition(c: Condition): ConditionInterface {
  switch (c.kind) {
    case 'in':
      return { [c.attribute]: { $in: c.values } }
    case 'endsWith':
      return { [c.attribute]: { $regex: `${c.suffix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$` } }
    case 'semVerGreaterThan':
      return { [c.attribute]: { $vgt: c.version } }
    case 'inList':
      return { id: { $inGroup: c.list } }
  }
}

function rule(cond: ConditionInterface | undefined, percent: number): FeatureRule<boolean> {
  return {
    ...(cond ? { condition: cond } : {}),
    force: true,
    ...(percent < 100 ? { coverage: percent / 100, hashAttribute: 'id' } : {}),
  }
}

function toPayload(model: Model): {
  features: Record<string, FeatureDefinition<boolean>>
  savedGroups: Record<string, string[]>
} {
  const features: Record<string, FeatureDefinition<boolean>> = {}
  const savedGroups: Record<string, string[]> = {}
  for (const f of model.flags) {
    if (!f.on) {
      features[f.key] = { defaultValue: false }
      continue
    }
    const rules: FeatureRule<boolean>[] = []
    if (f.whitelist) rules.push(rule({ id: { $in: model.lists[f.whitelist] ?? [] } }, 100))
    if (f.rule) {
      for (const c of f.rule.conditions) if (c.kind === 'inList') savedGroups[c.list] = model.lists[c.list] ?? []
      rules.push(rule({ $and: f.rule.conditions.map(condition) }, f.rule.percent))
    }
    if (f.fallthrough > 0 && f.fallthrough < 100) rules.push(rule(undefined, f.fallthrough))
    features[f.key] = { defaultValue: f.fallthrough === 100, rules }
  }
  return { features, savedGroups }
}

export const adapter: Adapter<UserContext> = {
  title: 'GrowthBook',
  pkg: '@growthbook/growthbook',
  context: (p) => ({ attributes: { id: p.key, country: p.country, plan: p.plan, email: p.email, version: p.version } }),
  async build(model) {
    const gb = new GrowthBookClient({})
    await gb.setPayload(toPayload(model))
    const keys = model.flags.map((f) => f.key)
    const all = (uc: UserContext) => {
      const out: Record<string, boolean> = {}
      for (const k of keys) out[k] = gb.isOn(k, uc)
      return out
    }
    return {
      async: false,
      form: 'GrowthBookClient.setPayload; whitelist `$in`, shared lists saved groups',
      isOn: (flag, uc) => gb.isOn(flag, uc),
      all,
      values: all,
      close: () => gb.destroy(),
    }
  },
}
