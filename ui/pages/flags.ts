/** Every flag with its state in each environment; search and filters; a new flag (admins, editors of "*"). */
import { html } from 'htm/preact'
import { useEffect, useMemo, useState } from 'preact/hooks'
import { type AuditEntry, call, type Config, type Definition, get, type Page, type SdkStatus } from '../api.js'
import { describeError, firstShare, pct, useShared, when } from '../util.js'

interface EnvState {
  configs: Map<string, Config>
  /** Newest audit record per flag (of the last 500 of the environment). */
  last: Map<string, AuditEntry>
  sdk: SdkStatus | null
}

export function FlagsPage() {
  const { me, envs, tick } = useShared()
  const readable = envs.filter((e) => me.can.read.includes('*') || me.can.read.includes(e.key))
  const [defs, setDefs] = useState<Definition[] | null>(null)
  const [state, setState] = useState<Record<string, EnvState>>({})
  const [error, setError] = useState('')
  const [q, setQ] = useState('')
  const [tag, setTag] = useState('')
  const [owner, setOwner] = useState('')
  const [temporary, setTemporary] = useState(false)
  const [creating, setCreating] = useState(false)

  useEffect(() => {
    let live = true
    void (async () => {
      try {
        const [d, ...per] = await Promise.all([
          get<{ items: Definition[] }>('/flags'),
          ...readable.map(async (e) => {
            const [c, a, s] = await Promise.all([
              get<{ items: Config[] }>(`/environments/${e.key}/flags`),
              get<Page<AuditEntry>>(`/audit?env=${e.key}&limit=500`),
              get<SdkStatus>(`/environments/${e.key}/sdk-status`).catch(() => null),
            ])
            const last = new Map<string, AuditEntry>()
            for (const r of a.items) if (r.target.type === 'flag' && !last.has(r.target.key)) last.set(r.target.key, r)
            return [e.key, { configs: new Map(c.items.map((f) => [f.key, f])), last, sdk: s }] as const
          }),
        ])
        if (!live) return
        setDefs(d.items)
        setState(Object.fromEntries(per))
        setError('')
      } catch (e) {
        if (live) setError(describeError(e))
      }
    })()
    return () => {
      live = false
    }
  }, [tick, envs])

  const tags = useMemo(() => [...new Set((defs ?? []).flatMap((d) => d.tags ?? []))].sort(), [defs])
  const owners = useMemo(() => [...new Set((defs ?? []).map((d) => d.owner ?? '').filter(Boolean))].sort(), [defs])
  const shown = (defs ?? []).filter((d) => {
    const text = `${d.key} ${d.name} ${d.description ?? ''}`.toLowerCase()
    return (
      (!q || text.includes(q.toLowerCase())) &&
      (!tag || d.tags?.includes(tag)) &&
      (!owner || d.owner === owner) &&
      (!temporary || d.temporary === true)
    )
  })

  return html`<section>
    <div class="bar">
      <h1>Flags</h1>
      ${me.can.define && html`<button type="button" onClick=${() => setCreating(!creating)} aria-expanded=${creating}>New flag</button>`}
    </div>
    ${creating && html`<${NewFlag} onDone=${() => setCreating(false)} />`}
    <div class="filters" role="search">
      <label>Search <input type="search" value=${q} onInput=${(e: Event) => setQ((e.target as HTMLInputElement).value)} placeholder="key, name, description" /></label>
      <label>Tag
        <select value=${tag} onChange=${(e: Event) => setTag((e.target as HTMLSelectElement).value)}>
          <option value="">any</option>
          ${tags.map((t) => html`<option value=${t}>${t}</option>`)}
        </select>
      </label>
      <label>Owner
        <select value=${owner} onChange=${(e: Event) => setOwner((e.target as HTMLSelectElement).value)}>
          <option value="">any</option>
          ${owners.map((o) => html`<option value=${o}>${o}</option>`)}
        </select>
      </label>
      <label class="check"><input type="checkbox" checked=${temporary} onChange=${(e: Event) => setTemporary((e.target as HTMLInputElement).checked)} /> temporary only</label>
    </div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${defs === null && !error && html`<p class="notice">Loading…</p>`}
    <div class="sdk-summary">
      ${readable.map((e) => {
        const s = state[e.key]?.sdk
        return html`<span class="pill">${e.key}: ${s && s.total > 0 ? `${s.applied}/${s.total} SDKs on the latest change` : 'no SDK reporting'}</span>`
      })}
    </div>
    <div class="scroll">
      <table class="flags">
        <thead>
          <tr>
            <th scope="col">Flag</th>
            ${readable.map((e) => html`<th scope="col">${e.name || e.key}</th>`)}
          </tr>
        </thead>
        <tbody>
          ${shown.map(
            (d) => html`<tr>
              <th scope="row">
                <a href=${`#/flags/${encodeURIComponent(d.key)}`} class="flag-name">${d.name}</a>
                <div class="sub"><code>${d.key}</code> ${d.owner && html`· ${d.owner}`} ${d.temporary && html`· <span class="tag">temporary</span>`}</div>
                <div class="sub">${(d.tags ?? []).map((t) => html`<span class="tag">${t}</span> `)}</div>
              </th>
              ${readable.map((e) => {
                const c = state[e.key]?.configs.get(d.key)
                const last = state[e.key]?.last.get(d.key)
                if (!c) return html`<td data-env=${e.key}>—</td>`
                const targets = c.targets.reduce((n, t) => n + t.values.length, 0)
                return html`<td data-env=${e.key}>
                  <span class=${c.on ? 'badge on' : 'badge off'}>${c.on ? 'on' : 'off'}</span>
                  ${c.on && html` <span title="share of the first variation when no target or rule matches">${pct(firstShare(c.fallthrough))}</span>`}
                  <div class="sub">${targets} targets · ${c.rules.length} rules · v${c.version}</div>
                  <div class="sub">${last ? html`${when(last.at)} · ${last.actor}` : ''}</div>
                </td>`
              })}
            </tr>`,
          )}
        </tbody>
      </table>
    </div>
    ${defs && shown.length === 0 && html`<p class="notice">No flag matches.</p>`}
  </section>`
}

