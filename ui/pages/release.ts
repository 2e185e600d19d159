/**
 * A flag's release plans in every environment: status, the current step of N, the next step due, guard
 * readings, decisions, the point of no return, and approve / pause / resume / abort for tokens that may write.
 */
import { html } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { type Config, call, canIn, get } from '../api.js'
import { describeError, label, pct, useShared, when } from '../util.js'

interface Pnr {
  note: string
  runbook?: string
}
interface Step {
  name?: string
  serve?: { variation: number } | { rollout: { weights: Array<{ variation: number; weight: number }> } }
  config?: unknown
  hold?: string
  pointOfNoReturn?: Pnr
}
export interface Plan {
  id: string
  environment: string
  flag: string
  name: string
  steps: Step[]
  guards: Guard[]
  startAt?: string
  status: string
  current: number
  nextAt: string | null
  waitingFor?: { step: number; pointOfNoReturn?: Pnr }
  pausedReason?: { code: string; message: string }
  readings: Array<{ guard: number; at: string; value: number | null; error?: string; breached: boolean }>
  passedPointOfNoReturn?: Pnr & { step: number; passedAt: string; approvedBy: string; reason: string }
  history: Array<{ at: string; actor: string; action: string; step?: number; version?: number; reason?: string }>
}

interface Guard {
  name?: string
  query: string
  comparison: string
  threshold: number
  for?: string
  action: string
}

const COMPARISONS = ['>', '>=', '<', '<='] as const
const GUARD_ACTIONS = ['halt', 'rollback', 'kill'] as const

/** A time as the API takes it, shown in UTC: `2026-12-02 05:00 UTC`. */
const utc = (iso: string) => `${new Date(iso).toISOString().slice(0, 16).replace('T', ' ')} UTC`

/** A scheduled change: the one-step plan with a `startAt` ("at 05:00 UTC apply this configuration"). */
const isScheduled = (p: Plan) => p.startAt !== undefined && p.steps.length === 1

const stepName = (p: Plan, i: number) => `${i + 1}/${p.steps.length} ${p.steps[i]?.name ?? ''}`.trim()

function describeStep(s: Step | undefined, variations: unknown[]): string {
  if (!s) return ''
  if (s.config) return 'a whole configuration'
  if (s.serve && 'variation' in s.serve) return `everyone: ${label(variations[s.serve.variation])}`
  if (s.serve)
    return s.serve.rollout.weights.map((w) => `${pct(w.weight)} ${label(variations[w.variation])}`).join(', ')
  return ''
}

export function ReleaseTab({ flagKey, variations }: { flagKey: string; variations: unknown[] }) {
  const { envs, env, me, tick } = useShared()
  const [plans, setPlans] = useState<Plan[] | null>(null)
  const [error, setError] = useState('')
  const [n, setN] = useState(0)
  useEffect(() => {
    // Plans advance by themselves: re-read every 2 s while the tab is open, and on every change.
    const load = () =>
      Promise.all(
        envs
          .filter((e) => canIn(me.can.read, e.key))
          .map((e) => get<{ items: Plan[] }>(`/environments/${e.key}/plans?flag=${encodeURIComponent(flagKey)}`)),
      )
        .then((all) => {
          setPlans(all.flatMap((a) => a.items))
          setError('')
        })
        .catch((e) => setError(describeError(e)))
    void load()
    const timer = setInterval(load, 2000)
    return () => clearInterval(timer)
  }, [flagKey, tick, n])
  if (error) return html`<p class="error" role="alert">${error}</p>`
  if (!plans) return html`<p class="notice">Loading…</p>`
  const scheduled = plans.filter(isScheduled)
  const editable = canIn(me.can.write, env)
  const changed = () => setN((x) => x + 1)
  return html`<div>
    ${plans.length === 0 && html`<p class="sub">No release plan for this flag (create one here, with POST /api/v1/environments/:env/plans or <code>switchyard release start</code>).</p>`}
    ${
      editable &&
      html`<div class="switches"><${NewPlan} flagKey=${flagKey} variations=${variations} onCreated=${changed} />
      <${ScheduleChange} flagKey=${flagKey} variations=${variations} onCreated=${changed} /></div>`
    }
    ${
      scheduled.length > 0 &&
      html`<div class="card"><h2>Scheduled changes</h2><ul class="scheduled">
      ${scheduled.map((p) => html`<${ScheduledItem} key=${p.id} plan=${p} variations=${variations} onChanged=${changed} />`)}
    </ul></div>`
    }
    ${plans.filter((p) => !isScheduled(p)).map((p) => html`<${PlanCard} key=${p.id} plan=${p} variations=${variations} onChanged=${changed} />`)}
  </div>`
}

