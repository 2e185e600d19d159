/**
 * A flag's configuration in one environment as a form: on/off, prerequisites, targets, rules (every operator,
 * negation, ordered), the fallthrough, rollout weights as percentages. Saved with If-Match: a concurrent change
 * is shown and nothing is overwritten.
 */
import { html } from 'htm/preact'
import { useState } from 'preact/hooks'
import { type Clause, type Operator, OPERATORS, type Rule, type Serve } from '../../sdk/core/types.js'
import { ApiError, call, type Config, type Definition } from '../api.js'
import { describeError, label, parseIds, pct, Typed, toWeight, useShared, WEIGHT_TOTAL } from '../util.js'
import { FactsRefusal, OverrideNotice, RequirementsEditor, unmetOf } from './requirements.js'

type Draft = Pick<Config, 'on' | 'offVariation' | 'prerequisites' | 'targets' | 'rules' | 'fallthrough'> & {
  requires: NonNullable<Config['requires']>
  /** A knob's value; null clears it (a PUT without `knob` keeps it). */
  knob?: Config['knob'] | null
}

const NUMERIC: ReadonlySet<Operator> = new Set(['lessThan', 'lessThanOrEqual', 'greaterThan', 'greaterThanOrEqual'])
const OP_HINT: Partial<Record<Operator, string>> = {
  matches: 'RE2 regular expressions',
  before: 'ISO 8601 dates or epoch ms',
  after: 'ISO 8601 dates or epoch ms',
  exists: 'no values',
  inSegment: 'segment keys (tests the context key)',
}

export function draftOf(c: Config): Draft {
  return structuredClone({
    on: c.on,
    offVariation: c.offVariation,
    prerequisites: c.prerequisites,
    targets: c.targets,
    rules: c.rules,
    fallthrough: c.fallthrough,
    requires: c.requires ?? [],
    ...(c.knob && { knob: c.knob }),
  })
}

interface Props {
  config: Config
  flags: Definition[]
  editable: boolean
  /** The configuration changed on the server since this one was loaded (live update): its version. */
  newer: number | null
  onSaved: (c: Config) => void
  onReload: () => void
  draft: Draft
  setDraft: (d: Draft) => void
}

