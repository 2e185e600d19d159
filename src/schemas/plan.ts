import { Type, type Static } from '@sinclair/typebox'
import { Key, Reason } from './common.js'
import { UnmetSchema } from './facts.js'
import { FlagConfigBody, PassedPointFields, ServeSchema } from './flag.js'

/** A duration as Prometheus writes them: a whole number and one unit (`500ms`, `30s`, `10m`, `6h`, `1d`). */
export const Duration = Type.String({
  pattern: '^[0-9]{1,9}(ms|s|m|h|d)$',
  description: 'A whole number and a unit: ms, s, m, h or d (e.g. `30s`, `10m`)',
})

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Milliseconds of a {@link Duration} (validated by the schema before it gets here). */
export function durationMs(d: string): number {
  const m = /^([0-9]+)(ms|s|m|h|d)$/.exec(d)
  if (!m) throw new Error(`not a duration: ${d}`)
  return Number(m[1]) * (UNIT_MS[m[2] as string] as number)
}

export const PointOfNoReturnSchema = Type.Object(
  {
    note: Type.String({
      minLength: 1,
      maxLength: 1000,
      description: 'What can no longer be undone once this step is applied',
    }),
    runbook: Type.Optional(
      Type.String({ maxLength: 2000, description: 'Where the runbook for this step is (a link)' }),
    ),
    afterwards: Type.Optional(
      Type.Union([Type.Literal('halt'), Type.Literal('kill')], {
        description:
          'What an automated `kill` or `rollback` (a guard, an alert) does once this step is passed: `halt` (default: stay where it is and say so) or `kill` (kill anyway; rollback still halts)',
      }),
    ),
  },
  { additionalProperties: false },
)
export type PointOfNoReturn = Static<typeof PointOfNoReturnSchema>

/** A step's flag configuration: the PUT body without `reason` (the plan writes its own). */
const { reason: _reason, ...configFields } = FlagConfigBody.properties
export const StepConfigSchema = Type.Object(configFields, { additionalProperties: false })
export type StepConfig = Static<typeof StepConfigSchema>

export const PlanStepSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128, examples: ['5 %'] })),
    // serve: the fallthrough (a variation or rollout weights), the flag turned on, the rest kept;
    // config: a whole configuration as PUT takes it (segment-targeted steps, scheduled changes).
    serve: Type.Optional(ServeSchema),
    config: Type.Optional(StepConfigSchema),
    hold: Type.Optional(
      Type.Union([Duration, Type.Literal('approval')], {
        description:
          'How long this step is held before the next one: a duration, or `approval` (until someone approves). Absent: the next step follows at once (the last step: the plan completes)',
      }),
    ),
    pointOfNoReturn: Type.Optional(PointOfNoReturnSchema),
  },
  { additionalProperties: false, description: 'One step: exactly one of `serve` or `config`' },
)
export type PlanStep = Static<typeof PlanStepSchema>

export const COMPARISONS = ['>', '>=', '<', '<='] as const
export type Comparison = (typeof COMPARISONS)[number]
export const GUARD_ACTIONS = ['halt', 'rollback', 'kill'] as const
export type GuardAction = (typeof GUARD_ACTIONS)[number]

export const GuardSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128, examples: ['error rate'] })),
    query: Type.String({
      minLength: 1,
      maxLength: 4000,
      description: 'PromQL; must give one number (a scalar or a one-series vector)',
    }),
    comparison: Type.Union(
      COMPARISONS.map((c) => Type.Literal(c)),
      { description: 'A breach is `value <comparison> threshold`' },
    ),
    threshold: Type.Number(),
    // How long a breach must last before the action (default 0s).
    for: Type.Optional(Duration),
    action: Type.Union(
      GUARD_ACTIONS.map((a) => Type.Literal(a)),
      {
        description:
          '`halt`: stay at the current step; `rollback`: back to the previous step, then halt; `kill`: flag off, then halt',
      },
    ),
  },
  { additionalProperties: false },
)
export type Guard = Static<typeof GuardSchema>

