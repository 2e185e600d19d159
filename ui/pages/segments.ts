/**
 * Segments of the selected environment: counts, a new segment, and one segment's page: add or remove ids by
 * paste or file (100,000 per request, with progress), check one id, the flags whose rules use it.
 */
import { html } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { call, canIn, type Config, get, type Segment, seg } from '../api.js'
import { describeError, parseIds, useShared, when } from '../util.js'

/** The API's limit of ids per membership call. */
export const CHUNK = 100_000

export function SegmentsPage() {
  const { me, env, tick, say } = useShared()
  const [items, setItems] = useState<Segment[] | null>(null)
  const [error, setError] = useState('')
  const [key, setKey] = useState('')
  const editable = canIn(me.can.write, env)
  useEffect(() => {
    void get<{ items: Segment[] }>(`/environments/${env}/segments`)
      .then((p) => {
        setItems(p.items)
        setError('')
      })
      .catch((e) => setError(describeError(e)))
  }, [env, tick])
  const create = async (e: Event) => {
    e.preventDefault()
    try {
      await call('POST', `/environments/${env}/segments`, { body: { key } })
      say(`Created segment ${key}`)
      location.hash = `#/segments/${env}/${encodeURIComponent(key)}`
    } catch (err) {
      setError(describeError(err))
    }
  }
  return html`<section>
    <div class="bar"><h1>Segments in ${env}</h1></div>
    ${
      editable &&
      html`<form class="row card" onSubmit=${create} aria-label="New segment">
      <label class="grow">New segment key <input name="segment-key" required value=${key} onInput=${(e: Event) => setKey((e.target as HTMLInputElement).value)} /></label>
      <button type="submit">Create segment</button>
    </form>`
    }
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <div class="scroll"><table>
      <thead><tr><th scope="col">Segment</th><th scope="col">Included</th><th scope="col">Excluded</th><th scope="col">Changed</th></tr></thead>
      <tbody>
        ${(items ?? []).map(
          (s) => html`<tr>
            <th scope="row"><a href=${`#/segments/${env}/${encodeURIComponent(s.key)}`}>${s.name ?? s.key}</a> <div class="sub"><code>${s.key}</code></div></th>
            <td>${s.includedCount.toLocaleString('en')}</td><td>${s.excludedCount.toLocaleString('en')}</td><td>${when(s.updatedAt)}</td>
          </tr>`,
        )}
      </tbody>
    </table></div>
    ${items?.length === 0 && html`<p class="notice">No segment yet.</p>`}
  </section>`
}

export function SegmentPage({ env, segKey }: { env: string; segKey: string }) {
  const { me, tick } = useShared()
  const [s, setS] = useState<Segment | null>(null)
  const [users, setUsers] = useState<string[]>([])
  const [error, setError] = useState('')
  const editable = canIn(me.can.write, env)
  const base = `/environments/${env}/segments/${seg(segKey)}`
  const load = async () => {
    try {
      const [x, flags] = await Promise.all([get<Segment>(base), get<{ items: Config[] }>(`/environments/${env}/flags`)])
      setS(x)
      setUsers(
        flags.items
          .filter((f) => f.rules.some((r) => r.clauses.some((c) => c.op === 'inSegment' && c.values.includes(segKey))))
          .map((f) => f.key),
      )
      setError('')
    } catch (e) {
      setError(describeError(e))
    }
  }
  useEffect(() => {
    void load()
  }, [base, tick])
  if (error) return html`<p class="error" role="alert">${error}</p>`
  if (!s) return html`<p class="notice">Loading…</p>`
  return html`<section>
    <p class="crumbs"><a href="#/segments">Segments</a> / ${env} /</p>
    <h1>${s.name ?? s.key}</h1>
    ${s.description && html`<p>${s.description}</p>`}
    <p class="big"><span data-testid="included-count">${s.includedCount.toLocaleString('en')}</span> included · ${s.excludedCount.toLocaleString('en')} excluded <span class="sub">v${s.version}</span></p>
    <h2>Used by</h2>
    <p>${users.length === 0 ? 'No flag rule in this environment.' : users.map((k) => html`<a class="tag" href=${`#/flags/${encodeURIComponent(k)}`}>${k}</a> `)}</p>
    <${Check} base=${base} />
    ${editable && html`<${Upload} base=${base} onDone=${() => void load()} />`}
  </section>`
}

