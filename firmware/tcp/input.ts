// TCP input: segment arrival (RFC 9293 §3.10.7) for every state, hardened by RFC 5961. Device dialect.
//
// Order of the checks, as in §3.10.7.4 for the synchronized states:
//   first   sequence number acceptable (the four cases of §3.4's table) — else ACK and drop;
//   second  RST: exactly at RCV.NXT resets the connection, elsewhere in the window draws a challenge ACK
//           (RFC 5961 §3.2);
//   fourth  SYN: any SYN draws a challenge ACK (RFC 5961 §4.2); a SYN-RECEIVED connection from a
//           listener goes back to LISTEN (here: the TCB is dropped, the listener is unaffected);
//   fifth   ACK: must lie in [SND.UNA - MAX.SND.WND, SND.NXT] (RFC 5961 §5.2) — else a challenge ACK;
//           new data acknowledged, RTT, congestion control, window update (SND.WL1/SND.WL2), our FIN;
//   sixth   URG: not supported; urgent data is delivered inline as ordinary data (RFC 6093 §4 advises new
//           applications not to use it);
//   seventh text: placed in the receive ring by the core (tcpReassemble), out-of-order ranges kept for
//           later and reported as SACK blocks;
//   eighth  FIN: only when it is in order (all data before it received); an out-of-order FIN is dropped
//           and the peer retransmits it.
// Challenge ACKs are limited to a budget per second shared by all connections (RFC 5961 §7).
// ACKs: data that arrives in order is acknowledged at the latest with the second segment or after the
// delayed-ACK time (RFC 9293 §3.8.6.3, RFC 5681 §4.2); out-of-order data, duplicates, and data filling
// a hole are acknowledged at once (RFC 5681 §4.2).
import type { Tcp } from './tcp.js'
import type { SegmentOutput } from './output.js'
import {
  TcbTable, ST_FREE, ST_SYN_SENT, ST_SYN_RCVD, ST_ESTABLISHED, ST_FIN_WAIT_1, ST_FIN_WAIT_2, ST_CLOSE_WAIT,
  ST_CLOSING, ST_LAST_ACK, ST_TIME_WAIT,
  F_ACK_NOW, F_DELACK, F_FIN_QUEUED, F_FIN_ACKED, F_SACK_OK, F_RTT, F_RTX_ON, F_PERSIST, F_PASSIVE, F_ORPHAN,
  F_RX_FIN, F_WANT_DRAIN, F_EV_DATA, F_OUTPUT, F_EV_END, F_EV_DRAIN, F_RECOVERY, F_KEEPALIVE, F_KA_ON, F_WS_OK,
  ERR_REFUSED, ERR_RESET, ERR_NONE,
} from './tcb.js'
import { ParsedOptions } from './options.js'
import { TH_FIN, TH_SYN, TH_RST, TH_ACK, OUR_MSS } from './output.js'
import {
  rttSample, initCongestion, onNewAck, enterRecovery, inflate, recoveryAck, restoreRto, RTO_AFTER_SYN_LOSS, DUPACK_THRESHOLD,
} from './congestion.js'
import { seqLt, seqLe, seqGt, seqGe } from './seq.js'
import { makeCookie, checkCookie } from './listen.js'
import { pseudoHeaderSeed } from '../core/contract.js'
import {
  D_IP_SRC, D_IP_DST, D_IP_PAYLOAD_OFF, D_L4_SRC_PORT, D_L4_DST_PORT, D_L4_LEN, D_L4_HLEN, D_DATA_OFF, D_DATA_LEN,
  IP_PROTO_TCP, TCP_HEADER_BYTES,
} from '../core/frame-desc.js'
import { tcpReasmCount } from '../core/tcp-reasm-desc.js'
import { Counters } from '../kernel/counters.js'

