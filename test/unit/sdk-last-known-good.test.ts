/**
 * The last-known-good cache module alone (the client round trips are in the
 * mode tests): one write per debounce, the flush on close, another scope's
 * snapshot ignored, an unusable snapshot ignored.
 */
import t from 'tap'
import { LastKnownGood, type Snapshot } from '../../sdk/client/last-known-good.js'
import { memoryStorage } from '../../sdk/storage.js'
import { FakeTimers } from '../helpers/sse-fake-timers.js'

function cache(storage: ReturnType<typeof memoryStorage>, timers: FakeTimers, scope = 's1') {
  let n = 0
  const warnings: string[] = []
  const lkg = new LastKnownGood({
    storage,
    setT: timers.setTimeout,
    clearT: timers.clearTimeout,
    log: { warn: (m) => warnings.push(m) },
    scope: () => scope,
    snapshot: () => ({ mode: 'server', appliedId: `${++n}`, syncedAt: 0, data: { n } }),
  })
  return { lkg, warnings }
}

t.test('several changes within the debounce make one write, of the state at write time', async (t) => {
  const timers = new FakeTimers()
  const storage = memoryStorage()
  const { lkg } = cache(storage, timers)
  lkg.schedule()
  lkg.schedule()
  t.equal(timers.pending.size, 1, 'one timer')
  timers.fire(await timers.next())
  await lkg.close()
  const snap = JSON.parse(storage.value ?? '') as Snapshot
  t.same([snap.v, snap.scope, snap.appliedId], [1, 's1', '1'])
})

t.test('close() writes a pending save at once', async (t) => {
  const timers = new FakeTimers()
  const storage = memoryStorage()
  const { lkg } = cache(storage, timers)
  lkg.schedule()
  await lkg.close()
  t.equal(timers.pending.size, 0, 'the debounce timer is cleared')
  t.match(storage.value, /"appliedId":"1"/)
  lkg.schedule()
  t.equal(timers.pending.size, 0, 'nothing scheduled after close')
})

t.test('a snapshot of another scope, or an unreadable one, is not used', async (t) => {
  const timers = new FakeTimers()
  const storage = memoryStorage()
  const writer = cache(storage, timers, 'other')
  writer.lkg.schedule()
  await writer.lkg.close()
  const used: Snapshot[] = []
  t.equal(
    cache(storage, timers).lkg.load((s) => used.push(s)),
    null,
    'a synchronous storage: no promise',
  )
  t.same(used, [], 'another scope is ignored')
  storage.value = '{not json'
  const reader = cache(storage, timers)
  reader.lkg.load((s) => used.push(s))
  t.same(used, [])
  t.match(reader.warnings, [/unreadable/])
})
