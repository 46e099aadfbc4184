// The W5500 driver (hal/w5500.ts) against the register-accurate simulator (hal/sim/w5500.ts), on a
// virtual µs clock with SPI timed at 20 MHz (tools/bench-spi.ts), frame rings laid out from
// boards/host.json. Every workaround has a test that runs the same scenario with the workaround off
// (the driver goes wrong) and on (it does not).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import { W5500Sim, W5500SimOptions } from '../hal/sim/w5500.js'
import {
  W5500Driver, W5500DriverOptions, W5500Io, readStable16, recordLengthOk, waitVersion, wireTimeUs,
  BSB_COMMON, BSB_S0_REG, BSB_S0_RX, BSB_S0_TX,
} from '../hal/w5500.js'
import { Platform } from '../hal/types.js'
import { hostSpiBus, simPlatform } from '../hal/host/sim-platform.js'
import { VirtualClock } from '../firmware/kernel/clock.js'
import { checkDialect, formatFindings } from '../tools/dialect.js'
import { measureSpi, benchSpi, testFrame, w5500Rig, hostRings, W5500Rig, BENCH_MAC } from '../tools/bench-spi.js'

const MAC = BENCH_MAC
const OTHER = [0x02, 0x00, 0x00, 0x11, 0x22, 0x33]
const BCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
const MCAST = [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb]
const MCAST2 = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]
const V6MCAST = [0x33, 0x33, 0x00, 0x00, 0x00, 0x01]

// Register addresses, for looking at the chip from the test (ref B2/B3)
const SHAR = 0x0009
const SIMR = 0x0018
const VERSIONR = 0x0039
const RTR = 0x0019
const SN_MR = 0x00
const SN_CR = 0x01
const SN_IR = 0x02
const SN_SR = 0x03
const SN_RXBUF_SIZE = 0x1e
const SN_TXBUF_SIZE = 0x1f
const SN_RX_RSR = 0x26
const SN_IMR = 0x2c

/** Reads chip registers over SPI the way a driver would (it counts in the chip's stats; tests that
 *  measure SPI do not use it). */
function peek(chip: W5500Sim, bsb: number, addr: number, len: number): number[] {
  const f = new Uint8Array(3 + len)
  f[0] = addr >> 8
  f[1] = addr & 0xff
  f[2] = bsb << 3
  return Array.prototype.slice.call(chip.send(f).subarray(3)) as number[]
}
function peek8(chip: W5500Sim, bsb: number, addr: number): number {
  return peek(chip, bsb, addr, 1)[0]
}
function peek16(chip: W5500Sim, bsb: number, addr: number): number {
  const b = peek(chip, bsb, addr, 2)
  return (b[0] << 8) | b[1]
}

function up(sim?: W5500SimOptions, drv?: W5500DriverOptions): W5500Rig {
  const rig = w5500Rig(sim, drv)
  rig.driver.init(MAC)
  return rig
}

/** Takes every frame out of the RX ring (copies). */
function drain(rig: W5500Rig, max?: number): Uint8Array[] {
  const { rx, bytes } = rig.rings
  const out: Uint8Array[] = []
  const n = max === undefined ? Infinity : max
  while (rx.count() > 0 && out.length < n) {
    const at = rx.peek()
    out.push(bytes.slice(at, at + rx.peekLength()))
    rx.release()
  }
  return out
}

/** Queues a frame in the TX ring. */
function queue(rig: W5500Rig, f: Uint8Array): void {
  const { tx, bytes } = rig.rings
  const at = tx.reserve()
  assert.ok(at >= 0, 'TX ring full')
  bytes.set(f, at)
  tx.commit(f.length)
}

/** Counts SEND commands (writes of 0x20 to socket 0's Sn_CR) going over SPI. */
function countSends(rig: W5500Rig): { n: number } {
  const c = { n: 0 }
  const send = rig.platform.spi.send
  rig.platform.spi.send = (tx: Uint8Array): Uint8Array => {
    if (tx.length === 4 && tx[0] === 0 && tx[1] === SN_CR && tx[2] === ((BSB_S0_REG << 3) | 4) && tx[3] === 0x20) c.n++
    return send(tx)
  }
  return c
}

/** Makes platform.delay throw once virtual time passes `limitUs` after now: a driver that waits for
 *  ever (in virtual time) is caught instead of hanging the test. */
function hangGuard(rig: W5500Rig, limitUs: number): void {
  const until = rig.clock.now() + limitUs
  const delay = rig.platform.delay
  rig.platform.delay = (us: number): void => {
    delay(us)
    if (rig.clock.now() > until) throw new Error('HANG: still waiting ' + limitUs + ' us later')
  }
}

function sameFrame(got: Uint8Array, want: Uint8Array): boolean {
  if (got.length !== want.length) return false
  for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) return false
  return true
}

function seqOf(f: Uint8Array): number {
  return ((f[14] << 24) | (f[15] << 16) | (f[16] << 8) | f[17]) >>> 0
}

// ---------------------------------------------------------------------------------------------------
// Bring-up

test('init: presence check, reset, MAC, 16 KB to socket 0, MACRAW with MFEN|MMB|MIP6B, interrupts on; no misuse', () => {
  const rig = w5500Rig()
  let pulses = 0
  const pulse = rig.platform.reset.pulse
  rig.platform.reset.pulse = (us: number): void => { pulses++; assert.ok(us >= 500); pulse(us) }
  // Leave the chip in a state only a reset clears: socket 1 open as UDP, a foreign MAC.
  rig.chip.send(new Uint8Array([0x00, SHAR, 0x04, 1, 2, 3, 4, 5, 6]))
  rig.driver.init(MAC)
  const c = rig.chip
  assert.equal(pulses, 1, 'RSTn pulsed once')
  assert.deepEqual(peek(c, BSB_COMMON, SHAR, 6), Array.from(MAC))
  assert.deepEqual(peek(c, BSB_S0_REG, SN_RXBUF_SIZE, 2), [16, 16])
  for (let s = 1; s < 8; s++) assert.deepEqual(peek(c, 1 + 4 * s, SN_RXBUF_SIZE, 2), [0, 0], 'socket ' + s)
  assert.equal(peek8(c, BSB_S0_REG, SN_MR), 0xb4)
  assert.equal(peek8(c, BSB_S0_REG, SN_SR), 0x42)
  assert.equal(peek8(c, BSB_COMMON, SIMR), 0x01)
  assert.equal(peek8(c, BSB_S0_REG, SN_IMR), 0x14)
  assert.equal(rig.driver.linkUp(), true)
  assert.deepEqual(rig.misuse, [])
  assert.equal(rig.driver.lastError, '')
})

