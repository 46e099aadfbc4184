// IPv4 fragment reassembly (RFC 791 §3.2 "Fragmentation and Reassembly", RFC 1122 §3.3.2, RFC 815
// hole descriptors, RFC 5722-style overlap rejection), in fixed arena buffers. Device dialect.
//
// REASSEMBLY POLICY
//  - budget.reassemblyBuffers buffers of budget.reassemblyBytes each ('ip reassembly buffers'); a
//    datagram is rebuilt as a fresh 20-byte header + payload, so a buffer holds a payload of
//    reassemblyBytes - 20. Fragments are matched on (source, destination, identification, protocol)
//    (RFC 791). When every buffer is busy a new datagram is refused (ip.frag.no-buffer).
//  - Received ranges are tracked as RFC 815 holes, at most 10 per datagram (the 'ip reassembly state'
//    entry is 64 bytes); a datagram that would need more is discarded (ip.frag.no-buffer).
//  - Overlap: a fragment that is not entirely inside one hole overlaps data already received (exact
//    duplicates included) and the whole datagram is discarded (RFC 5722 §4, applied to IPv4); so is
//    a last fragment (MF clear) with data already received beyond its end, or a second, different
//    last fragment (ip.frag.overlap). The entry then stays as a tombstone until the timeout, so the
//    datagram's other fragments, including those not yet received, are dropped too (counted under
//    the same reason).
//  - Size: a fragment whose end would make the datagram longer than 65,535 bytes (RFC 791; the "ping
//    of death"), or longer than the buffer, discards the datagram (ip.frag.too-big).
//  - Malformed: an empty fragment, or one with MF set whose length is not a multiple of 8 (RFC 791
//    §3.2), is dropped on its own (ip.frag.bad). Tiny first fragments need no special case: nothing
//    looks at a transport header before the datagram is whole.
//  - Timeout: 30 s from the first fragment (as Linux; RFC 791 suggests a 15 s lower bound and RFC
//    1122 §3.3.2 recommends 60-120 s, too long for a handful of buffers). On timeout the buffer is
//    freed (ip.frag.timeout) and, if fragment zero had arrived, an ICMP time exceeded (code 1) goes
//    to the source (RFC 1122 §3.3.2), subject to the ICMP error rules and rate limit.
//  - A complete datagram is parsed again (core.parseIpv4 verifies the transport checksum over the
//    whole payload) and delivered like an unfragmented one.
//  - Output jobs: an echo reply too large for the TX ring's free slots is sent from the buffer that
//    holds the request, a few fragments per poll as the ring drains; the buffer stays busy until the
//    last fragment is queued (at most 10 s, then it is abandoned and counted as ip.frag.timeout).
import type { NetStack } from './stack.js'
import { Counters } from '../kernel/counters.js'
import { region } from '../kernel/arena.js'
import {
  D_IP_SRC, D_IP_DST, D_IP_ID, D_IP_PROTO, D_IP_FLAGS, D_IP_FRAG_OFF, D_IP_HLEN, D_IP_TOS, D_IP_TTL,
  D_IP_PAYLOAD_OFF, D_IP_PAYLOAD_LEN, IP_FLAG_MF, IP_WORD_MF, IPV4_HEADER_BYTES,
} from '../core/frame-desc.js'
import { IP_OK, IP_TTL } from './ipv4.js'

/** Reassembly timeout, from the first fragment. */
export const REASSEMBLY_TIMEOUT_US = 30000000
/** An output job still unfinished after this long is abandoned. */
export const JOB_TIMEOUT_US = 10000000
/** Holes tracked per datagram. */
export const MAX_HOLES = 10
/** The largest IPv4 datagram (RFC 791: 16-bit total length). */
export const MAX_DATAGRAM = 65535

/** A hole's last byte when the datagram's end is not yet known. */
const HOLE_OPEN = 0xffff

const R_FREE = 0
/** Collecting fragments. */
const R_ACTIVE = 1
/** Discarded (overlap, too big): its fragments are dropped until the timeout. */
const R_DEAD = 2
/** Complete, being delivered. */
const R_BUSY = 3
/** Sending a reply out of the buffer, a few fragments per poll. */
const R_JOB = 4

/** Fragment zero has arrived (its header is at the start of the buffer); the cast is kept in bits 1..3. */
const F_FIRST = 1

