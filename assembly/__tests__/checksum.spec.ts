import { checksum, checksumScalar, checksumSimd, sum, pseudoHeaderSeed } from '../checksum'

// A static scratch area in linear memory (no allocator involved).
const BUF: usize = memory.data(4096, 16)

function fill(p: usize, bytes: u8[]): void {
  for (let i = 0; i < bytes.length; i++) store<u8>(p + <usize>i, bytes[i])
}

/** RFC 1071 by the book, byte by byte, big-endian words. */
function reference(p: usize, len: u32, seed: u32): u32 {
  let s: u64 = <u64>seed
  let i: u32 = 0
  for (; i + 1 < len; i += 2) s += (<u64>load<u8>(p + i) << 8) | <u64>load<u8>(p + i + 1)
  if (len & 1) s += <u64>load<u8>(p + len - 1) << 8
  while (s > 0xffff) s = (s & 0xffff) + (s >> 16)
  return <u32>(~s & 0xffff)
}

describe('checksum (RFC 1071)', () => {
  it('reproduces the RFC 1071 §3 example', () => {
    fill(BUF, [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7])
    expect(sum(BUF, 8, 0)).toBe(0xddf2)
    expect(checksum(BUF, 8, 0)).toBe(0x220d)
  })

  it('verifies an IPv4 header at an odd offset to 0', () => {
    fill(BUF + 15, [0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7])
    expect(checksum(BUF + 15, 20, 0)).toBe(0)
    expect(checksumScalar(BUF + 15, 20, 0)).toBe(0)
    expect(checksumSimd(BUF + 15, 20, 0)).toBe(0)
  })

  it('matches the reference for every length 0..300 at offsets 0..7, both paths', () => {
    let x: u32 = 12345
    for (let i: usize = 0; i < 512; i++) {
      x ^= x << 13; x ^= x >> 17; x ^= x << 5
      store<u8>(BUF + i, <u8>x)
    }
    for (let off: usize = 0; off < 8; off++) {
      for (let len: u32 = 0; len <= 300; len++) {
        const want = reference(BUF + off, len, 0xbeef)
        expect(checksumScalar(BUF + off, len, 0xbeef)).toBe(want)
        expect(checksumSimd(BUF + off, len, 0xbeef)).toBe(want)
        expect(checksum(BUF + off, len, 0xbeef)).toBe(want)
      }
    }
  })

  it('computes the pseudo-header seed', () => {
    expect(pseudoHeaderSeed(0x0a4d0002, 0x0a4d0001, 17, 12)).toBe(0x0a4d + 2 + 0x0a4d + 1 + 17 + 12)
  })
})