test('init without the RSTn pulse (hardwareReset: false) relies on MR.RST alone', () => {
  const rig = w5500Rig({}, { hardwareReset: false })
  let pulses = 0
  rig.platform.reset.pulse = (): void => { pulses++ }
  rig.driver.init(MAC)
  assert.equal(pulses, 0)
  assert.equal(peek8(rig.chip, BSB_S0_REG, SN_SR), 0x42)
  assert.deepEqual(rig.misuse, [])
})

test('init: no chip on the bus (MISO all 0x00 or all 0xFF) fails with a clear Error within a bounded time', () => {
  for (const level of [0x00, 0xff]) {
    const clock = new VirtualClock(0)
    const dead = { send: (tx: Uint8Array): Uint8Array => new Uint8Array(tx.length).fill(level), interrupt: false }
    const d = new W5500Driver(simPlatform(dead, clock))
    const hs = hostRings()
    assert.throws(() => d.init(MAC), level === 0 ? /VERSIONR reads 0x00, expected 0x04/ : /MR\.RST never clears/)
    assert.ok(clock.now() < 300000, 'gave up after ' + clock.now() + ' us')
    assert.equal(d.linkUp(), false)
    assert.equal(d.receive(hs.rx, 16), 0)
    assert.notEqual(d.lastError, '')
  }
})

test('init: RTR must read 0x07D0 after reset (Linux/Zephyr presence check)', () => {
  const rig = w5500Rig()
  const send = rig.platform.spi.send
  rig.platform.spi.send = (tx: Uint8Array): Uint8Array => {
    const r = send(tx)
    if (tx[0] === 0 && tx[1] === RTR && tx[2] === 0) r[3] = 0x12
    return r
  }
  assert.throws(() => rig.driver.init(MAC), /RTR reads 0x12d0/)
})

test('init: a MAC must have 6 bytes', () => {
  const rig = w5500Rig()
  assert.throws(() => rig.driver.init(new Uint8Array(5)), /6 bytes/)
})

test('init copes with Sn_CR latency, Sn_SR lag and a non-zero pointer after OPEN (frame clock)', () => {
  const clock = new VirtualClock(0)
  const misuse: string[] = []
  const chip = new W5500Sim({ commandLatencyFrames: 3, statusLagFrames: 2, openPointer: 0xfff0, onMisuse: (w) => { misuse.push(w) } })
  const sent: Uint8Array[] = []
  chip.onTransmit = (f) => { sent.push(f) }
  const rings = hostRings()
  const d = new W5500Driver(simPlatform(chip, clock), { arena: rings.buffer })
  d.init(MAC)
  const frames: Uint8Array[] = []
  for (let i = 0; i < 30; i++) {
    const f = testFrame(MAC, 60 + ((i * 397) % 1455), i)
    frames.push(f)
    assert.equal(chip.receive(f), true)
    if (i % 3 === 2) d.receive(rings.rx, 16)
  }
  d.receive(rings.rx, 16)
  const got: Uint8Array[] = []
  while (rings.rx.count() > 0) {
    const at = rings.rx.peek()
    got.push(rings.bytes.slice(at, at + rings.rx.peekLength()))
    rings.rx.release()
  }
  assert.equal(got.length, 30)
  for (let i = 0; i < 30; i++) assert.ok(sameFrame(got[i], frames[i]), 'frame ' + i)
  for (let i = 0; i < 5; i++) {
    const f = testFrame(OTHER, 1000 + i, 100 + i)
    const at = rings.tx.reserve()
    rings.bytes.set(f, at)
    rings.tx.commit(f.length)
    assert.equal(d.transmit(rings.tx, 8), 1)
    assert.ok(sameFrame(sent[i], f))
  }
  assert.equal(d.stats.txFrames, 5)
  assert.deepEqual(misuse, [])
})

test('the driver takes the arena from the ring when not given one (virtual-board style construction)', () => {
  const clock = new VirtualClock(0)
  const chip = new W5500Sim({ now: () => clock.now() })
  const rings = hostRings()
  const d = new W5500Driver(simPlatform(chip, clock))
  d.init(MAC)
  const f = testFrame(MAC, 700, 1)
  chip.receive(f)
  assert.equal(d.receive(rings.rx, 4), 1)
  const at = rings.rx.peek()
  assert.ok(sameFrame(rings.bytes.slice(at, at + rings.rx.peekLength()), f))
})

test('hardware reset through the platform pin: the simulator goes back to power-on state', () => {
  const rig = up()
  rig.chip.receive(testFrame(MAC, 100, 1))
  rig.platform.reset.pulse(500)
  assert.equal(peek8(rig.chip, BSB_S0_REG, SN_SR), 0x00)
  assert.deepEqual(peek(rig.chip, BSB_COMMON, SHAR, 6), [0, 0, 0, 0, 0, 0])
  assert.equal(rig.chip.interrupt, false)
  // init again brings everything back.
  rig.driver.init(MAC)
  assert.equal(peek8(rig.chip, BSB_S0_REG, SN_SR), 0x42)
  assert.deepEqual(rig.misuse, [])
})

// ---------------------------------------------------------------------------------------------------
// Receive

test('receive: frames land in RX ring slots intact and in order, across many wraps of the 16 KB buffer', () => {
  const rig = up({ openPointer: 0xfe00 })
  const want: Uint8Array[] = []
  const got: Uint8Array[] = []
  let x = 12345
  let seq = 0
  for (let round = 0; round < 300; round++) {
    x = (x * 1103515245 + 12345) >>> 0
    const burst = 1 + (x % 9)
    for (let k = 0; k < burst; k++) {
      x = (x * 1103515245 + 12345) >>> 0
      const f = testFrame(MAC, 60 + (x % 1455), seq++)
      if (rig.chip.receive(f)) want.push(f)
    }
    rig.clock.advance(50)
    rig.driver.receive(rig.rings.rx, 1 + (round % 7))
    const d = drain(rig)
    for (let i = 0; i < d.length; i++) got.push(d[i])
  }
  for (let i = 0; i < 200 && got.length < want.length; i++) {
    rig.driver.receive(rig.rings.rx, 16)
    const d = drain(rig)
    for (let k = 0; k < d.length; k++) got.push(d[k])
  }
  assert.ok(want.length > 1000)
  assert.equal(got.length, want.length)
  for (let i = 0; i < want.length; i++) assert.ok(sameFrame(got[i], want[i]), 'frame ' + i)
  assert.equal(rig.driver.stats.rxFrames, want.length)
  assert.equal(rig.driver.stats.rxErrors, 0)
  assert.equal(rig.driver.stats.recoveries, 0)
  assert.deepEqual(rig.misuse, [])
})

