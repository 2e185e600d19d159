import t from 'tap'
import fc from 'fast-check'
import { SseParser, type SseEvent } from '../../sdk/transport/sse-parser.js'

interface Parsed {
  events: SseEvent[]
  retries: number[]
  comments: string[]
}

function parseChunks(chunks: Uint8Array[]): Parsed {
  const out: Parsed = { events: [], retries: [], comments: [] }
  const p = new SseParser({
    onEvent: (e) => out.events.push(e),
    onRetry: (ms) => out.retries.push(ms),
    onComment: (c) => out.comments.push(c),
  })
  for (const c of chunks) p.feed(c)
  p.end()
  return out
}

const enc = new TextEncoder()
const parseText = (s: string): Parsed => parseChunks([enc.encode(s)])

t.test('basic event with id, type and data', async (t) => {
  const r = parseText('retry: 1500\nevent: put\nid: 17-0\ndata: {"a":1}\n\n')
  t.same(r.events, [{ type: 'put', data: '{"a":1}', id: '17-0' }])
  t.same(r.retries, [1500])
})

t.test('multi-line data is joined with LF; trailing LF removed', async (t) => {
  const r = parseText('data: one\ndata: two\ndata:\ndata:three\n\n')
  t.same(r.events, [{ type: 'message', data: 'one\ntwo\n\nthree', id: '' }])
})

t.test('only one leading space of a value is removed', async (t) => {
  const r = parseText('data:  two spaces\n\n')
  t.equal(r.events[0]?.data, ' two spaces')
})

t.test('id persists across events; empty id resets it; NUL id ignored', async (t) => {
  const r = parseText('id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 5\n\nid: x\0y\ndata: d\n\n')
  t.same(
    r.events.map((e) => e.id),
    ['1', '1', '', '5'],
  )
})

t.test('comments are reported and not events', async (t) => {
  const r = parseText(': ping\n:\n\ndata: x\n\n')
  t.same(r.comments, [' ping', ''])
  t.equal(r.events.length, 1)
})

t.test('retry accepts digits only', async (t) => {
  const r = parseText('retry: 12a\nretry: -5\nretry: \nretry: 300\n\n')
  t.same(r.retries, [300])
})

t.test('CRLF, CR and LF line ends, and a leading BOM', async (t) => {
  const a = parseText('\uFEFFevent: x\r\ndata: 1\r\n\r\nevent: y\rdata: 2\r\revent: z\ndata: 3\n\n')
  t.same(
    a.events.map((e) => [e.type, e.data]),
    [
      ['x', '1'],
      ['y', '2'],
      ['z', '3'],
    ],
  )
})

t.test('CR at the end of one chunk and LF at the start of the next is one line end', async (t) => {
  const r = parseChunks([enc.encode('data: a\r'), enc.encode('\ndata: b\r\n\r\n')])
  t.same(r.events, [{ type: 'message', data: 'a\nb', id: '' }])
})

t.test('an event without the final blank line is discarded at end of stream', async (t) => {
  const r = parseText('data: complete\n\ndata: partial\n')
  t.same(
    r.events.map((e) => e.data),
    ['complete'],
  )
})

t.test('event type resets after dispatch and after an empty event', async (t) => {
  const r = parseText('event: put\n\ndata: a\n\nevent: patch\ndata: b\n\n')
  t.same(
    r.events.map((e) => e.type),
    ['message', 'patch'],
  )
})

t.test('unknown fields and field without colon', async (t) => {
  const r = parseText('foo: bar\ndata\n\n')
  t.same(r.events, [{ type: 'message', data: '', id: '' }])
})

t.test('multibyte UTF-8 split in the middle of a character', async (t) => {
  const bytes = enc.encode('data: héllo 🚦 wörld\n\n')
  const idx = bytes.indexOf(0xf0) + 2 // inside the 4-byte emoji
  const r = parseChunks([bytes.slice(0, idx), bytes.slice(idx)])
  t.equal(r.events[0]?.data, 'héllo 🚦 wörld')
})

