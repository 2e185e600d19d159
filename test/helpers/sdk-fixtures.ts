/** Fixtures for the streaming tests: an environment, flags, SDK tokens. */
import type { TestServer } from './server.js'

export interface SdkEnv {
  env: string
  serverToken: string
  clientToken: string
  serverTokenId: string
  signingSecret: string
}

/** Creates an environment and one sdk-server and one sdk-client token for it. */
export async function createSdkEnv(
  s: TestServer,
  env = 'production',
  opts: { requireSignedContext?: boolean } = {},
): Promise<SdkEnv> {
  let r = await s.api('POST', '/api/v1/environments', {
    body: {
      key: env,
      ...(opts.requireSignedContext !== undefined && { requireSignedContext: opts.requireSignedContext }),
    },
  })
  if (r.status !== 201) throw new Error(`create env: ${r.status} ${r.text}`)
  const signingSecret = r.body.signingSecret as string
  r = await s.api('POST', '/api/v1/tokens', {
    body: { name: `${env}-server`, kind: 'sdk-server', environments: [env] },
  })
  if (r.status !== 201) throw new Error(`create token: ${r.status} ${r.text}`)
  const serverToken = r.body.secret as string
  const serverTokenId = r.body.token.id as string
  r = await s.api('POST', '/api/v1/tokens', {
    body: { name: `${env}-client`, kind: 'sdk-client', environments: [env] },
  })
  if (r.status !== 201) throw new Error(`create token: ${r.status} ${r.text}`)
  return { env, serverToken, serverTokenId, clientToken: r.body.secret as string, signingSecret }
}

/** Creates a flag (boolean by default). */
export async function createFlag(s: TestServer, key: string, extra: Record<string, unknown> = {}): Promise<void> {
  const r = await s.api('POST', '/api/v1/flags', { body: { key, name: key, kind: 'boolean', ...extra } })
  if (r.status !== 201) throw new Error(`create flag ${key}: ${r.status} ${r.text}`)
}

/** Replaces a flag's configuration in an environment (reads the current version first). */
export async function putConfig(
  s: TestServer,
  env: string,
  key: string,
  config: Record<string, unknown>,
  // biome-ignore lint/suspicious/noExplicitAny: tests inspect arbitrary JSON
): Promise<any> {
  const cur = await s.api('GET', `/api/v1/environments/${env}/flags/${key}`)
  if (cur.status !== 200) throw new Error(`get config ${key}: ${cur.status} ${cur.text}`)
  const body = {
    on: true,
    offVariation: 1,
    targets: [],
    rules: [],
    prerequisites: [],
    fallthrough: { variation: 1 },
    ...config,
  }
  const r = await s.api('PUT', `/api/v1/environments/${env}/flags/${key}`, {
    headers: { 'if-match': `"${cur.body.version}"` },
    body,
  })
  if (r.status !== 200) throw new Error(`put config ${key}: ${r.status} ${r.text}`)
  return r.body
}

/** Turns a flag on or off (one change-log entry). */
export async function toggle(s: TestServer, env: string, key: string, on: boolean): Promise<void> {
  const r = await s.api('POST', `/api/v1/environments/${env}/flags/${key}/toggle`, { body: { on } })
  if (r.status !== 200) throw new Error(`toggle ${key}: ${r.status} ${r.text}`)
}

/** base64url of a context's JSON. */
export function encodeContext(ctx: unknown): string {
  return Buffer.from(JSON.stringify(ctx)).toString('base64url')
}

/** A metric's value from /metrics text (0 when absent). */
export async function metricValue(s: TestServer, name: string, labels: Record<string, string> = {}): Promise<number> {
  const r = await s.api('GET', '/metrics', { token: s.config?.METRICS_TOKEN ?? null })
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
  let total = 0
  for (const line of r.text.split('\n')) {
    if (!line.startsWith(name)) continue
    const m = /^([a-z_]+)(\{[^}]*\})?\s+([0-9.e+-]+)$/.exec(line)
    if (!m || m[1] !== name) continue
    if (want.every((w) => (m[2] ?? '').includes(w))) total += Number(m[3])
  }
  return total
}
