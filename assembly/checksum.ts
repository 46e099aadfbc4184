// RFC 1071 Internet checksum over linear memory, at any offset and any length.
//
// The ones'-complement sum does not depend on byte order (RFC 1071 §2(B)): the bytes are summed as
// little-endian 16-bit words paired from `ptr`, as WebAssembly loads them, and the folded sum is
// byte-swapped into network order at the end. WebAssembly loads need no alignment, so an IP header
// at offset 14 is summed exactly like an aligned one.
// `seed` is an unfolded sum of big-endian 16-bit words (a pseudo-header, or an earlier sum).

/** After this many 32-byte SIMD blocks the 32-bit lanes are widened, so they can never overflow. */
const SIMD_BLOCKS_PER_FOLD: u32 = 16384
/** Below 64 bytes both paths cost the same (the call dominates); from 64 on SIMD wins (npm run bench). */
const SIMD_MIN_LEN: u32 = 64

@inline function fold64(s: u64): u32 {
  s = (s & 0xffffffff) + (s >> 32)
  s = (s & 0xffffffff) + (s >> 32)
  let t = <u32>s
  t = (t & 0xffff) + (t >> 16)
  t = (t & 0xffff) + (t >> 16)
  return t
}

@inline function swap16(v: u32): u32 {
  return ((v & 0xff) << 8) | (v >> 8)
}

/** The last 0..15 bytes as little-endian words; an odd final byte is the low byte of its word. */
@inline function sumTail(p: usize, n: u32): u64 {
  let s: u64 = 0
  if (n & 8) { s += <u64>load<u32>(p) + <u64>load<u32>(p, 4); p += 8 }
  if (n & 4) { s += <u64>load<u32>(p); p += 4 }
  if (n & 2) { s += <u64>load<u16>(p); p += 2 }
  if (n & 1) { s += <u64>load<u8>(p) }
  return s
}

/** Scalar path: 32-bit loads into two 64-bit accumulators, four loads per turn. */
function sumScalarLE(p: usize, len: u32): u64 {
  let a: u64 = 0
  let b: u64 = 0
  while (len >= 16) {
    a += <u64>load<u32>(p) + <u64>load<u32>(p, 8)
    b += <u64>load<u32>(p, 4) + <u64>load<u32>(p, 12)
    p += 16
    len -= 16
  }
  return a + b + sumTail(p, len)
}

/** SIMD path: pairwise-widening adds of eight 16-bit lanes into four 32-bit lanes, 32 bytes a turn. */
function sumSimdLE(p: usize, len: u32): u64 {
  let total: u64 = 0
  while (len >= 32) {
    let blocks = len >> 5
    if (blocks > SIMD_BLOCKS_PER_FOLD) blocks = SIMD_BLOCKS_PER_FOLD
    let acc0 = i32x4.splat(0)
    let acc1 = i32x4.splat(0)
    for (let i: u32 = 0; i < blocks; i++) {
      acc0 = i32x4.add(acc0, i32x4.extadd_pairwise_i16x8_u(v128.load(p)))
      acc1 = i32x4.add(acc1, i32x4.extadd_pairwise_i16x8_u(v128.load(p, 16)))
      p += 32
    }
    // Each lane holds at most 16384 * 2 * 0x1FFFE < 2^32; widen to 64 bits before adding the two.
    const wide = i64x2.add(
      i64x2.add(i64x2.extend_low_i32x4_u(acc0), i64x2.extend_high_i32x4_u(acc0)),
      i64x2.add(i64x2.extend_low_i32x4_u(acc1), i64x2.extend_high_i32x4_u(acc1)))
    total += <u64>i64x2.extract_lane(wide, 0) + <u64>i64x2.extract_lane(wide, 1)
    len -= blocks << 5
  }
  return total + sumScalarLE(p, len)
}

@inline function finish(le: u64, seed: u32): u32 {
  return fold64(<u64>swap16(fold64(le)) + <u64>seed)
}

/** Folded (not complemented) ones'-complement sum of `seed` and the bytes: the scalar path. */
export function sumScalar(ptr: usize, len: u32, seed: u32): u32 {
  return finish(sumScalarLE(ptr, len), seed)
}

/** Folded (not complemented) ones'-complement sum of `seed` and the bytes: the SIMD path. */
export function sumSimd(ptr: usize, len: u32, seed: u32): u32 {
  return finish(sumSimdLE(ptr, len), seed)
}

/** Folded (not complemented) sum, by whichever path is faster for this length. */
export function sum(ptr: usize, len: u32, seed: u32): u32 {
  return len >= SIMD_MIN_LEN ? sumSimd(ptr, len, seed) : sumScalar(ptr, len, seed)
}

/** The RFC 1071 checksum: ones' complement of the folded sum, 0..0xFFFF. */
export function checksum(ptr: usize, len: u32, seed: u32): u32 {
  return ~sum(ptr, len, seed) & 0xffff
}

export function checksumScalar(ptr: usize, len: u32, seed: u32): u32 {
  return ~sumScalar(ptr, len, seed) & 0xffff
}

export function checksumSimd(ptr: usize, len: u32, seed: u32): u32 {
  return ~sumSimd(ptr, len, seed) & 0xffff
}

/**
 * The IPv4 pseudo-header sum (RFC 793 §3.1, RFC 768) as a seed: addresses as 32-bit numbers in
 * network order (10.0.0.1 = 0x0A000001), protocol number, upper-layer length.
 */
export function pseudoHeaderSeed(src: u32, dst: u32, proto: u32, length: u32): u32 {
  return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + (proto & 0xff) + (length & 0xffff)
}
