// `spinet bench` (npm run bench): hot-path throughput per backend, side by side, and arena sizes.
// A benchmark, not a test: it prints numbers and asserts nothing about speed.
import os from 'node:os'
import { PortableCore } from '../firmware/core/portable.js'
import { layoutArena } from '../firmware/kernel/arena.js'
import { boardNames, loadBoard } from '../hal/host/boards.js'
import { createWasmCore } from '../hal/host/core.js'
import { benchSpi } from './bench-spi.js'
import { benchSpiEnc28j60 } from './bench-spi-enc28j60.js'
import { benchTcpReasm, formatTcpReasmBench } from './bench-tcp.js'
import { benchTcpNetsim } from './bench-tcp-netsim.js'
import { TCB_BYTES } from '../firmware/tcp/tcb.js'

type Fn = (off: number, len: number, seed: number) => number

const SIZES = [60, 1500, 65536]

/** GB/s of `fn` over `len` bytes at `off`, best of a few timed rounds. */
function throughput(fn: Fn, off: number, len: number, roundMs: number): number {
  let iters = 1
  let sink = 0
  // Find an iteration count that takes about roundMs, warming the function up on the way.
  for (;;) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < iters; i++) sink ^= fn(off, len, i & 0xff)
    const ns = Number(process.hrtime.bigint() - t0)
    if (ns > roundMs * 1e6 / 4) { iters = Math.max(1, Math.round(iters * roundMs * 1e6 / ns)); break }
    iters *= 4
  }
  let best = 0
  for (let round = 0; round < 5; round++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < iters; i++) sink ^= fn(off, len, i & 0xff)
    const ns = Number(process.hrtime.bigint() - t0)
    best = Math.max(best, (len * iters) / ns)
  }
  if (sink === -1) console.log('') // keeps the results observable so the loop is not optimised away
  return best
}

function row(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
}

function benchChecksum(roundMs: number): void {
  const wasm = createWasmCore()
  const portable = new PortableCore(wasm.buffer, wasm.base, wasm.size)
  const bytes = new Uint8Array(wasm.buffer, wasm.base, 1 << 20)
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24
  const e = wasm.exports
  const backends: [string, Fn][] = [
    ['wasm simd', e.checksumSimd],
    ['wasm scalar', e.checksumScalar],
    ['wasm (dispatch)', e.checksum],
    ['portable', (o, l, s) => portable.checksum(o, l, s)],
  ]
  const widths = [26, 10, 10, 10]
  console.log('Internet checksum throughput, GB/s (data in the arena, offset 14 = an IP header after Ethernet)')
  console.log(row(['backend', ...SIZES.map((s) => s + ' B')], widths))
  for (const [name, fn] of backends) {
    console.log(row([name, ...SIZES.map((s) => throughput(fn, wasm.base + 14, s, roundMs).toFixed(2))], widths))
  }
}

/** Line rate of each chip's PHY (Mbit/s). */
const LINE_MBPS: Record<string, number> = { enc28j60: 10, w5500: 100 }

/**
 * SPI cost per full-size frame, from the simulators' counters, and the frame rate the SPI bus then
 * allows at each board's clock: (clock / 8) / (SPI bytes per frame byte), ignoring the MCU's own time
 * between chip-select frames (on Espruino that time dominates; see BENCHMARKS.md).
 */
function benchSpiEfficiency(): void {
  const rows = [
    ...benchSpi().map((r) => ({ chip: r.chip, dir: r.direction, ratio: r.spiBytesPerFrameByte, cs: r.csFramesPerFrame })),
    ...benchSpiEnc28j60().map((r) => ({ chip: r.chip, dir: r.direction, ratio: r.spiBytesPerFrameByte, cs: r.csFramesPerFrame })),
  ]
  const boards = boardNames().map(loadBoard).filter((b) => b.platform === 'espruino')
  console.log('\nSPI per 1514-byte frame (simulator counters)')
  const widths = [10, 4, 18, 14, 40]
  console.log(row(['chip', 'dir', 'SPI B / frame B', 'CS frames', 'SPI ceiling at board clock, Mbit/s'], widths))
  for (const r of rows) {
    const ceilings = boards.filter((b) => b.chip === r.chip).map((b) => {
      const mbps = Math.min(b.spi.baud / r.ratio / 1e6, LINE_MBPS[r.chip])
      return `${b.name} @ ${b.spi.baud / 1e6} MHz: ${mbps.toFixed(1)}`
    })
    console.log(row([r.chip, r.dir, r.ratio.toFixed(4), r.cs.toFixed(2), ceilings.join('; ')], widths))
  }
}

function benchArenas(): void {
  console.log('\nArena per board (bytes)')
  for (const name of boardNames()) {
    const b = loadBoard(name)
    const layout = layoutArena(b.budget, 0, b.memory.arenaLimit)
    console.log(row([name, String(layout.total)], [26, 10]))
  }
}

export async function runBench(opts: { quick?: boolean }): Promise<number> {
  console.log(`spinet bench on ${os.cpus()[0].model}, ${os.cpus().length} cores, Node ${process.version}\n`)
  benchChecksum(opts.quick ? 20 : 200)
  console.log('')
  console.log(formatTcpReasmBench(benchTcpReasm({ roundMs: opts.quick ? 20 : 200 })))
  benchSpiEfficiency()
  console.log('')
  benchTcpNetsim()
  console.log(`\nTCP state per connection: ${TCB_BYTES} bytes per TCB (plus its send and receive rings)`)
  benchArenas()
  return 0
}
