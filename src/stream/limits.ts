import { readFileSync } from 'node:fs'
import type { ServerResponse } from 'node:http'
import { AppError } from '../errors.js'

export interface StreamLimits {
  /** Open streams of the whole instance (every token together). */
  perInstance: number
  /** Open streams of one token on this instance. */
  perToken: number
  /** Open streams from one client address on this instance; 0: no limit. */
  perIp: number
}

export type StreamLimitName = 'instance' | 'token' | 'ip'

/** Seconds a refused SDK waits before it tries the stream again (its own back-off may wait longer). */
export const STREAM_REFUSED_RETRY_AFTER_S = 5

/**
 * The soft RLIMIT_NOFILE of this process (`ulimit -n`), from /proc on Linux;
 * null when unknown (other systems) or unlimited.
 */
export function openFileLimit(path = '/proc/self/limits'): number | null {
  try {
    const line = readFileSync(path, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'))
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0]
    const n = Number(soft)
    return Number.isSafeInteger(n) && n > 0 ? n : null
  } catch {
    return null
  }
}

/**
 * Descriptors kept free of streams: Redis connections, the listening socket,
 * log files, and above all the admin and editor requests that must still get
 * through (a kill during an incident) when the streams are full.
 */
export function fdReserve(fdLimit: number): number {
  return Math.max(128, Math.ceil(fdLimit / 20))
}

/**
 * The per-instance stream limit actually used: the configured one, lowered
 * so that streams can never take the descriptors the reserve keeps free.
 * `clamped` says the configuration asked for more than `ulimit -n` allows.
 */
export function effectiveInstanceLimit(
  configured: number,
  fdLimit: number | null,
): { limit: number; clamped: boolean } {
  if (fdLimit === null) return { limit: configured, clamped: false }
  const room = Math.max(1, fdLimit - fdReserve(fdLimit))
  return configured > room ? { limit: room, clamped: true } : { limit: configured, clamped: false }
}

/**
 * Counts open streams per instance, token and client address, and admits a
 * new one only under every limit. The slot is taken synchronously when the
 * request is admitted (before the stream starts, so concurrent requests
 * cannot all slip past the check) and given back when the response closes.
 */
export class StreamLimiter {
  private open = 0
  private readonly byToken = new Map<string, number>()
  private readonly byIp = new Map<string, number>()

  constructor(
    readonly limits: StreamLimits,
    private readonly onRefuse: (limit: StreamLimitName) => void = () => {},
  ) {}

  /** Takes a slot for `res` or throws TOO_MANY_STREAMS (429). */
  admit(res: ServerResponse, tokenId: string, ip: string): void {
    const refused: StreamLimitName | null =
      this.open >= this.limits.perInstance
        ? 'instance'
        : (this.byToken.get(tokenId) ?? 0) >= this.limits.perToken
          ? 'token'
          : this.limits.perIp > 0 && (this.byIp.get(ip) ?? 0) >= this.limits.perIp
            ? 'ip'
            : null
    if (refused !== null) {
      this.onRefuse(refused)
      throw new AppError('TOO_MANY_STREAMS', [
        refused === 'instance' ? 'on this instance' : refused === 'token' ? 'for this token' : 'from this address',
      ])
    }
    this.open++
    bump(this.byToken, tokenId, 1)
    bump(this.byIp, ip, 1)
    let released = false
    res.once('close', () => {
      if (released) return
      released = true
      this.open--
      bump(this.byToken, tokenId, -1)
      bump(this.byIp, ip, -1)
    })
  }

  /** Streams admitted and not yet closed. */
  get size(): number {
    return this.open
  }
}

function bump(m: Map<string, number>, k: string, d: number): void {
  const n = (m.get(k) ?? 0) + d
  if (n > 0) m.set(k, n)
  else m.delete(k)
}
