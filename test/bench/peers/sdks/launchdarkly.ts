/**
 * LaunchDarkly's Node server SDK with no network: TestData as the data source (full flag and segment
 * models through `usePreconfiguredFlag` / `usePreconfiguredSegment`), events and diagnostics off. (Its
 * `offline: true` option makes every evaluation return the caller's default, so it cannot be used.)
 * Evaluations return promises (`variation`, `allFlagsState`); the timed loop awaits each one, as callers do.
 * Lists are segments: LaunchDarkly keeps a segment's `included` as a `Set` past a small size, while a
 * flag's own targets are scanned as an array. A list over 100,000 ids is split into segments of 100,000
 * (the 1M list: 10 × 100 k, ORed in one clause); the service keeps bigger lists only as big segments,
 * which server SDKs read from Redis or DynamoDB.
 */
import * as ld from '@launchdarkly/node-server-sdk'
import { TestData } from '@launchdarkly/node-server-sdk/integrations'
import type { Adapter } from '../adapter.js'
import type { Condition, Model } from '../scenarios.js'

const MAX_SEGMENT = 100_000

interface LdClause {
  contextKind: 'user'
  attribute: string
  op: string
  values: string[]
  negate: false
}
type LdServe = { variation: number } | { rollout: { variations: { variation: number; weight: number }[] } }

const serve = (percent: number): LdServe =>
  percent === 100
    ? { variation: 0 }
    : percent === 0
      ? { variation: 1 }
      : {
          rollout: {
            variations: [
              { variation: 0, weight: percent * 1000 },
              { variation: 1, weight: (100 - percent) * 1000 },
            ],
          },
        }

function toData(model: Model): { flags: object[]; segments: object[]; form: string } {
  const segmentKeys = new Map<string, string[]>()
  const segments: object[] = []
  let split = ''
  const segmentsOf = (list: string): string[] => {
    const known = segmentKeys.get(list)
    if (known) return known
    const ids = model.lists[list] ?? []
    const keys: string[] = []
    for (let i = 0; i < Math.max(1, ids.length); i += MAX_SEGMENT) {
      const key = ids.length > MAX_SEGMENT ? `${list}-${i / MAX_SEGMENT}` : list
      keys.push(key)
      segments.push({
        key,
        version: 1,
        included: ids.slice(i, i + MAX_SEGMENT),
        excluded: [],
        includedContexts: [],
        excludedContexts: [],
        rules: [],
        salt: key,
        deleted: false,
      })
    }
    if (keys.length > 1) split = `; ${ids.length.toLocaleString('en')} ids as ${keys.length} × 100 k segments`
    segmentKeys.set(list, keys)
    return keys
  }
  const clause = (c: Condition): LdClause => {
    const base = { contextKind: 'user', negate: false } as const
    switch (c.kind) {
      case 'in':
        return { ...base, attribute: c.attribute, op: 'in', values: c.values }
      case 'endsWith':
        return { ...base, attribute: c.attribute, op: 'endsWith', values: [c.suffix] }
      case 'semVerGreaterThan':
        return { ...base, attribute: c.attribute, op: 'semVerGreaterThan', values: [c.version] }
      case 'inList':
        return { ...base, attribute: 'key', op: 'segmentMatch', values: segmentsOf(c.list) }
    }
  }
  const flags = model.flags.map((f) => {
    const rules: object[] = []
    if (f.whitelist) rules.push({ id: 'wl', clauses: [clause({ kind: 'inList', list: f.whitelist })], variation: 0 })
    if (f.rule) rules.push({ id: 'r', clauses: f.rule.conditions.map(clause), ...serve(f.rule.percent) })
    return {
      key: f.key,
      version: 1,
      on: f.on,
      variations: [true, false],
      offVariation: 1,
      fallthrough: serve(f.fallthrough),
      targets: [],
      contextTargets: [],
      rules,
      prerequisites: [],
      salt: f.key,
      trackEvents: false,
      trackEventsFallthrough: false,
      deleted: false,
    }
  })
  return { flags, segments, form: `TestData data source, lists as segments${split}` }
}

export const adapter: Adapter<ld.LDContext> = {
  title: 'LaunchDarkly',
  pkg: '@launchdarkly/node-server-sdk',
  context: (p) => ({ kind: 'user', key: p.key, country: p.country, plan: p.plan, email: p.email, version: p.version }),
  async build(model) {
    const td = new TestData()
    const data = toData(model)
    for (const s of data.segments) await td.usePreconfiguredSegment(s)
    for (const f of data.flags) await td.usePreconfiguredFlag(f)
    const client = ld.init('sdk-bench-offline', {
      updateProcessor: td.getFactory(),
      sendEvents: false,
      diagnosticOptOut: true,
      logger: ld.basicLogger({ level: 'none' }),
    })
    await client.waitForInitialization({ timeout: 30 })
    return {
      async: true,
      form: data.form,
      isOn: async (flag, ctx) => (await client.variation(flag, ctx, false)) === true,
      all: (ctx) => client.allFlagsState(ctx),
      values: async (ctx) => (await client.allFlagsState(ctx)).allValues(),
      close: () => client.close(),
    }
  },
}
