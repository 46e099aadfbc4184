// TCP output: building segments into TX frames, and deciding what to send (RFC 9293 §3.7, §3.8).
// Device dialect.
//
// Segments are built in place in a frame of the TX ring (or of the ARP pending queue): header, options,
// data copied from the send ring, checksum over the pseudo-header by the core. A refused frame (TX ring or
// ARP queue full) leaves the TCB as it was and marks it F_OUTPUT: the TCP timer tries again 1 ms later.
//
// What goes out (output()):
//   - data from SND.NXT, at most min(SND.WND, cwnd) - FlightSize, cut into segments of the effective MSS
//     (RFC 9293 §3.7.1: MSS minus the TCP options this segment carries);
//   - sender silly-window avoidance with Nagle (RFC 9293 §3.8.6.2.1, RFC 1122 §4.2.3.4): a short segment
//     leaves only when it carries all queued data or at least half the largest window the peer offered,
//     and (Nagle, unless setNoDelay) nothing is in flight. "Full-sized" is min(MSS, send ring / 2): with a
//     send ring smaller than two MSS, two segments can still be in flight, so a peer that delays its ACKs
//     until the second segment never stalls the connection (the uIP single-segment cliff);
//   - the FIN after the last queued byte once the app shut down its side;
//   - an ACK when one is owed (F_ACK_NOW); data segments carry it anyway;
//   - when data waits but nothing is in flight and nothing can be sent (zero or silly window), the
//     persist timer (RTO-based, backed off) sends a one-byte zero-window probe, or, when the window is
//     open but small, what fits (the "override timeout" of §3.8.6.2.1).
// Every segment we send carries the current receive window (receiver SWS avoidance: the right edge moves
// only by at least min(receive ring / 2, MSS), RFC 9293 §3.8.6.2.2) and, when SACK was negotiated and
// out-of-order data is held, up to four SACK blocks (RFC 2018 §3, §4), most recent first.
import type { Tcp } from './tcp.js'
import {
  TcbTable, ST_SYN_SENT, ST_SYN_RCVD, ST_TIME_WAIT, ST_FREE, synchronized,
  F_NODELAY, F_ACK_NOW, F_DELACK, F_FIN_QUEUED, F_FIN_ACKED, F_SACK_OK, F_RTT, F_RTX_ON, F_PERSIST, F_OUTPUT,
  F_RECOVERY, F_WS_OK,
} from './tcb.js'
import { writeSynOptions, writeSackOption, MAX_SACK_BLOCKS } from './options.js'
import { seqGe, seqGt, seqLe, seqLt } from './seq.js'
import { pseudoHeaderSeed } from '../core/contract.js'
import { IP_PROTO_TCP, TCP_HEADER_BYTES } from '../core/frame-desc.js'
import { FRAME_PAYLOAD, IP_ERR_TX_FULL, IP_ERR_ARP_QUEUE_FULL } from '../net/ipv4.js'
import { tcpReasmCount } from '../core/tcp-reasm-desc.js'
import { Counters } from '../kernel/counters.js'

// Header flags (RFC 9293 §3.1).
export const TH_FIN = 0x01
export const TH_SYN = 0x02
export const TH_RST = 0x04
export const TH_PSH = 0x08
export const TH_ACK = 0x10
export const TH_URG = 0x20

/** The MSS we announce: a 1500-byte Ethernet MTU less 20 bytes of IP and 20 of TCP header (RFC 9293 §3.7.1). */
export const OUR_MSS = 1460

const C_TX = Counters.id('tcp.tx')
const C_RST_TX = Counters.id('tcp.rst.tx')
const C_RETRANSMIT = Counters.id('tcp.retransmit')

/** True when `e` is a refusal that goes away on its own once the driver has sent (retry soon). */
export function transient(e: number): boolean {
  return e === IP_ERR_TX_FULL || e === IP_ERR_ARP_QUEUE_FULL
}

export class SegmentOutput {
  private readonly tcp: Tcp
  private readonly t: TcbTable

