// TCP receive reassembly of the portable backend: the twin of assembly/tcp-reasm.ts, line for line, so
// that both leave the receive ring and the tracker (firmware/core/tcp-reasm-desc.ts) byte for byte alike
// (test/tcp-reasm.test.ts holds them to it). Device dialect: plain functions declared before use.
//
// Sequence numbers are 32-bit and compared modulo 2^32 (RFC 9293 §3.4). Inside one call everything is
// measured relative to RCV.NXT, `(x - rcvNxt) >>> 0`, which wraps exactly as the sequence space does;
// every offset that matters lies in [0, RCV.WND] with RCV.WND at most the ring size, so plain comparisons
// of relative offsets order the window correctly across the 2^32 wrap.
import {
  TCP_REASM_FULL, TCP_REASM_OUTSIDE, TCP_REASM_COUNT, TCP_REASM_LAST, TCP_REASM_FIRST,
} from './tcp-reasm-desc.js'

/** What the TCP paths need from the portable core: views of the arena. */
export interface TcpHost {
  readonly u8: Uint8Array
  readonly u32: Uint32Array
}

/** Below this distance between overlapping ranges a byte loop beats one `set` per chunk. */
const CHUNK_MIN = 16

/**
 * Copies `len` bytes inside the arena, the ranges possibly overlapping (memmove semantics).
 * `u8.set(u8.subarray(...))` is only trusted for ranges that do not overlap: the ES spec clones an
 * overlapping source first, but Espruino's `set` has copied front to back in some versions. An
 * overlapping copy is therefore split into chunks as long as the distance between the ranges: each
 * chunk's source and destination are disjoint, and taking the chunks in the right order (from the end
 * when moving up, from the start when moving down) reads every source byte before it is overwritten.
 */
export function copyBytes(u8: Uint8Array, dst: number, src: number, len: number): void {
  if (len <= 0 || dst === src) return
  const d = dst > src ? dst - src : src - dst
  if (d >= len) {
    u8.set(u8.subarray(src, src + len), dst)
  } else if (dst > src) {
    if (d < CHUNK_MIN) {
      for (let k = len - 1; k >= 0; k--) u8[dst + k] = u8[src + k]
    } else {
      let k = len
      while (k > 0) {
        const c = k < d ? k : d
        k -= c
        u8.set(u8.subarray(src + k, src + k + c), dst + k)
      }
    }
  } else {
    if (d < CHUNK_MIN) {
      for (let k = 0; k < len; k++) u8[dst + k] = u8[src + k]
    } else {
      let k = 0
      while (k < len) {
        const c = len - k < d ? len - k : d
        u8.set(u8.subarray(src + k, src + k + c), dst + k)
        k += c
      }
    }
  }
}

/** Moves `n` ranges of the tracker (two words each) from word `from` to word `to`, overlap-safe. */
function moveRanges(u32: Uint32Array, to: number, from: number, n: number): void {
  if (n <= 0 || to === from) return
  if (to > from) {
    for (let k = 2 * n - 1; k >= 0; k--) u32[to + k] = u32[from + k]
  } else {
    for (let k = 0; k < 2 * n; k++) u32[to + k] = u32[from + k]
  }
}

/**
 * Places a segment's data into the receive ring and tracks it (contract: firmware/core/contract.ts).
 * Returns the bytes now contiguous at RCV.NXT (>= 0), TCP_REASM_FULL or TCP_REASM_OUTSIDE.
 * `trackerOff` must be 4-byte aligned.
 */
