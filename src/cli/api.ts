/** The CLI's HTTP client: one REST call with a deadline, and the three ways a call can fail. */

/** Exit codes, documented in the README and `switchyard --help`. */
export const EXIT = {
  OK: 0,
  /** The API refused: its status, code and message are printed. */
  REFUSED: 1,
  USAGE: 2,
  /** The server could not be reached or did not answer within --timeout (also `status --wait` past its deadline). */
  UNREACHABLE: 3,
  /** `status` without --wait: some live server SDK has not applied the change yet (a "no", like a refusal). */
  PENDING: 1,
} as const

/** Bad command line: printed with the usage of the command. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message)
  }
}

/** An error answer of the API ({ statusCode, code, message }). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message)
  }
}

/** No answer: connection refused, DNS, TLS, or nothing within the deadline. */
export class UnreachableError extends Error {}

export interface ApiResponse<T> {
  body: T
  headers: Headers
}

export interface CallOptions {
  body?: unknown
  ifMatch?: number
}

export class Api {
  constructor(
    readonly base: string,
    private readonly token: string | undefined,
    readonly timeoutMs: number,
  ) {}

  async call<T>(method: string, path: string, o: CallOptions = {}): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { accept: 'application/json' }
    if (this.token) headers.authorization = `Bearer ${this.token}`
    if (o.body !== undefined) headers['content-type'] = 'application/json'
    if (o.ifMatch !== undefined) headers['if-match'] = `"${o.ifMatch}"`
    let res: Response
    let text: string
    try {
      // One deadline for the whole exchange, body included: a server that accepts and never answers must not hang a script.
      const signal = AbortSignal.timeout(this.timeoutMs)
      res = await fetch(this.base + path, {
        method,
        headers,
        signal,
        ...(o.body !== undefined && { body: JSON.stringify(o.body) }),
      })
      text = await res.text()
    } catch (e) {
      throw this.unreachable(e)
    }
    let parsed: unknown = null
    try {
      parsed = text ? JSON.parse(text) : null
    } catch {
      // A proxy's HTML error page, for instance: reported below with its first characters.
    }
    if (!res.ok) {
      const e = (parsed ?? {}) as { code?: unknown; message?: unknown; details?: unknown }
      const code = typeof e.code === 'string' ? e.code : `HTTP_${res.status}`
      const message = typeof e.message === 'string' ? e.message : text.slice(0, 200) || res.statusText
      throw new ApiError(res.status, code, message, e.details)
    }
    if (parsed === null && text)
      throw new UnreachableError(
        `${this.base} answered ${method} ${path} with something that is not JSON: is SWITCHYARD_URL the Switchyard API?`,
      )
    return { body: parsed as T, headers: res.headers }
  }

  private unreachable(e: unknown): UnreachableError {
    const err = e as Error & { cause?: { code?: string; message?: string; errors?: Array<{ code?: string }> } }
    if (err.name === 'TimeoutError' || err.name === 'AbortError') {
      return new UnreachableError(`no answer from ${this.base} within ${this.timeoutMs / 1000} s (--timeout)`)
    }
    const code = err.cause?.code ?? err.cause?.errors?.[0]?.code ?? err.cause?.message ?? err.message
    return new UnreachableError(`cannot reach ${this.base} (${code}); set SWITCHYARD_URL or --url`)
  }
}

/** Encodes one path segment. */
export const seg = (s: string): string => encodeURIComponent(s)