  constructor(tcp: Tcp) {
    this.tcp = tcp
    this.t = tcp.t
  }

  /** Bytes of SACK option the next ACK of TCB `i` carries (0 when none). */
  sackBytes(i: number): number {
    if (!this.t.has(i, F_SACK_OK)) return 0
    let n = tcpReasmCount(this.tcp.s.u32, this.tcp.holesOff(i))
    if (n === 0) return 0
    if (n > MAX_SACK_BLOCKS) n = MAX_SACK_BLOCKS
    return 4 + 8 * n
  }

  /**
   * The window field for a segment of TCB `i` (RFC 9293 §3.8.6.2.2 receiver SWS avoidance; RFC 7323 §2.2:
   * never scaled in a SYN), and RCV.ADV moved to the right edge it announces (never to the left).
   */
  windowField(i: number, syn: boolean): number {
    const t = this.t
    const size = this.tcp.rxSize
    const avail = size - t.rxLen[i]
    let cur = (t.rcvAdv[i] - t.rcvNxt[i]) | 0
    if (cur < 0) cur = 0
    const mss = t.mss[i] > 0 && t.mss[i] < OUR_MSS ? t.mss[i] : OUR_MSS
    const step = size >> 1 < mss ? size >> 1 : mss
    const wnd = avail - cur >= step ? avail : cur
    const shift = syn ? 0 : t.rcvShift(i)
    let field = wnd >> shift
    if (field > 65535) field = 65535
    const edge = (t.rcvNxt[i] + (field << shift)) >>> 0
    if (seqGt(edge, t.rcvAdv[i])) t.rcvAdv[i] = edge
    return field
  }

  /** True when the app reading data opened the window enough to tell the peer (RFC 9293 §3.8.6.2.2). */
  windowUpdateDue(i: number): boolean {
    const t = this.t
    const size = this.tcp.rxSize
    const avail = size - t.rxLen[i]
    let cur = (t.rcvAdv[i] - t.rcvNxt[i]) | 0
    if (cur < 0) cur = 0
    const mss = t.mss[i] > 0 && t.mss[i] < OUR_MSS ? t.mss[i] : OUR_MSS
    const step = size >> 1 < mss ? size >> 1 : mss
    return cur <= size >> 1 && avail - cur >= step
  }

  /**
   * Builds and queues one segment of TCB `i`: sequence number `seq`, header flags, `len` data bytes from
   * the send ring starting at `seq` (the caller keeps len within the MSS less sackBytes). A SYN carries
   * our MSS, window scale and SACK-permitted as negotiated; an ACK carries SACK blocks when there are
   * any. Returns `len`, or a negative IP_ERR_* when the frame could not be queued.
   */
  emit(i: number, seq: number, flags: number, len: number): number {
    const tcp = this.tcp
    const s = tcp.s
    const t = this.t
    const ip = s.ipv4
    const dst = t.remoteIp[i]
    let e = ip.route(dst, tcp.nowUs)
    if (e < 0) return e
    e = ip.reserveFrames(1)
    if (e < 0) return e
    const f = ip.begin()
    const h = f + FRAME_PAYLOAD
    const u8 = s.u8
    let opt = 0
    if ((flags & TH_SYN) !== 0) {
      const active = t.state[i] === ST_SYN_SENT
      opt = writeSynOptions(u8, h + TCP_HEADER_BYTES, OUR_MSS, active || t.has(i, F_WS_OK) ? t.rcvShift(i) : -1,
        active || t.has(i, F_SACK_OK))
    } else if ((flags & TH_ACK) !== 0 && this.sackBytes(i) > 0) {
      // The core writes host-order u32 pairs; they go to a 4-byte-aligned scratch spot inside this frame's
      // slot beyond the largest header (f + 94), read into the option before any data is copied over it.
      const scratch = (f + 100) & ~3
      const n = s.core.tcpSackBlocks(tcp.holesOff(i), scratch, MAX_SACK_BLOCKS)
      if (n > 0) opt = writeSackOption(u8, h + TCP_HEADER_BYTES, s.u32, scratch >> 2, n)
    }
    const hlen = TCP_HEADER_BYTES + opt
    if (len > 0) tcp.copyFromTx(i, seq, h + hlen, len)
    const wnd = (flags & TH_RST) !== 0 ? 0 : this.windowField(i, (flags & TH_SYN) !== 0)
    this.finish(f, dst, t.localPort[i], t.remotePort[i], seq, (flags & TH_ACK) !== 0 ? t.rcvNxt[i] : 0, flags, wnd, hlen, len)
    if ((flags & TH_ACK) !== 0) t.unset(i, F_ACK_NOW | F_DELACK)
    return len
  }

