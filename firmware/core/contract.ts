// The contract of spinet's hot paths. Two backends implement it:
//   - wasm:     assembly/ compiled by asc to build/core.wasm (hosts; firmware/core/wasm.ts)
//   - portable: plain TypeScript in the device dialect (Espruino; firmware/core/portable.ts)
// Both work in place on one byte arena. Offsets are absolute byte offsets into `buffer`; the arena
// laid out by firmware/kernel/arena.ts starts at `base` and holds `size` bytes.

export type CoreName = 'wasm' | 'portable'

export interface Core {
  readonly name: CoreName
  /** The memory the arena lives in (on hosts: the WebAssembly linear memory, never grown). */
  readonly buffer: ArrayBuffer
  /** First byte of the arena inside `buffer` (the wasm backend keeps its own static data below it). */
  readonly base: number
  /** Bytes available to the arena from `base`. */
  readonly size: number
  /**
   * RFC 1071 Internet checksum of `len` bytes at `off`, seeded with `seed`: the ones' complement of the
   * folded ones'-complement sum of `seed` and the bytes taken as big-endian 16-bit words (an odd last
   * byte is padded with a zero low byte). `seed` is an unfolded sum of big-endian words (e.g. the
   * pseudo-header sum, or an earlier `sum`). Result 0..0xFFFF. A block that carries a correct
   * checksum gives 0.
   */
  checksum(off: number, len: number, seed: number): number
  /** The folded (not complemented) ones'-complement sum of `seed` and the bytes, 0..0xFFFF. */
  sum(off: number, len: number, seed: number): number
}

/**
 * The IPv4 pseudo-header sum (RFC 793 §3.1, RFC 768) as a checksum seed: source and destination
 * addresses as 32-bit numbers (10.0.0.1 = 0x0A000001), protocol number and upper-layer length.
 */
export function pseudoHeaderSeed(src: number, dst: number, proto: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + (proto & 0xff) + (length & 0xffff)
}

/** Folds a non-negative sum below 2^53 into 16 bits with end-around carry. */
export function fold16(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000)
  return sum
}
