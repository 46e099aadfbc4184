// TCP receive reassembly of the hot-path contract (firmware/core/contract.ts: copy, tcpReassemble,
// tcpSackBlocks; tracker layout in firmware/core/tcp-reasm-desc.ts): every backend held to the same known
// vectors (the numbers of assembly/__tests__/tcp-reasm.spec.ts), to an independent reference model (a
// byte map of the stream, no modular arithmetic in it) and to each other, tracker word for word and ring
// byte for byte, on random segment sequences: in order, out of order, duplicates, overlaps, beyond the
// window, shrinking windows, across the 2^32 sequence wrap and around the end of the ring.
//
// Backends: wasm; portable; portable with a stand-in for Espruino's E.sum (as the other suites); and
// portable whose typed-array `set` copies front to back element by element, as some Espruino versions
// do even when source and destination overlap (the portable copy must not rely on the ES clone rule).
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import fc from 'fast-check'
import * as R from '../firmware/core/tcp-reasm-desc.js'
import { Core } from '../firmware/core/contract.js'
import { PortableCore } from '../firmware/core/portable.js'
import { layoutArena, region } from '../firmware/kernel/arena.js'
import { boardNames, loadBoard } from '../hal/host/boards.js'
import { createWasmCore } from '../hal/host/core.js'
import { packageRoot } from '../hal/host/paths.js'

const wasm = createWasmCore()
const memBytes = wasm.buffer.byteLength

function newPortable(): PortableCore {
  return new PortableCore(new ArrayBuffer(memBytes), wasm.base, wasm.size)
}

/** A portable core that believes it runs on Espruino: E.sum is a stand-in with the native semantics. */
function portableWithEspruinoSum(): PortableCore {
  const g = globalThis as { E?: unknown }
  g.E = { sum: (a: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]; return s } }
  try {
    return newPortable()
  } finally {
    delete g.E
  }
}

/** A portable core whose Uint8Array `set` copies front to back, ignoring overlap (old Espruino). */
function portableWithForwardSet(): PortableCore {
  const core = newPortable()
  const u8 = core.u8 as Uint8Array & { set: (src: ArrayLike<number>, off?: number) => void }
  u8.set = function (src: ArrayLike<number>, off?: number): void {
    const o = off === undefined ? 0 : off
    if (o + src.length > this.length) throw new RangeError('offset out of bounds')
    for (let i = 0; i < src.length; i++) this[o + i] = src[i]
  }
  return core
}

interface Backend { name: string; core: Core }
const backends: Backend[] = [
  { name: 'wasm', core: wasm },
  { name: 'portable', core: newPortable() },
  { name: 'portable (E.sum)', core: portableWithEspruinoSum() },
  { name: 'portable (forward set)', core: portableWithForwardSet() },
]

// Every backend has its own memory of the same size, so everything sits at the same offsets in all.
const TRACKER = wasm.base
const SACK = wasm.base + 512
const RING = wasm.base + 4096
/** Segment data: an odd offset, as TCP data in a received frame usually is (14 + 20 + 20 + 2-byte length). */
const SEG = wasm.base + 4096 + 65536 + 1
const CANARY = 0xee

function u8of(core: Core): Uint8Array { return new Uint8Array(core.buffer) }
function u32of(core: Core): Uint32Array { return new Uint32Array(core.buffer) }

/** The byte a segment carries for sequence number `seq`: data is a function of the sequence number. */
function byteAt(seq: number): number {
  const x = Math.imul(seq >>> 0, 0x9e3779b1) >>> 0
  return ((x >>> 24) ^ (x >>> 11) ^ seq) & 0xff
}

/** Puts the segment's bytes at SEG in `core`'s memory. */
function placeSegment(core: Core, seq: number, len: number): void {
  const u8 = u8of(core)
  for (let k = 0; k < len; k++) u8[SEG + k] = byteAt(seq + k)
}

function trackerWords(core: Core, maxRanges: number): number[] {
  return Array.from(new Uint32Array(core.buffer, TRACKER, R.tcpReasmBytes(maxRanges) / 4))
}

function trackerRanges(core: Core): [number, number][] {
  const u32 = u32of(core)
  const out: [number, number][] = []
  for (let i = 0; i < R.tcpReasmCount(u32, TRACKER); i++) out.push([R.tcpReasmStart(u32, TRACKER, i), R.tcpReasmEnd(u32, TRACKER, i)])
  return out
}

function ringBytes(core: Core, ringSize: number): Uint8Array {
  return new Uint8Array(core.buffer, RING, ringSize)
}

