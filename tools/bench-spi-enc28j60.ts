// SPI cost of the ENC28J60 driver per frame, measured on the simulator's counters (CS frames and bytes
// clocked): full-size (1514-byte) frames, one frame per receive() poll (the per-poll work included) and one
// per transmit() call (the previous frame's completion included). A measurement, not a speed benchmark:
// the numbers are exact and reproducible (virtual time).
//
//   node dist/tools/bench-spi-enc28j60.js
import { Enc28j60Driver } from '../hal/enc28j60.js'
import { FrameRing } from '../hal/frame-ring.js'
import { Enc28j60Sim } from '../hal/sim/enc28j60.js'
import { simPlatform } from '../hal/host/sim-platform.js'
import { loadBoard } from '../hal/host/boards.js'
import { layoutArena, region } from '../firmware/kernel/arena.js'
import { VirtualClock } from '../firmware/kernel/clock.js'

export interface SpiCost {
  chip: 'enc28j60'
  direction: 'rx' | 'tx'
  /** Frame length measured (no FCS). */
  frameBytes: number
  /** Frames measured. */
  frames: number
  /** SPI bytes clocked per frame byte. */
  spiBytesPerFrameByte: number
  /** Chip-select frames (spi.send calls) per frame. */
  csFramesPerFrame: number
}

const MAC = new Uint8Array([0x02, 0x53, 0x50, 0x4e, 0x45, 0x54])
const PEER = new Uint8Array([0x02, 0x00, 0x00, 0x00, 0x00, 0x01])

function frame(dst: Uint8Array, src: Uint8Array, len: number, seed: number): Uint8Array {
  const f = new Uint8Array(len)
  f.set(dst, 0)
  f.set(src, 6)
  f[12] = 0x08
  f[13] = 0x00
  for (let i = 14; i < len; i++) f[i] = (i * 7 + seed) & 0xff
  return f
}

function ring(buffer: ArrayBuffer, layout: ReturnType<typeof layoutArena>, name: string): FrameRing {
  const r = region(layout, name)
  const h = region(layout, name + ' header')
  return new FrameRing(buffer, r.offset, r.count, r.each, h.offset)
}

/** Measures `frames` frames of `len` bytes each way; `warmup` frames first so caches are in steady state. */
export function benchSpiEnc28j60(len?: number, frames?: number): SpiCost[] {
  const n = frames !== undefined ? frames : 200
  const size = len !== undefined ? len : 1514
  const warmup = 4
  const clock = new VirtualClock()
  const chip = new Enc28j60Sim({ now: () => clock.now() })
  const board = loadBoard('host')
  const layout = layoutArena(board.budget, 0, board.memory.arenaLimit)
  const buffer = new ArrayBuffer(layout.total)
  const bytes = new Uint8Array(buffer)
  const rx = ring(buffer, layout, 'rx ring')
  const tx = ring(buffer, layout, 'tx ring')
  const drv = new Enc28j60Driver(simPlatform(chip, clock), { arena: buffer, spiClockHz: board.spi.baud })
  drv.init(MAC)
  const out: SpiCost[] = []

  // receive: a frame arrives, one poll takes it, the stack consumes it
  let cs0 = 0
  let by0 = 0
  for (let i = 0; i < warmup + n; i++) {
    if (i === warmup) { cs0 = chip.stats.csFrames; by0 = chip.stats.spiBytes }
    clock.advance(frameTimeOnWire(size))
    if (!chip.receive(frame(MAC, PEER, size, i))) throw new Error('bench: the chip refused frame ' + i)
    if (drv.receive(rx, 8) !== 1) throw new Error('bench: frame ' + i + ' not received')
    if (rx.peekLength() !== size) throw new Error('bench: frame ' + i + ' has the wrong length')
    rx.release()
  }
  out.push({
    chip: 'enc28j60', direction: 'rx', frameBytes: size, frames: n,
    spiBytesPerFrameByte: (chip.stats.spiBytes - by0) / (n * size),
    csFramesPerFrame: (chip.stats.csFrames - cs0) / n,
  })

  // transmit: the stack queues a frame, one transmit() call sends it; the wire takes the frame time
  let sent = 0
  chip.onTransmit = () => { sent++ }
  for (let i = 0; i < warmup + n; i++) {
    if (i === warmup) { cs0 = chip.stats.csFrames; by0 = chip.stats.spiBytes }
    const at = tx.reserve()
    bytes.set(frame(PEER, MAC, size, i), at)
    tx.commit(size)
    if (drv.transmit(tx, 1) !== 1) throw new Error('bench: frame ' + i + ' not sent')
    clock.advance(frameTimeOnWire(size))
  }
  if (drv.stats.txErrors !== 0) throw new Error('bench: transmit errors')
  out.push({
    chip: 'enc28j60', direction: 'tx', frameBytes: size, frames: n,
    spiBytesPerFrameByte: (chip.stats.spiBytes - by0) / (n * size),
    csFramesPerFrame: (chip.stats.csFrames - cs0) / n,
  })
  if (chip.misuse !== 0) throw new Error('bench: the simulator reported driver misuse')
  return out
}

/** A frame's time on a 10 Mbit/s wire with preamble, FCS and gap (µs), rounded up. */
function frameTimeOnWire(len: number): number {
  return Math.ceil((8 + (len < 60 ? 60 : len) + 4) * 0.8 + 9.6) + 1
}

function main(): void {
  const rows = benchSpiEnc28j60().concat(benchSpiEnc28j60(60))
  console.log('ENC28J60 driver SPI cost per frame (simulator counters, 20 MHz host board)')
  console.log('direction  frame B  SPI bytes/frame byte  CS frames/frame')
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]
    console.log(r.direction.padEnd(9) + String(r.frameBytes).padStart(8) + r.spiBytesPerFrameByte.toFixed(4).padStart(22) +
      r.csFramesPerFrame.toFixed(2).padStart(17))
  }
}

if (process.argv[1] !== undefined && /bench-spi-enc28j60\.js$/.test(process.argv[1])) main()
