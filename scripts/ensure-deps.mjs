// Installs the locked dependencies on a fresh clone, so `npm start` and
// `npm test` are each one command. A no-op once node_modules matches the lock.
import { existsSync, statSync } from 'node:fs'
import { execSync } from 'node:child_process'

const lock = 'package-lock.json'
const marker = 'node_modules/.package-lock.json'
const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs + 1000)
if (stale) {
  console.error('switchyard: installing dependencies (npm ci)…')
  execSync('npm ci --no-audit --no-fund', { stdio: 'inherit' })
}
