import { type Static, Type } from '@sinclair/typebox'
import { Key, Reason } from './common.js'
import { ForceSchema } from './flag.js'

/** The parts of a configuration a promote can copy; all of them by default. */
export const PROMOTE_PARTS = [
  'on',
  'offVariation',
  'targets',
  'rules',
  'fallthrough',
  'prerequisites',
  'requires',
  // A knob's value is its own part: an environment tunes its own (production's batch size need not be staging's).
  'knob',
] as const
export type PromotePart = (typeof PROMOTE_PARTS)[number]

const Presence = Type.Union([
  Type.Literal('same'),
  Type.Literal('different'),
  Type.Literal('only-from'),
  Type.Literal('only-to'),
])
const Versions = Type.Object({
  from: Type.Union([Type.Integer(), Type.Null()]),
  to: Type.Union([Type.Integer(), Type.Null()]),
})
const FactDiff = Type.Object({
  fact: Type.String(),
  status: Type.String(),
  from: Type.Unknown(),
  to: Type.Unknown(),
})

const DIFF_EXAMPLE = {
  from: 'staging',
  to: 'production',
  flag: 'sessions-v2',
  flags: [
    {
      key: 'sessions-v2',
      status: 'different',
      versions: { from: 4, to: 2 },
      changes: {
        on: { from: true, to: false },
        targets: [{ variation: 0, onlyFrom: { count: 2, sample: ['qa-1', 'qa-2'] }, onlyTo: { count: 0, sample: [] } }],
      },
    },
  ],
  segments: [],
  facts: {
    differences: [
      {
        fact: 'db.sessions.indexes',
        status: 'different',
        from: ['sessions_pkey', 'sessions_user_combined_idx'],
        to: ['sessions_pkey'],
      },
    ],
    same: 3,
    versions: { from: 7, to: 5 },
  },
  applications: {
    differences: [
      {
        name: 'sessions-api',
        status: 'different',
        from: [{ version: '5.3.1', instances: 2 }],
        to: [{ version: '5.2.4', instances: 6 }],
        facts: [],
      },
    ],
    same: 0,
    unnamed: { from: 0, to: 1 },
  },
  summary: { flags: 1, segments: 0, facts: 1, applications: 1 },
}

export const EnvironmentDiffSchema = Type.Object(
  {
    from: Key,
    to: Key,
    flag: Type.Union([Key, Type.Null()]),
    flags: Type.Array(
      Type.Object({
        key: Key,
        status: Presence,
        versions: Versions,
        changes: Type.Unknown({
          description:
            "What differs: on, offVariation, fallthrough, prerequisites, requires ({from, to}); knob (the live knob's value on each side, null where none); targets (per variation, ids on one side only: count + sample); rules (ids only on one side, changed, reordered); other (fields this server does not name, as JSON)",
        }),
      }),
    ),
    segments: Type.Array(
      Type.Object({
        key: Key,
        status: Presence,
        versions: Versions,
        changes: Type.Unknown({ description: 'name, description, rules ({from, to})' }),
        members: Type.Unknown({
          description:
            'Per list (included, excluded): counts in each environment and a sample of ids on one side only (`found` is exact when `complete`; a bounded scan of large segments), null when the segment exists on one side only',
        }),
      }),
    ),
    facts: Type.Object({
      differences: Type.Array(FactDiff),
      same: Type.Integer(),
      versions: Type.Object({ from: Type.Integer(), to: Type.Integer() }),
    }),
    applications: Type.Object({
      differences: Type.Array(
        Type.Object({
          name: Type.String(),
          status: Presence,
          from: Type.Array(
            Type.Object({ version: Type.Union([Type.String(), Type.Null()]), instances: Type.Integer() }),
          ),
          to: Type.Array(Type.Object({ version: Type.Union([Type.String(), Type.Null()]), instances: Type.Integer() })),
          facts: Type.Array(FactDiff),
        }),
      ),
      same: Type.Integer(),
      unnamed: Type.Object(
        { from: Type.Integer(), to: Type.Integer() },
        { description: 'Server SDK instances that name no application' },
      ),
    }),
    summary: Type.Object(
      { flags: Type.Integer(), segments: Type.Integer(), facts: Type.Integer(), applications: Type.Integer() },
      { description: 'How many of each differ' },
    ),
  },
  { description: 'What differs between two environments', examples: [DIFF_EXAMPLE] },
)

export const PromoteBody = Type.Object(
  {
    from: Key,
    parts: Type.Optional(
      Type.Array(Type.Union(PROMOTE_PARTS.map((p) => Type.Literal(p))), {
        minItems: 1,
        maxItems: PROMOTE_PARTS.length,
        description: `What to copy (default all): ${PROMOTE_PARTS.join(', ')}`,
      }),
    ),
    copySegments: Type.Optional(
      Type.Boolean({
        description: 'Create the segments the configuration uses that the target lacks (definitions only)',
      }),
    ),
    copyMembers: Type.Optional(
      Type.Boolean({
        description: 'With copySegments: copy their members too (in batches of 10,000; at most 1,000,000)',
      }),
    ),
    reason: Type.Optional(Reason),
    force: Type.Optional(ForceSchema),
  },
  {
    additionalProperties: false,
    examples: [
      { from: 'staging', parts: ['targets', 'rules', 'fallthrough', 'on'], reason: 'sessions v2 to production' },
    ],
  },
)
export type PromoteBodyInput = Static<typeof PromoteBody>

const AppSchema = Type.Object({
  name: Type.String(),
  version: Type.Union([Type.String(), Type.Null()]),
  instances: Type.Integer(),
  runtimes: Type.Array(Type.String()),
  sdkVersions: Type.Array(Type.String()),
  facts: Type.Record(Type.String(), Type.Unknown()),
  lastReportAt: Type.String(),
})

export const ApplicationsSchema = Type.Object(
  {
    environment: Key,
    items: Type.Array(AppSchema),
    unnamed: Type.Integer({ description: 'Live server SDK instances that name no application' }),
  },
  {
    description:
      'Applications connected to the environment (server SDKs reporting in the last 10 minutes), by name and version',
    examples: [
      {
        environment: 'production',
        items: [
          {
            name: 'sessions-api',
            version: '5.2.4',
            instances: 6,
            runtimes: ['node 22.11.0'],
            sdkVersions: ['0.1.0'],
            facts: { 'app.framework': '5.2.4' },
            lastReportAt: '2026-12-01T06:30:13.000Z',
          },
        ],
        unnamed: 0,
      },
    ],
  },
)
