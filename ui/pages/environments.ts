/**
 * Environments: two of them side by side (the diff), promote a flag from one to the other with the refusal
 * reasons spelled out, each environment's facts and their history, and the applications connected to it.
 */
import { html } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { ApiError, call, canIn, get } from '../api.js'
import { describeError, useShared, when } from '../util.js'

interface FactDiff {
  fact: string
  status: string
  from: unknown
  to: unknown
}
interface Diff {
  from: string
  to: string
  flags: Array<{ key: string; status: string; versions: { from: number | null; to: number | null }; changes: unknown }>
  segments: Array<{ key: string; status: string; members: unknown }>
  facts: { differences: FactDiff[]; same: number }
  applications: {
    differences: Array<{
      name: string
      from: Array<{ version: string | null; instances: number }>
      to: Array<{ version: string | null; instances: number }>
    }>
  }
}
interface Fact {
  name: string
  type: string
  value: unknown
  drift: boolean
  version: number
  updatedAt: string
  updatedBy: string
}
interface FactHistory {
  items: Array<{
    id: string
    version: number
    at: string
    actor: string
    reason?: string
    changes: Array<{ fact: string; from: unknown; to: unknown }>
  }>
}
interface Apps {
  items: Array<{
    name: string
    version: string | null
    instances: number
    runtimes: string[]
    sdkVersions: string[]
    lastReportAt: string
  }>
  unnamed: number
}

/** Any JSON value as text (never as HTML). */
const show = (v: unknown) => (v === undefined || v === null ? '—' : typeof v === 'string' ? v : JSON.stringify(v))

export function EnvironmentsPage() {
  const { envs } = useShared()
  const [from, setFrom] = useState(envs.find((e) => e.key === 'staging')?.key ?? envs[0]?.key ?? '')
  const [to, setTo] = useState(envs.find((e) => e.key === 'production')?.key ?? envs[1]?.key ?? envs[0]?.key ?? '')
  const pick = (name: string, value: string, set: (v: string) => void) =>
    html`<label>${name} <select value=${value} onChange=${(e: Event) => set((e.target as HTMLSelectElement).value)}>
      ${envs.map((e) => html`<option value=${e.key}>${e.key}</option>`)}</select></label>`
  return html`<section>
    <h1>Environments</h1>
    <div class="card">
      <h2>Compare and promote</h2>
      <div class="row">${pick('From', from, setFrom)} ${pick('To', to, setTo)}</div>
      ${from && to && from !== to ? html`<${DiffView} from=${from} to=${to} /><${Promote} from=${from} to=${to} />` : html`<p class="sub">Pick two different environments.</p>`}
    </div>
    ${envs.map((e) => html`<${EnvCard} key=${e.key} env=${e.key} name=${e.name} description=${e.description} />`)}
  </section>`
}

