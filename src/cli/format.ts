/** Human output of the CLI: aligned tables and one-line descriptions of what a flag serves. */

/** Left-aligned columns, two spaces apart; the header in capitals. An empty table says so instead. */
export function table(headers: string[], rows: string[][], empty = '(none)'): string {
  if (rows.length === 0) return empty
  const all = [headers.map((h) => h.toUpperCase()), ...rows]
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)))
  return all
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

export interface Weight {
  variation: number
  weight: number
}

export type Serve = { variation: number } | { rollout: { bucketBy?: string; weights: Weight[] } }

/** Percent of 100,000 buckets, without trailing zeros: 12345 → "12.345%". */
export const percent = (weight: number): string => `${Number((weight / 1000).toFixed(3))}%`

const value = (variations: unknown[], i: number): string => JSON.stringify(variations[i])

/** "true" or "10% true, 90% false" (by key). */
/** A configuration's values by variation index: the presets, then a live knob's value (index `variations.length`). */
export function servedValues(f: { variations: unknown[]; knob?: { value: number } | undefined }): unknown[] {
  return f.knob === undefined ? f.variations : [...f.variations, f.knob.value]
}

export function describeServe(serve: Serve, variations: unknown[]): string {
  if ('variation' in serve) return value(variations, serve.variation)
  const by = serve.rollout.bucketBy && serve.rollout.bucketBy !== 'key' ? ` (by ${serve.rollout.bucketBy})` : ''
  return serve.rollout.weights.map((w) => `${percent(w.weight)} ${value(variations, w.variation)}`).join(', ') + by
}
