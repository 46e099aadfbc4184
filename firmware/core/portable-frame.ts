// Frame paths of the portable backend: the twin of assembly/frame.ts, line for line, so that both fill
// the descriptor (firmware/core/frame-desc.ts) word for word alike (test/frame.test.ts holds them to it).
// Device dialect: plain functions declared before use, no Map/Set, no destructuring/spread/defaults.
//
// Parsing never reads past `off + len`: every read is preceded by a length check that covers it, and
// a checksum is only taken over a length already checked against the frame. Multi-byte fields are read
// big-endian through a DataView (native on Espruino, and it throws rather than read past its buffer).
import { pseudoHeaderSeed } from './contract.js'
import {
  DESC_WORDS, D_VERDICT, D_FRAME_OFF, D_FRAME_LEN, D_ETHERTYPE, D_L3_OFF, D_L3_LEN,
  D_ARP_OP, D_ARP_SHA, D_ARP_SPA, D_ARP_THA, D_ARP_TPA,
  D_IP_IHL, D_IP_HLEN, D_IP_TOS, D_IP_TOTAL_LEN, D_IP_ID, D_IP_FLAGS, D_IP_FRAG_OFF, D_IP_TTL, D_IP_PROTO,
  D_IP_SRC, D_IP_DST, D_IP_PAYLOAD_OFF, D_IP_PAYLOAD_LEN,
  D_L4_SRC_PORT, D_L4_DST_PORT, D_L4_LEN, D_L4_HLEN, D_L4_CHECKSUM, D_DATA_OFF, D_DATA_LEN,
  D_ICMP_TYPE, D_ICMP_CODE, D_ICMP_ID, D_ICMP_SEQ, D_CHECKED, CHECKED_IP, CHECKED_L4, IP_FLAG_MF,
  ETHERTYPE_IPV4, ETHERTYPE_ARP, IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP, ARP_OP_REQUEST, ARP_OP_REPLY,
  ETH_HEADER_BYTES, ARP_BYTES, IPV4_HEADER_BYTES, UDP_HEADER_BYTES, ICMP_HEADER_BYTES, TCP_HEADER_BYTES,
  V_ETH_ARP, V_IPV4_ICMP, V_IPV4_UDP, V_IPV4_TCP, V_IPV4_OTHER, V_IPV4_FRAGMENT, V_ETH_OTHER,
  V_DROP_RUNT, V_DROP_ARP_SHORT, V_DROP_ARP_BAD, V_DROP_IP_SHORT, V_DROP_IP_VERSION, V_DROP_IP_IHL,
  V_DROP_IP_TOTAL_LENGTH, V_DROP_IP_CHECKSUM, V_DROP_UDP_SHORT, V_DROP_UDP_LENGTH, V_DROP_UDP_CHECKSUM,
  V_DROP_ICMP_SHORT, V_DROP_ICMP_CHECKSUM, V_DROP_TCP_SHORT,
} from './frame-desc.js'

/** What the frame paths need from the portable core: views of the arena and its checksum. */
export interface FrameHost {
  readonly u8: Uint8Array
  readonly u32: Uint32Array
  readonly dv: DataView
  checksum(off: number, len: number, seed: number): number
}

// ---- parsing --------------------------------------------------------------------------------------
// `d` is the descriptor's index in host.u32 (desc >> 2).

/** ARP for IPv4 over Ethernet (RFC 826, "Packet format"); `n` bytes available at `p`. */
function parseArp(h: FrameHost, p: number, n: number, d: number): number {
  if (n < ARP_BYTES) return V_DROP_ARP_SHORT
  const dv = h.dv
  const u32 = h.u32
  const op = dv.getUint16(p + 6)
  u32[d + D_ARP_OP] = op
  u32[d + D_ARP_SHA] = p + 8
  u32[d + D_ARP_SPA] = dv.getUint32(p + 14)
  u32[d + D_ARP_THA] = p + 18
  u32[d + D_ARP_TPA] = dv.getUint32(p + 24)
  // ar$hrd = 1 (Ethernet), ar$pro = 0x0800 (IP), ar$hln = 6, ar$pln = 4, ar$op = request | reply.
  if (dv.getUint16(p) !== 1 || dv.getUint16(p + 2) !== ETHERTYPE_IPV4 || h.u8[p + 4] !== 6 || h.u8[p + 5] !== 4) {
    return V_DROP_ARP_BAD
  }
  if (op !== ARP_OP_REQUEST && op !== ARP_OP_REPLY) return V_DROP_ARP_BAD
  return V_ETH_ARP
}

