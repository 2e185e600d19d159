// Runs after `tap` has failed (`tap || node scripts/test-failures.mjs`): a
// full run prints thousands of lines, and a CI log is often read from its
// end. This prints, last, every failed assertion of the run with its file and
// its YAML diagnostic, read from tap's own per-file results in
// .tap/test-results/, and exits 1 so the test command still fails.
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = '.tap/test-results'

function files(dir) {
  let out = []
  let entries = []
  try {
    entries = readdirSync(dir, { withFileTypes: true })
  } catch {
    return out
  }
  for (const entry of entries) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out = out.concat(files(path))
    else if (entry.name.endsWith('.tap')) out.push(path)
  }
  return out
}

// A failed assertion is a `not ok` line; its diagnostic is the indented YAML
// block (`---` … `...`) right after it. Subtests that failed only because a
// child failed are listed too, so the path to the assertion is readable.
function failures(text) {
  const lines = text.split('\n')
  const out = []
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*not ok /.test(lines[i])) continue
    const block = [lines[i]]
    if (/^\s*---\s*$/.test(lines[i + 1] ?? '')) {
      for (let j = i + 1; j < lines.length && j < i + 40; j++) {
        block.push(lines[j])
        if (/^\s*\.\.\.\s*$/.test(lines[j])) break
      }
    }
    out.push(block.join('\n'))
  }
  return out
}

let count = 0
for (const path of files(root).sort()) {
  const found = failures(readFileSync(path, 'utf8'))
  if (found.length === 0) continue
  count += found.length
  console.log(`\n# failed in ${relative(root, path).replace(/\.tap$/, '')}`)
  for (const block of found) console.log(block)
}
console.log(
  count === 0
    ? '\n# tap failed, but no failed assertion was recorded (a crash or a timeout before any result?)'
    : `\n# ${count} failed line(s) above`,
)
process.exit(1)
