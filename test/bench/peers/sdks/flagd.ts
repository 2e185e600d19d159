/**
 * flagd's in-process evaluator, `FlagdCore` from @openfeature/flagd-core (below the OpenFeature provider
 * layer): the flag configuration as flagd JSON through `setConfigurations`, evaluated by json-logic
 * (compiled mode). A whitelist is `{ in: [targetingKey, [...]] }` (an array scan), a shared list a
 * `$evaluators` entry referenced with `$ref`, a percentage `fractional` (bucketed on flag key +
 * targetingKey). An off flag is DISABLED; `resolveAll` leaves disabled flags out, which callers read as
 * their default (false).
 */
import { FlagdCore } from '@openfeature/flagd-core'
import type { Adapter } from '../adapter.js'
import type { Condition, Model } from '../scenarios.js'

type Logic = string | { [op: string]: unknown }

const pick = (percent: number): Logic =>
  percent === 100
    ? 'on'
    : percent === 0
      ? 'off'
      : {
          fractional: [
            ['on', percent],
            ['off', 100 - percent],
          ],
        }

function condition(c: Condition, evaluators: Record<string, Logic>, model: Model): Logic {
  switch (c.kind) {
    case 'in':
      return { in: [{ var: c.attribute }, c.values] }
    case 'endsWith':
      return { ends_with: [{ var: c.attribute }, c.suffix] }
    case 'semVerGreaterThan':
      return { sem_ver: [{ var: c.attribute }, '>', c.version] }
    case 'inList':
      evaluators[c.list] = { in: [{ var: 'targetingKey' }, model.lists[c.list] ?? []] }
      return { $ref: c.list }
  }
}

function toConfig(model: Model): string {
  const evaluators: Record<string, Logic> = {}
  const flags: Record<string, object> = {}
  for (const f of model.flags) {
    const branches: Logic[] = []
    if (f.whitelist) branches.push({ in: [{ var: 'targetingKey' }, model.lists[f.whitelist] ?? []] }, 'on')
    if (f.rule)
      branches.push({ and: f.rule.conditions.map((c) => condition(c, evaluators, model)) }, pick(f.rule.percent))
    const last = pick(f.fallthrough)
    const plain = branches.length === 0 && typeof last === 'string'
    flags[f.key] = {
      state: f.on ? 'ENABLED' : 'DISABLED',
      variants: { on: true, off: false },
      defaultVariant: plain ? last : 'off',
      ...(plain ? {} : { targeting: branches.length ? { if: [...branches, last] } : last }),
    }
  }
  return JSON.stringify({ flags, $evaluators: evaluators })
}

export const adapter: Adapter<Record<string, string>> = {
  title: 'flagd-core',
  pkg: '@openfeature/flagd-core',
  context: (p) => ({ targetingKey: p.key, country: p.country, plan: p.plan, email: p.email, version: p.version }),
  async build(model) {
    const core = new FlagdCore()
    core.setConfigurations(toConfig(model))
    const keys = model.flags.map((f) => f.key)
    return {
      async: false,
      form: 'FlagdCore.setConfigurations (flagd JSON); lists as json-logic `in`, shared ones `$evaluators`',
      isOn: (flag, ctx) => core.resolveBooleanEvaluation(flag, false, ctx).value,
      all: (ctx) => core.resolveAll(ctx),
      values: (ctx) => {
        const out: Record<string, unknown> = Object.fromEntries(keys.map((k) => [k, false]))
        for (const d of core.resolveAll(ctx)) out[d.flagKey] = d.value
        return out
      },
    }
  },
}