function DiffView({ from, to }: { from: string; to: string }) {
  const { tick } = useShared()
  const [diff, setDiff] = useState<Diff | null>(null)
  const [error, setError] = useState('')
  useEffect(() => {
    get<Diff>(`/environments/${from}/diff/${to}`)
      .then((d) => {
        setDiff(d)
        setError('')
      })
      .catch((e) => setError(describeError(e)))
  }, [from, to, tick])
  if (error) return html`<p class="error" role="alert">${error}</p>`
  if (!diff) return html`<p class="notice">Comparing…</p>`
  const flags = diff.flags.filter((f) => f.status !== 'same')
  const segs = diff.segments.filter((s) => s.status !== 'same')
  return html`<div class="diff-envs">
    <h3>Flags that differ (${flags.length} of ${diff.flags.length})</h3>
    <table class="diff-table"><thead><tr><th>Flag</th><th>${from}</th><th>${to}</th><th>What differs</th></tr></thead>
      <tbody>${flags.map(
        (f) => html`<tr data-flag=${f.key}><td><a href=${`#/flags/${encodeURIComponent(f.key)}`}>${f.key}</a></td>
          <td>${f.versions.from === null ? 'absent' : `v${f.versions.from}`}</td><td>${f.versions.to === null ? 'absent' : `v${f.versions.to}`}</td>
          <td>${f.status === 'different' && f.changes && typeof f.changes === 'object' ? html`<ul>${Object.entries(f.changes as Record<string, unknown>).map(([k, v]) => html`<li><strong>${k}</strong>: <code class="mono">${show(v)}</code></li>`)}</ul>` : f.status}</td></tr>`,
      )}</tbody></table>
    <h3>Segments (${segs.length} differ)</h3>
    <ul>${diff.segments.map((s) => {
      const m = s.members as Record<string, { from?: number; to?: number }> | null
      const counts = m
        ? Object.entries(m)
            .map(([list, c]) => `${list} ${c.from ?? '?'} / ${c.to ?? '?'}`)
            .join(' · ')
        : s.status
      return html`<li data-segment=${s.key}><code>${s.key}</code> ${s.status}: ${counts}</li>`
    })}</ul>
    <h3>Facts that differ (${diff.facts.differences.length}; ${diff.facts.same} the same)</h3>
    <table class="diff-table"><thead><tr><th>Fact</th><th>${from}</th><th>${to}</th></tr></thead>
      <tbody>${diff.facts.differences.map((d) => html`<tr><td><code>${d.fact}</code></td><td class="mono">${show(d.from)}</td><td class="mono">${show(d.to)}</td></tr>`)}</tbody></table>
    ${
      diff.applications.differences.length > 0 &&
      html`<h3>Applications</h3><ul>${diff.applications.differences.map((a) => html`<li>${a.name}: ${a.from.map((v) => `${v.version ?? '?'} ×${v.instances}`).join(', ') || 'none'} / ${a.to.map((v) => `${v.version ?? '?'} ×${v.instances}`).join(', ') || 'none'}</li>`)}</ul>`
    }
  </div>`
}

function Promote({ from, to }: { from: string; to: string }) {
  const { me, say } = useShared()
  const [flag, setFlag] = useState('')
  const [reason, setReason] = useState('')
  const [copySegments, setCopySegments] = useState(false)
  const [refusal, setRefusal] = useState<{ text: string; items: string[] } | null>(null)
  if (!canIn(me.can.write, to)) return null
  const promote = async (e: Event) => {
    e.preventDefault()
    try {
      const path = `/environments/${to}/flags/${encodeURIComponent(flag.trim())}`
      const current = await call('GET', path)
      await call('POST', `${path}/promote`, {
        body: { from, copySegments, ...(reason.trim() && { reason: reason.trim() }) },
        ...(current.version !== null && { ifMatch: current.version }),
      })
      setRefusal(null)
      say(`Promoted ${flag.trim()} from ${from} to ${to}`)
    } catch (err) {
      const items: string[] = []
      if (err instanceof ApiError && err.details && typeof err.details === 'object') {
        const d = err.details as {
          missing?: string[]
          unmet?: Array<{ fact: string; op: string; value?: unknown; negate?: boolean }>
          drift?: Array<{ fact: string; from: unknown; to: unknown }>
        }
        for (const s of d.missing ?? []) items.push(`segment missing in ${to}: ${s}`)
        for (const u of d.unmet ?? [])
          items.push(`requirement not met: ${u.fact} ${u.negate ? 'not ' : ''}${u.op} ${show(u.value)}`)
        for (const x of d.drift ?? [])
          items.push(`fact differs: ${x.fact} (${from}: ${show(x.from)}, ${to}: ${show(x.to)})`)
      }
      setRefusal({ text: describeError(err), items })
    }
  }
  return html`<form class="promote" onSubmit=${promote} aria-label="Promote">
    <h3>Promote a flag from ${from} to ${to}</h3>
    <label>Flag key <input name="promote-flag" required value=${flag} onInput=${(e: Event) => setFlag((e.target as HTMLInputElement).value)} /></label>
    <label class="check"><input type="checkbox" checked=${copySegments} onChange=${(e: Event) => setCopySegments((e.target as HTMLInputElement).checked)} /> Copy the segments it uses (definitions)</label>
    <label>Reason <input name="promote-reason" value=${reason} onInput=${(e: Event) => setReason((e.target as HTMLInputElement).value)} /></label>
    <button type="submit">Promote</button>
    ${
      refusal &&
      html`<div class="error" role="alert" data-testid="promote-refusal"><p>${refusal.text}</p>
      <ul>${refusal.items.map((i) => html`<li>${i}</li>`)}</ul></div>`
    }
  </form>`
}

