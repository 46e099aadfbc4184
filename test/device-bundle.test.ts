// The device layer of the test pyramid (ARCHITECTURE.md, "Testing layers" 5): every Espruino board's bundle,
// build/boards/NAME.js, is held to Espruino's dialect statically (tools/dialect.ts) and dynamically (run in a
// node:vm context stripped to Espruino's globals, tools/espruino-context.ts). The checker itself is tested
// first, construct by construct, so that a checker that finds nothing cannot pass for a clean bundle.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkDialect, parseSource, formatFindings, Finding } from '../tools/dialect.js'
import { createEspruinoContext } from '../tools/espruino-context.js'
import { layoutArena } from '../firmware/kernel/arena.js'
import { VERSION } from '../firmware/version.js'
import type { Board } from '../firmware/kernel/board.js'

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir)
    if (up === dir) throw new Error('no package.json above ' + fileURLToPath(import.meta.url))
    dir = up
  }
  return dir
}

const root = repoRoot()

function espruinoBoards(): Board[] {
  const dir = path.join(root, 'boards')
  return fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Board)
    .filter((b) => b.platform === 'espruino')
}

function show(findings: Finding[], source: string): string {
  return findings.length === 0 ? '(none)' : formatFindings(findings, source)
}

// ---------------------------------------------------------------------------------------------------------
// (b) the checker, construct by construct (reference/espruino.md, "The JavaScript dialect")

