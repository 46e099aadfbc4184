// Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4: "all arithmetic dealing with sequence numbers
// must be performed modulo 2**32"; RFC 1982 serial-number comparison). Device dialect.
//
// Sequence numbers are kept as unsigned 32-bit values (what a Uint32Array holds). Two of them compare by
// the sign of their 32-bit difference, which is right as long as they are less than 2^31 apart: a TCP
// window never exceeds 2^30 (RFC 7323 §2.3), so every comparison the stack makes is within range.

/** a < b modulo 2^32. */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0
}

/** a <= b modulo 2^32. */
export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0
}

/** a > b modulo 2^32. */
export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0
}

/** a >= b modulo 2^32. */
export function seqGe(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0
}

/** The signed distance a - b (in -2^31 .. 2^31 - 1). */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0
}

/** a + n as an unsigned sequence number (n may be negative). */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0
}

/** lo <= x < hi modulo 2^32 (an empty range when lo = hi). */
export function seqInWindow(x: number, lo: number, hi: number): boolean {
  return ((x - lo) >>> 0) < ((hi - lo) >>> 0)
}