function EnvCard({ env, name, description }: { env: string; name: string; description?: string }) {
  const { tick } = useShared()
  const [facts, setFacts] = useState<Fact[] | string | null>(null)
  const [apps, setApps] = useState<Apps | string | null>(null)
  const [history, setHistory] = useState<FactHistory | string | null>(null)
  useEffect(() => {
    get<{ facts: Fact[] }>(`/environments/${env}/facts`)
      .then((f) => setFacts(f.facts))
      .catch((e) => setFacts(describeError(e)))
    get<Apps>(`/environments/${env}/applications`)
      .then(setApps)
      .catch((e) => setApps(describeError(e)))
  }, [env, tick])
  return html`<div class="card" data-env=${env}>
    <h2>${name || env} <code class="sub">${env}</code></h2>
    ${description && html`<p>${description}</p>`}
    <h3>Facts</h3>
    ${typeof facts === 'string' && html`<p class="error">${facts}</p>`}
    ${Array.isArray(facts) && facts.length === 0 && html`<p class="sub">No fact recorded.</p>`}
    ${
      Array.isArray(facts) &&
      facts.length > 0 &&
      html`<table class="facts"><thead><tr><th>Fact</th><th>Value</th><th>Type</th><th>Updated</th></tr></thead><tbody>
      ${facts.map((f) => html`<tr data-fact=${f.name}><td><code>${f.name}</code>${f.drift ? html` <span class="tag">drift</span>` : ''}</td><td class="mono fact-value">${show(f.value)}</td><td>${f.type}</td><td>v${f.version} · ${when(f.updatedAt)} · ${f.updatedBy}</td></tr>`)}
    </tbody></table>`
    }
    ${
      history === null
        ? html`<button type="button" class="quiet" onClick=${() =>
            get<FactHistory>(`/environments/${env}/facts/history?limit=50`)
              .then(setHistory)
              .catch((e) => setHistory(describeError(e)))}>Facts history</button>`
        : typeof history === 'string'
          ? html`<p class="error">${history}</p>`
          : html`<h3>Facts history</h3><ol class="plan-history">${history.items.map((h) => html`<li>v${h.version} · ${when(h.at)} · ${h.actor}${h.reason ? ` — ${h.reason}` : ''}<ul>${h.changes.map((c) => html`<li><code>${c.fact}</code>: ${show(c.from)} → ${show(c.to)}</li>`)}</ul></li>`)}</ol>`
    }
    <h3>Connected applications</h3>
    ${typeof apps === 'string' && html`<p class="error">${apps}</p>`}
    ${
      apps &&
      typeof apps === 'object' &&
      html`${apps.items.length === 0 ? html`<p class="sub">No server SDK reported in the last 10 minutes.</p>` : ''}
      <ul class="instances">${apps.items.map((a) => html`<li><strong>${a.name}</strong> ${a.version ?? '(no version)'} · ${a.instances} instance${a.instances === 1 ? '' : 's'} · ${a.runtimes.join(', ')} · SDK ${a.sdkVersions.join(', ')} · last report ${when(a.lastReportAt)}</li>`)}</ul>
      ${apps.unnamed > 0 && html`<p class="sub">${apps.unnamed} instances name no application.</p>`}`
    }
  </div>`
}
