/**
 * The operator CLI in process, through run(), against a test server: what it printed on stdout and stderr
 * and its exit code. Files the command reads (`release start plan.json`) come from `files` first, then
 * from disk (a path that exists in neither fails as the CLI would).
 */
import { readFileSync } from 'node:fs'
import { run } from '../../src/cli/run.js'
import { ADMIN } from './server.js'

export interface CliResult {
  code: number
  out: string
  err: string
}

/** A CLI bound to `s`: the admin token unless `token` says otherwise (null: none). */
export function cliFor(s: { url: string }, files: Record<string, string> = {}) {
  return async (argv: string[], o: { token?: string | null; url?: string } = {}): Promise<CliResult> => {
    const out: string[] = []
    const err: string[] = []
    const token = o.token === undefined ? ADMIN : o.token
    const code = await run(argv, {
      env: { SWITCHYARD_URL: o.url ?? s.url, ...(token !== null && { SWITCHYARD_TOKEN: token }) },
      out: (x) => out.push(x),
      err: (x) => err.push(x),
      readInput: (p) => files[p] ?? readFileSync(p, 'utf8'),
    })
    return { code, out: out.join('\n'), err: err.join('\n') }
  }
}
