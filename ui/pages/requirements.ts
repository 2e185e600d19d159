/**
 * A flag's facts requirements (`requires`): the editor inside the configuration form, the refusal of a write
 * whose requirements the environment's facts do not meet (each unmet requirement with its actual value) and an
 * editor's explicit override (`force` with a reason, audited by the API), and the override the flag carries.
 */
import { html } from 'htm/preact'
import { useState } from 'preact/hooks'
import {
  type FactRequirement as Requirement,
  OPERATORS,
  type Operator,
  type RequirementsOverride,
  type UnmetRequirement as Unmet,
} from '../../sdk/core/types.js'
import { ApiError } from '../api.js'
import { parseIds, Typed, useShared, when } from '../util.js'

type Scalar = string | number | boolean
type RequirementOperator = Requirement['op']

/** Every clause operator but `inSegment`: a fact is not a context (src/schemas/facts.ts). */
const REQUIREMENT_OPERATORS = OPERATORS.filter((o): o is RequirementOperator => o !== 'inSegment')
const NUMERIC: ReadonlySet<Operator> = new Set(['lessThan', 'lessThanOrEqual', 'greaterThan', 'greaterThanOrEqual'])

const text = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v))
const valuesText = (r: Requirement) =>
  r.value === undefined ? '' : (Array.isArray(r.value) ? r.value : [r.value]).map(text).join('\n')

/** Typed values: numbers for the numeric operators, strings otherwise; one value is a scalar, several a list. */
function parseValue(t: string, op: Operator): Requirement['value'] {
  if (op === 'exists') return undefined
  const vs: Scalar[] = parseIds(t).map((v) => (NUMERIC.has(op) && !Number.isNaN(Number(v)) ? Number(v) : v))
  return vs.length === 1 ? vs[0] : vs
}

/** How a requirement reads: `db.indexes in "sessions_idx"`, `not app.legacy exists`. */
export function describeRequirement(r: Requirement): string {
  const value = r.value === undefined ? '' : ` ${JSON.stringify(r.value)}`
  return `${r.negate ? 'not ' : ''}${r.fact} ${r.op}${value}`
}

/** The unmet requirements of a FACTS_UNMET refusal, or null for any other error. */
export function unmetOf(e: unknown): Unmet[] | null {
  if (!(e instanceof ApiError) || e.code !== 'FACTS_UNMET') return null
  const d = e.details as { unmet?: Unmet[] } | undefined
  return d?.unmet ?? []
}

export function RequirementsEditor({
  requires,
  dis,
  onChange,
}: {
  requires: Requirement[]
  dis: boolean
  onChange: (r: Requirement[]) => void
}) {
  const { env } = useShared()
  const set = (i: number, r: Requirement) => onChange(requires.map((x, j) => (j === i ? r : x)))
  return html`<fieldset class="requires">
    <legend>Requirements (facts of ${env})</legend>
    <p class="sub">Turning the flag on, or changing what it serves while on, is refused while these facts of ${env} are not met (see the Environments page for its facts).</p>
    ${requires.length === 0 && html`<p class="sub">None.</p>`}
    ${requires.map(
      (r, i) => html`<div class="clause row" data-requirement=${i}>
        <label class="check"><input type="checkbox" disabled=${dis} aria-label="Requirement negated" checked=${r.negate === true} onChange=${(
          e: Event,
        ) => {
          const { negate: _n, ...rest } = r
          set(i, (e.target as HTMLInputElement).checked ? { ...rest, negate: true } : rest)
        }} /> not</label>
        <input aria-label="Fact" placeholder="db.sessions.indexes" disabled=${dis} value=${r.fact} onInput=${(e: Event) => set(i, { ...r, fact: (e.target as HTMLInputElement).value.trim() })} />
        <select aria-label="Requirement operator" disabled=${dis} value=${r.op} onChange=${(e: Event) => {
          const op = (e.target as HTMLSelectElement).value as RequirementOperator
          const { value: _v, ...rest } = r
          const value = parseValue(valuesText(r), op)
          set(i, value === undefined ? { ...rest, op } : { ...rest, op, value })
        }}>
          ${REQUIREMENT_OPERATORS.map((o) => html`<option value=${o}>${o}</option>`)}
        </select>
        <${Typed} multiline aria-label="Requirement values" rows="1" disabled=${dis || r.op === 'exists'} placeholder=${r.op === 'exists' ? 'no values' : 'values, one per line (any of them)'} value=${valuesText(r)} onCommit=${(
          text: string,
        ) => {
          const { value: _v, ...rest } = r
          const value = parseValue(text, r.op)
          set(i, value === undefined ? rest : { ...rest, value })
        }} />
        ${!dis && html`<button type="button" class="quiet" aria-label=${`Remove requirement ${r.fact}`} onClick=${() => onChange(requires.filter((_, j) => j !== i))}>✕</button>`}
      </div>`,
    )}
    ${!dis && html`<button type="button" class="quiet" onClick=${() => onChange([...requires, { fact: '', op: 'in', value: '' }])}>Add requirement</button>`}
  </fieldset>`
}

/**
 * A write refused with FACTS_UNMET: each unmet requirement and the fact's actual value; an editor may force it
 * with a reason (the API requires one and audits the override).
 */
export function FactsRefusal({
  unmet,
  editable,
  onForce,
  onCancel,
}: {
  unmet: Unmet[]
  editable: boolean
  onForce: (reason: string) => void
  onCancel: () => void
}) {
  const { env } = useShared()
  const [reason, setReason] = useState('')
  return html`<div class="card danger-zone" role="alert" data-testid="facts-refusal">
    <p><strong>Refused: the facts of ${env} do not meet what this flag requires.</strong> Nothing was written.</p>
    <ul class="unmet">
      ${unmet.map(
        (u) =>
          html`<li data-fact=${u.fact}><code>${describeRequirement(u)}</code> — actual: <span class="mono">${u.actual === null || u.actual === undefined ? 'no such fact' : text(u.actual)}</span></li>`,
      )}
    </ul>
    <p class="sub">Record the missing facts (POST /api/v1/environments/${env}/facts) and try again, or override.</p>
    ${
      editable &&
      html`<div class="row">
      <label class="grow">Reason for the override (audit log) <input name="force-reason" value=${reason} onInput=${(e: Event) => setReason((e.target as HTMLInputElement).value)} onKeyDown=${(
        e: KeyboardEvent,
      ) => {
        // Inside the configuration form, Enter would submit a plain save: here it means the override.
        if (e.key !== 'Enter') return
        e.preventDefault()
        if (reason.trim()) onForce(reason.trim())
      }} /></label>
      <button type="button" class="danger" disabled=${!reason.trim()} onClick=${() => onForce(reason.trim())}>Force it anyway</button>
      <button type="button" class="quiet" onClick=${onCancel}>Cancel</button>
    </div>`
    }
  </div>`
}

/** Shown while the flag serves despite unmet requirements (a forced write). */
export function OverrideNotice({ o }: { o: RequirementsOverride }) {
  return html`<p class="notice" data-testid="requirements-override">
    Serving despite unmet requirements: forced by ${o.actor} on ${when(o.at)} — “${o.reason}”
    (${o.unmet.map((u) => describeRequirement(u)).join('; ')}).
  </p>`
}
