// Frame paths: parse/validate and emit Ethernet II, ARP, IPv4, ICMP and UDP headers in place on arena
// offsets. The portable twin is firmware/core/portable-frame.ts; the descriptor layout and verdict codes
// are firmware/core/frame-desc.ts, mirrored below (test/frame.test.ts checks that both copies agree).
//
// Parsing never reads past `off + len`: every load is preceded by a length check that covers it, and
// a checksum is only taken over a length already checked against the frame. Multi-byte fields are
// big-endian on the wire; loads are byte-swapped (WebAssembly is little-endian, and needs no alignment).
import { checksum, pseudoHeaderSeed } from './checksum'

// ---- the descriptor (mirror of firmware/core/frame-desc.ts) ----------------------------------------
export const DESC_WORDS: u32 = 36
export const DESC_BYTES: u32 = DESC_WORDS * 4

export const D_VERDICT: u32 = 0
export const D_FRAME_OFF: u32 = 1
export const D_FRAME_LEN: u32 = 2
export const D_ETHERTYPE: u32 = 3
export const D_L3_OFF: u32 = 4
export const D_L3_LEN: u32 = 5
export const D_ARP_OP: u32 = 6
export const D_ARP_SHA: u32 = 7
export const D_ARP_SPA: u32 = 8
export const D_ARP_THA: u32 = 9
export const D_ARP_TPA: u32 = 10
export const D_IP_IHL: u32 = 11
export const D_IP_HLEN: u32 = 12
export const D_IP_TOS: u32 = 13
export const D_IP_TOTAL_LEN: u32 = 14
export const D_IP_ID: u32 = 15
export const D_IP_FLAGS: u32 = 16
export const D_IP_FRAG_OFF: u32 = 17
export const D_IP_TTL: u32 = 18
export const D_IP_PROTO: u32 = 19
export const D_IP_SRC: u32 = 20
export const D_IP_DST: u32 = 21
export const D_IP_PAYLOAD_OFF: u32 = 22
export const D_IP_PAYLOAD_LEN: u32 = 23
export const D_L4_SRC_PORT: u32 = 24
export const D_L4_DST_PORT: u32 = 25
export const D_L4_LEN: u32 = 26
export const D_L4_HLEN: u32 = 27
export const D_L4_CHECKSUM: u32 = 28
export const D_DATA_OFF: u32 = 29
export const D_DATA_LEN: u32 = 30
export const D_ICMP_TYPE: u32 = 31
export const D_ICMP_CODE: u32 = 32
export const D_ICMP_ID: u32 = 33
export const D_ICMP_SEQ: u32 = 34
export const D_CHECKED: u32 = 35

export const CHECKED_IP: u32 = 1
export const CHECKED_L4: u32 = 2
export const IP_FLAG_RESERVED: u32 = 4
export const IP_FLAG_DF: u32 = 2
export const IP_FLAG_MF: u32 = 1
export const IP_WORD_DF: u32 = 0x4000
export const IP_WORD_MF: u32 = 0x2000

export const ETHERTYPE_IPV4: u32 = 0x0800
export const ETHERTYPE_ARP: u32 = 0x0806
export const IP_PROTO_ICMP: u32 = 1
export const IP_PROTO_TCP: u32 = 6
export const IP_PROTO_UDP: u32 = 17
export const ARP_OP_REQUEST: u32 = 1
export const ARP_OP_REPLY: u32 = 2

export const ETH_HEADER_BYTES: u32 = 14
export const ARP_BYTES: u32 = 28
export const IPV4_HEADER_BYTES: u32 = 20
export const UDP_HEADER_BYTES: u32 = 8
export const ICMP_HEADER_BYTES: u32 = 8
export const TCP_HEADER_BYTES: u32 = 20

export const V_NONE: u32 = 0
export const V_ETH_ARP: u32 = 1
export const V_IPV4_ICMP: u32 = 2
export const V_IPV4_UDP: u32 = 3
export const V_IPV4_TCP: u32 = 4
export const V_IPV4_OTHER: u32 = 5
export const V_IPV4_FRAGMENT: u32 = 6
export const V_ETH_OTHER: u32 = 7
export const VERDICT_ACCEPT_LAST: u32 = 7
export const VERDICT_DROP_FIRST: u32 = 16
export const V_DROP_RUNT: u32 = 16
export const V_DROP_ARP_SHORT: u32 = 17
export const V_DROP_ARP_BAD: u32 = 18
export const V_DROP_IP_SHORT: u32 = 19
export const V_DROP_IP_VERSION: u32 = 20
export const V_DROP_IP_IHL: u32 = 21
export const V_DROP_IP_TOTAL_LENGTH: u32 = 22
export const V_DROP_IP_CHECKSUM: u32 = 23
export const V_DROP_UDP_SHORT: u32 = 24
export const V_DROP_UDP_LENGTH: u32 = 25
export const V_DROP_UDP_CHECKSUM: u32 = 26
export const V_DROP_ICMP_SHORT: u32 = 27
export const V_DROP_ICMP_CHECKSUM: u32 = 28
export const V_DROP_TCP_SHORT: u32 = 29
export const VERDICT_COUNT: u32 = 30

