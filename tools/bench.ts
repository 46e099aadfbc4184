// `spinet bench` (npm run bench): hot-path throughput per backend, side by side, and arena sizes.
// A benchmark, not a test: it prints numbers and asserts nothing about speed.
import os from 'node:os'
import { PortableCore } from '../firmware/core/portable.js'
import { layoutArena } from '../firmware/kernel/arena.js'
import { boardNames, loadBoard } from '../hal/host/boards.js'
import { createWasmCore } from '../hal/host/core.js'

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
  benchArenas()
  return 0
}
