/** The CLI's commands: each a thin composition of REST calls (docs: README, "From a shell: the operator CLI"). */
import { setTimeout as delay } from 'node:timers/promises'
import type { Static } from '@sinclair/typebox'
import type { AuditEntry } from '../schemas/audit.js'
import type { Environment } from '../schemas/environment.js'
import type { FlagConfigSchema, FlagDefinitionRecord as FlagDefinition } from '../schemas/flag.js'
import type { SdkStatus } from '../schemas/sdk.js'
import { MAX_MEMBERS_PER_CALL, type MembersChange, type SegmentView as Segment } from '../schemas/segment.js'
import type { TokenView as Token } from '../schemas/token.js'
import { type Api, ApiError, EXIT, seg, UnreachableError, UsageError } from './api.js'
import { describeServe, percent, type Serve, servedValues, table } from './format.js'

export interface OptionSpec {
  type: 'string' | 'boolean'
  multiple?: boolean
  /** Placeholder of the value in the help, e.g. "TEXT". */
  arg?: string
  help: string
}

export type OptionValues = Record<string, string | boolean | Array<string | boolean> | undefined>

export interface Context {
  api: Api
  args: string[]
  opts: OptionValues
  json: boolean
  out: (s: string) => void
  err: (s: string) => void
  readInput: (path: string) => string
}

export interface Command {
  /** One or two words: "kill", "flags list". */
  name: string
  /** Positionals as shown in the usage: "<env> <flag>". */
  args: string
  summary: string
  /** Lines of help after the usage. */
  details?: string
  positionals: [min: number, max: number]
  options?: Record<string, OptionSpec>
  run: (c: Context) => Promise<number>
}

export const REASON: OptionSpec = { type: 'string', arg: 'TEXT', help: 'why; recorded in the audit log' }

export const str = (c: Context, name: string): string | undefined => {
  const v = c.opts[name]
  return typeof v === 'string' ? v : undefined
}
const list = (c: Context, name: string): string[] => {
  const v = c.opts[name]
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []
}
const reason = (c: Context) => {
  const r = str(c, 'reason')
  return r === undefined ? {} : { reason: r }
}
export const printJson = (c: Context, v: unknown) => c.out(JSON.stringify(v, null, 2))

/** The API's answers, typed by the server's own wire schemas (type-only imports: nothing of them runs here). */
type FlagConfig = Static<typeof FlagConfigSchema>

/** A list command's output: the API's answer as it is for scripts (--json), a table of its items for people. */
function printList<T>(c: Context, body: { items: T[] }, headers: string[], row: (item: T) => string[]): number {
  if (c.json) printJson(c, body)
  else c.out(table(headers, body.items.map(row)))
  return EXIT.OK
}

const flagPath = (env: string, flag: string) => `/api/v1/environments/${seg(env)}/flags/${seg(flag)}`

/** Prints a write's result: one line for people, the stored configuration plus its change id for scripts. */
function wrote(c: Context, r: { body: FlagConfig; headers: Headers }, line: string): number {
  const changeId = r.headers.get('x-change-id')
  if (c.json) printJson(c, { ...r.body, changeId })
  else c.out(`${line} (version ${r.body.version}${changeId ? `, change ${changeId}` : ''})`)
  return EXIT.OK
}

/** Ids from a file or stdin ("-"), one a line; blank lines skipped. */
/**
 * A read-modify-write of a flag's configuration: reads it, PUTs the same configuration with `edit`'s
 * fields over it, with If-Match on the version read. A concurrent change is re-read and the edit applied
 * to the new version once (said on stderr); a second conflict is reported. `what` names the edit in that
 * line; `done` prints the result and returns the exit code.
 */
async function rewriteConfig(
  c: Context,
  env: string,
  key: string,
  what: string,
  edit: (cur: FlagConfig) => Record<string, unknown>,
  done: (cur: FlagConfig, r: { body: FlagConfig; headers: Headers }) => number,
): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const cur = (await c.api.call<FlagConfig>('GET', flagPath(env, key))).body
    const body = {
      on: cur.on,
      offVariation: cur.offVariation,
      prerequisites: cur.prerequisites,
      targets: cur.targets,
      rules: cur.rules,
      fallthrough: cur.fallthrough,
      ...edit(cur),
      ...reason(c),
    }
    try {
      return done(cur, await c.api.call<FlagConfig>('PUT', flagPath(env, key), { body, ifMatch: cur.version }))
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 'VERSION_CONFLICT' && attempt === 1)) throw e
      c.err(
        `${key} changed while the ${what} was written (version ${cur.version} is no longer current): applying it to the new version`,
      )
    }
  }
}

function readIds(c: Context, path: string): string[] {
  return c
    .readInput(path)
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '')
}

const chunks = <T>(xs: T[]): T[][] => {
  const out: T[][] = []
  for (let i = 0; i < xs.length; i += MAX_MEMBERS_PER_CALL) out.push(xs.slice(i, i + MAX_MEMBERS_PER_CALL))
  return out
}