const PLAN_EXAMPLE = {
  flag: 'new-checkout',
  name: 'checkout ramp',
  steps: [
    {
      name: 'staff',
      config: {
        on: true,
        offVariation: 1,
        rules: [
          {
            id: 'staff',
            clauses: [{ attribute: 'key', op: 'inSegment', values: ['staff'] }],
            serve: { variation: 0 },
          },
        ],
        fallthrough: { variation: 1 },
      },
      hold: 'approval',
    },
    {
      name: '5 %',
      serve: {
        rollout: {
          weights: [
            { variation: 0, weight: 5000 },
            { variation: 1, weight: 95000 },
          ],
        },
      },
      hold: '1h',
    },
    {
      name: 'everyone',
      serve: { variation: 0 },
      pointOfNoReturn: {
        note: 'the migration writes new-format orders',
        runbook: 'https://wiki.example/runbooks/orders',
      },
    },
  ],
  guards: [
    {
      name: 'error rate',
      query: 'sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))',
      comparison: '>',
      threshold: 0.02,
      for: '1m',
      action: 'rollback',
    },
  ],
}

export const CreatePlanBody = Type.Object(
  {
    flag: Key,
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    steps: Type.Array(PlanStepSchema, { minItems: 1, maxItems: 50 }),
    guards: Type.Optional(Type.Array(GuardSchema, { maxItems: 20 })),
    startAt: Type.Optional(
      Type.String({
        pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2})$',
        description: 'When the first step is due (a scheduled change), ISO 8601 with a zone; default: at start',
        examples: ['2026-12-02T05:00:00Z'],
      }),
    ),
    start: Type.Optional(Type.Boolean({ description: 'Start at once (default false: a draft until POST …/start)' })),
    reason: Type.Optional(Reason),
  },
  {
    additionalProperties: false,
    examples: [
      PLAN_EXAMPLE,
      {
        flag: 'new-checkout',
        name: 'on at 05:00',
        startAt: '2026-12-02T05:00:00Z',
        steps: [{ config: { on: true, fallthrough: { variation: 0 } } }],
        start: true,
      },
    ],
  },
)
export type CreatePlan = Static<typeof CreatePlanBody>

export const PLAN_STATUSES = ['draft', 'running', 'waiting', 'paused', 'completed', 'aborted'] as const
export type PlanStatus = (typeof PLAN_STATUSES)[number]

const Who = Type.Object({ name: Type.String(), tokenId: Type.String() }, { additionalProperties: false })

export const GuardReadingSchema = Type.Object(
  {
    guard: Type.Integer({ description: 'Index in `guards`' }),
    at: Type.String(),
    value: Type.Union([Type.Number(), Type.Null()], { description: 'null: could not be evaluated (see `error`)' }),
    error: Type.Optional(Type.String()),
    breached: Type.Boolean(),
    breachSince: Type.Optional(Type.String({ description: 'Since when the breach lasts' })),
  },
  { additionalProperties: false },
)
export type GuardReading = Static<typeof GuardReadingSchema>

