import { existsSync, readFileSync } from 'node:fs'
import t from 'tap'
import { ISSUE, ISSUES } from '../../sdk/core/index.js'
import { ConfigSchema } from '../../src/config.js'
import { ERRORS } from '../../src/errors.js'

const read = (file: string): string => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8')
const readme = read('README.md')

/** Rows `| \`NAME\` | second | …` of the markdown table under a heading (of the README unless told). */
function table(heading: string, text = readme): Map<string, string> {
  const start = text.indexOf(heading)
  if (start < 0) return new Map()
  const rest = text.slice(start + heading.length)
  const end = rest.search(/\n#{2,3} /)
  const section = end < 0 ? rest : rest.slice(0, end)
  const rows = new Map<string, string>()
  for (const m of section.matchAll(/^\| `([A-Z_]+)` \| ([^|]+) \|/gm)) rows.set(m[1] as string, (m[2] as string).trim())
  return rows
}

t.test('README configuration table matches the config schema', async (t) => {
  const rows = table('## Configuration')
  const schema = ConfigSchema.properties as Record<string, { default?: unknown; description?: string }>
  t.same([...rows.keys()].sort(), Object.keys(schema).sort(), 'same variables')
  for (const [name, s] of Object.entries(schema)) {
    t.ok(s.description, `${name} has a description`)
    const want = s.default === undefined ? '—' : `\`${String(s.default)}\``
    t.equal(rows.get(name), want, `${name} default`)
  }
})

t.test('README error table matches the error catalogue', async (t) => {
  const rows = table('### Errors')
  t.same([...rows.keys()].sort(), Object.keys(ERRORS).sort(), 'same codes')
  for (const [code, e] of Object.entries(ERRORS)) t.equal(rows.get(code), String(e.status), `${code} status`)
})

t.test('docs/rules.md issue table, the ISSUES catalogue and the codes the validator emits agree', async (t) => {
  const rows = table('## Validation', read('docs/rules.md'))
  t.ok(rows.size > 20, 'the table is found')
  t.same([...rows.keys()].sort(), Object.keys(ISSUES).sort(), 'the same codes in the docs and in the catalogue')
  for (const [code, when] of Object.entries(ISSUES))
    t.equal(rows.get(code), when, `${code}: the docs say what the catalogue says`)
  t.same(
    Object.entries(ISSUE),
    Object.keys(ISSUES).map((k) => [k, k]),
    'ISSUE names exactly the catalogue codes',
  )
  // The types make every emitted code a catalogue code (ValidationIssue.code is an IssueCode);
  // this is the other direction: no catalogue code that the validator never emits.
  const source = read('sdk/core/validate.ts')
  const emitted = new Set(
    [...source.matchAll(/\bpush\(\s*out,\s*[^,]+,\s*ISSUE\.([A-Z_]+)/g)].map((m) => m[1] as string),
  )
  t.same(
    [...emitted].sort(),
    Object.keys(ISSUES).sort(),
    'every catalogue code is emitted by sdk/core/validate.ts, and only those',
  )
})

t.test('ARCHITECTURE.md names only files, functions and tests that exist', async (t) => {
  const arch = read('ARCHITECTURE.md')
  const root = new URL('../../', import.meta.url)
  const spans = [...arch.matchAll(/`([^`\n]+)`/g)].map((m) => m[1] as string)
  // `path`, `path:name` (a function, class or method named in that file), or a folder ending in `/`.
  const refs = spans
    .map((s) => /^((?:src|sdk|test|docs|deploy|examples)\/[\w./-]*)(?::(\w+))?$/.exec(s))
    .filter((m) => m !== null)
  t.ok(refs.length > 60, `${refs.length} references found`)
  for (const [, path, name] of refs as RegExpExecArray[]) {
    t.ok(existsSync(new URL(path as string, root)), `${path} exists`)
    if (name !== undefined) t.match(read(path as string), new RegExp(`\\b${name}\\b`), `${path} has ${name}`)
  }
  for (const [, target] of arch.matchAll(/\]\(([^)#]+)\)/g))
    t.ok(existsSync(new URL(target as string, root)), `link ${target} resolves`)
  // The import rules' table quotes test names of test/unit/imports.test.ts (up to an ellipsis).
  const importsTest = read('test/unit/imports.test.ts')
  const layers = arch.slice(arch.indexOf('## Layers'), arch.indexOf('## What each folder owns'))
  const quoted = [...layers.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => (m[1] as string).replace(/\s*\(?…\)?$/, ''))
  t.ok(quoted.length >= 8, 'the import-rules table is found')
  for (const name of quoted) t.ok(importsTest.includes(`'${name}`), `imports.test.ts has a test "${name}"`)
  for (const doc of ['README.md', 'CONTRIBUTING.md'])
    t.match(read(doc), /\]\(ARCHITECTURE\.md\)/, `${doc} links ARCHITECTURE.md`)
})