interface MemberTotals {
  added: number
  removed: number
  count: number | null
  calls: number
}

/** Sends ids in calls of ≤ 100,000, summing the server's counts; progress on stderr when asked. */
async function sendMembers(
  c: Context,
  path: string,
  op: 'add' | 'remove',
  ids: string[],
  listName: string,
  totals: MemberTotals,
  progress: boolean,
): Promise<void> {
  let done = 0
  for (const part of chunks(ids)) {
    const r = await c.api.call<MembersChange>('POST', path, { body: { [op]: part, list: listName, ...reason(c) } })
    totals.added += r.body.added
    totals.removed += r.body.removed
    totals.count = r.body.count
    totals.calls++
    done += part.length
    if (progress)
      c.err(
        `${op === 'add' ? 'adding' : 'removing'}: ${done.toLocaleString('en')} of ${ids.length.toLocaleString('en')} ids sent`,
      )
  }
}

const LIST: OptionSpec = { type: 'string', arg: 'included|excluded', help: 'which member list (default included)' }
function listOption(c: Context): string {
  const l = str(c, 'list') ?? 'included'
  if (l !== 'included' && l !== 'excluded') throw new UsageError(`--list must be included or excluded, not "${l}"`)
  return l
}

function membersCommand(op: 'add' | 'remove'): Command {
  return {
    name: `members ${op}`,
    args: '<env> <segment> <file|->',
    summary: `${op === 'add' ? 'add' : 'remove'} ids (one a line, any number) ${op === 'add' ? 'to' : 'from'} a segment`,
    details: 'Sent in calls of 100,000. Prints what the server did: ids already (or never) members are not counted.',
    positionals: [3, 3],
    options: { list: LIST, reason: REASON },
    run: async (c) => {
      const [env, key, file] = c.args as [string, string, string]
      const listName = listOption(c)
      const ids = readIds(c, file)
      const totals: MemberTotals = { added: 0, removed: 0, count: null, calls: 0 }
      const path = `/api/v1/environments/${seg(env)}/segments/${seg(key)}/members`
      if (ids.length === 0) {
        // Nothing to send; still check the segment exists and report its size.
        const s = await c.api.call<Segment>('GET', `/api/v1/environments/${seg(env)}/segments/${seg(key)}`)
        totals.count = listName === 'excluded' ? s.body.excludedCount : s.body.includedCount
      }
      await sendMembers(c, path, op, ids, listName, totals, false)
      const done = op === 'add' ? totals.added : totals.removed
      if (c.json)
        printJson(c, {
          key,
          list: listName,
          sent: ids.length,
          added: totals.added,
          removed: totals.removed,
          count: totals.count,
        })
      else {
        const skipped = ids.length - done
        const why =
          skipped === 0
            ? ''
            : op === 'add'
              ? `; ${skipped} already members or repeated`
              : `; ${skipped} were not members`
        c.out(
          `${op === 'add' ? 'added' : 'removed'} ${done} of ${ids.length} ids sent${why}; ${key} now has ${totals.count} ${listName} members`,
        )
      }
      return EXIT.OK
    },
  }
}

/** Every id of a member list, by pages of 10,000. */
async function allMembers(c: Context, env: string, key: string, listName: string): Promise<Set<string>> {
  const out = new Set<string>()
  let cursor: string | null = null
  do {
    const q: string = new URLSearchParams({
      list: listName,
      limit: '10000',
      ...(cursor !== null && { cursor }),
    }).toString()
    const page: { body: { items: string[]; nextCursor: string | null } } = await c.api.call(
      'GET',
      `/api/v1/environments/${seg(env)}/segments/${seg(key)}/members?${q}`,
    )
    for (const id of page.body.items) out.add(id)
    cursor = page.body.nextCursor
  } while (cursor !== null)
  return out
}

/** Index of the variation serving `value` in a boolean flag; the flag's own order is kept. */
function booleanVariation(f: { key: string; kind: string; variations: unknown[] }, value: boolean): number {
  const i = f.variations.indexOf(value)
  // Found only after reading the flag, but still a misuse of the command: exit 2, not a code of the API's.
  if (f.kind !== 'boolean' || i < 0)
    throw new UsageError(
      `rollout serves true to a percentage and false to the rest; ${f.key} is a ${f.kind} flag (set its fallthrough with PUT /api/v1/environments/:env/flags/:key)`,
      'rollout',
    )
  return i
}

/** "12.5" → 12500 of 100,000 buckets; at most three decimals (the rollout's 0.001 % steps). */
function parsePercent(s: string): number {
  if (!/^\d{1,3}(\.\d{1,3})?%?$/.test(s))
    throw new UsageError(`percent must be a number from 0 to 100 with at most 3 decimals, not "${s}"`, 'rollout')
  const weight = Math.round(Number(s.replace('%', '')) * 1000)
  if (weight > 100_000) throw new UsageError(`percent must be at most 100, not "${s}"`, 'rollout')
  return weight
}