  /** Writes the 20-byte header (options and data are in place), the checksum, and queues frame `f`. */
  private finish(f: number, dst: number, sport: number, dport: number, seq: number, ack: number, flags: number, wnd: number,
                 hlen: number, len: number): void {
    const s = this.tcp.s
    const ip = s.ipv4
    const h = f + FRAME_PAYLOAD
    const dv = s.dv
    const tcpLen = hlen + len
    dv.setUint16(h, sport)
    dv.setUint16(h + 2, dport)
    dv.setUint32(h + 4, seq)
    dv.setUint32(h + 8, ack)
    dv.setUint16(h + 12, ((hlen >> 2) << 12) | flags)
    dv.setUint16(h + 14, wnd)
    dv.setUint32(h + 16, 0)
    dv.setUint16(h + 16, s.core.checksum(h, tcpLen, pseudoHeaderSeed(s.addr, dst, IP_PROTO_TCP, tcpLen)))
    ip.commit(f, IP_PROTO_TCP, 0, dst, tcpLen, ip.newId(), 0)
    s.counters.inc(C_TX)
    if ((flags & TH_RST) !== 0) s.counters.inc(C_RST_TX)
  }

  /**
   * A segment with no TCB behind it: RSTs for closed ports (RFC 9293 §3.10.7.1) and SYN-cookie SYN-ACKs
   * (`mss` > 0 adds the MSS option, `wnd` is the window field). Returns 0 or a negative IP_ERR_*.
   */
  emitRaw(dst: number, sport: number, dport: number, seq: number, ack: number, flags: number, wnd: number, mss: number): number {
    const tcp = this.tcp
    const s = tcp.s
    const ip = s.ipv4
    let e = ip.route(dst, tcp.nowUs)
    if (e < 0) return e
    e = ip.reserveFrames(1)
    if (e < 0) return e
    const f = ip.begin()
    if (mss > 0) writeSynOptions(s.u8, f + FRAME_PAYLOAD + TCP_HEADER_BYTES, mss, -1, false)
    this.finish(f, dst, sport, dport, seq, ack, flags, wnd, TCP_HEADER_BYTES + (mss > 0 ? 4 : 0), 0)
    return 0
  }

  /** A refused frame: remember to try again (transient refusals only; the timers cover the rest). */
  private refused(i: number, e: number): void {
    if (transient(e)) {
      this.t.set(i, F_OUTPUT)
      this.tcp.retrySoon()
    }
  }

  /**
   * <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> (RFC 9293 §3.10.7.4). The RFC's SND.NXT is our sndMax: after a
   * timeout sndNxt walks back over data already sent (go-back-N), and an ACK numbered there would lie
   * below the peer's RCV.NXT, be unacceptable to it, and its acknowledgment lost (two such ends answer each
   * other's ACKs forever).
   */
  sendAck(i: number): void {
    const e = this.emit(i, this.t.sndMax[i], TH_ACK, 0)
    if (e < 0) {
      this.t.set(i, F_ACK_NOW)
      this.refused(i, e)
    }
  }

  /** Our SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED), from ISS = SND.UNA. */
  sendSyn(i: number): void {
    const t = this.t
    const flags = t.state[i] === ST_SYN_RCVD ? TH_SYN | TH_ACK : TH_SYN
    const e = this.emit(i, t.sndUna[i], flags, 0)
    if (e < 0) this.refused(i, e)
  }

