// UDP (RFC 768, RFC 1122 §4.1): a fixed socket table, demultiplexing by local address and port,
// per-socket receive rings in the arena (or none: direct delivery), checksums checked and generated.
// Device dialect.
//
// Receive: the core verified length and checksum (a zero checksum field means "none" and is accepted,
// RFC 768 / RFC 1122 §4.1.3.4). No socket: counted (udp.rx.no-port) and answered with ICMP port
// unreachable unless it was a broadcast or multicast (RFC 1122 §4.1.3.1, §3.2.2). A datagram for an open
// port is handed to the socket's callback in one of two ways, chosen by the board's budget.udpRxBytes:
//
//  - Ring mode (udpRxBytes a power of two >= 256): the datagram is copied into that socket's ring in the
//    'udp rx rings' region during input, and handed to the callback at the end of the same poll
//    (deliver()). The callback receives a subarray view of the ring: it is valid only during the callback
//    (the bytes are overwritten by later datagrams); copy what must be kept. A datagram that does not fit
//    the ring's free space is dropped (udp.rx.ring-full): a ring of R bytes holds datagrams of up to
//    R - 12 bytes. An exception thrown by a callback propagates out of poll, after the datagram has been
//    consumed (the stack's state stays consistent).
//  - Direct mode (udpRxBytes 0: no rings, the region has size 0): the datagram is handed to the callback
//    straight from the received frame (or from the reassembly buffer that rebuilt it), during input, as
//    a view of its payload: no copy and no queue. The signature and the contract are the same: the view
//    is valid only during the callback. Trade-off: a datagram is never dropped for lack of ring room (any
//    size the frame or the reassembler holds is delivered whole), but there is no queue to absorb a slow
//    callback: it runs inside the stack's input path, so the next frames, the timers and the driver all
//    wait for it (keep callbacks short). Re-entrancy: the callback is the last thing the input path does
//    with the frame (everything it needs from the descriptor is read before the call; afterwards only
//    the reassembler frees its buffer and poll releases the RX slot), so it may send (the reply is built
//    in a TX or ARP-pending slot, never in the RX slot, descriptors or reassembly buffers it reads from),
//    close its own socket, open others, or change the address (DHCP). It must not call the stack's poll.
//    An exception thrown by the callback is caught by poll like any error while processing a frame:
//    counted (poll.error), logged, the frame's RX slot released, and the next frames still processed.
//
// Send: broadcast (255.255.255.255 and the subnet broadcast) and multicast allowed; with no address
// (before DHCP) the source is 0.0.0.0 and only broadcast/multicast destinations route. Datagrams
// larger than 1472 bytes leave as fragments, all or none (see firmware/net/ipv4.ts): the largest
// datagram is min(65507, txSlots x 1480 - 8) bytes on a resolved route. Sending to our own address
// (loopback) is not supported (no route).
//
// Ports: 1..65535 explicit, or 0 for an ephemeral port from 49152..65535 (RFC 6335 §6), searched
// sequentially from a random start (RFC 6056 §3.3.2 "Simple Port Randomization" without per-call
// randomness).
import type { NetStack } from './stack.js'
import { Counters } from '../kernel/counters.js'
import { region } from '../kernel/arena.js'
import { pseudoHeaderSeed } from '../core/contract.js'
import {
  D_IP_SRC, D_IP_DST, D_L4_SRC_PORT, D_L4_DST_PORT, D_DATA_OFF, D_DATA_LEN, IP_PROTO_UDP, UDP_HEADER_BYTES,
} from '../core/frame-desc.js'
import { CAST_UNCONFIGURED } from './addr.js'
import {
  IP_OK, IP_ERR_NO_ROUTE, IP_ERR_ARP_QUEUE_FULL, IP_ERR_TX_FULL, IP_ERR_TOO_BIG, FRAG_PAYLOAD, FRAME_PAYLOAD,
} from './ipv4.js'

