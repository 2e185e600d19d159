/**
 * One flag in the selected environment: its configuration as a form, the kill switch with the live proof of
 * delivery, its history with diffs and rollback, its audit trail, and its release plans (pages/release.ts).
 */
import { html } from 'htm/preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import {
  ApiError,
  type AuditEntry,
  call,
  canIn,
  type Config,
  type Definition,
  get,
  type HistoryEntry,
  type Page,
  type PassedPoint,
  type SdkStatus,
} from '../api.js'
import { jsonDiff, withContext } from '../diff.js'
import { describeError, label, useShared, when } from '../util.js'
import { ConfigForm, draftOf } from './config-form.js'
import { ReleaseTab } from './release.js'
import { FactsRefusal, unmetOf } from './requirements.js'

export function FlagPage({ flagKey }: { flagKey: string }) {
  const { me, env, envs, setEnv, tick } = useShared()
  const [def, setDef] = useState<Definition | null>(null)
  const [flags, setFlags] = useState<Definition[]>([])
  const [config, setConfig] = useState<Config | null>(null)
  const [draft, setDraft] = useState<ReturnType<typeof draftOf> | null>(null)
  const [newer, setNewer] = useState<number | null>(null)
  const [error, setError] = useState('')
  const [tab, setTab] = useState('config')
  const editable = canIn(me.can.write, env)
  const base = `/environments/${env}/flags/${encodeURIComponent(flagKey)}`

  const load = async () => {
    try {
      const [d, all, c] = await Promise.all([
        get<Definition>(`/flags/${encodeURIComponent(flagKey)}`),
        get<{ items: Definition[] }>('/flags'),
        get<Config>(base),
      ])
      setDef(d)
      setFlags(all.items)
      setConfig(c)
      setDraft(draftOf(c))
      setNewer(null)
      setError('')
    } catch (e) {
      setError(describeError(e))
    }
  }
  useEffect(() => {
    void load()
  }, [env, flagKey])
  // Live: a newer version replaces the form only when it has no edits; otherwise it is announced. Edits made
  // while the request was out count: the answer is compared with the form as it is then, not at the tick.
  const current = useRef({ config, draft })
  current.current = { config, draft }
  useEffect(() => {
    if (!config || tick === 0) return
    void get<Config>(base)
      .then((c) => {
        const { config, draft } = current.current
        if (!config || c.version === config.version) return
        const untouched = JSON.stringify(draft) === JSON.stringify(draftOf(config))
        if (untouched) {
          setConfig(c)
          setDraft(draftOf(c))
          setNewer(null)
        } else setNewer(c.version)
      })
      .catch(() => {})
  }, [tick])

  if (error) return html`<p class="error" role="alert">${error}</p>`
  if (!def || !config || !draft) return html`<p class="notice">Loading…</p>`
  const tabs: Array<[string, string]> = [
    ['config', 'Configuration'],
    ['history', 'History'],
    ['audit', 'Audit trail'],
    ['details', 'Details'],
    ['release', 'Release'],
  ]
  return html`<section>
    <p class="crumbs"><a href="#/flags">Flags</a> /</p>
    <div class="bar">
      <h1 class="flag-name">${def.name}</h1>
      <span class=${config.on ? 'badge on' : 'badge off'}>${config.on ? 'on' : 'off'} in ${env}</span>
    </div>
    <p class="sub"><code>${def.key}</code> · ${def.kind} · ${def.variations.map((v, i) => html`<span class="tag">${i}: ${label(v)}</span> `)}
      ${def.owner && html`· owner ${def.owner}`} ${def.temporary && html`· temporary${def.removeBy ? ` until ${def.removeBy}` : ''}`}</p>
    ${def.description && html`<p>${def.description}</p>`}
    <div class="envs" role="group" aria-label="Environment">
      ${envs.map((e) => html`<button type="button" class=${e.key === env ? 'chip active' : 'chip'} aria-pressed=${e.key === env} onClick=${() => setEnv(e.key)}>${e.key}</button>`)}
    </div>
    ${
      editable &&
      html`<div class="switches">
      <${Toggle} flagKey=${def.key} on=${config.on} onToggled=${(c: Config) => {
        setConfig(c)
        setDraft(draftOf(c))
      }} />
      <${Kill} flagKey=${def.key} on=${config.on} point=${config.pointOfNoReturn} onKilled=${(c: Config) => {
        setConfig(c)
        setDraft(draftOf(c))
      }} />
    </div>`
    }
    <div class="tabs" role="tablist">
      ${tabs.map(([id, name]) => html`<button type="button" role="tab" aria-selected=${tab === id} class=${tab === id ? 'tab active' : 'tab'} onClick=${() => setTab(id)}>${name}</button>`)}
    </div>
    ${
      tab === 'config' &&
      html`<${ConfigForm} config=${config} flags=${flags} editable=${editable} newer=${newer} draft=${draft} setDraft=${setDraft}
      onReload=${() => void load()}
      onSaved=${(c: Config) => {
        setConfig(c)
        setDraft(draftOf(c))
        setNewer(null)
      }} />`
    }
    ${tab === 'history' && html`<${History} base=${base} current=${config.version} editable=${editable} onRolledBack=${() => void load()} />`}
    ${tab === 'audit' && html`<${FlagAudit} flagKey=${def.key} />`}
    ${
      tab === 'details' &&
      html`<${Details} def=${def} editable=${me.can.write.length > 0} onSaved=${(d: Definition) => {
        setDef(d)
        // Knob bounds are served with each environment's configuration: read it again.
        void load()
      }} />`
    }
    ${tab === 'release' && html`<${ReleaseTab} flagKey=${def.key} variations=${def.variations} />`}
  </section>`
}

