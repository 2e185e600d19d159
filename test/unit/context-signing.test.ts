/**
 * Context signing: the canonical form and the signature of
 * every vector in test/vectors/signing/contexts.json. The vectors were made
 * by generate.py with Python's hmac, not by the code under test; each
 * signature is checked once more here with `openssl dgst`.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { canonicalJson, signContext } from '../../sdk/sign.js'
import type { Context } from '../../sdk/types.js'

interface SigningVector {
  name: string
  context: Context
  canonical: string
  canonicalUtf8Hex: string
  signature: string
}

const file = fileURLToPath(new URL('../vectors/signing/contexts.json', import.meta.url))
const doc = JSON.parse(readFileSync(file, 'utf8')) as { secret: string; vectors: SigningVector[] }

t.ok(doc.vectors.length >= 8, 'vectors found')

for (const v of doc.vectors) {
  t.test(v.name, async (t) => {
    t.equal(
      Buffer.from(v.canonicalUtf8Hex, 'hex').toString('utf8'),
      v.canonical,
      'the hex is the canonical string (file consistency)',
    )
    t.equal(canonicalJson(v.context), v.canonical, 'canonical form')
    t.equal(signContext(doc.secret, v.context), v.signature, 'signature')
    const openssl = execFileSync('openssl', ['dgst', '-sha256', '-hmac', doc.secret, '-r'], {
      input: Buffer.from(v.canonicalUtf8Hex, 'hex'),
    }).toString()
    t.equal(openssl.split(' ')[0], v.signature, 'openssl agrees with the vector')
  })
}

t.test('key order and formatting of the input do not matter; every value does', async (t) => {
  const a = signContext('s', { key: 'u1', email: 'me@x.example', plan: { b: 1, a: [2, 1] } })
  t.equal(
    signContext(
      's',
      JSON.parse('{ "plan": {"a": [2, 1.0], "b": 1}, "email": "me@x.example", "key": "u1" }') as Context,
    ),
    a,
  )
  t.not(signContext('s', { key: 'u1', email: 'me@x.example', plan: { b: 1, a: [1, 2] } }), a, 'array order counts')
  t.not(signContext('s', { key: 'u1', email: 'ceo@corp.example', plan: { b: 1, a: [2, 1] } }), a)
  t.not(signContext('s', { key: 'u1' }), a, 'dropping attributes changes it too')
})

t.test('what JSON cannot carry faithfully is refused, not signed', async (t) => {
  t.throws(() => canonicalJson({ key: 'x', s: 'lone \ud800' }), TypeError)
  t.throws(() => canonicalJson({ key: '\udc00' }), TypeError)
  t.throws(() => canonicalJson({ key: 'x', n: Number.NaN }), TypeError)
  t.throws(() => canonicalJson({ key: 'x', f: () => 1 }), TypeError)
  t.equal(canonicalJson({ key: '\ud83d\ude00' }), '{"key":"😀"}', 'a surrogate pair is one character')
})
