/**
 * Last-known-good as a snapshot plus an append-only journal (sdk/client/rules-journal.ts) in
 * server mode with fileStorage, against the transport-level SSE test server: a change appends a
 * line instead of rewriting the ruleset, a restart answers from snapshot + journal, a torn or
 * garbled tail is ignored (never poisons the cache), and the journal is compacted.
 */
import t, { type Test } from 'tap'
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '../../sdk/index.js'
import { fileStorage } from '../../sdk/node-storage.js'
import { journaled, withJournal, type JournalStorage } from '../../sdk/client/rules-journal.js'
import { RulesStore } from '../../sdk/client/rules-store.js'
import type { Ruleset, SwitchyardClient } from '../../sdk/types.js'
import { bigSegmentRuleset } from '../helpers/big-segment.js'
import { until } from '../helpers/wait.js'
import { nextEvent, type SseTestServer, startSseTestServer } from '../helpers/sse-test-server.js'

const ruleset = (): Ruleset => bigSegmentRuleset(Array.from({ length: 20_000 }, (_, i) => `user-${i}`))

const lines = async (path: string): Promise<string[]> =>
  (await readFile(path, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '')

async function offlineClient(t: Test, url: string, path: string): Promise<SwitchyardClient> {
  const c = createClient({ url, token: 'test-token', storage: fileStorage(path), logger: {}, sendMetrics: false })
  t.teardown(() => c.close())
  const ready = nextEvent(c, 'ready')
  await c.ready({ timeoutMs: 10_000 })
  t.same(await ready, { source: 'cache' })
  return c
}

/** A file cache in a fresh folder, a test stream serving ruleset(), and a client ready on both. */
async function onlineClient(t: Test): Promise<{ path: string; server: SseTestServer; client: SwitchyardClient }> {
  const dir = await mkdtemp(join(tmpdir(), 'sy-journal-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'rules.json')
  const server = await startSseTestServer({ document: ruleset() })
  const client = createClient({
    url: server.url,
    token: 'test-token',
    storage: fileStorage(path),
    logger: {},
    sendMetrics: false,
  })
  await client.ready({ timeoutMs: 10_000 })
  return { path, server, client }
}

t.test('a change appends a journal line; a restart answers from the snapshot and the journal', async (t) => {
  const { path, server, client } = await onlineClient(t)
  await until(async () => (await lines(path)).length === 1, 10_000, 'the first save: a snapshot')
  const snapshot = (await lines(path))[0]!
  const id1 = server.publish('segment-delta', { key: 'big', list: 'included', add: ['new-1'], remove: [], version: 2 })
  await until(async () => (await lines(path)).length === 2, 10_000, 'a journal line for the delta')
  const id2 = server.publish('segment-delta', {
    key: 'big',
    list: 'included',
    add: [],
    remove: ['user-5'],
    version: 3,
  })
  await until(async () => (await lines(path)).length === 3, 10_000, 'a journal line for the next delta')
  const after = await lines(path)
  t.equal(after[0], snapshot, 'the snapshot was not rewritten')
  t.ok(after[1]!.length < 200 && after[2]!.length < 200, `journal lines are small (${after[1]!.length} bytes)`)
  t.match(JSON.parse(after[2]!), { appliedId: id2, events: [['segment-delta', { remove: ['user-5'] }]] })
  t.not(id1, id2)
  await client.close()
  await server.close()

  const offline = await offlineClient(t, server.url, path)
  t.equal(offline.appliedId, id2, 'the change id of the last journal line')
  t.equal(offline.isEnabled('gate', { key: 'new-1' }), true, 'journalled add applied')
  t.equal(offline.isEnabled('gate', { key: 'user-5' }), false, 'journalled remove applied')
  t.equal(offline.isEnabled('gate', { key: 'user-6' }), true, 'snapshot members kept')
})

t.test('a torn or garbled journal tail is ignored, and the next save starts from a snapshot', async (t) => {
  const { path, server, client } = await onlineClient(t)
  await until(async () => (await lines(path)).length === 1, 10_000, 'snapshot written')
  const id = server.publish('segment-delta', { key: 'big', list: 'included', add: ['kept'], remove: [], version: 2 })
  await until(async () => (await lines(path)).length === 2, 10_000, 'journal line written')
  await client.close()
  await server.close()
  // A crash in the middle of an append: the line is cut short (no newline at the end).
  const whole = `${JSON.stringify({ appliedId: '9-0', syncedAt: 1, events: [['patch', { kind: 'flag', flag: { key: 'gate' } }]] })}\n`
  await appendFile(path, whole.slice(0, 40))

  const first = await offlineClient(t, server.url, path)
  t.equal(first.appliedId, id, 'the torn line is ignored: the id of the last whole line')
  t.equal(first.isEnabled('gate', { key: 'kept' }), true, 'the whole lines before it still apply')
  t.equal(first.isEnabled('gate', { key: 'user-1' }), true)
  await first.close()

  // Garbage with a newline, then a good-looking line: the journal ends at the garbage.
  await appendFile(
    path,
    `\n\u0000\u0000garbage\n${JSON.stringify({ appliedId: '10-0', syncedAt: 2, events: [['delete', { kind: 'segment', key: 'big' }]] })}\n`,
  )
  const second = await offlineClient(t, server.url, path)
  t.equal(second.appliedId, id, 'nothing after the garbage is used')
  t.equal(second.isEnabled('gate', { key: 'user-1' }), true, 'the segment was not deleted by the line after it')
  await second.close()

  // Back online: the first save of a process is a full snapshot, so the torn tail is gone for good.
  const back = await startSseTestServer({ document: ruleset() })
  t.teardown(() => back.close())
  const online = createClient({
    url: back.url,
    token: 'test-token',
    storage: fileStorage(path),
    logger: {},
    sendMetrics: false,
  })
  t.teardown(() => online.close())
  await until(() => online.source === 'server', 10_000, 'resumed from the server')
  await until(async () => (await readFile(path, 'utf8')).split('\n').length === 2, 10_000, 'rewritten as one snapshot')
  const text = await readFile(path, 'utf8')
  t.ok(text.endsWith('\n') && !text.includes('garbage'), 'one snapshot line, the tail gone')
})

t.test('withJournal: folding the whole lines into the snapshot text', async (t) => {
  const snap = JSON.stringify({ v: 1, scope: 's', mode: 'server', appliedId: '1-0', syncedAt: 5, data: { a: 1 } })
  t.equal(withJournal(snap), snap, 'no journal: the text as it is')
  t.equal(withJournal(`${snap}\n`), snap, 'a snapshot line alone')
  const rec = (id: string, events: unknown[]) => `${JSON.stringify({ appliedId: id, syncedAt: 7, events })}\n`
  const folded = JSON.parse(withJournal(`${snap}\n${rec('2-0', [['x', 1]])}${rec('3-0', [['y', 2]])}`)) as Record<
    string,
    unknown
  >
  t.same(folded, {
    v: 1,
    scope: 's',
    mode: 'server',
    appliedId: '3-0',
    syncedAt: 7,
    data: {
      a: 1,
      journal: [
        ['x', 1],
        ['y', 2],
      ],
    },
  })
  const torn = withJournal(`${snap}\n${rec('2-0', [['x', 1]])}${rec('3-0', [['y', 2]]).slice(0, -1)}`)
  t.equal((JSON.parse(torn) as { appliedId: string }).appliedId, '2-0', 'a last line without its newline is torn')
  t.equal(withJournal(`${snap}\n{"appliedId":"2-0"}\n`), snap, 'a line that is not a record ends the journal')
})

t.test('the journal is compacted into a snapshot once it outgrows it; a failed append forces a snapshot', async (t) => {
  const held: { text: string; saves: number; appends: number; fail: boolean } = {
    text: '',
    saves: 0,
    appends: 0,
    fail: false,
  }
  const storage: JournalStorage = {
    load: () => held.text,
    save: (s) => {
      held.text = s
      held.saves++
    },
    appendJournal: async (line) => {
      if (held.fail) throw new Error('disk full')
      held.text += line
      held.appends++
    },
  }
  const store = new RulesStore()
  const cache = journaled(storage, store)
  const envelope = (id: string) =>
    JSON.stringify({ v: 1, scope: 's', mode: 'server', appliedId: id, syncedAt: 1, data: store.snapshot() })
  store.replace(ruleset())
  await cache.save(envelope('1-0'))
  t.equal(held.saves, 1, 'first save: a snapshot')
  // 100 deltas of 1,000 ids of ~16 bytes: ~1.6 MB of journal against a ~0.3 MB snapshot.
  for (let v = 2; v < 102; v++) {
    const add = Array.from({ length: 1000 }, (_, i) => `added-${v}-${String(i).padStart(6, '0')}`)
    store.apply('segment-delta', { key: 'big', list: 'included', add, remove: [], version: v })
    await cache.save(envelope(`${v}-0`))
  }
  t.ok(held.saves === 2, `compacted once (${held.saves - 1} compaction, ${held.appends} appends)`)
  t.ok(held.appends > 50 && held.appends < 100)
  const reloaded = new RulesStore()
  reloaded.replace((JSON.parse(withJournal(held.text)) as { data: unknown }).data)
  t.equal(reloaded.value('gate', { key: 'added-101-000999' }, false), true, 'journal after the compaction applies')
  t.equal(reloaded.value('gate', { key: 'added-2-000000' }, false), true, 'compacted ids kept')
  t.equal(reloaded.value('gate', { key: 'user-19999' }, false), true)
  held.fail = true
  store.apply('segment-delta', { key: 'big', list: 'included', add: ['lost'], remove: [], version: 200 })
  await t.rejects(Promise.resolve(cache.save(envelope('200-0'))), /disk full/)
  held.fail = false
  const saves = held.saves
  await cache.save(envelope('200-0'))
  t.equal(held.saves, saves + 1, 'after a failed append the next save is a snapshot')
  const again = new RulesStore()
  again.replace((JSON.parse(withJournal(held.text)) as { data: unknown }).data)
  t.equal(again.value('gate', { key: 'lost' }, false), true, 'the change of the failed append is in it')
})
