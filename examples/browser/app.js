// The page: asks its backend for the signed context, then lets the browser SDK fetch this user's
// values of client-side flags (never rules or other users' ids) and follow their changes live.
import { createClient, localStorageStorage } from '/switchyard.browser.js'

const user = new URLSearchParams(location.search).get('user') ?? 'user-1'
const session = await (await fetch(`/session?user=${encodeURIComponent(user)}`)).json()

const flags = createClient({
  url: session.url,
  token: session.token, // an sdk-client token: public by design
  context: session.context,
  signature: session.signature,
  storage: localStorageStorage(`switchyard:${user}`), // last-known-good for the next visit
})

function render() {
  document.querySelector('#checkout').textContent = flags.isEnabled('new-checkout')
    ? 'new checkout'
    : 'classic checkout'
  document.querySelector('#source').textContent = flags.source ?? 'defaults'
}
flags.on('change', render)
await flags.ready({ timeoutMs: 5000 }).catch((e) => console.warn(`flags not ready (${e.code}): defaults meanwhile`))
render()
