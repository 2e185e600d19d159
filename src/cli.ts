#!/usr/bin/env node
/**
 * `switchyard` — the operator CLI (commands in src/cli/commands.ts, docs in the README).
 *
 * This file is only the entry point and runs unconditionally: no "am I the main module?" check. Such a
 * check compared process.argv[1] (npm's bin symlink, e.g. node_modules/.bin/switchyard) with
 * import.meta.url (the resolved cli.js), never matched through npx or a global install, and the CLI
 * exited 0 having done nothing. Tests import src/cli/run.ts instead.
 */
import { readFileSync } from 'node:fs'
import { run } from './cli/run.js'

process.exitCode = await run(process.argv.slice(2), {
  env: process.env,
  out: (s) => process.stdout.write(`${s}\n`),
  err: (s) => process.stderr.write(`${s}\n`),
  readInput: (path) => readFileSync(path === '-' ? 0 : path, 'utf8'),
})
