/** Tokens (admins): create one (the secret is shown once), list, revoke. */
import { html } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { call, get, type Token } from '../api.js'
import { describeError, useShared, when } from '../util.js'

const KINDS = ['viewer', 'editor', 'admin', 'sdk-server', 'sdk-client']

export function TokensPage() {
  const { me, tick, say } = useShared()
  const [items, setItems] = useState<Token[]>([])
  const [error, setError] = useState('')
  const [form, setForm] = useState({ name: '', kind: 'viewer', environments: '*' })
  const [secret, setSecret] = useState<{ name: string; secret: string } | null>(null)
  const [revoking, setRevoking] = useState<string | null>(null)
  const load = () =>
    get<{ items: Token[] }>('/tokens')
      .then((p) => setItems(p.items))
      .catch((e) => setError(describeError(e)))
  useEffect(() => {
    void load()
  }, [tick])
  const create = async (e: Event) => {
    e.preventDefault()
    try {
      const environments = form.environments
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
      const r = await call<{ token: Token; secret: string }>('POST', '/tokens', {
        body: { name: form.name, kind: form.kind, ...(form.kind !== 'admin' && { environments }) },
      })
      setSecret({ name: r.body.token.name, secret: r.body.secret })
      setForm({ ...form, name: '' })
      setError('')
      void load()
    } catch (err) {
      setError(describeError(err))
    }
  }
  const revoke = async (t: Token) => {
    try {
      await call('DELETE', `/tokens/${encodeURIComponent(t.id)}`)
      setRevoking(null)
      say(`Revoked ${t.name}`)
      void load()
    } catch (err) {
      setError(describeError(err))
    }
  }
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value })
  return html`<section>
    <h1>Tokens</h1>
    <form class="card" onSubmit=${create} aria-label="New token">
      <div class="grid">
        <label>Name <input name="token-name" required value=${form.name} onInput=${set('name')} /></label>
        <label>Kind <select name="token-kind" value=${form.kind} onChange=${set('kind')}>${KINDS.map((k) => html`<option>${k}</option>`)}</select></label>
        <label>Environments (comma-separated, * for all) <input name="token-envs" disabled=${form.kind === 'admin'} value=${form.environments} onInput=${set('environments')} /></label>
      </div>
      <button type="submit">Create token</button>
    </form>
    ${
      secret &&
      html`<div class="card secret" role="alert">
      <p><strong>The secret of ${secret.name}, shown this once:</strong> only its hash is stored.</p>
      <p><code data-testid="secret">${secret.secret}</code></p>
      <button type="button" onClick=${() => void navigator.clipboard?.writeText(secret.secret).then(() => say('Copied'))}>Copy</button>
      <button type="button" class="quiet" onClick=${() => setSecret(null)}>I have stored it</button>
    </div>`
    }
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <div class="scroll"><table>
      <thead><tr><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Environments</th><th scope="col">Created</th><th scope="col"></th></tr></thead>
      <tbody>
        ${items.map(
          (t) => html`<tr>
            <th scope="row">${t.name}<div class="sub"><code>${t.id}</code></div></th>
            <td>${t.kind}</td><td>${t.environments.join(', ')}</td><td>${when(t.createdAt)} · ${t.createdBy}</td>
            <td>${
              t.id === me.id
                ? html`<span class="sub">this session</span>`
                : revoking === t.id
                  ? html`<button type="button" class="danger" onClick=${() => revoke(t)}>Yes, revoke</button> <button type="button" class="quiet" onClick=${() => setRevoking(null)}>Cancel</button>`
                  : html`<button type="button" class="quiet" onClick=${() => setRevoking(t.id)}>Revoke</button>`
            }</td>
          </tr>`,
        )}
      </tbody>
    </table></div>
  </section>`
}