/** Empties the tracker (all zeros, as a fresh TCB) and fills the ring with the canary, everywhere. */
function reset(maxRanges: number, ringSize: number): void {
  for (const b of backends) {
    u8of(b.core).fill(0xa5, TRACKER, TRACKER + R.tcpReasmBytes(16))
    R.tcpReasmClear(u32of(b.core), TRACKER)
    // Words past the count are whatever they were: fill them with garbage to show they are never read.
    u32of(b.core).fill(0xdeadbeef, (TRACKER >> 2) + R.TCP_REASM_FIRST, (TRACKER + R.tcpReasmBytes(maxRanges)) >> 2)
    ringBytes(b.core, ringSize).fill(CANARY)
  }
}

/** The SACK blocks a backend writes for the current tracker, as [left, right] pairs. */
function sackOf(core: Core, max: number): [number, number][] {
  u32of(core).fill(0x5a5a5a5a, SACK >> 2, (SACK >> 2) + 16)
  const n = core.tcpSackBlocks(TRACKER, SACK, max)
  const w = new Uint32Array(core.buffer, SACK, 16)
  const out: [number, number][] = []
  for (let i = 0; i < n; i++) out.push([w[2 * i], w[2 * i + 1]])
  for (let k = 2 * n; k < 16; k++) assert.equal(w[k], 0x5a5a5a5a, 'nothing written past the blocks returned')
  return out
}

/**
 * Runs one tcpReassemble call on every backend (same arguments, same memory contents) and asserts they
 * agree on the result, the tracker words and the ring bytes. Returns the result.
 */
function reassembleAll(maxRanges: number, ringSize: number, ringNxt: number, rcvNxt: number, rcvWnd: number,
                       seq: number, len: number): number {
  let first = 0
  let firstWords: number[] = []
  let firstRing: Uint8Array = new Uint8Array(0)
  for (let bi = 0; bi < backends.length; bi++) {
    const core = backends[bi].core
    placeSegment(core, seq, len)
    const r = core.tcpReassemble(TRACKER, maxRanges, RING, ringSize, ringNxt, rcvNxt, rcvWnd, seq, SEG, len)
    const words = trackerWords(core, maxRanges)
    const ring = ringBytes(core, ringSize)
    if (bi === 0) {
      first = r
      firstWords = words
      firstRing = ring
    } else {
      const where = `${backends[bi].name} vs ${backends[0].name}, seq ${seq >>> 0} len ${len}`
      assert.equal(r, first, `${where}: result`)
      assert.deepEqual(words, firstWords, `${where}: tracker words`)
      assert.ok(Buffer.compare(ring, firstRing) === 0, `${where}: ring bytes`)
    }
  }
  return first
}

// ---- the tracker layout --------------------------------------------------------------------------

describe('tcp reassembly tracker layout', () => {
  test('assembly/tcp-reasm.ts mirrors every constant of firmware/core/tcp-reasm-desc.ts', () => {
    const source = fs.readFileSync(packageRoot() + '/assembly/tcp-reasm.ts', 'utf8')
    const asConsts: { [name: string]: number } = {}
    for (const m of source.matchAll(/^export const (\w+): [ui]32 = (.+)$/gm)) {
      assert.match(m[2], /^-?[0-9a-fx]+$/, m[0])
      asConsts[m[1]] = Number(m[2])
    }
    const tsConsts: { [name: string]: number } = {}
    for (const [k, v] of Object.entries(R)) if (typeof v === 'number') tsConsts[k] = v
    assert.deepEqual(asConsts, tsConsts)
  })

  test('layout: header of two words, then [start, end) pairs; codes distinct and negative', () => {
    assert.equal(R.TCP_REASM_HEADER_BYTES, 4 * R.TCP_REASM_FIRST)
    assert.equal(R.TCP_REASM_RANGE_BYTES, 8)
    assert.equal(R.tcpReasmBytes(0), 8)
    assert.equal(R.tcpReasmBytes(4), 40)
    assert.ok(R.TCP_REASM_FULL === -1 && R.TCP_REASM_OUTSIDE === -2)
  })

  test("the arena region 'tcp holes' gives every TCB one tracker of its board's tcpHoles ranges", () => {
    for (const name of boardNames()) {
      const b = loadBoard(name)
      if (b.budget.tcbs === 0) continue
      const r = region(layoutArena(b.budget, 0, b.memory.arenaLimit), 'tcp holes')
      assert.equal(r.count, b.budget.tcbs, name)
      assert.equal(r.each, R.tcpReasmBytes(b.budget.tcpHoles), name)
      assert.equal(r.offset % 4, 0, name)
    }
  })
})

