// IPv4 (RFC 791, host requirements of RFC 1122 §3): which datagrams are ours, dispatch to ICMP, UDP,
// TCP and the reassembler, routing by subnet mask and default gateway, and output with fragmentation.
// Device dialect.
//
// Header validation (version, IHL, total length, header checksum) is done by the hot-path parser
// (core.parseFrame); this module checks addresses. IP options are accepted and ignored (not passed
// up; we originate none). Output: TTL 64, no options, DF clear (no path MTU discovery), MTU 1500;
// larger messages are cut into fragments of 1480 payload bytes (a multiple of 8, RFC 791 §2.3 and
// §3.2 "Fragmentation and reassembly"), all or nothing: either every fragment fits in the TX ring (or
// the ARP pending queue) now, or the datagram is refused with an error. Echo replies larger than the
// queues are sent in steps by the reassembler (firmware/net/ipv4-reassembly.ts, output jobs).
import type { NetStack } from './stack.js'
import { Counters } from '../kernel/counters.js'
import {
  D_IP_SRC, D_IP_DST, V_IPV4_ICMP, V_IPV4_UDP, V_IPV4_TCP, V_IPV4_OTHER, V_IPV4_FRAGMENT, IP_WORD_MF,
  ETHERTYPE_IPV4, ETH_HEADER_BYTES, IPV4_HEADER_BYTES, isDrop,
} from '../core/frame-desc.js'
import { ETH_MIN_FRAME, writeMulticastMac } from './ethernet.js'
import {
  IP_BROADCAST, isMulticast, isLoopback, isReserved, sameSubnet, CAST_NONE, CAST_UNICAST, CAST_BROADCAST,
  CAST_MULTICAST, CAST_UNCONFIGURED,
} from './addr.js'
import { ARP_RESOLVING } from './arp.js'

export const IP_OK = 0
/** No route: off-subnet without a gateway, or an address that cannot be a destination. */
export const IP_ERR_NO_ROUTE = -3
/** The next hop is being resolved and the ARP pending queue is full (or the ARP cache is). */
export const IP_ERR_ARP_QUEUE_FULL = -4
/** The TX ring has no room for the frame(s) now. */
export const IP_ERR_TX_FULL = -5
/** Larger than an IPv4 datagram, or than this board's TX ring can ever hold as fragments. */
export const IP_ERR_TOO_BIG = -6

/** Time to live of our datagrams (RFC 1122 §3.2.1.7; the value of the Assigned Numbers). */
export const IP_TTL = 64
/** Payload bytes per fragment: the 1500-byte Ethernet MTU less a 20-byte header, a multiple of 8. */
export const FRAG_PAYLOAD = 1480
/** The most payload one datagram can carry: 65535 less a 20-byte header. */
export const IP_MAX_PAYLOAD = 65515

/** Offset of the IP payload in a frame we build (Ethernet + 20-byte header). */
export const FRAME_PAYLOAD = ETH_HEADER_BYTES + IPV4_HEADER_BYTES

const C_ETH_TX = Counters.id('eth.tx')
const C_TX_FULL = Counters.id('eth.tx.ring-full')
const C_PENDING_FULL = Counters.id('arp.pending.full')
const C_IP_RX = Counters.id('ip.rx')
const C_IP_TX = Counters.id('ip.tx')
const C_NOT_US = Counters.id('ip.rx.not-for-us')
const C_BAD_SRC = Counters.id('ip.rx.bad-src')
const C_PROTO = Counters.id('ip.rx.proto')
const C_FRAG_TX = Counters.id('ip.frag.tx')
const C_NO_ROUTE = Counters.id('ip.tx.no-route')
const C_TCP_RX = Counters.id('tcp.rx')

export class Ipv4 {
  private readonly s: NetStack
  /** Next identification (RFC 791 §3.2; RFC 6864: unique per source, destination and protocol while in flight). */
  private nextId: number
  /** Where route() sent the current output: arena offset of the destination MAC, or -1 (waiting for ARP on outHop). */
  private outMac = -1
  private outHop = 0
  // The message being emitted: `mHdrLen` bytes at arena `mHdrOff`, then data from `mData` or arena `mDataOff`.
  private mHdrOff = 0
  private mHdrLen = 0
  private mData: Uint8Array | null = null
  private mDataOff = 0