// ---- helpers --------------------------------------------------------------------------------------

@inline function be16(p: usize): u32 {
  return <u32>bswap<u16>(load<u16>(p))
}

@inline function be32(p: usize): u32 {
  return bswap<u32>(load<u32>(p))
}

@inline function put16(p: usize, v: u32): void {
  store<u16>(p, bswap<u16>(<u16>v))
}

@inline function put32(p: usize, v: u32): void {
  store<u32>(p, bswap<u32>(v))
}

@inline function set(desc: usize, word: u32, v: u32): void {
  store<u32>(desc + (<usize>word << 2), v)
}

@inline function get(desc: usize, word: u32): u32 {
  return load<u32>(desc + (<usize>word << 2))
}

// ---- parsing --------------------------------------------------------------------------------------

/** ARP for IPv4 over Ethernet (RFC 826, "Packet format"); `n` bytes available at `p`. */
function parseArp(p: usize, n: u32, desc: usize): u32 {
  if (n < ARP_BYTES) return V_DROP_ARP_SHORT
  const op = be16(p + 6)
  set(desc, D_ARP_OP, op)
  set(desc, D_ARP_SHA, <u32>p + 8)
  set(desc, D_ARP_SPA, be32(p + 14))
  set(desc, D_ARP_THA, <u32>p + 18)
  set(desc, D_ARP_TPA, be32(p + 24))
  // ar$hrd = 1 (Ethernet), ar$pro = 0x0800 (IP), ar$hln = 6, ar$pln = 4, ar$op = request | reply.
  if (be16(p) != 1 || be16(p + 2) != ETHERTYPE_IPV4 || load<u8>(p + 4) != 6 || load<u8>(p + 5) != 4) {
    return V_DROP_ARP_BAD
  }
  if (op != ARP_OP_REQUEST && op != ARP_OP_REPLY) return V_DROP_ARP_BAD
  return V_ETH_ARP
}

/** ICMP (RFC 792): the 8-byte header, checksum over the whole message starting with the type. */
function parseIcmp(p: usize, n: u32, desc: usize): u32 {
  if (n < ICMP_HEADER_BYTES) return V_DROP_ICMP_SHORT
  set(desc, D_ICMP_TYPE, <u32>load<u8>(p))
  set(desc, D_ICMP_CODE, <u32>load<u8>(p + 1))
  set(desc, D_L4_CHECKSUM, be16(p + 2))
  set(desc, D_ICMP_ID, be16(p + 4))
  set(desc, D_ICMP_SEQ, be16(p + 6))
  set(desc, D_L4_LEN, n)
  set(desc, D_L4_HLEN, ICMP_HEADER_BYTES)
  set(desc, D_DATA_OFF, <u32>p + ICMP_HEADER_BYTES)
  set(desc, D_DATA_LEN, n - ICMP_HEADER_BYTES)
  if (checksum(p, n, 0) != 0) return V_DROP_ICMP_CHECKSUM
  set(desc, D_CHECKED, get(desc, D_CHECKED) | CHECKED_L4)
  return V_IPV4_ICMP
}

/** UDP (RFC 768) in `n` bytes of IP payload; the checksum covers the pseudo-header (RFC 768, RFC 1122 §4.1.3.4). */
function parseUdp(p: usize, n: u32, src: u32, dst: u32, desc: usize): u32 {
  if (n < UDP_HEADER_BYTES) return V_DROP_UDP_SHORT
  const ulen = be16(p + 4)
  const sum = be16(p + 6)
  set(desc, D_L4_SRC_PORT, be16(p))
  set(desc, D_L4_DST_PORT, be16(p + 2))
  set(desc, D_L4_HLEN, UDP_HEADER_BYTES)
  set(desc, D_L4_CHECKSUM, sum)
  // The UDP length governs; IP payload beyond it is ignored.
  if (ulen < UDP_HEADER_BYTES || ulen > n) return V_DROP_UDP_LENGTH
  set(desc, D_L4_LEN, ulen)
  set(desc, D_DATA_OFF, <u32>p + UDP_HEADER_BYTES)
  set(desc, D_DATA_LEN, ulen - UDP_HEADER_BYTES)
  // A zero checksum field means the sender computed none (RFC 768).
  if (sum != 0) {
    if (checksum(p, ulen, pseudoHeaderSeed(src, dst, IP_PROTO_UDP, ulen)) != 0) return V_DROP_UDP_CHECKSUM
    set(desc, D_CHECKED, get(desc, D_CHECKED) | CHECKED_L4)
  }
  return V_IPV4_UDP
}

