/** Parses a `switchyard` command line (node:util parseArgs), runs the command, maps every failure to an exit code. */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { Api, ApiError, EXIT, UnreachableError, UsageError } from './api.js'
import {
  type Command,
  COMMANDS as BASE_COMMANDS,
  type OptionSpec,
  type OptionValues,
  parseSeconds,
} from './commands.js'
import { ENVIRONMENT_COMMANDS } from './environments.js'

/** Every command; the environment commands (diff, promote, facts) live in their own module. */
const COMMANDS: Command[] = [...BASE_COMMANDS, ...ENVIRONMENT_COMMANDS]

export interface Io {
  env: Record<string, string | undefined>
  out: (s: string) => void
  err: (s: string) => void
  /** A file's text, or stdin's for "-". */
  readInput: (path: string) => string
}

const GLOBAL: Record<string, OptionSpec & { short?: string }> = {
  url: { type: 'string', arg: 'URL', help: 'the API (default $SWITCHYARD_URL, else http://127.0.0.1:3000)' },
  token: { type: 'string', arg: 'TOKEN', help: 'bearer token (default $SWITCHYARD_TOKEN)' },
  timeout: {
    type: 'string',
    arg: 'SECONDS',
    help: 'give up on an unanswered call (and status --wait) after this long (default 10)',
  },
  json: { type: 'boolean', help: "print the API's JSON instead of tables" },
  help: { type: 'boolean', short: 'h', help: 'this help, or a command’s' },
  version: { type: 'boolean', help: 'the CLI’s version' },
}

const DEFAULT_TIMEOUT_MS = 10_000

const EXIT_HELP = `exit codes: 0 done · 1 refused by the API (its code and message are printed), or status: not applied everywhere yet ·
            2 bad usage · 3 server unreachable or no answer within --timeout (status --wait: not applied in time)`

const usageLine = (c: Command) => `switchyard ${c.name}${c.args ? ` ${c.args}` : ''}${c.options ? ' [options]' : ''}`

function optionLines(opts: Record<string, OptionSpec & { short?: string }>): string[] {
  const rows = Object.entries(opts).map(([k, o]) => [
    `${o.short ? `-${o.short}, ` : ''}--${k}${o.arg ? ` ${o.arg}` : ''}`,
    o.help,
  ])
  const w = Math.max(...rows.map((r) => r[0]!.length))
  return rows.map(([a, b]) => `  ${a!.padEnd(w)}  ${b}`)
}

function toolHelp(): string {
  const rows = COMMANDS.map((c) => [`${c.name}${c.args ? ` ${c.args}` : ''}`, c.summary])
  const w = Math.max(...rows.map((r) => r[0]!.length))
  return [
    'usage: switchyard <command> [options]     (switchyard <command> --help for its options)',
    '',
    'commands:',
    ...rows.map(([a, b]) => `  ${a!.padEnd(w)}  ${b}`),
    '',
    'options of every command:',
    ...optionLines(GLOBAL),
    '',
    EXIT_HELP,
  ].join('\n')
}

function commandHelp(c: Command): string {
  return [
    `usage: ${usageLine(c)}`,
    '',
    `${c.summary}.`,
    ...(c.details ? [c.details] : []),
    ...(c.options ? ['', 'options:', ...optionLines(c.options)] : []),
    '',
    'and: --url URL, --token TOKEN, --timeout SECONDS, --json, --help (switchyard --help)',
  ].join('\n')
}

function groupHelp(group: string): string {
  return [
    `usage: switchyard ${group} <${COMMANDS.filter((c) => c.name.startsWith(`${group} `))
      .map((c) => c.name.split(' ')[1])
      .join('|')}> …`,
    '',
    ...COMMANDS.filter((c) => c.name.startsWith(`${group} `)).map((c) => `  ${usageLine(c)}\n      ${c.summary}`),
  ].join('\n')
}

/** The version of the package this file belongs to (src/cli/ under tsx, dist/src/cli/ when built). */
function version(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'switchyard' && pkg.version) return pkg.version
    } catch {
      // Not at this level: try the next.
    }
  }
  return 'unknown'
}

type ParseConfig = NonNullable<Parameters<typeof parseArgs>[0]>['options']
const toParseOptions = (o: Record<string, OptionSpec & { short?: string }>): ParseConfig =>
  Object.fromEntries(
    Object.entries(o).map(([k, v]) => [
      k,
      { type: v.type, ...(v.multiple && { multiple: true }), ...(v.short && { short: v.short }) },
    ]),
  )

