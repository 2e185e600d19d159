/** The CLI's fact syntax (name=value, name:type=value) and its usage errors, before any call to the API. */
import t from 'tap'
import { parseAssignment } from '../../src/cli/environments.js'
import { run } from '../../src/cli/run.js'

t.test('values are typed by the fact they update, else by their text, else as told', async (t) => {
  const none = new Map<string, 'string' | 'number' | 'boolean' | 'list'>()
  t.same(parseAssignment('db.sessions.indexes=a,b', none), ['db.sessions.indexes', ['a', 'b']])
  t.same(parseAssignment('idx=a,', none), ['idx', ['a']], 'a trailing comma makes a list of one')
  t.same(parseAssignment('app.framework=5.3.1', none), ['app.framework', '5.3.1'])
  t.same(parseAssignment('shards=4', none), ['shards', 4])
  t.same(parseAssignment('cache=true', none), ['cache', true])
  t.same(parseAssignment('v:string=4', none), ['v', '4'])
  t.same(parseAssignment('empty:list=', none), ['empty', []])
  t.same(parseAssignment('note=a=b', none), ['note', 'a=b'], 'only the first = separates')
  const current = new Map<string, 'string' | 'number' | 'boolean' | 'list'>([
    ['idx', 'list'],
    ['ver', 'string'],
  ])
  t.same(parseAssignment('idx=only', current), ['idx', ['only']], 'a list stays a list')
  t.same(parseAssignment('ver=6', current), ['ver', '6'], 'a string stays a string')
  t.throws(() => parseAssignment('n:number=ten', none), /n is a number, not "ten"/)
  t.throws(() => parseAssignment('b:boolean=yes', none), /boolean/)
  t.throws(() => parseAssignment('no value', none), /name=value/)
})

t.test('usage errors exit 2 without calling the API', async (t) => {
  const call = async (argv: string[]) => {
    const err: string[] = []
    const code = await run(argv, {
      env: { SWITCHYARD_URL: 'http://127.0.0.1:9' },
      out: () => {},
      err: (s) => err.push(s),
      readInput: () => '',
    })
    return { code, err: err.join('\n') }
  }
  let r = await call(['promote', 'f', '--from', 'staging'])
  t.same([r.code, r.err.split('\n')[0]], [2, 'switchyard: promote needs --from and --to'])
  r = await call(['facts', 'set', 'production'])
  t.equal(r.code, 2)
  t.match(r.err, /needs name=value or --unset/)
  r = await call(['diff', 'staging'])
  t.equal(r.code, 2)
  r = await call(['diff', 'staging', 'production', '--sample', '1000'])
  t.equal(r.code, 2)
  t.match(r.err, /--sample takes a number from 0 to 100/)
  r = await call(['facts', '--help'])
  t.equal(r.code, 0, 'the group help')
})
