// The arena: a board's budget becomes one fixed layout, and an impossible budget is refused with a
// message that says what to change.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { Budget, layoutArena, checkBudget, isBudgetError, region, formatArenaMap, SIZES } from '../firmware/kernel/arena.js'
import { loadBoard, boardNames } from '../hal/host/boards.js'

const pico = (): Budget => ({ ...loadBoard('espruino-pico-w5500').budget })

describe('arena layout', () => {
  test('regions are disjoint, 16-byte aligned, in order, and add up to the total', () => {
    for (const name of boardNames()) {
      const b = loadBoard(name)
      const l = layoutArena(b.budget, 65536 + 4, b.memory.arenaLimit)
      let end = l.base
      for (const r of l.regions) {
        assert.equal(r.offset % 16, 0, `${name} ${r.name} aligned`)
        assert.ok(r.offset >= end, `${name} ${r.name} does not overlap the previous region`)
        assert.equal(r.size, r.count * r.each)
        end = r.offset + r.size
      }
      assert.ok(l.base + l.total >= end)
      assert.ok(l.total <= b.memory.arenaLimit)
    }
  })

  test('sizes follow the budget: rings, TCB state of 96 bytes, frame slots', () => {
    const b = pico()
    const l = layoutArena(b, 0, 1 << 20)
    assert.equal(region(l, 'rx ring').size, b.rxSlots * b.frameSlotBytes)
    assert.equal(region(l, 'tcb state').each, SIZES.tcbState)
    assert.equal(region(l, 'tcp rx rings').size, b.tcbs * b.tcpRxBytes)
    b.tcbs += 1
    const l2 = layoutArena(b, 0, 1 << 20)
    assert.ok(l2.total >= l.total + b.tcpRxBytes + b.tcpTxBytes + SIZES.tcbState)
  })

  test('the map lists every region and the total', () => {
    const l = layoutArena(pico(), 0, 1 << 20)
    const map = formatArenaMap(l)
    for (const r of l.regions) assert.match(map, new RegExp(r.name))
    assert.match(map, new RegExp(`total\\s+${l.total}`))
  })
})

describe('impossible budgets are refused with what to change', () => {
  const cases: [string, (b: Budget) => void, RegExp][] = [
    ['a TCP ring that is not a power of two', (b) => { b.tcbs = 2; b.tcpRxBytes = 3000 }, /tcpRxBytes = 3000.*power of two.*try 4096/],
    ['a frame slot too small for a full frame', (b) => { b.frameSlotBytes = 1024 }, /frameSlotBytes = 1024.*1516/],
    ['no RX slot', (b) => { b.rxSlots = 0 }, /rxSlots = 0.*at least 1 slot/],
    ['more listeners than TCBs', (b) => { b.listeners = 5 }, /listeners = 5 exceeds budget.tcbs/],
    ['a reassembly buffer below RFC 1122 EMTU_R', (b) => { b.reassemblyBuffers = 1; b.reassemblyBytes = 500 }, /reassemblyBytes = 500.*576/],
    ['a reassembly buffer beyond 65535', (b) => { b.reassemblyBuffers = 1; b.reassemblyBytes = 70000 }, /at most 65535/],
    ['a negative count', (b) => { b.udpSockets = -1 }, /udpSockets = -1.*whole number/],
    ['a fractional count', (b) => { b.tcbs = 1.5 }, /tcbs = 1.5/],
    ['no ARP entries', (b) => { b.arpEntries = 0 }, /arpEntries = 0/],
  ]
  for (const [what, mutate, message] of cases) {
    test(what, () => {
      const b = pico()
      mutate(b)
      assert.ok(checkBudget(b).length > 0)
      assert.throws(() => layoutArena(b, 0, 1 << 20), (e: unknown) => isBudgetError(e) && message.test(e.message))
    })
  }

  test('a budget larger than the board allows names the largest region and the limit', () => {
    const b = pico()
    b.tcbs = 2
    b.tcpRxBytes = 65536
    assert.throws(() => layoutArena(b, 0, 12288),
      (e: unknown) => isBudgetError(e) && /at most 12288/.test(e.message) && /tcp rx rings/.test(e.message))
  })
})
