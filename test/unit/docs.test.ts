import { readFileSync } from 'node:fs'
import t from 'tap'
import { ConfigSchema } from '../../src/config.js'
import { ERRORS } from '../../src/errors.js'

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

/** Rows `| \`NAME\` | second | …` of the markdown table under a heading. */
function table(heading: string): Map<string, string> {
  const start = readme.indexOf(heading)
  if (start < 0) return new Map()
  const rest = readme.slice(start + heading.length)
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
