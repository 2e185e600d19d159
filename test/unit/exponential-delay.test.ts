/**
 * The shared growth curve behind every retry: the server sites' numbers are the
 * ones they had before it existed (the old formulas are written out here and
 * compared over many attempts), and the SDK's Backoff caps follow it.
 */
import t from 'tap'
import fc from 'fast-check'
import { Backoff, exponentialDelay } from '../../sdk/transport/backoff.js'

t.test('doubles from the initial delay up to the cap', async (t) => {
  t.strictSame(
    [0, 1, 2, 3, 4, 5, 6].map((n) => exponentialDelay(n, 50, 2000)),
    [50, 100, 200, 400, 800, 1600, 2000],
  )
  t.equal(exponentialDelay(10_000, 100, 5000), 5000, 'huge attempt counts stay at the cap')
  t.equal(exponentialDelay(-1, 100, 5000), 100, 'a negative attempt is the first')
})

t.test('the server sites keep their former numbers', async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1000 }), (n) => {
      // redis/connect.ts retryStrategy (before jitter), blockingConnection, embedded restarts, channel reader.
      t.equal(exponentialDelay(n, 100, 5000), Math.min(5000, 100 * 2 ** Math.min(n, 6)))
      t.equal(exponentialDelay(n, 100, 2000), Math.min(100 * 2 ** n, 2000))
      t.equal(exponentialDelay(n, 250, 30_000), Math.min(30_000, 250 * 2 ** Math.min(n, 7)))
      let old = 50
      for (let i = 0; i < Math.min(n, 12); i++) old = Math.min(old * 2, 2000)
      t.equal(exponentialDelay(Math.min(n, 12), 50, 2000), old)
    }),
    { numRuns: 200 },
  )
})

t.test('Backoff caps follow the curve', async (t) => {
  const b = new Backoff({ initialMs: 1000, maxMs: 30_000, random: () => 0 })
  for (let n = 0; n < 8; n++) {
    t.equal(b.cap, exponentialDelay(n, 1000, 30_000))
    b.fail()
  }
})
