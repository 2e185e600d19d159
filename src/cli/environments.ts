/** The CLI's environment commands: diff, promote, facts (docs: README "Environments", docs/environments.md). */
import { EXIT, seg, UsageError } from './api.js'
import { type Command, type Context, printJson, REASON, str } from './commands.js'
import { table } from './format.js'

type FactValue = string | number | boolean | string[]

interface Fact {
  name: string
  type: 'string' | 'number' | 'boolean' | 'list'
  value: FactValue
  drift: boolean
  version: number
  updatedAt: string
  updatedBy: string
}
interface FactsView {
  environment: string
  version: number
  facts: Fact[]
  changed?: string[]
}
interface Change {
  from: unknown
  to: unknown
}
interface Ids {
  count: number
  sample: string[]
}
interface OneSided {
  sample: string[]
  found: number
  complete: boolean
}
interface Diff {
  from: string
  to: string
  flags: Array<{
    key: string
    status: string
    versions: { from: number | null; to: number | null }
    changes: {
      on?: Change
      offVariation?: Change
      fallthrough?: Change
      prerequisites?: Change
      requires?: Change
      knob?: Change
      targets?: Array<{ variation: number; onlyFrom: Ids; onlyTo: Ids }>
      rules?: { onlyFrom: string[]; onlyTo: string[]; changed: string[]; reordered: boolean }
      other?: Record<string, Change>
    }
  }>
  segments: Array<{
    key: string
    status: string
    changes: Record<string, Change>
    members: Record<'included' | 'excluded', { from: number; to: number; onlyFrom: OneSided; onlyTo: OneSided }> | null
  }>
  facts: { differences: Array<{ fact: string; status: string; from: unknown; to: unknown }>; same: number }
  applications: {
    differences: Array<{
      name: string
      status: string
      from: Array<{ version: string | null; instances: number }>
      to: Array<{ version: string | null; instances: number }>
      facts: Array<{ fact: string; from: unknown; to: unknown }>
    }>
    same: number
  }
  summary: { flags: number; segments: number; facts: number; applications: number }
}

const show = (v: unknown): string => (v === null || v === undefined ? '(absent)' : JSON.stringify(v))
const some = (ids: string[], n: number) => (ids.length ? `: ${ids.join(', ')}${n > ids.length ? ', …' : ''}` : '')