  /** <SEQ=SND.NXT><CTL=RST,ACK> (RFC 9293 §3.10.5 ABORT; the ACK lets the peer check it, RFC 5961 §3). */
  sendRst(i: number): void {
    this.emit(i, this.t.sndMax[i], TH_RST | TH_ACK, 0)
  }

  /** A keep-alive probe: <SEQ=SND.UNA-1><ACK=RCV.NXT>, no data (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6). */
  sendKeepAlive(i: number): void {
    const e = this.emit(i, (this.t.sndUna[i] - 1) >>> 0, TH_ACK, 0)
    if (e < 0) this.refused(i, e)
  }

  /** The sequence number after the last queued data byte (FIN goes there). Synchronized states only. */
  dataEnd(i: number): number {
    return (this.t.sndUna[i] + this.t.txLen[i]) >>> 0
  }

  /** True when our FIN has been sent (and is not yet acknowledged). */
  finSent(i: number): boolean {
    const t = this.t
    return t.has(i, F_FIN_QUEUED) && !t.has(i, F_FIN_ACKED) && seqGt(t.sndMax[i], this.dataEnd(i))
  }

  /**
   * Retransmits the first unacknowledged segment (fast retransmit, NewReno partial ACKs), without moving
   * SND.NXT (RFC 5681 §3.2 step 2, RFC 6582 §3.2 step 5).
   */
  retransmitFirst(i: number): void {
    const t = this.t
    const una = t.sndUna[i]
    let len = (this.dataEnd(i) - una) >>> 0
    const sent = (t.sndMax[i] - una) >>> 0
    if (len > sent) len = sent
    const max = t.mss[i] - this.sackBytes(i)
    if (len > max) len = max
    const fin = this.finSent(i) && len === ((this.dataEnd(i) - una) >>> 0)
    if (len === 0 && !fin) return
    const e = this.emit(i, una, TH_ACK | (fin ? TH_FIN : 0), len)
    if (e < 0) {
      this.refused(i, e)
      return
    }
    this.tcp.s.counters.inc(C_RETRANSMIT)
  }

