/** The operations routes' wire: liveness, readiness, Prometheus metrics, store re-initialisation. */
import { Type } from '@sinclair/typebox'

export const LiveSchema = Type.Object(
  { status: Type.Literal('ok') },
  { description: 'Alive', examples: [{ status: 'ok' }] },
)

export const ReadySchema = Type.Object(
  { status: Type.Literal('ready') },
  { description: 'Ready', examples: [{ status: 'ready' }] },
)

/** How /openapi.json shows /metrics' 200 (the handler sends the registry's text itself). */
export const METRICS_TEXT = {
  description: 'The metrics in the Prometheus text format (version 0.0.4)',
  content: {
    'text/plain': {
      schema: Type.String(),
      example:
        '# HELP switchyard_http_request_duration_seconds HTTP request duration by route template\n# TYPE switchyard_http_request_duration_seconds histogram\n',
    },
  },
}

export const StoreInitialisedSchema = Type.Object(
  {
    status: Type.Union([Type.Literal('initialised'), Type.Literal('ready')], {
      description: '`ready`: the store was not reset, nothing done',
    }),
  },
  { description: 'Initialised, or already ready', examples: [{ status: 'initialised' }] },
)