/** [what, snippet, a word the finding's message must contain] */
const FORBIDDEN: [string, string, string][] = [
  ['object destructuring', 'var { a } = o', 'destructuring'],
  ['array destructuring', 'var [x, y] = a', 'destructuring'],
  ['destructuring assignment', '[x, y] = [y, x]', 'destructuring'],
  ['destructuring parameter', 'function f({ a }) { return a }', 'destructuring'],
  ['rest parameter', 'function f(...args) { return args }', 'rest'],
  ['call spread', 'f(...args)', 'spread'],
  ['array spread', 'var b = [...a]', 'spread'],
  ['object spread', 'var b = { ...a }', 'spread'],
  ['default parameter', 'function f(a = 1) { return a }', 'default'],
  ['async function', 'async function f() {}', 'async'],
  ['async arrow', 'var f = async () => 1', 'async'],
  ['await', 'async function f() { await g() }', 'await'],
  ['generator', 'function* g() { yield 1 }', 'generator'],
  ['yield', 'function* g() { yield 1 }', 'yield'],
  ['label', 'outer: for (;;) { break outer }', 'label'],
  ['labelled continue', 'a: while (x) { continue a }', 'label'],
  ['BigInt literal', 'var n = 10n', 'BigInt'],
  ['regex with a {n} quantifier', 'var ok = /^[0-9a-f]{2}$/.test(s)', '{n,m} quantifier'],
  ['regex with a {n,m} quantifier', 'var ok = /^\\d{1,3}$/.test(s)', '{n,m} quantifier'],
  ['regex with a quantified group', 'var ok = /^(ab)+$/.test(s)', 'quantified group'],
  ['optional member', 'var v = a?.b', '?.'],
  ['optional call', 'a?.()', '?.'],
  ['exponent', 'var p = 2 ** 8', '**'],
  ['exponent assignment', 'p **= 2', '**='],
  ['tagged template', 'var s = tag`x${1}`', 'tagged template'],
  ['import', 'import x from "y"', 'import'],
  ['dynamic import', 'import("y")', 'import'],
  ['export', 'export const a = 1', 'export'],
  ['export default', 'export default function () {}', 'export'],
  ['private field', 'class A { #x = 1; get() { return this.#x } }', '#x'],
  ['computed key in an object', 'var o = { [k]: 1 }', 'computed key'],
  ['computed method', 'class A { [k]() {} }', 'computed key'],
  ['new.target', 'function F() { return new.target }', 'new.target'],
  ['class extends Error', 'class E2 extends Error {}', 'extends Error'],
  ['class extends TypeError', 'var C = class extends TypeError {}', 'extends TypeError'],
  ['for..of', 'for (var x of a) f(x)', 'for..of'],
  ['let in a for head', 'for (let i = 0; i < 3; i++) fs.push(() => i)', 'let in a for-loop head'],
  ['const in a for-in head', 'for (const k in o) f(k)', 'const in a for-loop head'],
  ['Map', 'var m = new Map()', 'Map is undefined'],
  ['Set', 'var s = new Set()', 'Set is undefined'],
  ['WeakMap', 'var w = new WeakMap()', 'WeakMap is undefined'],
  ['WeakSet', 'var w = new WeakSet()', 'WeakSet is undefined'],
  ['Symbol', 'var s = Symbol("x")', 'Symbol is undefined'],
  ['Symbol.iterator', 'var it = o[Symbol.iterator]', 'Symbol is undefined'],
  ['Proxy', 'var p = new Proxy({}, {})', 'Proxy is undefined'],
  ['Reflect', 'Reflect.apply(f, null, [])', 'Reflect is undefined'],
  ['BigInt', 'var b = BigInt(1)', 'BigInt is undefined'],
  ['RangeError', 'throw new RangeError("x")', 'RangeError is undefined'],
  ['TextEncoder', 'var e = new TextEncoder()', 'TextEncoder is undefined'],
  ['TextDecoder', 'var d = new TextDecoder()', 'TextDecoder is undefined'],
  ['Buffer', 'var b = Buffer.from("x")', 'Buffer is undefined'],
  ['queueMicrotask', 'queueMicrotask(f)', 'queueMicrotask is undefined'],
  ['setImmediate', 'setImmediate(f)', 'setImmediate is undefined'],
  ['WebAssembly', 'new WebAssembly.Module(bytes)', 'WebAssembly is undefined'],
  ['globalThis.Map', 'var M = globalThis.Map', 'Map is undefined'],
  ['Math.imul', 'var x = Math.imul(a, b)', 'Math.imul'],
  ['Math.clz32', 'var x = Math.clz32(a)', 'Math.clz32'],
  ['Math.fround', 'var x = Math.fround(a)', 'Math.fround'],
  ['Math.trunc', 'var x = Math.trunc(a)', 'Math.trunc'],
  ['Math.log2', 'var x = Math.log2(a)', 'Math.log2'],
  ['Math["trunc"]', 'var x = Math["trunc"](a)', 'Math.trunc'],
  ['Array.from', 'var a = Array.from(s)', 'Array.from'],
  ['Uint8Array.from', 'var a = Uint8Array.from([1])', 'Uint8Array.from'],
  ['Object.freeze', 'Object.freeze(o)', 'Object.freeze'],
  ['Object.seal', 'Object.seal(o)', 'Object.seal'],
  ['Object.is', 'Object.is(a, b)', 'Object.is'],
  ['Promise.race', 'Promise.race([p])', 'Promise.race'],
  ['copyWithin', 'u8.copyWithin(0, 4)', 'copyWithin'],
  ['BYTES_PER_ELEMENT', 'var n = Uint32Array.BYTES_PER_ELEMENT', 'BYTES_PER_ELEMENT'],
  ['Array.prototype.slice', 'var a = Array.prototype.slice.call(arguments)', 'Array.prototype.slice'],
  ['Array.prototype.push', 'Array.prototype.push.apply(a, b)', 'Array.prototype.push'],
  ['call before declaration', 'f()\nfunction f() {}', 'f is called before its function declaration'],
  ['call before declaration, same line', 'f(); function f() {}', 'f is called before'],
  ['call in a block before declaration', 'if (x) { g() }\nfunction g() {}', 'g is called before'],
  ['call before declaration in a function', 'function outer() {\n  h()\n  function h() {}\n}', 'h is called before'],
  ['reference before declaration', 'setTimeout(tick, 10)\nfunction tick() {}', 'tick is used before'],
  ['new before declaration', 'var b = new B()\nfunction B() {}', 'B is used before'],
  ['class method named with a keyword', 'class A { do() {} }', 'keyword on Espruino'],
  ['class getter named with a keyword', 'class A { get in() { return 1 } }', 'keyword on Espruino'],
  ['static method named with a keyword', 'class A { static of() {} }', 'keyword on Espruino'],
  ['class field named with a keyword', 'class A { delete = 1 }', 'keyword on Espruino'],
  ['new class', 'var a = new class { m() {} }()', 'class expression'],
  ['class expression in a conditional', 'var C = x ? class {} : null', 'class expression'],
]