function NewFlag({ onDone }: { onDone: () => void }) {
  const { say } = useShared()
  const [f, setF] = useState({
    key: '',
    name: '',
    kind: 'boolean',
    variations: '',
    tags: '',
    owner: '',
    temporary: true,
  })
  const [error, setError] = useState('')
  const set = (k: keyof typeof f) => (e: Event) => {
    const t = e.target as HTMLInputElement
    setF({ ...f, [k]: t.type === 'checkbox' ? t.checked : t.value })
  }
  const submit = async (e: Event) => {
    e.preventDefault()
    try {
      const variations =
        f.kind === 'boolean'
          ? undefined
          : f.variations
              .split('\n')
              .filter((l) => l.trim() !== '')
              .map((l) => (f.kind === 'string' ? l : JSON.parse(l)))
      const tags = f.tags
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean)
      await call('POST', '/flags', {
        body: {
          key: f.key,
          ...(f.name && { name: f.name }),
          kind: f.kind,
          ...(variations && { variations }),
          ...(tags.length > 0 && { tags }),
          ...(f.owner && { owner: f.owner }),
          temporary: f.temporary,
        },
      })
      say(`Created ${f.key} (off in every environment)`)
      location.hash = `#/flags/${encodeURIComponent(f.key)}`
      onDone()
    } catch (err) {
      setError(describeError(err))
    }
  }
  return html`<form class="card" onSubmit=${submit} aria-label="New flag">
    <div class="grid">
      <label>Key <input name="key" required pattern="[A-Za-z0-9][A-Za-z0-9._\\-]*" value=${f.key} onInput=${set('key')} /></label>
      <label>Name <input name="name" value=${f.name} onInput=${set('name')} /></label>
      <label>Kind
        <select name="kind" value=${f.kind} onChange=${set('kind')}>
          ${['boolean', 'string', 'number', 'json'].map((k) => html`<option>${k}</option>`)}
        </select>
      </label>
      <label>Tags (comma-separated) <input name="tags" value=${f.tags} onInput=${set('tags')} /></label>
      <label>Owner <input name="owner" value=${f.owner} onInput=${set('owner')} /></label>
      <label class="check"><input type="checkbox" name="temporary" checked=${f.temporary} onChange=${set('temporary')} /> temporary (a release flag)</label>
    </div>
    ${
      f.kind !== 'boolean' &&
      html`<label>Variations, one per line${f.kind === 'string' ? '' : ' (JSON)'}
      <textarea name="variations" rows="3" value=${f.variations} onInput=${set('variations')}></textarea></label>`
    }
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <button type="submit">Create flag</button>
  </form>`
}