/** RFC 9293 §3.7.1 / RFC 1122 §4.2.2.6: the MSS to assume when a SYN carries none. */
export const DEFAULT_MSS = 536
/** The smallest send MSS we accept from a peer (a tiny MSS would make us send floods of tiny segments). */
export const MIN_MSS = 64

const C_RX = Counters.id('tcp.rx')
const C_BAD = Counters.id('tcp.rx.bad')
const C_CHECKSUM = Counters.id('tcp.rx.checksum')
const C_OOW = Counters.id('tcp.rx.out-of-window')
const C_OOO = Counters.id('tcp.rx.out-of-order')
const C_REASM_FULL = Counters.id('tcp.rx.reasm-full')
const C_CHALLENGE = Counters.id('tcp.challenge-ack')
const C_CHALLENGE_LIMITED = Counters.id('tcp.challenge-ack.limited')
const C_FAST_RTX = Counters.id('tcp.fast-retransmit')
const C_COOKIE_TX = Counters.id('tcp.syn-cookie.tx')
const C_COOKIE_OK = Counters.id('tcp.syn-cookie.ok')
const C_ACCEPT = Counters.id('tcp.accept')
const C_RECYCLED = Counters.id('tcp.time-wait.recycled')
const C_NO_PORT = Counters.id('tcp.rx.no-port')

export class SegmentInput {
  private readonly tcp: Tcp
  private readonly t: TcbTable
  private readonly out: SegmentOutput
  private readonly opts: ParsedOptions
  // The segment being processed.
  private src = 0
  private sport = 0
  private dport = 0
  private seq = 0
  private ack = 0
  private flags = 0
  private wnd = 0
  private dataOff = 0
  private dataLen = 0

  constructor(tcp: Tcp) {
    this.tcp = tcp
    this.t = tcp.t
    this.out = tcp.out
    this.opts = new ParsedOptions()
  }

  /** A TCP segment for our unicast address (descriptor at `desc`). */
  segment(desc: number): void {
    const s = this.tcp.s
    const u32 = s.u32
    const d = desc >> 2
    s.counters.inc(C_RX)
    const h = u32[d + D_IP_PAYLOAD_OFF]
    const len = u32[d + D_L4_LEN]
    const src = u32[d + D_IP_SRC]
    // The parser does not verify the TCP checksum (RFC 9293 §3.1: over pseudo-header, header and data).
    if (s.core.checksum(h, len, pseudoHeaderSeed(src, u32[d + D_IP_DST], IP_PROTO_TCP, len)) !== 0) {
      s.counters.inc(C_CHECKSUM)
      return
    }
    const dv = s.dv
    this.src = src
    this.sport = u32[d + D_L4_SRC_PORT]
    this.dport = u32[d + D_L4_DST_PORT]
    if (this.sport === 0 || this.dport === 0) {
      s.counters.inc(C_BAD)
      return
    }
    this.seq = dv.getUint32(h + 4)
    this.ack = dv.getUint32(h + 8)
    this.flags = s.u8[h + 13] & 0x3f
    this.wnd = dv.getUint16(h + 14)
    this.dataOff = u32[d + D_DATA_OFF]
    this.dataLen = u32[d + D_DATA_LEN]
    const hlen = u32[d + D_L4_HLEN]
    if ((this.flags & TH_SYN) !== 0) this.opts.parse(s.u8, h + TCP_HEADER_BYTES, hlen - TCP_HEADER_BYTES)
    const i = this.tcp.lookup(src, this.sport, this.dport)
    if (i < 0) {
      this.noConnection()
      return
    }
    const st = this.t.state[i]
    if (st === ST_SYN_SENT) this.synSent(i)
    else if (st === ST_TIME_WAIT && (this.flags & (TH_SYN | TH_ACK | TH_RST)) === TH_SYN && this.timeWaitSyn(i)) return
    else this.other(i)
  }

  // ---- no TCB: CLOSED or LISTEN -------------------------------------------------------------------

