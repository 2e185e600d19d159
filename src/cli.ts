#!/usr/bin/env node
/**
 * `switchyard` — the few REST calls an operator needs at 06:30, from a shell.
 * A thin client of the REST API (no Redis access): SWITCHYARD_URL and
 * SWITCHYARD_TOKEN say where and as whom. Exit 0 on success, 1 when the API
 * refuses (its error code and message are printed), 2 on bad usage.
 */
import { readFileSync } from 'node:fs'

const USAGE = `usage: switchyard <command> …   (env: SWITCHYARD_URL, SWITCHYARD_TOKEN)
  kill <env> <flag> [--reason TEXT]             turn a flag off now, whatever its version
  toggle <env> <flag> on|off [--reason TEXT]    turn a flag on or off
  get <env> <flag>                              a flag's configuration in an environment
  members <env> <segment> add|remove <file|->   membership delta, one id per line (sent 100,000 per call)
  audit [--env E] [--flag F] [--limit N]        audit records, newest first
  status <env> [changeId]                       which server SDK instances applied a change (default: the latest); exit 1 while any is pending`

const MEMBERS_PER_CALL = 100_000

class UsageError extends Error {}

interface Io {
  env: Record<string, string | undefined>
  out: (s: string) => void
  err: (s: string) => void
  readInput: (path: string) => string
}

function options(args: string[], allowed: string[]): { rest: string[]; opts: Record<string, string> } {
  const rest: string[] = []
  const opts: Record<string, string> = {}
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string
    if (a.startsWith('--')) {
      const name = a.slice(2)
      if (!allowed.includes(name) || i + 1 >= args.length) throw new UsageError(`unknown or incomplete option ${a}`)
      opts[name] = args[++i] as string
    } else rest.push(a)
  }
  return { rest, opts }
}

