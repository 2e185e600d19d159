/**
 * The page's only way out: the public REST API on its own origin, with the token the user typed in. The token
 * lives in memory and in sessionStorage (gone when the tab closes), never in a URL.
 */
import type { FlagConfig, FlagDefinition, KnobBounds } from '../sdk/core/types.js'

const STORAGE_KEY = 'switchyard.token'

let token: string | null = sessionStorage.getItem(STORAGE_KEY)

export const session = {
  get token(): string | null {
    return token
  },
  signIn(secret: string): void {
    token = secret
    sessionStorage.setItem(STORAGE_KEY, secret)
  },
  signOut(): void {
    token = null
    sessionStorage.removeItem(STORAGE_KEY)
  },
}

/** An error answer of the API: its status, stable code and details. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown,
  ) {
    super(message)
  }
}

export interface Answer<T> {
  status: number
  body: T
  /** The version of a versioned resource (ETag without quotes). */
  version: number | null
  /** X-Change-Id of a write: what /sdk-status is asked about. */
  changeId: string | null
  /** The ETag as sent (quotes kept): the If-None-Match of the next conditional GET. */
  etag: string | null
}

export interface CallOptions {
  body?: unknown
  /** A text/plain body (segment members, one id per line). */
  text?: string
  ifMatch?: number
  /** A conditional GET: a 304 answer (status 304, body null) means the ETag is still current. */
  ifNoneMatch?: string
}

export async function call<T>(method: string, path: string, o: CallOptions = {}): Promise<Answer<T>> {
  const headers: Record<string, string> = {}
  if (token) headers.authorization = `Bearer ${token}`
  let body: string | undefined
  if (o.text !== undefined) {
    headers['content-type'] = 'text/plain'
    body = o.text
  } else if (o.body !== undefined) {
    headers['content-type'] = 'application/json'
    body = JSON.stringify(o.body)
  }
  if (o.ifMatch !== undefined) headers['if-match'] = `"${o.ifMatch}"`
  if (o.ifNoneMatch !== undefined) headers['if-none-match'] = o.ifNoneMatch
  const res = await fetch(`/api/v1${path}`, { method, headers, cache: 'no-store', ...(body !== undefined && { body }) })
  const etag = res.headers.get('etag')
  // `no-store` keeps the browser's cache out of it, so a 304 reaches us only when we asked for one.
  if (res.status === 304) return { status: 304, body: null as T, version: null, changeId: null, etag }
  const text = await res.text()
  let parsed: unknown = null
  try {
    parsed = text ? JSON.parse(text) : null
  } catch {
    parsed = text
  }
  if (!res.ok) {
    const e = (parsed ?? {}) as { code?: string; message?: string; details?: unknown }
    throw new ApiError(res.status, e.code ?? 'HTTP_ERROR', e.message ?? `HTTP ${res.status}`, e.details)
  }
  const v = etag ? /^(?:W\/)?"?(\d+)"?$/.exec(etag) : null
  return {
    status: res.status,
    body: parsed as T,
    version: v ? Number(v[1]) : null,
    changeId: res.headers.get('x-change-id'),
    etag,
  }
}

export const get = async <T>(path: string): Promise<T> => (await call<T>('GET', path)).body

/** Path segment: keys are URL-safe already, member ids may be anything. */
export const seg = (s: string) => encodeURIComponent(s)

export interface Me {
  id: string
  name: string
  kind: string
  environments: string[]
  can: { read: string[]; write: string[]; define: boolean; admin: boolean }
}

export const canIn = (list: string[], env: string) => list.includes('*') || list.includes(env)

export interface Environment {
  key: string
  name: string
  description?: string
}

export type Definition = FlagDefinition & { createdAt: string; updatedAt: string; version: number }
export type Config = FlagConfig &
  Pick<FlagDefinition, 'key' | 'kind' | 'variations' | 'salt'> & {
    environment: string
    /** The definition's knob bounds, when the flag is a live knob. */
    knobBounds?: KnobBounds
    /** The point of no return this flag passed last (a release plan's step). */
    pointOfNoReturn?: PassedPoint
    /** A kill's answer past a point of no return: what turning the flag off does not undo. */
    notUndone?: string
  }

export interface PassedPoint {
  plan: string
  step: number
  note: string
  runbook?: string
  afterwards: 'halt' | 'kill'
  passedAt: string
  approvedBy: string
  reason: string
  version: number
}

export interface HistoryEntry {
  version: number
  at: string
  actor: string
  action: string
  reason?: string
  config: Record<string, unknown>
}

export interface AuditEntry {
  id: string
  at: string
  actor: string
  action: string
  env: string | null
  target: { type: string; key: string }
  fromVersion?: number | null
  toVersion?: number | null
  reason?: string
}

export interface Page<T> {
  items: T[]
  nextCursor: string | null
}

export interface Segment {
  key: string
  environment: string
  name?: string
  description?: string
  version: number
  includedCount: number
  excludedCount: number
  updatedAt: string
}

export interface SdkStatus {
  changeId: string
  changeAt: string
  total: number
  applied: number
  pending: string[]
  capped: boolean
  clients: { total: number; applied: number; pending: number; capped: boolean }
  instances: Array<{
    sdkId: string
    mode: string
    sdkVersion?: string
    appliedId: string | null
    reportedAt: string
    applied: boolean
    appliedAt?: string
    lagMs?: number
  }>
}

export interface Token {
  id: string
  name: string
  kind: string
  environments: string[]
  createdAt: string
  createdBy: string
}