test('receive: the per-poll budget bounds the frames moved; the rest waits in the chip', () => {
  const rig = up()
  for (let i = 0; i < 10; i++) assert.equal(rig.chip.receive(testFrame(MAC, 200, i)), true)
  assert.equal(rig.driver.receive(rig.rings.rx, 3), 3)
  assert.equal(rig.driver.stats.budgetStops, 1)
  assert.equal(rig.rings.rx.count(), 3)
  assert.equal(rig.driver.receive(rig.rings.rx, 100), 7)
  const got = drain(rig)
  for (let i = 0; i < 10; i++) assert.equal(seqOf(got[i]), i)
})

test('receive: a full RX ring stops the poll; frames stay in the chip and come later, none lost', () => {
  const rig = up()
  const slots = rig.rings.rx.slots
  const n = slots + 8
  for (let i = 0; i < n; i++) assert.equal(rig.chip.receive(testFrame(MAC, 300, i)), true)
  assert.equal(rig.driver.receive(rig.rings.rx, 1000), slots)
  assert.equal(rig.rings.rx.free(), 0)
  assert.equal(rig.driver.receive(rig.rings.rx, 1000), 0, 'nothing moves while the ring is full')
  const first = drain(rig, 5)
  assert.equal(rig.driver.receive(rig.rings.rx, 1000), 5)
  const rest = drain(rig)
  assert.equal(rig.driver.receive(rig.rings.rx, 1000), 3)
  const last = drain(rig)
  const all = first.concat(rest, last)
  assert.equal(all.length, n)
  for (let i = 0; i < n; i++) assert.equal(seqOf(all[i]), i)
  assert.equal(rig.rings.rx.overflows(), 0)
})

test('interrupts: INTn asserts for a received frame and the driver clears Sn_IR (write 1 to clear)', () => {
  const rig = up()
  assert.equal(rig.chip.interrupt, false)
  rig.chip.receive(testFrame(MAC, 100, 1))
  assert.equal(rig.chip.interrupt, true)
  assert.equal(rig.driver.receive(rig.rings.rx, 16), 1)
  assert.equal(rig.chip.interrupt, false)
  assert.equal(peek8(rig.chip, BSB_S0_REG, SN_IR), 0)
  // A frame that lands after the driver's RSR read raises INTn again.
  rig.chip.receive(testFrame(MAC, 100, 2))
  assert.equal(rig.chip.interrupt, true)
  assert.equal(rig.driver.receive(rig.rings.rx, 16), 1)
  assert.equal(rig.chip.interrupt, false)
  // SENDOK is cleared by transmit.
  queue(rig, testFrame(OTHER, 100, 3))
  rig.driver.transmit(rig.rings.tx, 4)
  assert.equal(rig.chip.interrupt, false)
  assert.equal(peek8(rig.chip, BSB_S0_REG, SN_IR), 0)
})

test('receive: a frame that arrives during a poll is picked up in the same poll when INTn says so', () => {
  const rig = up()
  rig.chip.receive(testFrame(MAC, 1000, 1))
  // The second frame arrives while the driver reads the first.
  const send = rig.platform.spi.send
  let injected = false
  rig.platform.spi.send = (tx: Uint8Array): Uint8Array => {
    const r = send(tx)
    if (!injected && tx.length > 1000) { injected = true; rig.chip.receive(testFrame(MAC, 1000, 2)) }
    return r
  }
  assert.equal(rig.driver.receive(rig.rings.rx, 16), 2)
})

test('filters: own unicast and broadcast pass, others are dropped by the chip (MFEN)', () => {
  const rig = up()
  assert.equal(rig.chip.receive(testFrame(MAC, 60, 1)), true)
  assert.equal(rig.chip.receive(testFrame(BCAST, 60, 2)), true)
  assert.equal(rig.chip.receive(testFrame(OTHER, 60, 3)), false)
  assert.equal(rig.chip.stats.rxFiltered, 1)
  assert.equal(rig.driver.receive(rig.rings.rx, 16), 2)
})

test('filters: multicast is blocked (MMB) until joinMulticast; then every group passes (no per-group filter)', () => {
  const rig = up()
  assert.equal(rig.chip.receive(testFrame(MCAST, 60, 1)), false)
  rig.driver.joinMulticast(new Uint8Array(MCAST))
  assert.equal(peek8(rig.chip, BSB_S0_REG, SN_MR), 0x94, 'MMB cleared (CLOSE/OPEN: Sn_MR applies at OPEN)')
  assert.equal(rig.chip.receive(testFrame(MCAST, 60, 2)), true)
  // The W5500 cannot filter individual groups: a group not joined passes too, for the IPv4 layer to drop.
  assert.equal(rig.chip.receive(testFrame(MCAST2, 60, 3)), true)
  // Joining again changes nothing (no re-open).
  const cs = rig.chip.stats.csFrames
  rig.driver.joinMulticast(new Uint8Array(MCAST2))
  assert.equal(rig.chip.stats.csFrames, cs)
  assert.equal(rig.driver.receive(rig.rings.rx, 16), 2)
  assert.throws(() => rig.driver.joinMulticast(new Uint8Array(MAC)), /multicast/)
  assert.deepEqual(rig.misuse, [])
})

test('filters: IPv6 is blocked (MIP6B) until a 33:33 group is joined; blockIpv6: false gives ESP-IDF\'s 0xA4', () => {
  const rig = up()
  const v6 = testFrame(MAC, 80, 1)
  v6[12] = 0x86
  v6[13] = 0xdd
  assert.equal(rig.chip.receive(v6), false)
  rig.driver.joinMulticast(new Uint8Array(V6MCAST))
  assert.equal(peek8(rig.chip, BSB_S0_REG, SN_MR), 0x84)
  assert.equal(rig.chip.receive(v6), true)
  const open = up({}, { blockIpv6: false })
  assert.equal(peek8(open.chip, BSB_S0_REG, SN_MR), 0xa4)
})

test('setPromiscuous: everything on the wire passes while on; the filters come back when off', () => {
  const rig = up()
  rig.driver.setPromiscuous(true)
  assert.equal(peek8(rig.chip, BSB_S0_REG, SN_MR), 0x04)
  assert.equal(rig.chip.receive(testFrame(OTHER, 60, 1)), true)
  assert.equal(rig.chip.receive(testFrame(MCAST, 60, 2)), true)
  assert.equal(rig.driver.receive(rig.rings.rx, 16), 2)
  rig.driver.setPromiscuous(false)
  assert.equal(peek8(rig.chip, BSB_S0_REG, SN_MR), 0xb4)
  assert.equal(rig.chip.receive(testFrame(OTHER, 60, 3)), false)
  assert.deepEqual(rig.misuse, [])
})

