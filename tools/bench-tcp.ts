// TCP receive reassembly throughput per backend (core.tcpReassemble), for `spinet bench`.
// A benchmark, not a test: it measures and returns numbers, and asserts nothing about speed.
//
// Both cases push 1460-byte segments (a full Ethernet MSS) from an RX-frame-like buffer into a 64 KiB
// receive ring that the "application" drains at once (the window stays the whole ring):
//   - in order: every segment arrives at RCV.NXT and is contiguous at once;
//   - out of order: segments arrive in pairs swapped, so every other one opens a range in the tracker
//     and the next one fills the hole and hands both over.
// MB/s counts segment bytes (10^6 bytes per second).
import { Core } from '../firmware/core/contract.js'
import { PortableCore } from '../firmware/core/portable.js'
import { createWasmCore } from '../hal/host/core.js'

export interface TcpReasmBenchRow {
  backend: string
  /** MB/s of segment data, arriving in order. */
  inOrder: number
  /** MB/s of segment data, arriving in swapped pairs. */
  outOfOrder: number
}

const MSS = 1460
const RING_SIZE = 65536
const MAX_RANGES = 4

/** Runs `segments` segments through `core`, in order or in swapped pairs; returns bytes accepted. */
function run(core: Core, tracker: number, ring: number, data: number, segments: number, swapped: boolean,
             state: { rcvNxt: number; ringNxt: number }): number {
  let bytes = 0
  for (let k = 0; k + 1 < segments; k += 2) {
    const a = state.rcvNxt
    const b = (a + MSS) >>> 0
    const first = swapped ? b : a
    const second = swapped ? a : b
    let adv = core.tcpReassemble(tracker, MAX_RANGES, ring, RING_SIZE, state.ringNxt, state.rcvNxt, RING_SIZE, first, data, MSS)
    if (adv > 0) {
      state.rcvNxt = (state.rcvNxt + adv) >>> 0
      state.ringNxt = (state.ringNxt + adv) & (RING_SIZE - 1)
    }
    adv = core.tcpReassemble(tracker, MAX_RANGES, ring, RING_SIZE, state.ringNxt, state.rcvNxt, RING_SIZE, second, data, MSS)
    if (adv > 0) {
      state.rcvNxt = (state.rcvNxt + adv) >>> 0
      state.ringNxt = (state.ringNxt + adv) & (RING_SIZE - 1)
    }
    bytes += 2 * MSS
  }
  return bytes
}

/** MB/s of one case on one core: best of five rounds of about `roundMs` each. */
function measure(core: Core, swapped: boolean, roundMs: number): number {
  const tracker = core.base
  const ring = core.base + 4096
  const data = ring + RING_SIZE + 14 + 20 + 20 + 2
  new Uint8Array(core.buffer, tracker, 8 + 8 * MAX_RANGES).fill(0)
  const state = { rcvNxt: 0xfff00000, ringNxt: 0 }
  let segments = 2
  for (;;) {
    const t0 = process.hrtime.bigint()
    run(core, tracker, ring, data, segments, swapped, state)
    const ns = Number(process.hrtime.bigint() - t0)
    if (ns > roundMs * 1e6 / 4) { segments = Math.max(2, Math.round(segments * roundMs * 1e6 / ns)); break }
    segments *= 4
  }
  let best = 0
  for (let round = 0; round < 5; round++) {
    const t0 = process.hrtime.bigint()
    const bytes = run(core, tracker, ring, data, segments, swapped, state)
    const ns = Number(process.hrtime.bigint() - t0)
    best = Math.max(best, bytes * 1000 / ns)
  }
  return best
}

/** In-order and out-of-order insertion throughput (MB/s) of each backend. */
export function benchTcpReasm(opts?: { roundMs?: number }): TcpReasmBenchRow[] {
  const roundMs = opts !== undefined && opts.roundMs !== undefined ? opts.roundMs : 200
  const wasm = createWasmCore()
  const portable = new PortableCore(new ArrayBuffer(wasm.buffer.byteLength), wasm.base, wasm.size)
  const rows: TcpReasmBenchRow[] = []
  const cores: [string, Core][] = [['wasm', wasm], ['portable', portable]]
  for (const [name, core] of cores) {
    rows.push({ backend: name, inOrder: measure(core, false, roundMs), outOfOrder: measure(core, true, roundMs) })
  }
  return rows
}

/** The rows as `spinet bench` prints them. */
export function formatTcpReasmBench(rows: TcpReasmBenchRow[]): string {
  const lines = ['TCP reassembly, MB/s of 1460-byte segments into a 64 KiB ring (in order / pairs swapped)']
  lines.push('backend'.padEnd(26) + 'in order'.padStart(10) + 'swapped'.padStart(10))
  for (const r of rows) lines.push(r.backend.padEnd(26) + r.inOrder.toFixed(0).padStart(10) + r.outOfOrder.toFixed(0).padStart(10))
  return lines.join('\n')
}
