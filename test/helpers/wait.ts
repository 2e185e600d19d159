/**
 * Waiting in tests: for a condition, with a timeout, never a fixed sleep. Generic (any test may wait
 * on anything), so it lives here rather than with one kind of connection.
 */

/** Waits (with a timeout) until a condition holds, re-checking every 10 ms. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await cond()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