const C_FRAG_RX = Counters.id('ip.frag.rx')
const C_REASSEMBLED = Counters.id('ip.frag.reassembled')
const C_OVERLAP = Counters.id('ip.frag.overlap')
const C_TOO_BIG = Counters.id('ip.frag.too-big')
const C_TIMEOUT = Counters.id('ip.frag.timeout')
const C_NO_BUFFER = Counters.id('ip.frag.no-buffer')
const C_BAD = Counters.id('ip.frag.bad')

// Made here, not in the constructor: a closure made there would keep the constructor's whole scope alive on
// Espruino, the arena region objects it read among them.
function reassemblyTimer(r: Reassembly): (now: number) => void {
  return function (now: number) { r.tick(now) }
}

export class Reassembly {
  private readonly s: NetStack
  /** Buffers (0 on boards without reassembly: every fragment is refused). */
  readonly buffers: number
  /** Bytes per buffer, header included (at most 65535). */
  readonly capacity: number
  private readonly bufBase: number
  private readonly bufStride: number
  // The 'ip reassembly state' region as struct-of-arrays (64 bytes per entry).
  private readonly deadline: Float64Array
  private readonly src: Uint32Array
  private readonly dst: Uint32Array
  private readonly id: Uint16Array
  /** Payload length once the last fragment is in (0 = unknown); the counter id of the reason when dead; a job's length. */
  private readonly total: Uint16Array
  private readonly proto: Uint8Array
  private readonly state: Uint8Array
  private readonly nholes: Uint8Array
  private readonly flags: Uint8Array
  /** MAX_HOLES (first, last) pairs per entry; a job keeps its cursor in the first word. */
  private readonly holes: Uint16Array
  private readonly timer: number
  private jobs = 0

  constructor(s: NetStack) {
    this.s = s
    const buffer = s.core.buffer
    const st = region(s.layout, 'ip reassembly state')
    const bufs = region(s.layout, 'ip reassembly buffers')
    const n = st.count
    this.buffers = n
    this.bufBase = bufs.offset
    this.bufStride = bufs.each
    this.capacity = bufs.each < MAX_DATAGRAM ? bufs.each : MAX_DATAGRAM
    let at = st.offset
    this.deadline = new Float64Array(buffer, at, n)
    at += 8 * n
    this.src = new Uint32Array(buffer, at, n)
    at += 4 * n
    this.dst = new Uint32Array(buffer, at, n)
    at += 4 * n
    this.id = new Uint16Array(buffer, at, n)
    at += 2 * n
    this.total = new Uint16Array(buffer, at, n)
    at += 2 * n
    this.proto = new Uint8Array(buffer, at, n)
    at += n
    this.state = new Uint8Array(buffer, at, n)
    at += n
    this.nholes = new Uint8Array(buffer, at, n)
    at += n
    this.flags = new Uint8Array(buffer, at, n)
    at += n
    this.holes = new Uint16Array(buffer, at, n * MAX_HOLES * 2)
    at += n * MAX_HOLES * 4
    if (at > st.offset + st.size || bufs.count !== n) throw new Error('reassembly: the state region does not fit its entries')
    s.u8.fill(0, st.offset, st.offset + st.size)
    this.timer = s.timers.register('ip reassembly', reassemblyTimer(this))
  }

  /** Arena offset of buffer `i` (the rebuilt header; the payload follows at +20). */
  bufferOffset(i: number): number {
    return this.bufBase + i * this.bufStride
  }

  /** Entries in use (collecting, discarded, or sending). */
  inUse(): number {
    let k = 0
    for (let i = 0; i < this.buffers; i++) if (this.state[i] !== R_FREE) k++
    return k
  }

  private find(src: number, dst: number, id: number, proto: number): number {
    for (let i = 0; i < this.buffers; i++) {
      const st = this.state[i]
      if ((st === R_ACTIVE || st === R_DEAD) && this.src[i] === src && this.dst[i] === dst && this.id[i] === id &&
          this.proto[i] === proto) return i
    }
    return -1
  }