  private noConnection(): void {
    const f = this.flags
    // RFC 9293 §3.10.7.1 and §3.10.7.2: "An incoming segment containing a RST is discarded."
    if ((f & TH_RST) !== 0) return
    const l = this.tcp.listeners.find(this.dport)
    if (l < 0) {
      this.tcp.s.counters.inc(C_NO_PORT)
      this.reset()
      return
    }
    if ((f & TH_ACK) !== 0) {
      // §3.10.7.2: an ACK to a listener is reset, unless it completes a SYN-cookie handshake.
      if ((f & TH_SYN) === 0 && this.cookieAck(l)) return
      this.reset()
      return
    }
    if ((f & TH_SYN) !== 0) this.listenSyn(l)
    // any other segment to a listener is dropped
  }

  /** RFC 9293 §3.10.7.1: the reset for a segment that has no connection. */
  private reset(): void {
    const f = this.flags
    if ((f & TH_RST) !== 0) return
    const o = this.out
    if ((f & TH_ACK) !== 0) {
      o.emitRaw(this.src, this.dport, this.sport, this.ack, 0, TH_RST, 0, 0)
    } else {
      const segLen = this.dataLen + ((f & TH_SYN) !== 0 ? 1 : 0) + ((f & TH_FIN) !== 0 ? 1 : 0)
      o.emitRaw(this.src, this.dport, this.sport, 0, (this.seq + segLen) >>> 0, TH_RST | TH_ACK, 0, 0)
    }
  }

  /** Applies the SYN's options to TCB `i` (MSS, window scale, SACK-permitted; RFC 9293 §3.7.1, RFC 7323, RFC 2018). */
  private takeSynOptions(i: number, offeredWs: boolean): void {
    const t = this.t
    const o = this.opts
    let mss = o.mss >= 0 ? o.mss : DEFAULT_MSS
    if (mss > OUR_MSS) mss = OUR_MSS
    if (mss < MIN_MSS) mss = MIN_MSS
    t.mss[i] = mss
    if (o.wscale >= 0 && offeredWs) {
      t.wscale[i] = (this.tcp.rcvShift << 4) | o.wscale
      t.set(i, F_WS_OK)
    } else {
      t.wscale[i] = 0
      t.unset(i, F_WS_OK)
    }
    if (o.sackOk) t.set(i, F_SACK_OK)
    else t.unset(i, F_SACK_OK)
  }

  /** LISTEN + SYN (RFC 9293 §3.10.7.2 third check): a half-open connection, or a SYN cookie when full. */
  private listenSyn(l: number): void {
    const tcp = this.tcp
    const t = this.t
    const ls = tcp.listeners
    const i = ls.full(l) ? -1 : tcp.alloc()
    if (i < 0) {
      // Stateless answer (listen.ts): the cookie is our ISN, and the SYN-ACK offers MSS only.
      let mss = this.opts.mss >= 0 ? this.opts.mss : DEFAULT_MSS
      if (mss > OUR_MSS) mss = OUR_MSS
      const cookie = makeCookie(tcp.isn, tcp.s.addr, this.dport, this.src, this.sport, this.seq, mss, tcp.nowUs)
      const wnd = tcp.rxSize < 65535 ? tcp.rxSize : 65535
      this.out.emitRaw(this.src, this.dport, this.sport, cookie, (this.seq + 1) >>> 0, TH_SYN | TH_ACK, wnd, OUR_MSS)
      tcp.s.counters.inc(C_COOKIE_TX)
      return
    }
    const iss = tcp.isn.isn(tcp.s.addr, this.dport, this.src, this.sport, tcp.nowUs)
    this.openPassive(i, l, iss)
  }