/** Runs one command line; returns the exit code. Never throws. */
export async function run(argv: string[], io: Io): Promise<number> {
  let command: Command | undefined
  try {
    // First pass, lenient: only to find the command words (options may come before or after them).
    const loose = parseArgs({ args: argv, options: toParseOptions(GLOBAL), strict: false, allowPositionals: true })
    const words = loose.positionals
    const group = words[0]
    command = COMMANDS.find((c) => c.name === words.slice(0, c.name.split(' ').length).join(' '))
    if (!command) {
      if (loose.values.version === true && group === undefined) {
        io.out(`switchyard ${version()}`)
        return EXIT.OK
      }
      if (group === undefined) {
        if (loose.values.help === true) {
          io.out(toolHelp())
          return EXIT.OK
        }
        throw new UsageError('no command')
      }
      if (COMMANDS.some((c) => c.name.startsWith(`${group} `))) {
        if (loose.values.help === true && words.length === 1) {
          io.out(groupHelp(group))
          return EXIT.OK
        }
        throw new UsageError(
          words[1] === undefined ? `${group} needs a subcommand` : `unknown command "${group} ${words[1]}"`,
          group,
        )
      }
      throw new UsageError(`unknown command "${group}"`)
    }
    const parsed = parseArgs({
      args: argv,
      options: toParseOptions({ ...GLOBAL, ...command.options }),
      strict: true,
      allowPositionals: true,
    })
    const values = parsed.values as OptionValues
    if (values.help === true) {
      io.out(commandHelp(command))
      return EXIT.OK
    }
    if (values.version === true) {
      io.out(`switchyard ${version()}`)
      return EXIT.OK
    }
    const args = parsed.positionals.slice(command.name.split(' ').length)
    const [min, max] = command.positionals
    if (args.length < min || args.length > max)
      throw new UsageError(
        `${command.name} takes ${command.args || 'no arguments'}${args.length > max ? `; unexpected "${args[max]}"` : ''}`,
      )
    const timeout = typeof values.timeout === 'string' ? parseSeconds(values.timeout, '--timeout') : DEFAULT_TIMEOUT_MS
    const url = (
      typeof values.url === 'string' ? values.url : io.env.SWITCHYARD_URL || 'http://127.0.0.1:3000'
    ).replace(/\/+$/, '')
    if (!/^https?:\/\/[^/]/.test(url))
      throw new UsageError(`the API URL must start with http:// or https://, not "${url}" (--url or SWITCHYARD_URL)`)
    const token = typeof values.token === 'string' ? values.token : io.env.SWITCHYARD_TOKEN || undefined
    return await command.run({
      api: new Api(url, token, timeout),
      args,
      opts: values,
      json: values.json === true,
      out: io.out,
      err: io.err,
      readInput: io.readInput,
    })
  } catch (e) {
    if (e instanceof UsageError || isParseArgsError(e)) {
      const c = e instanceof UsageError && e.command ? COMMANDS.find((x) => x.name === e.command) : command
      const group = e instanceof UsageError && e.command && !c ? e.command : undefined
      io.err(`switchyard: ${(e as Error).message}\n${c ? commandHelp(c) : group ? groupHelp(group) : toolHelp()}`)
      return EXIT.USAGE
    }
    if (e instanceof ApiError) {
      io.err(`switchyard: ${e.status} ${e.code}: ${e.message}${detailsLine(e.message, e.details)}`)
      return EXIT.REFUSED
    }
    if (e instanceof UnreachableError) {
      io.err(`switchyard: ${e.message}`)
      return EXIT.UNREACHABLE
    }
    // A bug of the CLI: say so plainly rather than look like a refusal.
    io.err(`switchyard: unexpected error: ${(e as Error).stack ?? String(e)}`)
    return EXIT.REFUSED
  }
}

function isParseArgsError(e: unknown): e is Error {
  const code = (e as { code?: unknown }).code
  return e instanceof Error && typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')
}

/** Validation problems the message does not already name (it summarises the first three), or the current version of a conflict. */
function detailsLine(message: string, details: unknown): string {
  if (Array.isArray(details)) {
    return details
      .map((d) => {
        const x = d as { path?: unknown; message?: unknown }
        if (typeof x.message !== 'string') return ''
        const path = typeof x.path === 'string' ? x.path : ''
        return message.includes(`${path || '/'} ${x.message}`) ? '' : `\n  ${path ? `${path}: ` : ''}${x.message}`
      })
      .join('')
  }
  const cur = (details as { currentVersion?: unknown } | null | undefined)?.currentVersion
  return typeof cur === 'number' && !message.includes(String(cur)) ? ` (current version: ${cur})` : ''
}
