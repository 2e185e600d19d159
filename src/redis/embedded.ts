import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { accessSync, constants, mkdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { delimiter, isAbsolute, join, resolve } from 'node:path'
import { isAlive, REDIS_PID_FILE, redisOwningDir } from './datadir.js'
import { exponentialDelay } from '../../sdk/transport/backoff.js'

/** How the embedded (or test) redis-server is run. */
export interface EmbeddedRedisOptions {
  /** Binary name or path. */
  bin: string
  /** Data directory (AOF files). */
  dir: string
  /** 0 picks a free port. */
  port: number
  /** AOF with fsync on every write: nothing acknowledged is lost. Tests may turn it off. */
  appendOnly: boolean
  /** Restart the server when it dies unexpectedly. */
  supervise: boolean
  /** Install Debian's redis-server when the binary is missing and we can (root + apt-get). */
  install: boolean
  /** More redis-server arguments (tests: `--replicaof`, `--sentinel`). */
  extraArgs?: string[]
  log?: (msg: string) => void
}

export class RedisMissingError extends Error {
  constructor(bin: string, why: string) {
    super(
      `redis-server ("${bin}") was not found${why ? ` (${why})` : ''}.\n` +
        'Install it with:  sudo apt-get install -y redis-server\n' +
        'or point Switchyard at an existing Redis with REDIS_URL=redis://host:6379 (or set REDIS_SERVER_BIN to the binary).',
    )
    this.name = 'RedisMissingError'
  }
}

/** Full path of an executable, searching PATH, or null. */
export function findExecutable(bin: string): string | null {
  const candidates =
    isAbsolute(bin) || bin.includes('/')
      ? [resolve(bin)]
      : (process.env.PATH ?? '').split(delimiter).map((d) => join(d, bin))
  for (const c of [
    ...candidates,
    ...(bin === 'redis-server' ? ['/usr/bin/redis-server', '/usr/sbin/redis-server'] : []),
  ]) {
    try {
      accessSync(c, constants.X_OK)
      return c
    } catch {
      // keep looking
    }
  }
  return null
}

/** Installs Debian's redis-server when running as root with apt-get; returns why not otherwise. */
function tryInstall(log: (m: string) => void): string {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0)
    return 'not root, so it cannot be installed automatically'
  if (!findExecutable('apt-get')) return 'apt-get is not available'
  log("redis-server is missing: installing Debian's redis-server with apt-get…")
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  let r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'redis-server'], { stdio: 'inherit', env })
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env })
    r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'redis-server'], { stdio: 'inherit', env })
  }
  return r.status === 0 ? '' : 'apt-get install redis-server failed'
}

