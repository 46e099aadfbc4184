// The TCP reassembly tracker: the layout `tcpReassemble` / `tcpSackBlocks` (firmware/core/contract.ts)
// keep per TCB in the arena region 'tcp holes', and their result codes, shared by both backends.
// assembly/tcp-reasm.ts mirrors these numbers; test/tcp-reasm.test.ts asserts that the two copies agree.
//
// A tracker is TCP_REASM_HEADER_BYTES + TCP_REASM_RANGE_BYTES * maxRanges bytes at a 4-byte-aligned
// arena offset, read and written as host-order 32-bit words:
//   word 0  n: the number of out-of-order ranges held (0..maxRanges);
//   word 1  1 + the index of the range most recently created or grown (RFC 2018 §4: the first SACK
//           block reports the block holding the segment that triggered the ACK), 0 when none;
//   word 2 + 2i, 3 + 2i  range i as [start, end) absolute 32-bit sequence numbers, i < n.
// Ranges are sorted by (start - RCV.NXT) mod 2^32, disjoint, non-adjacent, and all strictly above
// RCV.NXT (a range reaching RCV.NXT is handed to the caller at once and leaves the tracker).
// All zero bytes are an empty tracker: clear it whenever a TCB is (re)used.
// Device dialect.

/** tcpReassemble: out-of-order data that needs a new range, and the tracker has none left (dropped). */
export const TCP_REASM_FULL = -1
/** tcpReassemble: no byte of the segment is inside [RCV.NXT, RCV.NXT + RCV.WND) (dropped). */
export const TCP_REASM_OUTSIDE = -2

/** Word index of the range count. */
export const TCP_REASM_COUNT = 0
/** Word index of 1 + the most recently changed range (0 = none). */
export const TCP_REASM_LAST = 1
/** Word index of the first range's start (its end follows). */
export const TCP_REASM_FIRST = 2
/** Bytes before the first range. */
export const TCP_REASM_HEADER_BYTES = 8
/** Bytes per range: start and end. */
export const TCP_REASM_RANGE_BYTES = 8

/** Bytes of a tracker that holds `maxRanges` ranges (the 'tcp holes' entry of one TCB). */
export function tcpReasmBytes(maxRanges: number): number {
  return TCP_REASM_HEADER_BYTES + TCP_REASM_RANGE_BYTES * maxRanges
}

/** Empties the tracker at `trackerOff` (4-byte aligned) in the arena seen through `u32`. */
export function tcpReasmClear(u32: Uint32Array, trackerOff: number): void {
  u32[(trackerOff >> 2) + TCP_REASM_COUNT] = 0
  u32[(trackerOff >> 2) + TCP_REASM_LAST] = 0
}

/** The number of ranges the tracker holds. */
export function tcpReasmCount(u32: Uint32Array, trackerOff: number): number {
  return u32[(trackerOff >> 2) + TCP_REASM_COUNT]
}

/** The start (first sequence number) of range `i`, unsigned. */
export function tcpReasmStart(u32: Uint32Array, trackerOff: number, i: number): number {
  return u32[(trackerOff >> 2) + TCP_REASM_FIRST + 2 * i]
}

/** The end (sequence number after its last byte) of range `i`, unsigned. */
export function tcpReasmEnd(u32: Uint32Array, trackerOff: number, i: number): number {
  return u32[(trackerOff >> 2) + TCP_REASM_FIRST + 2 * i + 1]
}