/** Runs one command; returns the exit code. */
export async function run(argv: string[], io: Io): Promise<number> {
  const base = (io.env.SWITCHYARD_URL ?? 'http://127.0.0.1:3000').replace(/\/+$/, '')
  const token = io.env.SWITCHYARD_TOKEN
  const call = async (method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<unknown> => {
    const headers: Record<string, string> = {}
    if (token) headers.authorization = `Bearer ${token}`
    if (body !== undefined) headers['content-type'] = contentType
    const res = await fetch(base + path, {
      method,
      headers,
      ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    })
    const text = await res.text()
    const parsed: unknown = text ? JSON.parse(text) : null
    if (!res.ok) {
      const e = parsed as { code?: string; message?: string }
      throw new Error(`${res.status} ${e?.code ?? ''}: ${e?.message ?? text}`)
    }
    return parsed
  }
  const p = (s: string) => encodeURIComponent(s)
  const print = (v: unknown) => io.out(JSON.stringify(v, null, 2))
  try {
    const [cmd, ...args] = argv
    switch (cmd) {
      case 'kill': {
        const { rest, opts } = options(args, ['reason'])
        if (rest.length !== 2) throw new UsageError('kill <env> <flag>')
        const f = (await call('POST', `/api/v1/environments/${p(rest[0]!)}/flags/${p(rest[1]!)}/kill`, { ...(opts.reason && { reason: opts.reason }) })) as { version: number }
        io.out(`killed ${rest[1]} in ${rest[0]} (version ${f.version})`)
        return 0
      }
      case 'toggle': {
        const { rest, opts } = options(args, ['reason'])
        if (rest.length !== 3 || !['on', 'off'].includes(rest[2]!)) throw new UsageError('toggle <env> <flag> on|off')
        const f = (await call('POST', `/api/v1/environments/${p(rest[0]!)}/flags/${p(rest[1]!)}/toggle`, { on: rest[2] === 'on', ...(opts.reason && { reason: opts.reason }) })) as { version: number }
        io.out(`${rest[1]} is ${rest[2]} in ${rest[0]} (version ${f.version})`)
        return 0
      }
      case 'get': {
        if (args.length !== 2) throw new UsageError('get <env> <flag>')
        print(await call('GET', `/api/v1/environments/${p(args[0]!)}/flags/${p(args[1]!)}`))
        return 0
      }
      case 'members': {
        if (args.length !== 4 || !['add', 'remove'].includes(args[2]!)) throw new UsageError('members <env> <segment> add|remove <file|->')
        const ids = io.readInput(args[3]!).split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '')
        let last: unknown = null
        for (let i = 0; i < ids.length; i += MEMBERS_PER_CALL) {
          const chunk = ids.slice(i, i + MEMBERS_PER_CALL).join('\n')
          last = await call('POST', `/api/v1/environments/${p(args[0]!)}/segments/${p(args[1]!)}/members?op=${args[2]}`, chunk, 'text/plain')
        }
        const r = last as { count?: number } | null
        io.out(`${args[2] === 'add' ? 'added' : 'removed'} ${ids.length} ids; ${args[1]} now has ${r?.count ?? 'unchanged'} members`)
        return 0
      }
      case 'audit': {
        const { rest, opts } = options(args, ['env', 'flag', 'limit'])
        if (rest.length !== 0) throw new UsageError('audit [--env E] [--flag F] [--limit N]')
        const q = new URLSearchParams(opts).toString()
        const r = (await call('GET', `/api/v1/audit${q ? `?${q}` : ''}`)) as { items: Array<Record<string, unknown>> }
        for (const a of r.items) {
          const target = a.target as { key: string }
          const versions = a.toVersion !== undefined && a.toVersion !== null ? ` v${String(a.fromVersion ?? '∅')}→v${String(a.toVersion)}` : ''
          io.out(`${String(a.at)}  ${String(a.actor)}  ${String(a.action)}  ${String(a.env ?? '-')}/${target.key}${versions}${a.reason ? `  "${String(a.reason)}"` : ''}`)
        }
        return 0
      }
      case 'status': {
        if (args.length < 1 || args.length > 2) throw new UsageError('status <env> [changeId]')
        const q = args[1] ? `?changeId=${p(args[1])}` : ''
        const r = (await call('GET', `/api/v1/environments/${p(args[0]!)}/sdk-status${q}`)) as {
          changeId: string; total: number; applied: number; pending: string[]; capped?: boolean; clients?: { total: number; applied: number }
        }
        io.out(`change ${r.changeId}: applied by ${r.applied} of ${r.total} server SDK instances${r.pending.length ? `; pending: ${r.pending.join(', ')}` : ''}`)
        if (r.capped) io.out('more server SDK instances report than are tracked (SDK_MAX_SERVER_INSTANCES): the others are unknown')
        if (r.clients && r.clients.total > 0) io.out(`browsers: ${r.clients.applied} of ${r.clients.total} applied it (not part of the exit code: their token is public)`)
        // The exit code is the proof: every tracked server SDK has the change, and none is untracked.
        return r.pending.length === 0 && !r.capped ? 0 : 1
      }
      default:
        throw new UsageError(cmd ? `unknown command "${cmd}"` : 'no command')
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`${e.message}\n${USAGE}`)
      return 2
    }
    const err = e as Error & { cause?: { code?: string; errors?: Array<{ code?: string }> } }
    if (err instanceof TypeError && err.message === 'fetch failed') {
      const code = err.cause?.code ?? err.cause?.errors?.[0]?.code ?? 'network error'
      io.err(`switchyard: cannot reach ${base} (${code}); set SWITCHYARD_URL`)
    } else io.err(`switchyard: ${err.message}`)
    return 1
  }
}

// Entry point when run as a program (not when imported by tests).
if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/cli.js')) {
  run(process.argv.slice(2), {
    env: process.env,
    out: (s) => console.log(s),
    err: (s) => console.error(s),
    readInput: (path) => readFileSync(path === '-' ? 0 : path, 'utf8'),
  }).then((code) => process.exit(code))
}