/**
 * Turn on or off (POST …/toggle), the rest of the configuration kept. Turning on where the facts do not meet
 * `requires` is refused with each unmet requirement; an editor may force it with a reason.
 */
function Toggle({ flagKey, on, onToggled }: { flagKey: string; on: boolean; onToggled: (c: Config) => void }) {
  const { env, say } = useShared()
  const [unmet, setUnmet] = useState<ReturnType<typeof unmetOf>>(null)
  const [error, setError] = useState('')
  useEffect(() => {
    setUnmet(null)
    setError('')
  }, [env, flagKey, on])
  const toggle = async (force?: string) => {
    try {
      const r = await call<Config>('POST', `/environments/${env}/flags/${encodeURIComponent(flagKey)}/toggle`, {
        body: { on: !on, ...(force !== undefined && { force: true, reason: force }) },
      })
      setUnmet(null)
      setError('')
      say(
        `Turned ${flagKey} ${r.body.on ? 'on' : 'off'} in ${env}${force !== undefined ? ' (requirements overridden)' : ''}`,
      )
      onToggled(r.body)
    } catch (e) {
      const refused = unmetOf(e)
      if (refused) setUnmet(refused)
      else setError(describeError(e))
    }
  }
  return html`<div class="toggle">
    <button type="button" onClick=${() => void toggle()}>Turn ${on ? 'off' : 'on'} in ${env}</button>
    ${unmet && html`<${FactsRefusal} unmet=${unmet} editable=${true} onForce=${(why: string) => void toggle(why)} onCancel=${() => setUnmet(null)} />`}
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </div>`
}