  private alloc(src: number, dst: number, id: number, proto: number, cast: number, now: number): number {
    for (let i = 0; i < this.buffers; i++) {
      if (this.state[i] !== R_FREE) continue
      this.state[i] = R_ACTIVE
      this.src[i] = src
      this.dst[i] = dst
      this.id[i] = id
      this.proto[i] = proto
      this.total[i] = 0
      this.flags[i] = cast << 1
      this.nholes[i] = 1
      this.holes[i * MAX_HOLES * 2] = 0
      this.holes[i * MAX_HOLES * 2 + 1] = HOLE_OPEN
      this.deadline[i] = now + REASSEMBLY_TIMEOUT_US
      this.rearm()
      return i
    }
    return -1
  }

  private free(i: number): void {
    this.state[i] = R_FREE
    this.nholes[i] = 0
    this.flags[i] = 0
  }

  /** Discards datagram `i` (or, with i < 0, leaves a tombstone when a buffer is free): counted under `reason`. */
  private discard(i: number, src: number, dst: number, id: number, proto: number, reason: number, now: number): void {
    this.s.counters.inc(reason)
    if (i < 0) i = this.alloc(src, dst, id, proto, 0, now)
    if (i < 0) return
    this.state[i] = R_DEAD
    this.total[i] = reason
    this.nholes[i] = 0
  }

  /** A fragment addressed to us (descriptor at `desc`, verdict IPV4_FRAGMENT). */
  input(desc: number, cast: number, now: number): void {
    const s = this.s
    const u32 = s.u32
    const d = desc >> 2
    s.counters.inc(C_FRAG_RX)
    const src = u32[d + D_IP_SRC]
    const dst = u32[d + D_IP_DST]
    const id = u32[d + D_IP_ID]
    const proto = u32[d + D_IP_PROTO]
    const more = (u32[d + D_IP_FLAGS] & IP_FLAG_MF) !== 0
    const off = u32[d + D_IP_FRAG_OFF]
    const len = u32[d + D_IP_PAYLOAD_LEN]
    // RFC 791 §3.2: every fragment but the last carries a multiple of 8 bytes; none is empty.
    if (len === 0 || (more && (len & 7) !== 0)) {
      s.counters.inc(C_BAD)
      return
    }
    // A budget without buffers (reassemblyBuffers 0) drops every fragment, as ipv4-no-reassembly.ts does.
    if (this.buffers === 0) {
      s.counters.inc(C_NO_BUFFER)
      return
    }
    let i = this.find(src, dst, id, proto)
    if (i >= 0 && this.state[i] === R_DEAD) {
      s.counters.inc(this.total[i])
      return
    }
    const end = off + len
    if (end + u32[d + D_IP_HLEN] > MAX_DATAGRAM || IPV4_HEADER_BYTES + end > this.capacity) {
      this.discard(i, src, dst, id, proto, C_TOO_BIG, now)
      return
    }
    if (i < 0) {
      i = this.alloc(src, dst, id, proto, cast, now)
      if (i < 0) {
        s.counters.inc(C_NO_BUFFER)
        return
      }
    }
    // The hole that must contain the whole fragment (RFC 815 §3, without its overlap tolerance).
    const hb = i * MAX_HOLES * 2
    const holes = this.holes
    const nh = this.nholes[i]
    let h = -1
    for (let k = 0; k < nh; k++) {
      if (holes[hb + 2 * k] <= off && end - 1 <= holes[hb + 2 * k + 1]) {
        h = k
        break
      }
    }
    const last = h >= 0 ? holes[hb + 2 * h + 1] : 0
    if (h < 0 || (!more && last !== HOLE_OPEN)) {
      this.discard(i, src, dst, id, proto, C_OVERLAP, now)
      return
    }
    const first = holes[hb + 2 * h]
    const left = off > first
    const right = more && end - 1 < last
    const count = nh - 1 + (left ? 1 : 0) + (right ? 1 : 0)
    if (count > MAX_HOLES) {
      this.discard(i, src, dst, id, proto, C_NO_BUFFER, now)
      return
    }
    if (left) {
      holes[hb + 2 * h + 1] = off - 1
      if (right) {
        holes[hb + 2 * nh] = end
        holes[hb + 2 * nh + 1] = last
      }
    } else if (right) {
      holes[hb + 2 * h] = end
    } else {
      holes[hb + 2 * h] = holes[hb + 2 * (nh - 1)]
      holes[hb + 2 * h + 1] = holes[hb + 2 * (nh - 1) + 1]
    }
    this.nholes[i] = count
    if (!more) this.total[i] = end
    const buf = this.bufferOffset(i)
    s.core.copy(buf + IPV4_HEADER_BYTES + off, u32[d + D_IP_PAYLOAD_OFF], len)
    if (off === 0) {
      // Fragment zero's header, quoted by a time exceeded message if the datagram never completes.
      this.flags[i] |= F_FIRST
      s.core.emitIpv4(buf, u32[d + D_IP_TOS], IPV4_HEADER_BYTES + len, id, IP_WORD_MF, u32[d + D_IP_TTL], proto, src, dst)
    }
    if (count === 0) this.complete(i, now)
  }