/** Lines for people: only what differs, one line per difference. */
export function describeDiff(d: Diff): string[] {
  const { from: a, to: b } = d
  const out: string[] = [`${a} → ${b}`]
  const flags = d.flags.filter((f) => f.status !== 'same')
  out.push(`flags: ${flags.length} of ${d.flags.length} differ`)
  for (const f of flags) {
    if (f.status !== 'different') {
      out.push(`  ${f.key}: only in ${f.status === 'only-from' ? a : b}`)
      continue
    }
    out.push(`  ${f.key} (v${f.versions.from} → v${f.versions.to})`)
    const c = f.changes
    for (const k of ['on', 'offVariation', 'fallthrough', 'prerequisites', 'requires'] as const) {
      const x = c[k]
      if (x) out.push(`    ${k}: ${show(x.from)} → ${show(x.to)}`)
    }
    // A knob by its value, as `switchyard knob set` takes it.
    if (c.knob) out.push(`    knob: ${c.knob.from ?? '(none)'} → ${c.knob.to ?? '(none)'}`)
    for (const t of c.targets ?? [])
      out.push(
        `    targets of variation ${t.variation}: ${t.onlyFrom.count} only in ${a}${some(t.onlyFrom.sample, t.onlyFrom.count)}; ${t.onlyTo.count} only in ${b}${some(t.onlyTo.sample, t.onlyTo.count)}`,
      )
    if (c.rules) {
      const r = c.rules
      const parts = [
        r.onlyFrom.length ? `only in ${a}: ${r.onlyFrom.join(', ')}` : '',
        r.onlyTo.length ? `only in ${b}: ${r.onlyTo.join(', ')}` : '',
        r.changed.length ? `changed: ${r.changed.join(', ')}` : '',
        r.reordered ? 'in another order' : '',
      ].filter((p) => p !== '')
      out.push(`    rules: ${parts.join('; ')}`)
    }
    for (const [k, x] of Object.entries(c.other ?? {})) out.push(`    ${k}: ${show(x.from)} → ${show(x.to)}`)
  }
  const segments = d.segments.filter((s) => s.status !== 'same')
  out.push(`segments: ${segments.length} of ${d.segments.length} differ`)
  for (const s of segments) {
    if (s.members === null) {
      out.push(`  ${s.key}: only in ${s.status === 'only-from' ? a : s.status === 'only-to' ? b : 'neither'}`)
      continue
    }
    out.push(`  ${s.key}`)
    for (const [k, x] of Object.entries(s.changes)) out.push(`    ${k}: ${show(x.from)} → ${show(x.to)}`)
    for (const l of ['included', 'excluded'] as const) {
      const m = s.members[l]
      if (m.from === m.to && m.onlyFrom.found === 0 && m.onlyTo.found === 0) continue
      const side = (o: OneSided, env: string) =>
        `${o.complete ? '' : 'at least '}${o.found} only in ${env}${some(o.sample, o.found)}`
      out.push(`    ${l}: ${m.from} → ${m.to} (${side(m.onlyFrom, a)}; ${side(m.onlyTo, b)})`)
    }
  }
  out.push(`facts: ${d.facts.differences.length} differ, ${d.facts.same} the same`)
  for (const f of d.facts.differences) out.push(`  ${f.fact}: ${show(f.from)} → ${show(f.to)}`)
  out.push(`applications: ${d.applications.differences.length} differ, ${d.applications.same} the same`)
  const versions = (l: Array<{ version: string | null; instances: number }>) =>
    l.length ? l.map((v) => `${v.version ?? '(no version)'} ×${v.instances}`).join(', ') : '(none)'
  for (const x of d.applications.differences) {
    out.push(`  ${x.name}: ${versions(x.from)} → ${versions(x.to)}`)
    for (const f of x.facts) out.push(`    ${f.fact}: ${show(f.from)} → ${show(f.to)}`)
  }
  return out
}

/** `name=value` or `name:type=value`; without a type, the fact's current type, else inferred from the text. */
export function parseAssignment(arg: string, current: Map<string, Fact['type']>): [string, FactValue] {
  const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)(?::(string|number|boolean|list))?=(.*)$/s.exec(arg)
  if (!m) throw new UsageError(`facts set takes name=value (or name:type=value), not "${arg}"`, 'facts set')
  const [, name, given, text] = m as unknown as [string, string, string | undefined, string]
  const type =
    given ??
    current.get(name) ??
    (/^(true|false)$/.test(text)
      ? 'boolean'
      : /^-?\d+(\.\d+)?$/.test(text)
        ? 'number'
        : text.includes(',')
          ? 'list'
          : 'string')
  switch (type) {
    case 'number': {
      const n = Number(text)
      if (text.trim() === '' || !Number.isFinite(n))
        throw new UsageError(`${name} is a number, not "${text}"`, 'facts set')
      return [name, n]
    }
    case 'boolean':
      if (text !== 'true' && text !== 'false')
        throw new UsageError(`${name} is a boolean (true or false), not "${text}"`, 'facts set')
      return [name, text === 'true']
    case 'list':
      return [
        name,
        text
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x !== ''),
      ]
    default:
      return [name, text]
  }
}

const factsPath = (env: string) => `/api/v1/environments/${seg(env)}/facts`

function printFacts(c: Context, v: FactsView): void {
  c.out(
    table(
      ['fact', 'type', 'value', 'drift', 'version', 'updated', 'by'],
      v.facts.map((f) => [
        f.name,
        f.type,
        Array.isArray(f.value) ? f.value.join(',') : String(f.value),
        f.drift ? 'yes' : '',
        String(f.version),
        f.updatedAt,
        f.updatedBy,
      ]),
    ),
  )
}