// ---- copy ----------------------------------------------------------------------------------------

describe('copy (memmove inside the arena)', () => {
  const AREA = wasm.base + 200000
  const N = 512
  const pattern = Uint8Array.from({ length: N }, (_, i) => byteAt(i * 7 + 3))

  test('disjoint and overlapping ranges, both directions, every distance 0..40 and some larger', () => {
    const distances: number[] = []
    for (let d = 0; d <= 40; d++) distances.push(d)
    distances.push(63, 64, 100, 150, 199)
    for (const b of backends) {
      const u8 = u8of(b.core)
      for (const d of distances) {
        for (const len of [0, 1, 2, 15, 16, 17, 40, 41, 100, 199]) {
          for (const up of [true, false]) {
            u8.set(pattern, AREA)
            const src = AREA + (up ? 10 : 10 + d)
            const dst = AREA + (up ? 10 + d : 10)
            const want = pattern.slice()
            want.set(pattern.slice(src - AREA, src - AREA + len), dst - AREA)
            b.core.copy(dst, src, len)
            assert.deepEqual(u8.slice(AREA, AREA + N), want, `${b.name}: ${up ? 'up' : 'down'} by ${d}, ${len} bytes`)
          }
        }
      }
    }
  })

  test('property: random copies equal a copy through a temporary, on every backend', () => {
    fc.assert(fc.property(fc.nat(N - 1), fc.nat(N - 1), fc.nat(N), (src, dst, len) => {
      len = Math.min(len, N - src, N - dst)
      const want = pattern.slice()
      want.set(pattern.slice(src, src + len), dst)
      for (const b of backends) {
        const u8 = u8of(b.core)
        u8.set(pattern, AREA)
        b.core.copy(AREA + dst, AREA + src, len)
        if (Buffer.compare(u8.subarray(AREA, AREA + N), want) !== 0) return false
      }
      return true
    }), { numRuns: 2000, seed: 9293 })
  })
})

// ---- known vectors ---------------------------------------------------------------------------------

/** One call: the segment, the expected result, and the expected tracker after it ([start, end) pairs, LAST word). */
interface Step { seq: number; len: number; want: number; ranges: [number, number][]; last: number }
interface Vector {
  name: string
  maxRanges: number
  ringSize: number
  ringNxt: number
  rcvNxt: number
  /** The window at the start; the right edge stays put (nothing is read), so it shrinks as data arrives. */
  rcvWnd: number
  steps: Step[]
}

const FULL = R.TCP_REASM_FULL
const OUTSIDE = R.TCP_REASM_OUTSIDE
const W = 0xfffffff0

