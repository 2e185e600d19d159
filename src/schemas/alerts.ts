import { Type, type Static } from '@sinclair/typebox'

/**
 * Alertmanager's webhook notification (`webhook_config`, payload version "4"), the body of POST /api/v1/alerts.
 * Unknown fields are allowed on purpose (unlike every other body): Alertmanager adds fields to version 4 over time
 * (`truncatedAlerts`, `fingerprint`) and a receiver that refused them would stop killing flags after an upgrade.
 */
const LabelSet = Type.Record(Type.String({ maxLength: 1024 }), Type.String({ maxLength: 16_384 }))

export const AlertSchema = Type.Object(
  {
    status: Type.Union([Type.Literal('firing'), Type.Literal('resolved')]),
    labels: LabelSet,
    annotations: Type.Optional(LabelSet),
    startsAt: Type.Optional(Type.String()),
    endsAt: Type.Optional(Type.String()),
    generatorURL: Type.Optional(Type.String()),
    fingerprint: Type.Optional(Type.String({ maxLength: 128 })),
  },
  { additionalProperties: true },
)
export type Alert = Static<typeof AlertSchema>

const EXAMPLE = {
  version: '4',
  groupKey: '{}/{switchyard_flag=~".+"}:{switchyard_env="production", switchyard_flag="orders-migration"}',
  truncatedAlerts: 0,
  status: 'firing',
  receiver: 'switchyard',
  groupLabels: { switchyard_env: 'production', switchyard_flag: 'orders-migration' },
  commonLabels: { alertname: 'OrdersLockWaits', switchyard_env: 'production', switchyard_flag: 'orders-migration' },
  commonAnnotations: { summary: 'Lock waits on orders above 20 for 1m' },
  externalURL: 'http://alertmanager:9093',
  alerts: [
    {
      status: 'firing',
      labels: { alertname: 'OrdersLockWaits', switchyard_env: 'production', switchyard_flag: 'orders-migration' },
      annotations: { summary: 'Lock waits on orders above 20 for 1m' },
      startsAt: '2026-12-02T06:30:04.112Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus:9090/graph?g0.expr=pg_locks_waiting+%3E+20',
      fingerprint: '5e8f2c1b9a7d3e60',
    },
  ],
}

export const AlertNotificationBody = Type.Object(
  {
    version: Type.String({ maxLength: 16, description: 'Payload version; only "4" is understood' }),
    groupKey: Type.Optional(Type.String()),
    truncatedAlerts: Type.Optional(Type.Integer({ minimum: 0 })),
    status: Type.Optional(Type.Union([Type.Literal('firing'), Type.Literal('resolved')])),
    receiver: Type.Optional(Type.String()),
    groupLabels: Type.Optional(LabelSet),
    commonLabels: Type.Optional(LabelSet),
    commonAnnotations: Type.Optional(LabelSet),
    externalURL: Type.Optional(Type.String()),
    alerts: Type.Array(AlertSchema, { maxItems: 10_000 }),
  },
  {
    additionalProperties: true,
    description: "Alertmanager's webhook payload (version 4), as `webhook_configs` sends it",
    examples: [EXAMPLE],
  },
)
export type AlertNotification = Static<typeof AlertNotificationBody>

/** What was done about one alert of the notification, in the notification's order. */
export const ALERT_OUTCOMES = [
  'killed', // the flag was on; it is off now (a new version, audited as flag.kill)
  'already-off', // a repeat: the flag was already off; nothing written
  'halted', // the flag's release plan was halted
  'already-halted', // a repeat: the plan was not running; nothing written
  'recorded', // resolved: written to the audit log, nothing else
  'ignored', // the flag's alertPolicy is "ignore": written to the audit log, nothing else
  'skipped', // not for Switchyard (no switchyard_env + switchyard_flag/switchyard_plan labels) or labels that are not keys
  'refused', // for Switchyard but not actionable: see `code`
] as const
export type AlertOutcome = (typeof ALERT_OUTCOMES)[number]

export const AlertResultSchema = Type.Object(
  {
    alertname: Type.String(),
    status: Type.Union([Type.Literal('firing'), Type.Literal('resolved')]),
    fingerprint: Type.Optional(Type.String()),
    environment: Type.Optional(Type.String()),
    flag: Type.Optional(Type.String()),
    outcome: Type.Union(ALERT_OUTCOMES.map((o) => Type.Literal(o))),
    code: Type.Optional(
      Type.String({
        description:
          'Why an alert was skipped or refused: NOT_LABELLED, INVALID_LABEL, FORBIDDEN, ENVIRONMENT_NOT_FOUND, FLAG_NOT_FOUND, PLANS_UNAVAILABLE',
      }),
    ),
    version: Type.Optional(Type.Integer({ description: 'The flag configuration version after a kill' })),
    changeId: Type.Optional(Type.String({ description: 'The change-log id of the kill (for /sdk-status)' })),
  },
  { additionalProperties: false },
)
export type AlertResult = Static<typeof AlertResultSchema>

export const AlertResponseSchema = Type.Object(
  { results: Type.Array(AlertResultSchema) },
  {
    description: 'What was done about each alert, in order (200 even when some were refused: retrying would not help)',
    examples: [
      {
        results: [
          {
            alertname: 'OrdersLockWaits',
            status: 'firing',
            fingerprint: '5e8f2c1b9a7d3e60',
            environment: 'production',
            flag: 'orders-migration',
            outcome: 'killed',
            version: 8,
            changeId: '1764657004112-0',
          },
        ],
      },
    ],
  },
)