export function parseSeconds(s: string, option: string): number {
  const n = Number(s)
  if (!/^\d+(\.\d+)?$/.test(s) || !(n > 0))
    throw new UsageError(`${option} takes a number of seconds above 0, not "${s}"`)
  return n * 1000
}

async function sdkStatus(c: Context, env: string, changeId: string | undefined): Promise<SdkStatus> {
  const q = changeId ? `?changeId=${seg(changeId)}` : ''
  return (await c.api.call<SdkStatus>('GET', `/api/v1/environments/${seg(env)}/sdk-status${q}`)).body
}

/** Every tracked server SDK has the change, and none is untracked: the proof, and exit 0. */
const allApplied = (s: SdkStatus) => s.pending.length === 0 && !s.capped

function printStatus(c: Context, s: SdkStatus): void {
  if (c.json) {
    printJson(c, s)
    return
  }
  c.out(
    `change ${s.changeId} (${s.changeAt}): applied by ${s.applied} of ${s.total} server SDK instances${s.pending.length ? `; pending: ${s.pending.join(', ')}` : ''}`,
  )
  if (s.total === 0) c.out('no server SDK instance reported in the last 10 minutes')
  else
    c.out(
      table(
        ['sdk', 'applied', 'lag', 'version', 'reported'],
        s.instances.map((i) => [
          i.sdkId,
          i.applied ? 'yes' : 'no',
          i.lagMs === undefined ? '-' : `${i.lagMs} ms`,
          i.sdkVersion ?? '-',
          i.reportedAt,
        ]),
      ),
    )
  if (s.capped)
    c.out('more server SDK instances report than are tracked (SDK_MAX_SERVER_INSTANCES): the others are unknown')
  if (s.clients.total > 0)
    c.out(
      `browsers: ${s.clients.applied} of ${s.clients.total} applied it (not part of the exit code: their token is public)`,
    )
}

