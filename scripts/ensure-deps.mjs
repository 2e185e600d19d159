// Set-up that `npm start` and `npm test` do by themselves on a fresh clone:
// the locked npm dependencies (npm ci), and with --test the system packages
// the suite runs for real (redis-server; chromium for the browser tests;
// promtool and prometheus from `prometheus`, and prometheus-alertmanager,
// for the metrics lint and the release guards),
// installed with apt-get when running as root, or named with the exact
// command otherwise.
import { execSync, spawnSync } from 'node:child_process'
import { accessSync, constants, existsSync, statSync } from 'node:fs'
import { delimiter, join } from 'node:path'

const lock = 'package-lock.json'
const marker = 'node_modules/.package-lock.json'
const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs + 1000)
if (stale) {
  console.error('switchyard: installing dependencies (npm ci)…')
  execSync('npm ci --no-audit --no-fund', { stdio: 'inherit' })
}

function found(bin, extra = []) {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), ...extra]) {
    try {
      accessSync(join(dir, bin), constants.X_OK)
      return true
    } catch {
      // keep looking
    }
  }
  return false
}

if (process.argv.includes('--test')) {
  const missing = []
  if (!found('redis-server', ['/usr/bin', '/usr/sbin'])) missing.push('redis-server')
  if (!existsSync('/usr/bin/chromium')) missing.push('chromium')
  // promtool lints /metrics in the tests; Debian ships it in `prometheus`.
  if (!found('promtool')) missing.push('prometheus')
  // the release guards' tests run a real Alertmanager.
  if (!found('prometheus-alertmanager', ['/usr/bin'])) missing.push('prometheus-alertmanager')
  if (missing.length > 0) {
    const cmd = `apt-get install -y --no-install-recommends ${missing.join(' ')}`
    const root = typeof process.getuid === 'function' && process.getuid() === 0
    if (root && found('apt-get')) {
      console.error(`switchyard: the tests need ${missing.join(' and ')}: installing with apt-get…`)
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
      let r = spawnSync('sh', ['-c', cmd], { stdio: 'inherit', env })
      if (r.status !== 0) r = spawnSync('sh', ['-c', `apt-get update && ${cmd}`], { stdio: 'inherit', env })
      if (r.status !== 0) process.exit(1)
    } else {
      console.error(`switchyard: the tests need ${missing.join(' and ')}. Install with:\n  sudo ${cmd}`)
      process.exit(1)
    }
  }
}
