import type { RulesetFlag } from '../../sdk/core/types.js'
import type { FlagDefinitionRecord, FlagHistoryEntry } from '../schemas/flag.js'
import type { Check, Command } from './atomic.js'
import { type AuditRecord, auditCommand } from './audit.js'
import { changeCommand } from './changelog.js'
import type { StoreContext } from './context.js'
import { envKeys, globalKeys } from './keys.js'

export type { FlagHistoryEntry } from '../schemas/flag.js'

/** What a flag configuration refers to and must still exist when it is written. */
export interface Reference {
  kind: 'segment' | 'flag'
  key: string
}

/** A definition as read, with the stamp a conditional write compares (its stored form). */
export interface StampedDefinition {
  def: FlagDefinitionRecord
  stamp: string
}

/** Outcome of a configuration write: its change-log id, or why nothing was written. */
export type ConfigWriteResult =
  | { ok: true; changeId: string }
  /** The flag's version is not the expected one: `current` (null: no such flag in the environment). */
  | { ok: false; conflict: number | null }
  /** A segment or prerequisite the configuration refers to was deleted meanwhile. */
  | { ok: false; missing: Reference }
  /** A check of the `extra` argument failed (what it guards changed meanwhile): nothing was written. */
  | { ok: false; extraFailed: true }

/**
 * Another repository's checks and commands that must happen in the same
 * atomic step as a flag write (FlagRepository.write's `extra`), such as a
 * release plan's record and the lease of the instance running it
 * (src/store/plans.ts withFlagWrite). Opaque outside src/store/: services
 * only pass it on, so they need no Redis types.
 */
export class WriteExtra {
  readonly #checks: Check[]
  readonly #commands: Command[]

  constructor(checks: Check[], commands: Command[]) {
    this.#checks = checks
    this.#commands = commands
  }