export function tcpReassemble(h: TcpHost, trackerOff: number, maxRanges: number, ringOff: number, ringSize: number,
                              ringNxt: number, rcvNxt: number, rcvWnd: number, seq: number, dataOff: number,
                              len: number): number {
  len = len >>> 0
  if (len === 0) return 0
  maxRanges = maxRanges >>> 0
  ringSize = ringSize >>> 0
  const u32 = h.u32
  // The window can never reach past the ring (the data would overwrite itself).
  let wnd = rcvWnd >>> 0
  if (wnd > ringSize) wnd = ringSize
  // RFC 9293 §3.10.7.4: trim to [RCV.NXT, RCV.NXT + RCV.WND). Bytes before RCV.NXT are duplicates of
  // data already taken; bytes at or beyond the right edge are dropped.
  let s = (seq - rcvNxt) >>> 0
  let n = len
  if ((s | 0) < 0) {
    const skip = (rcvNxt - seq) >>> 0
    if (skip >= len) return TCP_REASM_OUTSIDE
    dataOff += skip
    n = len - skip
    s = 0
  }
  if (s >= wnd) return TCP_REASM_OUTSIDE
  if (n > wnd - s) n = wnd - s
  const e = s + n

  // Ranges [i, j) overlap or touch [s, e); those before i end before s, those from j start after e.
  const t = trackerOff >> 2
  const r = t + TCP_REASM_FIRST
  let count = u32[t + TCP_REASM_COUNT]
  if (count > maxRanges) count = maxRanges
  let i = 0
  while (i < count && ((u32[r + 2 * i + 1] - rcvNxt) >>> 0) < s) i++
  let j = i
  while (j < count && ((u32[r + 2 * j] - rcvNxt) >>> 0) <= e) j++
  // Out-of-order data that joins no range needs a range of its own.
  if (i === j && s !== 0 && count >= maxRanges) return TCP_REASM_FULL

  // The bytes, wrapping at the end of the ring. Bytes already held are written again (same data).
  const u8 = h.u8
  const at = (ringNxt + s) & (ringSize - 1)
  const room = ringSize - at
  if (n <= room) {
    copyBytes(u8, ringOff + at, dataOff, n)
  } else {
    copyBytes(u8, ringOff + at, dataOff, room)
    copyBytes(u8, ringOff, dataOff + room, n - room)
  }

  let ms = s
  let me = e
  if (i < j) {
    const a = (u32[r + 2 * i] - rcvNxt) >>> 0
    if (a < ms) ms = a
    const b = (u32[r + 2 * (j - 1) + 1] - rcvNxt) >>> 0
    if (b > me) me = b
  }
  if (ms === 0) {
    // In order (then i = 0): ranges [0, j) joined RCV.NXT and leave the tracker.
    moveRanges(u32, r, r + 2 * j, count - j)
    u32[t + TCP_REASM_COUNT] = count - j
    u32[t + TCP_REASM_LAST] = 0
    return me | 0
  }
  if (i === j) {
    // A new range at i: the ranges from i move up one.
    moveRanges(u32, r + 2 * (i + 1), r + 2 * i, count - i)
    count++
  } else if (j > i + 1) {
    // Ranges [i, j) become one at i: the ranges from j move down.
    moveRanges(u32, r + 2 * (i + 1), r + 2 * j, count - j)
    count -= j - i - 1
  }
  u32[r + 2 * i] = (rcvNxt + ms) >>> 0
  u32[r + 2 * i + 1] = (rcvNxt + me) >>> 0
  u32[t + TCP_REASM_COUNT] = count
  u32[t + TCP_REASM_LAST] = i + 1
  return 0
}

/**
 * Writes up to `max` SACK blocks (RFC 2018 §3: left edge, right edge as host u32 words) at `out`
 * (4-byte aligned): the range most recently created or grown first (RFC 2018 §4), then the others in
 * sequence order. Returns how many.
 */
export function tcpSackBlocks(h: TcpHost, trackerOff: number, out: number, max: number): number {
  const u32 = h.u32
  const t = trackerOff >> 2
  const r = t + TCP_REASM_FIRST
  const o = out >> 2
  const count = u32[t + TCP_REASM_COUNT]
  max = max | 0
  if (max <= 0 || count === 0) return 0
  const k = max < count ? max : count
  let last = u32[t + TCP_REASM_LAST]
  let w = 0
  if (last >= 1 && last <= count) {
    u32[o] = u32[r + 2 * (last - 1)]
    u32[o + 1] = u32[r + 2 * (last - 1) + 1]
    w = 1
  } else {
    last = 0
  }
  for (let i = 0; i < count && w < k; i++) {
    if (i + 1 === last) continue
    u32[o + 2 * w] = u32[r + 2 * i]
    u32[o + 2 * w + 1] = u32[r + 2 * i + 1]
    w++
  }
  return w
}