  constructor(s: NetStack) {
    this.s = s
    this.nextId = Math.floor(s.random() * 65536) & 0xffff
  }

  // ---- input ----------------------------------------------------------------------------------

  /** How a datagram to `dst` concerns us (CAST_*); RFC 1122 §3.3.6 for broadcasts, RFC 1112 §4 for groups. */
  classify(dst: number): number {
    const s = this.s
    if (s.addr !== 0 && dst === s.addr) return CAST_UNICAST
    if (dst === IP_BROADCAST || dst === s.subnetBcast) return CAST_BROADCAST
    if (isMulticast(dst)) return s.isMember(dst) ? CAST_MULTICAST : CAST_NONE
    if (s.addr === 0 && !isReserved(dst)) return CAST_UNCONFIGURED
    return CAST_NONE
  }

  /**
   * True when `src` may be the source of a datagram we accept: RFC 1122 §3.2.1.3 says a host MUST
   * silently discard datagrams from broadcast, multicast, class E or loopback sources; our own
   * address coming back is discarded too. 0.0.0.0 is allowed (hosts without an address, e.g. DHCP).
   */
  validSource(src: number): boolean {
    const s = this.s
    if (isMulticast(src) || isReserved(src) || isLoopback(src)) return false
    if (src === s.subnetBcast) return false
    return !(s.addr !== 0 && src === s.addr)
  }

  /** A parsed IPv4 frame (verdict `v`, descriptor at `desc`). */
  input(desc: number, v: number, now: number): void {
    const s = this.s
    const d = desc >> 2
    s.counters.inc(C_IP_RX)
    const dst = s.u32[d + D_IP_DST]
    const src = s.u32[d + D_IP_SRC]
    const cast = this.classify(dst)
    // RFC 1122 §3.3.6: a unicast datagram that came as a link-layer broadcast is silently discarded.
    if (cast === CAST_NONE || (s.linkGroup && (cast === CAST_UNICAST || cast === CAST_UNCONFIGURED))) {
      s.counters.inc(C_NOT_US)
      return
    }
    if (!this.validSource(src)) {
      s.counters.inc(C_BAD_SRC)
      return
    }
    if (v === V_IPV4_FRAGMENT) {
      s.reassembly.input(desc, cast, now)
      return
    }
    if (cast === CAST_UNICAST && sameSubnet(src, s.addr, s.mask)) s.arp.confirm(src, s.frameSourceMac(), now)
    this.deliver(desc, v, cast, -1, now)
  }

  /**
   * Hands a whole datagram to its protocol. `entry` is the reassembly entry holding it, or -1 for a
   * datagram still in its received frame.
   */
  deliver(desc: number, v: number, cast: number, entry: number, now: number): void {
    const s = this.s
    if (isDrop(v)) {
      s.countDrop(v)
      return
    }
    if (v === V_IPV4_UDP) {
      s.udp.input(desc, cast, now)
      return
    }
    // Without an address we take nothing but UDP (the DHCP client).
    if (cast === CAST_UNCONFIGURED) {
      s.counters.inc(C_NOT_US)
      return
    }
    if (v === V_IPV4_ICMP) {
      s.icmp.input(desc, cast, entry, now)
    } else if (v === V_IPV4_TCP) {
      if (s.onTcp !== null && cast === CAST_UNICAST) s.onTcp(desc, now)
      else s.counters.inc(C_TCP_RX)
    } else if (v === V_IPV4_OTHER) {
      // RFC 1122 §3.2.2.1: a host SHOULD send Protocol Unreachable for a transport it lacks.
      s.counters.inc(C_PROTO)
      s.icmp.protocolUnreachable(desc, cast, now)
    }
  }

  // ---- routing and output -----------------------------------------------------------------------

