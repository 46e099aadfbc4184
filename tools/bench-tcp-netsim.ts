// TCP goodput on the netsim link by loss rate × buffer size, for `spinet bench` (the table kept as a snapshot
// in test/tcp-netsim-goodput.snapshot.json). A benchmark, not a test: it prints numbers and asserts nothing.
//
// Two spinet stacks (wasm core) on a simulated 10 Mbit/s link with 1 ms one-way latency and random loss in
// both directions (test/netsim.ts); 1,000,000 bytes A→B ("up") and B→A ("down") from connect() to the last
// byte read, once per seed 1, 2, 3, each on a fresh pair of stacks; a cell is all bytes over all time, in
// kB/s (1000 bytes per second) of virtual time. The buffer is the TCP send and receive ring of both stacks (budget.tcpTxBytes = tcpRxBytes). The
// numbers are deterministic: they change only when the stack's behaviour does. The line caps goodput at
// 1460 / 1538 × 1.25 MB/s ≈ 1187 kB/s.
import {
  TABLE_LOSSES, TABLE_BUFFERS, TABLE_SEEDS, goodputTable, goodputMarkdown, GoodputSnapshot, lossLabel, bufLabel,
} from '../test/netsim.js'

export interface TcpNetsimBench {
  snapshot: GoodputSnapshot
  /** The table as Markdown (rows loss, columns buffer, cells "up / down" kB/s). */
  markdown: string
  /** Wall-clock milliseconds the whole table took to simulate. */
  realMs: number
}

/** Computes the table and prints it; returns it for callers that want the numbers. */
export function benchTcpNetsim(print: (line: string) => void = console.log): TcpNetsimBench {
  const t0 = Date.now()
  const { snapshot, cells } = goodputTable()
  const markdown = goodputMarkdown(snapshot)
  const realMs = Date.now() - t0
  print('TCP goodput on the netsim link, kB/s of virtual time, up / down (10 Mbit/s, 1 ms one-way, 1,000,000 bytes x seeds 1-3)')
  print('rows: random loss in both directions (' + TABLE_LOSSES.map(lossLabel).join(', ') + '); columns: TCP send/receive ring (' +
    TABLE_BUFFERS.map(bufLabel).join(', ') + ')')
  for (const line of markdown.split('\n')) print(line)
  print('(' + (realMs / 1000).toFixed(1) + ' s of real time for ' + 2 * cells.size * TABLE_SEEDS.length + ' transfers)')
  return { snapshot, markdown, realMs }
}
