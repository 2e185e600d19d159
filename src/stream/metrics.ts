import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

/** Stream metrics, registered on the app's own registry (never the global one). */
export function streamMetrics(registry: Registry) {
  return {
    connections: new Gauge({
      name: 'switchyard_stream_connections',
      help: 'Open SSE streams by kind (server: rules, client: evaluated values)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    refusals: new Counter({
      name: 'switchyard_stream_refusals_total',
      help: 'Stream requests refused with TOO_MANY_STREAMS, by the limit reached: instance (STREAM_MAX_PER_INSTANCE), token (STREAM_MAX_PER_TOKEN), ip (STREAM_MAX_PER_IP)',
      labelNames: ['limit'] as const,
      registers: [registry],
    }),
    events: new Counter({
      name: 'switchyard_stream_events_total',
      help: 'SSE events written to streams, by event name',
      labelNames: ['event'] as const,
      registers: [registry],
    }),
    disconnects: new Counter({
      name: 'switchyard_stream_disconnects_total',
      help: 'Streams closed by the server: slow (buffer over STREAM_MAX_BUFFER_BYTES), revoked, resync, shutdown, deleted (environment)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    lag: new Histogram({
      name: 'switchyard_changelog_lag_seconds',
      help: 'Time from a change-log write (its id) to this instance dispatching it to its streams',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: [registry],
    }),
    channels: new Gauge({
      name: 'switchyard_stream_channels',
      help: 'Environments with a change-log reader (and compiled state) on this instance',
      registers: [registry],
    }),
    channelStops: new Counter({
      name: 'switchyard_stream_channel_stops_total',
      help: 'Environment channels stopped: idle (STREAM_IDLE_CHANNEL_MS without streams or evaluations), deleted, shutdown',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    readerErrors: new Counter({
      name: 'switchyard_changelog_reader_errors_total',
      help: 'Failed XREAD calls of the change-log readers (Redis unreachable)',
      registers: [registry],
    }),
    held: new Gauge({
      name: 'switchyard_stream_channels_held',
      help: 'Environment channels keeping their last-known-good state because the store lost its data (STORE_RESET)',
      registers: [registry],
    }),
  }
}

export type StreamMetrics = ReturnType<typeof streamMetrics>