  /** Its parts, for the flag repository's write. */
  static parts(e: WriteExtra): { checks: Check[]; commands: Command[] } {
    return { checks: e.#checks, commands: e.#commands }
  }

  /** Both in one atomic step (a plan's record and lease, and "the facts are still as read"). */
  static join(a: WriteExtra, b: WriteExtra | undefined): WriteExtra {
    if (b === undefined) return a
    return new WriteExtra([...a.#checks, ...b.#checks], [...a.#commands, ...b.#commands])
  }
}

/**
 * Checks that no flag of `env` changed, appeared or disappeared since
 * `flags` was read: a delete that verified "nobody refers to this" stays
 * true at the moment it is written.
 */
export function flagsUnchanged(env: string, flags: Record<string, RulesetFlag>): Check[] {
  const k = envKeys(env)
  const all = Object.values(flags)
  return [
    { key: k.flagVersions, field: '', op: 'len', value: String(all.length) },
    ...all.map((f): Check => ({ key: k.flagVersions, field: f.key, op: 'eq', value: String(f.version) })),
  ]
}

function referenceCheck(env: string, r: Reference): Check {
  const k = envKeys(env)
  return { key: r.kind === 'segment' ? k.segmentVersions : k.flagVersions, field: r.key, op: 'present' }
}

/**
 * Flags: global definitions and each environment's configuration, its
 * version and its history. Every write is one atomic step with its audit
 * record and (for configurations) its change-log entry.
 */
export class FlagRepository {
  constructor(private readonly ctx: StoreContext) {}

  // ---- definitions (global) ----

  definitions(): Promise<Record<string, FlagDefinitionRecord>> {
    return this.ctx.hgetAllJson<FlagDefinitionRecord>(globalKeys.flagDefs)
  }

  definition(key: string): Promise<FlagDefinitionRecord | null> {
    return this.ctx.hgetJson<FlagDefinitionRecord>(globalKeys.flagDefs, key)
  }

  async stampedDefinition(key: string): Promise<StampedDefinition | null> {
    const raw = await this.ctx.redis.hget(globalKeys.flagDefs, key)
    return raw === null ? null : { def: JSON.parse(raw) as FlagDefinitionRecord, stamp: raw }
  }

  /** False when a definition with that key exists. */
  async createDefinition(def: FlagDefinitionRecord, audit: AuditRecord): Promise<boolean> {
    const r = await this.ctx.atomic({
      checks: [{ key: globalKeys.flagDefs, field: def.key, op: 'absent' }],
      commands: [['HSET', globalKeys.flagDefs, def.key, JSON.stringify(def)], auditCommand(this.ctx, null, audit)],
    })
    return r.ok
  }

  /** False when the definition is no longer the one read as `stamp`. */
  async replaceDefinition(next: FlagDefinitionRecord, stamp: string, audit: AuditRecord): Promise<boolean> {
    const r = await this.ctx.atomic({
      checks: [{ key: globalKeys.flagDefs, field: next.key, op: 'eq', value: stamp }],
      commands: [['HSET', globalKeys.flagDefs, next.key, JSON.stringify(next)], auditCommand(this.ctx, null, audit)],
    })
    return r.ok
  }

  async deleteDefinition(key: string, audit: AuditRecord): Promise<void> {
    await this.ctx.atomic({
      checks: [],
      commands: [['HDEL', globalKeys.flagDefs, key], auditCommand(this.ctx, null, audit)],
    })
  }

  // ---- per-environment configuration ----

  get(env: string, key: string): Promise<RulesetFlag | null> {
    return this.ctx.hgetJson<RulesetFlag>(envKeys(env).flags, key)
  }

  all(env: string): Promise<Record<string, RulesetFlag>> {
    return this.ctx.hgetAllJson<RulesetFlag>(envKeys(env).flags)
  }

  /** Keys of the flags configured in `env` (by their versions). */
  async configured(env: string): Promise<Set<string>> {
    return new Set(await this.ctx.redis.hkeys(envKeys(env).flagVersions))
  }

  /** Versions of a flag kept in its history (0: all; HISTORY_MAX_VERSIONS). */
  get historyKept(): number {
    return this.ctx.limits.historyMaxVersions
  }

  historyEntry(env: string, key: string, version: number): Promise<FlagHistoryEntry | null> {
    return this.ctx.hgetJson<FlagHistoryEntry>(envKeys(env).history(key), String(version))
  }

  /** The history entries of `versions` that are still kept, in the order asked. */
  async historyEntries(env: string, key: string, versions: number[]): Promise<FlagHistoryEntry[]> {
    const raws = await this.ctx.redis.hmget(envKeys(env).history(key), ...versions.map(String))
    return raws.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as FlagHistoryEntry)
  }

  /**
   * One atomic step: version check (`expected`, or 'absent' for a first
   * configuration), every reference still present, then the new state, its
   * version, its history entry (trimmed to HISTORY_MAX_VERSIONS), the audit
   * record and the change-log entry `flag.put`. `extra` (optional): another
   * repository's checks, after these, and commands, before the change-log
   * entry, in the same step (see WriteExtra).
   */
  async write(
    env: string,
    next: RulesetFlag,
    expected: number | 'absent',
    entry: FlagHistoryEntry,
    audit: AuditRecord,
    requires: Reference[] = [],
    extra?: WriteExtra,
  ): Promise<ConfigWriteResult> {
    const more = extra ? WriteExtra.parts(extra) : { checks: [], commands: [] }
    const k = envKeys(env)
    const commands: Command[] = [
      ['HSET', k.flags, next.key, JSON.stringify(next)],
      ['HSET', k.flagVersions, next.key, next.version],
      ['HSET', k.history(next.key), next.version, JSON.stringify(entry)],
      auditCommand(this.ctx, env, audit),
      changeCommand(this.ctx, env, 'flag.put', { flag: next }),
    ]
    const keep = this.ctx.limits.historyMaxVersions
    // Before the change-log XADD, whose reply must stay last (it is the change id).
    if (keep > 0 && next.version > keep)
      commands.splice(commands.length - 1, 0, ['HDEL', k.history(next.key), next.version - keep])
    commands.splice(commands.length - 1, 0, ...more.commands)
    const versionCheck: Check =
      expected === 'absent'
        ? { key: k.flagVersions, field: next.key, op: 'absent' }
        : { key: k.flagVersions, field: next.key, op: 'eq', value: String(expected) }
    const r = await this.ctx.atomic({
      checks: [versionCheck, ...requires.map((ref) => referenceCheck(env, ref)), ...more.checks],
      commands,
    })
    if (!r.ok) {
      if (r.failed > requires.length) return { ok: false, extraFailed: true }
      if (r.failed === 0) return { ok: false, conflict: r.actual === null ? null : Number(r.actual) }
      return { ok: false, missing: requires[r.failed - 1] as Reference }
    }
    // The change-log XADD is the last command: its reply is the change's id.
    return { ok: true, changeId: String(r.replies[r.replies.length - 1]) }
  }

  /**
   * Deletes a flag's configuration, version and history with its audit record
   * and `flag.delete` entry, provided no flag of `env` changed since `seen`
   * was read (nobody made it a prerequisite meanwhile). False when one did.
   */
  async delete(env: string, key: string, seen: Record<string, RulesetFlag>, audit: AuditRecord): Promise<boolean> {
    const k = envKeys(env)
    const r = await this.ctx.atomic({
      checks: flagsUnchanged(env, seen),
      commands: [
        ['HDEL', k.flags, key],
        ['HDEL', k.flagVersions, key],
        ['DEL', k.history(key)],
        auditCommand(this.ctx, env, audit),
        changeCommand(this.ctx, env, 'flag.delete', { key }),
      ],
    })
    return r.ok
  }
}
