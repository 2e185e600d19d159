import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  unlinkSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'

/**
 * Ownership of the embedded mode's DATA_DIR: a lock file naming the API
 * process that uses it, and the redis-server it started (its pidfile). Both
 * are checked for liveness, so a crash (SIGKILL, power loss) leaves nothing
 * that blocks the next start, while a second live API on the same directory
 * is refused. Process identity comes from /proc on Linux (the start time
 * guards against a reused PID); elsewhere only the PID is compared.
 */

export const LOCK_FILE = 'switchyard.lock'
export const REDIS_PID_FILE = 'redis.pid'

export class DataDirLockedError extends Error {
  constructor(dir: string, pid: number) {
    super(
      `DATA_DIR ${dir} is in use by another Switchyard process (pid ${pid}); stop it, or give this one its own DATA_DIR`,
    )
    this.name = 'DataDirLockedError'
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or null when unknown. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null
  } catch {
    return null
  }
}

/** True while a process with this PID exists (EPERM: it exists but belongs to another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

interface LockRecord {
  pid: number
  start: string | null
}

function readLock(path: string): LockRecord | null {
  try {
    const r = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockRecord>
    return typeof r.pid === 'number' ? { pid: r.pid, start: typeof r.start === 'string' ? r.start : null } : null
  } catch {
    return null
  }
}

function held(r: LockRecord): boolean {
  if (r.pid === process.pid || !isAlive(r.pid)) return false
  const now = startTime(r.pid)
  return r.start === null || now === null || now === r.start
}

/**
 * Takes DATA_DIR for this process, or throws DataDirLockedError when a live
 * process holds it. Returns the release function (also run on exit).
 */
export function lockDataDir(dir: string): () => void {
  // A first start (a fresh clone) has no DATA_DIR yet.
  mkdirSync(dir, { recursive: true })
  const path = join(dir, LOCK_FILE)
  const mine = JSON.stringify({ pid: process.pid, start: startTime(process.pid) })
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx')
      writeSync(fd, mine)
      closeSync(fd)
      break
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 2) throw e
    }
    const r = readLock(path)
    if (r !== null && held(r)) throw new DataDirLockedError(dir, r.pid)
    // Left by a process that died. Two processes starting in the same instant
    // after a crash could both get here; that window is accepted (the lock is
    // against accidents such as a second `npm start`, not a consensus protocol).
    try {
      unlinkSync(path)
    } catch {
      // removed by the other starter: try to create it again
    }
  }
  let released = false
  const release = () => {
    if (released) return
    released = true
    process.off('exit', release)
    if (readLock(path)?.pid === process.pid) unlinkSync(path)
  }
  process.on('exit', release)
  return release
}

/**
 * The PID of a live redis-server that works in `dir` (its pidfile there, its
 * working directory `dir`, which `--dir` sets), or null. Such a server is an
 * orphan of an API process that died without stopping it.
 */
export function redisOwningDir(dir: string): number | null {
  let pid: number
  try {
    pid = Number(readFileSync(join(dir, REDIS_PID_FILE), 'utf8').trim())
  } catch {
    return null
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || !isAlive(pid)) return null
  try {
    const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
    if (!comm.startsWith('redis')) return null
    if (readlinkSync(`/proc/${pid}/cwd`) !== realpathSync(dir)) return null
  } catch {
    // No /proc (not Linux) or no access: without proof of ownership, leave it alone.
    return null
  }
  return pid
}