export function ConfigForm({ config, flags, editable, newer, onSaved, onReload, draft, setDraft }: Props) {
  const { env, say } = useShared()
  const [reason, setReason] = useState('')
  const [error, setError] = useState('')
  const [conflict, setConflict] = useState<number | null>(null)
  const [busy, setBusy] = useState(false)
  const [unmet, setUnmet] = useState<ReturnType<typeof unmetOf>>(null)
  // A knob's value is one more choice, at index variations.length: wherever a variation can be served.
  const variations: unknown[] = draft.knob ? [...config.variations, `knob ${draft.knob.value}`] : config.variations
  const dis = !editable

  /** PUT with If-Match; `force` (with its reason) overrides unmet requirements, audited by the API. */
  const put = async (force?: string) => {
    setBusy(true)
    setError('')
    try {
      const why = force ?? reason
      const r = await call<Config>('PUT', `/environments/${env}/flags/${config.key}`, {
        body: { ...draft, ...(why && { reason: why }), ...(force !== undefined && { force: true }) },
        ifMatch: config.version,
      })
      setConflict(null)
      setUnmet(null)
      setReason('')
      say(
        `Saved ${config.key} in ${env}: version ${r.body.version}${force !== undefined ? ' (requirements overridden)' : ''}`,
      )
      onSaved(r.body)
    } catch (err) {
      const refused = unmetOf(err)
      if (refused) setUnmet(refused)
      else if (err instanceof ApiError && (err.status === 412 || err.status === 409)) {
        const d = err.details as { currentVersion?: number } | undefined
        setConflict(d?.currentVersion ?? -1)
      } else setError(describeError(err))
    } finally {
      setBusy(false)
    }
  }
  const save = (e: Event) => {
    e.preventDefault()
    void put()
  }

  const varSelect = (value: number | null, onChange: (v: number) => void, name: string, allowNull = false) =>
    html`<select aria-label=${name} disabled=${dis} value=${value === null ? '' : String(value)} onChange=${(e: Event) => onChange(Number((e.target as HTMLSelectElement).value))}>
      ${allowNull && html`<option value="">(the caller's default)</option>`}
      ${variations.map((v, i) => html`<option value=${String(i)}>${i}: ${label(v)}</option>`)}
    </select>`

  const setRule = (i: number, r: Rule) => setDraft({ ...draft, rules: draft.rules.map((x, j) => (j === i ? r : x)) })
  const moveRule = (i: number, by: number) => {
    const rules = [...draft.rules]
    const [r] = rules.splice(i, 1)
    rules.splice(i + by, 0, r!)
    setDraft({ ...draft, rules })
  }

  return html`<form class="config" onSubmit=${save} aria-label=${`Configuration in ${env}`}>
    ${
      newer !== null &&
      html`<p class="notice" role="status">
      Version ${newer} was written since you opened this one (v${config.version}).
      <button type="button" onClick=${onReload}>Load version ${newer}${editable ? ' (drops your edits)' : ''}</button>
    </p>`
    }
    ${
      conflict !== null &&
      html`<div class="conflict" role="alert">
      <strong>Not saved: someone else changed this flag</strong> (now version ${conflict > 0 ? conflict : 'newer'}; you edited version ${config.version}).
      Your edits are still here. Load their version to see it, then make your change again.
      <button type="button" onClick=${() => {
        setConflict(null)
        onReload()
      }}>Load the current version</button>
    </div>`
    }

    ${config.requirementsOverride && html`<${OverrideNotice} o=${config.requirementsOverride} />`}
    <fieldset>
      <legend>State</legend>
      <label class="check"><input type="checkbox" name="on" disabled=${dis} checked=${draft.on} onChange=${(e: Event) => setDraft({ ...draft, on: (e.target as HTMLInputElement).checked })} /> On (off serves the off variation)</label>
      <label>Off variation ${varSelect(draft.offVariation, (v) => setDraft({ ...draft, offVariation: Number.isNaN(v) ? null : v }), 'Off variation', true)}</label>
    </fieldset>

    <fieldset>
      <legend>Prerequisites</legend>
      ${draft.prerequisites.length === 0 && html`<p class="sub">None.</p>`}
      ${draft.prerequisites.map(
        (p, i) => html`<div class="row">
          <select aria-label="Prerequisite flag" disabled=${dis} value=${p.flag} onChange=${(e: Event) => {
            const prerequisites = [...draft.prerequisites]
            prerequisites[i] = { ...p, flag: (e.target as HTMLSelectElement).value }
            setDraft({ ...draft, prerequisites })
          }}>
            ${flags.filter((f) => f.key !== config.key).map((f) => html`<option value=${f.key}>${f.key}</option>`)}
          </select>
          serves variation
          <input type="number" min="0" aria-label="Prerequisite variation" disabled=${dis} value=${p.variation} onInput=${(
            e: Event,
          ) => {
            const prerequisites = [...draft.prerequisites]
            prerequisites[i] = { ...p, variation: Number((e.target as HTMLInputElement).value) }
            setDraft({ ...draft, prerequisites })
          }} />
          ${editable && html`<button type="button" class="quiet" onClick=${() => setDraft({ ...draft, prerequisites: draft.prerequisites.filter((_, j) => j !== i) })}>Remove</button>`}
        </div>`,
      )}
      ${editable && flags.length > 1 && html`<button type="button" class="quiet" onClick=${() => setDraft({ ...draft, prerequisites: [...draft.prerequisites, { flag: flags.find((f) => f.key !== config.key)!.key, variation: 0 }] })}>Add prerequisite</button>`}
    </fieldset>

    <fieldset>
      <legend>Targets (individual context keys)</legend>
      ${variations.map((v, i) => {
        const t = draft.targets.find((x) => x.variation === i)
        return html`<label>Serve ${label(v)} to (one key per line)
          <${Typed} multiline name=${`targets-${i}`} rows="2" disabled=${dis} value=${(t?.values ?? []).join('\n')} onCommit=${(
            text: string,
          ) => {
            const values = parseIds(text)
            const others = draft.targets.filter((x) => x.variation !== i)
            setDraft({
              ...draft,
              targets: values.length
                ? [...others, { variation: i, values }].sort((a, b) => a.variation - b.variation)
                : others,
            })
          }} /></label>`
      })}
    </fieldset>

    <fieldset>
      <legend>Rules, in order (the first that matches serves)</legend>
      ${draft.rules.map(
        (r, i) => html`<div class="rule card">
          <div class="row">
            <label>Rule id <input aria-label="Rule id" disabled=${dis} value=${r.id} onInput=${(e: Event) => setRule(i, { ...r, id: (e.target as HTMLInputElement).value })} /></label>
            <label>Description <input disabled=${dis} value=${r.description ?? ''} onInput=${(e: Event) => setRule(i, { ...r, description: (e.target as HTMLInputElement).value })} /></label>
            ${
              editable &&
              html`<span class="buttons">
              <button type="button" class="quiet" disabled=${i === 0} onClick=${() => moveRule(i, -1)} aria-label=${`Move rule ${r.id} up`}>↑</button>
              <button type="button" class="quiet" disabled=${i === draft.rules.length - 1} onClick=${() => moveRule(i, 1)} aria-label=${`Move rule ${r.id} down`}>↓</button>
              <button type="button" class="quiet" onClick=${() => setDraft({ ...draft, rules: draft.rules.filter((_, j) => j !== i) })}>Remove rule</button>
            </span>`
            }
          </div>
          ${r.clauses.map((c, k) => html`<${ClauseRow} clause=${c} dis=${dis} onChange=${(nc: Clause | null) => setRule(i, { ...r, clauses: nc ? r.clauses.map((x, j) => (j === k ? nc : x)) : r.clauses.filter((_, j) => j !== k) })} />`)}
          ${editable && html`<button type="button" class="quiet" onClick=${() => setRule(i, { ...r, clauses: [...r.clauses, { attribute: 'key', op: 'in', values: [] }] })}>Add condition</button>`}
          <${ServeEditor} serve=${r.serve} variations=${variations} dis=${dis} name=${`Rule ${r.id} serves`} onChange=${(serve: Serve) => setRule(i, { ...r, serve })} />
        </div>`,
      )}
      ${editable && html`<button type="button" class="quiet" onClick=${() => setDraft({ ...draft, rules: [...draft.rules, { id: `rule-${draft.rules.length + 1}`, clauses: [{ attribute: 'key', op: 'inSegment', values: [] }], serve: { variation: 0 } }] })}>Add rule</button>`}
    </fieldset>

    <fieldset>
      <legend>Everyone else (fallthrough)</legend>
      <${ServeEditor} serve=${draft.fallthrough} variations=${variations} dis=${dis} name="Fallthrough serves" onChange=${(fallthrough: Serve) => setDraft({ ...draft, fallthrough })} />
    </fieldset>

    ${
      config.knobBounds &&
      html`<${KnobEditor} key=${config.version} bounds=${config.knobBounds} knob=${draft.knob ?? null} index=${config.variations.length} dis=${dis}
      onChange=${(knob: Draft['knob']) => setDraft({ ...draft, knob })}
      onServe=${() => setDraft({ ...draft, fallthrough: { variation: config.variations.length } })} />`
    }

    <${RequirementsEditor} requires=${draft.requires} dis=${dis} onChange=${(requires: Draft['requires']) => setDraft({ ...draft, requires })} />

    ${
      editable &&
      html`<div class="row">
      <label class="grow">Reason (audit log) <input name="reason" value=${reason} onInput=${(e: Event) => setReason((e.target as HTMLInputElement).value)} /></label>
      <button type="submit" disabled=${busy}>Save version ${config.version + 1}</button>
    </div>`
    }
    ${
      unmet &&
      html`<${FactsRefusal} unmet=${unmet} editable=${editable} onForce=${(why: string) => void put(why)} onCancel=${() => setUnmet(null)} />`
    }
    ${error && html`<p class="error" role="alert">${error}</p>`}
  </form>`
}

/** A live knob's value in this environment (the bounds are the definition's, in Details); the API validates it. */
function KnobEditor({
  bounds,
  knob,
  index,
  dis,
  onChange,
  onServe,
}: {
  bounds: NonNullable<Config['knobBounds']>
  knob: { value: number } | null
  index: number
  dis: boolean
  onChange: (k: { value: number } | null) => void
  onServe: () => void
}) {
  const [text, setText] = useState(knob ? String(knob.value) : '')
  return html`<fieldset class="knob">
    <legend>Knob</legend>
    <p class="sub">A value from ${bounds.min} to ${bounds.max}${bounds.step !== undefined ? ` in steps of ${bounds.step}` : ''}, served as choice ${index} (“knob”) wherever a variation is; empty clears it.</p>
    <div class="row">
      <label>Knob value <input type="number" step="any" inputmode="decimal" name="knob-value" disabled=${dis} value=${text} onInput=${(
        e: Event,
      ) => {
        const v = (e.target as HTMLInputElement).value
        setText(v)
        // Out-of-bounds values are sent as typed: the API's validator says what is wrong (KNOB_* codes).
        onChange(v.trim() === '' || Number.isNaN(Number(v)) ? null : { value: Number(v) })
      }} /></label>
      ${!dis && knob && html`<button type="button" class="quiet" onClick=${onServe}>Serve the knob to everyone else</button>`}
    </div>
  </fieldset>`
}

function ClauseRow({
  clause: c,
  dis,
  onChange,
}: {
  clause: Clause
  dis: boolean
  onChange: (c: Clause | null) => void
}) {
  const values = c.values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join('\n')
  const parse = (text: string, op: Operator) =>
    op === 'exists'
      ? []
      : parseIds(text).map((v) => (NUMERIC.has(op) && v !== '' && !Number.isNaN(Number(v)) ? Number(v) : v))
  return html`<div class="clause row">
    <label class="check"><input type="checkbox" disabled=${dis} checked=${c.negate === true} onChange=${(e: Event) => onChange({ ...c, negate: (e.target as HTMLInputElement).checked })} /> not</label>
    <input aria-label="Attribute" disabled=${dis || c.op === 'inSegment'} value=${c.op === 'inSegment' ? 'key' : c.attribute} onInput=${(e: Event) => onChange({ ...c, attribute: (e.target as HTMLInputElement).value })} />
    <select aria-label="Operator" disabled=${dis} value=${c.op} onChange=${(e: Event) => {
      const op = (e.target as HTMLSelectElement).value as Operator
      onChange({ ...c, op, values: parse(values, op) })
    }}>
      ${OPERATORS.map((o) => html`<option value=${o}>${o}</option>`)}
    </select>
    <${Typed} multiline aria-label="Values" rows="1" disabled=${dis || c.op === 'exists'} placeholder=${OP_HINT[c.op] ?? 'values, one per line'} value=${values} onCommit=${(text: string) => onChange({ ...c, values: parse(text, c.op) })} />
    ${!dis && html`<button type="button" class="quiet" onClick=${() => onChange(null)} aria-label="Remove condition">✕</button>`}
  </div>`
}

/** A variation, or a percentage rollout over the variations (weights shown and typed as percentages). */
function ServeEditor({
  serve,
  variations,
  dis,
  name,
  onChange,
}: {
  serve: Serve
  variations: unknown[]
  dis: boolean
  name: string
  onChange: (s: Serve) => void
}) {
  const isRollout = 'rollout' in serve
  const weights = isRollout ? serve.rollout.weights : []
  const sum = weights.reduce((a, w) => a + w.weight, 0)
  const weightOf = (i: number) => weights.find((w) => w.variation === i)?.weight ?? 0
  return html`<div class="serve" role="group" aria-label=${name}>
    <label class="check"><input type="radio" name=${`${name}-mode`} disabled=${dis} checked=${!isRollout} onChange=${() => onChange({ variation: 0 })} /> one variation</label>
    <label class="check"><input type="radio" name=${`${name}-mode`} disabled=${dis} checked=${isRollout} onChange=${() => onChange({ rollout: { bucketBy: 'key', weights: variations.map((_, i) => ({ variation: i, weight: i === variations.length - 1 ? WEIGHT_TOTAL : 0 })) } })} /> percentage rollout</label>
    ${
      !isRollout &&
      html`<select aria-label=${`${name} variation`} disabled=${dis} value=${String(serve.variation)} onChange=${(e: Event) => onChange({ variation: Number((e.target as HTMLSelectElement).value) })}>
      ${variations.map((v, i) => html`<option value=${String(i)}>${i}: ${label(v)}</option>`)}
    </select>`
    }
    ${
      isRollout &&
      html`<div class="weights">
      ${variations.map(
        (v, i) => html`<label>${label(v)}
          <${Typed} type="number" min="0" max="100" step="0.001" inputmode="decimal" disabled=${dis} aria-label=${`${name}: percent for ${label(v)}`} value=${String(weightOf(i) / 1000)} onCommit=${(
            text: string,
          ) => {
            const w = toWeight(Number(text))
            const others = serve.rollout.weights.filter((x) => x.variation !== i)
            const next = [...others, { variation: i, weight: w }].sort((a, b) => a.variation - b.variation)
            // Two variations: the other one takes the rest, so a ramp is one number.
            if (variations.length === 2) {
              const j = 1 - i
              for (const x of next) if (x.variation === j) x.weight = Math.max(0, WEIGHT_TOTAL - w)
              if (!next.some((x) => x.variation === j))
                next.push({ variation: j, weight: Math.max(0, WEIGHT_TOTAL - w) })
            }
            onChange({ rollout: { ...serve.rollout, weights: next } })
          }} /> %</label>`,
      )}
      <label>bucket by <input disabled=${dis} value=${serve.rollout.bucketBy ?? 'key'} onInput=${(e: Event) => onChange({ rollout: { ...serve.rollout, bucketBy: (e.target as HTMLInputElement).value } })} /></label>
      <span class=${sum === WEIGHT_TOTAL ? 'sub' : 'error'}>total ${pct(sum)}</span>
    </div>`
    }
  </div>`
}
