import { clauseSegments } from '../../sdk/core/index.js'
import type { FactValue, RulesetFlag } from '../../sdk/core/types.js'
import { appError } from '../errors.js'
import type { EnvDiffRepository, OneSided } from '../store/env-diff.js'
import type { Store } from '../store/store.js'
import { canonical, type FactService, sameFact } from './facts.js'
import type { FlagService } from './flags.js'
import type { ConnectedApplication, SdkMetricsService } from './sdk-metrics.js'
import type { SegmentView } from '../schemas/segment.js'
import type { SegmentService } from './segments.js'

export type Presence = 'same' | 'different' | 'only-from' | 'only-to'

interface Change<T = unknown> {
  from: T
  to: T
}

export interface IdsDiff {
  count: number
  sample: string[]
}

export interface FlagDiff {
  key: string
  status: Presence
  versions: { from: number | null; to: number | null }
  changes: {
    on?: Change<boolean>
    offVariation?: Change<number | null>
    fallthrough?: Change
    prerequisites?: Change
    requires?: Change
    /** A live knob's value on each side (null where the configuration serves none). */
    knob?: Change<number | null>
    /** Per variation: the context keys targeted on one side only. */
    targets?: Array<{ variation: number; onlyFrom: IdsDiff; onlyTo: IdsDiff }>
    /** Rules by id: on one side only, or with a different body; `reordered` when the common ones run in another order. */
    rules?: { onlyFrom: string[]; onlyTo: string[]; changed: string[]; reordered: boolean }
    /** Fields this server does not compare by name (newer fields), compared as JSON. */
    other?: Record<string, Change>
  }
}

export interface MemberDiff {
  from: number
  to: number
  onlyFrom: OneSided
  onlyTo: OneSided
}

export interface SegmentDiff {
  key: string
  status: Presence
  versions: { from: number | null; to: number | null }
  changes: { name?: Change; description?: Change; rules?: Change }
  members: { included: MemberDiff; excluded: MemberDiff } | null
}

export interface FactDiff {
  fact: string
  status: Exclude<Presence, 'same'>
  from: FactValue | null
  to: FactValue | null
}

export interface ApplicationDiff {
  name: string
  status: Presence
  from: Array<{ version: string | null; instances: number }>
  to: Array<{ version: string | null; instances: number }>
  /** Facts the application reported differently in the two environments (its latest instance in each). */
  facts: FactDiff[]
}

export interface EnvironmentDiff {
  from: string
  to: string
  flag: string | null
  flags: FlagDiff[]
  segments: SegmentDiff[]
  facts: { differences: FactDiff[]; same: number; versions: { from: number; to: number } }
  applications: { differences: ApplicationDiff[]; same: number; unnamed: { from: number; to: number } }
  summary: { flags: number; segments: number; facts: number; applications: number }
}

/** Fields compared by name; every other field of a configuration is compared as JSON under `other`. */
const KNOWN = new Set([
  'key',
  'kind',
  'variations',
  'salt',
  'clientSide',
  'version',
  'requirementsOverride',
  'on',
  'offVariation',
  'fallthrough',
  'prerequisites',
  'requires',
  'targets',
  'rules',
  'knob',
])

const differ = (a: unknown, b: unknown) => canonical(a) !== canonical(b)

function ids(list: string[], sample: number): IdsDiff {
  return { count: list.length, sample: list.slice(0, sample) }
}