/** TCP (RFC 9293 §3.1): only the ports and the data offset; the segment is parsed by the TCP layer. */
function parseTcp(p: usize, n: u32, desc: usize): u32 {
  if (n < TCP_HEADER_BYTES) return V_DROP_TCP_SHORT
  set(desc, D_L4_SRC_PORT, be16(p))
  set(desc, D_L4_DST_PORT, be16(p + 2))
  set(desc, D_L4_CHECKSUM, be16(p + 16))
  const hlen = (<u32>load<u8>(p + 12) >> 4) << 2
  if (hlen < TCP_HEADER_BYTES || hlen > n) return V_DROP_TCP_SHORT
  set(desc, D_L4_LEN, n)
  set(desc, D_L4_HLEN, hlen)
  set(desc, D_DATA_OFF, <u32>p + hlen)
  set(desc, D_DATA_LEN, n - hlen)
  return V_IPV4_TCP
}

/** An IPv4 datagram (RFC 791 §3.1) in `n` bytes at `p`. */
function parseIp(p: usize, n: u32, desc: usize): u32 {
  if (n < IPV4_HEADER_BYTES) return V_DROP_IP_SHORT
  const vihl = <u32>load<u8>(p)
  if ((vihl >> 4) != 4) return V_DROP_IP_VERSION
  const ihl = vihl & 15
  const hlen = ihl << 2
  if (ihl < 5 || hlen > n) return V_DROP_IP_IHL
  const total = be16(p + 2)
  if (total < hlen || total > n) return V_DROP_IP_TOTAL_LENGTH
  const frag = be16(p + 6)
  const flags = frag >> 13
  const fragOff = (frag & 0x1fff) << 3
  const proto = <u32>load<u8>(p + 9)
  const src = be32(p + 12)
  const dst = be32(p + 16)
  set(desc, D_IP_IHL, ihl)
  set(desc, D_IP_HLEN, hlen)
  set(desc, D_IP_TOS, <u32>load<u8>(p + 1))
  set(desc, D_IP_TOTAL_LEN, total)
  set(desc, D_IP_ID, be16(p + 4))
  set(desc, D_IP_FLAGS, flags)
  set(desc, D_IP_FRAG_OFF, fragOff)
  set(desc, D_IP_TTL, <u32>load<u8>(p + 8))
  set(desc, D_IP_PROTO, proto)
  set(desc, D_IP_SRC, src)
  set(desc, D_IP_DST, dst)
  set(desc, D_IP_PAYLOAD_OFF, <u32>p + hlen)
  set(desc, D_IP_PAYLOAD_LEN, total - hlen)
  // The header checksum covers the header only, options included.
  if (checksum(p, hlen, 0) != 0) return V_DROP_IP_CHECKSUM
  set(desc, D_CHECKED, CHECKED_IP)
  // A fragment goes to the reassembler whole; its transport header may not even be in this piece.
  if ((flags & IP_FLAG_MF) != 0 || fragOff != 0) return V_IPV4_FRAGMENT
  const l4 = p + hlen
  const l4len = total - hlen
  if (proto == IP_PROTO_UDP) return parseUdp(l4, l4len, src, dst, desc)
  if (proto == IP_PROTO_ICMP) return parseIcmp(l4, l4len, desc)
  if (proto == IP_PROTO_TCP) return parseTcp(l4, l4len, desc)
  return V_IPV4_OTHER
}

@inline function begin(off: usize, len: u32, desc: usize): void {
  memory.fill(desc, 0, DESC_BYTES)
  set(desc, D_FRAME_OFF, <u32>off)
  set(desc, D_FRAME_LEN, len)
}

@inline function finish(desc: usize, verdict: u32): u32 {
  set(desc, D_VERDICT, verdict)
  return verdict
}

/**
 * Parses the Ethernet II frame of `len` bytes at `off` (RFC 894) into the descriptor at `desc`
 * (4-byte aligned, DESC_BYTES long, not overlapping the frame). Returns the verdict code.
 */
export function parseFrame(off: usize, len: u32, desc: usize): u32 {
  begin(off, len, desc)
  if (len < ETH_HEADER_BYTES) return finish(desc, V_DROP_RUNT)
  const type = be16(off + 12)
  const l3 = off + ETH_HEADER_BYTES
  const l3len = len - ETH_HEADER_BYTES
  set(desc, D_ETHERTYPE, type)
  set(desc, D_L3_OFF, <u32>l3)
  set(desc, D_L3_LEN, l3len)
  if (type == ETHERTYPE_IPV4) return finish(desc, parseIp(l3, l3len, desc))
  if (type == ETHERTYPE_ARP) return finish(desc, parseArp(l3, l3len, desc))
  return finish(desc, V_ETH_OTHER)
}