  /** A fresh identification value. */
  newId(): number {
    const id = this.nextId
    this.nextId = (id + 1) & 0xffff
    return id
  }

  /**
   * Picks the link destination of a datagram to `dst` (RFC 1122 §3.3.1: on-link by the subnet mask,
   * else the default gateway): broadcast and multicast map to their Ethernet addresses, unicast goes
   * through ARP. Returns IP_OK (then room/begin/commit build frames for it) or a negative error.
   */
  route(dst: number, now: number): number {
    const s = this.s
    if (dst === IP_BROADCAST || dst === s.subnetBcast) {
      this.outMac = s.bcastMacOff
      return IP_OK
    }
    if (isMulticast(dst)) {
      writeMulticastMac(s.u8, s.mcastMacOff, dst)
      this.outMac = s.mcastMacOff
      return IP_OK
    }
    if (dst === 0 || isReserved(dst) || isLoopback(dst) || (s.addr !== 0 && dst === s.addr)) return this.noRoute()
    let hop = dst
    if (s.addr === 0 || !sameSubnet(dst, s.addr, s.mask)) {
      hop = s.gateway
      if (hop === 0 || s.addr === 0) return this.noRoute()
    }
    const i = s.arp.resolve(hop, now)
    if (i >= 0) {
      this.outMac = s.arp.macOffset(i)
      return IP_OK
    }
    if (i === ARP_RESOLVING) {
      this.outMac = -1
      this.outHop = hop
      return IP_OK
    }
    s.counters.inc(C_PENDING_FULL)
    return IP_ERR_ARP_QUEUE_FULL
  }

  private noRoute(): number {
    this.s.counters.inc(C_NO_ROUTE)
    return IP_ERR_NO_ROUTE
  }

  /** Frames that can be queued on the current route now. */
  room(): number {
    return this.outMac >= 0 ? this.s.tx.free() : this.s.arp.pendingRoom()
  }

  /** Checks that `frames` frames fit on the current route now; IP_OK or the error (counted). */
  reserveFrames(frames: number): number {
    const s = this.s
    if (this.outMac >= 0) {
      if (frames > s.tx.slots) return IP_ERR_TOO_BIG
      if (s.tx.free() < frames) {
        s.tx.refuse()
        s.counters.inc(C_TX_FULL)
        return IP_ERR_TX_FULL
      }
      return IP_OK
    }
    if (s.arp.pendingRoom() < frames) {
      s.counters.inc(C_PENDING_FULL)
      return IP_ERR_ARP_QUEUE_FULL
    }
    return IP_OK
  }

  /** Offset of a frame buffer for the current route (the IP payload goes at +FRAME_PAYLOAD), or -1. */
  begin(): number {
    return this.outMac >= 0 ? this.s.tx.reserve() : this.s.arp.pendingReserve()
  }

  /**
   * Completes the frame at `f` whose `l4Len` payload bytes are in place at f + FRAME_PAYLOAD: IPv4
   * header (RFC 791 §3.1), Ethernet header, zero padding to the minimum frame, and queues it.
   */
  commit(f: number, proto: number, tos: number, dst: number, l4Len: number, id: number, fragWord: number): void {
    const s = this.s
    const core = s.core
    core.emitIpv4(f + ETH_HEADER_BYTES, tos, IPV4_HEADER_BYTES + l4Len, id, fragWord, IP_TTL, proto, s.addr, dst)
    let len = FRAME_PAYLOAD + l4Len
    if (len < ETH_MIN_FRAME) {
      s.u8.fill(0, f + len, f + ETH_MIN_FRAME)
      len = ETH_MIN_FRAME
    }
    if ((fragWord & 0x1fff) === 0) s.counters.inc(C_IP_TX)
    if (this.outMac >= 0) {
      core.emitEthernet(f, this.outMac, s.macOff, ETHERTYPE_IPV4)
      s.tx.commit(len)
      s.counters.inc(C_ETH_TX)
    } else {
      // The destination MAC is filled in when ARP answers.
      core.emitEthernet(f, s.zeroMacOff, s.macOff, ETHERTYPE_IPV4)
      s.arp.pendingCommit(this.outHop, len)
    }
  }