// Property: any split of the byte stream yields the same events as the whole stream,
// and those are the events the generator wrote.
const fieldText = fc.string({ unit: fc.constantFrom('a', 'é', '🚦', '{', '"', ':', ' ', '0', 'ß', '日') })
const eventArb = fc.record({
  type: fc.option(fc.constantFrom('put', 'patch', 'delete', 'segment-delta'), { nil: undefined }),
  id: fc.option(fc.stringMatching(/^[0-9]{1,4}-[0-9]$/), { nil: undefined }),
  lines: fc.array(fieldText, { minLength: 1, maxLength: 3 }),
  comment: fc.boolean(),
})
const eolArb = fc.constantFrom('\n', '\r', '\r\n')

t.test('property: chunking anywhere does not change the events', async (t) => {
  fc.assert(
    fc.property(
      fc.array(eventArb, { minLength: 1, maxLength: 6 }),
      eolArb,
      fc.boolean(),
      fc.array(fc.nat(), { maxLength: 12 }),
      (events, eol, bom, cutSeeds) => {
        let text = bom ? '\uFEFF' : ''
        const expected: SseEvent[] = []
        let id = ''
        for (const e of events) {
          if (e.comment) text += `: ping${eol}`
          if (e.type) text += `event: ${e.type}${eol}`
          if (e.id !== undefined) {
            text += `id: ${e.id}${eol}`
            id = e.id
          }
          for (const l of e.lines) text += `data: ${l}${eol}`
          text += eol
          expected.push({ type: e.type ?? 'message', data: e.lines.join('\n'), id })
        }
        const bytes = enc.encode(text)
        const cuts = [...new Set(cutSeeds.map((s) => s % (bytes.length + 1)))].sort((a, b) => a - b)
        const chunks: Uint8Array[] = []
        let prev = 0
        for (const c of cuts) {
          chunks.push(bytes.slice(prev, c))
          prev = c
        }
        chunks.push(bytes.slice(prev))
        const whole = parseChunks([bytes])
        const split = parseChunks(chunks)
        const oneByOne = parseChunks([...bytes].map((b) => Uint8Array.of(b)))
        return (
          JSON.stringify(split.events) === JSON.stringify(whole.events) &&
          JSON.stringify(oneByOne.events) === JSON.stringify(whole.events) &&
          JSON.stringify(whole.events) === JSON.stringify(expected)
        )
      },
    ),
    { numRuns: 500 },
  )
  t.pass('500 random splits agreed')
})

t.test('a large data line stays linear (1 MB in 1 KB chunks)', async (t) => {
  const big = 'x'.repeat(1 << 20)
  const bytes = enc.encode(`event: put\ndata: ${big}\n\n`)
  const chunks: Uint8Array[] = []
  for (let i = 0; i < bytes.length; i += 1024) chunks.push(bytes.slice(i, i + 1024))
  const r = parseChunks(chunks)
  t.equal(r.events.length, 1)
  t.equal(r.events[0]?.data.length, big.length)
})

t.test('line ends of every kind mixed in one stream, CRs at chunk ends, a huge line among them', async (t) => {
  const big = 'y'.repeat(300_000)
  const chunks = [
    'data: a\r\ndata: b\rdata: c\n\r', // CR at the end of a chunk: the LF starting the next is the same line end
    '\ndata: d\r',
    '\r\n', // CR then CRLF: two line ends, the second one empty (dispatch)
    `event: put\ndata: ${big.slice(0, 100_000)}`,
    big.slice(100_000, 200_000),
    `${big.slice(200_000)}\r`,
    '\r',
  ].map((s) => enc.encode(s))
  const r = parseChunks(chunks)
  t.same(
    r.events.map((e) => [e.type, e.data.length > 10 ? `${e.data.length} chars` : e.data]),
    [
      ['message', 'a\nb\nc'],
      ['message', 'd'],
      ['put', '300000 chars'],
    ],
  )
  t.equal(r.events[2]?.data, big, 'the huge line whole')
})