const VECTORS: Vector[] = [
  {
    name: 'in order, wrapping around the end of the ring; a zero-length segment changes nothing',
    maxRanges: 4, ringSize: 256, ringNxt: 200, rcvNxt: 1000, rcvWnd: 256,
    steps: [
      { seq: 1000, len: 50, want: 50, ranges: [], last: 0 },
      { seq: 1050, len: 50, want: 50, ranges: [], last: 0 },
      { seq: 1100, len: 0, want: 0, ranges: [], last: 0 },
      { seq: 1100, len: 10, want: 10, ranges: [], last: 0 },
    ],
  },
  {
    name: 'out of order, then the hole at RCV.NXT is filled',
    maxRanges: 4, ringSize: 256, ringNxt: 0, rcvNxt: 1000, rcvWnd: 256,
    steps: [
      { seq: 1020, len: 10, want: 0, ranges: [[1020, 1030]], last: 1 },
      { seq: 1040, len: 10, want: 0, ranges: [[1020, 1030], [1040, 1050]], last: 2 },
      { seq: 1030, len: 10, want: 0, ranges: [[1020, 1050]], last: 1 },
      { seq: 1000, len: 20, want: 50, ranges: [], last: 0 },
    ],
  },
  {
    name: 'duplicates and overlaps: trimmed at RCV.NXT, merged into the ranges they touch',
    maxRanges: 4, ringSize: 256, ringNxt: 17, rcvNxt: 1000, rcvWnd: 256,
    steps: [
      { seq: 1000, len: 100, want: 100, ranges: [], last: 0 },
      { seq: 1050, len: 50, want: OUTSIDE, ranges: [], last: 0 },
      { seq: 1090, len: 20, want: 10, ranges: [], last: 0 },
      { seq: 1120, len: 10, want: 0, ranges: [[1120, 1130]], last: 1 },
      { seq: 1125, len: 20, want: 0, ranges: [[1120, 1145]], last: 1 },
      { seq: 1115, len: 10, want: 0, ranges: [[1115, 1145]], last: 1 },
      { seq: 1130, len: 5, want: 0, ranges: [[1115, 1145]], last: 1 },
      { seq: 1100, len: 20, want: 35, ranges: [], last: 0 },
    ],
  },
  {
    name: 'beyond the window: dropped, or trimmed at the right edge',
    maxRanges: 4, ringSize: 256, ringNxt: 0, rcvNxt: 1000, rcvWnd: 100,
    steps: [
      { seq: 1100, len: 10, want: OUTSIDE, ranges: [], last: 0 },
      { seq: 1095, len: 10, want: 0, ranges: [[1095, 1100]], last: 1 },
      { seq: 1200, len: 1, want: OUTSIDE, ranges: [[1095, 1100]], last: 1 },
      { seq: 1000, len: 200, want: 100, ranges: [], last: 0 },
      { seq: 1100, len: 1, want: OUTSIDE, ranges: [], last: 0 },
      { seq: 1099, len: 1, want: OUTSIDE, ranges: [], last: 0 },
    ],
  },
  {
    name: 'a full tracker refuses only a new range',
    maxRanges: 2, ringSize: 256, ringNxt: 100, rcvNxt: 1000, rcvWnd: 256,
    steps: [
      { seq: 1010, len: 10, want: 0, ranges: [[1010, 1020]], last: 1 },
      { seq: 1030, len: 10, want: 0, ranges: [[1010, 1020], [1030, 1040]], last: 2 },
      { seq: 1050, len: 10, want: FULL, ranges: [[1010, 1020], [1030, 1040]], last: 2 },
      { seq: 1020, len: 5, want: 0, ranges: [[1010, 1025], [1030, 1040]], last: 1 },
      { seq: 1045, len: 5, want: FULL, ranges: [[1010, 1025], [1030, 1040]], last: 1 },
      { seq: 1040, len: 5, want: 0, ranges: [[1010, 1025], [1030, 1045]], last: 2 },
      { seq: 1000, len: 5, want: 5, ranges: [[1010, 1025], [1030, 1045]], last: 0 },
      { seq: 1005, len: 25, want: 40, ranges: [], last: 0 },
    ],
  },
  {
    name: 'across the 2^32 sequence wrap',
    maxRanges: 3, ringSize: 256, ringNxt: 250, rcvNxt: W, rcvWnd: 256,
    steps: [
      { seq: 0x10, len: 16, want: 0, ranges: [[0x10, 0x20]], last: 1 },
      { seq: 0xfffffff8, len: 16, want: 0, ranges: [[0xfffffff8, 0x8], [0x10, 0x20]], last: 1 },
      { seq: 0x8, len: 8, want: 0, ranges: [[0xfffffff8, 0x20]], last: 1 },
      { seq: 0xffffffe0, len: 24, want: 48, ranges: [], last: 0 },
      { seq: 0x20, len: 4, want: 4, ranges: [], last: 0 },
    ],
  },
  {
    name: 'a window larger than the ring is taken as the ring',
    maxRanges: 4, ringSize: 256, ringNxt: 5, rcvNxt: 1000, rcvWnd: 1000,
    steps: [
      { seq: 1256, len: 10, want: OUTSIDE, ranges: [], last: 0 },
      { seq: 1250, len: 10, want: 0, ranges: [[1250, 1256]], last: 1 },
    ],
  },
  {
    name: 'one segment bridges three ranges, another closes the last gap from both sides',
    maxRanges: 4, ringSize: 256, ringNxt: 0, rcvNxt: 1000, rcvWnd: 256,
    steps: [
      { seq: 1010, len: 5, want: 0, ranges: [[1010, 1015]], last: 1 },
      { seq: 1040, len: 5, want: 0, ranges: [[1010, 1015], [1040, 1045]], last: 2 },
      { seq: 1030, len: 5, want: 0, ranges: [[1010, 1015], [1030, 1035], [1040, 1045]], last: 2 },
      { seq: 1020, len: 5, want: 0, ranges: [[1010, 1015], [1020, 1025], [1030, 1035], [1040, 1045]], last: 2 },
      { seq: 1012, len: 25, want: 0, ranges: [[1010, 1037], [1040, 1045]], last: 1 },
      { seq: 1037, len: 3, want: 0, ranges: [[1010, 1045]], last: 1 },
    ],
  },
  {
    name: 'a zero window accepts nothing',
    maxRanges: 4, ringSize: 256, ringNxt: 0, rcvNxt: 1000, rcvWnd: 0,
    steps: [
      { seq: 1000, len: 10, want: OUTSIDE, ranges: [], last: 0 },
      { seq: 1000, len: 0, want: 0, ranges: [], last: 0 },
    ],
  },
]