export const ENVIRONMENT_COMMANDS: Command[] = [
  {
    name: 'diff',
    args: '<env> <other-env> [<flag>]',
    summary: 'what differs between two environments: flags, segments, facts, applications',
    details:
      'Only differences are printed; --json gives the whole structured diff. Member lists are compared by a bounded scan:\n' +
      '"at least N" when a segment is larger than the scan.',
    positionals: [2, 3],
    options: { sample: { type: 'string', arg: 'N', help: 'ids quoted per one-sided list (default 5, at most 100)' } },
    run: async (c) => {
      const [a, b, flag] = c.args as [string, string, string | undefined]
      const sample = str(c, 'sample') ?? '5'
      if (!/^\d{1,3}$/.test(sample) || Number(sample) > 100)
        throw new UsageError(`--sample takes a number from 0 to 100, not "${sample}"`, 'diff')
      const q = new URLSearchParams({ sample, ...(flag !== undefined && { flag }) })
      const d = (await c.api.call<Diff>('GET', `/api/v1/environments/${seg(a)}/diff/${seg(b)}?${q}`)).body
      if (c.json) printJson(c, d)
      else c.out(describeDiff(d).join('\n'))
      return EXIT.OK
    },
  },
  {
    name: 'promote',
    args: '<flag>',
    summary: "copy a flag's configuration from one environment to another (one atomic, audited write)",
    details:
      'Reads the target version and writes with If-Match. Refused (exit 1) when segments are missing in the target\n' +
      '(SEGMENTS_MISSING: --copy-segments creates them), when the target’s facts do not meet the flag’s requirements\n' +
      '(FACTS_UNMET) or differ from the source’s (FACTS_DRIFT); --force with --reason overrides the last two.',
    positionals: [1, 1],
    options: {
      from: { type: 'string', arg: 'ENV', help: 'the source environment (required)' },
      to: { type: 'string', arg: 'ENV', help: 'the target environment (required)' },
      parts: {
        type: 'string',
        arg: 'LIST',
        help: 'comma-separated: on,offVariation,targets,rules,fallthrough,prerequisites,requires,knob (default all)',
      },
      'copy-segments': { type: 'boolean', help: 'create the segments the target lacks (definitions)' },
      'copy-members': { type: 'boolean', help: 'with --copy-segments, copy their members too' },
      force: { type: 'boolean', help: 'promote despite unmet or drifted facts (needs --reason)' },
      reason: REASON,
    },
    run: async (c) => {
      const [key] = c.args as [string]
      const from = str(c, 'from')
      const to = str(c, 'to')
      if (from === undefined || to === undefined) throw new UsageError('promote needs --from and --to', 'promote')
      const parts = str(c, 'parts')
        ?.split(',')
        .map((p) => p.trim())
        .filter((p) => p !== '')
      const path = `/api/v1/environments/${seg(to)}/flags/${seg(key)}`
      const cur = (await c.api.call<{ version: number }>('GET', path)).body
      const r = await c.api.call<{ version: number; on: boolean }>('POST', `${path}/promote`, {
        ifMatch: cur.version,
        body: {
          from,
          ...(parts && { parts }),
          ...(c.opts['copy-segments'] === true && { copySegments: true }),
          ...(c.opts['copy-members'] === true && { copyMembers: true }),
          ...(c.opts.force === true && { force: true }),
          ...(str(c, 'reason') !== undefined && { reason: str(c, 'reason') }),
        },
      })
      const copied = r.headers.get('x-segments-copied')
      if (c.json)
        printJson(c, { ...r.body, changeId: r.headers.get('x-change-id'), segmentsCopied: copied?.split(',') ?? [] })
      else
        c.out(
          `promoted ${key} from ${from} to ${to}: ${r.body.on ? 'on' : 'off'} (version ${r.body.version}${copied ? `; segments copied: ${copied}` : ''})`,
        )
      return EXIT.OK
    },
  },
  {
    name: 'facts get',
    args: '<env>',
    summary: "an environment's facts",
    positionals: [1, 1],
    run: async (c) => {
      const v = (await c.api.call<FactsView>('GET', factsPath(c.args[0] as string))).body
      if (c.json) printJson(c, v)
      else printFacts(c, v)
      return EXIT.OK
    },
  },
  {
    name: 'facts set',
    args: '<env> <name=value>…',
    summary: 'record facts of an environment (one atomic, audited write)',
    details:
      'A value with a comma is a list (a,b), true/false a boolean, digits a number, anything else a string; a fact keeps\n' +
      'the type it has. name:type=value says it: :string, :number, :boolean, :list (name:list= is an empty list).',
    positionals: [1, 200],
    options: {
      unset: { type: 'string', multiple: true, arg: 'NAME', help: 'remove a fact (repeatable)' },
      drift: { type: 'boolean', help: 'mark the facts set as compared by every promote' },
      reason: REASON,
    },
    run: async (c) => {
      const [env, ...assignments] = c.args as [string, ...string[]]
      const unset = (Array.isArray(c.opts.unset) ? c.opts.unset : []).filter((x): x is string => typeof x === 'string')
      if (assignments.length === 0 && unset.length === 0)
        throw new UsageError('facts set needs name=value or --unset NAME', 'facts set')
      const current = (await c.api.call<FactsView>('GET', factsPath(env))).body
      const types = new Map(current.facts.map((f) => [f.name, f.type]))
      const set = Object.fromEntries(assignments.map((a) => parseAssignment(a, types)))
      const body = {
        ...(assignments.length > 0 && { set }),
        ...(unset.length > 0 && { unset }),
        ...(c.opts.drift === true && { drift: Object.fromEntries(Object.keys(set).map((k) => [k, true])) }),
        ...(str(c, 'reason') !== undefined && { reason: str(c, 'reason') }),
      }
      const v = (await c.api.call<FactsView>('POST', factsPath(env), { body })).body
      if (c.json) printJson(c, v)
      else
        c.out(
          v.changed?.length
            ? `${env}: recorded ${v.changed.join(', ')} (facts version ${v.version})`
            : `${env}: nothing changed (facts version ${v.version})`,
        )
      return EXIT.OK
    },
  },
  {
    name: 'facts history',
    args: '<env>',
    summary: "writes of an environment's facts, newest first",
    positionals: [1, 1],
    options: {
      fact: { type: 'string', arg: 'NAME', help: 'only this fact' },
      limit: { type: 'string', arg: 'N', help: 'at most N writes (default 20)' },
    },
    run: async (c) => {
      const limit = str(c, 'limit') ?? '20'
      if (!/^[1-9]\d{0,2}$/.test(limit) || Number(limit) > 500)
        throw new UsageError(`--limit takes a number from 1 to 500, not "${limit}"`, 'facts history')
      const q = new URLSearchParams({ limit, ...(str(c, 'fact') !== undefined && { fact: str(c, 'fact') as string }) })
      const r = await c.api.call<{
        items: Array<{
          version: number
          at: string
          actor: string
          reason?: string
          changes: Array<{ fact: string; from: unknown; to: unknown }>
        }>
      }>('GET', `${factsPath(c.args[0] as string)}/history?${q}`)
      if (c.json) printJson(c, r.body)
      else
        c.out(
          table(
            ['version', 'at', 'actor', 'change', 'reason'],
            r.body.items.flatMap((e) =>
              e.changes.map((ch) => [
                String(e.version),
                e.at,
                e.actor,
                `${ch.fact}: ${show(ch.from)} → ${show(ch.to)}`,
                e.reason ? `"${e.reason}"` : '',
              ]),
            ),
          ),
        )
      return EXIT.OK
    },
  },
]
