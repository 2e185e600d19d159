// The import rules of the house, checked over the source instead of trusted to review:
// src → sdk/core and never back; sdk/core imports only itself (and re2js); no `node:` module in
// code a browser loads.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import t from 'tap'

const root = resolve(import.meta.dirname, '../..')

function files(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(root, join(e.parentPath, e.name)))
}

/** Every module a file imports or re-exports, type-only ones included, resolved to a repo path or a package name. */
function imports(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8')
  const out: string[] = []
  for (const m of text.matchAll(
    /^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm,
  )) {
    const spec = (m[1] ?? m[2] ?? m[3]) as string
    out.push(
      spec.startsWith('.') ? relative(root, resolve(dirname(join(root, file)), spec)).replace(/\.js$/, '.ts') : spec,
    )
  }
  return out
}

const sdkFiles = files('sdk')

t.test('sdk/ never imports src/', async (t) => {
  const bad = sdkFiles.flatMap((f) =>
    imports(f)
      .filter((i) => i.startsWith('src/'))
      .map((i) => `${f} → ${i}`),
  )
  t.same(bad, [])
})

t.test('sdk/core imports only sdk/core (and re2js, the linear-time regex engine)', async (t) => {
  const bad = sdkFiles
    .filter((f) => f.startsWith('sdk/core/'))
    .flatMap((f) =>
      imports(f)
        .filter((i) => !i.startsWith('sdk/core/') && i !== 're2js')
        .map((i) => `${f} → ${i}`),
    )
  t.same(bad, [])
})

t.test('the browser entry and everything it reaches import no node: module and no package', async (t) => {
  const seen = new Set<string>()
  const bad: string[] = []
  const visit = (f: string) => {
    if (seen.has(f)) return
    seen.add(f)
    for (const i of imports(f)) {
      if (i.startsWith('sdk/')) visit(i)
      else bad.push(`${f} → ${i}`)
    }
  }
  visit('sdk/browser.ts')
  t.ok(seen.size > 5, `${seen.size} modules reached from sdk/browser.ts`)
  t.same(bad, [])
})

t.test('the import scanner sees imports (the rules above cannot pass vacuously)', async (t) => {
  t.ok(imports('src/app.ts').includes('fastify'), 'a package import')
  t.ok(imports('src/app.ts').includes('src/errors.ts'), 'a relative import, resolved')
  t.ok(imports('sdk/core/operators.ts').includes('re2js'))
})

// The store boundary: only src/store/ knows Redis keys and issues commands. Its internals (the key
// layout, the atomic script, the shared client) are imported nowhere else; a Redis client (ioredis,
// src/redis/) only where the connection is made and handed out.
const srcFiles = files('src')
const STORE_INTERNALS = ['src/store/keys.ts', 'src/store/atomic.ts', 'src/store/context.ts']
/** Files outside src/store/ and src/redis/ that may hold the client, and why. */
const CLIENT_HOLDERS: Record<string, string> = {
  'src/server.ts': 'connects to Redis (or starts the embedded one) and passes the client to buildApp',
  'src/app.ts': 'the composition root: hands the client to the Store, the StoreMonitor and the rate limiter',
  'src/http/edge.ts': '@fastify/rate-limit keeps its counters in Redis itself, through the client it is given',
}
const isClient = (i: string) => i === 'ioredis' || i.startsWith('ioredis/') || i.startsWith('src/redis/')

t.test('nothing outside src/store/ imports its internals (keys, atomic script, client context)', async (t) => {
  const bad = srcFiles
    .filter((f) => !f.startsWith('src/store/'))
    .flatMap((f) =>
      imports(f)
        .filter((i) => STORE_INTERNALS.includes(i))
        .map((i) => `${f} → ${i}`),
    )
  t.same(bad, [])
})

t.test('only src/store/, src/redis/ and the composition root hold a Redis client', async (t) => {
  const bad = srcFiles
    .filter((f) => !f.startsWith('src/store/') && !f.startsWith('src/redis/') && !(f in CLIENT_HOLDERS))
    .flatMap((f) =>
      imports(f)
        .filter(isClient)
        .map((i) => `${f} → ${i}`),
    )
  t.same(bad, [])
})

