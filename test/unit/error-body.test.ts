/**
 * The one error-body builder: every catalogue code serialises to
 * `{ statusCode, code, message }` from its AppError, `details` only when set,
 * and a real Fastify reply sent through sendError carries the same status and body.
 */
import t from 'tap'
import Fastify from 'fastify'
import { AppError, ERRORS, type ErrorCode, errorBody, sendError, validationError } from '../../src/errors.js'

t.test('errorBody: status, code and message come from the AppError', async (t) => {
  for (const code of Object.keys(ERRORS) as ErrorCode[]) {
    const e = new AppError(code, ['a', 'b'])
    t.strictSame(errorBody(e), { statusCode: ERRORS[code].status, code, message: e.message }, code)
  }
})

t.test('errorBody: details only when the error has some', async (t) => {
  const details = [{ path: '/key', message: 'is required' }]
  const e = validationError(details)
  t.strictSame(errorBody(e), { statusCode: 400, code: 'VALIDATION_FAILED', message: e.message, details })
  t.notOk('details' in errorBody(new AppError('FLAG_NOT_FOUND', ['f'])), 'no details key at all')
})

t.test('sendError: a real reply carries the status and the body', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.get('/x', (_req, reply) => sendError(reply, new AppError('SEGMENT_IN_USE', ['beta'])))
  const res = await app.inject({ method: 'GET', url: '/x' })
  t.equal(res.statusCode, 409)
  t.strictSame(res.json(), errorBody(new AppError('SEGMENT_IN_USE', ['beta'])))
})
