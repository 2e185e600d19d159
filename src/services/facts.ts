import { compile, evaluate, type ValidationIssue } from '../../sdk/core/index.js'
import type {
  Clause,
  Context,
  FactRequirement,
  FactValue,
  RequirementsOverride,
  RulesetFlag,
  UnmetRequirement,
} from '../../sdk/core/types.js'
import { checkClause } from '../../sdk/core/validate.js'
import { AppError, validationError } from '../errors.js'
import { FACT_LIMITS, type SetFactsInput } from '../schemas/facts.js'
import type { FactChange, FactHistoryEntry, FactRecord, FactRepository, FactType, FactsState } from '../store/facts.js'
import type { WriteExtra } from '../store/flags.js'
import { type Actor, checkVersion, MAX_RETRIES, type ServiceDeps } from './context.js'

/** A fact that differs between two environments (null: absent there). */
export interface Drift {
  fact: string
  from: FactValue | null
  to: FactValue | null
}

/** What a gated flag write may do: the flag to write (with its override record set or cleared), the write-time checks, audit details. */
export interface Admission {
  flag: RulesetFlag
  /** "The facts are still as read", when they were read: the flag repository checks it in the flag's atomic write. */
  facts?: WriteExtra
  details?: { requirements: { forced: true; unmet: UnmetRequirement[]; drift?: Drift[] } }
}

export interface AdmitOptions {
  actor: Actor
  /** An editor's explicit override, with `reason`. */
  force: boolean
  reason?: string
  /** Facts that differ from the environment a promote comes from. */
  drift?: { from: string; facts: Drift[] }
}

/** The flag service's gate (src/services/flags.ts): every configuration write passes through it. */
export interface WriteGate {
  admit(env: string, prev: RulesetFlag, next: RulesetFlag, o: AdmitOptions): Promise<Admission>
}

export interface FactsView {
  environment: string
  version: number
  facts: FactRecord[]
}

/** JSON with object keys sorted: equal values give equal strings whatever the order keys were written in. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x !== null && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(
          Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : x,
  )
}

/** Two fact values are the same when equal, lists compared as sets (the order indexes were listed in means nothing). */
export function sameFact(a: FactValue | null | undefined, b: FactValue | null | undefined): boolean {
  const norm = (v: FactValue | null | undefined) =>
    v === undefined || v === null
      ? 'null'
      : Array.isArray(v)
        ? JSON.stringify([...new Set(v)].sort())
        : JSON.stringify(v)
  return norm(a) === norm(b)
}

export function factType(v: FactValue): FactType {
  return Array.isArray(v) ? 'list' : (typeof v as 'string' | 'number' | 'boolean')
}

/** Fields of a configuration that do not change what it serves while it is on. */
const NOT_SERVING = new Set(['version', 'requires', 'requirementsOverride', 'on', 'offVariation'])

/** Whether `next` serves anything `prev` did not: targets, rules, fallthrough, prerequisites, variations, knobs. */
export function servingChanged(prev: RulesetFlag, next: RulesetFlag): boolean {
  const keys = new Set([...Object.keys(prev), ...Object.keys(next)])
  const p = prev as unknown as Record<string, unknown>
  const n = next as unknown as Record<string, unknown>
  for (const k of keys) if (!NOT_SERVING.has(k) && canonical(p[k]) !== canonical(n[k])) return true
  return false
}

const requirementClause = (r: FactRequirement): Clause => ({
  attribute: r.fact,
  op: r.op,
  values: r.value === undefined ? [] : Array.isArray(r.value) ? r.value : [r.value],
  ...(r.negate !== undefined && { negate: r.negate }),
})