  /** A new passive connection in SYN-RECEIVED on TCB `i` (free) for the current SYN, our ISN `iss`. */
  private openPassive(i: number, l: number, iss: number): void {
    const tcp = this.tcp
    const t = this.t
    tcp.initTcb(i, this.src, this.sport, this.dport, iss, tcp.listeners.handlers[l])
    t.state[i] = ST_SYN_RCVD
    t.set(i, F_PASSIVE)
    t.rcvNxt[i] = (this.seq + 1) >>> 0
    t.rcvAdv[i] = t.rcvNxt[i]
    this.takeSynOptions(i, true)
    // RFC 7323 §2.2: the window of a SYN is never scaled.
    t.sndWnd[i] = this.wnd
    t.maxWnd[i] = this.wnd
    t.sndWl1[i] = this.seq
    t.sndWl2[i] = iss
    tcp.listeners.add(l, i)
    t.rttSeq[i] = (iss + 1) >>> 0
    t.rttStart[i] = tcp.nowMs & 0xffff
    t.set(i, F_RTT)
    this.out.sendSyn(i)
    tcp.armRtx(i, t.rto[i])
    // Data on a SYN is not taken (no TCP Fast Open): it is not acknowledged and the peer sends it again.
  }

  /** An ACK to a listener that may return a SYN cookie; true when it opened a connection. */
  private cookieAck(l: number): boolean {
    const tcp = this.tcp
    const t = this.t
    const mss = checkCookie(tcp.isn, tcp.s.addr, this.dport, this.src, this.sport, (this.seq - 1) >>> 0,
      (this.ack - 1) >>> 0, tcp.nowUs)
    if (mss < 0) return false
    const i = tcp.alloc()
    if (i < 0) return false
    tcp.s.counters.inc(C_COOKIE_OK)
    tcp.initTcb(i, this.src, this.sport, this.dport, (this.ack - 1) >>> 0, tcp.listeners.handlers[l])
    t.set(i, F_PASSIVE)
    t.sndUna[i] = this.ack
    t.sndNxt[i] = this.ack
    t.sndMax[i] = this.ack
    t.rcvNxt[i] = this.seq
    // The cookie SYN-ACK advertised min(ring, 65535) unscaled.
    t.rcvAdv[i] = (this.seq + (tcp.rxSize < 65535 ? tcp.rxSize : 65535)) >>> 0
    t.wscale[i] = 0
    t.mss[i] = mss
    t.sndWnd[i] = this.wnd
    t.maxWnd[i] = this.wnd
    t.sndWl1[i] = this.seq
    t.sndWl2[i] = this.ack
    this.established(i)
    this.other(i)
    return true
  }

  // ---- SYN-SENT (RFC 9293 §3.10.7.3) ----------------------------------------------------------------

  private synSent(i: number): void {
    const tcp = this.tcp
    const t = this.t
    const f = this.flags
    const iss = t.sndUna[i]
    // first: the ACK must acknowledge our SYN and nothing beyond it
    if ((f & TH_ACK) !== 0 && (seqLe(this.ack, iss) || seqGt(this.ack, t.sndMax[i]))) {
      if ((f & TH_RST) === 0) this.reset()
      return
    }
    // second: RST, acceptable only with an acceptable ACK (RFC 5961 §3.2 keeps §3.10.7.3's rule)
    if ((f & TH_RST) !== 0) {
      if ((f & TH_ACK) !== 0) tcp.drop(i, ERR_REFUSED)
      return
    }
    if ((f & TH_SYN) === 0) return
    // fourth: SYN
    t.rcvNxt[i] = (this.seq + 1) >>> 0
    t.rcvAdv[i] = t.rcvNxt[i]
    this.takeSynOptions(i, true)
    t.sndWnd[i] = this.wnd
    t.maxWnd[i] = this.wnd
    t.sndWl1[i] = this.seq
    t.sndWl2[i] = this.ack
    if ((f & TH_ACK) !== 0) {
      // Our SYN is acknowledged: ESTABLISHED.
      t.sndUna[i] = (iss + 1) >>> 0
      this.synAcked(i)
      this.established(i)
      t.set(i, F_ACK_NOW)
      // "If there are other controls or text in the segment, then continue processing at the sixth step."
      this.textAndFin(i, (this.seq + 1) >>> 0)
      this.out.output(i, false)
      return
    }
    // Simultaneous open (RFC 9293 §3.5 figure 8): SYN-RECEIVED, and our SYN again, now with an ACK.
    t.state[i] = ST_SYN_RCVD
    this.out.sendSyn(i)
  }

