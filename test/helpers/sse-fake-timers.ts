/**
 * Injectable fake timers for the SDK (`timers` option / Sync config): timers
 * fire only when the test says so, and the test can wait for the next timer
 * to be scheduled (an event, not a sleep).
 */

/** One scheduled timer. */
export interface FakeTimer {
  id: number
  ms: number
  due: number
  fn: () => void
}

/** Fake clock and timers. */
export class FakeTimers {
  nowMs = 0
  readonly pending = new Map<number, FakeTimer>()
  /** Every delay ever scheduled, in order. */
  readonly scheduled: number[] = []
  private seq = 0
  private waiters: { pred: (t: FakeTimer) => boolean; resolve: (t: FakeTimer) => void }[] = []

  setTimeout = (fn: () => void, ms: number): unknown => {
    const t: FakeTimer = { id: ++this.seq, ms, due: this.nowMs + ms, fn }
    this.pending.set(t.id, t)
    this.scheduled.push(ms)
    for (const w of [...this.waiters]) {
      if (w.pred(t)) {
        this.waiters.splice(this.waiters.indexOf(w), 1)
        w.resolve(t)
      }
    }
    return t.id
  }

  clearTimeout = (id: unknown): void => {
    this.pending.delete(id as number)
  }

  now = (): number => this.nowMs

  /** Resolves with the next timer scheduled that matches `pred` (or one already pending); rejects after `timeoutMs` of real time. */
  next(pred: (t: FakeTimer) => boolean = () => true, timeoutMs = 5000): Promise<FakeTimer> {
    for (const t of this.pending.values()) if (pred(t)) return Promise.resolve(t)
    return new Promise<FakeTimer>((resolve, reject) => {
      const w = {
        pred,
        resolve: (t: FakeTimer) => {
          clearTimeout(timer)
          resolve(t)
        },
      }
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1)
        reject(new Error(`no matching timer scheduled within ${timeoutMs} ms`))
      }, timeoutMs)
      this.waiters.push(w)
    })
  }

  /** Move the clock to the timer's due time and run it. */
  fire(t: FakeTimer): void {
    if (!this.pending.has(t.id)) throw new Error('timer is not pending')
    this.pending.delete(t.id)
    this.nowMs = Math.max(this.nowMs, t.due)
    t.fn()
  }

  /** Advance the clock without firing anything. */
  advance(ms: number): void {
    this.nowMs += ms
  }
}