/** Checks requirements with the engine's clause validator (value types per operator, RE2 patterns); 400 on any issue. */
export function validateRequirements(requires: FactRequirement[]): void {
  const issues: ValidationIssue[] = []
  requires.forEach((r, i) => {
    if ((r.op as string) === 'inSegment')
      issues.push({
        path: `/requires/${i}/op`,
        code: 'UNKNOWN_OPERATOR',
        message: 'a requirement cannot use inSegment',
      })
    else checkClause(requirementClause(r), `/requires/${i}`, issues)
  })
  if (issues.length > 0) throw validationError(issues.map((i) => ({ path: i.path, message: i.message, code: i.code })))
}

/**
 * The requirements that `facts` do not meet. Each requirement is evaluated by the engine itself (one
 * single-rule flag per requirement, the facts as the context), so a fact requirement means exactly what
 * the same clause means in a rule: a list matches when any element does, a missing fact never matches.
 */
export function unmetRequirements(requires: FactRequirement[], facts: Record<string, FactRecord>): UnmetRequirement[] {
  if (requires.length === 0) return []
  const flags: Record<string, RulesetFlag> = {}
  requires.forEach((r, i) => {
    flags[`r${i}`] = {
      key: `r${i}`,
      kind: 'boolean',
      variations: [true, false],
      salt: 'requirement',
      on: true,
      offVariation: 1,
      prerequisites: [],
      targets: [],
      rules: [{ id: 'met', clauses: [requirementClause(r)], serve: { variation: 0 } }],
      fallthrough: { variation: 1 },
      version: 1,
    }
  })
  const compiled = compile({ specVersion: 1, environment: 'facts', flags, segments: {} })
  const context: Record<string, unknown> = {}
  for (const [name, f] of Object.entries(facts)) context[name] = f.value
  const out: UnmetRequirement[] = []
  requires.forEach((r, i) => {
    if (evaluate(compiled, `r${i}`, context as Context, false) !== true)
      out.push({ ...r, actual: Object.hasOwn(facts, r.fact) ? (facts[r.fact] as FactRecord).value : null })
  })
  return out
}

const show = (v: unknown) => (v === null || v === undefined ? 'absent' : JSON.stringify(v))

/** "db.sessions.indexes contains "x" (actual: ["a"])", for messages. */
export function describeUnmet(u: UnmetRequirement[]): string {
  const parts = u
    .slice(0, 3)
    .map(
      (r) =>
        `${r.fact}${r.negate ? ' not' : ''} ${r.op}${r.value === undefined ? '' : ` ${JSON.stringify(r.value)}`} (actual: ${show(r.actual)})`,
    )
  return parts.join('; ') + (u.length > 3 ? ` (+${u.length - 3} more)` : '')
}

export function describeDrift(d: Drift[]): string {
  const parts = d.slice(0, 3).map((x) => `${x.fact}: ${show(x.from)} vs ${show(x.to)}`)
  return parts.join('; ') + (d.length > 3 ? ` (+${d.length - 3} more)` : '')
}

/** 400 unless a forced write says why. */
export function checkForce(force: boolean | undefined, reason: string | undefined): void {
  if (force === true && (reason === undefined || reason.trim() === ''))
    throw validationError([
      { path: '/reason', message: 'a forced write needs a reason (it is audited and shown on the flag)' },
    ])
}

/**
 * Facts: named, typed values per environment (set by people and pipelines), versioned and audited;
 * and the gate every flag write passes: a flag that requires facts is turned on, or serves anew, only
 * where they are met, unless an editor forces it with a reason.
 */
export class FactService implements WriteGate {
  private readonly repo: FactRepository

  constructor(private readonly deps: ServiceDeps) {
    this.repo = deps.store.facts
  }

  private view(env: string, s: FactsState): FactsView {
    return {
      environment: env,
      version: s.version,
      facts: Object.values(s.facts).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    }
  }

  async get(env: string): Promise<FactsView> {
    await this.deps.store.requireEnv(env)
    return this.view(env, await this.repo.read(env))
  }

  /** The facts of an environment as the engine sees them (name → record). */
  async read(env: string): Promise<FactsState> {
    return this.repo.read(env)
  }