test('link state follows PHYCFGR.LNK', () => {
  const rig = up({ autonegUs: 5000 })
  assert.equal(rig.driver.linkUp(), true)
  rig.chip.setLink(false)
  assert.equal(rig.driver.linkUp(), false)
  rig.chip.setLink(true)
  assert.equal(rig.driver.linkUp(), false, 'autonegotiating')
  rig.clock.advance(5000)
  assert.equal(rig.driver.linkUp(), true)
})

test('a chip that stops taking commands: every wait is bounded; the driver stops and says why; init brings it back', () => {
  const rig = up({}, { commandTimeoutUs: 1000 })
  let stuckUntil = 0
  const send = rig.platform.spi.send
  rig.platform.spi.send = (tx: Uint8Array): Uint8Array => {
    const r = send(tx)
    if (rig.clock.now() < stuckUntil && tx[1] === SN_CR && tx[2] === BSB_S0_REG << 3) r[3] = 0x40
    return r
  }
  rig.chip.receive(testFrame(MAC, 500, 1))
  assert.equal(rig.driver.receive(rig.rings.rx, 16), 1)
  stuckUntil = rig.clock.now() + 1000000
  rig.chip.receive(testFrame(MAC, 500, 2))
  const t0 = rig.clock.now()
  rig.driver.receive(rig.rings.rx, 16)
  rig.driver.receive(rig.rings.rx, 16)
  assert.ok(rig.clock.now() - t0 < 50000, 'bounded: ' + (rig.clock.now() - t0) + ' us')
  assert.match(rig.driver.lastError, /socket 0 does not open/)
  assert.ok(rig.driver.stats.recoveries >= 1)
  assert.equal(rig.driver.linkUp(), false)
  queue(rig, testFrame(OTHER, 100, 3))
  assert.equal(rig.driver.transmit(rig.rings.tx, 4), 0)
  stuckUntil = 0
  rig.driver.init(MAC)
  assert.equal(rig.driver.lastError, '')
  assert.equal(rig.driver.transmit(rig.rings.tx, 4), 1)
  rig.chip.receive(testFrame(MAC, 500, 4))
  assert.equal(rig.driver.receive(rig.rings.rx, 16), 1)
})

// ---------------------------------------------------------------------------------------------------
// Transmit

test('transmit: one SEND per frame, every frame on the wire intact, across TX buffer wraps', () => {
  const rig = up({ openPointer: 0xff00 })
  const sends = countSends(rig)
  const want: Uint8Array[] = []
  for (let i = 0; i < 60; i++) {
    const len = i % 10 === 0 ? 42 : 60 + ((i * 7919) % 1455)
    const f = testFrame(OTHER, len, i)
    want.push(f)
    queue(rig, f)
    if (i % 4 === 3) assert.equal(rig.driver.transmit(rig.rings.tx, 32), 4)
  }
  assert.equal(rig.sent.length, 60)
  assert.equal(sends.n, 60)
  for (let i = 0; i < 60; i++) {
    const w = want[i]
    const g = rig.sent[i]
    // The chip pads frames under 60 bytes (ref B6).
    assert.equal(g.length, Math.max(60, w.length))
    assert.ok(sameFrame(g.subarray(0, w.length), w), 'frame ' + i)
  }
  assert.equal(rig.driver.stats.txFrames, 60)
  assert.equal(rig.driver.stats.txErrors, 0)
  assert.deepEqual(rig.misuse, [])
})

test('transmit: the budget bounds frames per call; frames of impossible length are dropped as txErrors', () => {
  const rig = up()
  for (let i = 0; i < 5; i++) queue(rig, testFrame(OTHER, 100, i))
  assert.equal(rig.driver.transmit(rig.rings.tx, 2), 2)
  assert.equal(rig.rings.tx.count(), 3)
  assert.equal(rig.driver.transmit(rig.rings.tx, 10), 3)
  queue(rig, new Uint8Array(10))
  queue(rig, testFrame(OTHER, 1514, 9))
  assert.equal(rig.driver.transmit(rig.rings.tx, 10), 1)
  assert.equal(rig.driver.stats.txErrors, 1)
  assert.equal(rig.sent.length, 6)
})

test('transmit with the link known down drops frames as txErrors without a SEND, and resumes when it is up', () => {
  const rig = up({ autonegUs: 1000 })
  const sends = countSends(rig)
  rig.chip.setLink(false)
  assert.equal(rig.driver.linkUp(), false)
  for (let i = 0; i < 3; i++) queue(rig, testFrame(OTHER, 100, i))
  assert.equal(rig.driver.transmit(rig.rings.tx, 10), 0)
  assert.equal(rig.driver.stats.txErrors, 3)
  assert.equal(sends.n, 0)
  assert.equal(rig.rings.tx.count(), 0)
  rig.chip.setLink(true)
  rig.clock.advance(1000)
  queue(rig, testFrame(OTHER, 100, 9))
  assert.equal(rig.driver.transmit(rig.rings.tx, 10), 1, 'the driver looks at PHYCFGR again')
  assert.equal(rig.sent.length, 1)
  assert.deepEqual(rig.misuse, [])
})

test('transmit at 10 Mbit/s waits the longer wire time and still polls Sn_IR only a few times', () => {
  const rig = up({ speed: 10, fullDuplex: false })
  const cs0 = rig.chip.stats.csFrames
  queue(rig, testFrame(OTHER, 1514, 1))
  assert.equal(rig.driver.transmit(rig.rings.tx, 1), 1)
  assert.equal(rig.sent.length, 1)
  assert.ok(rig.chip.stats.csFrames - cs0 <= 8, 'CS frames: ' + (rig.chip.stats.csFrames - cs0))
  assert.ok(wireTimeUs(1514, 10) > 1200)
})

// ---------------------------------------------------------------------------------------------------
// Workaround: readStable16 (torn Sn_RX_RSR / Sn_TX_FSR reads, DS p.54-55)

test('readStable16: a torn RSR read is caught by reading until two reads agree', () => {
  const rig = up({ faults: { tornReads: true } })
  const io = new W5500Io(rig.platform)
  rig.chip.receive(testFrame(MAC, 300, 1))
  // One 2-byte read: high byte before the frame landed (0x00), low byte after (302 = 0x012E).
  assert.equal(io.read16(BSB_S0_REG, SN_RX_RSR), 0x002e)
  rig.chip.receive(testFrame(MAC, 300, 2))
  assert.equal(readStable16(io, BSB_S0_REG, SN_RX_RSR), 604)
})

/** Frames arrive at the worst moment: just before the driver reads Sn_RX_RSR, so with the tornReads
 *  fault each lands between the high and the low byte of that read. */