  /**
   * Sends what TCB `i` may send now (see the file comment). `force` skips silly-window avoidance and Nagle
   * (the persist timer's override). Arms the retransmission timer for what it sends, and the persist
   * timer when data waits with nothing in flight.
   */
  output(i: number, force: boolean): void {
    const t = this.t
    const tcp = this.tcp
    const st = t.state[i]
    if (st === ST_FREE) return
    if (!synchronized(st) || st === ST_TIME_WAIT || t.has(i, F_FIN_ACKED)) {
      if (t.has(i, F_ACK_NOW) && st !== ST_SYN_SENT) this.sendAck(i)
      return
    }
    const mss = t.mss[i]
    const half = tcp.txSize >> 1
    let sent = false
    for (;;) {
      const una = t.sndUna[i]
      const nxt = t.sndNxt[i]
      const end = this.dataEnd(i)
      let unsent = (end - nxt) | 0
      if (unsent < 0) unsent = 0
      const finWaiting = t.has(i, F_FIN_QUEUED) && seqLe(nxt, end)
      const flight = (nxt - una) >>> 0
      let cw = t.cwnd[i]
      // RFC 3042 limited transmit: one more segment for each of the first two duplicate ACKs.
      if (!t.has(i, F_RECOVERY) && t.dupacks[i] > 0 && t.dupacks[i] < 3) cw += t.dupacks[i] * mss
      const wnd = t.sndWnd[i] < cw ? t.sndWnd[i] : cw
      const usable = wnd > flight ? wnd - flight : 0
      // The effective MSS (RFC 9293 §3.7.1: less the options this segment carries), at most half the send
      // ring: what counts as a full-sized segment below.
      let max = mss - this.sackBytes(i)
      if (max > half) max = half
      let len = unsent < usable ? unsent : usable
      if (len > max) len = max
      const fin = finWaiting && len === unsent
      if (len === 0 && !fin) break
      if (len > 0 && len < max && !force && seqGe(nxt, t.sndMax[i])) {
        // RFC 9293 §3.8.6.2.1 (new data only; what goes again after a timeout was sent before): (2) all
        // queued data, or (3) half the largest window, with Nagle's [SND.NXT = SND.UNA] unless it is off.
        const nagleOk = flight === 0 || t.has(i, F_NODELAY)
        const maxWnd = t.maxWnd[i] << t.sndShift(i)
        if (!nagleOk || (len !== unsent && len < maxWnd >> 1)) break
      }
      const e = this.emit(i, nxt, TH_ACK | (len === unsent && len > 0 ? TH_PSH : 0) | (fin ? TH_FIN : 0), len)
      if (e < 0) {
        this.refused(i, e)
        break
      }
      const segEnd = (nxt + len + (fin ? 1 : 0)) >>> 0
      if (seqGe(nxt, t.sndMax[i])) {
        // New data: time it if nothing is being timed (RFC 6298 §3; never a retransmission, Karn).
        if (!t.has(i, F_RTT)) {
          t.rttSeq[i] = segEnd
          t.rttStart[i] = tcp.nowMs & 0xffff
          t.set(i, F_RTT)
        }
      } else {
        tcp.s.counters.inc(C_RETRANSMIT)
      }
      t.sndNxt[i] = segEnd
      if (seqGt(segEnd, t.sndMax[i])) t.sndMax[i] = segEnd
      // RFC 6298 §5.1: start the timer when a segment with data (or SYN/FIN) leaves and it is not running.
      if (!t.has(i, F_RTX_ON)) tcp.armRtx(i, t.rto[i])
      sent = true
      force = false
      if (fin) break
    }
    if (!sent && t.has(i, F_ACK_NOW)) this.sendAck(i)
    // Data waits, nothing is in flight and nothing could go: the persist timer (RFC 9293 §3.8.6.1).
    if (t.sndNxt[i] === t.sndUna[i] && !t.has(i, F_RTX_ON) && seqLt(t.sndNxt[i], this.dataEnd(i))) {
      tcp.armRtx(i, t.rto[i])
    }
  }

  /** Retransmits the first outstanding byte (or the FIN) as a probe when the window lets nothing else go. */
  probeFirst(i: number): void {
    const t = this.t
    const una = t.sndUna[i]
    if (t.sndMax[i] === una) return
    const data = seqLt(una, this.dataEnd(i))
    const e = this.emit(i, una, TH_ACK | (data ? 0 : TH_FIN), data ? 1 : 0)
    if (e < 0) {
      this.refused(i, e)
      return
    }
    t.sndNxt[i] = (una + 1) >>> 0
    this.tcp.s.counters.inc(C_RETRANSMIT)
  }

  /**
   * The persist timer expired (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17): with the window shut, send one
   * byte beyond it (or repeat the probe byte already out); with the window open but too small for the
   * silly-window rules, send what fits.
   */
  persist(i: number): void {
    const t = this.t
    if (t.has(i, F_PERSIST) && t.sndMax[i] !== t.sndUna[i]) {
      // The probe byte is outstanding: repeat it.
      const e = this.emit(i, t.sndUna[i], TH_ACK, 1)
      if (e < 0) this.refused(i, e)
      return
    }
    if (t.sndWnd[i] > 0) {
      this.output(i, true)
      return
    }
    const nxt = t.sndNxt[i]
    if (!seqLt(nxt, this.dataEnd(i))) {
      // Only a FIN waits: it needs no window.
      this.output(i, true)
      return
    }
    const e = this.emit(i, nxt, TH_ACK, 1)
    if (e < 0) {
      this.refused(i, e)
      return
    }
    t.set(i, F_PERSIST)
    t.sndNxt[i] = (nxt + 1) >>> 0
    if (seqGt(t.sndNxt[i], t.sndMax[i])) t.sndMax[i] = t.sndNxt[i]
  }
}