  async set(
    env: string,
    input: SetFactsInput,
    actor: Actor,
    ifMatch?: number,
  ): Promise<FactsView & { changed: string[] }> {
    await this.deps.store.requireEnv(env)
    const set = input.set ?? {}
    const unset = [...new Set(input.unset ?? [])]
    const drift = input.drift ?? {}
    const both = unset.filter((n) => Object.hasOwn(set, n))
    if (both.length > 0)
      throw validationError(both.map((n) => ({ path: `/unset`, message: `"${n}" is both set and unset` })))
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const state = await this.repo.read(env)
      checkVersion(state.version, ifMatch)
      const at = this.deps.now().toISOString()
      const records: FactRecord[] = []
      const changes: FactChange[] = []
      const problems: Array<{ path: string; message: string }> = []
      for (const [name, value] of Object.entries(set)) {
        const prev = state.facts[name]
        const type = factType(value)
        if (prev && prev.type !== type)
          throw new AppError('FACT_TYPE_MISMATCH', [name, prev.type, type], {
            fact: name,
            type: prev.type,
            given: type,
          })
        const mark = drift[name] ?? prev?.drift ?? false
        if (prev && sameFact(prev.value, value) && canonical(prev.value) === canonical(value) && prev.drift === mark)
          continue
        records.push({
          name,
          type,
          value,
          drift: mark,
          version: (prev?.version ?? 0) + 1,
          updatedAt: at,
          updatedBy: actor.name,
        })
        if (!prev || canonical(prev.value) !== canonical(value))
          changes.push({ fact: name, from: prev?.value ?? null, to: value })
      }
      for (const [name, mark] of Object.entries(drift)) {
        if (Object.hasOwn(set, name)) continue
        const prev = state.facts[name]
        if (!prev) {
          if (!unset.includes(name)) problems.push({ path: `/drift/${name}`, message: `fact "${name}" does not exist` })
          continue
        }
        if (prev.drift !== mark)
          records.push({ ...prev, drift: mark, version: prev.version + 1, updatedAt: at, updatedBy: actor.name })
      }
      const removed = unset.filter((n) => Object.hasOwn(state.facts, n))
      for (const n of removed) changes.push({ fact: n, from: (state.facts[n] as FactRecord).value, to: null })
      const added = records.filter((r) => !state.facts[r.name]).length
      const count = Object.keys(state.facts).length + added - removed.length
      if (count > FACT_LIMITS.perEnvironment)
        problems.push({
          path: '/set',
          message: `an environment holds at most ${FACT_LIMITS.perEnvironment} facts (this would make ${count})`,
        })
      if (problems.length > 0) throw validationError(problems)
      if (records.length === 0 && removed.length === 0) return { ...this.view(env, state), changed: [] }
      const version = state.version + 1
      const entry: FactHistoryEntry = {
        version,
        at,
        actor: actor.name,
        changes,
        ...(input.reason && { reason: input.reason }),
      }
      const ok = await this.repo.write(env, state.version, {
        set: records,
        unset: removed,
        entry,
        audit: {
          at,
          actor: actor.name,
          actorTokenId: actor.tokenId,
          action: 'facts.set',
          env,
          target: { type: 'environment', key: env },
          fromVersion: state.version,
          toVersion: version,
          ...(input.reason && { reason: input.reason }),
          ...(actor.requestId && { requestId: actor.requestId }),
          // The values are in the fact history; the audit names what changed.
          details: {
            set: records.map((r) => r.name),
            unset: removed,
          },
        },
      })
      if (ok) {
        const next = await this.repo.read(env)
        return { ...this.view(env, next), changed: [...records.map((r) => r.name), ...removed] }
      }
    }
    throw new AppError('WRITE_CONFLICT', [`the facts of ${env}`])
  }

  async history(
    env: string,
    opts: { before?: string; limit: number; fact?: string },
  ): Promise<{ items: Array<FactHistoryEntry & { id: string }>; nextCursor: string | null }> {
    await this.deps.store.requireEnv(env)
    if (opts.fact === undefined) return this.repo.history(env, opts)
    // One fact's history: scan pages of the environment's until the page is full (bounded: 20 pages).
    const items: Array<FactHistoryEntry & { id: string }> = []
    let before = opts.before
    for (let page = 0; page < 20 && items.length < opts.limit; page++) {
      const r = await this.repo.history(env, { limit: 200, ...(before !== undefined && { before }) })
      for (const e of r.items) {
        const changes = e.changes.filter((c) => c.fact === opts.fact)
        if (changes.length > 0 && items.length < opts.limit) items.push({ ...e, changes })
        before = e.id
        if (items.length >= opts.limit) break
      }
      if (r.nextCursor === null && items.length < opts.limit) return { items, nextCursor: null }
    }
    return { items, nextCursor: before ?? null }
  }

  /** The requirements of `config` that the facts of `env` do not meet ([] when all are met): for release plans too. */
  async checkRequirements(env: string, config: { requires?: FactRequirement[] }): Promise<UnmetRequirement[]> {
    const requires = config.requires ?? []
    if (requires.length === 0) return []
    return unmetRequirements(requires, (await this.repo.read(env)).facts)
  }

  /** Facts that differ between two environments among `names` and those marked drift-relevant in either. */
  async drift(from: string, to: string, names: string[]): Promise<Drift[]> {
    const [a, b] = await Promise.all([this.repo.read(from), this.repo.read(to)])
    const all = new Set(names)
    for (const f of [...Object.values(a.facts), ...Object.values(b.facts)]) if (f.drift) all.add(f.name)
    const out: Drift[] = []
    for (const fact of [...all].sort()) {
      const x = a.facts[fact]?.value ?? null
      const y = b.facts[fact]?.value ?? null
      if (!sameFact(x, y)) out.push({ fact, from: x, to: y })
    }
    return out
  }

  async admit(env: string, prev: RulesetFlag, next: RulesetFlag, o: AdmitOptions): Promise<Admission> {
    if (!next.on) return { flag: withoutOverride(next) }
    // A kill, a turn-off or a write that serves nothing new never waits for facts (and costs no read).
    if (prev.on && !servingChanged(prev, next)) return { flag: next }
    const requires = next.requires ?? []
    const drift = o.drift?.facts ?? []
    if (requires.length === 0 && drift.length === 0) return { flag: withoutOverride(next) }
    const state = await this.repo.read(env)
    const facts = this.repo.unchanged(env, state.version)
    const unmet = unmetRequirements(requires, state.facts)
    if (unmet.length === 0 && drift.length === 0) return { flag: withoutOverride(next), facts }
    if (!o.force) {
      if (unmet.length > 0)
        throw new AppError('FACTS_UNMET', [env, next.key, describeUnmet(unmet)], {
          environment: env,
          flag: next.key,
          unmet,
          ...(drift.length > 0 && { drift }),
        })
      throw new AppError('FACTS_DRIFT', [o.drift?.from ?? '', env, describeDrift(drift)], {
        from: o.drift?.from,
        environment: env,
        flag: next.key,
        drift,
      })
    }
    const override: RequirementsOverride = {
      at: this.deps.now().toISOString(),
      actor: o.actor.name,
      reason: o.reason ?? '',
      unmet,
      ...(drift.length > 0 && { drift }),
    }
    return {
      flag: { ...next, requirementsOverride: override },
      facts,
      details: { requirements: { forced: true, unmet, ...(drift.length > 0 && { drift }) } },
    }
  }
}

function withoutOverride(f: RulesetFlag): RulesetFlag {
  if (f.requirementsOverride === undefined) return f
  const { requirementsOverride: _o, ...rest } = f
  return rest
}