  /** Our SYN has been acknowledged: its RTT sample (Karn: only if it was not retransmitted), timers. */
  private synAcked(i: number): void {
    const t = this.t
    const tcp = this.tcp
    if (t.has(i, F_RTT) && t.retries[i] === 0) rttSample(t, i, (tcp.nowMs - t.rttStart[i]) & 0xffff)
    else if (t.retries[i] > 0) t.rto[i] = RTO_AFTER_SYN_LOSS // RFC 6298 §5.7
    t.unset(i, F_RTT)
    t.retries[i] = 0
    tcp.cancelRtx(i)
  }

  /** The handshake is complete: ESTABLISHED (or FIN-WAIT-1 when the app already shut down), tell the app. */
  private established(i: number): void {
    const t = this.t
    const tcp = this.tcp
    tcp.listeners.remove(i)
    initCongestion(t, i)
    t.recover[i] = t.sndUna[i]
    t.state[i] = t.has(i, F_FIN_QUEUED) ? ST_FIN_WAIT_1 : ST_ESTABLISHED
    if (t.has(i, F_PASSIVE)) tcp.s.counters.inc(C_ACCEPT)
    tcp.opened(i)
    tcp.touchKeepAlive(i)
  }

  // ---- TIME-WAIT + SYN (RFC 9293 §3.10.7.4 note, RFC 1122 §4.2.2.13, RFC 6191) ----------------------

  /** A new SYN for a connection in TIME-WAIT: reopen when its sequence number is above the old one. */
  private timeWaitSyn(i: number): boolean {
    const tcp = this.tcp
    const t = this.t
    const l = tcp.listeners.find(this.dport)
    if (l < 0 || !seqGt(this.seq, t.rcvNxt[i]) || tcp.listeners.full(l)) return false
    // The new incarnation's ISS must exceed anything the old one sent (RFC 1122 §4.2.2.13).
    const old = t.sndMax[i]
    let iss = tcp.isn.isn(tcp.s.addr, this.dport, this.src, this.sport, tcp.nowUs)
    if (!seqGt(iss, (old + 65536) >>> 0)) iss = (old + 131072) >>> 0
    tcp.s.counters.inc(C_RECYCLED)
    tcp.release(i)
    this.openPassive(i, l, iss)
    return true
  }

  // ---- SYN-RECEIVED and the synchronized states (RFC 9293 §3.10.7.4) ------------------------------

