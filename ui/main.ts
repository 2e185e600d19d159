/**
 * The admin page: sign in with a token, then flags, segments, environments, audit and tokens, all through the
 * public REST API. Routes live in the URL's fragment (#/flags/new-checkout), so reloading keeps the place and
 * the server only ever serves index.html; the token never goes into the URL.
 */
import { html } from 'htm/preact'
import { render, type VNode } from 'preact'
import { useCallback, useEffect, useState } from 'preact/hooks'
import { ApiError, call, type Environment, get, type Me, session } from './api.js'
import { startLive } from './live.js'
import { AuditPage } from './pages/audit.js'
import { EnvironmentsPage } from './pages/environments.js'
import { FlagPage } from './pages/flag.js'
import { FlagsPage } from './pages/flags.js'
import { SegmentPage, SegmentsPage } from './pages/segments.js'
import { TokensPage } from './pages/tokens.js'
import { type Shared, SharedContext } from './state.js'
import { describeError } from './util.js'

function useRoute(): string[] {
  const parse = () =>
    (location.hash.replace(/^#\/?/, '') || 'flags')
      .split('?')[0]!
      .split('/')
      .map((p) => decodeURIComponent(p))
  const [route, setRoute] = useState(parse)
  useEffect(() => {
    const on = () => setRoute(parse())
    addEventListener('hashchange', on)
    return () => removeEventListener('hashchange', on)
  }, [])
  return route
}

function SignIn({ onSignedIn, error }: { onSignedIn: (secret: string) => void; error: string }) {
  const [secret, setSecret] = useState('')
  return html`<main class="signin">
    <h1>Switchyard</h1>
    <form
      onSubmit=${(e: Event) => {
        e.preventDefault()
        if (secret.trim()) onSignedIn(secret.trim())
      }}
    >
      <label for="token">Token (admin, editor or viewer)</label>
      <input
        id="token"
        name="token"
        type="password"
        autocomplete="off"
        value=${secret}
        onInput=${(e: Event) => setSecret((e.target as HTMLInputElement).value)}
        required
      />
      <button type="submit">Sign in</button>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <p class="hint">The token stays in this tab (sessionStorage) until you sign out or close it.</p>
    </form>
  </main>`
}

const NAV: Array<[string, string, (me: Me) => boolean]> = [
  ['flags', 'Flags', () => true],
  ['segments', 'Segments', () => true],
  ['environments', 'Environments', () => true],
  ['audit', 'Audit', () => true],
  ['tokens', 'Tokens', (me) => me.can.admin],
]

function Shell({ me, envs, onSignOut }: { me: Me; envs: Environment[]; onSignOut: () => void }) {
  const route = useRoute()
  const [env, setEnvState] = useState(() => {
    const saved = sessionStorage.getItem('switchyard.env')
    return envs.find((e) => e.key === saved)?.key ?? envs.find((e) => e.key === 'production')?.key ?? envs[0]?.key ?? ''
  })
  const setEnv = useCallback((e: string) => {
    sessionStorage.setItem('switchyard.env', e)
    setEnvState(e)
  }, [])
  const [tick, setTick] = useState(0)
  const [message, setMessage] = useState('')
  const here = route.join('/')
  // A message belongs to the page it was said on.
  useEffect(() => setMessage(''), [here])
  useEffect(() => startLive(me, envs, () => setTick((t) => t + 1)), [me, envs])
  const shared: Shared = { me, envs, env, setEnv, tick, say: setMessage }
  const [page, a, b] = route
  let body: VNode
  if (page === 'flags' && a) body = html`<${FlagPage} key=${a} flagKey=${a} />`
  else if (page === 'segments' && a && b) body = html`<${SegmentPage} key=${`${a}/${b}`} env=${a} segKey=${b} />`
  else if (page === 'segments') body = html`<${SegmentsPage} />`
  else if (page === 'environments') body = html`<${EnvironmentsPage} />`
  else if (page === 'audit') body = html`<${AuditPage} />`
  else if (page === 'tokens' && me.can.admin) body = html`<${TokensPage} />`
  else body = html`<${FlagsPage} />`
  return html`<${SharedContext.Provider} value=${shared}>
    <a class="skip" href="#main" onClick=${(e: Event) => {
      e.preventDefault()
      document.getElementById('main')?.focus()
    }}>Skip to content</a>
    <header class="top">
      <a class="brand" href="#/flags">Switchyard</a>
      <nav aria-label="Sections">
        ${NAV.filter(([, , show]) => show(me)).map(
          ([id, name]) =>
            html`<a href=${`#/${id}`} aria-current=${page === id || (!page && id === 'flags') ? 'page' : undefined}>${name}</a>`,
        )}
      </nav>
      <label class="env">
        <span>Environment</span>
        <select value=${env} onChange=${(e: Event) => setEnv((e.target as HTMLSelectElement).value)}>
          ${envs.map((e) => html`<option value=${e.key}>${e.name || e.key}</option>`)}
        </select>
      </label>
      <span class="who" title=${`token ${me.id}`}>${me.name} · ${me.kind}</span>
      <button type="button" class="quiet" onClick=${onSignOut}>Sign out</button>
    </header>
    <p class="status" role="status" aria-live="polite">${message}</p>
    <main id="main" tabindex="-1">
      ${envs.length === 0 ? html`<p class="notice">No environment this token may read. An admin creates them (POST /api/v1/environments).</p>` : body}
    </main>
  </${SharedContext.Provider}>`
}

function App() {
  const [me, setMe] = useState<Me | null>(null)
  const [envs, setEnvs] = useState<Environment[]>([])
  const [error, setError] = useState('')
  const [checking, setChecking] = useState(session.token !== null)
  const load = useCallback(async () => {
    try {
      const who = (await call<Me>('GET', '/whoami')).body
      if (who.can.read.length === 0) {
        session.signOut()
        setError(`A ${who.kind} token cannot use this page: sign in with an admin, editor or viewer token.`)
        return
      }
      setEnvs((await get<{ items: Environment[] }>('/environments')).items)
      setMe(who)
      setError('')
    } catch (e) {
      session.signOut()
      setError(
        e instanceof ApiError && e.status === 401 ? 'This token is not valid (or was revoked).' : describeError(e),
      )
    } finally {
      setChecking(false)
    }
  }, [])
  useEffect(() => {
    if (session.token) void load()
  }, [load])
  if (checking) return html`<p class="notice">Signing in…</p>`
  if (!me)
    return html`<${SignIn}
      error=${error}
      onSignedIn=${(secret: string) => {
        session.signIn(secret)
        setChecking(true)
        void load()
      }}
    />`
  return html`<${Shell}
    me=${me}
    envs=${envs}
    onSignOut=${() => {
      session.signOut()
      sessionStorage.removeItem('switchyard.env')
      setMe(null)
      location.hash = ''
    }}
  />`
}

render(html`<${App} />`, document.getElementById('app')!)
