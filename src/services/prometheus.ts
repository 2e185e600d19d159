/**
 * One PromQL query against Prometheus's HTTP API (GET /api/v1/query), reduced
 * to the single number a guard compares. Everything that is not exactly one
 * number (Prometheus down or slow, an error, an empty result, several series,
 * a string, NaN) is an `error`: a guard that cannot be read halts its plan.
 */
export type Reading = { value: number } | { error: string }

interface QueryResponse {
  status?: string
  error?: string
  data?: { resultType?: string; result?: unknown }
}

export async function queryNumber(baseUrl: string, query: string, timeoutMs: number): Promise<Reading> {
  const url = `${baseUrl.replace(/\/+$/, '')}/api/v1/query?${new URLSearchParams({ query })}`
  let body: QueryResponse
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
    const text = await res.text()
    try {
      body = JSON.parse(text) as QueryResponse
    } catch {
      return { error: `Prometheus answered ${res.status} with no JSON` }
    }
    if (body.status !== 'success') return { error: `Prometheus refused the query: ${body.error ?? res.status}` }
  } catch (e) {
    const err = e as Error
    const why = err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (err.cause as Error)?.message
    return { error: `Prometheus is unreachable (${why ?? err.message})` }
  }
  const { resultType, result } = body.data ?? {}
  let raw: unknown
  if (resultType === 'scalar') raw = (result as [number, string])[1]
  else if (resultType === 'vector') {
    const samples = result as Array<{ value: [number, string] }>
    if (samples.length === 0) return { error: 'the query returned no data (empty result)' }
    if (samples.length > 1) return { error: `the query returned ${samples.length} series, not one number` }
    raw = samples[0]?.value[1]
  } else return { error: `the query returned a ${resultType ?? 'missing'} result, not one number` }
  const value = Number(raw)
  if (!Number.isFinite(value)) return { error: `the query returned ${String(raw)}, not a finite number` }
  return { value }
}
