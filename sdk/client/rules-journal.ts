/**
 * Last-known-good for server mode with a storage that can append
 * (`fileStorage`): a snapshot plus an append-only journal, so that a change
 * costs what the change costs, not a re-serialisation of the whole ruleset
 * (one id added to a 1,000,000-id segment used to rewrite ~20 MB).
 *
 * The cached text is a complete snapshot on its first line (the format a
 * plain storage holds), then one line per save: the stream events applied
 * since the previous save, with the change id and sync time after them.
 * Loading applies the journal's events on top of the snapshot, in order, as
 * they were applied live. A line that does not parse or does not end with a
 * newline (a write torn by a crash) ends the journal: it and what follows are
 * ignored, so the cache answers with the state of the last whole line.
 *
 * A full snapshot (atomic replace) is written on the first save of each
 * process, after a `put` or poll (everything replaced), after a failed
 * append, and when the journal outgrows a quarter of the snapshot
 * (compaction, at least 1 MB apart).
 */
import type { StorageProvider } from '../types.js'
import type { RulesStore } from './rules-store.js'

/** A storage that can also append a line to what it holds (the journal). */
export interface JournalStorage extends StorageProvider {
  appendJournal(line: string): Promise<void>
}

/** One journal line: the events since the previous line, then where the client stood. */
interface JournalRecord {
  appliedId: string | null
  syncedAt: number
  events: [string, unknown][]
}

const MIN_COMPACT_BYTES = 1 << 20

/** The storage the client uses: `storage` itself unless it can append. */
export function journaled(storage: StorageProvider, store: RulesStore): StorageProvider {
  const s = storage as Partial<JournalStorage>
  if (typeof s.appendJournal !== 'function') return storage
  const append = s.appendJournal.bind(storage)
  store.journal = { events: [], full: true }
  const journal = store.journal
  let journalBytes = 0
  let snapshotBytes = 0
  /** Saves one at a time, in order: appends must not overtake each other or a snapshot. */
  let chain: Promise<void> = Promise.resolve()

  const write = async (text: string): Promise<void> => {
    // `text` is the client's snapshot envelope; its data is only a marker (RulesStore.snapshot()).
    const env = JSON.parse(text) as { appliedId: string | null; syncedAt: number } & Record<string, unknown>
    if (journal.full || journalBytes > Math.max(MIN_COMPACT_BYTES, snapshotBytes / 4)) {
      journal.full = false
      journal.events = []
      // Data last: load() relies on the line ending with the data object's brace.
      const full = JSON.stringify({ ...env, data: store.fullSnapshot() })
      try {
        await storage.save(`${full}\n`)
      } catch (e) {
        journal.full = true
        throw e
      }
      snapshotBytes = full.length
      journalBytes = 0
      return
    }
    const record: JournalRecord = { appliedId: env.appliedId, syncedAt: env.syncedAt, events: journal.events }
    journal.events = []
    const line = `${JSON.stringify(record)}\n`
    try {
      await append(line)
    } catch (e) {
      // What is on disk may now end in a torn line and lacks these events: start over from a snapshot.
      journal.full = true
      throw e
    }
    journalBytes += line.length
  }

  return {
    load: async () => {
      const text = await storage.load()
      return text === null ? null : withJournal(text)
    },
    save: (text) => {
      const p = chain.then(() => write(text))
      chain = p.catch(() => {})
      return p
    },
  }
}

/**
 * The snapshot line with the whole lines of the journal folded in: its events
 * as `data.journal`, and the last line's change id and sync time (JSON keeps
 * the last of duplicate keys). Text without a journal is returned as it is.
 */
export function withJournal(text: string): string {
  const nl = text.indexOf('\n')
  if (nl < 0) return text
  const head = text.slice(0, nl)
  const events: [string, unknown][] = []
  let last: JournalRecord | null = null
  let at = nl + 1
  for (;;) {
    const end = text.indexOf('\n', at)
    if (end < 0) break // nothing more, or a torn last line
    let r: JournalRecord
    try {
      r = JSON.parse(text.slice(at, end)) as JournalRecord
    } catch {
      break
    }
    if (!r || !Array.isArray(r.events)) break
    for (const e of r.events) events.push(e)
    last = r
    at = end + 1
  }
  if (last === null || !head.endsWith('}}')) return head
  return `${head.slice(0, -2)},"journal":${JSON.stringify(events)}},"appliedId":${JSON.stringify(last.appliedId)},"syncedAt":${JSON.stringify(last.syncedAt)}}`
}
