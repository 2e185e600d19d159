/**
 * The last-known-good cache of one client: the snapshot format and its scope,
 * loading it before the first connection (bounded by storageTimeoutMs),
 * debounced saves, and the flush on close(). The client decides what a loaded
 * snapshot means and what to save. No `node:` imports (browser-safe).
 */
import { errorText } from '../transport/http.js'
import type { Logger, StorageProvider } from '../types.js'

/** What the client puts into the cache and gets back from it. */
export interface Snapshot {
  v: 1
  scope: string
  mode: string
  appliedId: string | null
  syncedAt: number
  data: unknown
}

export interface LastKnownGoodConfig {
  storage: StorageProvider
  setT: (fn: () => void, ms: number) => unknown
  clearT: (h: unknown) => void
  log: Logger
  /** Parses the cached text (see ModeSpec.parse); absent: JSON.parse. */
  parse?: ((text: string, snapshot: boolean) => unknown) | undefined
  /** Cache key material: a snapshot written for another scope is not used. */
  scope: () => string
  /** The snapshot to write now, or null when there is nothing worth keeping. */
  snapshot: () => Omit<Snapshot, 'v' | 'scope'> | null
}

const SAVE_DEBOUNCE_MS = 1000

/** FNV-1a, so a cache file written for another URL, token or context is not used (not a secret-keeping hash). */
export function fnv1a(s: string): string {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h.toString(16)
}

/** Load, debounced save and close-flush of one client's cache. */
export class LastKnownGood {
  private readonly c: LastKnownGoodConfig
  private saveTimer: unknown = null
  private saving: Promise<void> | null = null
  /** The first connection waits for the load (its id is the Last-Event-ID). */
  private waiting = false
  private waitTimer: unknown = null
  private closed = false

  constructor(config: LastKnownGoodConfig) {
    this.c = config
  }

  /**
   * Loads the cache and hands a snapshot of this scope to `use` (its throw
   * means unusable). The promise (null when the storage answered
   * synchronously) settles once it is applied.
   */
  load(use: (snap: Snapshot) => void): Promise<void> | null {
    const { storage, log } = this.c
    const parse = (text: string | null): void => {
      if (!text || this.closed) return
      try {
        // `true` says "a snapshot" to ModeSpec.parse; JSON.parse ignores a reviver that is not a function.
        const snap = (this.c.parse ?? JSON.parse)(text, true as never) as Snapshot
        if (snap.v !== 1 || snap.scope !== this.c.scope()) {
          log.debug?.('last-known-good cache is for another url, token, mode or context: ignored')
          return
        }
        use(snap)
      } catch (e) {
        log.warn?.(`last-known-good cache unreadable, ignored: ${errorText(e)}`)
      }
    }
    const failed = (e: unknown): void => log.warn?.(`last-known-good load failed: ${errorText(e)}`)
    try {
      const r = storage.load()
      if (r && typeof (r as Promise<string | null>).then === 'function')
        return (r as Promise<string | null>).then(parse, failed)
      parse(r as string | null)
    } catch (e) {
      failed(e)
    }
    return null
  }

  /**
   * Calls `start` once `loading` settles, so the first request carries the
   * cached change id as Last-Event-ID (a restart then resumes instead of
   * downloading the whole ruleset), but never later than `timeoutMs`: a
   * storage that hangs must not keep the SDK offline.
   */
  startAfter(loading: Promise<void>, timeoutMs: number, start: () => void): void {
    this.waiting = true
    const go = (): void => {
      if (this.waitTimer !== null) this.c.clearT(this.waitTimer)
      this.waitTimer = null
      if (!this.waiting) return
      this.waiting = false
      if (!this.closed) start()
    }
    this.waitTimer = this.c.setT(() => {
      this.waitTimer = null
      if (this.waiting)
        this.c.log.warn?.(`storage did not load within ${timeoutMs} ms (storageTimeoutMs); connecting without it`)
      go()
    }, timeoutMs)
    loading.then(go, go)
  }

  /** The client started syncing itself (identify): the pending load no longer gates it. */
  stopWaiting(): void {
    this.waiting = false
  }

  /** Saves soon; several changes within the debounce make one write. */
  schedule(): void {
    if (this.saveTimer !== null || this.closed) return
    this.saveTimer = this.c.setT(() => {
      this.saveTimer = null
      // Tracked so close() waits for a save in progress too.
      const p = this.save().finally(() => {
        if (this.saving === p) this.saving = null
      })
      this.saving = p
    }, SAVE_DEBOUNCE_MS)
  }

  /** Stops the timers; the promise settles once a pending or running save is done. */
  close(): Promise<void> {
    this.closed = true
    if (this.waitTimer !== null) this.c.clearT(this.waitTimer)
    if (this.saveTimer !== null) {
      this.c.clearT(this.saveTimer)
      this.saveTimer = null
      return Promise.resolve().then(() => this.save())
    }
    return this.saving ?? Promise.resolve()
  }

  private async save(): Promise<void> {
    const s = this.c.snapshot()
    if (!s) return
    const snap: Snapshot = { v: 1, scope: this.c.scope(), ...s }
    try {
      await this.c.storage.save(JSON.stringify(snap))
    } catch (e) {
      this.c.log.warn?.(`last-known-good save failed: ${errorText(e)}`)
    }
  }
}