export function diffFlag(
  key: string,
  a: RulesetFlag | undefined,
  b: RulesetFlag | undefined,
  sample: number,
): FlagDiff {
  const versions = { from: a?.version ?? null, to: b?.version ?? null }
  if (!a || !b) return { key, status: a ? 'only-from' : 'only-to', versions, changes: {} }
  const changes: FlagDiff['changes'] = {}
  if (a.on !== b.on) changes.on = { from: a.on, to: b.on }
  if (a.offVariation !== b.offVariation) changes.offVariation = { from: a.offVariation, to: b.offVariation }
  for (const f of ['fallthrough', 'prerequisites'] as const)
    if (differ(a[f] ?? null, b[f] ?? null)) changes[f] = { from: a[f] ?? null, to: b[f] ?? null }
  // No requirements and `[]` are the same thing (a promote writes `[]` where the source had none).
  if (differ(a.requires ?? [], b.requires ?? [])) changes.requires = { from: a.requires ?? [], to: b.requires ?? [] }
  const ka = a.knob?.value ?? null
  const kb = b.knob?.value ?? null
  if (ka !== kb) changes.knob = { from: ka, to: kb }
  const variations = new Set([...a.targets.map((t) => t.variation), ...b.targets.map((t) => t.variation)])
  const targets: NonNullable<FlagDiff['changes']['targets']> = []
  for (const v of [...variations].sort((x, y) => x - y)) {
    const x = new Set(a.targets.filter((t) => t.variation === v).flatMap((t) => t.values))
    const y = new Set(b.targets.filter((t) => t.variation === v).flatMap((t) => t.values))
    const onlyFrom = [...x].filter((id) => !y.has(id))
    const onlyTo = [...y].filter((id) => !x.has(id))
    if (onlyFrom.length + onlyTo.length > 0)
      targets.push({ variation: v, onlyFrom: ids(onlyFrom, sample), onlyTo: ids(onlyTo, sample) })
  }
  if (targets.length > 0) changes.targets = targets
  const ra = new Map(a.rules.map((r) => [r.id, r]))
  const rb = new Map(b.rules.map((r) => [r.id, r]))
  const common = a.rules.map((r) => r.id).filter((id) => rb.has(id))
  const rules = {
    onlyFrom: a.rules.map((r) => r.id).filter((id) => !rb.has(id)),
    onlyTo: b.rules.map((r) => r.id).filter((id) => !ra.has(id)),
    changed: common.filter((id) => differ(ra.get(id), rb.get(id))),
    reordered: canonical(common) !== canonical(b.rules.map((r) => r.id).filter((id) => ra.has(id))),
  }
  if (rules.onlyFrom.length + rules.onlyTo.length + rules.changed.length > 0 || rules.reordered) changes.rules = rules
  const other: Record<string, Change> = {}
  const ax = a as unknown as Record<string, unknown>
  const bx = b as unknown as Record<string, unknown>
  for (const f of new Set([...Object.keys(ax), ...Object.keys(bx)]))
    if (!KNOWN.has(f) && differ(ax[f] ?? null, bx[f] ?? null)) other[f] = { from: ax[f] ?? null, to: bx[f] ?? null }
  if (Object.keys(other).length > 0) changes.other = other
  return { key, status: Object.keys(changes).length > 0 ? 'different' : 'same', versions, changes }
}

function diffFacts(
  a: Record<string, FactValue>,
  b: Record<string, FactValue>,
): { differences: FactDiff[]; same: number } {
  const differences: FactDiff[] = []
  let same = 0
  for (const fact of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    const x = Object.hasOwn(a, fact) ? (a[fact] as FactValue) : null
    const y = Object.hasOwn(b, fact) ? (b[fact] as FactValue) : null
    if (x === null || y === null)
      differences.push({ fact, status: x === null ? 'only-to' : 'only-from', from: x, to: y })
    else if (!sameFact(x, y)) differences.push({ fact, status: 'different', from: x, to: y })
    else same++
  }
  return { differences, same }
}

const valuesOf = (facts: Record<string, { value: FactValue }>) =>
  Object.fromEntries(Object.entries(facts).map(([k, f]) => [k, f.value]))

function diffApplications(
  a: ConnectedApplication[],
  b: ConnectedApplication[],
): { differences: ApplicationDiff[]; same: number } {
  const names = [...new Set([...a, ...b].map((x) => x.name))].sort()
  const differences: ApplicationDiff[] = []
  let same = 0
  const latest = (list: ConnectedApplication[]) =>
    list.reduce<ConnectedApplication | null>((m, x) => (m === null || x.lastReportAt > m.lastReportAt ? x : m), null)
  for (const name of names) {
    const x = a.filter((g) => g.name === name)
    const y = b.filter((g) => g.name === name)
    const from = x.map((g) => ({ version: g.version, instances: g.instances }))
    const to = y.map((g) => ({ version: g.version, instances: g.instances }))
    const facts = diffFacts(latest(x)?.facts ?? {}, latest(y)?.facts ?? {}).differences
    const versionsDiffer = canonical(from.map((v) => v.version)) !== canonical(to.map((v) => v.version))
    const status: Presence =
      x.length === 0
        ? 'only-to'
        : y.length === 0
          ? 'only-from'
          : versionsDiffer || facts.length > 0
            ? 'different'
            : 'same'
    if (status === 'same') same++
    else differences.push({ name, status, from, to, facts: x.length && y.length ? facts : [] })
  }
  return { differences, same }
}

const segmentRefs = (f: RulesetFlag | undefined): string[] =>
  f ? f.rules.flatMap((r) => clauseSegments(r.clauses)) : []

