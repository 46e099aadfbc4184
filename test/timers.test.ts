// The fixed timer table, in virtual time.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { TimerTable } from '../firmware/kernel/timers.js'
import { VirtualClock } from '../firmware/kernel/clock.js'

test('timers fire once, in deadline order, only when due', () => {
  const t = new TimerTable(4)
  const clock = new VirtualClock()
  const log: string[] = []
  const a = t.register('a', () => log.push('a'))
  const b = t.register('b', () => log.push('b'))
  t.arm(a, 3000)
  t.arm(b, 1000)
  assert.equal(t.next(), 1000)
  clock.advance(999)
  assert.equal(t.runDue(clock.now()), 0)
  clock.advance(5000)
  assert.equal(t.runDue(clock.now()), 2)
  assert.deepEqual(log, ['b', 'a'])
  assert.equal(t.runDue(clock.now()), 0)
  assert.equal(t.next(), -1)
})

test('a periodic timer re-arms itself and fires once per call', () => {
  const t = new TimerTable(1)
  let n = 0
  const id = t.register('tick', (now) => { n++; t.arm(id, now) })
  t.arm(id, 0)
  t.runDue(10)
  t.runDue(10)
  assert.equal(n, 2)
})

test('cancelled timers do not fire; a full table refuses at registration', () => {
  const t = new TimerTable(1)
  let fired = false
  const id = t.register('x', () => { fired = true })
  t.arm(id, 5)
  t.cancel(id)
  t.runDue(100)
  assert.equal(fired, false)
  assert.throws(() => t.register('y', () => {}), /timer table full/)
})
