/** Small helpers for the pages: formatting, percentages, list parsing, the shared hook, the typed field. */
import { html } from 'htm/preact'
import { useContext, useState } from 'preact/hooks'
import type { Serve } from '../sdk/core/types.js'
import { ApiError } from './api.js'
import { type Shared, SharedContext } from './state.js'

export function useShared(): Shared {
  const s = useContext(SharedContext)
  if (!s) throw new Error('no shared state')
  return s
}

/** Weights are integers out of 100,000 (0.001 % steps). */
export const WEIGHT_TOTAL = 100_000
export const pct = (weight: number) => `${(weight / 1000).toLocaleString('en', { maximumFractionDigits: 3 })} %`
export const toWeight = (percent: number) => Math.round(percent * 1000)

/** A variation's value as people read it. */
export const label = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v))

export const when = (iso: string | undefined) => (iso ? new Date(iso).toLocaleString() : '—')

/** Ids typed or pasted: one per line or separated by commas; blanks dropped. */
export const parseIds = (text: string) =>
  text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter((s) => s !== '')

/** What an error says to a person: the API's message and, for validation, each problem with its path. */
export function describeError(e: unknown): string {
  if (e instanceof ApiError) {
    const details = Array.isArray(e.details)
      ? (e.details as Array<{ path?: string; message?: string; code?: string }>)
          .slice(0, 5)
          .map((d) => `${d.path ?? ''} ${d.code ? `${d.code}: ` : ''}${d.message ?? ''}`.trim())
      : []
    // With details, the message only summarises them: say each once.
    return [details.length > 0 ? e.code : `${e.code}: ${e.message}`, ...details].join(' · ')
  }
  return e instanceof Error ? e.message : String(e)
}

/** Share of the first variation a serve gives (a boolean flag's `true`). */
export function firstShare(serve: Serve): number {
  if ('variation' in serve) return serve.variation === 0 ? WEIGHT_TOTAL : 0
  return serve.rollout.weights.filter((w) => w.variation === 0).reduce((a, w) => a + w.weight, 0)
}

/**
 * An input (or, multiline, a textarea) committed on change — on blur or Enter — whose text stays as typed
 * until then. A controlled field committed on change loses what is being typed: every live update (a poll
 * every 2 s, ui/live.ts) re-renders the page, and Preact puts the committed value back into the field.
 */
export function Typed({
  multiline,
  value,
  onCommit,
  ...attrs
}: { multiline?: boolean; value: string; onCommit: (text: string) => void } & Record<string, unknown>) {
  const [text, setText] = useState<string | null>(null)
  const props = {
    ...attrs,
    value: text ?? value,
    onInput: (e: Event) => setText((e.target as HTMLInputElement).value),
    onChange: (e: Event) => {
      setText(null)
      onCommit((e.target as HTMLInputElement).value)
    },
  }
  return multiline ? html`<textarea ...${props}></textarea>` : html`<input ...${props} />`
}