/** The ring as the vector expects it: canary, plus every byte accepted so far at its position. */
function expectedRing(v: Vector, accepted: number[]): Uint8Array {
  const ring = new Uint8Array(v.ringSize).fill(CANARY)
  for (const seq of accepted) ring[(v.ringNxt + ((seq - v.rcvNxt) >>> 0)) & (v.ringSize - 1)] = byteAt(seq)
  return ring
}

describe('tcpReassemble: known vectors on every backend', () => {
  for (const v of VECTORS) {
    test(v.name, () => {
      reset(v.maxRanges, v.ringSize)
      let rcvNxt = v.rcvNxt
      let ringNxt = v.ringNxt
      let wnd = v.rcvWnd
      const accepted: number[] = []
      for (const [k, s] of v.steps.entries()) {
        const r = reassembleAll(v.maxRanges, v.ringSize, ringNxt, rcvNxt, wnd, s.seq, s.len)
        const at = `step ${k} (seq ${s.seq >>> 0}, len ${s.len})`
        assert.equal(r, s.want, `${at}: result`)
        for (const b of backends) {
          assert.deepEqual(trackerRanges(b.core), s.ranges.map(([a, e]) => [a >>> 0, e >>> 0]), `${b.name} ${at}: ranges`)
          assert.equal(u32of(b.core)[(TRACKER >> 2) + R.TCP_REASM_LAST], s.last, `${b.name} ${at}: last`)
        }
        if (r >= 0) {
          // The in-window bytes of the segment were written.
          const lim = Math.min(wnd, v.ringSize)
          for (let j = 0; j < s.len; j++) {
            const rel = (s.seq + j - rcvNxt) >>> 0
            if (rel < lim) accepted.push((s.seq + j) >>> 0)
          }
          rcvNxt = (rcvNxt + r) >>> 0
          ringNxt = (ringNxt + r) & (v.ringSize - 1)
          wnd = Math.max(0, wnd - r)
        }
        const want = expectedRing(v, accepted)
        for (const b of backends) assert.deepEqual(ringBytes(b.core, v.ringSize), want, `${b.name} ${at}: ring`)
      }
    })
  }

  test('in order through a 64 KiB ring, wrapping it and the sequence space', () => {
    const ringSize = 65536
    reset(4, ringSize)
    let rcvNxt = 0xffff0000
    let ringNxt = 60000
    let total = 0
    for (let k = 0; k < 100; k++) {
      const len = 1460
      const r = reassembleAll(4, ringSize, ringNxt, rcvNxt, ringSize, rcvNxt, len)
      assert.equal(r, len)
      for (const b of backends) {
        const ring = ringBytes(b.core, ringSize)
        for (const j of [0, 1, len - 1]) assert.equal(ring[(ringNxt + j) & (ringSize - 1)], byteAt(rcvNxt + j), b.name)
      }
      rcvNxt = (rcvNxt + r) >>> 0
      ringNxt = (ringNxt + r) & (ringSize - 1)
      total += r
    }
    assert.equal(total, 146000)
    assert.equal(rcvNxt, (0xffff0000 + 146000) - 0x100000000, 'the sequence space wrapped')
  })

  test('the tracker count is clamped to maxRanges (a stale count never reaches past the tracker)', () => {
    reset(2, 256)
    for (const b of backends) {
      const u32 = u32of(b.core)
      u32[(TRACKER >> 2) + R.TCP_REASM_COUNT] = 1000
      u32.set([1010, 1020, 1030, 1040], (TRACKER >> 2) + R.TCP_REASM_FIRST)
      u32.fill(0xdeadbeef, (TRACKER >> 2) + R.TCP_REASM_FIRST + 4, (TRACKER >> 2) + R.TCP_REASM_FIRST + 64)
    }
    assert.equal(reassembleAll(2, 256, 0, 1000, 256, 1100, 10), FULL)
    assert.equal(reassembleAll(2, 256, 0, 1000, 256, 1000, 10), 20)
    for (const b of backends) assert.deepEqual(trackerRanges(b.core), [[1030, 1040]], b.name)
  })
})