  /**
   * Sends one datagram whose payload is `hdrLen` bytes at arena `hdrOff` followed by `dataLen` bytes
   * from `data` (outside the arena) or, when `data` is null, from arena offset `dataOff`; the
   * transport checksum must already be in place. Fragments when needed. IP_OK or a negative error.
   */
  send(dst: number, proto: number, tos: number, hdrOff: number, hdrLen: number, data: Uint8Array | null,
       dataOff: number, dataLen: number, now: number): number {
    if (hdrLen + dataLen > IP_MAX_PAYLOAD) return IP_ERR_TOO_BIG
    const r = this.route(dst, now)
    if (r < 0) return r
    return this.sendRouted(dst, proto, tos, hdrOff, hdrLen, data, dataOff, dataLen)
  }

  /** As send, after route(dst) succeeded. */
  sendRouted(dst: number, proto: number, tos: number, hdrOff: number, hdrLen: number, data: Uint8Array | null,
             dataOff: number, dataLen: number): number {
    const n = hdrLen + dataLen
    if (n > IP_MAX_PAYLOAD) return IP_ERR_TOO_BIG
    const frames = n <= FRAG_PAYLOAD ? 1 : Math.ceil(n / FRAG_PAYLOAD)
    const e = this.reserveFrames(frames)
    if (e < 0) return e
    this.mHdrOff = hdrOff
    this.mHdrLen = hdrLen
    this.mData = data
    this.mDataOff = dataOff
    const id = this.newId()
    if (frames === 1) {
      const f = this.begin()
      this.emitRange(f + FRAME_PAYLOAD, 0, n)
      this.commit(f, proto, tos, dst, n, id, 0)
    } else {
      this.emitFragments(dst, proto, tos, id, n, 0, frames)
    }
    this.mData = null
    return IP_OK
  }

  /**
   * Continues a fragmented datagram (an output job): the `n`-byte payload at arena `msgOff`, fragments
   * from byte `cursor` on, as many as fit now. Returns the new cursor, or a negative routing error.
   */
  sendPart(dst: number, proto: number, id: number, msgOff: number, n: number, cursor: number, now: number): number {
    const r = this.route(dst, now)
    if (r < 0) return r
    const room = this.room()
    if (room === 0) return cursor
    this.mHdrOff = 0
    this.mHdrLen = 0
    this.mData = null
    this.mDataOff = msgOff
    return this.emitFragments(dst, proto, 0, id, n, cursor, room)
  }

  /** Emits fragments of the current message from byte `cursor`, at most `max` of them; returns the new cursor. */
  private emitFragments(dst: number, proto: number, tos: number, id: number, n: number, cursor: number, max: number): number {
    let sent = 0
    while (cursor < n && sent < max) {
      const end = cursor + FRAG_PAYLOAD < n ? cursor + FRAG_PAYLOAD : n
      const f = this.begin()
      if (f < 0) break
      this.emitRange(f + FRAME_PAYLOAD, cursor, end)
      this.commit(f, proto, tos, dst, end - cursor, id, (end < n ? IP_WORD_MF : 0) | (cursor >> 3))
      this.s.counters.inc(C_FRAG_TX)
      cursor = end
      sent++
    }
    return cursor
  }

  /** Copies bytes [a, b) of the current message to arena offset `to`. */
  private emitRange(to: number, a: number, b: number): void {
    const u8 = this.s.u8
    const h = this.mHdrLen
    if (a < h) {
      const e = b < h ? b : h
      this.s.core.copy(to, this.mHdrOff + a, e - a)
      to += e - a
      a = e
    }
    if (a >= b) return
    const da = a - h
    const db = b - h
    const data = this.mData
    if (data === null) this.s.core.copy(to, this.mDataOff + da, db - da)
    else if (da === 0 && db === data.length) u8.set(data, to)
    else u8.set(data.subarray(da, db), to)
  }
}
