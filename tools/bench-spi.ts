// SPI cost of moving frames through the W5500 driver (hal/w5500.ts) against the simulator: SPI bytes per
// frame byte and chip-select frames per frame, each direction. Host only. `spinet bench` and
// test/driver-w5500.test.ts use the same measurement. (The ENC28J60 has its own: tools/bench-spi-enc28j60.ts.)
import { W5500Sim, W5500SimOptions } from '../hal/sim/w5500.js'
import { W5500Driver, W5500DriverOptions } from '../hal/w5500.js'
import { FrameRing } from '../hal/frame-ring.js'
import { Platform } from '../hal/types.js'
import { SimChip, hostSpiBus, simPlatform } from '../hal/host/sim-platform.js'
import { loadBoard } from '../hal/host/boards.js'
import { layoutArena, region } from '../firmware/kernel/arena.js'
import { VirtualClock } from '../firmware/kernel/clock.js'

export interface SpiBenchRow {
  chip: 'w5500'
  direction: 'rx' | 'tx'
  /** Frame length measured (bytes, Ethernet header onwards, no FCS). */
  frameBytes: number
  spiBytesPerFrameByte: number
  csFramesPerFrame: number
}

/** The SPI clock the measurement assumes for timing (boards/host.json: 20 MHz). */
export const BENCH_SPI_HZ = 20000000

/** The MAC the measurements give the driver, and a peer on the same wire. */
export const BENCH_MAC = new Uint8Array([0x02, 0x53, 0x50, 0x4e, 0x45, 0x54])
const PEER = [0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc]

export interface HostRings {
  buffer: ArrayBuffer
  bytes: Uint8Array
  rx: FrameRing
  tx: FrameRing
}

/** RX and TX frame rings laid out from boards/host.json's budget over a plain ArrayBuffer. */
export function hostRings(): HostRings {
  const board = loadBoard('host')
  const layout = layoutArena(board.budget, 0, board.memory.arenaLimit)
  const buffer = new ArrayBuffer(layout.total)
  const r = region(layout, 'rx ring')
  const rh = region(layout, 'rx ring header')
  const t = region(layout, 'tx ring')
  const th = region(layout, 'tx ring header')
  return {
    buffer,
    bytes: new Uint8Array(buffer),
    rx: new FrameRing(buffer, r.offset, r.count, r.each, rh.offset),
    tx: new FrameRing(buffer, t.offset, t.count, t.each, th.offset),
  }
}

/**
 * simPlatform where each chip-select frame takes its time on the virtual clock at `hz`: the 3 header
 * bytes before the chip sees the access, the data bytes after it. Chip timings (command latency, wire
 * time) then overlap SPI traffic the way they do on a board.
 */
export function timedSimPlatform(chip: SimChip, clock: VirtualClock, hz: number): Platform {
  const p = simPlatform(chip, clock)
  const usPerByte = 8e6 / hz
  return {
    ...p,
    // sendThenRead / sendThenWrite come to this send as one frame each (hal/host/sim-platform.ts).
    spi: hostSpiBus((tx: Uint8Array): Uint8Array => {
      const head = Math.min(3, tx.length)
      clock.advance(head * usPerByte)
      const rx = chip.send(tx)
      clock.advance((tx.length - head) * usPerByte)
      return rx
    }),
  }
}

/** An Ethernet frame of `len` bytes to `dst` carrying `seq` (bytes 14-17) and seeded filler. */
export function testFrame(dst: ArrayLike<number>, len: number, seq: number): Uint8Array {
  const f = new Uint8Array(len)
  for (let i = 0; i < 6; i++) f[i] = dst[i]
  for (let i = 0; i < 6; i++) f[6 + i] = PEER[i]
  f[12] = 0x08
  f[13] = 0x00
  f[14] = (seq >>> 24) & 0xff
  f[15] = (seq >>> 16) & 0xff
  f[16] = (seq >>> 8) & 0xff
  f[17] = seq & 0xff
  let x = (seq * 2654435761 + len) >>> 0 || 1
  for (let i = 18; i < len; i++) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    f[i] = x & 0xff
  }
  return f
}

export interface W5500Rig {
  clock: VirtualClock
  chip: W5500Sim
  platform: Platform
  driver: W5500Driver
  rings: HostRings
  sent: Uint8Array[]
  misuse: string[]
}

/** A W5500 simulator on a µs virtual clock, SPI timed at BENCH_SPI_HZ, and a driver over host rings. */
export function w5500Rig(sim?: W5500SimOptions, drv?: W5500DriverOptions): W5500Rig {
  const clock = new VirtualClock(1000)
  const misuse: string[] = []
  const chip = new W5500Sim({ now: () => clock.now(), ...sim, onMisuse: (w) => { misuse.push(w) } })
  const sent: Uint8Array[] = []
  chip.onTransmit = (f) => { sent.push(f) }
  const platform = timedSimPlatform(chip, clock, BENCH_SPI_HZ)
  const rings = hostRings()
  const driver = new W5500Driver(platform, { arena: rings.buffer, ...drv })
  return { clock, chip, platform, driver, rings, sent, misuse }
}

/**
 * SPI cost of `frames` frames of `frameLen` bytes, one per poll (the usual case: the chip interrupts, the
 * driver moves the frame): RX from chip.receive() to the RX ring, TX from the TX ring to the cable.
 * Includes everything the driver does per poll (interrupt clear, the final RSR read that finds nothing).
 */
export function measureSpi(chip: 'w5500', direction: 'rx' | 'tx', frameLen?: number, frames?: number): SpiBenchRow {
  if (chip !== 'w5500') throw new Error('tools/bench-spi.ts measures the W5500 only')
  const len = frameLen !== undefined ? frameLen : 1514
  const n = frames !== undefined ? frames : 64
  const rig = w5500Rig()
  rig.driver.init(BENCH_MAC)
  const st = rig.chip.stats
  const { rx, tx, bytes } = rig.rings
  const bytes0 = st.spiBytes
  const cs0 = st.csFrames
  for (let i = 0; i < n; i++) {
    if (direction === 'rx') {
      if (!rig.chip.receive(testFrame(BENCH_MAC, len, i))) throw new Error('bench: the chip refused frame ' + i)
      rig.clock.advance(200)
      if (rig.driver.receive(rx, 16) !== 1) throw new Error('bench: frame ' + i + ' not received')
      if (rx.peekLength() !== len) throw new Error('bench: frame ' + i + ' has the wrong length')
      rx.release()
    } else {
      const at = tx.reserve()
      bytes.set(testFrame(PEER, len, i), at)
      tx.commit(len)
      if (rig.driver.transmit(tx, 16) !== 1 || rig.sent.length !== i + 1) throw new Error('bench: frame ' + i + ' not sent')
      rig.clock.advance(200)
    }
  }
  if (rig.misuse.length > 0) throw new Error('bench: the driver misused the chip: ' + rig.misuse[0])
  return {
    chip: 'w5500',
    direction,
    frameBytes: len,
    spiBytesPerFrameByte: (st.spiBytes - bytes0) / (n * len),
    csFramesPerFrame: (st.csFrames - cs0) / n,
  }
}

/** The W5500 rows of `spinet bench`: full-size frames each way. */
export function benchSpi(): SpiBenchRow[] {
  return [measureSpi('w5500', 'rx'), measureSpi('w5500', 'tx')]
}
