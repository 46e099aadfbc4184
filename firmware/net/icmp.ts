// ICMP for IPv4 (RFC 792, RFC 1122 §3.2.2): echo replies, and the error messages a host sends
// (destination unreachable for a closed UDP port or an unknown protocol, time exceeded when a
// reassembly times out). Device dialect.
//
// Echo: every echo request to our unicast address is answered with the same identifier, sequence
// number and data (RFC 1122 §3.2.2.6: "MUST be returned entirely and unmodified"), whatever its size
// up to the reassembly limit; replies over 1480 bytes leave as fragments. Echo requests sent to a
// broadcast or multicast address are silently ignored (RFC 1122 §3.2.2.6 allows it; answering them
// makes the host a smurf amplifier) and counted (icmp.rx.broadcast). IP options of the request
// (record route, timestamp) are not copied into the reply (a SHOULD we do not implement).
//
// Errors (RFC 1122 §3.2.2): never about an ICMP error message, a datagram sent to a broadcast or
// multicast address or as a link-layer broadcast, a fragment other than the first, or a datagram
// whose source is not a single host (0.0.0.0, loopback, broadcast, multicast, class E); never while
// we have no address. They quote the offending IP header and the first 8 bytes of its payload
// (RFC 792). Rate limit: a token bucket of 10 messages refilled at 10 per second, shared by all
// errors (RFC 1812 §4.3.2.8 style); messages over the limit are dropped and counted
// (icmp.unreach.limited). Echo replies are not rate limited (they are only sent to a unicast request).
//
// Received echo replies and error messages are counted (icmp.rx) and otherwise ignored.
import type { NetStack } from './stack.js'
import { Counters } from '../kernel/counters.js'
import {
  D_L3_OFF, D_IP_SRC, D_IP_PROTO, D_IP_HLEN, D_IP_TOS, D_IP_FRAG_OFF, D_IP_PAYLOAD_OFF, D_IP_PAYLOAD_LEN,
  D_ICMP_TYPE, IP_PROTO_ICMP, ICMP_HEADER_BYTES,
} from '../core/frame-desc.js'
import { CAST_UNICAST, isMulticast, isLoopback, isReserved } from './addr.js'
import { FRAG_PAYLOAD, IP_OK } from './ipv4.js'

export const ICMP_ECHO_REPLY = 0
export const ICMP_UNREACHABLE = 3
export const ICMP_ECHO_REQUEST = 8
export const ICMP_TIME_EXCEEDED = 11
/** Destination unreachable codes (RFC 792). */
export const UNREACH_PROTOCOL = 2
export const UNREACH_PORT = 3
/** Time exceeded code 1: fragment reassembly time exceeded (RFC 792). */
export const TIME_EXCEEDED_REASSEMBLY = 1

/** Error messages per second, and the burst the bucket holds. */
export const ICMP_ERROR_RATE = 10
export const ICMP_ERROR_BURST = 10

const C_RX = Counters.id('icmp.rx')
const C_TX = Counters.id('icmp.tx')
const C_BAD = Counters.id('icmp.rx.bad')
const C_BROADCAST = Counters.id('icmp.rx.broadcast')
const C_ECHO = Counters.id('icmp.echo')
const C_UNREACH_TX = Counters.id('icmp.unreach.tx')
const C_LIMITED = Counters.id('icmp.unreach.limited')

/** ICMP error types (RFC 1122 §3.2.2: no error is sent about these). */
function isErrorType(t: number): boolean {
  return t === 3 || t === 4 || t === 5 || t === 11 || t === 12
}

export class Icmp {
  private readonly s: NetStack
  private tokens = ICMP_ERROR_BURST
  private refilledAt = -1

  constructor(s: NetStack) {
    this.s = s
  }

  /** A parsed ICMP message (descriptor at `desc`); `entry` is the reassembly entry holding it, or -1. */
  input(desc: number, cast: number, entry: number, now: number): void {
    const s = this.s
    const u32 = s.u32
    const d = desc >> 2
    s.counters.inc(C_RX)
    if (u32[d + D_ICMP_TYPE] !== ICMP_ECHO_REQUEST) return
    if (cast !== CAST_UNICAST) {
      s.counters.inc(C_BROADCAST)
      return
    }
    const src = u32[d + D_IP_SRC]
    if (src === 0) {
      s.counters.inc(C_BAD)
      return
    }
    // RFC 792 echo: the reply is the request with type 0 and a new checksum, sent back to its source.
    const msg = u32[d + D_IP_PAYLOAD_OFF]
    const n = u32[d + D_IP_PAYLOAD_LEN]
    s.u8[msg] = ICMP_ECHO_REPLY
    s.core.emitIcmpChecksum(msg, n)
    let r = IP_OK
    if (entry >= 0 && n > FRAG_PAYLOAD) r = s.reassembly.startJob(entry, src, IP_PROTO_ICMP, msg, n, now)
    else r = s.ipv4.send(src, IP_PROTO_ICMP, u32[d + D_IP_TOS], 0, 0, null, msg, n, now)
    if (r === IP_OK) {
      s.counters.inc(C_ECHO)
      s.counters.inc(C_TX)
    }
  }

