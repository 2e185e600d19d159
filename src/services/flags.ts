import { flagsUsing } from '../../sdk/core/index.js'
import type { FlagConfig, JsonValue, RulesetFlag } from '../../sdk/core/types.js'
import { AppError, appError } from '../errors.js'
import type { CreateFlag, FlagConfigInput, FlagDefinitionRecord, FlagHistoryEntry, PatchFlag } from '../schemas/flag.js'
import { type Reference, WriteExtra } from '../store/flags.js'
import { type Actor, auditRecord, checkVersion, MAX_RETRIES, type ServiceDeps } from './context.js'
import { type Admission, type AdmitOptions, checkForce, validateRequirements, type WriteGate } from './facts.js'
import { checkDefinition, checkFlagConfig } from './validation.js'

/** A written configuration and the change-log id of its change (null when nothing was written). */
export interface FlagWrite {
  flag: RulesetFlag
  changeId: string | null
}

export type { FlagHistoryEntry } from '../schemas/flag.js'

type ConfigFields = Omit<FlagConfig, 'version'>

/** A new flag starts off: booleans serve false when off and true when turned on. */
function defaultConfig(variations: JsonValue[]): ConfigFields {
  const t = variations.indexOf(true)
  const f = variations.indexOf(false)
  return {
    on: false,
    offVariation: Math.max(f, 0),
    prerequisites: [],
    targets: [],
    rules: [],
    fallthrough: { variation: Math.max(t, 0) },
  }
}

function toRulesetFlag(def: FlagDefinitionRecord, cfg: ConfigFields, version: number): RulesetFlag {
  return {
    key: def.key,
    kind: def.kind,
    variations: def.variations as JsonValue[],
    salt: def.salt,
    clientSide: def.clientSide ?? false,
    ...(def.knob !== undefined && { knobBounds: def.knob }),
    on: cfg.on,
    offVariation: cfg.offVariation,
    prerequisites: cfg.prerequisites,
    targets: cfg.targets,
    rules: cfg.rules,
    fallthrough: cfg.fallthrough,
    version,
  }
}

/** Definitions written before they had versions are at version 1. */
function withVersion(def: FlagDefinitionRecord): FlagDefinitionRecord {
  return def.version === undefined ? { ...def, version: 1 } : def
}

function configOf(f: RulesetFlag): ConfigFields {
  return {
    on: f.on,
    offVariation: f.offVariation,
    prerequisites: f.prerequisites,
    targets: f.targets,
    rules: f.rules,
    fallthrough: f.fallthrough,
    ...(f.requires !== undefined && { requires: f.requires }),
    ...(f.knob !== undefined && { knob: f.knob }),
  }
}

/** What a write that may enable a flag takes besides its change: an explicit override of unmet facts, a promote's drift. */
export interface GateOptions {
  force?: boolean
  drift?: AdmitOptions['drift']
}

export class FlagService {
  /** `gate`: the facts requirements (src/services/facts.ts) every configuration write passes. */
  constructor(
    private readonly deps: ServiceDeps,
    private readonly gate?: WriteGate,
  ) {}

  private get store() {
    return this.deps.store
  }

  async requireEnv(env: string): Promise<void> {
    await this.store.requireEnv(env)
  }

  // ---- definitions (global) ----

  async listDefinitions(): Promise<FlagDefinitionRecord[]> {
    const all = await this.store.flags.definitions()
    return Object.values(all)
      .map(withVersion)
      .sort((a, b) => a.key.localeCompare(b.key))
  }

  async getDefinition(key: string): Promise<FlagDefinitionRecord> {
    const def = await this.store.flags.definition(key)
    if (!def) throw appError('FLAG_NOT_FOUND', key)
    return withVersion(def)
  }

