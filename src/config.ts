import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

/**
 * Every environment variable the server reads. The README's configuration
 * table is checked against this schema by a test, so add new variables here
 * with a description and a default.
 */
export const ConfigSchema = Type.Object(
  {
    PORT: Type.Integer({
      minimum: 0,
      maximum: 65535,
      default: 3000,
      description: 'HTTP port to listen on (0 picks a free port).',
    }),
    HOST: Type.String({
      minLength: 1,
      default: '127.0.0.1',
      description: 'Address to listen on; 0.0.0.0 in containers.',
    }),
    REDIS_URL: Type.Optional(
      Type.String({
        pattern: '^rediss?://',
        description: 'Redis to use (redis:// or rediss://). Unset: start an embedded local redis-server.',
      }),
    ),
    REDIS_SENTINELS: Type.Optional(
      Type.String({
        pattern: '^[^,:\\s]+:\\d+(,[^,:\\s]+:\\d+)*$',
        description:
          'Redis Sentinel nodes as host:port,host:port. Set: connect to the master named REDIS_SENTINEL_MASTER through them (instead of REDIS_URL).',
      }),
    ),
    REDIS_SENTINEL_MASTER: Type.String({
      minLength: 1,
      default: 'mymaster',
      description: 'Master name monitored by the Sentinels.',
    }),
    REDIS_CLUSTER_NODES: Type.Optional(
      Type.String({
        pattern: '^[^,:\\s]+:\\d+(,[^,:\\s]+:\\d+)*$',
        description: 'Redis Cluster seed nodes as host:port,host:port. Set: use the cluster (instead of REDIS_URL).',
      }),
    ),
    REDIS_PASSWORD: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Password of the Redis nodes (with REDIS_SENTINELS or REDIS_CLUSTER_NODES; with REDIS_URL put it in the URL).',
      }),
    ),
    REDIS_COMMAND_TIMEOUT_MS: Type.Integer({
      minimum: 50,
      default: 2000,
      description:
        'A Redis command (or connection attempt) that gets no answer within this time fails: the request answers 503 STORE_UNAVAILABLE instead of hanging.',
    }),
    READINESS_TIMEOUT_MS: Type.Integer({
      minimum: 50,
      default: 1000,
      description:
        "/readyz answers 503 STORE_UNAVAILABLE when its Redis checks take longer than this (keep it below the probe's own timeout).",
    }),
    STORE_CHECK_MS: Type.Integer({
      minimum: 100,
      default: 5000,
      description:
        'How often each instance checks that Redis still holds its instance marker (also on every reconnect and /readyz); missing: readiness fails with STORE_RESET.',
    }),
    ADMIN_TOKEN: Type.Optional(
      Type.String({
        minLength: 24,
        maxLength: 256,
        description:
          'Bootstrap admin bearer token (≥ 24 chars). Unset on first start: one is generated and printed once.',
      }),
    ),
    DATA_DIR: Type.String({
      minLength: 1,
      default: '.data',
      description: 'Directory of the embedded redis-server (AOF files).',
    }),
    REDIS_SERVER_BIN: Type.String({
      minLength: 1,
      default: 'redis-server',
      description: 'redis-server binary used by the embedded mode.',
    }),
    REDIS_AUTO_INSTALL: Type.Boolean({
      default: true,
      description: "Embedded mode: install Debian's redis-server with apt-get when it is missing (root only).",
    }),
    EMBEDDED_REDIS_PORT: Type.Integer({
      minimum: 0,
      maximum: 65535,
      default: 0,
      description: 'Port of the embedded redis-server on 127.0.0.1 (0 picks a free one).',
    }),
    LOG_LEVEL: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
      { default: 'info', description: 'Log level (pino).' },
    ),
    BODY_LIMIT_BYTES: Type.Integer({
      minimum: 1024,
      default: 1_048_576,
      description: 'Largest JSON body accepted, except segment member uploads.',
    }),
    MEMBERS_BODY_LIMIT_BYTES: Type.Integer({
      minimum: 1024,
      default: 33_554_432,
      description: 'Largest segment member upload (100,000 ids per call).',
    }),
    CHANGELOG_MAXLEN: Type.Integer({
      minimum: 100,
      default: 10_000,
      description: 'Change-log entries kept per environment (older ones are trimmed; SDKs behind that get a full put).',
    }),
    AUDIT_MAXLEN: Type.Integer({
      minimum: 0,
      default: 1_000_000,
      description:
        "Audit records kept per stream (the global one and each environment's), oldest dropped first; 0 keeps all. Export them elsewhere for longer retention.",
    }),
    HISTORY_MAX_VERSIONS: Type.Integer({
      minimum: 0,
      default: 1000,
      description: 'Versions of each flag configuration kept for history and rollback; 0 keeps all.',
    }),
    SHUTDOWN_GRACE_MS: Type.Integer({
      minimum: 0,
      default: 10_000,
      description: 'How long SIGINT/SIGTERM waits for in-flight requests.',
    }),
    TRUST_PROXY: Type.Boolean({ default: false, description: 'Trust X-Forwarded-* headers (behind a load balancer).' }),
    STREAM_HEARTBEAT_MS: Type.Integer({
      minimum: 100,
      default: 15_000,
      description: 'Interval of the `: ping` comment on idle SSE streams (keeps proxies from closing them).',
    }),
    STREAM_RETRY_MS: Type.Integer({
      minimum: 0,
      default: 1000,
      description: 'Reconnect delay hint sent to SSE clients (`retry:` line).',
    }),
    STREAM_MAX_BUFFER_BYTES: Type.Integer({
      minimum: 1024,
      default: 1_048_576,
      description:
        'Unsent bytes a stream may queue before the server closes it as too slow (it resumes with Last-Event-ID).',
    }),
    STREAM_TOKEN_RECHECK_MS: Type.Integer({
      minimum: 0,
      default: 5_000,
      description: 'How often open streams check that their token was not revoked (0: never).',
    }),
    STREAM_IDLE_CHANNEL_MS: Type.Integer({
      minimum: 1000,
      default: 300_000,
      description:
        "An environment's change-log reader stops after this long without streams or evaluations on the instance (it restarts on the next one).",
    }),
    STREAM_MAX_PER_INSTANCE: Type.Integer({
      minimum: 1,
      default: 10_000,
      description:
        'Open SSE streams one instance serves (all tokens together); beyond it 429 TOO_MANY_STREAMS. Lowered at start to leave max(128, 5 %) of `ulimit -n` for other requests (a warning says so).',
    }),
    STREAM_MAX_PER_TOKEN: Type.Integer({
      minimum: 1,
      default: 8_000,
      description:
        'Open SSE streams of one token on one instance. One sdk-client token serves every browser of a site, so keep it generous; it stops one (public) token from taking the whole instance.',
    }),
    STREAM_MAX_PER_IP: Type.Integer({
      minimum: 0,
      default: 0,
      description:
        "Open SSE streams from one client address on one instance; 0: no limit. Only useful when the address is the real client's (direct, or TRUST_PROXY behind a proxy): behind a proxy without it every browser shares one address.",
    }),
    SDK_MAX_SERVER_INSTANCES: Type.Integer({
      minimum: 1,
      default: 5_000,
      description:
        'Server SDK instances (sdk-server tokens) sdk-status tracks per environment; reports of new ones beyond it are accepted but not tracked (switchyard_sdk_reports_untracked_total) and sdk-status says `capped`.',
    }),
    SDK_MAX_CLIENT_INSTANCES: Type.Integer({
      minimum: 1,
      default: 1_000,
      description:
        'Browser SDK instances (sdk-client tokens, public) sdk-status counts per environment, apart from the server SDKs; beyond it new ones are not tracked.',
    }),
    METRICS_TOKEN: Type.Optional(
      Type.String({
        minLength: 16,
        maxLength: 256,
        description:
          'Set: GET /metrics requires `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise). Unset: /metrics is open (keep it off the public network).',
      }),
    ),
    CLIENT_CORS_ORIGIN: Type.String({
      pattern: '^\\s*(\\*|[a-z][a-z0-9+.-]*://[^\\s,/]+)(\\s*,\\s*(\\*|[a-z][a-z0-9+.-]*://[^\\s,/]+))*\\s*$',
      default: '*',
      description:
        "Origins that may call the browser SDK routes (/api/v1/sdk/client/*, /api/v1/sdk/metrics, /ofrep/v1/evaluate/flags*): `*` (any), or a comma-separated list of origins (https://shop.example,https://www.shop.example), echoed in Access-Control-Allow-Origin when the request's Origin is one of them; other routes send no CORS headers.",
    }),
    REQUEST_TIMEOUT_MS: Type.Integer({
      minimum: 0,
      default: 30_000,
      description:
        'Longest time to receive a whole request (headers and body); then 408 REQUEST_TIMEOUT and the connection closes. 0: no limit. Only receiving counts: SSE streams and slow responses are not cut.',
    }),
    HEADERS_TIMEOUT_MS: Type.Integer({
      minimum: 0,
      default: 10_000,
      description:
        'Longest time to receive the request headers (at most REQUEST_TIMEOUT_MS); then 408 REQUEST_TIMEOUT. 0: same as REQUEST_TIMEOUT_MS.',
    }),
    RATE_LIMIT_AUTH_FAILURES: Type.Integer({
      minimum: 0,
      default: 30,
      description:
        'Failed authentications (401) per client IP per minute, counted in Redis across every instance; beyond it 429 RATE_LIMITED. Requests with a valid token are never limited by it. 0: no limit.',
    }),
    RATE_LIMIT_WRITES: Type.Integer({
      minimum: 0,
      default: 6000,
      description:
        'Writes (POST, PUT, PATCH, DELETE) per admin or editor token per minute, across every instance; beyond it 429 RATE_LIMITED. Kills are exempt. 0: no limit.',
    }),
    LOG_PROBE_REQUESTS: Type.Boolean({
      default: false,
      description: 'Also write access-log lines for /healthz, /readyz and SDK reports (POST /api/v1/sdk/metrics).',
    }),
    PROMETHEUS_URL: Type.Optional(
      Type.String({
        pattern: '^https?://',
        description:
          'Prometheus whose HTTP API (/api/v1/query) evaluates the guards of release plans. Unset: plans with guards are refused.',
      }),
    ),
    PROMETHEUS_TIMEOUT_MS: Type.Integer({
      minimum: 50,
      default: 5000,
      description: 'A guard query without an answer within this time counts as unknown: the plan halts.',
    }),
    PLAN_TICK_MS: Type.Integer({
      minimum: 0,
      default: 1000,
      description:
        'How often each instance looks for due steps of release plans and evaluates their guards. 0: never by itself (tests drive it).',
    }),
    PLAN_LEASE_MS: Type.Integer({
      minimum: 100,
      default: 15000,
      description:
        "How long an instance holds a running plan without renewing its claim; a dead instance's plans are taken over after it. Measured on Redis's clock (TIME), so the instances' clocks need not agree.",
    }),
    WORKERS: Type.Integer({
      minimum: 1,
      maximum: 256,
      default: 1,
      description:
        'Processes serving on PORT (node:cluster): each a full instance (its own streams, readers and limits); the first process only starts them, restarts a crashed one and stops them on SIGTERM/SIGINT. 1: one process, no cluster.',
    }),
  },
  { additionalProperties: true },
)