export const UDP_OK = IP_OK
/** open(): every socket is in use. */
export const UDP_ERR_TABLE_FULL = -1
/** open(): another socket has this port. */
export const UDP_ERR_PORT_IN_USE = -2
/** send(): no route to the destination (off-subnet without gateway, no address yet, invalid destination). */
export const UDP_ERR_NO_ROUTE = IP_ERR_NO_ROUTE
/** send(): the next hop is being resolved and the ARP pending queue (or the ARP cache) is full. */
export const UDP_ERR_ARP_QUEUE_FULL = IP_ERR_ARP_QUEUE_FULL
/** send(): the TX ring has no room now; try again after the driver has sent. */
export const UDP_ERR_TX_FULL = IP_ERR_TX_FULL
/** send(): more than 65507 bytes, or more fragments than the TX ring has slots. */
export const UDP_ERR_TOO_BIG = IP_ERR_TOO_BIG
/** send(), localPort(): the socket is not open. */
export const UDP_ERR_CLOSED = -7
/** open(), send(): a port outside 0..65535 (send: 1..65535), or not a whole number. */
export const UDP_ERR_INVALID = -8

/** The largest UDP payload: 65535 - 20 (IP header) - 8 (UDP header). */
export const UDP_MAX_DATA = 65507
export const EPHEMERAL_FIRST = 49152
export const EPHEMERAL_LAST = 65535

/**
 * Receives one datagram; `data` is a view into the socket's ring (ring mode) or into the received frame or
 * reassembly buffer (direct mode), valid only during the call.
 */
export type UdpReceiver = (srcIp: number, srcPort: number, dstIp: number, data: Uint8Array) => void

const S_FREE = 0
const S_OPEN = 1
/** Ring record: data length u16, source port u16, source address u32, destination address u32. */
const REC_HEADER = 12
/** A data length of 0xFFFF marks the end of the ring's used part: the next record starts at 0. */
const REC_WRAP = 0xffff

const C_RX = Counters.id('udp.rx')
const C_TX = Counters.id('udp.tx')
const C_NO_PORT = Counters.id('udp.rx.no-port')
const C_RING_FULL = Counters.id('udp.rx.ring-full')

export class Udp {
  private readonly s: NetStack
  /** Sockets in the table. */
  readonly sockets: number
  /** Bytes per receive ring; 0: no rings, datagrams go to the callbacks straight from the frame (direct mode). */
  readonly ringBytes: number
  // The 'udp sockets' region as struct-of-arrays (16 bytes per socket).
  private readonly head: Uint32Array
  private readonly tail: Uint32Array
  private readonly bindIp: Uint32Array
  private readonly port: Uint16Array
  private readonly state: Uint8Array
  private readonly ringBase: number
  private readonly cbs: (UdpReceiver | null)[]
  private nextEphemeral: number

  constructor(s: NetStack) {
    this.s = s
    const buffer = s.core.buffer
    const r = region(s.layout, 'udp sockets')
    const rings = region(s.layout, 'udp rx rings')
    const n = r.count
    this.sockets = n
    this.ringBase = rings.offset
    this.ringBytes = rings.each
    const each = rings.each
    if (n > 0 && (rings.count !== n || (each !== 0 && ((each & (each - 1)) !== 0 || each < 256)))) {
      throw new Error('udp: receive rings must be one power of two >= 256 per socket, or 0 (none)')
    }
    let at = r.offset
    this.head = new Uint32Array(buffer, at, n)
    at += 4 * n
    this.tail = new Uint32Array(buffer, at, n)
    at += 4 * n
    this.bindIp = new Uint32Array(buffer, at, n)
    at += 4 * n
    this.port = new Uint16Array(buffer, at, n)
    at += 2 * n
    this.state = new Uint8Array(buffer, at, n)
    at += n
    if (at > r.offset + r.size) throw new Error('udp: the socket region does not fit its table')
    s.u8.fill(0, r.offset, r.offset + r.size)
    this.cbs = []
    for (let i = 0; i < n; i++) this.cbs.push(null)
    this.nextEphemeral = EPHEMERAL_FIRST + Math.floor(s.random() * (EPHEMERAL_LAST - EPHEMERAL_FIRST + 1))
  }

  private portInUse(p: number): boolean {
    for (let i = 0; i < this.sockets; i++) if (this.state[i] === S_OPEN && this.port[i] === p) return true
    return false
  }

