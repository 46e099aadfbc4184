// The device build's method pass (tools/bundle-methods.ts): what it drops, moves and inlines, that the code
// means the same afterwards, and what it must leave alone.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import vm from 'node:vm'
import { createRequire } from 'node:module'
import { methodsToFunctions, MethodStats } from '../tools/bundle-methods.js'

const require = createRequire(import.meta.url)
const babel = require('@babel/core') as { transformSync(code: string, o: object): { code: string } }

function transform(code: string, reserved: string[] = []): { code: string; stats: MethodStats } {
  const stats: MethodStats = { dropped: [], moved: [], inlined: [] }
  const out = babel.transformSync(code, {
    babelrc: false, configFile: false, sourceType: 'script', plugins: [methodsToFunctions(new Set(reserved), stats)],
  })
  return { code: out.code, stats }
}

/** Runs a script and returns what it leaves in `result`. */
function run(code: string): unknown {
  const ctx: { result?: unknown } = {}
  vm.runInNewContext(code, ctx)
  return ctx.result
}

const SAMPLE = `(function () {
  class Ring {
    constructor(n) { this.n = n; this.items = []; this.count = 0 }
    unused(x) { return x + 1 }
    alsoUnused() { return this.unused(2) }
    slot(i) { return (i % this.n) * 4 }
    push(v) { if (this.full()) return false; this.items[this.slot(this.count)] = v; this.count++; return true }
    full() { return this.count >= this.n }
    describe() { return 'ring of ' + this.n }
  }
  class User {
    constructor() { this.ring = new Ring(2) }
    fill() {
      var r = this.ring, k = 0
      while (r.push(k * 10)) k++
      return k + ':' + r.slot(k) + ':' + r.slot(k + 1)
    }
  }
  result = new User().fill() + '/' + new Ring(3).describe()
})()`

describe('tools/bundle-methods.ts', () => {
  test('drops methods nothing calls, moves methods called once, copies small return-only methods into their calls', () => {
    const { code, stats } = transform(SAMPLE)
    assert.deepEqual(run(code), run(SAMPLE))
    assert.deepEqual(stats.dropped.sort(), ['alsoUnused', 'unused'])
    assert.ok(stats.moved.includes('fill') && stats.moved.includes('push') && stats.moved.includes('describe'), stats.moved.join())
    assert.ok(stats.inlined.includes('slot') || stats.moved.includes('slot'), JSON.stringify(stats))
    assert.doesNotMatch(code, /unused|alsoUnused/)
  })

  test('leaves alone reserved names, methods used as values, and methods with arguments or super', () => {
    const src = `(function () {
      class A { hello() { return 'a' } }
      class B extends A {
        send(x) { return x }
        cb() { return 'cb' }
        args() { return arguments.length }
        sup() { return super.hello() }
        run() { var f = this.cb; return this.send(1) + f.call(this) + this.args(1, 2) + this.sup() }
      }
      result = new B().run()
    })()`
    const { code, stats } = transform(src, ['send'])
    assert.equal(run(code), run(src))
    assert.ok(!stats.moved.includes('send') && !stats.dropped.includes('send'), 'reserved')
    assert.ok(!stats.moved.includes('cb') && !stats.dropped.includes('cb'), 'read as a value')
    assert.ok(!stats.moved.includes('args'), 'uses arguments')
    assert.ok(!stats.moved.includes('sup'), 'uses super')
    assert.match(code, /args\(\)/)
  })

  test('does not copy a method into a call whose argument would be evaluated twice or out of order', () => {
    const src = `(function () {
      var n = 0
      function next() { return ++n }
      class P {
        twice(x) { return x + x }
        other() { return 1 }
        run() { return this.twice(next()) + this.twice(next()) + this.other() + this.other() }
      }
      result = new P().run() + ':' + n
    })()`
    const { code, stats } = transform(src)
    assert.equal(run(code), run(src))
    assert.ok(!stats.inlined.includes('twice'), JSON.stringify(stats))
    assert.ok(stats.inlined.includes('other'), JSON.stringify(stats))
  })

  test('does not move an argument after a call in the copy that could change what it reads', () => {
    const src = `(function () {
      class Q {
        constructor() { this.v = 1 }
        bump() { this.v += 10; return 0 }
        after(p) { return this.bump() + p }
        run() { return this.after(this.v) + ':' + this.after(this.v) }
      }
      result = new Q().run()
    })()`
    const { code, stats } = transform(src)
    assert.equal(run(code), run(src))
    assert.equal(run(src), '1:11')
    assert.ok(!stats.inlined.includes('after'), JSON.stringify(stats))
  })

  test('a method with the same name in two classes is not touched', () => {
    const src = `(function () {
      class A { input(x) { return 'a' + x } }
      class B { input(x) { return 'b' + x } }
      var objs = [new A(), new B()]
      result = objs[0].input(1) + objs[1].input(2)
    })()`
    const { code, stats } = transform(src)
    assert.equal(run(code), 'a1b2')
    assert.deepEqual(stats, { dropped: [], moved: [], inlined: [] })
  })
})