/** The last meaningful line of redis-server's output, without its pid/time prefix (why it stopped). */
function lastLogLine(out: string): string {
  const lines = out
    .split('\n')
    .map((l) => l.replace(/^\d+:[A-Z] \d+ \w+ \d+ [\d:.]+ [#*.-] /, '').trim())
    .filter((l) => l !== '')
  return (
    lines.findLast((l) => /error|could not|can't|fatal|failed|denied|address already in use/i.test(l)) ??
    lines.at(-1) ??
    '(no output)'
  )
}

/** A port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', rej)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => res(port))
    })
  })
}

/**
 * A local redis-server child process on 127.0.0.1: started, supervised
 * (restarted with backoff if it dies), and stopped on shutdown.
 */
export class EmbeddedRedis {
  port = 0
  private child: ChildProcess | null = null
  private stopping = false
  private restarts = 0
  private readonly log: (m: string) => void
  private binPath = ''

  constructor(private readonly opts: EmbeddedRedisOptions) {
    this.log = opts.log ?? (() => {})
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  /** PID of the running redis-server (fault tests SIGSTOP it), or null. */
  get pid(): number | null {
    return this.child?.pid ?? null
  }

  async start(): Promise<void> {
    let bin = findExecutable(this.opts.bin)
    if (!bin) {
      const why = this.opts.install ? tryInstall(this.log) : 'automatic install disabled'
      bin = findExecutable(this.opts.bin)
      if (!bin) throw new RedisMissingError(this.opts.bin, why)
    }
    this.binPath = bin
    mkdirSync(this.opts.dir, { recursive: true })
    await this.stopOrphan()
    this.stopping = false
    for (let attempt = 0; ; attempt++) {
      this.port = this.opts.port || this.port || (await freePort())
      try {
        await this.spawnOnce()
        return
      } catch (e) {
        // The free port may have been taken between probing and binding.
        if (this.opts.port || attempt >= 4) throw e
        this.port = 0
      }
    }
  }

  /**
   * A redis-server still working in our directory belongs to an API process
   * that died without stopping it (the caller holds the DATA_DIR lock, so no
   * live one owns it): stop it before starting ours, never run two on one AOF.
   */
  private async stopOrphan(): Promise<void> {
    const pid = redisOwningDir(this.opts.dir)
    if (pid === null) return
    this.log(`stopping an orphaned redis-server (pid ${pid}) left in ${this.opts.dir} by an earlier run`)
    process.kill(pid, 'SIGTERM')
    const deadline = Date.now() + 10_000
    // Not our child: no exit event to wait for, so watch the PID.
    while (isAlive(pid)) {
      if (Date.now() > deadline) {
        process.kill(pid, 'SIGKILL')
        break
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  private spawnOnce(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      resolve(this.opts.dir),
      '--pidfile',
      resolve(this.opts.dir, REDIS_PID_FILE),
      '--save',
      '',
      '--daemonize',
      'no',
      '--protected-mode',
      'yes',
      '--logfile',
      '',
      '--appendonly',
      this.opts.appendOnly ? 'yes' : 'no',
      ...(this.opts.appendOnly ? ['--appendfsync', 'always'] : []),
      ...(this.opts.extraArgs ?? []),
    ]
    // Linux: the kernel sends redis-server SIGTERM when this process dies, even by SIGKILL (prctl
    // PR_SET_PDEATHSIG, through util-linux's setpriv, which then execs redis-server: same PID).
    const setpriv = process.platform === 'linux' ? findExecutable('setpriv') : null
    const child = setpriv
      ? spawn(setpriv, ['--pdeathsig', 'SIGTERM', '--', this.binPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(this.binPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    return new Promise<void>((res, rej) => {
      let out = ''
      let ready = false
      const onData = (b: Buffer) => {
        if (ready) return
        out += b.toString()
        if (out.includes('Ready to accept connections')) {
          ready = true
          res()
        }
      }
      child.stdout?.on('data', onData)
      child.stderr?.on('data', onData)
      child.once('error', (e) => {
        if (!ready) rej(e)
      })
      child.once('exit', (code, signal) => {
        if (this.child === child) this.child = null
        if (!ready) {
          rej(new Error(`redis-server exited (${code ?? signal}) before it was ready: ${lastLogLine(out)}`))
          return
        }
        if (!this.stopping && this.opts.supervise) this.restart(code, signal)
      })
    })
  }

  private restart(code: number | null, signal: string | null): void {
    // 250 ms, 500 ms, … capped at 30 s.
    const delay = exponentialDelay(this.restarts++, 250, 30_000)
    this.log(`embedded redis-server exited (${code ?? signal}); restarting in ${delay} ms`)
    setTimeout(() => {
      if (this.stopping) return
      this.spawnOnce().then(
        () => {
          this.restarts = 0
          this.log(`embedded redis-server restarted on port ${this.port}`)
        },
        (e: Error) => {
          this.log(`embedded redis-server failed to restart: ${e.message}`)
          if (!this.stopping) this.restart(null, null)
        },
      )
    }, delay).unref()
  }

  /** Kills the server abruptly (fault tests); a supervised server comes back. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child
    if (!child) return Promise.resolve()
    return new Promise((res) => {
      child.once('exit', () => res())
      child.kill(signal)
    })
  }

  /** Stops the server (SIGTERM: it flushes the AOF) and waits for it to exit. */
  async stop(): Promise<void> {
    this.stopping = true
    const child = this.child
    if (!child) return
    await new Promise<void>((res) => {
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000)
      child.once('exit', () => {
        clearTimeout(t)
        res()
      })
      child.kill('SIGTERM')
    })
  }
}
