/**
 * Environments: the connected server SDK instances of each (from /sdk-status) and the places the diff, promote
 * and facts pages take once the environments API has them.
 */
import { html } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { get, type SdkStatus } from '../api.js'
import { describeError, useShared, when } from '../util.js'

export function EnvironmentsPage() {
  const { envs, tick } = useShared()
  const [status, setStatus] = useState<Record<string, SdkStatus | string>>({})
  useEffect(() => {
    void Promise.all(
      envs.map(
        async (e) => [e.key, await get<SdkStatus>(`/environments/${e.key}/sdk-status`).catch(describeError)] as const,
      ),
    ).then((all) => setStatus(Object.fromEntries(all)))
  }, [envs, tick])
  return html`<section>
    <h1>Environments</h1>
    ${envs.map((e) => {
      const s = status[e.key]
      return html`<div class="card">
        <h2>${e.name || e.key} <code class="sub">${e.key}</code></h2>
        ${e.description && html`<p>${e.description}</p>`}
        <h3>Connected applications</h3>
        ${typeof s === 'string' && html`<p class="error">${s}</p>`}
        ${
          typeof s === 'object' &&
          html`${s.instances.length === 0 ? html`<p class="sub">No server SDK reported in the last 10 minutes.</p>` : ''}
          <ul class="instances">${s.instances.map((i) => html`<li><code>${i.sdkId}</code> SDK ${i.sdkVersion ?? '?'} · last report ${when(i.reportedAt)} · ${i.applied ? 'up to date' : 'behind'}</li>`)}</ul>
          <p class="sub">Browsers reporting: ${s.clients.total}</p>`
        }
      </div>`
    })}
    <div class="placeholder card" data-placeholder="environments-diff">
      <h2>Diff and promote</h2>
      <p>Two environments side by side and promote (with the refusal reasons) will show here once the environments
        API's diff and promote routes land.</p>
      <h2>Facts</h2>
      <p>The facts of each environment and their history will show here with the facts API.</p>
    </div>
  </section>`
}
