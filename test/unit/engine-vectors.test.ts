// Runs every evaluation vector file in test/vectors/ (and the hash vectors) against the engine.
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import {
  runHashVector,
  runVector,
  VECTOR_SPEC_VERSION,
  type HashVectorFile,
  type VectorFile,
} from '../vectors/run-vector.js'

const dir = fileURLToPath(new URL('../vectors/', import.meta.url))
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()

t.ok(files.length >= 5, 'vector files found')

for (const file of files) {
  const doc = JSON.parse(readFileSync(join(dir, file), 'utf8')) as VectorFile | HashVectorFile
  t.test(file, async (t) => {
    t.equal(doc.specVersion, VECTOR_SPEC_VERSION, 'spec version')
    t.ok(doc.vectors.length > 0, 'has vectors')
    const names = new Set<string>()
    if ('hashVersion' in doc) {
      t.equal(doc.hashVersion, 1, 'hash version')
      for (const v of doc.vectors) {
        const r = runHashVector(v)
        t.ok(r.pass, `hash ${JSON.stringify(v.salt)} . ${JSON.stringify(v.value)}`, {
          actual: r.actual,
          expected: r.expected,
        })
      }
      return
    }
    for (const v of doc.vectors) {
      t.notOk(names.has(v.name), `unique name: ${v.name}`)
      names.add(v.name)
      const r = runVector(v)
      t.ok(r.pass, v.name, { actual: r.actual, expected: r.expected })
    }
  })
}