  /** Every byte is in: rebuild the header, parse, deliver, free (unless it became an output job). */
  private complete(i: number, now: number): void {
    const s = this.s
    const buf = this.bufferOffset(i)
    const n = this.total[i]
    this.state[i] = R_BUSY
    s.counters.inc(C_REASSEMBLED)
    s.core.emitIpv4(buf, 0, IPV4_HEADER_BYTES + n, this.id[i], 0, IP_TTL, this.proto[i], this.src[i], this.dst[i])
    const v = s.core.parseIpv4(buf, IPV4_HEADER_BYTES + n, s.descB)
    try {
      s.ipv4.deliver(s.descB, v, this.flags[i] >> 1, i, now)
    } finally {
      if (this.state[i] === R_BUSY) this.free(i)
      this.rearm()
    }
  }

  // ---- output jobs ----------------------------------------------------------------------------

  /**
   * Turns entry `i` (being delivered) into an output job: the `n`-byte payload at `msgOff` (inside its
   * buffer) goes to `dst` as fragments, starting now. IP_OK, or the routing error (the job is dropped).
   */
  startJob(i: number, dst: number, proto: number, msgOff: number, n: number, now: number): number {
    if (this.state[i] !== R_BUSY || msgOff !== this.bufferOffset(i) + IPV4_HEADER_BYTES) {
      throw new Error('reassembly: startJob on an entry that is not being delivered')
    }
    this.state[i] = R_JOB
    this.src[i] = dst
    this.proto[i] = proto
    this.total[i] = n
    this.id[i] = this.s.ipv4.newId()
    this.holes[i * MAX_HOLES * 2] = 0
    this.deadline[i] = now + JOB_TIMEOUT_US
    this.jobs++
    return this.runJob(i, now)
  }

  private runJob(i: number, now: number): number {
    const hb = i * MAX_HOLES * 2
    const n = this.total[i]
    const r = this.s.ipv4.sendPart(this.src[i], this.proto[i], this.id[i], this.bufferOffset(i) + IPV4_HEADER_BYTES, n,
      this.holes[hb], now)
    if (r < 0 || r >= n) {
      this.free(i)
      this.jobs--
      return r < 0 ? r : IP_OK
    }
    this.holes[hb] = r
    return IP_OK
  }

  /** Continues the output jobs (called by poll). */
  runJobs(now: number): void {
    if (this.jobs === 0) return
    for (let i = 0; i < this.buffers; i++) {
      if (this.state[i] !== R_JOB) continue
      if (this.deadline[i] <= now) {
        this.s.counters.inc(C_TIMEOUT)
        this.free(i)
        this.jobs--
      } else {
        this.runJob(i, now)
      }
    }
  }

  // ---- timer ----------------------------------------------------------------------------------

  /** The reassembly timer (called by the stack's timer table). */
  tick(now: number): void {
    for (let i = 0; i < this.buffers; i++) {
      const st = this.state[i]
      if ((st !== R_ACTIVE && st !== R_DEAD) || this.deadline[i] > now) continue
      if (st === R_ACTIVE) {
        this.s.counters.inc(C_TIMEOUT)
        if ((this.flags[i] & F_FIRST) !== 0) {
          this.s.icmp.reassemblyTimeout(this.flags[i] >> 1, this.src[i], this.proto[i], this.bufferOffset(i), now)
        }
      }
      this.free(i)
    }
    this.rearm()
  }

  private rearm(): void {
    let next = -1
    for (let i = 0; i < this.buffers; i++) {
      const st = this.state[i]
      if ((st === R_ACTIVE || st === R_DEAD) && (next < 0 || this.deadline[i] < next)) next = this.deadline[i]
    }
    if (next < 0) this.s.timers.cancel(this.timer)
    else this.s.timers.arm(this.timer, next)
  }
}