export const COMMANDS: Command[] = [
  {
    name: 'envs list',
    args: '',
    summary: 'environments',
    positionals: [0, 0],
    run: async (c) => {
      const r = await c.api.call<{ items: Environment[] }>('GET', '/api/v1/environments')
      return printList(c, r.body, ['key', 'name', 'signed contexts', 'version'], (e) => [
        e.key,
        e.name,
        e.requireSignedContext ? 'required' : 'optional',
        String(e.version),
      ])
    },
  },
  {
    name: 'flags list',
    args: '[<env>]',
    summary: 'flag definitions, or with <env> what each serves there',
    positionals: [0, 1],
    options: { tag: { type: 'string', arg: 'TAG', help: 'only flags with this tag' } },
    run: async (c) => {
      const tag = str(c, 'tag')
      const defs = (
        await c.api.call<{ items: FlagDefinition[] }>('GET', `/api/v1/flags${tag ? `?tag=${seg(tag)}` : ''}`)
      ).body.items
      const env = c.args[0]
      if (env === undefined)
        return printList(c, { items: defs }, ['key', 'kind', 'name', 'tags', 'client-side'], (f) => [
          f.key,
          f.kind,
          f.name,
          (f.tags ?? []).join(',') || '-',
          f.clientSide ? 'yes' : 'no',
        ])
      const keys = new Set(defs.map((d) => d.key))
      const items = (
        await c.api.call<{ items: FlagConfig[] }>('GET', `/api/v1/environments/${seg(env)}/flags`)
      ).body.items.filter((f) => keys.has(f.key))
      return printList(c, { items }, ['key', 'on', 'fallthrough', 'rules', 'version'], (f) => [
        f.key,
        f.on ? 'on' : 'off',
        describeServe(f.fallthrough, servedValues(f)),
        String(f.rules.length),
        String(f.version),
      ])
    },
  },
  {
    name: 'flags get',
    args: '[<env>] <flag>',
    summary: "a flag's definition, or with <env> its configuration there",
    positionals: [1, 2],
    run: async (c) => {
      if (c.args.length === 1) {
        const f = (await c.api.call<FlagDefinition>('GET', `/api/v1/flags/${seg(c.args[0]!)}`)).body
        if (c.json) printJson(c, f)
        else {
          c.out(
            table(
              ['field', 'value'],
              [
                ['key', f.key],
                ['name', f.name],
                ['kind', f.kind],
                ['variations', f.variations.map((v) => JSON.stringify(v)).join(', ')],
                ['tags', (f.tags ?? []).join(', ') || '-'],
                ['client-side', f.clientSide ? 'yes' : 'no'],
                ['temporary', f.temporary ? 'yes' : 'no'],
                ['owner', f.owner ?? '-'],
                ['version', String(f.version)],
              ],
            )
              .split('\n')
              .slice(1)
              .join('\n'),
          )
        }
        return EXIT.OK
      }
      const [env, key] = c.args as [string, string]
      const f = (await c.api.call<FlagConfig>('GET', flagPath(env, key))).body
      if (c.json) printJson(c, f)
      else {
        const v = (i: number | null) => (i === null ? 'the caller’s default' : JSON.stringify(servedValues(f)[i]))
        c.out(
          table(
            ['field', 'value'],
            [
              ['flag', `${f.key} in ${f.environment}`],
              ['on', f.on ? 'on' : 'off'],
              ['version', String(f.version)],
              ['off variation', v(f.offVariation)],
              [
                'prerequisites',
                f.prerequisites.map((p) => `${p.flag}=${JSON.stringify(p.variation)}`).join(', ') || '-',
              ],
              ['targets', f.targets.map((t) => `${t.values.length} → ${v(t.variation)}`).join(', ') || '-'],
              ['rules', f.rules.map((r) => `${r.id} → ${describeServe(r.serve, servedValues(f))}`).join('; ') || '-'],
              ['fallthrough', describeServe(f.fallthrough, servedValues(f))],
            ],
          )
            .split('\n')
            .slice(1)
            .join('\n'),
        )
      }
      return EXIT.OK
    },
  },
  {
    name: 'flags create',
    args: '<flag>',
    summary: 'define a flag (off in every environment)',
    positionals: [1, 1],
    options: {
      kind: { type: 'string', arg: 'boolean|string|number|json', help: 'default boolean' },
      name: { type: 'string', arg: 'TEXT', help: 'display name (default: the key)' },
      description: { type: 'string', arg: 'TEXT', help: 'what it is for' },
      variations: { type: 'string', arg: 'JSON', help: 'the values, a JSON array (boolean: [true,false])' },
      tag: { type: 'string', multiple: true, arg: 'TAG', help: 'a tag (repeatable)' },
      owner: { type: 'string', arg: 'TEXT', help: 'who to ask' },
      temporary: { type: 'boolean', help: 'a release flag, to be removed' },
      'client-side': { type: 'boolean', help: 'browsers (sdk-client tokens) may see it' },
    },
    run: async (c) => {
      let variations: unknown
      const raw = str(c, 'variations')
      if (raw !== undefined) {
        try {
          variations = JSON.parse(raw)
        } catch {
          throw new UsageError(`--variations must be a JSON array, such as '["a","b"]'`, 'flags create')
        }
      }
      const body = {
        key: c.args[0],
        kind: str(c, 'kind') ?? 'boolean',
        ...(str(c, 'name') !== undefined && { name: str(c, 'name') }),
        ...(str(c, 'description') !== undefined && { description: str(c, 'description') }),
        ...(variations !== undefined && { variations }),
        ...(list(c, 'tag').length > 0 && { tags: list(c, 'tag') }),
        ...(str(c, 'owner') !== undefined && { owner: str(c, 'owner') }),
        ...(c.opts.temporary === true && { temporary: true }),
        ...(c.opts['client-side'] === true && { clientSide: true }),
      }
      const f = (await c.api.call<FlagDefinition>('POST', '/api/v1/flags', { body })).body
      if (c.json) printJson(c, f)
      else
        c.out(
          `created ${f.kind} flag ${f.key} (${f.variations.map((v) => JSON.stringify(v)).join(', ')}), off in every environment`,
        )
      return EXIT.OK
    },
  },
  {
    name: 'kill',
    args: '<env> <flag>',
    summary: 'turn a flag off now, whatever its version',
    positionals: [2, 2],
    options: { reason: REASON },
    details:
      'Then `switchyard status <env> <change> --wait` proves every live server SDK applied it.\n' +
      'Past a point of no return the kill still happens, and a warning on stderr (also with --json, whose output\n' +
      'carries it as `notUndone`) says what it does not undo.',
    run: async (c) => {
      const [env, key] = c.args as [string, string]
      const r = await c.api.call<FlagConfig & { notUndone?: string }>('POST', `${flagPath(env, key)}/kill`, {
        body: reason(c),
      })
      // On stderr, so it reaches the person even when stdout goes to a file or to jq; the kill did succeed (exit 0).
      if (r.body.notUndone) c.err(`switchyard: warning: ${r.body.notUndone}`)
      return wrote(c, r, `killed ${key} in ${env}`)
    },
  },
  {
    name: 'toggle',
    args: '<env> <flag> on|off',
    summary: 'turn a flag on or off',
    positionals: [3, 3],
    options: {
      reason: REASON,
      force: { type: 'boolean', help: 'turn on although the facts do not meet its requirements (needs --reason)' },
    },
    run: async (c) => {
      const [env, key, state] = c.args as [string, string, string]
      if (state !== 'on' && state !== 'off') throw new UsageError(`toggle takes on or off, not "${state}"`, 'toggle')
      return wrote(
        c,
        await c.api.call<FlagConfig>('POST', `${flagPath(env, key)}/toggle`, {
          body: { on: state === 'on', ...reason(c), ...(c.opts.force === true && { force: true }) },
        }),
        `${key} is ${state} in ${env}`,
      )
    },
  },
  {
    name: 'rollout',
    args: '<env> <flag> <percent>',
    summary: 'serve true to <percent> of contexts (fallthrough), false to the rest',
    positionals: [3, 3],
    details:
      'Boolean flags. Percent in 0.001 steps ("12.5"). Raising it keeps everyone who had true. Leaves on/off as it is.\n' +
      'Writes with If-Match: a concurrent change is re-read and the rollout applied to it once; a second conflict is reported.',
    options: {
      'bucket-by': {
        type: 'string',
        arg: 'ATTRIBUTE',
        help: 'context attribute to bucket by (default: as before, else key)',
      },
      reason: REASON,
    },
    run: async (c) => {
      const [env, key, pct] = c.args as [string, string, string]
      const weight = parsePercent(pct)
      let bucketBy: string | undefined
      return rewriteConfig(
        c,
        env,
        key,
        'rollout',
        (cur) => {
          const yes = booleanVariation(cur, true)
          const no = booleanVariation(cur, false)
          bucketBy =
            str(c, 'bucket-by') ?? ('rollout' in cur.fallthrough ? cur.fallthrough.rollout.bucketBy : undefined)
          // true's weight first: buckets fill in order, so raising the percentage only adds contexts to true.
          return {
            fallthrough: {
              rollout: {
                ...(bucketBy !== undefined && { bucketBy }),
                weights: [
                  { variation: yes, weight },
                  { variation: no, weight: 100_000 - weight },
                ],
              },
            },
          }
        },
        (cur, r) => {
          const code = wrote(
            c,
            r,
            `${key} in ${env} serves true to ${percent(weight)} of contexts${bucketBy && bucketBy !== 'key' ? ` (by ${bucketBy})` : ''}`,
          )
          if (!cur.on && !c.json)
            c.err(
              `note: ${key} is off in ${env}: it serves its off variation until \`switchyard toggle ${env} ${key} on\``,
            )
          return code
        },
      )
    },
  },
  {
    name: 'knob set',
    args: '<env> <flag> <value>',
    summary: "serve a live knob's <value> (a number within the flag's knob bounds) to every context that falls through",
    positionals: [3, 3],
    details:
      'Number flags with knob bounds. Sets knob.value and points the fallthrough at it (variation variations.length);\n' +
      'targets, rules and on/off stay. Writes with If-Match: a concurrent change is re-read and the value applied to it once.',
    options: { reason: REASON },
    run: async (c) => {
      const [env, key, v] = c.args as [string, string, string]
      const value = Number(v)
      if (v.trim() === '' || !Number.isFinite(value))
        throw new UsageError(`value must be a number, not "${v}"`, 'knob set')
      return rewriteConfig(
        c,
        env,
        key,
        'knob',
        (cur) => ({ fallthrough: { variation: cur.variations.length }, knob: { value } }),
        (cur, r) =>
          wrote(c, r, `${key} in ${env} serves ${value} (was ${describeServe(cur.fallthrough, servedValues(cur))})`),
      )
    },
  },
  {
    name: 'rollback',
    args: '<env> <flag> [<version>]',
    summary: "restore an earlier version's configuration (default: the one before the current)",
    positionals: [2, 3],
    details:
      'Written as a new version, with If-Match on the version read: a change in between is reported, not undone.',
    options: { reason: REASON },
    run: async (c) => {
      const [env, key, v] = c.args as [string, string, string | undefined]
      if (v !== undefined && !/^[1-9]\d{0,14}$/.test(v))
        throw new UsageError(`version must be a positive integer, not "${v}"`, 'rollback')
      const cur = (await c.api.call<FlagConfig>('GET', flagPath(env, key))).body
      const target = v === undefined ? cur.version - 1 : Number(v)
      if (target < 1)
        throw new UsageError(
          `${key} in ${env} is at version ${cur.version}: there is no earlier version to roll back to`,
          'rollback',
        )
      const r = await c.api.call<FlagConfig>('POST', `${flagPath(env, key)}/rollback`, {
        body: { version: target, ...reason(c) },
        ifMatch: cur.version,
      })
      return wrote(
        c,
        r,
        `${key} in ${env} is back to the configuration of version ${target}: ${r.body.on ? 'on' : 'off'}, fallthrough ${describeServe(r.body.fallthrough, servedValues(r.body))}`,
      )
    },
  },
  membersCommand('add'),
  membersCommand('remove'),
  {
    name: 'members import',
    args: '<env> <segment> <file|->',
    summary: 'add the ids of a file to a segment, or with --replace make it exactly the file',
    positionals: [3, 3],
    details:
      'Calls of 100,000 ids, with progress on stderr. --replace adds the missing ids first, then removes the others,\n' +
      'so nobody in the file drops out on the way; it is not one atomic step, and changes made meanwhile by others may be undone.',
    options: {
      replace: { type: 'boolean', help: 'remove members that are not in the file' },
      list: LIST,
      reason: REASON,
    },
    run: async (c) => {
      const [env, key, file] = c.args as [string, string, string]
      const listName = listOption(c)
      const ids = [...new Set(readIds(c, file))]
      const s = (await c.api.call<Segment>('GET', `/api/v1/environments/${seg(env)}/segments/${seg(key)}`)).body
      const totals: MemberTotals = {
        added: 0,
        removed: 0,
        count: listName === 'excluded' ? s.excludedCount : s.includedCount,
        calls: 0,
      }
      const path = `/api/v1/environments/${seg(env)}/segments/${seg(key)}/members`
      let toAdd = ids
      let toRemove: string[] = []
      if (c.opts.replace === true) {
        const current = await allMembers(c, env, key, listName)
        const wanted = new Set(ids)
        toAdd = ids.filter((id) => !current.has(id))
        toRemove = [...current].filter((id) => !wanted.has(id))
        c.err(
          `${key} has ${current.size.toLocaleString('en')} ${listName} members: ${toAdd.length.toLocaleString('en')} to add, ${toRemove.length.toLocaleString('en')} to remove`,
        )
      }
      await sendMembers(c, path, 'add', toAdd, listName, totals, true)
      await sendMembers(c, path, 'remove', toRemove, listName, totals, true)
      if (c.json)
        printJson(c, {
          key,
          list: listName,
          ids: ids.length,
          added: totals.added,
          removed: totals.removed,
          count: totals.count,
          calls: totals.calls,
        })
      else
        c.out(
          `imported ${ids.length} ids into ${key} (${listName}): added ${totals.added}, removed ${totals.removed}; it now has ${totals.count} members`,
        )
      return EXIT.OK
    },
  },
  {
    name: 'audit',
    args: '',
    summary: 'audit records, newest first',
    positionals: [0, 0],
    options: {
      env: { type: 'string', arg: 'ENV', help: 'one environment' },
      flag: { type: 'string', arg: 'FLAG', help: 'one flag' },
      since: { type: 'string', arg: 'TIME', help: 'ISO 8601 time or audit id' },
      limit: { type: 'string', arg: 'N', help: 'at most N records (default 20)' },
    },
    run: async (c) => {
      const limit = str(c, 'limit') ?? '20'
      if (!/^[1-9]\d{0,3}$/.test(limit))
        throw new UsageError(`--limit takes a number from 1 to 1000, not "${limit}"`, 'audit')
      const q = new URLSearchParams({ limit })
      for (const k of ['env', 'flag', 'since']) if (str(c, k) !== undefined) q.set(k, str(c, k)!)
      const r = await c.api.call<{ items: AuditEntry[]; nextCursor: string | null }>('GET', `/api/v1/audit?${q}`)
      return printList(c, r.body, ['at', 'actor', 'action', 'target', 'versions', 'reason'], (a) => [
        a.at,
        a.actor,
        a.action,
        `${a.env ?? '-'}/${a.target.key}`,
        a.toVersion !== undefined && a.toVersion !== null ? `v${a.fromVersion ?? '∅'}→v${a.toVersion}` : '-',
        a.reason ? `"${a.reason}"` : '',
      ])
    },
  },
  {
    name: 'status',
    args: '<env> [<change>]',
    summary: 'which live server SDK instances applied a change (default: the latest)',
    positionals: [1, 2],
    details:
      'Exit 0 when every server SDK that reported in the last 10 minutes has applied it; without --wait, 1 while any has not.\n' +
      'With --wait, asks again every 0.5 s until they all have, and exits 3 when --timeout (default 10 s) passes first.',
    options: { wait: { type: 'boolean', help: 'wait until every live server SDK applied it' } },
    run: async (c) => {
      const [env, change] = c.args as [string, string | undefined]
      let s = await sdkStatus(c, env, change)
      if (c.opts.wait !== true) {
        printStatus(c, s)
        return allApplied(s) ? EXIT.OK : EXIT.PENDING
      }
      // The deadline is --timeout for the whole wait; the change is pinned at the first answer, so later writes do not move it.
      const deadline = Date.now() + c.api.timeoutMs
      while (!allApplied(s)) {
        const left = deadline - Date.now()
        if (left <= 0) {
          printStatus(c, s)
          const who = s.pending.length
            ? `${s.pending.length} server SDK instances have not applied change ${s.changeId}`
            : `untracked server SDK instances may not have applied change ${s.changeId}`
          throw new UnreachableError(
            `${who} after ${c.api.timeoutMs / 1000} s (--timeout)${s.pending.length ? `: ${s.pending.join(', ')}` : ''}`,
          )
        }
        await delay(Math.min(500, left))
        s = await sdkStatus(c, env, s.changeId)
      }
      printStatus(c, s)
      return EXIT.OK
    },
  },
  {
    name: 'alerts test',
    args: '<env> <flag>',
    summary: 'post an Alertmanager-shaped alert for a flag (a fire drill of the alert path; needs an alerts token)',
    positionals: [2, 2],
    options: {
      name: { type: 'string', arg: 'TEXT', help: 'the alert name (default SwitchyardFireDrill)' },
      summary: { type: 'string', arg: 'TEXT', help: 'its summary annotation, the reason of a kill' },
      resolved: { type: 'boolean', help: 'send it resolved (recorded only)' },
    },
    details:
      "What Alertmanager would post to POST /api/v1/alerts: the flag's alertPolicy decides (kill by default). Prints each alert's outcome.",
    run: async (c) => {
      const [env, flag] = c.args as [string, string]
      const status = c.opts.resolved === true ? 'resolved' : 'firing'
      const labels = { alertname: str(c, 'name') ?? 'SwitchyardFireDrill', switchyard_env: env, switchyard_flag: flag }
      const summary = str(c, 'summary')
      const r = await c.api.call<{
        results: Array<{ alertname: string; outcome: string; code?: string; version?: number }>
      }>('POST', '/api/v1/alerts', {
        body: {
          version: '4',
          status,
          receiver: 'switchyard-cli',
          alerts: [{ status, labels, annotations: summary ? { summary } : {}, startsAt: new Date().toISOString() }],
        },
      })
      if (c.json) printJson(c, r.body)
      else
        for (const a of r.body.results)
          c.out(
            `${a.alertname} ${env}/${flag}: ${a.outcome}${a.code ? ` (${a.code})` : ''}${a.version !== undefined ? ` at version ${a.version}` : ''}`,
          )
      return EXIT.OK
    },
  },
  {
    name: 'tokens create',
    args: '',
    summary: 'create an API or SDK token (the secret is shown once)',
    positionals: [0, 0],
    options: {
      name: { type: 'string', arg: 'TEXT', help: 'who or what uses it (required)' },
      kind: { type: 'string', arg: 'KIND', help: 'admin|editor|viewer|sdk-server|sdk-client|alerts (required)' },
      env: { type: 'string', multiple: true, arg: 'ENV', help: 'an environment it may use, or "*" (repeatable)' },
    },
    run: async (c) => {
      const name = str(c, 'name')
      const kind = str(c, 'kind')
      if (name === undefined || kind === undefined)
        throw new UsageError('tokens create needs --name and --kind', 'tokens create')
      const envs = list(c, 'env')
      const r = (
        await c.api.call<{ token: Token; secret: string }>('POST', '/api/v1/tokens', {
          body: { name, kind, ...(envs.length > 0 && { environments: envs }) },
        })
      ).body
      if (c.json) printJson(c, r)
      else
        c.out(
          `created ${r.token.kind} token ${r.token.id} "${r.token.name}" for ${r.token.environments.join(', ') || '-'}\nsecret: ${r.secret}\n(shown once: Switchyard keeps only its hash)`,
        )
      return EXIT.OK
    },
  },
  {
    name: 'tokens list',
    args: '',
    summary: 'tokens (never their secrets)',
    positionals: [0, 0],
    run: async (c) => {
      const r = await c.api.call<{ items: Token[] }>('GET', '/api/v1/tokens')
      return printList(c, r.body, ['id', 'name', 'kind', 'environments', 'created', 'by'], (t) => [
        t.id,
        t.name,
        t.kind,
        t.environments.join(',') || '-',
        t.createdAt,
        t.createdBy,
      ])
    },
  },
  {
    name: 'tokens revoke',
    args: '<id>',
    summary: 'revoke a token at once',
    positionals: [1, 1],
    run: async (c) => {
      await c.api.call('DELETE', `/api/v1/tokens/${seg(c.args[0]!)}`)
      if (c.json) printJson(c, { id: c.args[0], revoked: true })
      else c.out(`revoked token ${c.args[0]}`)
      return EXIT.OK
    },
  },
  ...releaseCommands(),
]