function PlanCard({ plan: p, variations, onChanged }: { plan: Plan; variations: unknown[]; onChanged: () => void }) {
  const { me, say } = useShared()
  const [reason, setReason] = useState('')
  const [confirm, setConfirm] = useState(false)
  const [error, setError] = useState('')
  const editable = canIn(me.can.write, p.environment)
  const done = Math.max(0, p.current + 1)
  const pnr = p.waitingFor?.pointOfNoReturn
  const act = async (action: string) => {
    if (action === 'approve' && pnr && (!reason.trim() || !confirm)) {
      setError('Passing the point of no return needs a reason and the confirmation.')
      return
    }
    try {
      await call('POST', `/environments/${p.environment}/plans/${encodeURIComponent(p.id)}/${action}`, {
        body: reason.trim() ? { reason: reason.trim() } : {},
      })
      setError('')
      setReason('')
      setConfirm(false)
      say(`${action} ${p.name}: done`)
      onChanged()
    } catch (e) {
      setError(describeError(e))
    }
  }
  const finished = p.status === 'completed' || p.status === 'aborted'
  return html`<div class="card plan" data-plan=${p.id}>
    <h2>${p.name} <code class="sub">${p.id}</code> <span class="tag">${p.environment}</span>
      <span class=${`badge plan-${p.status}`} data-testid="plan-status">${p.status}</span></h2>
    <p>Step <span data-testid="plan-step">${done}</span> of ${p.steps.length}${p.current >= 0 ? html`: ${stepName(p, p.current)} (${describeStep(p.steps[p.current], variations)})` : ''}</p>
    <progress max=${p.steps.length} value=${done} aria-label=${`${p.name}: step ${done} of ${p.steps.length}`}></progress>
    ${p.nextAt && !finished && html`<p>Next step due ${when(p.nextAt)}</p>`}
    ${p.waitingFor && html`<p><strong>Waiting for an approval</strong> of ${p.waitingFor.step < p.steps.length ? stepName(p, p.waitingFor.step) : 'completion'}</p>`}
    ${p.pausedReason && html`<p class="error">${p.pausedReason.code}: ${p.pausedReason.message}</p>`}
    ${
      pnr &&
      html`<div class="danger-zone card"><p><strong>Point of no return:</strong> ${pnr.note}</p>
      ${pnr.runbook && html`<p>Runbook: <span class="mono">${pnr.runbook}</span></p>`}</div>`
    }
    ${
      p.passedPointOfNoReturn &&
      html`<p class="sub">Passed the point of no return at ${stepName(p, p.passedPointOfNoReturn.step)} on ${when(p.passedPointOfNoReturn.passedAt)}, approved by ${p.passedPointOfNoReturn.approvedBy}: ${p.passedPointOfNoReturn.reason}</p>`
    }
    ${
      p.guards.length > 0 &&
      html`<h3>Guards</h3><ul>${p.guards.map((g, i) => {
        const r = p.readings.find((x) => x.guard === i)
        return html`<li class=${r?.breached ? 'error' : ''} data-guard=${i}>${g.name ?? g.query}: ${r ? (r.value ?? r.error ?? '?') : 'not read yet'} (${g.comparison} ${g.threshold}${g.for ? ` for ${g.for}` : ''} → ${g.action})${r?.breached ? ' BREACHED' : ''}</li>`
      })}</ul>`
    }
    <details><summary>Decisions (${p.history.length})</summary>
      <ol class="plan-history">${p.history.map((h) => html`<li>${when(h.at)} · ${h.actor} · ${h.action}${h.step !== undefined ? ` step ${h.step + 1}` : ''}${h.version !== undefined ? ` (v${h.version})` : ''}${h.reason ? ` — ${h.reason}` : ''}</li>`)}</ol>
    </details>
    ${
      editable &&
      !finished &&
      html`<div class="plan-actions">
      <label>Reason${pnr ? ' (required)' : ''} <input name=${`plan-reason-${p.id}`} value=${reason} onInput=${(e: Event) => setReason((e.target as HTMLInputElement).value)} /></label>
      ${pnr && html`<label class="check"><input type="checkbox" checked=${confirm} onChange=${(e: Event) => setConfirm((e.target as HTMLInputElement).checked)} /> I have read the note: pass the point of no return</label>`}
      <div class="row">
        ${p.status !== 'draft' && p.status !== 'paused' && html`<button type="button" onClick=${() => act('approve')}>Approve</button>`}
        ${p.status === 'draft' && html`<button type="button" onClick=${() => act('start')}>Start</button>`}
        ${(p.status === 'running' || p.status === 'waiting') && html`<button type="button" class="quiet" onClick=${() => act('pause')}>Pause</button>`}
        ${p.status === 'paused' && html`<button type="button" onClick=${() => act('resume')}>Resume</button>`}
        <button type="button" class="danger" onClick=${() => act('abort')}>Abort</button>
      </div>
    </div>`
    }
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </div>`
}