/** ICMP (RFC 792): the 8-byte header, checksum over the whole message starting with the type. */
function parseIcmp(h: FrameHost, p: number, n: number, d: number): number {
  if (n < ICMP_HEADER_BYTES) return V_DROP_ICMP_SHORT
  const dv = h.dv
  const u32 = h.u32
  u32[d + D_ICMP_TYPE] = h.u8[p]
  u32[d + D_ICMP_CODE] = h.u8[p + 1]
  u32[d + D_L4_CHECKSUM] = dv.getUint16(p + 2)
  u32[d + D_ICMP_ID] = dv.getUint16(p + 4)
  u32[d + D_ICMP_SEQ] = dv.getUint16(p + 6)
  u32[d + D_L4_LEN] = n
  u32[d + D_L4_HLEN] = ICMP_HEADER_BYTES
  u32[d + D_DATA_OFF] = p + ICMP_HEADER_BYTES
  u32[d + D_DATA_LEN] = n - ICMP_HEADER_BYTES
  if (h.checksum(p, n, 0) !== 0) return V_DROP_ICMP_CHECKSUM
  u32[d + D_CHECKED] |= CHECKED_L4
  return V_IPV4_ICMP
}

/** UDP (RFC 768) in `n` bytes of IP payload; the checksum covers the pseudo-header (RFC 768, RFC 1122 §4.1.3.4). */
function parseUdp(h: FrameHost, p: number, n: number, src: number, dst: number, d: number): number {
  if (n < UDP_HEADER_BYTES) return V_DROP_UDP_SHORT
  const dv = h.dv
  const u32 = h.u32
  const ulen = dv.getUint16(p + 4)
  const sum = dv.getUint16(p + 6)
  u32[d + D_L4_SRC_PORT] = dv.getUint16(p)
  u32[d + D_L4_DST_PORT] = dv.getUint16(p + 2)
  u32[d + D_L4_HLEN] = UDP_HEADER_BYTES
  u32[d + D_L4_CHECKSUM] = sum
  // The UDP length governs; IP payload beyond it is ignored.
  if (ulen < UDP_HEADER_BYTES || ulen > n) return V_DROP_UDP_LENGTH
  u32[d + D_L4_LEN] = ulen
  u32[d + D_DATA_OFF] = p + UDP_HEADER_BYTES
  u32[d + D_DATA_LEN] = ulen - UDP_HEADER_BYTES
  // A zero checksum field means the sender computed none (RFC 768).
  if (sum !== 0) {
    if (h.checksum(p, ulen, pseudoHeaderSeed(src, dst, IP_PROTO_UDP, ulen)) !== 0) return V_DROP_UDP_CHECKSUM
    u32[d + D_CHECKED] |= CHECKED_L4
  }
  return V_IPV4_UDP
}

/** TCP (RFC 9293 §3.1): only the ports and the data offset; the segment is parsed by the TCP layer. */
function parseTcp(h: FrameHost, p: number, n: number, d: number): number {
  if (n < TCP_HEADER_BYTES) return V_DROP_TCP_SHORT
  const dv = h.dv
  const u32 = h.u32
  u32[d + D_L4_SRC_PORT] = dv.getUint16(p)
  u32[d + D_L4_DST_PORT] = dv.getUint16(p + 2)
  u32[d + D_L4_CHECKSUM] = dv.getUint16(p + 16)
  const hlen = (h.u8[p + 12] >> 4) << 2
  if (hlen < TCP_HEADER_BYTES || hlen > n) return V_DROP_TCP_SHORT
  u32[d + D_L4_LEN] = n
  u32[d + D_L4_HLEN] = hlen
  u32[d + D_DATA_OFF] = p + hlen
  u32[d + D_DATA_LEN] = n - hlen
  return V_IPV4_TCP
}