/** Code Espruino runs; none of it may be flagged. */
const ALLOWED: [string, string][] = [
  ['regex with escaped braces, a class and plain quantifiers', 'var ok = /^\\{[a-z{}]+\\}\\d*$/.test(s)'],
  ['function declared before its call', 'function f() {}\nf()'],
  ['forward call from inside a function', 'function a() { return b() }\nfunction b() { return 1 }\na()'],
  ['forward call from a callback', 'setTimeout(function () { later() }, 10)\nfunction later() {}'],
  ['recursion', 'function f(n) { return n ? f(n - 1) : 0 }\nf(3)'],
  ['local Map shadows the global', 'var Map = { get: function () {} }\nMap.get()'],
  ['parameter named Set', 'function g(Set) { return Set }'],
  ['local Math', 'function h(Math) { return Math.imul(1, 2) }'],
  ['classes, fields, static, get/set, extends', 'class A { constructor() { this.x = 1 } static s() {} get y() { return 1 } }\n' +
    'class B extends A { constructor() { super(); this.z = 2 } }'],
  ['plain class fields', 'class A { x = 1; static n = 0 }'],
  ['arrow, template, shorthand, ??', 'var f = (a) => `v${a}`; var o = { f, m() { return 1 } }; var v = o.q ?? 3'],
  ['let/const in blocks', '{ let a = 1; const b = 2; f(a + b) }'],
  ['var in for heads', 'for (var i = 0; i < 3; i++) f(i)\nfor (var k in o) f(k)'],
  ['[].slice.call', 'var a = [].slice.call(arguments)'],
  ['typed arrays, DataView, E.sum', 'var s = E.sum(new Uint16Array(buf, 0, 8)); new DataView(buf).getUint16(0, false)'],
  ['.from on other objects', 'var a = Uint8Array.of(1); var b = myList.from; var c = Q.from(x)'],
  ['Math and Object members that exist', 'Math.floor(1.5); Math.min(1, 2); Object.keys(o); Object.assign({}, o)'],
  ['Promise then/all', 'Promise.all([p]).then(function () {})'],
  ['strings mentioning missing names', 'var s = "Map Set Math.imul ?. **"'],
  ['class extends a non-Error', 'class Q extends Base {}'],
  ['a class expression as a whole initialiser', 'var C = class { m() {} }'],
  ['keywords as object keys and members', 'var o = { do: 1, in() { return 2 } }; f(o.do + o.in())'],
  ['class methods named get, set and as', 'class A { get() {} set() {} as() {} }'],
]

describe('checkDialect', () => {
  for (const [what, snippet, word] of FORBIDDEN) {
    test('catches ' + what, () => {
      const findings = checkDialect(snippet)
      assert.ok(findings.some((f) => f.message.includes(word)),
        'expected a finding mentioning "' + word + '" in: ' + snippet + '\nfound: ' + show(findings, snippet))
    })
  }
  for (const [what, snippet] of ALLOWED) {
    test('allows ' + what, () => {
      const findings = checkDialect(snippet)
      assert.deepEqual(findings, [], 'unexpected findings in: ' + snippet + '\n' + show(findings, snippet))
    })
  }
  test('reports 1-based line and column', () => {
    const findings = checkDialect('var a = 1\n  var b = a ** 2')
    assert.equal(findings.length, 1)
    assert.equal(findings[0].line, 2)
    assert.equal(findings[0].column, 11)
  })
  test('reports a syntax error as a finding', () => {
    const findings = checkDialect('var = ;')
    assert.equal(findings.length, 1)
    assert.match(findings[0].message, /^syntax error/)
  })
  test('reports every construct, in source order', () => {
    const findings = checkDialect('var m = new Map()\nvar x = Math.trunc(1)\nvar [a] = b')
    assert.deepEqual(findings.map((f) => f.line), [1, 2, 3])
  })
})

// ---------------------------------------------------------------------------------------------------------
// (c) the Espruino-like context itself: the dynamic check is only as good as its stripping