describe('tcpSackBlocks (RFC 2018)', () => {
  test('the most recently changed range first, then the others in sequence order, at most max', () => {
    reset(4, 256)
    for (const [seq, len] of [[1020, 10], [1060, 10], [1040, 10]]) reassembleAll(4, 256, 0, 1000, 256, seq, len)
    for (const b of backends) {
      assert.deepEqual(sackOf(b.core, 4), [[1040, 1050], [1020, 1030], [1060, 1070]], b.name)
      assert.deepEqual(sackOf(b.core, 2), [[1040, 1050], [1020, 1030]], b.name)
      assert.deepEqual(sackOf(b.core, 1), [[1040, 1050]], b.name)
      assert.deepEqual(sackOf(b.core, 0), [], b.name)
      assert.deepEqual(sackOf(b.core, -1), [], b.name)
    }
    // Growing the last range makes it the first block.
    reassembleAll(4, 256, 0, 1000, 256, 1070, 5)
    for (const b of backends) assert.deepEqual(sackOf(b.core, 3), [[1060, 1075], [1020, 1030], [1040, 1050]], b.name)
    // A segment that advances RCV.NXT leaves no "most recent" block: plain sequence order.
    reassembleAll(4, 256, 0, 1000, 256, 1000, 5)
    for (const b of backends) assert.deepEqual(sackOf(b.core, 4), [[1020, 1030], [1040, 1050], [1060, 1075]], b.name)
  })

  test('an empty tracker gives no blocks; edges above 2^31 come back unsigned', () => {
    reset(4, 256)
    for (const b of backends) assert.deepEqual(sackOf(b.core, 4), [], b.name)
    reassembleAll(4, 256, 0, W, 256, 0xfffffffa, 20)
    for (const b of backends) assert.deepEqual(sackOf(b.core, 4), [[0xfffffffa, 0xe]], b.name)
  })
})

// ---- the reference model and the properties -------------------------------------------------------

/**
 * The reference: which stream bytes have arrived, as a byte map indexed by stream offset (unbounded
 * integers, no modular arithmetic), and the ring as the contract says it must look. Stream offset o
 * has sequence number (isn + o) mod 2^32 and ring index (r0 + o) mod ringSize.
 */
class Model {
  static readonly BIAS = 4096
  readonly got = new Uint8Array(1 << 16)
  readonly ring: Uint8Array
  nxt = 0
  read = 0
  last = 0
  advanced = 0
  constructor(readonly isn: number, readonly r0: number, readonly ringSize: number, readonly maxRanges: number) {
    this.ring = new Uint8Array(ringSize).fill(CANARY)
  }

  has(o: number): boolean { return this.got[o + Model.BIAS] === 1 }
  seqOf(o: number): number { return (this.isn + o) >>> 0 }

  /** Maximal runs of arrived bytes above `from`, as stream offsets [start, end). */
  runsAbove(from: number): [number, number][] {
    const runs: [number, number][] = []
    const limit = this.read + this.ringSize
    let o = from + 1
    while (o < limit) {
      if (!this.has(o)) { o++; continue }
      const start = o
      while (o < limit && this.has(o)) o++
      runs.push([start, o])
    }
    return runs
  }

  /** The result the contract demands for a segment at stream offset `so`, and the state after it. */
  segment(so: number, len: number, wnd: number): number {
    if (len === 0) return 0
    wnd = Math.min(wnd, this.ringSize)
    const a = Math.max(so, this.nxt)
    const e = Math.min(so + len, this.nxt + wnd)
    if (a >= e) return OUTSIDE
    const fresh: number[] = []
    for (let o = a; o < e; o++) if (!this.has(o)) { fresh.push(o); this.got[o + Model.BIAS] = 1 }
    if (a > this.nxt && this.runsAbove(this.nxt).length > this.maxRanges) {
      for (const o of fresh) this.got[o + Model.BIAS] = 0
      return FULL
    }
    for (let o = a; o < e; o++) this.ring[(this.r0 + o) & (this.ringSize - 1)] = byteAt(this.seqOf(o))
    let n = this.nxt
    while (this.has(n)) n++
    const adv = n - this.nxt
    this.nxt = n
    this.advanced += adv
    if (adv > 0) {
      this.last = 0
    } else {
      const runs = this.runsAbove(this.nxt)
      this.last = 1 + runs.findIndex(([s, f]) => s <= a && e <= f)
    }
    return adv
  }

  /** The tracker the contract demands: the runs as [start, end) sequence numbers. */
  ranges(): [number, number][] {
    return this.runsAbove(this.nxt).map(([s, e]) => [this.seqOf(s), this.seqOf(e)])
  }