  /**
   * Opens a socket on `localPort` (0 = ephemeral, 49152-65535) bound to all our addresses. Returns
   * its id >= 0, or UDP_ERR_TABLE_FULL, UDP_ERR_PORT_IN_USE, UDP_ERR_INVALID.
   */
  open(localPort: number, onDatagram: UdpReceiver): number {
    if (localPort !== Math.floor(localPort) || localPort < 0 || localPort > 65535) return UDP_ERR_INVALID
    let id = -1
    for (let i = 0; i < this.sockets; i++) {
      if (this.state[i] === S_FREE) {
        id = i
        break
      }
    }
    if (id < 0) return UDP_ERR_TABLE_FULL
    let p = localPort
    if (p === 0) {
      const span = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1
      for (let k = 0; k < span; k++) {
        const c = EPHEMERAL_FIRST + ((this.nextEphemeral - EPHEMERAL_FIRST + k) % span)
        if (!this.portInUse(c)) {
          p = c
          break
        }
      }
      if (p === 0) return UDP_ERR_PORT_IN_USE
      this.nextEphemeral = p === EPHEMERAL_LAST ? EPHEMERAL_FIRST : p + 1
    } else if (this.portInUse(p)) {
      return UDP_ERR_PORT_IN_USE
    }
    this.state[id] = S_OPEN
    this.port[id] = p
    this.bindIp[id] = 0
    this.head[id] = 0
    this.tail[id] = 0
    this.cbs[id] = onDatagram
    return id
  }

  private isOpen(id: number): boolean {
    return id >= 0 && id < this.sockets && id === Math.floor(id) && this.state[id] === S_OPEN
  }

  /** Closes a socket; datagrams still in its ring are discarded. */
  close(id: number): void {
    if (!this.isOpen(id)) return
    this.state[id] = S_FREE
    this.port[id] = 0
    this.head[id] = 0
    this.tail[id] = 0
    this.cbs[id] = null
  }

  /** The socket's local port, or UDP_ERR_CLOSED. */
  localPort(id: number): number {
    return this.isOpen(id) ? this.port[id] : UDP_ERR_CLOSED
  }

  /** Bytes waiting in the socket's receive ring (records included); always 0 in direct mode. */
  queued(id: number): number {
    return this.isOpen(id) ? (this.head[id] - this.tail[id]) >>> 0 : 0
  }

  /**
   * Sends `data` to `dstIp`:`dstPort` from the socket's port (RFC 768, checksum always generated).
   * Returns 0 when sent or queued behind ARP, else a negative UDP_ERR_* code.
   */
  send(id: number, dstIp: number, dstPort: number, data: Uint8Array, now: number): number {
    const s = this.s
    if (!this.isOpen(id)) return UDP_ERR_CLOSED
    if (dstPort !== Math.floor(dstPort) || dstPort < 1 || dstPort > 65535) return UDP_ERR_INVALID
    const len = data.length
    if (len > UDP_MAX_DATA) return UDP_ERR_TOO_BIG
    dstIp = dstIp >>> 0
    const ip = s.ipv4
    const r = ip.route(dstIp, now)
    if (r < 0) return r
    const src = s.addr
    const sport = this.port[id]
    const ulen = UDP_HEADER_BYTES + len
    if (ulen <= FRAG_PAYLOAD) {
      const e = ip.reserveFrames(1)
      if (e < 0) return e
      // One frame: data straight into the frame, header and checksum by the core in place.
      const f = ip.begin()
      s.u8.set(data, f + FRAME_PAYLOAD + UDP_HEADER_BYTES)
      s.core.emitUdp(f + FRAME_PAYLOAD, sport, dstPort, len, src, dstIp)
      ip.commit(f, IP_PROTO_UDP, 0, dstIp, ulen, ip.newId(), 0)
    } else {
      const e = ip.reserveFrames(Math.ceil(ulen / FRAG_PAYLOAD))
      if (e < 0) return e
      // Fragments: the checksum covers all the data, so sum it first, chunk by chunk, through the
      // first frame's buffer (the core sums arena bytes only; chunks are even so sums compose).
      const f = ip.begin() + FRAME_PAYLOAD + UDP_HEADER_BYTES
      let sum = pseudoHeaderSeed(src, dstIp, IP_PROTO_UDP, ulen)
      const chunk = FRAG_PAYLOAD - UDP_HEADER_BYTES
      for (let p = 0; p < len; p += chunk) {
        const c = len - p < chunk ? len - p : chunk
        s.u8.set(data.subarray(p, p + c), f)
        sum = s.core.sum(f, c, sum)
      }
      const h = s.scratchUdp
      const dv = s.dv
      dv.setUint16(h, sport)
      dv.setUint16(h + 2, dstPort)
      dv.setUint16(h + 4, ulen)
      dv.setUint16(h + 6, 0)
      let ck = s.core.checksum(h, UDP_HEADER_BYTES, sum)
      if (ck === 0) ck = 0xffff
      dv.setUint16(h + 6, ck)
      const e2 = ip.sendRouted(dstIp, IP_PROTO_UDP, 0, h, UDP_HEADER_BYTES, data, 0, len)
      if (e2 < 0) return e2
    }
    s.counters.inc(C_TX)
    return UDP_OK
  }

