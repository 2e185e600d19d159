/**
 * Nothing acknowledged is ever lost: writers keep writing through the API
 * while the redis-server (AOF, appendfsync always) is SIGKILLed and
 * restarted, twice. Every write answered 2xx must be there afterwards; the
 * only other answer allowed is 503 STORE_UNAVAILABLE (retry later).
 */
import t from 'tap'
import { startRedis, startServer } from '../helpers/server.js'
import { until } from '../helpers/wait.js'

const WRITERS = 8
const SEG = '/api/v1/environments/production/segments/ack'

t.test(
  'writes during Redis kills: every acknowledged write survives, every refusal is a 503 with its code',
  async (t) => {
    const redisServer = await startRedis(t, { appendOnly: true })
    // The rate limit of writes per token is tested elsewhere; here one token writes as fast as it can.
    const s = await startServer(t, { redisServer, env: { RATE_LIMIT_WRITES: '0' } })
    t.equal((await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })).status, 201)
    t.equal((await s.api('POST', '/api/v1/environments/production/segments', { body: { key: 'ack' } })).status, 201)

    const acked: string[] = []
    const unexpected: string[] = []
    let refused = 0
    let stop = false
    const writer = async (w: number) => {
      for (let n = 0; !stop; n++) {
        const id = `w${w}-${n}`
        let status: number
        let code: string | undefined
        try {
          const r = await s.api('POST', `${SEG}/members`, { body: { add: [id] } })
          status = r.status
          code = r.body?.code
        } catch (e) {
          // The connection to the API itself never fails here: only Redis is killed.
          unexpected.push(`${id}: ${(e as Error).message}`)
          continue
        }
        if (status === 200) acked.push(id)
        else if (status === 503 && code === 'STORE_UNAVAILABLE') refused++
        else unexpected.push(`${id}: ${status} ${code}`)
      }
    }
    const writers = Array.from({ length: WRITERS }, (_, w) => writer(w))

    for (let round = 0; round < 2; round++) {
      const before = acked.length
      await until(() => acked.length >= before + 200, 60_000, 'writes to be acknowledged')
      await redisServer.kill('SIGKILL')
      const down = refused
      await until(() => refused > down, 30_000, 'a write to be refused while Redis is down')
      await redisServer.start()
      const back = acked.length
      await until(() => acked.length >= back + 200, 60_000, 'writes to be acknowledged again after the restart')
    }
    stop = true
    await Promise.all(writers)

    t.same(unexpected, [], 'no answer other than 200 or 503 STORE_UNAVAILABLE')
    t.ok(refused > 0, `${refused} writes refused with 503 while Redis was down`)
    // Read back through the API, 16 at a time.
    const missing: string[] = []
    for (let i = 0; i < acked.length; i += 16) {
      await Promise.all(
        acked.slice(i, i + 16).map(async (id) => {
          const r = await s.api('GET', `${SEG}/members/${id}`)
          if (r.status !== 200 || r.body.included !== true) missing.push(id)
        }),
      )
    }
    t.same(missing, [], `all ${acked.length} acknowledged writes are there after two kills`)
    const meta = (await s.api('GET', SEG)).body
    t.ok(
      meta.includedCount >= acked.length,
      `the segment counts ${meta.includedCount} members, at least every acknowledged one`,
    )
    t.comment(`acknowledged ${acked.length}, refused ${refused}, lost ${missing.length}`)
  },
)