/** Kill: a reason, a confirmation, then the live count of server SDK instances that applied it. */
function Kill({
  flagKey,
  on,
  point,
  onKilled,
}: {
  flagKey: string
  on: boolean
  point: PassedPoint | undefined
  onKilled: (c: Config) => void
}) {
  const { env, say } = useShared()
  const [notUndone, setNotUndone] = useState('')
  const [open, setOpen] = useState(false)
  const [reason, setReason] = useState('')
  const [error, setError] = useState('')
  const [changeId, setChangeId] = useState<string | null>(null)
  const [status, setStatus] = useState<SdkStatus | null>(null)
  useEffect(() => {
    setChangeId(null)
    setStatus(null)
    setOpen(false)
    setNotUndone('')
  }, [env, flagKey])
  useEffect(() => {
    if (!changeId) return
    let stopped = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const poll = async () => {
      try {
        setStatus(await get<SdkStatus>(`/environments/${env}/sdk-status?changeId=${changeId}`))
      } catch (e) {
        setError(describeError(e))
      }
      if (!stopped) timer = setTimeout(poll, 1000)
    }
    void poll()
    return () => {
      stopped = true
      clearTimeout(timer)
    }
  }, [changeId, env])
  const kill = async (e: Event) => {
    e.preventDefault()
    try {
      const r = await call<Config>('POST', `/environments/${env}/flags/${encodeURIComponent(flagKey)}/kill`, {
        body: reason ? { reason } : {},
      })
      setOpen(false)
      setError('')
      setNotUndone(r.body.notUndone ?? '')
      setChangeId(r.changeId)
      say(`Killed ${flagKey} in ${env}`)
      onKilled(r.body)
    } catch (err) {
      setError(describeError(err))
    }
  }
  return html`<div class="kill">
    ${!open && html`<button type="button" class="danger" onClick=${() => setOpen(true)}>Kill in ${env}${on ? '' : ' (already off)'}</button>`}
    ${
      open &&
      html`<form class="card danger-zone" onSubmit=${kill} aria-label="Kill">
      <p><strong>Turn ${flagKey} off in ${env} now?</strong> It serves its off variation everywhere within seconds, whatever its version.</p>
      ${
        point &&
        html`<div class="point" data-testid="kill-point">
        <p><strong>Past a point of no return:</strong> this kill will not undo: ${point.note}</p>
        <p class="sub">Passed at step ${point.step + 1} of plan <code>${point.plan}</code> on ${when(point.passedAt)}, approved by ${point.approvedBy}: “${point.reason}”.${point.runbook ? ' Runbook: ' : ''}${point.runbook && html`<span class="mono">${point.runbook}</span>`}</p>
      </div>`
      }
      <label>Reason (audit log) <input name="kill-reason" required value=${reason} onInput=${(e: Event) => setReason((e.target as HTMLInputElement).value)} /></label>
      <div class="row">
        <button type="submit" class="danger">Yes, kill it</button>
        <button type="button" class="quiet" onClick=${() => setOpen(false)}>Cancel</button>
      </div>
    </form>`
    }
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${notUndone && html`<p class="notice danger-zone" role="alert" data-testid="not-undone">${notUndone}</p>`}
    ${changeId && html`<${Delivery} status=${status} />`}
  </div>`
}

function Delivery({ status }: { status: SdkStatus | null }) {
  if (!status) return html`<p class="notice">Asking the SDKs…</p>`
  const done = status.total > 0 && status.applied === status.total
  return html`<div class=${done ? 'delivery done' : 'delivery'} aria-live="polite">
    <p class="big"><span data-testid="applied">${status.applied}</span> / <span data-testid="total">${status.total}</span> server SDK instances applied the kill${done ? ' ✓' : ''}</p>
    ${status.capped && html`<p class="error">More instances report than are tracked: this is not proof for all of them.</p>`}
    <p class="sub">Browsers: ${status.clients.applied} / ${status.clients.total}. Change ${status.changeId} at ${when(status.changeAt)}.</p>
    <ul class="instances">
      ${status.instances.map((i) => html`<li>${i.applied ? '✓' : '…'} <code>${i.sdkId}</code> ${i.sdkVersion ?? ''} ${i.lagMs !== undefined ? `in ${i.lagMs} ms` : ''}</li>`)}
    </ul>
  </div>`
}