describe('Espruino-like context', () => {
  test('lacks what Espruino lacks', () => {
    const ctx = createEspruinoContext()
    const absent = ['Map', 'Set', 'WeakMap', 'WeakSet', 'Symbol', 'Proxy', 'Reflect', 'BigInt', 'RangeError',
      'TextEncoder', 'TextDecoder', 'Buffer', 'queueMicrotask', 'setImmediate', 'WebAssembly',
      'Math.imul', 'Math.clz32', 'Math.fround', 'Math.trunc', 'Math.log2', 'Array.from', 'Object.freeze',
      'Object.seal', 'Object.is', 'Promise.race', 'Uint8Array.from', 'new Uint8Array(1).copyWithin']
    for (const name of absent) assert.equal(ctx.evaluate('typeof ' + name), 'undefined', name + ' should be absent')
    assert.equal(ctx.evaluate('new TypeError("x") instanceof Error'), false)
  })
  test('has what Espruino has', () => {
    const ctx = createEspruinoContext()
    const present = ['console.log', 'ArrayBuffer', 'Uint8Array', 'Uint16Array', 'Uint32Array', 'Int32Array',
      'Float64Array', 'DataView', 'Math.floor', 'JSON.stringify', 'Object.keys', 'Promise.all', 'setTimeout',
      'setInterval', 'clearTimeout', 'clearInterval', 'Error', 'TypeError', 'SyntaxError', 'parseInt',
      'parseFloat', 'isNaN', 'String', 'Number', 'Boolean', 'Date', 'RegExp', 'Function', 'E.sum', 'E.hwRand',
      'getTime']
    for (const name of present) assert.notEqual(ctx.evaluate('typeof ' + name), 'undefined', name + ' should be present')
    assert.equal(ctx.evaluate('E.sum(new Uint16Array([1, 2, 65535]))'), 65538)
    ctx.run('console.log("a", 1, [2, 3])')
    assert.deepEqual(ctx.output, ['a 1 2,3'])
    ctx.dispose()
  })
})

// ---------------------------------------------------------------------------------------------------------
// (a) and (c): every Espruino board's bundle

function readBundle(board: Board): string {
  const file = path.join(root, 'build', 'boards', board.name + '.js')
  assert.ok(fs.existsSync(file), file + ' is missing: run `node tools/build.mjs`')
  return fs.readFileSync(file, 'utf8')
}

/** The number at the end of the arena map's "total" line. */
function arenaTotal(lines: string[]): number {
  const total = lines.find((l) => /^total\s/.test(l))
  assert.ok(total !== undefined, 'no "total" line in the arena map:\n' + lines.join('\n'))
  return Number(total.trim().split(/\s+/).pop())
}

const boards = espruinoBoards()

test('there are Espruino boards to check', () => {
  assert.ok(boards.length > 0, 'no boards/*.json with platform "espruino"')
})

for (const board of boards) {
  describe('device bundle ' + board.name, () => {
    test('exists, parses and is in the dialect', () => {
      const code = readBundle(board)
      assert.doesNotThrow(() => parseSource(code))
      const findings = checkDialect(code)
      assert.deepEqual(findings, [], show(findings, code))
    })

    test('fits memory.bundleLimit', () => {
      const bytes = Buffer.byteLength(readBundle(board), 'utf8')
      const limit = board.memory.bundleLimit
      assert.ok(typeof limit === 'number', 'board ' + board.name + ' has no memory.bundleLimit')
      assert.ok(bytes <= limit, board.name + ': bundle is ' + bytes + ' bytes, limit ' + limit)
    })

    test('boots with the portable core in an Espruino-like context', () => {
      const code = readBundle(board)
      const ctx = createEspruinoContext()
      try {
        ctx.run(code, board.name + '.js')
      } finally {
        ctx.dispose()
      }
      assert.deepEqual(ctx.errors, [])
      const lines = ctx.output.join('\n').split('\n')
      const head = 'spinet ' + VERSION + ' on ' + board.name + ' ('
      assert.ok(lines[0].startsWith(head), 'version line: ' + lines[0])
      assert.match(lines[0], /\bportable core\)$/)
      const expected = layoutArena(board.budget, 0, board.memory.arenaLimit)
      assert.equal(arenaTotal(lines), expected.total)
      for (const r of expected.regions) {
        assert.ok(lines.some((l) => l.startsWith(r.name + ' ')), 'arena map lacks region "' + r.name + '"')
      }
    })
  })
}
