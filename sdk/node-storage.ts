/** Node-only last-known-good storage: a JSON file, written atomically (temp file + rename), plus a journal. */
import { appendFile, readFile, rename, writeFile, mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { JournalStorage } from './client/rules-journal.js'
import type { StorageProvider } from './types.js'

/**
 * Keep the last-known-good data in the file at `path`, so a process that starts
 * while Switchyard is unreachable answers with the last rules it saw.
 */
export function fileStorage(path: string): StorageProvider {
  let seq = 0
  const storage: JournalStorage = {
    async load() {
      try {
        return await readFile(path, 'utf8')
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null
        throw e
      }
    },
    async save(snapshot) {
      await mkdir(dirname(path), { recursive: true })
      const tmp = `${path}.${process.pid}.${++seq}.tmp`
      await writeFile(tmp, snapshot, 'utf8')
      await rename(tmp, path)
    },
    // Server mode appends each save's changes (sdk/client/rules-journal.ts); a torn last line is ignored on load.
    async appendJournal(line) {
      await appendFile(path, line, 'utf8')
    },
  }
  return storage
}
