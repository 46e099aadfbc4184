// Test-side references for the frame paths (firmware/core/frame-desc.ts): frame builders whose
// checksums come from the by-the-book referenceChecksum, and a reference parser written independently
// of both backends. It works on a copy of exactly the frame's bytes through a DataView, so it cannot
// read past the frame without throwing. Offsets it reports are relative to the frame's first byte.
import * as D from '../firmware/core/frame-desc.js'
import { referenceChecksum } from './helpers.js'

export type Mac = ArrayLike<number>

function concat(parts: ArrayLike<number>[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}

function u16(v: number): number[] { return [(v >>> 8) & 0xff, v & 0xff] }
function u32(v: number): number[] { return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff] }

/** An Ethernet II frame, zero-padded to `minLength` bytes (60 on the wire without FCS). */
export function buildEthernet(dst: Mac, src: Mac, ethertype: number, payload: ArrayLike<number>, minLength = 0): Uint8Array {
  const f = concat([dst, src, u16(ethertype), payload])
  if (f.length >= minLength) return f
  const padded = new Uint8Array(minLength)
  padded.set(f)
  return padded
}

export function buildArp(op: number, sha: Mac, spa: number, tha: Mac, tpa: number): Uint8Array {
  return concat([u16(1), u16(0x0800), [6, 4], u16(op), sha, u32(spa), tha, u32(tpa)])
}

export interface Ipv4Fields {
  tos?: number
  id?: number
  /** The raw flags/fragment word. */
  flagsFragment?: number
  ttl?: number
  proto: number
  src: number
  dst: number
  /** Option bytes (a multiple of 4, up to 40). */
  options?: ArrayLike<number>
  /** Overrides the total length (default: header + payload). */
  totalLength?: number
}

/** An IPv4 header (checksum by the reference) followed by `payload`. */
export function buildIpv4(h: Ipv4Fields, payload: ArrayLike<number>): Uint8Array {
  const options = h.options ?? []
  const hlen = 20 + options.length
  const total = h.totalLength ?? hlen + payload.length
  const header = concat([[0x40 | (hlen >> 2), h.tos ?? 0], u16(total), u16(h.id ?? 0), u16(h.flagsFragment ?? 0),
    [h.ttl ?? 64, h.proto], [0, 0], u32(h.src), u32(h.dst), options])
  const sum = referenceChecksum(header, 0)
  header[10] = sum >> 8
  header[11] = sum & 0xff
  return concat([header, payload])
}

/** The pseudo-header (RFC 768) as bytes. */
export function pseudoHeader(src: number, dst: number, proto: number, length: number): Uint8Array {
  return Uint8Array.from([...u32(src), ...u32(dst), 0, proto, ...u16(length)])
}

/** A UDP datagram with its checksum (0 sent as 0xFFFF), or with a zero field when `noChecksum`. */
export function buildUdp(srcPort: number, dstPort: number, data: ArrayLike<number>, src: number, dst: number,
  noChecksum = false): Uint8Array {
  const length = 8 + data.length
  const d = concat([u16(srcPort), u16(dstPort), u16(length), [0, 0], data])
  if (!noChecksum) {
    let sum = referenceChecksum(concat([pseudoHeader(src, dst, 17, length), d]), 0)
    if (sum === 0) sum = 0xffff
    d[6] = sum >> 8
    d[7] = sum & 0xff
  }
  return d
}

/** An ICMP message: type, code, the 32-bit rest of the header, data, checksum. */
export function buildIcmp(type: number, code: number, rest: number, data: ArrayLike<number>): Uint8Array {
  const m = concat([[type, code, 0, 0], u32(rest), data])
  const sum = referenceChecksum(m, 0)
  m[2] = sum >> 8
  m[3] = sum & 0xff
  return m
}

/** A TCP segment: ports, sequence numbers, `options` (multiple of 4) and data, checksum by the reference. */
export function buildTcp(srcPort: number, dstPort: number, options: ArrayLike<number>, data: ArrayLike<number>,
  src: number, dst: number): Uint8Array {
  const hlen = 20 + options.length
  const s = concat([u16(srcPort), u16(dstPort), u32(0x01020304), u32(0), [(hlen >> 2) << 4, 0x02], u16(65535),
    [0, 0], u16(0), options, data])
  const sum = referenceChecksum(concat([pseudoHeader(src, dst, 6, s.length), s]), 0)
  s[16] = sum >> 8
  s[17] = sum & 0xff
  return s
}

// ---- the reference parser -------------------------------------------------------------------------

export interface Reference {
  verdict: number
  /** The descriptor as the contract defines it, offsets relative to the frame (datagram) start. */
  words: number[]
}