/** The validated configuration. */
export type Config = Static<typeof ConfigSchema>

/** Raised with every bad variable at once; never echoes a secret's value. */
export class ConfigError extends Error {
  readonly problems: string[]
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

const SECRET = new Set(['ADMIN_TOKEN', 'REDIS_URL', 'REDIS_PASSWORD', 'METRICS_TOKEN'])

/** Reads the configuration from an env object (usually `process.env`). */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const known = Object.keys(ConfigSchema.properties)
  const input: Record<string, unknown> = {}
  for (const name of known) {
    const v = env[name]
    if (v !== undefined && v !== '') input[name] = v
  }
  const withDefaults = Value.Default(ConfigSchema, Value.Convert(ConfigSchema, input))
  const problems: string[] = []
  const seen = new Set<string>()
  for (const e of Value.Errors(ConfigSchema, withDefaults)) {
    const name = e.path.replace(/^\//, '').split('/')[0] ?? ''
    if (seen.has(name)) continue
    seen.add(name)
    const schema = (ConfigSchema.properties as Record<string, { description?: string }>)[name]
    const shown = SECRET.has(name) ? '(value hidden)' : JSON.stringify(env[name])
    problems.push(`${name}=${shown}: ${e.message}. ${schema?.description ?? ''}`.trim())
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return withDefaults as Config
}