t.test('no Redis key is spelled outside src/store/ (and the rate limiter, which owns its namespace)', async (t) => {
  const bad = srcFiles
    .filter((f) => !f.startsWith('src/store/') && f !== 'src/http/edge.ts')
    .filter((f) => /['"`]sy:/.test(readFileSync(join(root, f), 'utf8')))
  t.same(bad, [])
})

t.test('the boundary rules see what they check (they cannot pass vacuously)', async (t) => {
  t.ok(imports('src/store/flags.ts').includes('src/store/keys.ts'), 'a repository imports the key layout')
  t.ok(imports('src/store/context.ts').some(isClient), 'the store context imports the client type')
  t.ok(imports('src/app.ts').some(isClient), 'the composition root holds the client')
  for (const f of Object.keys(CLIENT_HOLDERS)) t.ok(srcFiles.includes(f), `${f} exists`)
})

/** One import circle in a graph (file → the files it imports), as a path that ends where it starts; null when there is none. */
function findCycle(graph: ReadonlyMap<string, readonly string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>()
  const path: string[] = []
  const visit = (f: string): string[] | null => {
    const s = state.get(f)
    if (s === 'done') return null
    if (s === 'open') return [...path.slice(path.indexOf(f)), f]
    state.set(f, 'open')
    path.push(f)
    for (const next of graph.get(f) ?? []) {
      const found = visit(next)
      if (found) return found
    }
    path.pop()
    state.set(f, 'done')
    return null
  }
  for (const f of graph.keys()) {
    const found = visit(f)
    if (found) return found
  }
  return null
}

t.test(
  'the import graph of src/ has no circles (type-only imports count: they couple the files as much)',
  async (t) => {
    const srcFiles = files('src')
    const known = new Set(srcFiles)
    const graph = new Map(srcFiles.map((f) => [f, imports(f).filter((i) => known.has(i))]))
    t.ok((graph.get('src/stream/hub.ts') ?? []).includes('src/stream/channel.ts'), 'edges between src/ files are seen')
    const cycle = findCycle(graph)
    t.equal(cycle?.join(' → ') ?? null, null, 'no circle')
  },
)

t.test('the circle finder finds circles (the rule above cannot pass vacuously)', async (t) => {
  t.same(
    findCycle(
      new Map([
        ['a', ['b']],
        ['b', ['c', 'd']],
        ['c', []],
        ['d', ['b']],
      ]),
    ),
    ['b', 'd', 'b'],
  )
  t.equal(findCycle(new Map([['a', ['a']]]))?.length, 2, 'a file importing itself')
  t.equal(
    findCycle(
      new Map([
        ['a', ['b', 'c']],
        ['b', ['c']],
        ['c', []],
      ]),
    ),
    null,
    'a diamond is no circle',
  )
})

t.test('the folders of src/ import each other in one direction (no circle between folders)', async (t) => {
  // A file directly in src/ (app.ts, errors.ts, …) is its own node: the composition root imports every folder
  // and every folder imports the error catalogue, which is not a circle between layers.
  const node = (f: string) => (f.split('/').length > 2 ? f.split('/').slice(0, 2).join('/') : f)
  const srcFiles = files('src')
  const known = new Set(srcFiles)
  const graph = new Map<string, string[]>()
  for (const f of srcFiles) {
    const from = node(f)
    const to = imports(f)
      .filter((i) => known.has(i))
      .map(node)
      .filter((n) => n !== from)
    graph.set(from, [...new Set([...(graph.get(from) ?? []), ...to])])
  }
  t.ok(graph.get('src/stream')?.includes('src/store'), 'edges between folders are seen')
  t.equal(findCycle(graph)?.join(' → ') ?? null, null, 'no circle between folders')
})

// The layers, top to bottom (ARCHITECTURE.md): a node imports only nodes below it. Files directly in src/ are
// their own nodes; sdk/ is below all of them (and never imports src/, checked above).
const LAYERS: readonly (readonly string[])[] = [
  ['src/server.ts', 'src/cli.ts'],
  ['src/app.ts', 'src/cli'],
  ['src/routes'],
  ['src/http'],
  ['src/auth.ts'],
  ['src/stream'],
  ['src/services'],
  ['src/store'],
  ['src/redis'],
  ['src/schemas', 'src/config.ts'],
  ['src/errors.ts'],
]

t.test(
  'every folder of src/ imports only layers below it (server → app → routes → stream → services → store → redis)',
  async (t) => {
    const node = (f: string) => (f.split('/').length > 2 ? f.split('/').slice(0, 2).join('/') : f)
    const rank = new Map(LAYERS.flatMap((nodes, i) => nodes.map((n) => [n, i] as const)))
    const srcFiles = files('src')
    const known = new Set(srcFiles)
    t.same(
      [...new Set(srcFiles.map(node))].filter((n) => !rank.has(n)),
      [],
      'every folder and top-level file of src/ has a layer',
    )
    const bad = srcFiles.flatMap((f) =>
      imports(f)
        .filter((i) => known.has(i) && node(i) !== node(f))
        .filter((i) => (rank.get(node(i)) as number) <= (rank.get(node(f)) as number))
        .map((i) => `${f} → ${i}`),
    )
    t.ok(
      imports('src/stream/channel.ts').some((i) => node(i) === 'src/store'),
      'edges between layers are seen',
    )
    t.same(bad, [], 'no import upwards or sideways')
  },
)