export const PlanEventSchema = Type.Object(
  {
    at: Type.String(),
    actor: Type.String(),
    action: Type.String({
      description:
        'create, start, step, approve, pause, resume, halt, rollback, kill, complete, abort, wait (for an approval)',
    }),
    step: Type.Optional(Type.Integer()),
    version: Type.Optional(Type.Integer({ description: 'The flag version written' })),
    reason: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
)
export type PlanEvent = Static<typeof PlanEventSchema>

export const PassedPointSchema = Type.Object(PassedPointFields.properties, {
  $id: 'PassedPointOfNoReturn',
  additionalProperties: false,
  description: 'A point of no return the flag passed',
})
export type PassedPoint = Static<typeof PassedPointSchema>

export const PlanSchema = Type.Object(
  {
    id: Type.String(),
    environment: Key,
    flag: Key,
    name: Type.String(),
    steps: Type.Array(PlanStepSchema),
    guards: Type.Array(GuardSchema),
    startAt: Type.Optional(Type.String()),
    status: Type.Union(
      PLAN_STATUSES.map((s) => Type.Literal(s)),
      {
        description:
          '`draft` (not started), `running` (holding a step), `waiting` (for an approval), `paused` (by a person, a guard or a concurrent edit: see `pausedReason`), `completed`, `aborted`',
      },
    ),
    current: Type.Integer({ description: 'Index of the step applied last (-1: none yet)' }),
    nextAt: Type.Union([Type.String(), Type.Null()], { description: 'When the next step (or completion) is due' }),
    waitingFor: Type.Optional(
      Type.Object(
        {
          step: Type.Integer({ description: 'The step that needs the approval (= steps.length: completion)' }),
          pointOfNoReturn: Type.Optional(PointOfNoReturnSchema),
        },
        { additionalProperties: false },
      ),
    ),
    pausedReason: Type.Optional(
      Type.Object(
        {
          code: Type.String({
            description:
              'PAUSED (by a person), HALTED (by an alert), FLAG_CHANGED, FLAG_MISSING, GUARD_BREACHED, GUARD_UNKNOWN, STEP_INVALID, FACTS_UNMET (the next step needs facts the environment lacks: see `unmet`)',
          }),
          message: Type.String(),
          unmet: Type.Optional(
            Type.Array(UnmetSchema, { description: 'FACTS_UNMET: each unmet requirement with its actual value' }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    approval: Type.Optional(
      Type.Object(
        { step: Type.Integer(), by: Type.String(), at: Type.String(), reason: Type.Optional(Type.String()) },
        { additionalProperties: false, description: 'The approval given for the next step (until it is applied)' },
      ),
    ),
    lastVersion: Type.Union([Type.Integer(), Type.Null()], {
      description: 'The flag version the plan wrote (or found at start) last; another version pauses it',
    }),
    baseline: Type.Optional(Type.Unknown({ description: 'The configuration found at start (a rollback of step 0)' })),
    createdAt: Type.String(),
    createdBy: Who,
    startedAt: Type.Optional(Type.String()),
    startedBy: Type.Optional(Who),
    readings: Type.Array(GuardReadingSchema, { description: 'The latest reading of every guard' }),
    passedPointOfNoReturn: Type.Optional(Type.Ref(PassedPointSchema)),
    history: Type.Array(PlanEventSchema, { description: 'Decisions, oldest first (the last 200)' }),
    revision: Type.Integer({ description: 'Increases on every change of the plan' }),
  },
  {
    $id: 'Plan',
    description: 'A release plan and its state',
    examples: [
      {
        id: 'pl_3f2a9c1e',
        environment: 'production',
        ...PLAN_EXAMPLE,
        status: 'running',
        current: 1,
        nextAt: '2026-12-01T07:30:00.000Z',
        lastVersion: 9,
        createdAt: '2026-12-01T06:00:00.000Z',
        createdBy: { name: 'release-bot', tokenId: 'tok_1' },
        startedAt: '2026-12-01T06:00:00.000Z',
        startedBy: { name: 'release-bot', tokenId: 'tok_1' },
        readings: [{ guard: 0, at: '2026-12-01T06:45:00.000Z', value: 0.004, breached: false }],
        history: [
          { at: '2026-12-01T06:00:00.000Z', actor: 'release-bot', action: 'start' },
          { at: '2026-12-01T06:00:00.100Z', actor: 'plan:pl_3f2a9c1e', action: 'step', step: 0, version: 8 },
          { at: '2026-12-01T06:30:00.000Z', actor: 'alice', action: 'approve', step: 1, reason: 'staff happy' },
          { at: '2026-12-01T06:30:00.500Z', actor: 'plan:pl_3f2a9c1e', action: 'step', step: 1, version: 9 },
        ],
        revision: 7,
      },
    ],
  },
)
export type Plan = Static<typeof PlanSchema>

export const PlanActionBody = Type.Object(
  { reason: Type.Optional(Reason) },
  { additionalProperties: false, examples: [{ reason: 'lock waits look fine; go on' }] },
)
export type PlanAction = Static<typeof PlanActionBody>