// ---- release plans (docs/releases.md) ----

interface PlanStep {
  name?: string
  serve?: Serve
  config?: { on: boolean; fallthrough: Serve }
  hold?: string
  pointOfNoReturn?: { note: string; runbook?: string }
}
interface Plan {
  id: string
  environment: string
  flag: string
  name: string
  status: string
  current: number
  nextAt: string | null
  steps: PlanStep[]
  guards: Array<{ name?: string; query: string; comparison: string; threshold: number; action: string }>
  waitingFor?: { step: number; pointOfNoReturn?: { note: string; runbook?: string } }
  pausedReason?: { code: string; message: string }
  readings: Array<{ guard: number; at: string; value: number | null; error?: string; breached: boolean }>
  passedPointOfNoReturn?: { note: string; passedAt: string; approvedBy: string }
  history: Array<{ at: string; actor: string; action: string; step?: number; reason?: string }>
}

const planPath = (env: string, id?: string) => `/api/v1/environments/${seg(env)}/plans${id ? `/${seg(id)}` : ''}`

function describeStep(p: Plan, i: number): string {
  const s = p.steps[i]
  if (!s) return i >= p.steps.length ? 'completion' : '-'
  // The plan does not carry the flag's variations: they are named by index.
  const serve = s.serve
  const what = !serve
    ? 'a whole configuration'
    : 'variation' in serve
      ? `variation ${serve.variation}`
      : serve.rollout.weights.map((w) => `${percent(w.weight)} variation ${w.variation}`).join(', ')
  return `${i + 1}/${p.steps.length}${s.name ? ` ${s.name}` : ''} (${what})`
}

