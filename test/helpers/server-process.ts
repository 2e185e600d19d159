/** The real server process (src/server.ts through tsx) for the end-to-end tests, and a port probe. */
import { type ChildProcess, spawn } from 'node:child_process'
import { connect } from 'node:net'

const root = new URL('../../', import.meta.url).pathname

export interface Proc {
  child: ChildProcess
  output: () => string
  /** Resolves with the first match of `re` in stdout+stderr, or rejects after `ms`. */
  waitFor: (re: RegExp, ms?: number) => Promise<RegExpMatchArray>
  exited: Promise<number | null>
}

export function start(env: Record<string, string>): Proc {
  return spawnProc(process.execPath, ['--import=tsx', 'src/server.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', PORT: '0', LOG_LEVEL: 'info', ...env },
  })
}

/** Any long-running process (the examples, …) with the same output capture and waits as {@link start}. */
export function spawnProc(command: string, args: string[], opts: { cwd: string; env: Record<string, string> }): Proc {
  const child = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const waiters: Array<() => void> = []
  const onData = (b: Buffer) => {
    out += b.toString()
    for (const w of waiters.splice(0)) w()
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)))
  const waitFor = (re: RegExp, ms = 30_000) =>
    new Promise<RegExpMatchArray>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`timed out waiting for ${re}; output:\n${out}`)), ms)
      const check = () => {
        const m = out.match(re)
        if (m) {
          clearTimeout(timer)
          res(m)
        } else waiters.push(check)
      }
      check()
      void exited.then(() => {
        const m = out.match(re)
        if (!m) {
          clearTimeout(timer)
          rej(new Error(`exited before ${re}; output:\n${out}`))
        }
      })
    })
  return { child, output: () => out, waitFor, exited }
}

export function portOpen(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => {
      s.destroy()
      res(true)
    })
    s.once('error', () => res(false))
  })
}

export const listening = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/
export const embeddedPort = /embedded redis-server on redis:\/\/127\.0\.0\.1:(\d+)/