  async create(input: CreateFlag, actor: Actor): Promise<FlagDefinitionRecord> {
    const variations = (input.variations ?? (input.kind === 'boolean' ? [true, false] : [])) as JsonValue[]
    checkDefinition(input.kind, variations, input.knob)
    const at = this.deps.now().toISOString()
    const def: FlagDefinitionRecord = {
      key: input.key,
      name: input.name ?? input.key,
      kind: input.kind,
      variations,
      salt: input.salt ?? input.key,
      clientSide: input.clientSide ?? false,
      createdAt: at,
      updatedAt: at,
      version: 1,
      ...(input.description !== undefined && { description: input.description }),
      ...(input.tags !== undefined && { tags: input.tags }),
      ...(input.owner !== undefined && { owner: input.owner }),
      ...(input.temporary !== undefined && { temporary: input.temporary }),
      ...(input.removeBy !== undefined && { removeBy: input.removeBy }),
      ...(input.alertPolicy !== undefined && { alertPolicy: input.alertPolicy }),
      ...(input.knob !== undefined && { knob: input.knob }),
    }
    const created = await this.store.flags.createDefinition(
      def,
      auditRecord(actor, at, 'flag.create', null, { type: 'flag', key: def.key }),
    )
    if (!created) throw appError('FLAG_EXISTS', def.key)
    for (const env of await this.environmentKeys()) await this.ensureConfig(env, def, actor)
    return def
  }

  /** Writes the default (off) configuration of a flag into one environment, if it has none. */
  async ensureConfig(env: string, def: FlagDefinitionRecord, actor: Actor): Promise<void> {
    const flag = toRulesetFlag(def, defaultConfig(def.variations as JsonValue[]), 1)
    await this.writeFlag(env, flag, 'absent', { action: 'flag.create' }, actor)
  }