  /** Destination unreachable, port unreachable (RFC 792; RFC 1122 §4.1.3.1) about the datagram at `desc`. */
  portUnreachable(desc: number, cast: number, now: number): void {
    this.unreachable(desc, UNREACH_PORT, cast, now)
  }

  /** Destination unreachable, protocol unreachable (RFC 1122 §3.2.2.1). */
  protocolUnreachable(desc: number, cast: number, now: number): void {
    this.unreachable(desc, UNREACH_PROTOCOL, cast, now)
  }

  private unreachable(desc: number, code: number, cast: number, now: number): void {
    const s = this.s
    const u32 = s.u32
    const d = desc >> 2
    const src = u32[d + D_IP_SRC]
    const payloadLen = u32[d + D_IP_PAYLOAD_LEN]
    if (!this.mayReport(cast, src, u32[d + D_IP_PROTO], u32[d + D_IP_PAYLOAD_OFF], payloadLen, u32[d + D_IP_FRAG_OFF])) return
    if (!this.takeToken(now)) return
    const quote = u32[d + D_IP_HLEN] + (payloadLen < 8 ? payloadLen : 8)
    if (this.sendError(ICMP_UNREACHABLE, code, src, u32[d + D_L3_OFF], quote, now) === IP_OK) s.counters.inc(C_UNREACH_TX)
  }

  /**
   * Time exceeded, reassembly (RFC 792; RFC 1122 §3.3.2: sent when fragment zero was received). The
   * reassembler keeps fragment zero's header (20 bytes) and first 8 payload bytes at `quoteOff`.
   */
  reassemblyTimeout(cast: number, src: number, proto: number, quoteOff: number, now: number): void {
    if (!this.mayReport(cast, src, proto, quoteOff + 20, 8, 0)) return
    if (!this.takeToken(now)) return
    this.sendError(ICMP_TIME_EXCEEDED, TIME_EXCEEDED_REASSEMBLY, src, quoteOff, 28, now)
  }

  /** RFC 1122 §3.2.2: may an error be sent about this datagram? */
  private mayReport(cast: number, src: number, proto: number, payloadOff: number, payloadLen: number, fragOff: number): boolean {
    const s = this.s
    if (cast !== CAST_UNICAST || s.addr === 0 || fragOff !== 0) return false
    if (src === 0 || isLoopback(src) || isMulticast(src) || isReserved(src) || src === s.subnetBcast) return false
    if (proto === IP_PROTO_ICMP && (payloadLen < 1 || isErrorType(s.u8[payloadOff]))) return false
    return true
  }

  /** The token bucket: true when an error may be sent now (one token taken). */
  private takeToken(now: number): boolean {
    if (this.refilledAt >= 0 && now > this.refilledAt) {
      this.tokens += (now - this.refilledAt) * ICMP_ERROR_RATE / 1000000
      if (this.tokens > ICMP_ERROR_BURST) this.tokens = ICMP_ERROR_BURST
    }
    this.refilledAt = now
    if (this.tokens < 1) {
      this.s.counters.inc(C_LIMITED)
      return false
    }
    this.tokens -= 1
    return true
  }

  /** An error message to `dst` quoting `quoteLen` bytes at arena `quoteOff` (header built in scratch). */
  private sendError(type: number, code: number, dst: number, quoteOff: number, quoteLen: number, now: number): number {
    const s = this.s
    const h = s.scratchIcmp
    const u8 = s.u8
    u8[h] = type
    u8[h + 1] = code
    u8.fill(0, h + 2, h + ICMP_HEADER_BYTES)
    // The checksum covers header and quote (RFC 792); the quote starts at an even message offset (8).
    const sum = s.core.checksum(h, ICMP_HEADER_BYTES, s.core.sum(quoteOff, quoteLen, 0))
    s.dv.setUint16(h + 2, sum)
    const r = s.ipv4.send(dst, IP_PROTO_ICMP, 0, h, ICMP_HEADER_BYTES, null, quoteOff, quoteLen, now)
    if (r === IP_OK) s.counters.inc(C_TX)
    return r
  }
}
