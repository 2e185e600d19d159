// Forged SDK reports as an attacker with the public sdk-client token sends them: random sdkIds,
// random flag keys and variation indexes (a few real flags among them), half claiming to be server
// SDKs. A plain Node process (no test runner's async hooks), so the flood costs what it would cost.
// env: URL, TOKEN, N, CONCURRENCY, FLAGS (comma-separated real flag keys). Prints {"accepted","statuses","ms"}.
const { URL: base, TOKEN: token, N = '20000', CONCURRENCY = '100', FLAGS = '' } = process.env
const n = Number(N)
const real = FLAGS.split(',').filter(Boolean)
const rnd = (k) => Math.floor(Math.random() * k)
const statuses = {}
let next = 0
const started = Date.now()
async function worker() {
  while (next < n) {
    const i = next++
    const counts = {}
    for (let k = 0; k < 8; k++)
      counts[k < real.length ? real[k] : `flag-${rnd(1e9)}`] = { [String(rnd(10_000))]: 1 + rnd(100), default: 1 }
    const res = await fetch(`${base}/api/v1/sdk/metrics`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        sdkId: `forged-${i}-${rnd(1e9)}`,
        mode: i % 2 === 0 ? 'server' : 'client',
        appliedId: `${Date.now()}-0`,
        counts,
      }),
    })
    await res.arrayBuffer()
    statuses[res.status] = (statuses[res.status] ?? 0) + 1
  }
}
await Promise.all(Array.from({ length: Number(CONCURRENCY) }, worker))
process.stdout.write(JSON.stringify({ accepted: statuses[202] ?? 0, statuses, ms: Date.now() - started }))