  private other(i: number): void {
    const tcp = this.tcp
    const t = this.t
    const out = this.out
    let f = this.flags
    let seq = this.seq
    let st = t.state[i]
    if (st === ST_SYN_RCVD && (f & TH_SYN) !== 0 && seq === ((t.rcvNxt[i] - 1) >>> 0)) {
      if ((f & (TH_ACK | TH_RST)) === 0) {
        // The peer's SYN again (our SYN-ACK was lost): answer with the SYN-ACK.
        out.sendSyn(i)
        return
      }
      if ((f & TH_ACK) !== 0 && (f & TH_RST) === 0) {
        // Simultaneous open: the peer's SYN-ACK. Its SYN we have; take the ACK.
        f &= ~TH_SYN
        seq = (seq + 1) >>> 0
      }
    }
    const dataLen = this.dataLen
    // first: is the segment acceptable? (§3.4's table, RCV.WND = what we advertised)
    const segLen = dataLen + ((f & TH_SYN) !== 0 ? 1 : 0) + ((f & TH_FIN) !== 0 ? 1 : 0)
    const nxt = t.rcvNxt[i]
    let rwnd = (t.rcvAdv[i] - nxt) | 0
    if (rwnd < 0) rwnd = 0
    let ok: boolean
    if (segLen === 0) ok = rwnd === 0 ? seq === nxt : ((seq - nxt) >>> 0) < rwnd
    else if (rwnd === 0) ok = false
    else ok = ((seq - nxt) >>> 0) < rwnd || (((seq + segLen - 1) - nxt) >>> 0) < rwnd
    if (!ok) {
      tcp.s.counters.inc(C_OOW)
      if ((f & TH_RST) === 0) {
        if (st === ST_TIME_WAIT && (f & TH_FIN) !== 0) tcp.armRtx(i, tcp.timeWaitMs) // a retransmitted FIN
        out.sendAck(i)
      }
      return
    }
    // second: RST (RFC 5961 §3.2)
    if ((f & TH_RST) !== 0) {
      if (seq !== nxt) {
        this.challenge(i)
        return
      }
      if (st === ST_SYN_RCVD && t.has(i, F_PASSIVE)) tcp.drop(i, ERR_NONE) // back to LISTEN
      else if (st === ST_SYN_RCVD) tcp.drop(i, ERR_REFUSED)
      else if (st === ST_CLOSING || st === ST_LAST_ACK || st === ST_TIME_WAIT) tcp.drop(i, ERR_NONE)
      else tcp.drop(i, ERR_RESET)
      return
    }
    // fourth: SYN (RFC 5961 §4.2; RFC 9293: a passive SYN-RECEIVED connection returns to LISTEN)
    if ((f & TH_SYN) !== 0) {
      if (st === ST_SYN_RCVD && t.has(i, F_PASSIVE)) tcp.drop(i, ERR_NONE)
      else this.challenge(i)
      return
    }
    // fifth: ACK
    if ((f & TH_ACK) === 0) return
    tcp.touchKeepAlive(i)
    if (st === ST_SYN_RCVD) {
      if (!seqGt(this.ack, t.sndUna[i]) || seqGt(this.ack, t.sndMax[i])) {
        this.reset()
        return
      }
      t.sndUna[i] = (t.sndUna[i] + 1) >>> 0
      t.sndWnd[i] = this.wnd << t.sndShift(i)
      t.maxWnd[i] = this.wnd
      t.sndWl1[i] = seq
      t.sndWl2[i] = this.ack
      this.synAcked(i)
      this.established(i)
      st = t.state[i]
    }
    if (!this.processAck(i, seq, f)) return
    st = t.state[i]
    if (t.has(i, F_FIN_ACKED)) {
      if (st === ST_FIN_WAIT_1) {
        t.state[i] = ST_FIN_WAIT_2
        tcp.finWait2(i)
      } else if (st === ST_CLOSING) {
        tcp.timeWait(i)
      } else if (st === ST_LAST_ACK) {
        tcp.drop(i, ERR_NONE)
        return
      }
    }
    this.textAndFin(i, seq)
    if (t.state[i] === ST_FREE) return
    if (t.has(i, F_EV_DATA) && tcp.handlers[i] !== null) {
      // New data for the app: answer in this poll's timer pass, after the app has read it, so the ACK
      // carries the window it opened instead of a closed one followed by a window update.
      t.set(i, F_OUTPUT)
      return
    }
    this.out.output(i, false)
  }

  /** A challenge ACK (RFC 5961 §3.2, §4.2, §5.2), within the per-second budget (§7). */
  private challenge(i: number): void {
    const tcp = this.tcp
    if (!tcp.challengeAllowed()) {
      tcp.s.counters.inc(C_CHALLENGE_LIMITED)
      return
    }
    tcp.s.counters.inc(C_CHALLENGE)
    this.out.sendAck(i)
  }

