/**
 * Unleash's Node SDK offline: `new Unleash({ bootstrap: { data, segments }, refreshInterval: 0,
 * disableMetrics: true })` never fetches (a refresh interval of 0 turns polling off) and keeps its backup
 * in memory (InMemStorageProvider) instead of a file. Strategies of a toggle are ORed: a whitelist is a
 * `default` strategy with the constraint `userId IN [ids]` (the constraint form Unleash recommends over
 * the older userWithId strategy; both scan the list), a rule a strategy with constraints (a shared list a
 * segment), a percentage a `flexibleRollout` on userId. No "all flags" call: isEnabled over every name.
 */
import { once } from 'node:events'
import { type Context, InMemStorageProvider, Unleash } from 'unleash-client'
import type { Constraint } from 'unleash-client/lib/strategy/strategy.js'
import type { StrategyTransportInterface } from 'unleash-client/lib/strategy/strategy.js'
import type { FeatureInterface } from 'unleash-client/lib/feature.js'
import type { Adapter } from '../adapter.js'
import type { Condition, Model } from '../scenarios.js'

type Operator = Constraint['operator']

function toBootstrap(model: Model): {
  data: FeatureInterface[]
  segments: { id: number; constraints: Constraint[] }[]
} {
  const segmentIds = new Map<string, number>()
  const segments: { id: number; constraints: Constraint[] }[] = []
  const inList = (list: string): Constraint => ({
    contextName: 'userId',
    operator: 'IN' as Operator,
    inverted: false,
    values: model.lists[list] ?? [],
  })
  const constraint = (c: Exclude<Condition, { kind: 'inList' }>): Constraint => {
    switch (c.kind) {
      case 'in':
        return { contextName: c.attribute, operator: 'IN' as Operator, inverted: false, values: c.values }
      case 'endsWith':
        return { contextName: c.attribute, operator: 'STR_ENDS_WITH' as Operator, inverted: false, values: [c.suffix] }
      case 'semVerGreaterThan':
        return {
          contextName: c.attribute,
          operator: 'SEMVER_GT' as Operator,
          inverted: false,
          values: [],
          value: c.version,
        }
    }
  }
  const strategy = (
    key: string,
    percent: number,
    constraints: Constraint[],
    segs: number[] = [],
  ): StrategyTransportInterface => ({
    name: percent === 100 ? 'default' : 'flexibleRollout',
    parameters: percent === 100 ? {} : { rollout: String(percent), stickiness: 'userId', groupId: key },
    constraints,
    segments: segs,
  })
  const data = model.flags.map((f): FeatureInterface => {
    const strategies: StrategyTransportInterface[] = []
    if (f.whitelist) strategies.push(strategy(f.key, 100, [inList(f.whitelist)]))
    if (f.rule) {
      const segs: number[] = []
      const constraints: Constraint[] = []
      for (const c of f.rule.conditions) {
        if (c.kind !== 'inList') {
          constraints.push(constraint(c))
          continue
        }
        let id = segmentIds.get(c.list)
        if (id === undefined) {
          id = segmentIds.size + 1
          segmentIds.set(c.list, id)
          segments.push({ id, constraints: [inList(c.list)] })
        }
        segs.push(id)
      }
      strategies.push(strategy(f.key, f.rule.percent, constraints, segs))
    }
    if (f.fallthrough > 0) strategies.push(strategy(f.key, f.fallthrough, []))
    return { name: f.key, enabled: f.on, type: 'release', project: 'default', stale: false, strategies, variants: [] }
  })
  return { data, segments }
}

export const adapter: Adapter<Context> = {
  title: 'Unleash',
  pkg: 'unleash-client',
  context: (p) => ({
    userId: p.key,
    properties: { country: p.country, plan: p.plan, email: p.email, version: p.version },
  }),
  async build(model) {
    const unleash = new Unleash({
      appName: 'switchyard-bench',
      url: 'http://127.0.0.1:9/api/',
      refreshInterval: 0,
      disableMetrics: true,
      storageProvider: new InMemStorageProvider(),
      bootstrap: toBootstrap(model),
      skipInstanceCountWarning: true,
    })
    unleash.on('error', () => {})
    unleash.on('warn', () => {})
    await once(unleash, 'ready')
    const names = model.flags.map((f) => f.key)
    const all = (ctx: Context) => {
      const out: Record<string, boolean> = {}
      for (const n of names) out[n] = unleash.isEnabled(n, ctx)
      return out
    }
    return {
      async: false,
      form: 'bootstrap; lists as `userId IN [...]` constraints (segments when shared)',
      isOn: (flag, ctx) => unleash.isEnabled(flag, ctx),
      all,
      values: all,
      close: () => unleash.destroy(),
    }
  },
}
