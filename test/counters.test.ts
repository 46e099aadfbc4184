// The counters: names kept as one string (counterNames) for the device, looked up and printed from it.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { Counters, COUNTER_WORDS, counterNameList, counterNames } from '../firmware/kernel/counters.js'

describe('counters', () => {
  test('every name has its index as id, names are unique and fit the region', () => {
    const names = counterNameList()
    assert.ok(names.length > 70 && names.length <= COUNTER_WORDS)
    assert.equal(new Set(names).size, names.length)
    assert.equal(names.join(','), counterNames())
    names.forEach((n, i) => { assert.ok(n.length > 0); assert.equal(Counters.id(n), i) })
  })

  test('unknown names and partial names throw', () => {
    assert.throws(() => Counters.id('eth'), /no counter "eth"/)
    assert.throws(() => Counters.id('rx'), /no counter/)
    assert.throws(() => Counters.id(''), /no counter/)
  })

  test('format prints the non-zero counters in id order; get reads by name', () => {
    const c = new Counters(new ArrayBuffer(COUNTER_WORDS * 4), 0)
    assert.equal(c.format(), '')
    const names = counterNameList()
    const last = names[names.length - 1]
    c.inc(Counters.id(last))
    c.inc(Counters.id('eth.rx'))
    c.inc(Counters.id('eth.rx'))
    c.inc(Counters.id('udp.rx'))
    assert.equal(c.format(), 'eth.rx=2 udp.rx=1 ' + last + '=1')
    assert.equal(c.get('eth.rx'), 2)
    assert.equal(c.get('ip.rx'), 0)
  })
})