  /**
   * The fifth step for an acceptable ACK: RFC 5961 §5.2 range, new data acknowledged, RTT, congestion
   * control, duplicate ACKs, the window update. False when the segment must be dropped.
   */
  private processAck(i: number, seq: number, f: number): boolean {
    const tcp = this.tcp
    const t = this.t
    const out = this.out
    const ack = this.ack
    const una = t.sndUna[i]
    const maxBack = t.maxWnd[i] << t.sndShift(i)
    if (seqGt(ack, t.sndMax[i]) || seqLt(ack, (una - maxBack) >>> 0)) {
      this.challenge(i)
      return false
    }
    const scaled = this.wnd << t.sndShift(i)
    if (seqGt(ack, una)) {
      const acked = (ack - una) >>> 0
      const txLen = t.txLen[i]
      const data = acked < txLen ? acked : txLen
      if (t.has(i, F_FIN_QUEUED) && acked > txLen) t.set(i, F_FIN_ACKED)
      t.txLen[i] = txLen - data
      t.sndUna[i] = ack
      if (seqLt(t.sndNxt[i], ack)) t.sndNxt[i] = ack
      t.retries[i] = 0
      t.unset(i, F_PERSIST)
      // RFC 6298 §3 (Karn): only a segment never retransmitted gives a sample.
      if (t.has(i, F_RTT) && seqGe(ack, t.rttSeq[i])) {
        rttSample(t, i, (tcp.nowMs - t.rttStart[i]) & 0xffff)
        t.unset(i, F_RTT)
      }
      if (t.has(i, F_RECOVERY)) {
        if (recoveryAck(t, i, ack, acked)) {
          out.retransmitFirst(i)
          tcp.armRtx(i, t.rto[i])
        }
      } else {
        onNewAck(t, i, acked)
      }
      // RFC 6298 §5.2, §5.3: stop the timer when everything is acknowledged, else restart it.
      if (t.sndUna[i] === t.sndMax[i]) tcp.cancelRtx(i)
      else tcp.armRtx(i, t.rto[i])
      if (data > 0 && t.has(i, F_WANT_DRAIN)) {
        t.unset(i, F_WANT_DRAIN)
        tcp.event(i, F_EV_DRAIN)
      }
    } else if (ack === una && this.dataLen === 0 && (f & (TH_SYN | TH_FIN)) === 0 && scaled === t.sndWnd[i] &&
               t.sndMax[i] !== una && !t.has(i, F_PERSIST) && scaled !== 0) {
      // A duplicate ACK (RFC 5681 §2 definition).
      const n = t.dupacks[i] < 255 ? t.dupacks[i] + 1 : 255
      t.dupacks[i] = n
      if (t.has(i, F_RECOVERY)) {
        inflate(t, i)
      } else if (n === DUPACK_THRESHOLD) {
        if (enterRecovery(t, i, ack)) {
          tcp.s.counters.inc(C_FAST_RTX)
          out.retransmitFirst(i)
        }
      }
    } else if (t.has(i, F_PERSIST)) {
      t.retries[i] = 0 // the peer answers our probes: keep probing (RFC 1122 §4.2.2.17)
    }
    // Window update (RFC 9293 §3.10.7.4 fifth step): SND.WL1 < SEG.SEQ, or = and SND.WL2 =< SEG.ACK.
    if (seqGe(ack, t.sndUna[i]) && (seqLt(t.sndWl1[i], seq) || (t.sndWl1[i] === seq && seqLe(t.sndWl2[i], ack)))) {
      t.sndWnd[i] = scaled
      t.sndWl1[i] = seq
      t.sndWl2[i] = ack
      if (this.wnd > t.maxWnd[i]) t.maxWnd[i] = this.wnd
      if (scaled > 0 && t.has(i, F_PERSIST)) {
        // The window opened: the probe byte, if still unacknowledged, goes again with the data behind it;
        // the backoff of the probes was no sign of loss (RFC 6298 §5.7 spirit: restart from SRTT).
        t.unset(i, F_PERSIST)
        t.sndNxt[i] = t.sndUna[i]
        t.retries[i] = 0
        tcp.cancelRtx(i)
        restoreRto(t, i)
      }
    }
    return true
  }

