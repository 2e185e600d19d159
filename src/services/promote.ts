import { clauseSegments } from '../../sdk/core/index.js'
import type { RulesetFlag } from '../../sdk/core/types.js'
import { AppError } from '../errors.js'
import { PROMOTE_PARTS, type PromotePart } from '../schemas/promote.js'
import { type Actor, checkVersion } from './context.js'
import { checkForce, type FactService } from './facts.js'
import type { FlagService, FlagWrite } from './flags.js'
import type { SegmentService } from './segments.js'

/** Members copied per call (one atomic membership change each) when a promote copies segment members. */
const MEMBER_BATCH = 10_000
/** Largest member list a promote copies; bigger segments are imported with the members routes or the CLI. */
export const MAX_PROMOTED_MEMBERS = 1_000_000

export interface PromoteInput {
  from: string
  parts?: PromotePart[]
  copySegments?: boolean
  copyMembers?: boolean
  reason?: string
  force?: boolean
}

export interface PromoteResult extends FlagWrite {
  from: { environment: string; version: number }
  parts: PromotePart[]
  segmentsCopied: string[]
}

/**
 * `cur` with the chosen parts of `src`. The knob part copies the source's knob value, or clears the target's
 * when the source has none (the result serves what the source serves); the bounds stay the target's copy of
 * the one shared definition, so the write validates the value against them.
 */
function withParts(cur: RulesetFlag, src: RulesetFlag, parts: readonly PromotePart[]): RulesetFlag {
  const { knob: _dropped, ...noKnob } = cur
  const out: RulesetFlag = parts.includes('knob') && src.knob === undefined ? noKnob : { ...cur }
  for (const p of parts) {
    if (p === 'requires') out.requires = src.requires ?? []
    else if (p === 'knob') {
      if (src.knob !== undefined) out.knob = src.knob
    } else (out as unknown as Record<string, unknown>)[p] = src[p]
  }
  return out
}

/** Does the configuration serve variation index `i` anywhere (off, targets, rules, fallthrough, rollouts)? */
function serves(f: RulesetFlag, i: number): boolean {
  const inServe = (s: RulesetFlag['fallthrough']) =>
    'variation' in s ? s.variation === i : s.rollout.weights.some((w) => w.variation === i)
  return (
    f.offVariation === i ||
    f.targets.some((t) => t.variation === i) ||
    f.rules.some((r) => inServe(r.serve)) ||
    inServe(f.fallthrough)
  )
}

/**
 * Promote: a flag's configuration (or chosen parts) from one environment into another, as one write of
 * the flag service in the target (validated, If-Match, gated by the target's facts and by drift between
 * the two, one atomic step, audited with the source and its version). Segments the result uses must
 * exist in the target, or be copied (definitions; members only when asked, in bounded batches).
 */
export class PromoteService {
  constructor(
    private readonly flags: FlagService,
    private readonly segments: SegmentService,
    private readonly facts: FactService,
  ) {}

  async promote(to: string, key: string, input: PromoteInput, ifMatch: number, actor: Actor): Promise<PromoteResult> {
    checkForce(input.force, input.reason)
    if (input.from === to)
      throw new AppError(
        'VALIDATION_FAILED',
        ['a promote needs two environments'],
        [{ path: '/from', message: 'is the target environment' }],
      )
    const parts = input.parts ? PROMOTE_PARTS.filter((p) => input.parts?.includes(p)) : [...PROMOTE_PARTS]
    const dst = await this.flags.getConfig(to, key)
    const src = await this.flags.getConfig(input.from, key)
    checkVersion(dst.version, ifMatch)
    const preview: RulesetFlag = { ...withParts(dst, src, parts), version: dst.version + 1 }
    // The copied parts serve the source's knob but the target has none: name the missing part, not an index.
    const knobIndex = dst.variations.length
    if (!parts.includes('knob') && src.knob !== undefined && preview.knob === undefined && serves(preview, knobIndex))
      throw new AppError(
        'VALIDATION_FAILED',
        [
          `the copied parts serve the knob of ${input.from} (variation ${knobIndex}) and ${to} has no knob value: add "knob" to parts`,
        ],
        [{ path: '/parts', message: `serves the knob (variation ${knobIndex}) without copying it: add "knob"` }],
      )

    const needed = [...new Set(preview.rules.flatMap((r) => clauseSegments(r.clauses)))].sort()
    const present = new Set((await this.segments.list(to)).map((s) => s.key))
    const missing = needed.filter((s) => !present.has(s))
    const inSource = new Set((await this.segments.list(input.from)).map((s) => s.key))
    const nowhere = missing.filter((s) => !inSource.has(s))
    if (missing.length > 0 && (input.copySegments !== true || nowhere.length > 0))
      throw new AppError('SEGMENTS_MISSING', [key, to, missing.join(', ')], {
        environment: to,
        missing,
        ...(nowhere.length > 0 && { missingInSource: nowhere }),
      })

    const required = (preview.requires ?? []).map((r) => r.fact)
    const drift = { from: input.from, facts: await this.facts.drift(input.from, to, required) }
    // Refused before anything is copied: a refused promote leaves the target as it was.
    await this.facts.admit(to, dst, preview, {
      actor,
      force: input.force === true,
      drift,
      ...(input.reason !== undefined && { reason: input.reason }),
    })

    const copied: string[] = []
    for (const s of missing) {
      await this.copySegment(input.from, to, s, input.copyMembers === true, actor, input.reason)
      copied.push(s)
    }
    const write = await this.flags.compose(
      to,
      key,
      (cur) => withParts(cur, src, parts),
      {
        action: 'flag.promote',
        ...(input.reason !== undefined && { reason: input.reason }),
        details: {
          from: input.from,
          fromVersion: src.version,
          parts,
          ...(copied.length > 0 && { segmentsCopied: copied }),
        },
      },
      actor,
      ifMatch,
      { force: input.force === true, drift },
    )
    return { ...write, from: { environment: input.from, version: src.version }, parts, segmentsCopied: copied }
  }

  private async copySegment(
    from: string,
    to: string,
    key: string,
    members: boolean,
    actor: Actor,
    reason: string | undefined,
  ): Promise<void> {
    const seg = await this.segments.get(from, key)
    if (members && Math.max(seg.includedCount, seg.excludedCount) > MAX_PROMOTED_MEMBERS)
      throw new AppError(
        'VALIDATION_FAILED',
        [`segment ${key} has more than ${MAX_PROMOTED_MEMBERS} members: import them with the members routes`],
        [{ path: '/copyMembers', message: `segment "${key}" is too large to copy in a promote` }],
      )
    const why = reason ?? `promoted from ${from}`
    await this.segments.put(
      to,
      key,
      {
        rules: seg.rules,
        reason: why,
        ...(seg.name !== undefined && { name: seg.name }),
        ...(seg.description !== undefined && { description: seg.description }),
      },
      actor,
      { create: true },
    )
    if (!members) return
    for (const list of ['included', 'excluded'] as const) {
      let cursor: string | undefined
      do {
        const page = await this.segments.listMembers(from, key, {
          list,
          limit: MEMBER_BATCH,
          ...(cursor !== undefined && { cursor }),
        })
        if (page.items.length > 0)
          await this.segments.changeMembers(to, key, { add: page.items, remove: [], list, reason: why }, actor)
        cursor = page.nextCursor ?? undefined
      } while (cursor !== undefined)
    }
  }
}