function tornRun(on: boolean): { accepted: number; got: Uint8Array[]; want: Uint8Array[]; rig: W5500Rig } {
  const rig = up({ faults: { tornReads: true } }, { workarounds: { readStable16: on } })
  const frames: Uint8Array[] = []
  for (let i = 0; i < 60; i++) frames.push(testFrame(MAC, 260 + ((i * 331) % 1200), i))
  const want: Uint8Array[] = []
  const got: Uint8Array[] = []
  let next = 0
  const send = rig.platform.spi.send
  rig.platform.spi.send = (tx: Uint8Array): Uint8Array => {
    if (tx[1] === SN_RX_RSR && tx[2] === BSB_S0_REG << 3 && next < frames.length) {
      const f = frames[next++]
      if (rig.chip.receive(f)) want.push(f)
    }
    return send(tx)
  }
  for (let i = 0; i < 200; i++) {
    rig.driver.receive(rig.rings.rx, 16)
    const d = drain(rig)
    for (let k = 0; k < d.length; k++) got.push(d[k])
    rig.clock.advance(100)
  }
  assert.equal(next, frames.length)
  return { accepted: want.length, got, want, rig }
}

test('workaround readStable16 OFF: a torn RSR makes a good record look cut short; the socket is reset and frames are lost', () => {
  const r = tornRun(false)
  assert.ok(r.rig.driver.stats.recoveries > 0, 'a needless recovery')
  assert.ok(r.got.length < r.accepted, 'frames accepted by the chip were lost: ' + r.got.length + ' of ' + r.accepted)
})

test('workaround readStable16 ON: with torn reads every frame the chip accepted is delivered, no recovery', () => {
  const r = tornRun(true)
  assert.equal(r.got.length, r.accepted)
  for (let i = 0; i < r.got.length; i++) assert.ok(sameFrame(r.got[i], r.want[i]), 'frame ' + i)
  assert.equal(r.rig.driver.stats.recoveries, 0)
  assert.deepEqual(r.rig.misuse, [])
})

test('readStable16 on TX: FSR is read twice and transmission is unaffected by torn reads', () => {
  const rig = up({ faults: { tornReads: true } })
  for (let i = 0; i < 20; i++) {
    queue(rig, testFrame(OTHER, 1514 - i * 50, i))
    assert.equal(rig.driver.transmit(rig.rings.tx, 1), 1)
  }
  assert.equal(rig.sent.length, 20)
  assert.equal(rig.driver.stats.txErrors + rig.driver.stats.recoveries, 0)
})

// ---------------------------------------------------------------------------------------------------
// Workaround: recoverBadLength (insane MACRAW record lengths, ref B5)

test('recordLengthOk: 62..1516 and within what RSR showed', () => {
  assert.equal(recordLengthOk(62, 62), true)
  assert.equal(recordLengthOk(1516, 2000), true)
  assert.equal(recordLengthOk(61, 100), false)
  assert.equal(recordLengthOk(1517, 2000), false)
  assert.equal(recordLengthOk(65534, 16384), false)
  assert.equal(recordLengthOk(300, 299), false)
})

function corruptRun(bad: number, on: boolean): { rig: W5500Rig; before: Uint8Array[]; after: Uint8Array[] } {
  const rig = up({}, { workarounds: { recoverBadLength: on } })
  rig.chip.faults.corruptLength = bad
  for (let i = 0; i < 3; i++) rig.chip.receive(testFrame(MAC, 100, i))
  rig.driver.receive(rig.rings.rx, 16)
  const before = drain(rig)
  // Later traffic: does it get through?
  const after: Uint8Array[] = []
  for (let i = 0; i < 10; i++) {
    rig.chip.receive(testFrame(MAC, 100 + i, 10 + i))
    rig.driver.receive(rig.rings.rx, 16)
    const d = drain(rig)
    for (let k = 0; k < d.length; k++) after.push(d[k])
  }
  return { rig, before, after }
}

test('workaround recoverBadLength OFF: LEN 65534 wedges reception for good (ESP #151); each poll still returns (budget)', () => {
  const r = corruptRun(65534, false)
  assert.equal(r.before.length, 0)
  assert.equal(r.after.length, 0, 'nothing gets through any more')
  assert.ok(r.rig.driver.stats.rxErrors >= 10, 'the same bad record at every poll')
})

test('workaround recoverBadLength ON: LEN 65534 re-opens the socket once; later traffic gets through', () => {
  const r = corruptRun(65534, true)
  assert.equal(r.rig.driver.stats.recoveries, 1)
  assert.equal(r.rig.driver.stats.rxErrors, 1)
  assert.equal(r.after.length, 10)
  for (let i = 0; i < 10; i++) assert.ok(sameFrame(r.after[i], testFrame(MAC, 100 + i, 10 + i)))
  assert.deepEqual(r.rig.misuse, [])
})

test('workaround recoverBadLength OFF: LEN 20 (below a minimum frame) delivers a corrupt 18-byte frame and garbage after it', () => {
  const r = corruptRun(20, false)
  assert.ok(r.before.length >= 1)
  assert.equal(r.before[0].length, 18, 'a runt the chip never delivers')
  const all = r.before.concat(r.after)
  const good = all.filter((f) => f.length >= 100 && sameFrame(f, testFrame(MAC, f.length, seqOf(f))))
  assert.ok(good.length < all.length, 'corrupt frames reached the stack')
})

test('workaround recoverBadLength ON: LEN 20 is caught; no corrupt frame reaches the ring', () => {
  const r = corruptRun(20, true)
  assert.equal(r.before.length, 0, 'the chip buffer was dropped with the bad record')
  assert.equal(r.rig.driver.stats.recoveries, 1)
  assert.equal(r.after.length, 10)
  for (const f of r.after) assert.ok(sameFrame(f, testFrame(MAC, f.length, seqOf(f))))
})

test('recoverBadLength: a bad length in the middle of a long backlog (header read ahead) is caught too', () => {
  const rig = up()
  for (let i = 0; i < 6; i++) rig.chip.receive(testFrame(MAC, 1400, i))
  rig.chip.faults.corruptLength = 3000
  rig.chip.receive(testFrame(MAC, 1400, 6))
  for (let i = 7; i < 9; i++) rig.chip.receive(testFrame(MAC, 1400, i))
  rig.driver.receive(rig.rings.rx, 16)
  const got = drain(rig)
  assert.equal(got.length, 6)
  for (let i = 0; i < 6; i++) assert.equal(seqOf(got[i]), i)
  assert.equal(rig.driver.stats.recoveries, 1)
  rig.chip.receive(testFrame(MAC, 500, 20))
  assert.equal(rig.driver.receive(rig.rings.rx, 16), 1)
})

// ---------------------------------------------------------------------------------------------------
// Workaround: waitVersion (VERSIONR reads 0 right after reset, ref B2)