  /** Seventh and eighth steps: segment text and FIN, for data starting at sequence number `seq`. */
  private textAndFin(i: number, seq: number): void {
    const tcp = this.tcp
    const t = this.t
    const st = t.state[i]
    const len = this.dataLen
    if (len > 0 && (st === ST_ESTABLISHED || st === ST_FIN_WAIT_1 || st === ST_FIN_WAIT_2)) {
      if (t.has(i, F_ORPHAN)) {
        // RFC 1122 §4.2.2.13: data for a connection the app closed is lost; say so with a reset.
        tcp.abortOrphan(i)
        return
      }
      this.text(i, seq, len)
    }
    if ((this.flags & TH_FIN) === 0 || t.state[i] === ST_FREE) return
    const finSeq = (seq + len) >>> 0
    if (t.has(i, F_RX_FIN)) {
      // The peer's FIN again: acknowledge it again; TIME-WAIT restarts its timer (RFC 9293 §3.10.7.4).
      t.set(i, F_ACK_NOW)
      if (t.state[i] === ST_TIME_WAIT) tcp.armRtx(i, tcp.timeWaitMs)
      return
    }
    if (finSeq !== t.rcvNxt[i]) return
    // eighth: FIN in order (RFC 9293 §3.10.7.4)
    t.rcvNxt[i] = (t.rcvNxt[i] + 1) >>> 0
    if (seqLt(t.rcvAdv[i], t.rcvNxt[i])) t.rcvAdv[i] = t.rcvNxt[i]
    t.set(i, F_RX_FIN | F_ACK_NOW)
    tcp.event(i, F_EV_END)
    const s2 = t.state[i]
    if (s2 === ST_ESTABLISHED) t.state[i] = ST_CLOSE_WAIT
    else if (s2 === ST_FIN_WAIT_1) {
      if (t.has(i, F_FIN_ACKED)) tcp.timeWait(i)
      else t.state[i] = ST_CLOSING
    } else if (s2 === ST_FIN_WAIT_2) tcp.timeWait(i)
  }

  /** Places data in the receive ring (core.tcpReassemble) and decides how soon to acknowledge. */
  private text(i: number, seq: number, len: number): void {
    const tcp = this.tcp
    const t = this.t
    const s = tcp.s
    const holes = tcp.holesOff(i)
    const before = tcpReasmCount(s.u32, holes)
    const size = tcp.rxSize
    const nxt = t.rcvNxt[i]
    const r = s.core.tcpReassemble(holes, tcp.maxRanges, tcp.rxRing(i), size, nxt & (size - 1), nxt,
      size - t.rxLen[i], seq, this.dataOff, len)
    if (r > 0) {
      t.rcvNxt[i] = (nxt + r) >>> 0
      if (seqLt(t.rcvAdv[i], t.rcvNxt[i])) t.rcvAdv[i] = t.rcvNxt[i]
      t.rxLen[i] += r
      tcp.event(i, F_EV_DATA)
    }
    if (r === -1) s.counters.inc(C_REASM_FULL)
    else if (r === 0 && seqGt(seq, nxt)) s.counters.inc(C_OOO)
    if (r <= 0 || before > 0 || tcpReasmCount(s.u32, holes) > 0) {
      // Out of order, duplicate, outside, or filling a hole: acknowledge at once (RFC 5681 §4.2).
      t.set(i, F_ACK_NOW)
    } else if (t.has(i, F_DELACK)) {
      // The second segment since the last ACK: acknowledge now (RFC 9293 §3.8.6.3).
      t.set(i, F_ACK_NOW)
    } else {
      t.set(i, F_DELACK)
      tcp.armDelack()
    }
  }
}
