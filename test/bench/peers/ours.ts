/**
 * Switchyard's side of the comparison: the client (`createClient` from the workspace's @switchyard/sdk
 * with bootstrap data, the public API users call), the bare engine (`compile` + `evaluate`), and a plain
 * JS `Set` as the reference for list membership.
 */
import { compile, evaluate, evaluateAll } from '../../../sdk/core/index.js'
import { createClient } from '../../../sdk/index.js'
import type { Clause, Serve } from '../../../sdk/core/types.js'
import type { Context, Ruleset, RulesetFlag, Segment } from '../../../sdk/types.js'
import { booleanFlag } from '../../helpers/ruleset.js'
import { type Adapter, listOf } from './adapter.js'
import type { Condition, FlagSpec, Model, Person } from './scenarios.js'

const serve = (percent: number): Serve =>
  percent === 100
    ? { variation: 0 }
    : percent === 0
      ? { variation: 1 }
      : {
          rollout: {
            weights: [
              { variation: 0, weight: percent * 1000 },
              { variation: 1, weight: (100 - percent) * 1000 },
            ],
          },
        }

function clause(c: Condition): Clause {
  switch (c.kind) {
    case 'in':
      return { attribute: c.attribute, op: 'in', values: c.values }
    case 'endsWith':
      return { attribute: c.attribute, op: 'endsWith', values: [c.suffix] }
    case 'semVerGreaterThan':
      return { attribute: c.attribute, op: 'semVerGreaterThan', values: [c.version] }
    case 'inList':
      return { attribute: 'key', op: 'inSegment', values: [c.list] }
  }
}

/** A flag's whitelist becomes its targets; a shared list a segment. */
export function toRuleset(model: Model): Ruleset {
  const flags: Record<string, RulesetFlag> = {}
  const segments: Record<string, Segment> = {}
  const flag = (f: FlagSpec): RulesetFlag =>
    booleanFlag(f.key, {
      on: f.on,
      targets: f.whitelist ? [{ variation: 0, values: model.lists[f.whitelist] ?? [] }] : [],
      rules: f.rule ? [{ id: 'r', clauses: f.rule.conditions.map(clause), serve: serve(f.rule.percent) }] : [],
      fallthrough: serve(f.fallthrough),
    })
  for (const f of model.flags) {
    flags[f.key] = flag(f)
    for (const c of f.rule?.conditions ?? [])
      if (c.kind === 'inList')
        segments[c.list] = {
          key: c.list,
          included: model.lists[c.list] ?? [],
          excluded: [],
          rules: [],
          salt: c.list,
          version: 1,
        }
  }
  return { specVersion: 1, environment: 'bench', flags, segments }
}

const context = (p: Person): Context => ({
  key: p.key,
  country: p.country,
  plan: p.plan,
  email: p.email,
  version: p.version,
})

export const client: Adapter<Context> = {
  title: 'Switchyard client',
  pkg: '@switchyard/sdk',
  context,
  async build(model) {
    // No network at all: the stream's fetch never answers and no timer fires; evaluation counters
    // (sendMetrics, on by default) are kept, as users get them.
    const c = createClient({
      url: 'http://127.0.0.1:9',
      token: 'bench',
      bootstrap: toRuleset(model),
      logger: {},
      fetch: () => new Promise<Response>(() => {}),
      timers: { setTimeout: () => 0, clearTimeout: () => {} },
    })
    return {
      async: false,
      form: 'createClient({ bootstrap }) → isEnabled() / allFlags()',
      isOn: (flag, ctx) => c.isEnabled(flag, ctx),
      all: (ctx) => c.allFlags(ctx),
      values: (ctx) => c.allFlags(ctx),
      close: () => c.close(),
    }
  },
}

export const engine: Adapter<Context> = {
  title: 'bare engine',
  pkg: '@switchyard/sdk',
  context,
  async build(model) {
    const compiled = compile(toRuleset(model))
    return {
      async: false,
      form: 'compile() → evaluate() / evaluateAll()',
      isOn: (flag, ctx) => evaluate(compiled, flag, ctx, false) === true,
      all: (ctx) => evaluateAll(compiled, ctx),
      values: (ctx) => Object.fromEntries(Object.entries(evaluateAll(compiled, ctx)).map(([k, d]) => [k, d.value])),
    }
  },
}

/** The reference: a plain `Set` of the flag's list, `has(key)`; lists only. */
export const set: Adapter<string> = {
  title: 'plain Set',
  pkg: null,
  context: (p) => p.key,
  async build(model) {
    const flag = model.flags[0]?.key ?? ''
    const s = new Set(listOf(model, flag))
    return {
      async: false,
      form: 'new Set(ids).has(key)',
      isOn: (_flag, key) => s.has(key),
      all: (key) => s.has(key),
      values: (key) => ({ [flag]: s.has(key) }),
    }
  },
}