function History({
  base,
  current,
  editable,
  onRolledBack,
}: {
  base: string
  current: number
  editable: boolean
  onRolledBack: () => void
}) {
  const { say } = useShared()
  const [items, setItems] = useState<HistoryEntry[]>([])
  const [selected, setSelected] = useState<number | null>(null)
  const [error, setError] = useState('')
  const [confirming, setConfirming] = useState<number | null>(null)
  useEffect(() => {
    void get<Page<HistoryEntry>>(`${base}/history?limit=100`)
      .then((p) => {
        setItems(p.items)
        setSelected((s) => s ?? p.items[1]?.version ?? p.items[0]?.version ?? null)
      })
      .catch((e) => setError(describeError(e)))
  }, [base, current])
  const sel = items.find((h) => h.version === selected)
  const prev = items.find((h) => selected !== null && h.version < selected)
  const rollback = async (v: number) => {
    setConfirming(null)
    try {
      await call('POST', `${base}/rollback`, { body: { version: v, reason: `rollback to ${v} from the admin page` } })
      say(`Rolled back to version ${v}`)
      onRolledBack()
    } catch (e) {
      setError(describeError(e))
    }
  }
  return html`<div class="history">
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <ol class="versions">
      ${items.map(
        (h) => html`<li class=${h.version === selected ? 'active' : ''}>
          <button type="button" class="quiet" aria-pressed=${h.version === selected} onClick=${() => setSelected(h.version)}>v${h.version}</button>
          ${h.action} · ${h.actor} · ${when(h.at)} ${h.reason && html`· “${h.reason}”`}
          ${editable && h.version !== current && confirming !== h.version && html` <button type="button" class="quiet" onClick=${() => setConfirming(h.version)}>Roll back to v${h.version}</button>`}
          ${
            confirming === h.version &&
            html` <span role="alert">Restore v${h.version} as v${current + 1}?
            <button type="button" class="danger" onClick=${() => rollback(h.version)}>Yes, roll back</button>
            <button type="button" class="quiet" onClick=${() => setConfirming(null)}>Cancel</button></span>`
          }
        </li>`,
      )}
    </ol>
    ${
      sel &&
      html`<div class="diff" aria-label=${`Changes in version ${sel.version}`}>
      <h2>v${sel.version} ${prev ? `against v${prev.version}` : '(first stored version)'}</h2>
      <pre>${withContext(jsonDiff(prev?.config ?? {}, sel.config)).map((l) => html`<span class=${l.kind}>${l.kind === 'add' ? '+ ' : l.kind === 'del' ? '- ' : '  '}${l.text}\n</span>`)}</pre>
    </div>`
    }
  </div>`
}

function FlagAudit({ flagKey }: { flagKey: string }) {
  const { env, tick } = useShared()
  const [items, setItems] = useState<AuditEntry[]>([])
  const [error, setError] = useState('')
  useEffect(() => {
    void get<Page<AuditEntry>>(`/audit?env=${env}&flag=${encodeURIComponent(flagKey)}&limit=100`)
      .then((p) => setItems(p.items))
      .catch((e) => setError(describeError(e)))
  }, [env, flagKey, tick])
  return html`${error && html`<p class="error" role="alert">${error}</p>`}<${AuditTable} items=${items} />`
}

export function AuditTable({ items }: { items: AuditEntry[] }) {
  return html`<div class="scroll"><table class="audit">
    <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Target</th><th scope="col">Versions</th><th scope="col">Reason</th></tr></thead>
    <tbody>
      ${items.map(
        (a) => html`<tr>
          <td>${when(a.at)}</td><td>${a.actor}</td><td><code>${a.action}</code></td>
          <td>${a.env ? `${a.env} · ` : ''}${a.target.type} <code>${a.target.key}</code></td>
          <td>${a.fromVersion ?? ''}${a.toVersion ? ` → ${a.toVersion}` : ''}</td><td>${a.reason ?? ''}</td>
        </tr>`,
      )}
    </tbody>
  </table></div>`
}