/** Parses a frame by the contract; `ipOnly` parses a bare IPv4 datagram (parseIpv4). */
export function referenceParse(frame: Uint8Array, ipOnly = false): Reference {
  const b = frame.slice()
  const v = new DataView(b.buffer)
  const w: number[] = new Array(D.DESC_WORDS).fill(0)
  const done = (verdict: number): Reference => { w[D.D_VERDICT] = verdict; return { verdict, words: w } }
  w[D.D_FRAME_OFF] = 0
  w[D.D_FRAME_LEN] = b.length
  let l3: number
  if (ipOnly) {
    l3 = 0
    w[D.D_ETHERTYPE] = 0x0800
  } else {
    if (b.length < 14) return done(D.V_DROP_RUNT)
    l3 = 14
    w[D.D_ETHERTYPE] = v.getUint16(12)
  }
  w[D.D_L3_OFF] = l3
  w[D.D_L3_LEN] = b.length - l3
  const avail = b.length - l3

  if (w[D.D_ETHERTYPE] === 0x0806) {
    // RFC 826: hrd, pro, hln, pln, op, sha, spa, tha, tpa.
    if (avail < 28) return done(D.V_DROP_ARP_SHORT)
    const op = v.getUint16(l3 + 6)
    const ok = v.getUint16(l3) === 1 && v.getUint16(l3 + 2) === 0x0800 && b[l3 + 4] === 6 && b[l3 + 5] === 4 &&
      (op === 1 || op === 2)
    if (!ok) return done(D.V_DROP_ARP_BAD)
    w[D.D_ARP_OP] = op
    w[D.D_ARP_SHA] = l3 + 8
    w[D.D_ARP_SPA] = v.getUint32(l3 + 14)
    w[D.D_ARP_THA] = l3 + 18
    w[D.D_ARP_TPA] = v.getUint32(l3 + 24)
    return done(D.V_ETH_ARP)
  }
  if (w[D.D_ETHERTYPE] !== 0x0800) return done(D.V_ETH_OTHER)

  // RFC 791 §3.1.
  if (avail < 20) return done(D.V_DROP_IP_SHORT)
  if (b[l3] >> 4 !== 4) return done(D.V_DROP_IP_VERSION)
  const ihl = b[l3] & 0x0f
  if (ihl < 5 || ihl * 4 > avail) return done(D.V_DROP_IP_IHL)
  const hlen = ihl * 4
  const total = v.getUint16(l3 + 2)
  if (total < hlen || total > avail) return done(D.V_DROP_IP_TOTAL_LENGTH)
  if (referenceChecksum(b.subarray(l3, l3 + hlen), 0) !== 0) return done(D.V_DROP_IP_CHECKSUM)
  const fragWord = v.getUint16(l3 + 6)
  const proto = b[l3 + 9]
  const src = v.getUint32(l3 + 12)
  const dst = v.getUint32(l3 + 16)
  w[D.D_IP_IHL] = ihl
  w[D.D_IP_HLEN] = hlen
  w[D.D_IP_TOS] = b[l3 + 1]
  w[D.D_IP_TOTAL_LEN] = total
  w[D.D_IP_ID] = v.getUint16(l3 + 4)
  w[D.D_IP_FLAGS] = Math.floor(fragWord / 8192)
  w[D.D_IP_FRAG_OFF] = (fragWord % 8192) * 8
  w[D.D_IP_TTL] = b[l3 + 8]
  w[D.D_IP_PROTO] = proto
  w[D.D_IP_SRC] = src
  w[D.D_IP_DST] = dst
  w[D.D_IP_PAYLOAD_OFF] = l3 + hlen
  w[D.D_IP_PAYLOAD_LEN] = total - hlen
  w[D.D_CHECKED] = D.CHECKED_IP
  if ((fragWord & 0x2000) !== 0 || (fragWord & 0x1fff) !== 0) return done(D.V_IPV4_FRAGMENT)

  const p = l3 + hlen
  const n = total - hlen
  if (proto === 17) {
    // RFC 768.
    if (n < 8) return done(D.V_DROP_UDP_SHORT)
    const ulen = v.getUint16(p + 4)
    if (ulen < 8 || ulen > n) return done(D.V_DROP_UDP_LENGTH)
    const field = v.getUint16(p + 6)
    if (field !== 0) {
      const all = concat([pseudoHeader(src, dst, 17, ulen), b.subarray(p, p + ulen)])
      if (referenceChecksum(all, 0) !== 0) return done(D.V_DROP_UDP_CHECKSUM)
      w[D.D_CHECKED] |= D.CHECKED_L4
    }
    w[D.D_L4_SRC_PORT] = v.getUint16(p)
    w[D.D_L4_DST_PORT] = v.getUint16(p + 2)
    w[D.D_L4_LEN] = ulen
    w[D.D_L4_HLEN] = 8
    w[D.D_L4_CHECKSUM] = field
    w[D.D_DATA_OFF] = p + 8
    w[D.D_DATA_LEN] = ulen - 8
    return done(D.V_IPV4_UDP)
  }
  if (proto === 1) {
    // RFC 792.
    if (n < 8) return done(D.V_DROP_ICMP_SHORT)
    if (referenceChecksum(b.subarray(p, p + n), 0) !== 0) return done(D.V_DROP_ICMP_CHECKSUM)
    w[D.D_CHECKED] |= D.CHECKED_L4
    w[D.D_ICMP_TYPE] = b[p]
    w[D.D_ICMP_CODE] = b[p + 1]
    w[D.D_L4_CHECKSUM] = v.getUint16(p + 2)
    w[D.D_ICMP_ID] = v.getUint16(p + 4)
    w[D.D_ICMP_SEQ] = v.getUint16(p + 6)
    w[D.D_L4_LEN] = n
    w[D.D_L4_HLEN] = 8
    w[D.D_DATA_OFF] = p + 8
    w[D.D_DATA_LEN] = n - 8
    return done(D.V_IPV4_ICMP)
  }
  if (proto === 6) {
    // RFC 9293 §3.1: data offset in 32-bit words, at least 5.
    if (n < 20) return done(D.V_DROP_TCP_SHORT)
    const thl = (b[p + 12] >> 4) * 4
    if (thl < 20 || thl > n) return done(D.V_DROP_TCP_SHORT)
    w[D.D_L4_SRC_PORT] = v.getUint16(p)
    w[D.D_L4_DST_PORT] = v.getUint16(p + 2)
    w[D.D_L4_CHECKSUM] = v.getUint16(p + 16)
    w[D.D_L4_LEN] = n
    w[D.D_L4_HLEN] = thl
    w[D.D_DATA_OFF] = p + thl
    w[D.D_DATA_LEN] = n - thl
    return done(D.V_IPV4_TCP)
  }
  return done(D.V_IPV4_OTHER)
}

