import type { RedisClient } from '../redis/connect.js'

/**
 * One atomic write: preconditions checked and commands run inside a single Lua
 * script, so either every command of a change (new state, history, audit,
 * change-log XADD) happens or none does — on a single node and on Redis
 * Cluster alike, as long as every key shares one hash tag.
 */
export interface Check {
  /** Key of the hash to read. */
  key: string
  field: string
  /** `eq`: HGET equals `value` (missing reads as ''); `absent`/`present`: HEXISTS; `len`: HLEN equals `value` (field unused). */
  op: 'eq' | 'absent' | 'present' | 'len'
  value?: string
}

/** A Redis command: name, key, then arguments. */
export type Command = [name: string, key: string, ...args: Array<string | number>]

export interface AtomicWrite {
  checks: Check[]
  commands: Command[]
}

/** Result: `ok` with each command's reply, or the first check that failed. */
export type AtomicResult = { ok: true; replies: unknown[] } | { ok: false; failed: number; actual: string | null }

// Arguments are passed as one JSON document decoded with cjson (decoding is
// exact; we never cjson-encode, which would mangle numbers and empty arrays).
// Commands with many arguments are already split by the caller, so unpack()
// stays below Lua's stack limit.
const SCRIPT = `
local spec = cjson.decode(ARGV[1])
for i, c in ipairs(spec.c) do
  local key = KEYS[c[1]]
  if c[3] == 'eq' then
    local cur = redis.call('HGET', key, c[2])
    if not cur then cur = '' end
    if cur ~= c[4] then return {'FAIL', i, cur} end
  elseif c[3] == 'len' then
    local n = tostring(redis.call('HLEN', key))
    if n ~= c[4] then return {'FAIL', i, n} end
  else
    local exists = redis.call('HEXISTS', key, c[2])
    if c[3] == 'absent' and exists == 1 then return {'FAIL', i, redis.call('HGET', key, c[2])} end
    if c[3] == 'present' and exists == 0 then return {'FAIL', i, ''} end
  end
end
-- Redis does not roll back a script that fails half-way, so rule out the one
-- error a command can still raise here (a key of the wrong type) before writing.
local want = {HSET='hash', HDEL='hash', HINCRBY='hash', SADD='set', SREM='set', SCARD='set', XADD='stream'}
for _, w in ipairs(spec.w) do
  local t = want[w[1]]
  if t then
    local actual = redis.call('TYPE', KEYS[w[2]])['ok']
    if actual ~= 'none' and actual ~= t then return {'WRONGTYPE', KEYS[w[2]], actual} end
  end
end
local replies = {}
for i, w in ipairs(spec.w) do
  local r = redis.call(w[1], KEYS[w[2]], unpack(w, 3))
  if type(r) == 'table' then r = #r end
  if r == false or r == nil then r = '' end
  replies[i] = r
end
return {'OK', replies}
`

const MAX_ARGS = 4000

declare module 'ioredis' {
  interface RedisCommander<Context> {
    syAtomic(numKeys: number, ...args: string[]): Promise<unknown>
  }
}

/** Registers the script on a connection (ioredis handles EVALSHA / NOSCRIPT). */
export function defineAtomic(redis: RedisClient): void {
  redis.defineCommand('syAtomic', { lua: SCRIPT })
}

/**
 * Splits variadic set/hash commands whose argument list is too long for one
 * Lua call into several commands (SADD k a b … → SADD k a…, SADD k …).
 */
export function chunked(name: 'SADD' | 'SREM', key: string, members: string[]): Command[] {
  const out: Command[] = []
  for (let i = 0; i < members.length; i += MAX_ARGS) out.push([name, key, ...members.slice(i, i + MAX_ARGS)])
  return out
}

/** Runs one atomic write. */
export async function runAtomic(redis: RedisClient, write: AtomicWrite): Promise<AtomicResult> {
  const keys: string[] = []
  const index = new Map<string, number>()
  const ref = (k: string): number => {
    let i = index.get(k)
    if (i === undefined) {
      keys.push(k)
      i = keys.length
      index.set(k, i)
    }
    return i
  }
  const c = write.checks.map((ch) => [ref(ch.key), ch.field, ch.op, ch.value ?? ''])
  const w = write.commands.map(([name, key, ...args]) => [name, ref(key), ...args.map(String)])
  const reply = (await redis.syAtomic(keys.length, ...keys, JSON.stringify({ c, w }))) as [string, ...unknown[]]
  if (reply[0] === 'OK') return { ok: true, replies: reply[1] as unknown[] }
  if (reply[0] === 'WRONGTYPE')
    throw new Error(`Redis key ${String(reply[1])} has type ${String(reply[2])}; refusing a partial write`)
  return { ok: false, failed: Number(reply[1]) - 1, actual: reply[2] === '' ? null : String(reply[2]) }
}
