/** A line diff of two JSON values (pretty-printed), by longest common subsequence: what changed between versions. */
export type DiffLine = { kind: 'same' | 'add' | 'del'; text: string }

export function jsonDiff(before: unknown, after: unknown): DiffLine[] {
  const a = JSON.stringify(before, null, 2).split('\n')
  const b = JSON.stringify(after, null, 2).split('\n')
  // Configurations are a few hundred lines at most: the quadratic table is small.
  const n = a.length
  const m = b.length
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0))
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!)
  const out: DiffLine[] = []
  let i = 0
  let j = 0
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push({ kind: 'same', text: a[i]! })
      i++
      j++
    } else if (lcs[i + 1]![j]! >= lcs[i]![j + 1]!) out.push({ kind: 'del', text: a[i++]! })
    else out.push({ kind: 'add', text: b[j++]! })
  }
  while (i < n) out.push({ kind: 'del', text: a[i++]! })
  while (j < m) out.push({ kind: 'add', text: b[j++]! })
  return out
}

/** Keeps `context` unchanged lines around each change; longer unchanged runs become one "… n unchanged" line. */
export function withContext(lines: DiffLine[], context = 2): Array<DiffLine | { kind: 'gap'; text: string }> {
  const near = lines.map((_, i) =>
    lines.slice(Math.max(0, i - context), i + context + 1).some((l) => l.kind !== 'same'),
  )
  const out: Array<DiffLine | { kind: 'gap'; text: string }> = []
  let skipped = 0
  lines.forEach((l, i) => {
    if (near[i]) {
      if (skipped) out.push({ kind: 'gap', text: `… ${skipped} unchanged lines` })
      skipped = 0
      out.push(l)
    } else skipped++
  })
  if (skipped) out.push({ kind: 'gap', text: `… ${skipped} unchanged lines` })
  return out
}