/** The definition's metadata (shared by every environment): any editor may change it; If-Match guards it. */
function Details({ def, editable, onSaved }: { def: Definition; editable: boolean; onSaved: (d: Definition) => void }) {
  const { say } = useShared()
  const [f, setF] = useState({
    name: def.name,
    description: def.description ?? '',
    tags: (def.tags ?? []).join(', '),
    owner: def.owner ?? '',
    temporary: def.temporary === true,
    removeBy: def.removeBy ?? '',
    knobMin: def.knob ? String(def.knob.min) : '',
    knobMax: def.knob ? String(def.knob.max) : '',
    knobStep: def.knob?.step !== undefined ? String(def.knob.step) : '',
  })
  const [error, setError] = useState('')
  const set = (k: keyof typeof f) => (e: Event) => {
    const t = e.target as HTMLInputElement
    setF({ ...f, [k]: t.type === 'checkbox' ? t.checked : t.value })
  }
  // Bounds change what every environment may serve: sent only when changed (that PATCH needs every environment).
  const knob =
    f.knobMin.trim() === '' && f.knobMax.trim() === ''
      ? undefined
      : {
          min: Number(f.knobMin),
          max: Number(f.knobMax),
          ...(f.knobStep.trim() !== '' && { step: Number(f.knobStep) }),
        }
  const knobChanged = knob !== undefined && JSON.stringify(knob) !== JSON.stringify(def.knob)
  const save = async (e: Event) => {
    e.preventDefault()
    try {
      const r = await call<Definition>('PATCH', `/flags/${encodeURIComponent(def.key)}`, {
        body: {
          name: f.name,
          description: f.description,
          tags: f.tags
            .split(',')
            .map((t) => t.trim())
            .filter(Boolean),
          owner: f.owner,
          temporary: f.temporary,
          ...(f.removeBy && { removeBy: f.removeBy }),
          ...(knobChanged && { knob }),
        },
        ifMatch: def.version,
      })
      setError('')
      say(`Saved the details of ${def.key}`)
      onSaved(r.body)
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 412
          ? 'Not saved: someone else changed these details since you opened them. Reload the page to see theirs.'
          : describeError(err),
      )
    }
  }
  const dis = !editable
  return html`<form class="card" onSubmit=${save} aria-label="Details">
    <div class="grid">
      <label>Name <input name="detail-name" disabled=${dis} required value=${f.name} onInput=${set('name')} /></label>
      <label>Tags (comma-separated) <input name="detail-tags" disabled=${dis} value=${f.tags} onInput=${set('tags')} /></label>
      <label>Owner <input name="detail-owner" disabled=${dis} value=${f.owner} onInput=${set('owner')} /></label>
      <label class="check"><input type="checkbox" name="detail-temporary" disabled=${dis} checked=${f.temporary} onChange=${set('temporary')} /> temporary</label>
      <label>Remove by <input type="date" name="detail-remove-by" disabled=${dis} value=${f.removeBy} onInput=${set('removeBy')} /></label>
    </div>
    ${
      def.kind === 'number' &&
      html`<fieldset class="knob">
      <legend>Knob bounds</legend>
      <p class="sub">A number flag with bounds is a live knob: each environment may serve a value within them (set in its configuration). Changing them needs every environment.</p>
      <div class="row">
        <label>Knob min <input type="number" step="any" name="knob-min" disabled=${dis} value=${f.knobMin} onInput=${set('knobMin')} /></label>
        <label>Knob max <input type="number" step="any" name="knob-max" disabled=${dis} value=${f.knobMax} onInput=${set('knobMax')} /></label>
        <label>Knob step (optional) <input type="number" step="any" name="knob-step" disabled=${dis} value=${f.knobStep} onInput=${set('knobStep')} /></label>
      </div>
    </fieldset>`
    }
    <label>Description <textarea name="detail-description" rows="3" disabled=${dis} value=${f.description} onInput=${set('description')}></textarea></label>
    <p class="sub">The same in every environment. Variations and clientSide change what every environment serves: an admin or an editor of every environment changes them with the API.</p>
    ${editable && html`<button type="submit">Save details</button>`}
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </form>`
}