test('waitVersion: polls VERSIONR until 0x04, bounded', () => {
  const clock = new VirtualClock(0)
  const chip = new W5500Sim({ now: () => clock.now(), versionZeroUs: 700, faults: { versionZero: true } })
  const io = new W5500Io(simPlatform(chip, clock))
  assert.equal(waitVersion(io, 100000, 100), 0x04)
  assert.ok(clock.now() >= 700 && clock.now() < 1000)
  const dead = new W5500Io(simPlatform({ send: (tx: Uint8Array) => new Uint8Array(tx.length), interrupt: false }, clock))
  const t0 = clock.now()
  assert.equal(waitVersion(dead, 5000, 100), 0x00)
  assert.ok(clock.now() - t0 >= 5000 && clock.now() - t0 < 5200)
})

test('workaround waitVersion OFF: a W5500 that reads VERSIONR 0 after reset is taken for absent', () => {
  const rig = w5500Rig({ faults: { versionZero: true } }, { workarounds: { waitVersion: false } })
  assert.throws(() => rig.driver.init(MAC), /VERSIONR reads 0x00/)
})

test('workaround waitVersion ON: the same chip comes up', () => {
  const rig = w5500Rig({ faults: { versionZero: true } })
  rig.driver.init(MAC)
  assert.equal(peek8(rig.chip, BSB_COMMON, VERSIONR), 0x04)
  assert.equal(peek8(rig.chip, BSB_S0_REG, SN_SR), 0x42)
  assert.deepEqual(rig.misuse, [])
})

// ---------------------------------------------------------------------------------------------------
// Workaround: abortStuckSend (SENDOK never comes when the link drops during SEND, ref B6)

/** Drops the link the moment the driver writes SEND (and brings it back at once when `back`). */
function dropLinkOnSend(rig: W5500Rig, back: boolean): void {
  const send = rig.platform.spi.send
  let done = false
  rig.platform.spi.send = (tx: Uint8Array): Uint8Array => {
    const r = send(tx)
    if (!done && tx.length === 4 && tx[1] === SN_CR && tx[2] === ((BSB_S0_REG << 3) | 4) && tx[3] === 0x20) {
      done = true
      rig.chip.setLink(false)
      if (back) rig.chip.setLink(true)
    }
    return r
  }
}

test('workaround abortStuckSend OFF: the link drops during SEND and the driver waits for SENDOK for ever', () => {
  const rig = up({ autonegUs: 100, faults: { linkDownDuringSend: true } }, { workarounds: { abortStuckSend: false } })
  dropLinkOnSend(rig, false)
  hangGuard(rig, 1000000)
  queue(rig, testFrame(OTHER, 1000, 1))
  assert.throws(() => rig.driver.transmit(rig.rings.tx, 4), /HANG/)
})

test('workaround abortStuckSend ON: bounded wait, PHYCFGR.LNK seen down, CLOSE/OPEN, txError; later frames go out', () => {
  const rig = up({ autonegUs: 100, faults: { linkDownDuringSend: true } })
  dropLinkOnSend(rig, false)
  hangGuard(rig, 1000000)
  queue(rig, testFrame(OTHER, 1000, 1))
  queue(rig, testFrame(OTHER, 1000, 2))
  const t0 = rig.clock.now()
  assert.equal(rig.driver.transmit(rig.rings.tx, 4), 1)
  assert.ok(rig.clock.now() - t0 < 5000, 'gave up after ' + (rig.clock.now() - t0) + ' us')
  assert.equal(rig.driver.stats.txErrors, 2, 'the stuck frame, and the next one dropped while the link is down')
  assert.equal(rig.driver.stats.recoveries, 1)
  assert.equal(rig.sent.length, 0)
  rig.chip.setLink(true)
  rig.clock.advance(200)
  assert.equal(rig.driver.linkUp(), true)
  queue(rig, testFrame(OTHER, 1000, 3))
  assert.equal(rig.driver.transmit(rig.rings.tx, 4), 1)
  assert.equal(rig.sent.length, 1)
  assert.equal(seqOf(rig.sent[0]), 3)
  assert.deepEqual(rig.misuse, [])
})

test('workaround abortStuckSend: a link that drops and returns during SEND leaves the transmitter hung; the bound catches it', () => {
  for (const on of [false, true]) {
    const rig = up({ autonegUs: 10, faults: { linkDownDuringSend: true } }, { workarounds: { abortStuckSend: on } })
    dropLinkOnSend(rig, true)
    hangGuard(rig, 1000000)
    queue(rig, testFrame(OTHER, 600, 1))
    queue(rig, testFrame(OTHER, 600, 2))
    if (!on) {
      assert.throws(() => rig.driver.transmit(rig.rings.tx, 4), /HANG/)
      continue
    }
    const t0 = rig.clock.now()
    assert.equal(rig.driver.transmit(rig.rings.tx, 4), 2)
    assert.ok(rig.clock.now() - t0 < 10000)
    assert.equal(rig.driver.stats.txErrors, 1)
    assert.equal(rig.driver.stats.txFrames, 1)
    assert.equal(rig.sent.length, 1)
    assert.equal(seqOf(rig.sent[0]), 2)
    assert.deepEqual(rig.misuse, [])
  }
})

test('abortStuckSend keeps receiving working: frames arriving after the recovery are delivered', () => {
  const rig = up({ autonegUs: 10, faults: { linkDownDuringSend: true } })
  dropLinkOnSend(rig, true)
  queue(rig, testFrame(OTHER, 600, 1))
  rig.driver.transmit(rig.rings.tx, 4)
  rig.clock.advance(100)
  rig.chip.receive(testFrame(MAC, 600, 5))
  assert.equal(rig.driver.receive(rig.rings.rx, 4), 1)
  assert.equal(seqOf(drain(rig)[0]), 5)
})

// ---------------------------------------------------------------------------------------------------
// SPI efficiency

/** Records what crosses the SPI bus: each SpiBus call the driver makes and each chip-select frame the
 *  chip sees (the bytes clocked out). */
interface SpiLog {
  calls: { op: 'send' | 'sendThenRead' | 'sendThenWrite'; header: number[]; len: number; data: Uint8Array | null }[]
  frames: number[][]
}
function logSpi(rig: W5500Rig): SpiLog {
  const log: SpiLog = { calls: [], frames: [] }
  const spi = rig.platform.spi
  const send = spi.send
  const sendThenRead = spi.sendThenRead
  const sendThenWrite = spi.sendThenWrite
  // The host bus passes a burst on to its own send (hal/host/sim-platform.ts): not a call of the driver's.
  let inBurst = false
  spi.send = (tx) => {
    if (!inBurst) log.calls.push({ op: 'send', header: Array.from(tx.subarray(0, 3)), len: tx.length - 3, data: null })
    return send(tx)
  }
  spi.sendThenRead = (h, len) => {
    log.calls.push({ op: 'sendThenRead', header: Array.from(h), len, data: null })
    inBurst = true
    try { return sendThenRead(h, len) } finally { inBurst = false }
  }
  spi.sendThenWrite = (h, d) => {
    log.calls.push({ op: 'sendThenWrite', header: Array.from(h), len: d.length, data: d })
    inBurst = true
    try { sendThenWrite(h, d) } finally { inBurst = false }
  }
  const chipSend = rig.chip.send.bind(rig.chip)
  rig.chip.send = (tx) => { log.frames.push(Array.from(tx)); return chipSend(tx) }
  return log
}

