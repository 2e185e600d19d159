// Alertmanager webhook → Switchyard kill switch. Each firing alert labelled
// switchyard_env + switchyard_flag becomes POST /api/v1/environments/:env/flags/:flag/kill.
// Resolved alerts are ignored: turning a flag back on stays a human decision.
import { createServer } from 'node:http'

const { SWITCHYARD_URL = 'http://127.0.0.1:3000', SWITCHYARD_TOKEN, WEBHOOK_TOKEN, HOST = '127.0.0.1', PORT = '9095' } = process.env
if (!SWITCHYARD_TOKEN) { console.error('kill-webhook: set SWITCHYARD_TOKEN (an editor token)'); process.exit(2) }
const KEY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/ // never let a label build another URL path

async function kill(env, flag, reason) {
  const url = `${SWITCHYARD_URL.replace(/\/$/, '')}/api/v1/environments/${env}/flags/${flag}/kill`
  const res = await fetch(url, {
    method: 'POST', signal: AbortSignal.timeout(10_000),
    headers: { authorization: `Bearer ${SWITCHYARD_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ reason: reason.slice(0, 1000) }),
  })
  console.log(`kill-webhook: ${env}/${flag} → ${res.status} ${res.ok ? '' : await res.text()}`)
  return res.status
}

async function handle(req, res) {
  const reply = (code, text) => res.writeHead(code, { 'content-type': 'text/plain' }).end(`${text}\n`)
  if (req.method !== 'POST' || req.url !== '/alerts') return reply(404, 'POST /alerts')
  if (WEBHOOK_TOKEN && req.headers.authorization !== `Bearer ${WEBHOOK_TOKEN}`) return reply(401, 'unauthorized')
  let body = ''
  for await (const chunk of req) if ((body += chunk).length > 1_048_576) return reply(413, 'too large')
  let alerts
  try { alerts = JSON.parse(body).alerts } catch { return reply(400, 'invalid JSON') }
  if (!Array.isArray(alerts)) return reply(400, 'no alerts array')
  const todo = new Map() // one kill per env/flag, whatever the number of alerts
  for (const a of alerts) {
    const { switchyard_env: env, switchyard_flag: flag, alertname = 'alert' } = a?.labels ?? {}
    if (a?.status !== 'firing' || !KEY.test(env ?? '') || !KEY.test(flag ?? '') || todo.has(`${env}/${flag}`)) continue
    todo.set(`${env}/${flag}`, [env, flag, `Alertmanager: ${alertname}${a.annotations?.summary ? ` — ${a.annotations.summary}` : ''}`])
  }
  const done = await Promise.all([...todo].map(([name, t]) => kill(...t).catch((e) => (console.error(`kill-webhook: ${name}: ${e.message}`), 0))
    .then((status) => ({ name, status }))))
  // Retry (5xx to Alertmanager) only what may succeed later: network errors and 5xx. A 4xx
  // (unknown flag, bad token) will not; killing an already-off flag again is harmless.
  reply(done.some((d) => d.status === 0 || d.status >= 500) ? 502 : 200, done.map((d) => `${d.name} ${d.status || 'unreachable'}`).join('\n') || 'nothing to kill')
}

createServer((req, res) => handle(req, res).catch((e) => { console.error(`kill-webhook: ${e.message}`); res.destroy() }))
  .listen(Number(PORT), HOST, () => console.log(`kill-webhook: listening on ${HOST}:${PORT}, killing via ${SWITCHYARD_URL}`))