/** Descriptor words that hold offsets (absolute in the arena, relative in Reference.words). */
export const OFFSET_WORDS = [D.D_FRAME_OFF, D.D_L3_OFF, D.D_ARP_SHA, D.D_ARP_THA, D.D_IP_PAYLOAD_OFF, D.D_DATA_OFF]

/** Descriptor words every verdict promises (the rest may hold partial values after a drop). */
export const COMMON_WORDS = [D.D_VERDICT, D.D_FRAME_OFF, D.D_FRAME_LEN, D.D_ETHERTYPE, D.D_L3_OFF, D.D_L3_LEN]

/** Problems with a relative descriptor of a `len`-byte frame: offset/length pairs past the frame. */
export function outsideFrame(w: ArrayLike<number>, len: number): string[] {
  const bad: string[] = []
  const check = (name: string, off: number, n: number): void => {
    if (off < 0 || off + n > len) bad.push(`${name} ${off}+${n} > ${len}`)
  }
  if (w[D.D_FRAME_LEN] !== len) bad.push(`frame length ${w[D.D_FRAME_LEN]} != ${len}`)
  if (w[D.D_L3_OFF] !== 0) check('L3', w[D.D_L3_OFF], w[D.D_L3_LEN])
  if (w[D.D_ARP_SHA] !== 0) check('ARP sha', w[D.D_ARP_SHA], 6)
  if (w[D.D_ARP_THA] !== 0) check('ARP tha', w[D.D_ARP_THA], 6)
  if (w[D.D_IP_HLEN] !== 0) check('IP header', w[D.D_L3_OFF], w[D.D_IP_HLEN])
  if (w[D.D_IP_TOTAL_LEN] !== 0) check('IP datagram', w[D.D_L3_OFF], w[D.D_IP_TOTAL_LEN])
  if (w[D.D_IP_PAYLOAD_OFF] !== 0) check('IP payload', w[D.D_IP_PAYLOAD_OFF], w[D.D_IP_PAYLOAD_LEN])
  if (w[D.D_L4_LEN] !== 0) check('L4', w[D.D_IP_PAYLOAD_OFF], w[D.D_L4_LEN])
  if (w[D.D_L4_HLEN] !== 0) check('L4 header', w[D.D_IP_PAYLOAD_OFF], w[D.D_L4_HLEN])
  if (w[D.D_DATA_OFF] !== 0) check('data', w[D.D_DATA_OFF], w[D.D_DATA_LEN])
  return bad
}