const SN_TX_FSR = 0x20
const SN_TX_WR = 0x24
const SN_RX_RD = 0x28
const RD = BSB_S0_REG << 3 // control byte: socket 0 registers, read
const WR = (BSB_S0_REG << 3) | 4 // and write

test('SPI bytes on the wire: a frame write is one burst from a view of its TX ring slot (no copy), a frame read one burst of zeros', () => {
  const rig = up()
  const wr = peek16(rig.chip, BSB_S0_REG, SN_TX_WR)
  const log = logSpi(rig)
  const f = testFrame(OTHER, 1514, 7)
  queue(rig, f)
  const at = rig.rings.tx.peek()
  assert.equal(rig.driver.transmit(rig.rings.tx, 4), 1)
  const nwr = (wr + 1514) & 0xffff
  assert.deepEqual(log.frames, [
    [0x00, SN_TX_FSR, RD, 0, 0], // Sn_TX_FSR, read until two reads agree
    [0x00, SN_TX_FSR, RD, 0, 0],
    [wr >> 8, wr & 0xff, (BSB_S0_TX << 3) | 4, ...f], // the frame at Sn_TX_WR
    [0x00, SN_TX_WR, WR, nwr >> 8, nwr & 0xff],
    [0x00, SN_CR, WR, 0x20], // SEND
    [0x00, SN_IR, RD, 0], // SENDOK ...
    [0x00, SN_IR, WR, 0x10], // ... cleared
  ])
  const burst = log.calls.filter((c) => c.op !== 'send')
  assert.equal(burst.length, 1)
  assert.equal(burst[0].op, 'sendThenWrite')
  assert.deepEqual(burst[0].header, [wr >> 8, wr & 0xff, (BSB_S0_TX << 3) | 4])
  const view = burst[0].data as Uint8Array
  assert.equal(view.buffer, rig.rings.buffer, 'the frame goes out of the arena itself')
  assert.equal(view.byteOffset, at)
  assert.equal(view.length, 1514)
  assert.ok(sameFrame(rig.sent[0], f))

  const rd = peek16(rig.chip, BSB_S0_REG, SN_RX_RD)
  log.calls.length = 0
  log.frames.length = 0
  const g = testFrame(MAC, 1514, 8)
  assert.equal(rig.chip.receive(g), true)
  assert.equal(rig.driver.receive(rig.rings.rx, 4), 1)
  const nrd = (rd + 1516) & 0xffff
  assert.deepEqual(log.frames, [
    [0x00, SN_IR, WR, 0x1f], // INTn asserted: clear socket 0's causes
    [0x00, SN_RX_RSR, RD, 0, 0], // Sn_RX_RSR, read until two reads agree
    [0x00, SN_RX_RSR, RD, 0, 0],
    [rd >> 8, rd & 0xff, BSB_S0_RX << 3, ...new Array(1516).fill(0)], // the record: length header and frame
    [0x00, SN_RX_RD, WR, nrd >> 8, nrd & 0xff],
    [0x00, SN_CR, WR, 0x40], // RECV
  ])
  assert.deepEqual(log.calls.filter((c) => c.op !== 'send').map((c) => [c.op, c.header, c.len]),
    [['sendThenRead', [rd >> 8, rd & 0xff, BSB_S0_RX << 3], 1516]])
  assert.ok(log.calls.every((c) => c.op !== 'send' || c.len <= 5), 'register accesses only through send()')
  assert.ok(sameFrame(drain(rig)[0], g))
  assert.deepEqual(rig.misuse, [])
})

test('memory: W5500Io and the driver keep no frame-sized buffer (8 bytes of MOSI storage at most; the arena is the caller\'s)', () => {
  const rig = up()
  const owned = (o: object, skip: string[]): [string, ArrayBufferView][] =>
    Object.entries(o).filter(([k, v]) => !skip.includes(k) && ArrayBuffer.isView(v)) as [string, ArrayBufferView][]
  const io = (rig.driver as unknown as { io: W5500Io }).io
  assert.ok(io instanceof W5500Io)
  const views = [...owned(io, ['platform']), ...owned(rig.driver, ['platform', 'arena'])]
  assert.ok(views.length >= 2)
  for (const [k, v] of views) assert.ok(v.buffer.byteLength <= 8, k + ' holds ' + v.buffer.byteLength + ' bytes')
  assert.equal((rig.driver as unknown as { arena: Uint8Array }).arena.buffer, rig.rings.buffer)
  // A burst larger than any the driver makes is refused, not sent.
  assert.throws(() => io.writeBytes(BSB_S0_TX, 0, new Uint8Array(2000), 0, 1600), /1600-byte SPI burst/)
})

test('host SpiBus: sendThenRead / sendThenWrite are one chip-select frame each, the same bytes as send() of header + data', () => {
  const frames: number[][] = []
  const bus = hostSpiBus((tx) => { frames.push(Array.from(tx)); return tx.map((b) => b ^ 0xff) })
  const r = bus.sendThenRead(Uint8Array.of(1, 2, 3), 4)
  assert.deepEqual(frames, [[1, 2, 3, 0, 0, 0, 0]])
  assert.deepEqual(Array.from(r), [0xfe, 0xfd, 0xfc, 0xff, 0xff, 0xff, 0xff])
  const src = Uint8Array.of(9, 8, 7, 6, 5)
  assert.equal(bus.sendThenWrite(Uint8Array.of(4, 5, 6), src.subarray(1, 4)), undefined)
  assert.deepEqual(frames[1], [4, 5, 6, 8, 7, 6])
  assert.equal(frames.length, 2)
})

test('SPI cost of full-size frames: <= 1.05 SPI bytes per frame byte and <= 7 chip selects per frame, each way', () => {
  const rx = measureSpi('w5500', 'rx')
  const tx = measureSpi('w5500', 'tx')
  assert.ok(rx.spiBytesPerFrameByte <= 1.05, 'rx ' + rx.spiBytesPerFrameByte)
  assert.ok(tx.spiBytesPerFrameByte <= 1.05, 'tx ' + tx.spiBytesPerFrameByte)
  assert.ok(rx.csFramesPerFrame <= 7, 'rx ' + rx.csFramesPerFrame)
  assert.ok(tx.csFramesPerFrame <= 7, 'tx ' + tx.csFramesPerFrame)
  const rows = benchSpi()
  assert.deepEqual(rows.map((r) => r.chip + ' ' + r.direction), ['w5500 rx', 'w5500 tx'])
})