/** An IPv4 datagram (RFC 791 §3.1) in `n` bytes at `p`. */
function parseIp(h: FrameHost, p: number, n: number, d: number): number {
  if (n < IPV4_HEADER_BYTES) return V_DROP_IP_SHORT
  const dv = h.dv
  const u8 = h.u8
  const u32 = h.u32
  const vihl = u8[p]
  if ((vihl >> 4) !== 4) return V_DROP_IP_VERSION
  const ihl = vihl & 15
  const hlen = ihl << 2
  if (ihl < 5 || hlen > n) return V_DROP_IP_IHL
  const total = dv.getUint16(p + 2)
  if (total < hlen || total > n) return V_DROP_IP_TOTAL_LENGTH
  const frag = dv.getUint16(p + 6)
  const flags = frag >> 13
  const fragOff = (frag & 0x1fff) << 3
  const proto = u8[p + 9]
  const src = dv.getUint32(p + 12)
  const dst = dv.getUint32(p + 16)
  u32[d + D_IP_IHL] = ihl
  u32[d + D_IP_HLEN] = hlen
  u32[d + D_IP_TOS] = u8[p + 1]
  u32[d + D_IP_TOTAL_LEN] = total
  u32[d + D_IP_ID] = dv.getUint16(p + 4)
  u32[d + D_IP_FLAGS] = flags
  u32[d + D_IP_FRAG_OFF] = fragOff
  u32[d + D_IP_TTL] = u8[p + 8]
  u32[d + D_IP_PROTO] = proto
  u32[d + D_IP_SRC] = src
  u32[d + D_IP_DST] = dst
  u32[d + D_IP_PAYLOAD_OFF] = p + hlen
  u32[d + D_IP_PAYLOAD_LEN] = total - hlen
  // The header checksum covers the header only, options included.
  if (h.checksum(p, hlen, 0) !== 0) return V_DROP_IP_CHECKSUM
  u32[d + D_CHECKED] = CHECKED_IP
  // A fragment goes to the reassembler whole; its transport header may not even be in this piece.
  if ((flags & IP_FLAG_MF) !== 0 || fragOff !== 0) return V_IPV4_FRAGMENT
  const l4 = p + hlen
  const l4len = total - hlen
  if (proto === IP_PROTO_UDP) return parseUdp(h, l4, l4len, src, dst, d)
  if (proto === IP_PROTO_ICMP) return parseIcmp(h, l4, l4len, d)
  if (proto === IP_PROTO_TCP) return parseTcp(h, l4, l4len, d)
  return V_IPV4_OTHER
}

function begin(h: FrameHost, off: number, len: number, d: number): void {
  h.u32.fill(0, d, d + DESC_WORDS)
  h.u32[d + D_FRAME_OFF] = off
  h.u32[d + D_FRAME_LEN] = len
}

/**
 * Parses the Ethernet II frame of `len` bytes at `off` (RFC 894) into the descriptor at `desc`
 * (4-byte aligned, DESC_BYTES long, not overlapping the frame). Returns the verdict code.
 */
export function parseFrame(h: FrameHost, off: number, len: number, desc: number): number {
  const d = desc >> 2
  const u32 = h.u32
  begin(h, off, len, d)
  let v = V_ETH_OTHER
  if (len < ETH_HEADER_BYTES) {
    v = V_DROP_RUNT
  } else {
    const type = h.dv.getUint16(off + 12)
    const l3 = off + ETH_HEADER_BYTES
    const l3len = len - ETH_HEADER_BYTES
    u32[d + D_ETHERTYPE] = type
    u32[d + D_L3_OFF] = l3
    u32[d + D_L3_LEN] = l3len
    if (type === ETHERTYPE_IPV4) v = parseIp(h, l3, l3len, d)
    else if (type === ETHERTYPE_ARP) v = parseArp(h, l3, l3len, d)
  }
  u32[d + D_VERDICT] = v
  return v
}

/** Parses a bare IPv4 datagram of `len` bytes at `off` (e.g. a reassembled one), as parseFrame does past Ethernet. */
export function parseIpv4(h: FrameHost, off: number, len: number, desc: number): number {
  const d = desc >> 2
  const u32 = h.u32
  begin(h, off, len, d)
  u32[d + D_ETHERTYPE] = ETHERTYPE_IPV4
  u32[d + D_L3_OFF] = off
  u32[d + D_L3_LEN] = len
  const v = parseIp(h, off, len, d)
  u32[d + D_VERDICT] = v
  return v
}

// ---- emission -------------------------------------------------------------------------------------
// Each writes a header in place. MAC addresses are 6-byte arena ranges; they are read before anything
// is written, so they may lie in the header being rewritten (a reply built over its request).

