// Write throughput of the REST API through real HTTP on a real redis-server,
// with AOF `appendfsync always` (the embedded default) and with AOF off, and
// the time to upload a 1,000,000-member segment in 10 calls.
// Run: node --import=tsx test/bench/api-writes.bench.ts
import { startServer, type Teardown } from '../helpers/server.js'

const teardowns: Array<() => unknown> = []
const t: Teardown = { teardown: (fn) => teardowns.push(fn) }

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] as number
}

async function writesPerSecond(appendOnly: boolean): Promise<{ perSec: number; p50: number; p99: number }> {
  const { startRedis } = await import('../helpers/server.js')
  const redisServer = await startRedis(t, { appendOnly })
  const s = await startServer(t, { redisServer })
  await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })
  for (let i = 0; i < 16; i++) await s.api('POST', '/api/v1/flags', { body: { key: `f${i}`, kind: 'boolean' } })
  const rounds: number[] = []
  const latencies: number[] = []
  for (let round = 0; round < 5; round++) {
    const total = 800
    let next = 0
    const started = performance.now()
    // 16 concurrent writers, each on its own flag (no version conflicts).
    await Promise.all(
      Array.from({ length: 16 }, async (_, w) => {
        while (next < total) {
          next++
          const t0 = performance.now()
          const r = await s.api('POST', `/api/v1/environments/production/flags/f${w}/toggle`, {
            body: { on: next % 2 === 0 },
          })
          latencies.push(performance.now() - t0)
          if (r.status !== 200) throw new Error(`write failed: ${r.status} ${r.text}`)
        }
      }),
    )
    rounds.push(total / ((performance.now() - started) / 1000))
  }
  const sorted = [...latencies].sort((a, b) => a - b)
  return { perSec: median(rounds), p50: median(latencies), p99: sorted[Math.floor(sorted.length * 0.99)] as number }
}

async function uploadMillion(): Promise<number> {
  const { startRedis } = await import('../helpers/server.js')
  const redisServer = await startRedis(t, { appendOnly: true })
  const s = await startServer(t, { redisServer })
  await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })
  await s.api('POST', '/api/v1/environments/production/segments', { body: { key: 'wave' } })
  const bodies = Array.from({ length: 10 }, (_, c) =>
    Array.from({ length: 100_000 }, (_, i) => `account-${c * 100_000 + i}`).join('\n'),
  )
  const started = performance.now()
  for (const body of bodies) {
    const r = await s.api('POST', '/api/v1/environments/production/segments/wave/members', {
      body,
      headers: { 'content-type': 'text/plain' },
    })
    if (r.status !== 200) throw new Error(`upload failed: ${r.status}`)
  }
  return performance.now() - started
}

try {
  const always = await writesPerSecond(true)
  const off = await writesPerSecond(false)
  const upload = await uploadMillion()
  console.log('machine: 2 cores (shared, noisy), Node', process.version)
  console.log(
    `writes/s, AOF appendfsync always: ${always.perSec.toFixed(0)} (p50 ${always.p50.toFixed(1)} ms, p99 ${always.p99.toFixed(1)} ms, 16 concurrent writers)`,
  )
  console.log(
    `writes/s, AOF off:               ${off.perSec.toFixed(0)} (p50 ${off.p50.toFixed(1)} ms, p99 ${off.p99.toFixed(1)} ms)`,
  )
  console.log(`ratio always/off: ${(always.perSec / off.perSec).toFixed(2)}`)
  console.log(
    `1,000,000-member segment upload (10 × 100,000 ids, text/plain, AOF always): ${(upload / 1000).toFixed(1)} s`,
  )
} finally {
  for (const fn of teardowns.reverse()) await fn()
}
