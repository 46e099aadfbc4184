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

  // Frame paths (firmware/core/frame-desc.ts has the descriptor layout and the verdict codes). IPv4
  // addresses are u32 values in network order (10.0.0.1 = 0x0A000001); descriptors hold them unsigned.

  /**
   * Parses and validates the Ethernet II frame of `len` bytes at `off`: Ethernet, then ARP or IPv4, then
   * (unfragmented datagrams only) ICMP, UDP or the TCP data offset. Fills the DESC_WORDS-word descriptor
   * at `desc` (4-byte aligned, not overlapping the frame) and returns its verdict. Reads nothing at or
   * beyond `off + len`; every offset/length the descriptor holds lies inside the frame.
   */
  parseFrame(off: number, len: number, desc: number): number
  /** As parseFrame, for a bare IPv4 datagram of `len` bytes at `off` (D_ETHERTYPE reads 0x0800). */
  parseIpv4(off: number, len: number, desc: number): number
  /**
   * Writes the 14-byte Ethernet II header at `off`: destination and source MAC copied from the 6-byte
   * ranges at `dstMacOff` and `srcMacOff` (read before writing, so they may overlap the header), EtherType.
   */
  emitEthernet(off: number, dstMacOff: number, srcMacOff: number, ethertype: number): void
  /**
   * Writes the 28-byte ARP packet for IPv4 over Ethernet at `off`: opcode, sender MAC from `shaOff`,
   * sender IP, target MAC from `thaOff` (both read before writing), target IP.
   */
  emitArp(off: number, op: number, shaOff: number, spa: number, thaOff: number, tpa: number): void
  /**
   * Writes the 20-byte IPv4 header at `off` (version 4, IHL 5) and its header checksum.
   * `flagsFragment` is the raw 16-bit word (IP_WORD_DF | IP_WORD_MF | offset / 8).
   */
  emitIpv4(off: number, tos: number, totalLength: number, id: number, flagsFragment: number, ttl: number,
           proto: number, src: number, dst: number): void
  /**
   * Writes the 8-byte UDP header at `off` for `dataLen` bytes of data already at `off + 8`, with the
   * checksum over pseudo-header, header and data (a computed 0 goes out as 0xFFFF, RFC 768).
   */
  emitUdp(off: number, srcPort: number, dstPort: number, dataLen: number, src: number, dst: number): void
  /**
   * Writes the 8-byte ICMP header at `off` (type, code, `rest` = bytes 4..7, e.g. ID << 16 | SEQ) and the
   * checksum over the `len`-byte message whose data is already in place.
   */
  emitIcmp(off: number, type: number, code: number, rest: number, len: number): void
  /** Recomputes the checksum of the `len`-byte ICMP message at `off` (e.g. after turning a request into a reply). */
  emitIcmpChecksum(off: number, len: number): void
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