/** Parses a bare IPv4 datagram of `len` bytes at `off` (e.g. a reassembled one), as parseFrame does past Ethernet. */
export function parseIpv4(off: usize, len: u32, desc: usize): u32 {
  begin(off, len, desc)
  set(desc, D_ETHERTYPE, ETHERTYPE_IPV4)
  set(desc, D_L3_OFF, <u32>off)
  set(desc, D_L3_LEN, len)
  return finish(desc, parseIp(off, len, desc))
}

// ---- emission -------------------------------------------------------------------------------------
// Each writes a header in place. MAC addresses are 6-byte arena ranges; they are read before anything
// is written, so they may lie in the header being rewritten (a reply built over its request).

/** The 14-byte Ethernet II header at `off` (RFC 894). */
export function emitEthernet(off: usize, dstMacOff: usize, srcMacOff: usize, ethertype: u32): void {
  const d0 = load<u32>(dstMacOff)
  const d1 = load<u16>(dstMacOff, 4)
  const s0 = load<u32>(srcMacOff)
  const s1 = load<u16>(srcMacOff, 4)
  store<u32>(off, d0)
  store<u16>(off, d1, 4)
  store<u32>(off, s0, 6)
  store<u16>(off, s1, 10)
  put16(off + 12, ethertype)
}

/** The 28-byte ARP packet for IPv4 over Ethernet at `off` (RFC 826). */
export function emitArp(off: usize, op: u32, shaOff: usize, spa: u32, thaOff: usize, tpa: u32): void {
  const s0 = load<u32>(shaOff)
  const s1 = load<u16>(shaOff, 4)
  const t0 = load<u32>(thaOff)
  const t1 = load<u16>(thaOff, 4)
  put16(off, 1)
  put16(off + 2, ETHERTYPE_IPV4)
  store<u8>(off + 4, 6)
  store<u8>(off + 5, 4)
  put16(off + 6, op)
  store<u32>(off, s0, 8)
  store<u16>(off, s1, 12)
  put32(off + 14, spa)
  store<u32>(off, t0, 18)
  store<u16>(off, t1, 22)
  put32(off + 24, tpa)
}

/**
 * The 20-byte IPv4 header at `off` (RFC 791 §3.1, IHL 5, no options) with its header checksum.
 * `flagsFragment` is the raw 16-bit word: IP_WORD_DF | IP_WORD_MF | offset in 8-byte units.
 */
export function emitIpv4(off: usize, tos: u32, totalLength: u32, id: u32, flagsFragment: u32, ttl: u32,
                         proto: u32, src: u32, dst: u32): void {
  store<u8>(off, 0x45)
  store<u8>(off + 1, <u8>tos)
  put16(off + 2, totalLength)
  put16(off + 4, id)
  put16(off + 6, flagsFragment)
  store<u8>(off + 8, <u8>ttl)
  store<u8>(off + 9, <u8>proto)
  store<u16>(off + 10, 0)
  put32(off + 12, src)
  put32(off + 16, dst)
  put16(off + 10, checksum(off, IPV4_HEADER_BYTES, 0))
}

/**
 * The 8-byte UDP header at `off` for `dataLen` bytes of data already at `off + 8`, with the checksum
 * over pseudo-header, header and data; a computed 0 is sent as 0xFFFF (RFC 768).
 */
export function emitUdp(off: usize, srcPort: u32, dstPort: u32, dataLen: u32, src: u32, dst: u32): void {
  const ulen = (dataLen + UDP_HEADER_BYTES) & 0xffff
  put16(off, srcPort)
  put16(off + 2, dstPort)
  put16(off + 4, ulen)
  store<u16>(off + 6, 0)
  let sum = checksum(off, ulen, pseudoHeaderSeed(src, dst, IP_PROTO_UDP, ulen))
  if (sum == 0) sum = 0xffff
  put16(off + 6, sum)
}

/** The checksum of the `len`-byte ICMP message at `off` (RFC 792), rest of the message in place. */
export function emitIcmpChecksum(off: usize, len: u32): void {
  store<u16>(off + 2, 0)
  put16(off + 2, checksum(off, len, 0))
}

/**
 * The 8-byte ICMP header at `off` (RFC 792): type, code, the 32-bit rest of the header (ID << 16 | SEQ
 * for echo; unused, pointer or next-hop MTU for errors), and the checksum over the `len`-byte message.
 */
export function emitIcmp(off: usize, type: u32, code: u32, rest: u32, len: u32): void {
  store<u8>(off, <u8>type)
  store<u8>(off + 1, <u8>code)
  put32(off + 4, rest)
  emitIcmpChecksum(off, len)
}