  async patch(key: string, patch: PatchFlag, actor: Actor, ifMatch?: number): Promise<FlagDefinitionRecord> {
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const stamped = await this.store.flags.stampedDefinition(key)
      if (stamped === null) throw appError('FLAG_NOT_FOUND', key)
      const def = withVersion(stamped.def)
      // A concurrent PATCH makes the retry see a newer version: 412 for a caller who named one.
      checkVersion(def.version, ifMatch)
      const next: FlagDefinitionRecord = {
        ...def,
        ...patch,
        updatedAt: this.deps.now().toISOString(),
        version: def.version + 1,
      }
      if (patch.variations || patch.knob) {
        checkDefinition(def.kind, next.variations as JsonValue[], next.knob)
        // Every environment's configuration must still point at existing variations.
        for (const env of await this.environmentKeys()) {
          const cur = await this.store.flags.get(env, key)
          if (cur) {
            const others = await this.store.flags.all(env)
            const segs = await this.store.segments.versioned(env)
            checkFlagConfig(
              { key, kind: def.kind, variations: next.variations as JsonValue[], knobBounds: next.knob },
              configOf(cur),
              others,
              segs,
            )
          }
        }
      }
      const replaced = await this.store.flags.replaceDefinition(
        next,
        stamped.stamp,
        auditRecord(
          actor,
          next.updatedAt,
          'flag.update',
          null,
          { type: 'flag', key },
          {
            details: { changed: Object.keys(patch) },
          },
        ),
      )
      if (!replaced) continue
      const evalChanged =
        patch.variations !== undefined ||
        patch.knob !== undefined ||
        (patch.clientSide !== undefined && patch.clientSide !== def.clientSide)
      if (evalChanged) {
        for (const env of await this.environmentKeys()) {
          await this.modify(env, key, actor, 'flag.definition', undefined, (cur) => ({
            ...cur,
            variations: next.variations as JsonValue[],
            clientSide: next.clientSide ?? false,
            ...(next.knob !== undefined && { knobBounds: next.knob }),
          }))
        }
      }
      return next
    }
    throw appError('WRITE_CONFLICT', `flag ${key}`)
  }

  async remove(key: string, actor: Actor, ifMatch?: number): Promise<void> {
    checkVersion((await this.getDefinition(key)).version, ifMatch)
    const envs = await this.environmentKeys()
    const at = this.deps.now().toISOString()
    // Refuse before deleting anything anywhere; each environment's delete re-checks atomically.
    for (const env of envs) {
      const users = flagsUsing(Object.values(await this.store.flags.all(env)), { flag: key })
      if (users.length > 0) throw new AppError('FLAG_IN_USE', [key], { environment: env, flags: users })
    }
    for (const env of envs) {
      for (let attempt = 0; ; attempt++) {
        if (attempt >= MAX_RETRIES) throw appError('WRITE_CONFLICT', `flag ${key}`)
        const flags = await this.store.flags.all(env)
        const users = flagsUsing(Object.values(flags), { flag: key })
        if (users.length > 0) throw new AppError('FLAG_IN_USE', [key], { environment: env, flags: users })
        const cur = flags[key]
        if (!cur) break
        // No flag may have made this one its prerequisite since it was checked (the repository re-checks `flags`).
        const deleted = await this.store.flags.delete(
          env,
          key,
          flags,
          auditRecord(
            actor,
            at,
            'flag.delete',
            env,
            { type: 'flag', key },
            {
              fromVersion: cur.version,
              toVersion: null,
            },
          ),
        )
        if (deleted) break
      }
    }
    await this.store.flags.deleteDefinition(key, auditRecord(actor, at, 'flag.delete', null, { type: 'flag', key }))
  }

  // ---- per-environment configuration ----

  async listConfigs(env: string): Promise<RulesetFlag[]> {
    await this.requireEnv(env)
    return Object.values(await this.store.flags.all(env)).sort((a, b) => a.key.localeCompare(b.key))
  }

  async getConfig(env: string, key: string): Promise<RulesetFlag> {
    const f = await this.store.flags.get(env, key)
    if (!f) {
      await this.requireEnv(env)
      throw appError('FLAG_NOT_FOUND', key)
    }
    return f
  }

  async putConfig(env: string, key: string, input: FlagConfigInput, ifMatch: number, actor: Actor): Promise<FlagWrite> {
    checkForce(input.force, input.reason)
    if (input.requires) validateRequirements(input.requires)
    const cur = await this.getConfig(env, key)
    if (cur.version !== ifMatch) throw new AppError('VERSION_CONFLICT', [cur.version], { currentVersion: cur.version })
    const cfg: ConfigFields = {
      on: input.on,
      offVariation: input.offVariation ?? null,
      prerequisites: input.prerequisites ?? [],
      targets: input.targets ?? [],
      rules: (input.rules ?? []) as RulesetFlag['rules'],
      fallthrough: input.fallthrough,
      // Omitted: kept (a read-modify-write that does not know about requirements must not drop them).
      ...(input.requires !== undefined && { requires: input.requires }),
      // As `requires`: omitted, kept (a read-modify-write that predates knobs must not drop it); null clears it.
      ...(input.knob !== undefined && input.knob !== null && { knob: input.knob }),
    }
    const { knob: _cleared, ...rest } = cur
    const next: RulesetFlag = { ...(input.knob === null ? rest : cur), ...cfg, version: cur.version + 1 }
    const admitted = await this.admit(env, cur, next, actor, input.reason, { force: input.force === true })
    const requires = await this.validate(env, admitted.flag)
    return this.writeFlag(
      env,
      admitted.flag,
      cur.version,
      {
        action: 'flag.update',
        ...(input.reason && { reason: input.reason }),
        ...(admitted.details && { details: admitted.details }),
      },
      actor,
      requires,
      admitted.facts,
      'facts',
    )
  }

  /** The kill switch: off in one call, whatever the current version. */
  kill(env: string, key: string, reason: string | undefined, actor: Actor): Promise<FlagWrite> {
    // Only `on` changes, so the stored (already validated) configuration needs no re-validation:
    // a kill is two Redis round trips, whatever the size of the environment.
    return this.modify(env, key, actor, 'flag.kill', reason, (cur) => ({ ...cur, on: false }), undefined, false)
  }

  /**
   * The kill of automation (Alertmanager): like `kill`, but a flag that is already off is left as it is, so a
   * repeated or duplicated notification writes nothing. The version check of the write makes "still on" and "off"
   * one atomic step: of two concurrent calls, one kills and the other finds it off.
   */
  async killIfOn(
    env: string,
    key: string,
    reason: string,
    actor: Actor,
    details?: unknown,
  ): Promise<FlagWrite & { changed: boolean }> {
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const cur = await this.getConfig(env, key)
      if (!cur.on) return { flag: cur, changeId: null, changed: false }
      const next = { ...cur, on: false, version: cur.version + 1 }
      try {
        const w = await this.writeFlag(env, next, cur.version, { action: 'flag.kill', reason, details }, actor)
        return { ...w, changed: true }
      } catch (e) {
        if (e instanceof AppError && e.code === 'VERSION_CONFLICT') continue
        throw e
      }
    }
    throw appError('WRITE_CONFLICT', `flag ${key}`)
  }

  toggle(
    env: string,
    key: string,
    on: boolean,
    reason: string | undefined,
    actor: Actor,
    ifMatch?: number,
    gate: GateOptions = {},
  ): Promise<FlagWrite> {
    checkForce(gate.force, reason)
    return this.modify(
      env,
      key,
      actor,
      on ? 'flag.on' : 'flag.off',
      reason,
      (cur) => ({ ...cur, on }),
      undefined,
      false,
      ifMatch,
      gate,
    )
  }

  async rollback(
    env: string,
    key: string,
    version: number,
    reason: string | undefined,
    actor: Actor,
    ifMatch?: number,
    gate: GateOptions = {},
  ): Promise<FlagWrite> {
    checkForce(gate.force, reason)
    const entry = await this.store.flags.historyEntry(env, key, version)
    if (!entry) {
      await this.getConfig(env, key)
      throw appError('VERSION_NOT_FOUND', version, key)
    }
    return this.modify(
      env,
      key,
      actor,
      'flag.rollback',
      reason,
      (cur) => ({ ...cur, ...configOf(entry.config) }),
      { rolledBackTo: version },
      true,
      ifMatch,
      gate,
    )
  }

  /**
   * A configuration composed by another service (promote: parts of another environment's), written like
   * every other change: validated, gated by facts, with If-Match, in one atomic step.
   */
  compose(
    env: string,
    key: string,
    change: (cur: RulesetFlag) => RulesetFlag,
    meta: { action: string; reason?: string; details?: unknown },
    actor: Actor,
    ifMatch: number,
    gate: GateOptions = {},
  ): Promise<FlagWrite> {
    checkForce(gate.force, meta.reason)
    return this.modify(env, key, actor, meta.action, meta.reason, change, meta.details, true, ifMatch, gate)
  }

  /**
   * A write by a release plan (src/services/plans.ts): a change of exactly the version the plan expects, so it
   * never overwrites a person's edit (412 VERSION_CONFLICT instead), in one atomic step with the plan's own
   * state (`plan`: from PlanRepository.withFlagWrite, its record and lease checked). 409 PLAN_CONFLICT when a
   * plan check failed: another instance or request changed the plan meanwhile, and nothing was written.
   */
  async planWrite(
    env: string,
    key: string,
    expected: number,
    change: (cur: RulesetFlag) => RulesetFlag,
    meta: { action: string; reason?: string; details?: unknown },
    actor: Actor,
    plan: WriteExtra,
    validate = true,
    gated = false,
  ): Promise<FlagWrite> {
    const cur = await this.getConfig(env, key)
    checkVersion(cur.version, expected)
    let next: RulesetFlag = { ...change(cur), version: cur.version + 1 }
    // A plan's step passes the same facts gate as a person's write, never forced (409 FACTS_UNMET, nothing
    // written). The facts check joins the plan's in the atomic step: if either moved, nothing is written
    // (409 PLAN_CONFLICT) and the plan's next tick tries the step again from fresh reads.
    let extra = plan
    if (gated) {
      const admitted = await this.admit(env, cur, next, actor, meta.reason, {})
      next = admitted.flag
      extra = WriteExtra.join(plan, admitted.facts)
    }
    const requires = validate ? await this.validate(env, next) : []
    return this.writeFlag(env, next, cur.version, meta, actor, requires, extra)
  }

  /** Validates a configuration it may write later (a plan's steps, when the plan is created): 400 when invalid. */
  async checkConfig(env: string, next: RulesetFlag): Promise<void> {
    await this.validate(env, next)
  }

  async history(
    env: string,
    key: string,
    opts: { before?: number; limit: number },
  ): Promise<{ items: FlagHistoryEntry[]; nextCursor: string | null }> {
    const cur = await this.getConfig(env, key)
    const top = Math.min(cur.version, (opts.before ?? cur.version + 1) - 1)
    if (top < 1) return { items: [], nextCursor: null }
    // Versions below `floor` were trimmed (HISTORY_MAX_VERSIONS).
    const keep = this.store.flags.historyKept
    const floor = keep > 0 ? Math.max(1, cur.version - keep + 1) : 1
    const versions: number[] = []
    for (let v = top; v >= floor && versions.length < opts.limit; v--) versions.push(v)
    if (versions.length === 0) return { items: [], nextCursor: null }
    const items = await this.store.flags.historyEntries(env, key, versions)
    const last = Number(versions[versions.length - 1])
    return { items, nextCursor: last > floor ? String(last) : null }
  }

  // ---- internals ----

  /** The facts gate (none without a FactService: every write is admitted as it is). */
  private admit(
    env: string,
    cur: RulesetFlag,
    next: RulesetFlag,
    actor: Actor,
    reason: string | undefined,
    gate: GateOptions,
  ): Promise<Admission> {
    if (!this.gate) return Promise.resolve({ flag: next })
    return this.gate.admit(env, cur, next, {
      actor,
      force: gate.force === true,
      ...(reason !== undefined && { reason }),
      ...(gate.drift !== undefined && { drift: gate.drift }),
    })
  }

  private async validate(env: string, next: RulesetFlag): Promise<Reference[]> {
    const [others, segs] = await Promise.all([this.store.flags.all(env), this.store.segments.versioned(env)])
    delete others[next.key]
    return checkFlagConfig(next, configOf(next), others, segs)
  }

  /**
   * Read-modify-write with optimistic retries, for changes that must not fail on a concurrent edit (kill);
   * with `ifMatch`, a change of the caller's version instead: 412 when it is not (or no longer) current.
   */
  private async modify(
    env: string,
    key: string,
    actor: Actor,
    action: string,
    reason: string | undefined,
    change: (cur: RulesetFlag) => RulesetFlag,
    details?: unknown,
    validate = true,
    ifMatch?: number,
    gate: GateOptions = {},
  ): Promise<FlagWrite> {
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const cur = await this.getConfig(env, key)
      checkVersion(cur.version, ifMatch)
      const admitted = await this.admit(env, cur, { ...change(cur), version: cur.version + 1 }, actor, reason, gate)
      const next = admitted.flag
      const requires = validate ? await this.validate(env, next) : []
      const all =
        details !== undefined || admitted.details ? { ...(details as object), ...admitted.details } : undefined
      try {
        return await this.writeFlag(
          env,
          next,
          cur.version,
          { action, ...(reason && { reason }), ...(all !== undefined && { details: all }) },
          actor,
          requires,
          admitted.facts,
          'facts',
        )
      } catch (e) {
        if (e instanceof AppError && e.code === 'VERSION_CONFLICT' && ifMatch === undefined) continue
        // The facts changed between the check and the write: check them again.
        if (e instanceof AppError && e.code === 'FACTS_CHANGED') continue
        throw e
      }
    }
    throw appError('WRITE_CONFLICT', `flag ${key}`)
  }

  /** One atomic step (FlagRepository.write): version check, new state, history entry, audit record, change-log event. */
  private async writeFlag(
    env: string,
    next: RulesetFlag,
    expected: number | 'absent',
    meta: { action: string; reason?: string; details?: unknown },
    actor: Actor,
    requires: Reference[] = [],
    extra?: WriteExtra,
    extraFailure: 'plan' | 'facts' = 'plan',
  ): Promise<FlagWrite> {
    const at = this.deps.now().toISOString()
    const entry: FlagHistoryEntry = {
      version: next.version,
      at,
      actor: actor.name,
      action: meta.action,
      ...(meta.reason && { reason: meta.reason }),
      config: next,
    }
    const audit = auditRecord(
      actor,
      at,
      meta.action,
      env,
      { type: 'flag', key: next.key },
      {
        fromVersion: expected === 'absent' ? null : expected,
        toVersion: next.version,
        ...(meta.reason && { reason: meta.reason }),
        ...(meta.details !== undefined && { details: meta.details }),
      },
    )
    const r = await this.store.flags.write(env, next, expected, entry, audit, requires, extra)
    if (r.ok) return { flag: next, changeId: r.changeId }
    // `extra` is a plan's (planWrite: the plan moved meanwhile) or the facts gate's (the facts moved: checked again).
    if ('extraFailed' in r) throw extraFailure === 'facts' ? appError('FACTS_CHANGED', env) : appError('PLAN_CONFLICT')
    if ('conflict' in r) {
      if (expected === 'absent') return { flag: next, changeId: null } // already configured: nothing to do
      const current = r.conflict ?? 0
      throw new AppError('VERSION_CONFLICT', [current], { currentVersion: current })
    }
    throw new AppError(
      'VALIDATION_FAILED',
      [`"${r.missing.key}" was deleted meanwhile`],
      [{ path: '/', message: `"${r.missing.key}" no longer exists` }],
    )
  }

  private async environmentKeys(): Promise<string[]> {
    return this.store.environments.keys()
  }
}