/** The 14-byte Ethernet II header at `off` (RFC 894). */
export function emitEthernet(h: FrameHost, off: number, dstMacOff: number, srcMacOff: number, ethertype: number): void {
  const dv = h.dv
  const d0 = dv.getUint32(dstMacOff)
  const d1 = dv.getUint16(dstMacOff + 4)
  const s0 = dv.getUint32(srcMacOff)
  const s1 = dv.getUint16(srcMacOff + 4)
  dv.setUint32(off, d0)
  dv.setUint16(off + 4, d1)
  dv.setUint32(off + 6, s0)
  dv.setUint16(off + 10, s1)
  dv.setUint16(off + 12, ethertype)
}

/** The 28-byte ARP packet for IPv4 over Ethernet at `off` (RFC 826). */
export function emitArp(h: FrameHost, off: number, op: number, shaOff: number, spa: number, thaOff: number, tpa: number): void {
  const dv = h.dv
  const s0 = dv.getUint32(shaOff)
  const s1 = dv.getUint16(shaOff + 4)
  const t0 = dv.getUint32(thaOff)
  const t1 = dv.getUint16(thaOff + 4)
  dv.setUint16(off, 1)
  dv.setUint16(off + 2, ETHERTYPE_IPV4)
  h.u8[off + 4] = 6
  h.u8[off + 5] = 4
  dv.setUint16(off + 6, op)
  dv.setUint32(off + 8, s0)
  dv.setUint16(off + 12, s1)
  dv.setUint32(off + 14, spa)
  dv.setUint32(off + 18, t0)
  dv.setUint16(off + 22, t1)
  dv.setUint32(off + 24, tpa)
}

/**
 * The 20-byte IPv4 header at `off` (RFC 791 §3.1, IHL 5, no options) with its header checksum.
 * `flagsFragment` is the raw 16-bit word: IP_WORD_DF | IP_WORD_MF | offset in 8-byte units.
 */
export function emitIpv4(h: FrameHost, off: number, tos: number, totalLength: number, id: number,
                         flagsFragment: number, ttl: number, proto: number, src: number, dst: number): void {
  const dv = h.dv
  const u8 = h.u8
  u8[off] = 0x45
  u8[off + 1] = tos
  dv.setUint16(off + 2, totalLength)
  dv.setUint16(off + 4, id)
  dv.setUint16(off + 6, flagsFragment)
  u8[off + 8] = ttl
  u8[off + 9] = proto
  dv.setUint16(off + 10, 0)
  dv.setUint32(off + 12, src)
  dv.setUint32(off + 16, dst)
  dv.setUint16(off + 10, h.checksum(off, IPV4_HEADER_BYTES, 0))
}

/**
 * The 8-byte UDP header at `off` for `dataLen` bytes of data already at `off + 8`, with the checksum
 * over pseudo-header, header and data; a computed 0 is sent as 0xFFFF (RFC 768).
 */
export function emitUdp(h: FrameHost, off: number, srcPort: number, dstPort: number, dataLen: number,
                        src: number, dst: number): void {
  const dv = h.dv
  const ulen = (dataLen + UDP_HEADER_BYTES) & 0xffff
  dv.setUint16(off, srcPort)
  dv.setUint16(off + 2, dstPort)
  dv.setUint16(off + 4, ulen)
  dv.setUint16(off + 6, 0)
  let sum = h.checksum(off, ulen, pseudoHeaderSeed(src, dst, IP_PROTO_UDP, ulen))
  if (sum === 0) sum = 0xffff
  dv.setUint16(off + 6, sum)
}

/** The checksum of the `len`-byte ICMP message at `off` (RFC 792), rest of the message in place. */
export function emitIcmpChecksum(h: FrameHost, off: number, len: number): void {
  h.dv.setUint16(off + 2, 0)
  h.dv.setUint16(off + 2, h.checksum(off, len, 0))
}

/**
 * The 8-byte ICMP header at `off` (RFC 792): type, code, the 32-bit rest of the header (ID << 16 | SEQ
 * for echo; unused, pointer or next-hop MTU for errors), and the checksum over the `len`-byte message.
 */
export function emitIcmp(h: FrameHost, off: number, type: number, code: number, rest: number, len: number): void {
  h.u8[off] = type
  h.u8[off + 1] = code
  h.dv.setUint32(off + 4, rest)
  emitIcmpChecksum(h, off, len)
}
