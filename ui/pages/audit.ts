/** The audit log with filters (environment, flag, since) and paging. */
import { html } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { type AuditEntry, get, type Page } from '../api.js'
import { describeError, Typed, useShared } from '../util.js'
import { AuditTable } from './flag.js'

export function AuditPage() {
  const { me, envs, env: selected, tick } = useShared()
  const all = me.can.read.includes('*')
  const [env, setEnv] = useState(all ? '' : selected)
  const [flag, setFlag] = useState('')
  const [since, setSince] = useState('')
  const [items, setItems] = useState<AuditEntry[]>([])
  const [next, setNext] = useState<string | null>(null)
  const [error, setError] = useState('')
  const query = (cursor?: string) => {
    const q = new URLSearchParams({ limit: '50' })
    if (env) q.set('env', env)
    if (flag) q.set('flag', flag)
    if (since) q.set('since', new Date(since).toISOString())
    if (cursor) q.set('cursor', cursor)
    return `/audit?${q}`
  }
  const load = async (cursor?: string) => {
    try {
      const p = await get<Page<AuditEntry>>(query(cursor))
      setItems((old) => (cursor ? [...old, ...p.items] : p.items))
      setNext(p.nextCursor)
      setError('')
    } catch (e) {
      setError(describeError(e))
    }
  }
  useEffect(() => {
    void load()
  }, [env, flag, since, tick])
  return html`<section>
    <h1>Audit log</h1>
    <div class="filters">
      <label>Environment
        <select value=${env} onChange=${(e: Event) => setEnv((e.target as HTMLSelectElement).value)}>
          ${all && html`<option value="">every environment</option>`}
          ${envs.map((e) => html`<option value=${e.key}>${e.key}</option>`)}
        </select>
      </label>
      <label>Flag key <${Typed} value=${flag} onCommit=${(text: string) => setFlag(text.trim())} /></label>
      <label>Since <${Typed} type="datetime-local" value=${since} onCommit=${setSince} /></label>
    </div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <${AuditTable} items=${items} />
    ${next && html`<button type="button" onClick=${() => void load(next)}>More</button>`}
  </section>`
}