/**
 * One line per step: a percentage of the first variation and, optionally, a hold (`30m`, `1h`) or `approval`.
 * The rest of each step goes to the second variation; 100 serves the first to everyone.
 */
export function stepsFromText(text: string): Step[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((line) => {
      const m = /^([0-9]+(?:\.[0-9]{1,3})?)\s*%?\s*(\S+)?$/.exec(line)
      if (!m) throw new Error(`not a step: "${line}" (a percentage, then a hold such as 1h or approval)`)
      const share = Math.round(Number(m[1]) * 1000)
      if (share > 100_000) throw new Error(`more than 100 %: "${line}"`)
      const serve: Step['serve'] =
        share === 100_000
          ? { variation: 0 }
          : {
              rollout: {
                weights: [
                  { variation: 0, weight: share },
                  { variation: 1, weight: 100_000 - share },
                ],
              },
            }
      return { name: `${m[1]} %`, serve, ...(m[2] && { hold: m[2] }) }
    })
}

function NewPlan({
  flagKey,
  variations,
  onCreated,
}: {
  flagKey: string
  variations: unknown[]
  onCreated: () => void
}) {
  const { env, say } = useShared()
  const [open, setOpen] = useState(false)
  const [name, setName] = useState('')
  const [text, setText] = useState('1 approval\n5 1h\n100')
  const [start, setStart] = useState(true)
  const [guards, setGuards] = useState<GuardDraft[]>([])
  const [error, setError] = useState('')
  if (!open) return html`<button type="button" onClick=${() => setOpen(true)}>New plan in ${env}</button>`
  const create = async (e: Event) => {
    e.preventDefault()
    try {
      const steps = stepsFromText(text)
      await call('POST', `/environments/${env}/plans`, {
        body: {
          flag: flagKey,
          name: name.trim() || `${flagKey} ramp`,
          steps,
          start,
          ...(guards.length > 0 && { guards: guards.map(guardOf) }),
        },
      })
      setOpen(false)
      setError('')
      say(`Created plan ${name.trim() || `${flagKey} ramp`} in ${env}`)
      onCreated()
    } catch (err) {
      setError(describeError(err))
    }
  }
  return html`<form class="card" onSubmit=${create} aria-label="New plan">
    <h3>New plan for ${flagKey} in ${env}</h3>
    <label>Plan name <input name="plan-name" value=${name} onInput=${(e: Event) => setName((e.target as HTMLInputElement).value)} /></label>
    <label>Steps: percent of ${label(variations[0])}, then a hold (30m, 1h, approval), one per line
      <textarea name="plan-steps" rows="4" value=${text} onInput=${(e: Event) => setText((e.target as HTMLTextAreaElement).value)}></textarea></label>
    <${GuardsEditor} guards=${guards} onChange=${setGuards} />
    <label class="check"><input type="checkbox" checked=${start} onChange=${(e: Event) => setStart((e.target as HTMLInputElement).checked)} /> Start at once</label>
    <div class="row"><button type="submit">Create plan</button>
      <button type="button" class="quiet" onClick=${() => setOpen(false)}>Cancel</button></div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </form>`
}

