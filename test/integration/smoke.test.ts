import t from 'tap'
import { startServer } from '../helpers/server.js'

t.test('create env and flag, put config', async (t) => {
  const s = await startServer(t)
  let r = await s.api('POST', '/api/v1/environments', { body: { key: 'production' } })
  t.equal(r.status, 201, r.text)
  r = await s.api('POST', '/api/v1/flags', { body: { key: 'new-checkout', kind: 'boolean', clientSide: true } })
  t.equal(r.status, 201, r.text)
  r = await s.api('GET', '/api/v1/environments/production/flags/new-checkout')
  t.equal(r.status, 200, r.text)
  t.equal(r.headers.get('etag'), '"1"')
  r = await s.api('PUT', '/api/v1/environments/production/flags/new-checkout', {
    headers: { 'if-match': '"1"' },
    body: { on: true, offVariation: 1, targets: [{ variation: 0, values: ['user-1'] }], fallthrough: { variation: 1 } },
  })
  t.equal(r.status, 200, r.text)
  t.equal(r.body.version, 2)
})