test('SPI cost with a backlog: several records per RSR read, one RX_RD + RECV for them', () => {
  const rig = up()
  for (let i = 0; i < 10; i++) rig.chip.receive(testFrame(MAC, 1514, i))
  const b0 = rig.chip.stats.spiBytes
  const c0 = rig.chip.stats.csFrames
  assert.equal(rig.driver.receive(rig.rings.rx, 16), 10)
  const ratio = (rig.chip.stats.spiBytes - b0) / (10 * 1514)
  const cs = (rig.chip.stats.csFrames - c0) / 10
  assert.ok(ratio < 1.01, 'ratio ' + ratio)
  assert.ok(cs <= 3, 'chip selects per frame ' + cs)
})

// ---------------------------------------------------------------------------------------------------
// Storm

/**
 * A broadcast storm at line rate (100 Mbit/s back to back) with a unicast frame to us after every 4
 * broadcasts. Frames arrive in virtual time, also in the middle of the driver's SPI transfers (the
 * SPI clock is 20 MHz, so the chip fills up). The driver polls with a budget of 8; the consumer drains
 * the RX ring at a bounded rate that alternates between slow (the ring fills) and fast (the budget
 * binds).
 */
function storm(faults: W5500SimOptions['faults']): void {
  const rig = up({ faults })
  const { rx, bytes } = rig.rings
  const lens = new Map<number, number>()
  const acceptedU: number[] = []
  const acceptedB: number[] = []
  let refusedU = 0
  let refusedB = 0
  const gotU: number[] = []
  const gotB: number[] = []
  let corrupt = 0
  let ringFull = 0
  // Arrivals: back to back at 100 Mbit/s.
  let seq = 0
  let bcasts = 0
  let nextAt = rig.clock.now()
  const arrive = (): void => {
    while (bcasts < 10000 && nextAt <= rig.clock.now()) {
      const s = seq++
      const uni = s % 5 === 4
      const len = uni ? 60 + ((s * 7919) % 1455) : 60 + ((s * 104729) % 300)
      lens.set(s, len)
      if (!uni) bcasts++
      if (rig.chip.receive(testFrame(uni ? MAC : BCAST, len, s))) (uni ? acceptedU : acceptedB).push(s)
      else if (uni) refusedU++
      else refusedB++
      nextAt += wireTimeUs(len, 100)
    }
  }
  const send = rig.platform.spi.send
  rig.platform.spi.send = (tx: Uint8Array): Uint8Array => { arrive(); return send(tx) }
  // The consumer: credit in virtual time, 1 frame per 200 µs or per 10 µs in alternate 20 ms phases.
  let credit = 0
  let last = rig.clock.now()
  const consume = (): void => {
    const now = rig.clock.now()
    const fast = Math.floor(now / 20000) % 2 === 1
    credit = Math.min(64, credit + (now - last) / (fast ? 10 : 200))
    last = now
    while (credit >= 1 && rx.count() > 0) {
      credit--
      const at = rx.peek()
      const f = bytes.subarray(at, at + rx.peekLength())
      const s = seqOf(f)
      const uni = f[0] === MAC[0] && f[5] === MAC[5]
      if (lens.get(s) !== f.length || !sameFrame(f, testFrame(uni ? MAC : BCAST, f.length, s))) corrupt++
      ;(uni ? gotU : gotB).push(s)
      rx.release()
    }
  }
  while (bcasts < 10000) {
    arrive()
    if (rx.free() === 0) ringFull++
    rig.driver.receive(rx, 8)
    consume()
    rig.clock.advance(20)
  }
  // The flood is over: the stack catches up.
  let idle = 0
  for (let i = 0; i < 100000 && idle < 3; i++) {
    const n = rig.driver.receive(rx, 8)
    const before = rx.count()
    consume()
    rig.clock.advance(20)
    idle = n === 0 && before === 0 ? idle + 1 : 0
  }
  assert.equal(bcasts, 10000)
  assert.equal(corrupt, 0, 'every delivered frame intact')
  assert.ok(acceptedU.length > 200, 'unicast frames got through: ' + acceptedU.length)
  assert.deepEqual(gotU, acceptedU, 'every unicast frame the chip accepted reached the ring, in order')
  assert.deepEqual(gotB, acceptedB, 'and every accepted broadcast')
  assert.ok(refusedU + refusedB > 0, 'the storm overflowed the chip')
  assert.equal(rig.chip.stats.rxNoSpace, refusedU + refusedB, 'the chip dropped only for lack of room')
  assert.equal(rig.driver.stats.rxErrors, 0)
  assert.equal(rig.driver.stats.recoveries, 0)
  assert.ok(rig.driver.stats.budgetStops > 0, 'the budget bound some polls')
  assert.ok(ringFull > 0, 'the ring was full at times')
  assert.equal(rx.overflows(), 0)
  assert.deepEqual(rig.misuse, [])
  console.log('# storm' + (faults !== undefined ? ' (torn reads)' : '') + ': ' + (acceptedU.length + refusedU) + ' unicast, ' +
    refusedU + ' dropped by the chip; ' + (acceptedB.length + refusedB) + ' broadcast, ' + refusedB +
    ' dropped by the chip; all ' + (acceptedU.length + acceptedB.length) + ' accepted delivered; budget stops ' +
    rig.driver.stats.budgetStops + ', polls with the ring full ' + ringFull + ', virtual time ' +
    Math.round(rig.clock.now() / 1000) + ' ms')
}

test('storm: 10,000 broadcasts interleaved with unicasts, budgeted polls, slow consumer: no accepted frame lost by the driver', () => {
  storm(undefined)
})

test('storm with torn RSR/FSR reads: still no accepted frame lost', () => {
  storm({ tornReads: true })
})

// ---------------------------------------------------------------------------------------------------
// Device dialect

test('hal/w5500.ts compiles to Espruino\'s dialect (module syntax and loop heads are lowered by the device build)', () => {
  const file = fileURLToPath(new URL('../hal/w5500.js', import.meta.url))
  const src = fs.readFileSync(file, 'utf8')
  const findings = checkDialect(src).filter((f) => !/no modules on Espruino|for-loop head/.test(f.message))
  assert.equal(findings.length, 0, formatFindings(findings, src, file))
  const code = src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '')
  for (const re of [/\bnew (Map|Set|WeakMap)\b/, /\bSymbol\b/, /Array\.from/, /Math\.imul/, /Object\.freeze/, /\basync\b/, /function\*/, /\.\.\./]) {
    assert.ok(!re.test(code), 'uses ' + re)
  }
})