interface GuardDraft {
  name: string
  query: string
  comparison: (typeof COMPARISONS)[number]
  threshold: string
  for: string
  action: (typeof GUARD_ACTIONS)[number]
}

/** A guard as the API takes it; the API checks the rest (a duration's form, PromQL when it is read). */
function guardOf(g: GuardDraft): Guard {
  const threshold = Number(g.threshold)
  if (g.threshold.trim() === '' || !Number.isFinite(threshold))
    throw new Error(`guard "${g.name || g.query}": the threshold is not a number`)
  return {
    ...(g.name.trim() && { name: g.name.trim() }),
    query: g.query.trim(),
    comparison: g.comparison,
    threshold,
    ...(g.for.trim() && { for: g.for.trim() }),
    action: g.action,
  }
}

/**
 * Prometheus guards of a new plan: a PromQL expression giving one number, a breach when `value <comparison>
 * threshold` lasts `for`, and what the plan does then (docs/releases.md#guards).
 */
function GuardsEditor({ guards, onChange }: { guards: GuardDraft[]; onChange: (g: GuardDraft[]) => void }) {
  const set = (i: number, patch: Partial<GuardDraft>) =>
    onChange(guards.map((g, j) => (j === i ? { ...g, ...patch } : g)))
  const value = (e: Event) => (e.target as HTMLInputElement).value
  return html`<fieldset class="guards">
    <legend>Guards (Prometheus)</legend>
    ${guards.length === 0 && html`<p class="sub">None: the plan does not watch any metric.</p>`}
    ${guards.map(
      (g, i) => html`<div class="guard card" data-guard-form=${i}>
        <div class="row">
          <label>Guard name <input name="guard-name" value=${g.name} onInput=${(e: Event) => set(i, { name: value(e) })} /></label>
          <label class="grow">PromQL <input name="guard-query" class="mono" required placeholder="max(pg_locks_waiting)" value=${g.query} onInput=${(e: Event) => set(i, { query: value(e) })} /></label>
        </div>
        <div class="row">
          <label>Breach when the value is <select name="guard-comparison" value=${g.comparison} onChange=${(e: Event) => set(i, { comparison: value(e) as GuardDraft['comparison'] })}>
            ${COMPARISONS.map((c) => html`<option value=${c}>${c}</option>`)}</select></label>
          <label>Threshold <input name="guard-threshold" type="number" step="any" inputmode="decimal" required value=${g.threshold} onInput=${(e: Event) => set(i, { threshold: value(e) })} /></label>
          <label>For (e.g. 1m; empty: at once) <input name="guard-for" size="6" value=${g.for} onInput=${(e: Event) => set(i, { for: value(e) })} /></label>
          <label>Action <select name="guard-action" value=${g.action} onChange=${(e: Event) => set(i, { action: value(e) as GuardDraft['action'] })}>
            ${GUARD_ACTIONS.map((a) => html`<option value=${a}>${a}</option>`)}</select></label>
          <button type="button" class="quiet" aria-label=${`Remove guard ${i + 1}`} onClick=${() => onChange(guards.filter((_, j) => j !== i))}>✕</button>
        </div>
      </div>`,
    )}
    <button type="button" class="quiet" onClick=${() => onChange([...guards, { name: '', query: '', comparison: '>', threshold: '', for: '', action: 'halt' }])}>Add guard</button>
    <p class="sub">halt: stay at the step; rollback: back to the previous step, then halt; kill: the flag off, then halt. The server needs PROMETHEUS_URL.</p>
  </fieldset>`
}

/**
 * "At <time UTC> apply this configuration": the current configuration of the flag in this environment with
 * its state and what everyone else gets as chosen here (targets, rules and the rest kept as they are now).
 */
