/**
 * A flag's release plans in every environment: status, the current step of N, the next step due, guard
 * readings, decisions, the point of no return, and approve / pause / resume / abort for tokens that may write.
 */
import { html } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { call, canIn, get } from '../api.js'
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
  guards: Array<{ name?: string; query: string; comparison: string; threshold: number; action: string }>
  status: string
  current: number
  nextAt: string | null
  waitingFor?: { step: number; pointOfNoReturn?: Pnr }
  pausedReason?: { code: string; message: string }
  readings: Array<{ guard: number; at: string; value: number | null; error?: string; breached: boolean }>
  passedPointOfNoReturn?: Pnr & { step: number; passedAt: string; approvedBy: string; reason: string }
  history: Array<{ at: string; actor: string; action: string; step?: number; version?: number; reason?: string }>
}

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
  return html`<div>
    ${plans.length === 0 && html`<p class="sub">No release plan for this flag (create one with POST /api/v1/environments/:env/plans or <code>switchyard release start</code>).</p>`}
    ${canIn(me.can.write, env) && html`<${NewPlan} flagKey=${flagKey} variations=${variations} onCreated=${() => setN((x) => x + 1)} />`}
    ${plans.map((p) => html`<${PlanCard} key=${p.id} plan=${p} variations=${variations} onChanged=${() => setN((x) => x + 1)} />`)}
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
        return html`<li class=${r?.breached ? 'error' : ''}>${g.name ?? g.query}: ${r ? (r.value ?? r.error ?? '?') : 'not read yet'} (${g.comparison} ${g.threshold} → ${g.action})${r?.breached ? ' BREACHED' : ''}</li>`
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
      ${pnr && html`<label><input type="checkbox" checked=${confirm} onChange=${(e: Event) => setConfirm((e.target as HTMLInputElement).checked)} /> I have read the note: pass the point of no return</label>`}
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
  const [error, setError] = useState('')
  if (!open) return html`<button type="button" onClick=${() => setOpen(true)}>New plan in ${env}</button>`
  const create = async (e: Event) => {
    e.preventDefault()
    try {
      const steps = stepsFromText(text)
      await call('POST', `/environments/${env}/plans`, {
        body: { flag: flagKey, name: name.trim() || `${flagKey} ramp`, steps, start },
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
    <label><input type="checkbox" checked=${start} onChange=${(e: Event) => setStart((e.target as HTMLInputElement).checked)} /> Start at once</label>
    <div class="row"><button type="submit">Create plan</button>
      <button type="button" class="quiet" onClick=${() => setOpen(false)}>Cancel</button></div>
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </form>`
}
