/** HTTP helpers shared by the stream and the poller. No `node:` imports. */

/** The `fetch` the SDK uses (the global one unless injected). */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>

/** Error codes the SDK itself produces (server codes such as UNAUTHORIZED pass through). */
export type SdkErrorCode =
  | 'NETWORK_ERROR'
  | 'HTTP_ERROR'
  | 'STREAM_TIMEOUT'
  | 'STREAM_ENDED'
  | 'PROTOCOL_ERROR'
  | 'READY_TIMEOUT'
  | 'CLOSED'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | (string & {})

/** Every error the SDK reports (events, rejected promises). */
export class SwitchyardError extends Error {
  /** Stable code: the server's `code` for HTTP errors, else one of the SDK's. */
  readonly code: SdkErrorCode
  /** HTTP status, when the server answered. */
  readonly status: number | undefined
  /**
   * True for 401/403: retrying soon will not help; fix the token or its permissions. The SDK keeps
   * its data and tries again every `authRetryMs`, so it recovers by itself once the token is valid.
   */
  readonly fatal: boolean
  /** The server's Retry-After, in ms (0 when absent). */
  readonly retryAfterMs: number

  constructor(
    code: SdkErrorCode,
    message: string,
    opts: { status?: number; fatal?: boolean; cause?: unknown; retryAfterMs?: number } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.code = code
    this.status = opts.status
    this.fatal = opts.fatal ?? false
    this.retryAfterMs = opts.retryAfterMs ?? 0
    // Last: the browser build assigns fields instead of defining them, and the own-property order stays the same.
    this.name = 'SwitchyardError'
  }
}

/** Turn a non-2xx response into a SwitchyardError; 401/403 are fatal (see {@link SwitchyardError.fatal}). */
export async function httpError(res: Response, what: string): Promise<SwitchyardError> {
  let code: string | undefined
  let message: string | undefined
  try {
    const body = (await res.json()) as { code?: unknown; message?: unknown }
    if (typeof body.code === 'string') code = body.code
    if (typeof body.message === 'string') message = body.message
  } catch {
    // Not JSON: keep the status alone.
  }
  const fatal = res.status === 401 || res.status === 403
  const fallback = res.status === 401 ? 'UNAUTHORIZED' : res.status === 403 ? 'FORBIDDEN' : 'HTTP_ERROR'
  let text = `${what}: HTTP ${res.status}${message ? ` ${message}` : ''}`
  // Short (the browser bundle's budget), but each says what the SDK does meanwhile and what to check.
  const slow = ' — data kept, retried every `authRetryMs`'
  if (res.status === 401) text += `${slow}; check the \`token\` option (an sdk-server or sdk-client token)`
  if (res.status === 403)
    text += `${slow}; server mode needs an sdk-server token, client mode an sdk-client token, or the \`signature\` was refused`
  return new SwitchyardError(code ?? fallback, text, { status: res.status, fatal, retryAfterMs: retryAfterMs(res) })
}

function retryAfterMs(res: Response): number {
  const h = res.headers.get('retry-after')
  if (!h) return 0
  const s = Number(h)
  if (Number.isFinite(s)) return s * 1000
  const d = Date.parse(h)
  return Number.isFinite(d) ? Math.max(0, d - Date.now()) : 0
}

/** The message of anything thrown. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

/** base64url (no padding) of a UTF-8 string, without Buffer so it works in browsers. */
export function base64url(text: string): string {
  const bytes = new TextEncoder().encode(text)
  let bin = ''
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i] as number)
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/** Strip quotes and a weak prefix from an ETag: `W/"1-0"` → `1-0`. */
export function unquoteEtag(etag: string | null): string | null {
  if (!etag) return null
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1')
}

/** Join the base URL and a path without doubling slashes. */
export function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, '') + path
}