function Check({ base }: { base: string }) {
  const [id, setId] = useState('')
  const [answer, setAnswer] = useState('')
  const check = async (e: Event) => {
    e.preventDefault()
    try {
      const r = await get<{ included: boolean; excluded: boolean }>(`${base}/members/${seg(id)}`)
      setAnswer(r.excluded ? `${id} is excluded` : r.included ? `${id} is a member` : `${id} is not a member`)
    } catch (err) {
      setAnswer(describeError(err))
    }
  }
  return html`<form class="row card" onSubmit=${check} aria-label="Check membership">
    <label class="grow">Is this id a member? <input name="check-id" required value=${id} onInput=${(e: Event) => setId((e.target as HTMLInputElement).value)} /></label>
    <button type="submit">Check</button>
    <output role="status">${answer}</output>
  </form>`
}

function Upload({ base, onDone }: { base: string; onDone: () => void }) {
  const { say } = useShared()
  const [text, setText] = useState('')
  const [file, setFile] = useState<File | null>(null)
  const [op, setOp] = useState<'add' | 'remove'>('add')
  const [list, setList] = useState<'included' | 'excluded'>('included')
  const [progress, setProgress] = useState<{ done: number; total: number } | null>(null)
  const [error, setError] = useState('')
  const send = async (e: Event) => {
    e.preventDefault()
    setError('')
    try {
      const ids = parseIds(file ? await file.text() : text)
      setProgress({ done: 0, total: ids.length })
      let changed = 0
      for (let i = 0; i < ids.length; i += CHUNK) {
        const chunk = ids.slice(i, i + CHUNK)
        const r = await call<{ added: number; removed: number }>('POST', `${base}/members?op=${op}&list=${list}`, {
          text: chunk.join('\n'),
        })
        changed += op === 'add' ? r.body.added : r.body.removed
        setProgress({ done: Math.min(i + CHUNK, ids.length), total: ids.length })
      }
      say(`${op === 'add' ? 'Added' : 'Removed'} ${changed} of ${ids.length} ids (${list})`)
      setText('')
      setFile(null)
      onDone()
    } catch (err) {
      setError(describeError(err))
    }
  }
  return html`<form class="card" onSubmit=${send} aria-label="Change members">
    <h2>Add or remove ids</h2>
    <div class="row">
      <label>Action <select name="op" value=${op} onChange=${(e: Event) => setOp((e.target as HTMLSelectElement).value as 'add')}><option value="add">add</option><option value="remove">remove</option></select></label>
      <label>List <select name="list" value=${list} onChange=${(e: Event) => setList((e.target as HTMLSelectElement).value as 'included')}><option value="included">included</option><option value="excluded">excluded</option></select></label>
    </div>
    <label>Paste ids (one per line or comma-separated)
      <textarea name="ids" rows="4" value=${text} disabled=${file !== null} onInput=${(e: Event) => setText((e.target as HTMLTextAreaElement).value)}></textarea></label>
    <label>or a file (one id per line) <input type="file" name="ids-file" accept=".txt,.csv,text/plain" onChange=${(e: Event) => setFile((e.target as HTMLInputElement).files?.[0] ?? null)} /></label>
    <button type="submit">Send</button>
    ${progress && html`<p><progress max=${progress.total} value=${progress.done}></progress> ${progress.done.toLocaleString('en')} / ${progress.total.toLocaleString('en')} ids sent</p>`}
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </form>`
}
