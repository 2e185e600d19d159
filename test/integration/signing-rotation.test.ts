/**
 * Rotating the context-signing secret: during the grace
 * period both secrets verify, after it only the new one. The app's clock is
 * injected, so the test moves time instead of waiting.
 */
import t from 'tap'
import { signContext } from '../../sdk/sign.js'
import { createFlag, createSdkEnv, encodeContext } from '../helpers/sdk-fixtures.js'
import { startServer } from '../helpers/server.js'
import { openSse } from '../helpers/sse-reader.js'

const ROTATE = '/api/v1/environments/secure/signing-secret/rotate'
const ctx = { key: 'u1', plan: 'pro' }

t.test(
  'rotation with a grace period: both secrets verify until it ends, then only the new one; audited without secrets',
  async (t) => {
    let clock = Date.parse('2026-12-01T10:00:00.000Z')
    const s = await startServer(t, { now: () => new Date(clock) })
    const e = await createSdkEnv(s, 'secure', { requireSignedContext: true })
    await createFlag(s, 'f', { clientSide: true })
    const values = (secret: string) =>
      s.api('GET', `/api/v1/sdk/client/values?context=${encodeContext(ctx)}&signature=${signContext(secret, ctx)}`, {
        token: e.clientToken,
      })
    const s0 = e.signingSecret
    t.equal((await values(s0)).status, 200)

    // Who and what may rotate.
    const editor = await s.api('POST', '/api/v1/tokens', { body: { name: 'ed', kind: 'editor', environments: ['*'] } })
    let r = await s.api('POST', ROTATE, { token: editor.body.secret as string, body: { graceSeconds: 60 } })
    t.equal(r.status, 403, 'editors may not')
    t.equal(r.body.code, 'FORBIDDEN')
    r = await s.api('POST', '/api/v1/environments/nope/signing-secret/rotate', { body: { graceSeconds: 60 } })
    t.equal(r.body.code, 'ENVIRONMENT_NOT_FOUND')
    for (const body of [
      {},
      { graceSeconds: -1 },
      { graceSeconds: 30 * 86400 + 1 },
      { graceSeconds: 1.5 },
      { graceSeconds: 60, extra: 1 },
    ]) {
      r = await s.api('POST', ROTATE, { body })
      t.equal(r.status, 400, `refused: ${JSON.stringify(body)}`)
      t.equal(r.body.code, 'VALIDATION_FAILED')
    }
    t.equal((await values(s0)).status, 200, 'refused rotations changed nothing')

    r = await s.api('POST', ROTATE, { body: { graceSeconds: 3600 } })
    t.equal(r.status, 200, r.text)
    const s1 = r.body.signingSecret as string
    t.match(s1, /^[A-Za-z0-9_-]{43}$/)
    t.not(s1, s0)
    t.equal(r.body.previousValidUntil, '2026-12-01T11:00:00.000Z')
    r = await s.api('GET', '/api/v1/environments/secure')
    t.equal(r.body.signingSecret, s1, 'admins read the new secret')

    // Grace period: both verify, on both browser routes.
    t.equal((await values(s0)).status, 200, 'old secret during the grace period')
    t.equal((await values(s1)).status, 200, 'new secret')
    for (const secret of [s0, s1]) {
      const c = await openSse(
        t,
        `${s.url}/api/v1/sdk/client/stream?context=${encodeContext(ctx)}&signature=${signContext(secret, ctx)}`,
        { token: e.clientToken },
      )
      t.equal(c.status, 200, 'stream')
      t.equal((await c.next()).type, 'put')
    }
    clock += 3599_000
    t.equal((await values(s0)).status, 200, 'old secret 1 s before the end')
    clock += 2_000
    r = await values(s0)
    t.equal(r.status, 403, 'old secret after the grace period')
    t.equal(r.body.code, 'BAD_SIGNATURE')
    t.equal((await values(s1)).status, 200, 'new secret after the grace period')

    // graceSeconds 0 (a leaked secret): the old one stops at once.
    r = await s.api('POST', ROTATE, { body: { graceSeconds: 0 } })
    t.equal(r.body.previousValidUntil, null)
    const s2 = r.body.signingSecret as string
    t.equal((await values(s1)).body.code, 'BAD_SIGNATURE', 'grace 0: the old secret is refused at once')
    t.equal((await values(s2)).status, 200)

    // Only one previous secret is kept: rotating again within a grace period ends the older one's.
    const s3 = (await s.api('POST', ROTATE, { body: { graceSeconds: 600 } })).body.signingSecret as string
    const s4 = (await s.api('POST', ROTATE, { body: { graceSeconds: 600 } })).body.signingSecret as string
    t.equal((await values(s2)).body.code, 'BAD_SIGNATURE', 'two rotations back: refused')
    t.equal((await values(s3)).status, 200, 'the previous one, in its grace period')
    t.equal((await values(s4)).status, 200, 'the current one')

    // Audited, never with a secret.
    r = await s.api('GET', '/api/v1/audit?env=secure')
    const rotations = (
      r.body.items as {
        action: string
        details: { graceSeconds: number; previousValidUntil: string | null }
        at: string
      }[]
    ).filter((a) => a.action === 'environment.signing-secret.rotate')
    t.equal(rotations.length, 4)
    t.same(
      rotations.map((a) => a.details.graceSeconds),
      [600, 600, 0, 3600],
      'newest first',
    )
    t.same(rotations[3]!.details, { graceSeconds: 3600, previousValidUntil: '2026-12-01T11:00:00.000Z' })
    t.equal(rotations[3]!.at, '2026-12-01T10:00:00.000Z', 'at the injected time')
    for (const secret of [s0, s1, s2, s3, s4]) t.notOk(r.text.includes(secret), 'no secret in the audit log')
  },
)
