/** Browser-safe last-known-good storage providers. */
import type { StorageProvider } from './types.js'

/**
 * Last-known-good in `localStorage` under `key`. Quota errors and disabled
 * storage (private mode, sandboxed frames) are swallowed: the cache is a bonus.
 */
export function localStorageStorage(key = 'switchyard:lkg'): StorageProvider {
  const ls = (): Storage | null => {
    try {
      return (globalThis as { localStorage?: Storage }).localStorage ?? null
    } catch {
      return null
    }
  }
  return {
    load: () => {
      try {
        return ls()?.getItem(key) ?? null
      } catch {
        return null
      }
    },
    save: (s) => {
      try {
        ls()?.setItem(key, s)
      } catch {
        // Quota or disabled storage: keep running without a cache.
      }
    },
  }
}

/** In-memory storage (tests; or to share a cache between clients of one process). */
export function memoryStorage(initial: string | null = null): StorageProvider & { value: string | null } {
  const s = {
    value: initial,
    load: () => s.value,
    save: (v: string) => {
      s.value = v
    },
  }
  return s
}