  // ---- receive --------------------------------------------------------------------------------

  /** The socket for a datagram to `dst`:`port`, or -1. */
  private lookup(dst: number, port: number): number {
    for (let i = 0; i < this.sockets; i++) {
      if (this.state[i] === S_OPEN && this.port[i] === port && (this.bindIp[i] === 0 || this.bindIp[i] === dst)) return i
    }
    return -1
  }

  /** A parsed UDP datagram (descriptor at `desc`, checksum and length verified). */
  input(desc: number, cast: number, now: number): void {
    const s = this.s
    const u32 = s.u32
    const d = desc >> 2
    s.counters.inc(C_RX)
    const dst = u32[d + D_IP_DST]
    const i = this.lookup(dst, u32[d + D_L4_DST_PORT])
    if (i < 0) {
      s.counters.inc(C_NO_PORT)
      if (cast !== CAST_UNCONFIGURED) s.icmp.portUnreachable(desc, cast, now)
      return
    }
    const src = u32[d + D_IP_SRC]
    const sport = u32[d + D_L4_SRC_PORT]
    const off = u32[d + D_DATA_OFF]
    const len = u32[d + D_DATA_LEN]
    if (this.ringBytes === 0) {
      // Direct mode: the last step of this frame's input. Everything needed is read above, and nothing
      // reads the descriptor or this socket's slot after the callback, which may send, close or throw.
      const cb = this.cbs[i]
      if (cb !== null) cb(src, sport, dst, s.u8.subarray(off, off + len))
      return
    }
    if (!this.enqueue(i, src, sport, dst, off, len)) s.counters.inc(C_RING_FULL)
  }

  /** Copies a datagram into socket `i`'s ring; false when it does not fit. Records never wrap. */
  private enqueue(i: number, src: number, sport: number, dst: number, dataOff: number, len: number): boolean {
    const s = this.s
    const size = this.ringBytes
    const rec = (REC_HEADER + len + 3) & ~3
    const used = (this.head[i] - this.tail[i]) >>> 0
    if (used === 0) {
      this.head[i] = 0
      this.tail[i] = 0
    }
    const pos = this.head[i] & (size - 1)
    const toEnd = size - pos
    const skip = rec > toEnd ? toEnd : 0
    if (rec > size || used + skip + rec > size) return false
    const base = this.ringBase + i * size
    const dv = s.dv
    if (skip > 0) dv.setUint16(base + pos, REC_WRAP)
    const at = base + (skip > 0 ? 0 : pos)
    dv.setUint16(at, len)
    dv.setUint16(at + 2, sport)
    dv.setUint32(at + 4, src)
    dv.setUint32(at + 8, dst)
    s.core.copy(at + REC_HEADER, dataOff, len)
    this.head[i] = (this.head[i] + skip + rec) >>> 0
    return true
  }

  /** Hands the queued datagrams to the callbacks (called by poll; nothing to do in direct mode). */
  deliver(): void {
    const size = this.ringBytes
    if (size === 0) return
    const s = this.s
    const dv = s.dv
    for (let i = 0; i < this.sockets; i++) {
      while (this.state[i] === S_OPEN && this.head[i] !== this.tail[i]) {
        const pos = this.tail[i] & (size - 1)
        const at = this.ringBase + i * size + pos
        const len = dv.getUint16(at)
        if (len === REC_WRAP) {
          this.tail[i] = (this.tail[i] + size - pos) >>> 0
          continue
        }
        const sport = dv.getUint16(at + 2)
        const src = dv.getUint32(at + 4)
        const dst = dv.getUint32(at + 8)
        // Consumed before the callback runs: it may send, close, or throw.
        this.tail[i] = (this.tail[i] + ((REC_HEADER + len + 3) & ~3)) >>> 0
        const cb = this.cbs[i]
        if (cb !== null) cb(src, sport, dst, s.u8.subarray(at + REC_HEADER, at + REC_HEADER + len))
      }
    }
  }
}