/** Several lines for people: where the plan is, what it waits for, what its guards read. */
function describePlan(p: Plan): string {
  const lines = [
    `plan ${p.id} "${p.name}": ${p.flag} in ${p.environment}, ${p.status}`,
    `  step: ${p.current < 0 ? 'none applied yet' : describeStep(p, p.current)}`,
  ]
  if (p.nextAt) lines.push(`  next: ${describeStep(p, p.current + 1)} at ${p.nextAt}`)
  if (p.waitingFor) {
    lines.push(`  waiting for an approval of ${describeStep(p, p.waitingFor.step)}`)
    const pnr = p.waitingFor.pointOfNoReturn
    if (pnr) lines.push(`  POINT OF NO RETURN: ${pnr.note}${pnr.runbook ? ` (runbook ${pnr.runbook})` : ''}`)
  }
  if (p.pausedReason) lines.push(`  paused (${p.pausedReason.code}): ${p.pausedReason.message}`)
  if (p.passedPointOfNoReturn)
    lines.push(
      `  passed the point of no return at ${p.passedPointOfNoReturn.passedAt} (approved by ${p.passedPointOfNoReturn.approvedBy}): ${p.passedPointOfNoReturn.note}`,
    )
  for (const r of p.readings) {
    const g = p.guards[r.guard]
    const v = r.value === null ? `unknown (${r.error})` : `${r.value}${r.breached ? ' BREACHED' : ''}`
    lines.push(`  guard ${g?.name ?? g?.query}: ${v} (${g?.comparison} ${g?.threshold} → ${g?.action}) at ${r.at}`)
  }
  const last = p.history[p.history.length - 1]
  if (last) lines.push(`  last: ${last.at} ${last.actor} ${last.action}${last.reason ? `: ${last.reason}` : ''}`)
  return lines.join('\n')
}