/**
 * The structured difference between two environments: flag configurations, segments (metadata, member
 * counts, bounded samples of members on one side only), facts, and the applications connected to each.
 */
export class DiffService {
  private readonly members: EnvDiffRepository

  constructor(
    store: Store,
    private readonly flags: FlagService,
    private readonly segments: SegmentService,
    private readonly facts: FactService,
    private readonly sdk: SdkMetricsService,
  ) {
    this.members = store.envDiff
  }

  async diff(from: string, to: string, opts: { flag?: string; sample: number }): Promise<EnvironmentDiff> {
    const [fa, fb] = await Promise.all([this.flags.listConfigs(from), this.flags.listConfigs(to)])
    const ma = new Map(fa.map((f) => [f.key, f]))
    const mb = new Map(fb.map((f) => [f.key, f]))
    let keys = [...new Set([...ma.keys(), ...mb.keys()])].sort()
    if (opts.flag !== undefined) {
      if (!ma.has(opts.flag) && !mb.has(opts.flag)) throw appError('FLAG_NOT_FOUND', opts.flag)
      keys = [opts.flag]
    }
    const flags = keys.map((k) => diffFlag(k, ma.get(k), mb.get(k), opts.sample))

    const [sa, sb] = await Promise.all([this.segments.list(from), this.segments.list(to)])
    const ga = new Map(sa.map((s) => [s.key, s]))
    const gb = new Map(sb.map((s) => [s.key, s]))
    let segKeys = [...new Set([...ga.keys(), ...gb.keys()])].sort()
    if (opts.flag !== undefined) {
      const used = new Set([...segmentRefs(ma.get(opts.flag)), ...segmentRefs(mb.get(opts.flag))])
      segKeys = segKeys.filter((k) => used.has(k))
      // A segment the flag names that exists nowhere is still worth a line.
      for (const k of used) if (!segKeys.includes(k)) segKeys.push(k)
    }
    const segments: SegmentDiff[] = []
    for (const k of segKeys) segments.push(await this.diffSegment(from, to, k, ga.get(k), gb.get(k), opts.sample))

    const [xa, xb] = await Promise.all([this.facts.read(from), this.facts.read(to)])
    const facts = {
      ...diffFacts(valuesOf(xa.facts), valuesOf(xb.facts)),
      versions: { from: xa.version, to: xb.version },
    }
    const [aa, ab] = await Promise.all([this.sdk.applications(from), this.sdk.applications(to)])
    const applications = { ...diffApplications(aa.items, ab.items), unnamed: { from: aa.unnamed, to: ab.unnamed } }
    return {
      from,
      to,
      flag: opts.flag ?? null,
      flags,
      segments,
      facts,
      applications,
      summary: {
        flags: flags.filter((f) => f.status !== 'same').length,
        segments: segments.filter((s) => s.status !== 'same').length,
        facts: facts.differences.length,
        applications: applications.differences.length,
      },
    }
  }

  private async diffSegment(
    from: string,
    to: string,
    key: string,
    a: SegmentView | undefined,
    b: SegmentView | undefined,
    sample: number,
  ): Promise<SegmentDiff> {
    const versions = { from: a?.version ?? null, to: b?.version ?? null }
    if (!a || !b)
      return { key, status: a ? 'only-from' : b ? 'only-to' : 'different', versions, changes: {}, members: null }
    const changes: SegmentDiff['changes'] = {}
    for (const f of ['name', 'description', 'rules'] as const)
      if (differ(a[f] ?? null, b[f] ?? null)) changes[f] = { from: a[f] ?? null, to: b[f] ?? null }
    const list = async (l: 'included' | 'excluded'): Promise<MemberDiff> => {
      const [onlyFrom, onlyTo] = await Promise.all([
        this.members.onlyIn(from, to, key, l, sample),
        this.members.onlyIn(to, from, key, l, sample),
      ])
      return {
        from: l === 'included' ? a.includedCount : a.excludedCount,
        to: l === 'included' ? b.includedCount : b.excludedCount,
        onlyFrom,
        onlyTo,
      }
    }
    const members = { included: await list('included'), excluded: await list('excluded') }
    const membersDiffer = (m: MemberDiff) => m.from !== m.to || m.onlyFrom.found > 0 || m.onlyTo.found > 0
    const status: Presence =
      Object.keys(changes).length > 0 || membersDiffer(members.included) || membersDiffer(members.excluded)
        ? 'different'
        : 'same'
    return { key, status, versions, changes, members }
  }
}
