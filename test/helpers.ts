// Shared test helpers: the reference checksum the backends are held to, and seeded random bytes.

/** RFC 1071 by the book: big-endian 16-bit words, odd byte padded, end-around carry, complement. */
export function referenceChecksum(bytes: Uint8Array, seed: number): number {
  let s = seed
  for (let i = 0; i + 1 < bytes.length; i += 2) s += (bytes[i] << 8) | bytes[i + 1]
  if (bytes.length % 2 === 1) s += bytes[bytes.length - 1] << 8
  while (s > 0xffff) s = (s % 0x10000) + Math.floor(s / 0x10000)
  return ~s & 0xffff
}

/** A small deterministic generator (xorshift32) so failures reproduce. */
export function seededBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    out[i] = x & 0xff
  }
  return out
}