  /** The SACK blocks the contract demands. */
  sack(max: number): [number, number][] {
    const r = this.ranges()
    const order = this.last > 0 ? [r[this.last - 1], ...r.filter((_, i) => i !== this.last - 1)] : r
    return order.slice(0, Math.max(0, max))
  }
}

interface SegCmd { kind: 'seg'; at: number; len: number; shrink: number }
interface ReadCmd { kind: 'read'; n: number }
type Cmd = SegCmd | ReadCmd

interface Scenario {
  isn: number
  r0: number
  ringSizeLog: number
  maxRanges: number
  /** Segment offsets: relative to RCV.NXT at the time (random streams), or absolute stream offsets. */
  relative: boolean
  cmds: Cmd[]
  /** When set, the whole stream must have arrived at the end. */
  total?: number
}

/** What the properties reached, so that a generator that stopped producing a case is noticed. */
const seen = { full: 0, outside: 0, advance: 0, outOfOrder: 0, merges: 0, seqWrap: 0, ringWrap: 0, shrunk: 0, duplicate: 0 }

function runScenario(sc: Scenario): void {
  const ringSize = 1 << sc.ringSizeLog
  const mask = ringSize - 1
  const m = new Model(sc.isn >>> 0, sc.r0 & mask, ringSize, sc.maxRanges)
  reset(sc.maxRanges, ringSize)
  for (const c of sc.cmds) {
    if (c.kind === 'read') {
      m.read = Math.min(m.nxt, m.read + c.n)
      continue
    }
    const so = sc.relative ? m.nxt + c.at : c.at
    const wnd = Math.max(0, ringSize - (m.nxt - m.read) - c.shrink)
    const nxtBefore = m.nxt
    const rcvNxt = m.seqOf(m.nxt)
    const ringNxt = (m.r0 + m.nxt) & mask
    const countBefore = m.ranges().length
    const want = m.segment(so, c.len, wnd)
    const got = reassembleAll(sc.maxRanges, ringSize, ringNxt, rcvNxt, wnd, m.seqOf(so), c.len)
    assert.equal(got, want, `segment at stream offset ${so} (seq ${m.seqOf(so)}), len ${c.len}, window ${wnd}`)

    // What every backend must now hold: the reference's runs as the tracker, its ring, its SACK blocks.
    const ranges = m.ranges()
    const runs = m.runsAbove(m.nxt)
    const sack = m.sack(4)
    const nxtNow = m.seqOf(m.nxt)
    for (let o = m.read; o < m.nxt; o++) assert.equal(m.ring[(m.r0 + o) & mask], byteAt(m.seqOf(o)), 'model: delivered bytes')
    for (const [s, e] of runs) for (let o = s; o < e; o++) assert.equal(m.ring[(m.r0 + o) & mask], byteAt(m.seqOf(o)), 'model: held bytes')
    for (const b of backends) {
      const core = b.core
      // The tracker: the reference's runs, and its invariants stated directly.
      const tr = trackerRanges(core)
      assert.deepEqual(tr, ranges, `${b.name}: tracker ranges`)
      assert.ok(tr.length <= sc.maxRanges)
      let prevEnd = 0
      for (const [s, e] of tr) {
        const rs = (s - nxtNow) >>> 0
        const re = (e - nxtNow) >>> 0
        assert.ok(rs > prevEnd && re > rs && re <= ringSize, `${b.name}: sorted, disjoint, non-adjacent, above RCV.NXT`)
        prevEnd = re
      }
      assert.equal(u32of(core)[(TRACKER >> 2) + R.TCP_REASM_LAST], m.last, `${b.name}: last`)
      // The ring: exactly the reference's (so every byte delivered or held is the stream's byte, and a
      // refused segment wrote nothing).
      assert.ok(Buffer.compare(ringBytes(core, ringSize), m.ring) === 0, `${b.name}: ring bytes`)
      assert.deepEqual(sackOf(core, 4), sack, `${b.name}: SACK blocks`)
    }

    const a = Math.max(so, nxtBefore)
    const e = Math.min(so + c.len, nxtBefore + Math.min(wnd, ringSize))
    if (want === FULL) seen.full++
    if (want === OUTSIDE) seen.outside++
    if (want > 0) seen.advance++
    if (want === 0 && c.len > 0) seen.outOfOrder++
    if (want >= 0 && ranges.length < countBefore) seen.merges++
    if (want >= 0 && so < nxtBefore && c.len > 0) seen.duplicate++
    if (want >= 0 && e > a && m.seqOf(e) < m.seqOf(a)) seen.seqWrap++
    if (want >= 0 && e > a && ((m.r0 + a) & mask) + (e - a) > ringSize) seen.ringWrap++
    if (c.shrink > 0 && want >= 0) seen.shrunk++
  }
  // Returned advances add up to the reference's contiguous length.
  assert.equal(m.advanced, m.nxt)
  if (sc.total !== undefined) assert.equal(m.nxt, sc.total, 'the whole stream arrived')
}