function releaseCommands(): Command[] {
  const action = (name: string, summary: string, details?: string): Command => ({
    name: `release ${name}`,
    args: '<env> <plan>',
    summary,
    ...(details && { details }),
    positionals: [2, 2],
    options: { reason: REASON },
    run: async (c) => {
      const [env, id] = c.args as [string, string]
      const p = (await c.api.call<Plan>('POST', `${planPath(env, id)}/${name}`, { body: reason(c) })).body
      if (c.json) printJson(c, p)
      else c.out(describePlan(p))
      return EXIT.OK
    },
  })
  return [
    {
      name: 'release start',
      args: '<env> <plan.json|->',
      summary: 'create a release plan from a file (or stdin) and start it',
      details:
        'The file is the body of POST /api/v1/environments/<env>/plans: {"flag", "steps": [...], "guards": [...]}\n' +
        '(docs/releases.md). --draft creates it without starting it.',
      positionals: [2, 2],
      options: { draft: { type: 'boolean', help: 'create only; start later with the API' }, reason: REASON },
      run: async (c) => {
        const [env, file] = c.args as [string, string]
        let body: unknown
        try {
          body = JSON.parse(c.readInput(file))
        } catch (e) {
          throw new UsageError(`${file} is not a JSON plan: ${(e as Error).message}`, 'release start')
        }
        if (typeof body !== 'object' || body === null || Array.isArray(body))
          throw new UsageError(`${file} must hold one JSON object (a plan)`, 'release start')
        const p = (
          await c.api.call<Plan>('POST', planPath(env), {
            body: { ...body, start: c.opts.draft !== true, ...reason(c) },
          })
        ).body
        if (c.json) printJson(c, p)
        else c.out(describePlan(p))
        return EXIT.OK
      },
    },
    {
      name: 'release status',
      args: '<env> [<plan>]',
      summary: "a plan's state, or every plan of an environment",
      positionals: [1, 2],
      options: { flag: { type: 'string', arg: 'FLAG', help: 'only the plans of this flag' } },
      run: async (c) => {
        const [env, id] = c.args as [string, string | undefined]
        if (id) {
          const p = (await c.api.call<Plan>('GET', planPath(env, id))).body
          if (c.json) printJson(c, p)
          else c.out(describePlan(p))
          return EXIT.OK
        }
        const flag = str(c, 'flag')
        const r = await c.api.call<{ items: Plan[] }>('GET', `${planPath(env)}${flag ? `?flag=${seg(flag)}` : ''}`)
        if (c.json) printJson(c, r.body)
        else
          c.out(
            table(
              ['id', 'flag', 'status', 'step', 'next', 'name'],
              r.body.items.map((p) => [
                p.id,
                p.flag,
                p.status,
                `${p.current + 1}/${p.steps.length}`,
                p.nextAt ?? '-',
                p.name,
              ]),
            ),
          )
        return EXIT.OK
      },
    },
    action(
      'approve',
      'let the next step happen now',
      'Before a point of no return --reason is required; who and why are audited and shown with the flag.',
    ),
    action('pause', 'hold a plan at its current step'),
    action('resume', 'continue a paused plan (the flag as it is now is its base)'),
    action('abort', 'end a plan (a scheduled change: cancel it); the flag keeps its configuration'),
  ]
}