function ScheduleChange({
  flagKey,
  variations,
  onCreated,
}: {
  flagKey: string
  variations: unknown[]
  onCreated: () => void
}) {
  const { env, say } = useShared()
  const [open, setOpen] = useState(false)
  // The next whole hour, in UTC, as a datetime-local value.
  const [at, setAt] = useState(() => new Date(Math.ceil(Date.now() / 3_600_000) * 3_600_000).toISOString().slice(0, 16))
  const [on, setOn] = useState(true)
  const [serve, setServe] = useState(0)
  const [reason, setReason] = useState('')
  const [error, setError] = useState('')
  if (!open)
    return html`<button type="button" class="quiet" onClick=${() => setOpen(true)}>Schedule a change in ${env}</button>`
  const create = async (e: Event) => {
    e.preventDefault()
    try {
      const c = await get<Config>(`/environments/${env}/flags/${encodeURIComponent(flagKey)}`)
      const config = {
        on,
        offVariation: c.offVariation,
        prerequisites: c.prerequisites,
        targets: c.targets,
        rules: c.rules,
        fallthrough: { variation: serve },
      }
      const startAt = `${at}:00Z`
      await call('POST', `/environments/${env}/plans`, {
        body: {
          flag: flagKey,
          name: `${on ? 'on' : 'off'} at ${utc(startAt)}`,
          startAt,
          steps: [{ config }],
          start: true,
          ...(reason.trim() && { reason: reason.trim() }),
        },
      })
      setOpen(false)
      setError('')
      say(`Scheduled ${flagKey} in ${env} for ${utc(startAt)}`)
      onCreated()
    } catch (err) {
      setError(describeError(err))
    }
  }
  return html`<form class="card" onSubmit=${create} aria-label="Schedule a change">
    <h3>At a time, apply this configuration to ${flagKey} in ${env}</h3>
    <div class="row">
      <label>At (UTC) <input type="datetime-local" name="schedule-at" required value=${at} onInput=${(e: Event) => setAt((e.target as HTMLInputElement).value)} /></label>
      <label class="check"><input type="checkbox" name="schedule-on" checked=${on} onChange=${(e: Event) => setOn((e.target as HTMLInputElement).checked)} /> On</label>
      <label>Everyone else gets <select name="schedule-serve" value=${String(serve)} onChange=${(e: Event) => setServe(Number((e.target as HTMLSelectElement).value))}>
        ${variations.map((v, i) => html`<option value=${String(i)}>${i}: ${label(v)}</option>`)}</select></label>
    </div>
    <p class="sub">Targets, rules and prerequisites: as they are now. If someone changes the flag before then, the change pauses instead of overwriting theirs.</p>
    <label>Reason (audit log) <input name="schedule-reason" value=${reason} onInput=${(e: Event) => setReason((e.target as HTMLInputElement).value)} /></label>
    <div class="row"><button type="submit">Schedule</button>
      <button type="button" class="quiet" onClick=${() => setOpen(false)}>Cancel</button></div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </form>`
}

function ScheduledItem({
  plan: p,
  variations,
  onChanged,
}: {
  plan: Plan
  variations: unknown[]
  onChanged: () => void
}) {
  const { me, say } = useShared()
  const [error, setError] = useState('')
  const step = p.steps[0]?.config as { on?: boolean; fallthrough?: { variation?: number } } | undefined
  const what = step
    ? `${step.on ? 'on' : 'off'}${step.fallthrough?.variation !== undefined ? `, everyone else ${label(variations[step.fallthrough.variation])}` : ''}`
    : describeStep(p.steps[0], variations)
  const pending = p.status !== 'completed' && p.status !== 'aborted'
  const cancel = async () => {
    try {
      await call('POST', `/environments/${p.environment}/plans/${encodeURIComponent(p.id)}/abort`, {
        body: { reason: 'scheduled change cancelled from the admin page' },
      })
      say(`Cancelled the change scheduled for ${utc(p.startAt ?? '')}`)
      onChanged()
    } catch (e) {
      setError(describeError(e))
    }
  }
  const status =
    p.status === 'aborted'
      ? 'cancelled'
      : p.status === 'completed'
        ? 'applied'
        : p.status === 'paused'
          ? 'paused'
          : 'scheduled'
  return html`<li data-plan=${p.id}>
    <strong>${utc(p.startAt ?? '')}</strong> <span class="tag">${p.environment}</span> ${what}
    <span class=${`badge plan-${p.status}`} data-testid="scheduled-status">${status}</span>
    ${p.pausedReason && html` <span class="error">${p.pausedReason.code}: ${p.pausedReason.message}</span>`}
    ${pending && canIn(me.can.write, p.environment) && html` <button type="button" class="quiet" onClick=${cancel}>Cancel</button>`}
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </li>`
}
