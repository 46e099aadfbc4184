// TCP receive reassembly: segment data placed into a TCB's receive ring, out-of-order ranges kept in a
// bounded tracker. The portable twin is firmware/core/portable-tcp.ts; the tracker layout and result codes
// are firmware/core/tcp-reasm-desc.ts, mirrored below (test/tcp-reasm.test.ts checks that both copies agree).
//
// Sequence numbers are 32-bit and compared modulo 2^32 (RFC 9293 §3.4). Inside one call everything is
// measured relative to RCV.NXT: `x - rcvNxt` as u32 wraps exactly as the sequence space does, and every
// offset that matters lies in [0, RCV.WND] with RCV.WND at most the ring size, so plain unsigned
// comparisons of relative offsets order the window correctly across the 2^32 wrap.

// ---- the tracker (mirror of firmware/core/tcp-reasm-desc.ts) --------------------------------------
export const TCP_REASM_FULL: i32 = -1
export const TCP_REASM_OUTSIDE: i32 = -2
export const TCP_REASM_COUNT: u32 = 0
export const TCP_REASM_LAST: u32 = 1
export const TCP_REASM_FIRST: u32 = 2
export const TCP_REASM_HEADER_BYTES: u32 = 8
export const TCP_REASM_RANGE_BYTES: u32 = 8

// Range i lives at ranges + 8 * i: its start, then its end.
@inline function startOf(ranges: usize, i: u32): u32 {
  return load<u32>(ranges + (<usize>i << 3))
}

@inline function endOf(ranges: usize, i: u32): u32 {
  return load<u32>(ranges + (<usize>i << 3), 4)
}

/** Copies `len` bytes inside linear memory; the ranges may overlap (memmove semantics). */
export function copy(dst: usize, src: usize, len: u32): void {
  memory.copy(dst, src, len)
}

/**
 * Places a segment's data into the receive ring and tracks it (contract: firmware/core/contract.ts).
 * Returns the bytes now contiguous at RCV.NXT (>= 0), TCP_REASM_FULL or TCP_REASM_OUTSIDE.
 */
export function tcpReassemble(trackerOff: usize, maxRanges: u32, ringOff: usize, ringSize: u32, ringNxt: u32,
                              rcvNxt: u32, rcvWnd: u32, seq: u32, dataOff: usize, len: u32): i32 {
  if (len == 0) return 0
  // The window can never reach past the ring (the data would overwrite itself).
  let wnd = rcvWnd
  if (wnd > ringSize) wnd = ringSize
  // RFC 9293 §3.10.7.4: trim to [RCV.NXT, RCV.NXT + RCV.WND). Bytes before RCV.NXT are duplicates of
  // data already taken; bytes at or beyond the right edge are dropped.
  let s = seq - rcvNxt
  let n = len
  if (<i32>s < 0) {
    const skip = rcvNxt - seq
    if (skip >= len) return TCP_REASM_OUTSIDE
    dataOff += <usize>skip
    n = len - skip
    s = 0
  }
  if (s >= wnd) return TCP_REASM_OUTSIDE
  if (n > wnd - s) n = wnd - s
  const e = s + n

  // Ranges [i, j) overlap or touch [s, e); those before i end before s, those from j start after e.
  let count = load<u32>(trackerOff)
  if (count > maxRanges) count = maxRanges
  const ranges = trackerOff + TCP_REASM_HEADER_BYTES
  let i: u32 = 0
  while (i < count && endOf(ranges, i) - rcvNxt < s) i++
  let j = i
  while (j < count && startOf(ranges, j) - rcvNxt <= e) j++
  // Out-of-order data that joins no range needs a range of its own.
  if (i == j && s != 0 && count >= maxRanges) return TCP_REASM_FULL

  // The bytes, wrapping at the end of the ring. Bytes already held are written again (same data).
  const at = (ringNxt + s) & (ringSize - 1)
  const room = ringSize - at
  if (n <= room) {
    memory.copy(ringOff + <usize>at, dataOff, n)
  } else {
    memory.copy(ringOff + <usize>at, dataOff, room)
    memory.copy(ringOff, dataOff + <usize>room, n - room)
  }

  let ms = s
  let me = e
  if (i < j) {
    const a = startOf(ranges, i) - rcvNxt
    if (a < ms) ms = a
    const b = endOf(ranges, j - 1) - rcvNxt
    if (b > me) me = b
  }
  if (ms == 0) {
    // In order (then i = 0): ranges [0, j) joined RCV.NXT and leave the tracker.
    memory.copy(ranges, ranges + (<usize>j << 3), <usize>(count - j) << 3)
    store<u32>(trackerOff, count - j)
    store<u32>(trackerOff, 0, 4)
    return <i32>me
  }
  if (i == j) {
    // A new range at i: the ranges from i move up one.
    memory.copy(ranges + (<usize>(i + 1) << 3), ranges + (<usize>i << 3), <usize>(count - i) << 3)
    count++
  } else if (j > i + 1) {
    // Ranges [i, j) become one at i: the ranges from j move down.
    memory.copy(ranges + (<usize>(i + 1) << 3), ranges + (<usize>j << 3), <usize>(count - j) << 3)
    count -= j - i - 1
  }
  store<u32>(ranges + (<usize>i << 3), rcvNxt + ms)
  store<u32>(ranges + (<usize>i << 3), rcvNxt + me, 4)
  store<u32>(trackerOff, count)
  store<u32>(trackerOff, i + 1, 4)
  return 0
}

/**
 * Writes up to `max` SACK blocks (RFC 2018 §3: left edge, right edge as host u32 words) at `out`: the
 * range most recently created or grown first (RFC 2018 §4), then the others in sequence order.
 * Returns how many.
 */
export function tcpSackBlocks(trackerOff: usize, out: usize, max: i32): i32 {
  const count = load<u32>(trackerOff)
  if (max <= 0 || count == 0) return 0
  const k: u32 = <u32>max < count ? <u32>max : count
  const ranges = trackerOff + TCP_REASM_HEADER_BYTES
  let last = load<u32>(trackerOff, 4)
  let w: u32 = 0
  if (last >= 1 && last <= count) {
    store<u32>(out, startOf(ranges, last - 1))
    store<u32>(out, endOf(ranges, last - 1), 4)
    w = 1
  } else {
    last = 0
  }
  for (let i: u32 = 0; i < count && w < k; i++) {
    if (i + 1 == last) continue
    store<u32>(out + (<usize>w << 3), startOf(ranges, i))
    store<u32>(out + (<usize>w << 3), endOf(ranges, i), 4)
    w++
  }
  return <i32>w
}