const isnArb = fc.oneof(
  fc.constantFrom(0, 0x7fffff00, 0xfffffe00, 0xffffff00, 0xfffffff0),
  fc.integer({ min: 0, max: 0xffffffff }),
)

const readArb: fc.Arbitrary<Cmd> = fc.record({ kind: fc.constant('read' as const), n: fc.nat(1200) })
const shrinkArb = fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat(300) })

describe('tcpReassemble: properties against the reference model, every backend alike', () => {
  test('property: random segments around RCV.NXT (old, in order, ahead, beyond the window), random reads', () => {
    const segArb: fc.Arbitrary<Cmd> = fc.record({
      kind: fc.constant('seg' as const),
      at: fc.oneof(
        { weight: 2, arbitrary: fc.constant(0) },
        { weight: 6, arbitrary: fc.integer({ min: -300, max: 1100 }) },
        { weight: 1, arbitrary: fc.integer({ min: -0x7fffffff, max: 0x7fffffff }) },
      ),
      len: fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 8, arbitrary: fc.integer({ min: 1, max: 300 }) }),
      shrink: shrinkArb,
    })
    const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
      isn: isnArb,
      r0: fc.nat(1023),
      ringSizeLog: fc.integer({ min: 8, max: 10 }),
      maxRanges: fc.integer({ min: 1, max: 8 }),
      relative: fc.constant(true),
      cmds: fc.array(fc.oneof({ weight: 5, arbitrary: segArb }, { weight: 1, arbitrary: readArb }), { minLength: 1, maxLength: 40, size: 'max' }),
    })
    fc.assert(fc.property(scenarioArb, (sc) => { runScenario(sc) }), { numRuns: 2000, seed: 9293 })
  })

  test('property: a stream cut into segments, delivered reordered and duplicated, read as it arrives', () => {
    const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
      isn: isnArb,
      r0: fc.nat(1023),
      ringSizeLog: fc.integer({ min: 8, max: 10 }),
      maxRanges: fc.integer({ min: 1, max: 6 }),
      cuts: fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 2, maxLength: 24, size: 'max' }),
      order: fc.array(fc.nat(1000), { minLength: 1, maxLength: 60, size: 'max' }),
      reads: fc.array(fc.nat(600), { minLength: 1, maxLength: 60, size: 'max' }),
      shrink: fc.array(shrinkArb, { minLength: 1, maxLength: 60, size: 'max' }),
    }).map((p) => {
      // Segments [offset, offset + len) covering the stream; the delivery order picks among them with
      // repetition, tending to move forward (a window of reordering), then sends everything once more.
      const segs: [number, number][] = []
      let off = 0
      for (const len of p.cuts) { segs.push([off, len]); off += len }
      const cmds: Cmd[] = []
      let base = 0
      for (let k = 0; k < p.order.length; k++) {
        const i = Math.min(segs.length - 1, base + (p.order[k] % 4))
        if (p.order[k] % 5 === 0 && base < segs.length - 1) base++
        cmds.push({ kind: 'seg', at: segs[i][0], len: segs[i][1], shrink: p.shrink[k % p.shrink.length] })
        cmds.push({ kind: 'read', n: p.reads[k % p.reads.length] })
      }
      cmds.push({ kind: 'read', n: 1 << 20 })
      for (const [o, len] of segs) {
        cmds.push({ kind: 'seg', at: o, len, shrink: 0 })
        cmds.push({ kind: 'read', n: 1 << 20 })
      }
      return { isn: p.isn, r0: p.r0, ringSizeLog: p.ringSizeLog, maxRanges: p.maxRanges, relative: false, cmds, total: off }
    })
    fc.assert(fc.property(scenarioArb, (sc) => { runScenario(sc) }), { numRuns: 2000, seed: 2018 })
  })

  test('the properties reached every case (full, outside, in order, out of order, merges, wraps, duplicates)', () => {
    for (const [k, v] of Object.entries(seen)) assert.ok(v > 50, `${k}: ${v}`)
  })
})
