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

  // TCP receive paths (firmware/core/tcp-reasm-desc.ts has the tracker layout and the result codes).
  // Sequence numbers are u32 values compared modulo 2^32 (RFC 9293 §3.4).

  /** Copies `len` bytes inside the arena from `src` to `dst`; the ranges may overlap (like memmove). */
  copy(dst: number, src: number, len: number): void
  /**
   * TCP receive: places segment data into a TCB's receive ring and tracks out-of-order ranges.
   *  trackerOff: the TCB's tracker in the arena (4-byte aligned, tcpReasmBytes(maxRanges) bytes): word 0 =
   *    the number of ranges held (n), word 1 = 1 + the index of the range most recently created or grown
   *    (0 = none), then n pairs [start, end) of absolute 32-bit sequence numbers from word 2, sorted by
   *    (start - rcvNxt) mod 2^32, disjoint, non-adjacent, all strictly above rcvNxt. All zeros = empty.
   *  ringOff/ringSize: the receive ring (ringSize a power of two); ringNxt: ring index (0..ringSize-1)
   *    where the byte with sequence number rcvNxt goes.
   *  rcvWnd: the window we advertised (bytes from rcvNxt we can accept; at most ringSize minus unread
   *    data, the caller computes it; a larger value is taken as ringSize).
   *  seq/dataOff/len: the segment's first sequence number (of its data; the caller has already removed
   *    the SYN's sequence number) and its data in the arena (a frame in the RX ring).
   * Trims the segment to [rcvNxt, rcvNxt + rcvWnd) (RFC 9293 §3.10.7.4: data before rcvNxt is a
   * duplicate, data beyond the window is dropped), copies the in-window bytes into the ring (wrapping at
   * ringSize; bytes already held are written again), merges the range into the tracker, and if the range
   * now starting at rcvNxt is contiguous, removes it from the tracker.
   * Returns the number of bytes that became contiguous at rcvNxt (>= 0; the caller advances rcvNxt and
   * ringNxt by it — 0 for a pure out-of-order or duplicate segment, and for len 0, which changes
   * nothing), or TCP_REASM_FULL (-1) when the data is out of order and the tracker has no room for a new
   * range (the segment is dropped, nothing copied; a segment that merges with or extends an existing
   * range, or starts at rcvNxt, always fits), or TCP_REASM_OUTSIDE (-2) when no byte of it is inside the
   * window (entirely old or entirely beyond; nothing changes).
   */
  tcpReassemble(trackerOff: number, maxRanges: number, ringOff: number, ringSize: number, ringNxt: number,
                rcvNxt: number, rcvWnd: number, seq: number, dataOff: number, len: number): number
  /**
   * Writes up to `max` SACK blocks (RFC 2018 §3) at `out` (4-byte aligned) as pairs of host-order u32
   * words [left edge, right edge): the range most recently created or grown first (RFC 2018 §4), then
   * the others in sequence order. Returns how many (0 when the tracker is empty).
   */
  tcpSackBlocks(trackerOff: number, out: number, max: number): number
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
