// TCP (RFC 9293) for NetStack: the connection table, the timers, the app interface. Device dialect.
//
//   const tcp = attachTcp(stack, { random32: () => board.random.next32() })
//   tcp.listen(7, handler)                  // handler: TcpHandler (firmware/tcp/tcb.ts)
//   const id = tcp.connect(ip, port, 0, handler, now)
//   tcp.send(id, bytes, now); tcp.shutdown(id, now); tcp.close(id, now); tcp.abort(id, now)
//
// The files of firmware/tcp: seq.ts (modulo-2^32 comparisons), tcb.ts (the table, states, flags),
// isn.ts (RFC 6528 ISNs, keyed HalfSipHash), options.ts, congestion.ts (RFC 6298 RTO, RFC 5681/6582),
// output.ts (segments, Nagle, silly-window avoidance, persist), input.ts (RFC 9293 §3.10.7 with RFC
// 5961), listen.ts (listeners, half-open queues, SYN cookies), and this file.
//
// Memory: the arena regions 'tcb state' (96 bytes per TCB), 'tcp holes' (the reassembly tracker of each),
// 'tcp rx rings', 'tcp tx rings' and 'tcp listeners'. Nothing is allocated per segment; the app is handed a
// subarray view of the receive ring per delivery (TcpHandler.onData), valid during the call only.
//
// Timers: one stack timer ('tcp') armed at the earliest of the TCBs' deadlines (retransmission / persist /
// SYN / TIME-WAIT in rtxAt; keep-alive / orphaned FIN-WAIT-2 in kaAt), the shared delayed-ACK deadline, and
// "now" when events wait for the app or 1 ms later when output was refused by a full TX ring. Its pass
// handles what is due, retries refused output, then delivers app events in order (connect, data, end,
// drain, close).
//
// Choices (documented where they apply): RTO minimum 200 ms (congestion.ts); delayed ACK 100 ms by default
// and every second segment; TIME-WAIT 2 s by default (RFC 9293's 2·MSL is 4 minutes — a device with a
// handful of TCBs cannot hold every closed connection that long), reused early by a new SYN with a higher
// sequence number (RFC 1122 §4.2.2.13 / RFC 6191) or when the table is full (the oldest TIME-WAIT goes
// first); SYN-flood defence by half-open queues and SYN cookies (listen.ts); keep-alive off by default,
// 2 h idle, 75 s between 9 probes (RFC 1122 §4.2.3.6).
import type { NetStack } from '../net/stack.js'
import { region, SIZES } from '../kernel/arena.js'
import { Counters } from '../kernel/counters.js'
import { IP_ERR_NO_ROUTE } from '../net/ipv4.js'
import { tcpReasmBytes, tcpReasmClear } from '../core/tcp-reasm-desc.js'
import {
  TcbTable, TcpHandler, ST_FREE, ST_SYN_SENT, ST_SYN_RCVD, ST_ESTABLISHED, ST_FIN_WAIT_1, ST_FIN_WAIT_2,
  ST_CLOSE_WAIT, ST_LAST_ACK, ST_TIME_WAIT, synchronized,
  F_NODELAY, F_KEEPALIVE, F_ACK_NOW, F_DELACK, F_FIN_QUEUED, F_RTX_ON, F_KA_ON, F_PERSIST, F_PASSIVE, F_ORPHAN,
  F_OUTPUT, F_RX_FIN, F_WANT_DRAIN, F_EV_CONNECT, F_EV_DATA, F_EV_END, F_EV_DRAIN, F_EV_CLOSE, F_EV_ANY,
  F_END_DONE, F_OPENED, F_RTT,
  ERR_NONE, ERR_TIMEDOUT,
} from './tcb.js'
import { IsnGenerator } from './isn.js'
import { Listeners } from './listen.js'
import { SegmentOutput, OUR_MSS } from './output.js'
import { SegmentInput } from './input.js'
import { RTO_INITIAL, onTimeout, backoff } from './congestion.js'
import { seqLt } from './seq.js'

export type { TcpHandler } from './tcb.js'
export {
  ERR_NONE, ERR_REFUSED, ERR_RESET, ERR_TIMEDOUT, ERR_NO_ROUTE, ERR_ABORTED, STATE_NAMES,
  ST_FREE, ST_SYN_SENT, ST_SYN_RCVD, ST_ESTABLISHED, ST_FIN_WAIT_1, ST_FIN_WAIT_2, ST_CLOSE_WAIT, ST_CLOSING,
  ST_LAST_ACK, ST_TIME_WAIT, TCB_BYTES,
} from './tcb.js'

/** listen/connect: no free listener entry or TCB. */
export const TCP_ERR_TABLE_FULL = -1
/** listen: the port has a listener; connect: the 4-tuple is in use. */
export const TCP_ERR_PORT_IN_USE = -2
/** connect: no route to the destination (no address yet, off-subnet without a gateway, invalid address). */
export const TCP_ERR_NO_ROUTE = -3
/** send/shutdown on a connection that is not open for sending (closed, or already shut down). */
export const TCP_ERR_CLOSED = -7
/** A port outside 1..65535 (connect's local port may be 0 = ephemeral) or a bad id. */
export const TCP_ERR_INVALID = -8

export const EPHEMERAL_FIRST = 49152
export const EPHEMERAL_LAST = 65535

export interface TcpOptions {
  /** Unpredictable 32-bit values for the ISN and cookie keys (default: from the stack's random()). */
  random32?: () => number
  /** TIME-WAIT duration in ms (default 2000). */
  timeWaitMs?: number
  /** Longest delay of an ACK in ms (default 100; RFC 9293 §3.8.6.3: under 0.5 s; ≤ 200 is the goal here). */
  delayedAckMs?: number
  /** Retransmissions of a segment before the connection is given up (default 10: about 3 minutes). */
  maxRetries?: number
  /** Retransmissions of a SYN or SYN-ACK (default 5: 1+2+4+8+16 s, then 32 s more). */
  synRetries?: number
  /** Keep-alive idle time in s when setKeepAlive gives none (default 7200), probe interval in ms, probes. */
  keepAliveIdleS?: number
  keepAliveIntervalMs?: number
  keepAliveProbes?: number
  /** Challenge ACKs per second, all connections together (RFC 5961 §7; default 10). */
  challengeAckLimit?: number
  /** How long an orphaned connection may wait in FIN-WAIT-2 for the peer's FIN (default 60 s). */
  finWait2Ms?: number
}

const C_CONNECT = Counters.id('tcp.connect')
const C_TIMEOUT = Counters.id('tcp.timeout')
const C_TABLE_FULL = Counters.id('tcp.table-full')
const C_RETRANSMIT = Counters.id('tcp.retransmit')
const C_RECYCLED = Counters.id('tcp.time-wait.recycled')

/** How long a refused output waits before it is tried again (µs). */
const RETRY_US = 1000

// Made here, not in the constructor: a closure made there would keep the constructor's whole scope alive on
// Espruino, the arena region objects it read among them.
function tcpTimer(t: Tcp): (now: number) => void {
  return function (now: number) { t.onTimer(now) }
}

function tcpInput(t: Tcp): (desc: number, now: number) => void {
  return function (desc: number, now: number) {
    t.setNow(now)
    t.input.segment(desc)
  }
}

function stackRandom32(s: NetStack): () => number {
  return function (): number { return Math.floor(s.random() * 4294967296) >>> 0 }
}

function opt(v: number | undefined, d: number): number {
  return v !== undefined && v >= 0 ? v : d
}

export class Tcp {
  readonly s: NetStack
  readonly t: TcbTable
  readonly listeners: Listeners
  readonly isn: IsnGenerator
  readonly out: SegmentOutput
  readonly input: SegmentInput
  /** The app's handler of each TCB (null: none, or orphaned). */
  readonly handlers: (TcpHandler | null)[]
  readonly rxSize: number
  readonly txSize: number
  /** Ranges each reassembly tracker holds. */
  readonly maxRanges: number
  /** The window scale we offer: the smallest shift that lets a 16-bit field cover the receive ring. */
  readonly rcvShift: number
  readonly timeWaitMs: number
  readonly delayedAckMs: number
  readonly maxRetries: number
  readonly synRetries: number
  readonly keepAliveIdleS: number
  readonly keepAliveIntervalMs: number
  readonly keepAliveProbes: number
  readonly challengeLimit: number
  readonly finWait2Ms: number
  /** The stack clock at the last input or timer pass: µs, and ms modulo 2^32. */
  nowUs = 0
  nowMs = 0
  private readonly rxBase: number
  private readonly txBase: number
  private readonly holesBase: number
  private readonly holesEach: number
  private readonly timer: number
  private timerAt = -1
  private delackOn = false
  private delackAt = 0
  private challengeCount = 0
  private challengeSecond = 0
  private nextEphemeral: number
  private delivering = false

  constructor(s: NetStack, o: TcpOptions) {
    this.s = s
    const buffer = s.core.buffer
    const layout = s.layout
    const tr = region(layout, 'tcb state')
    const n = tr.count
    this.t = new TcbTable(buffer, tr.offset, tr.size, n)
    const lr = region(layout, 'tcp listeners')
    this.listeners = new Listeners(buffer, lr.offset, lr.count, lr.each)
    const rx = region(layout, 'tcp rx rings')
    const tx = region(layout, 'tcp tx rings')
    const holes = region(layout, 'tcp holes')
    this.rxBase = rx.offset
    this.txBase = tx.offset
    this.rxSize = n > 0 ? rx.each : 256
    this.txSize = n > 0 ? tx.each : 256
    this.holesBase = holes.offset
    this.holesEach = holes.each
    this.maxRanges = n > 0 ? (holes.each - tcpReasmBytes(0)) / SIZES.tcpHole : 0
    if (n > 0 && (this.maxRanges < 1 || (holes.offset & 3) !== 0 || (holes.each & 3) !== 0)) {
      throw new Error('tcp: the tcp holes region does not hold a tracker per TCB')
    }
    let shift = 0
    while ((this.rxSize >> shift) > 65535) shift++
    this.rcvShift = shift
    const r32 = o.random32 ? o.random32 : stackRandom32(s)
    this.isn = new IsnGenerator(r32)
    this.timeWaitMs = opt(o.timeWaitMs, 2000)
    this.delayedAckMs = opt(o.delayedAckMs, 100)
    this.maxRetries = opt(o.maxRetries, 10)
    this.synRetries = opt(o.synRetries, 5)
    this.keepAliveIdleS = opt(o.keepAliveIdleS, 7200)
    this.keepAliveIntervalMs = opt(o.keepAliveIntervalMs, 75000)
    this.keepAliveProbes = opt(o.keepAliveProbes, 9)
    this.challengeLimit = opt(o.challengeAckLimit, 10)
    this.finWait2Ms = opt(o.finWait2Ms, 60000)
    this.handlers = []
    for (let i = 0; i < n; i++) this.handlers.push(null)
    this.nextEphemeral = EPHEMERAL_FIRST + Math.floor(s.random() * (EPHEMERAL_LAST - EPHEMERAL_FIRST + 1))
    this.out = new SegmentOutput(this)
    this.input = new SegmentInput(this)
    this.timer = s.timers.register('tcp', tcpTimer(this))
    s.onTcp = tcpInput(this)
  }

  // ---- arena places -------------------------------------------------------------------------------

  holesOff(i: number): number {
    return this.holesBase + i * this.holesEach
  }

  rxRing(i: number): number {
    return this.rxBase + i * this.rxSize
  }

  txRing(i: number): number {
    return this.txBase + i * this.txSize
  }

  /** Copies `len` bytes of TCB `i`'s send ring from sequence number `seq` to arena offset `to`. */
  copyFromTx(i: number, seq: number, to: number, len: number): void {
    const size = this.txSize
    const pos = seq & (size - 1)
    const base = this.txRing(i)
    const first = size - pos < len ? size - pos : len
    this.s.core.copy(to, base + pos, first)
    if (first < len) this.s.core.copy(to + first, base, len - first)
  }

  // ---- time ---------------------------------------------------------------------------------------

  setNow(now: number): void {
    this.nowUs = now
    this.nowMs = Math.floor(now / 1000) % 4294967296
  }

  private due(at: number): boolean {
    return ((at - this.nowMs) | 0) <= 0
  }

  /** Arms TCB `i`'s retransmission (persist, SYN, TIME-WAIT) deadline `ms` from now. */
  armRtx(i: number, ms: number): void {
    const t = this.t
    t.rtxAt[i] = (this.nowMs + ms) >>> 0
    t.set(i, F_RTX_ON)
    this.want(t.rtxAt[i])
  }

  cancelRtx(i: number): void {
    this.t.unset(i, F_RTX_ON | F_PERSIST)
  }

  private armKa(i: number, ms: number): void {
    const t = this.t
    t.kaAt[i] = (this.nowMs + ms) >>> 0
    t.set(i, F_KA_ON)
    this.want(t.kaAt[i])
  }

  /** A delayed ACK is owed: the shared delayed-ACK deadline, if not already running. */
  armDelack(): void {
    if (this.delackOn) return
    this.delackOn = true
    this.delackAt = (this.nowMs + this.delayedAckMs) >>> 0
    this.want(this.delackAt)
  }

  /** Output was refused by a full ring: try again in a moment. */
  retrySoon(): void {
    this.armTimerUs(this.nowUs + RETRY_US)
  }

  /** Makes sure the timer fires by `atMs`. */
  private want(atMs: number): void {
    this.armTimerUs(this.nowUs + ((atMs - this.nowMs) | 0) * 1000)
  }

  private armTimerUs(us: number): void {
    if (this.timerAt < 0 || us < this.timerAt) {
      this.timerAt = us
      this.s.timers.arm(this.timer, us)
    }
  }

  /** Flags event `ev` for the app; delivered in this poll's timer pass. */
  event(i: number, ev: number): void {
    this.t.set(i, ev)
    if (!this.delivering) this.armTimerUs(this.nowUs)
  }

  // ---- the timer pass -----------------------------------------------------------------------------

  /** The TCP timer (called by the stack's timer table). */
  onTimer(now: number): void {
    this.setNow(now)
    this.timerAt = -1
    const t = this.t
    const delackDue = this.delackOn && this.due(this.delackAt)
    if (delackDue) this.delackOn = false
    for (let i = 0; i < t.n; i++) {
      if (t.state[i] === ST_FREE) continue
      if (t.has(i, F_RTX_ON) && this.due(t.rtxAt[i])) {
        t.unset(i, F_RTX_ON)
        this.rtxExpired(i)
        if (t.state[i] === ST_FREE) continue
      }
      if (t.has(i, F_KA_ON) && this.due(t.kaAt[i])) {
        t.unset(i, F_KA_ON)
        this.kaExpired(i)
      }
    }
    this.deliver()
    // After the app has read: ACKs held back by input (they now carry the window the app opened), output
    // refused earlier, delayed ACKs that are due.
    for (let i = 0; i < t.n; i++) {
      if (t.state[i] === ST_FREE) continue
      if (t.has(i, F_OUTPUT)) {
        t.unset(i, F_OUTPUT)
        if (t.state[i] === ST_SYN_SENT || t.state[i] === ST_SYN_RCVD) this.out.sendSyn(i)
        else this.out.output(i, false)
      }
      if (delackDue && t.has(i, F_DELACK)) this.out.sendAck(i)
    }
    // Start over from what is left (events flagged above were delivered in this pass).
    this.s.timers.cancel(this.timer)
    this.timerAt = -1
    this.reschedule()
  }

  /** Arms the stack timer at the earliest deadline left. */
  private reschedule(): void {
    const t = this.t
    let best = -1
    let events = false
    let retry = false
    for (let i = 0; i < t.n; i++) {
      const f = t.flags[i]
      if ((f & F_EV_ANY) !== 0) events = true
      if (t.state[i] === ST_FREE) continue
      if ((f & F_OUTPUT) !== 0) retry = true
      if ((f & F_RTX_ON) !== 0) best = this.earlier(best, t.rtxAt[i])
      if ((f & F_KA_ON) !== 0) best = this.earlier(best, t.kaAt[i])
      if ((f & F_DELACK) !== 0 && !this.delackOn) {
        this.delackOn = true
        this.delackAt = (this.nowMs + this.delayedAckMs) >>> 0
      }
    }
    if (this.delackOn) best = this.earlier(best, this.delackAt)
    if (events) this.armTimerUs(this.nowUs + 1)
    if (retry) this.armTimerUs(this.nowUs + RETRY_US)
    if (best >= 0) this.want(best)
  }

  private earlier(best: number, at: number): number {
    if (best < 0) return at
    return ((at - best) | 0) < 0 ? at : best
  }

  /** rtxAt expired: TIME-WAIT over, SYN retransmission, retransmission timeout, or persist. */
  private rtxExpired(i: number): void {
    const t = this.t
    const out = this.out
    const st = t.state[i]
    if (st === ST_TIME_WAIT) {
      this.release(i)
      return
    }
    if (st === ST_SYN_SENT || st === ST_SYN_RCVD) {
      if (t.retries[i] >= this.synRetries) {
        this.s.counters.inc(C_TIMEOUT)
        this.drop(i, t.has(i, F_PASSIVE) ? ERR_NONE : ERR_TIMEDOUT)
        return
      }
      t.retries[i]++
      t.unset(i, F_RTT)
      backoff(t, i)
      out.sendSyn(i)
      this.s.counters.inc(C_RETRANSMIT)
      this.armRtx(i, t.rto[i])
      return
    }
    const outstanding = t.sndMax[i] !== t.sndUna[i]
    if (t.retries[i] >= this.maxRetries) {
      // RFC 1122 §4.2.3.5: R2 reached; the connection is given up.
      this.s.counters.inc(C_TIMEOUT)
      out.sendRst(i)
      this.drop(i, ERR_TIMEDOUT)
      return
    }
    if (t.has(i, F_PERSIST) || !outstanding) {
      if (!seqLt(t.sndNxt[i], out.dataEnd(i)) && !t.has(i, F_PERSIST) && !(t.has(i, F_FIN_QUEUED) && !out.finSent(i))) return
      t.retries[i]++
      backoff(t, i)
      out.persist(i)
      this.armRtx(i, t.rto[i])
      return
    }
    // RFC 6298 §5.4–5.6 and RFC 5681 §3.1: go back to SND.UNA with a loss window.
    onTimeout(t, i)
    t.retries[i]++
    t.sndNxt[i] = t.sndUna[i]
    out.output(i, false)
    // A window that shut (or an update reordered behind an older one) lets nothing go: the retransmission
    // is then a one-byte probe (RFC 9293 §3.8.6.1: retransmit even when the window is zero).
    if (t.sndNxt[i] === t.sndUna[i] && !t.has(i, F_OUTPUT)) out.probeFirst(i)
    if (!t.has(i, F_RTX_ON)) this.armRtx(i, t.rto[i])
  }

  /** kaAt expired: the orphan FIN-WAIT-2 limit, or a keep-alive probe (RFC 1122 §4.2.3.6). */
  private kaExpired(i: number): void {
    const t = this.t
    const st = t.state[i]
    if (st === ST_FIN_WAIT_2 && t.has(i, F_ORPHAN)) {
      this.release(i)
      return
    }
    if (!t.has(i, F_KEEPALIVE) || !(st === ST_ESTABLISHED || st === ST_CLOSE_WAIT || st === ST_FIN_WAIT_2)) return
    if (t.sndMax[i] !== t.sndUna[i]) {
      // Data is outstanding: the retransmission timer watches the peer.
      this.armKa(i, t.kaIdle[i] * 1000)
      return
    }
    if (t.kaProbes[i] >= this.keepAliveProbes) {
      this.s.counters.inc(C_TIMEOUT)
      this.out.sendRst(i)
      this.drop(i, ERR_TIMEDOUT)
      return
    }
    t.kaProbes[i]++
    this.out.sendKeepAlive(i)
    this.armKa(i, this.keepAliveIntervalMs)
  }

  /** Any acceptable segment from the peer: it is alive, restart the keep-alive idle time. */
  touchKeepAlive(i: number): void {
    const t = this.t
    if (!t.has(i, F_KEEPALIVE)) return
    t.kaProbes[i] = 0
    this.armKa(i, t.kaIdle[i] * 1000)
  }

  // ---- app events -----------------------------------------------------------------------------------

  /** Delivers the events waiting for the app (connect, data, end, drain, close). */
  private deliver(): void {
    const t = this.t
    this.delivering = true
    try {
      for (let i = 0; i < t.n; i++) {
        if ((t.flags[i] & F_EV_ANY) === 0) continue
        if (t.has(i, F_EV_CONNECT)) {
          t.unset(i, F_EV_CONNECT)
          const h = this.handlers[i]
          if (h !== null) h.onConnect(i)
        }
        if (t.has(i, F_EV_DATA)) {
          t.unset(i, F_EV_DATA)
          this.deliverData(i)
        }
        if (t.has(i, F_EV_END) && t.rxLen[i] === 0) {
          t.unset(i, F_EV_END)
          const h = this.handlers[i]
          if (!t.has(i, F_END_DONE) && h !== null) {
            t.set(i, F_END_DONE)
            h.onEnd(i)
          }
        }
        if (t.has(i, F_EV_DRAIN)) {
          t.unset(i, F_EV_DRAIN)
          const h = this.handlers[i]
          if (h !== null) h.onDrain(i)
        }
        if (t.has(i, F_EV_CLOSE)) {
          const h = this.handlers[i]
          const err = t.err[i]
          this.handlers[i] = null
          if (t.state[i] === ST_FREE) t.clear(i)
          else t.flags[i] = (t.flags[i] & ~F_EV_ANY) | F_ORPHAN
          if (h !== null) h.onClose(i, err)
        }
      }
    } finally {
      this.delivering = false
    }
  }

  /**
   * Offers the unread bytes of TCB `i` to its handler until it stops consuming (one view per contiguous
   * part of the ring), then announces the window the reading opened, if that is due.
   */
  private deliverData(i: number): void {
    const t = this.t
    const size = this.rxSize
    const base = this.rxRing(i)
    const u8 = this.s.u8
    let read = 0
    for (;;) {
      const h = this.handlers[i]
      const len = t.rxLen[i]
      if (h === null || len === 0) break
      const pos = (t.rcvNxt[i] - len - (t.has(i, F_RX_FIN) ? 1 : 0)) & (size - 1)
      const n = size - pos < len ? size - pos : len
      let took = h.onData(i, u8.subarray(base + pos, base + pos + n))
      if (this.handlers[i] !== h) return
      if (!(took > 0)) took = 0
      if (took > n) took = n
      t.rxLen[i] = len - took
      read += took
      if (took < n) break
    }
    if (read > 0 && t.state[i] !== ST_FREE && this.out.windowUpdateDue(i)) {
      t.set(i, F_ACK_NOW)
      this.out.output(i, false)
    }
  }

  // ---- TCB lifecycle --------------------------------------------------------------------------------

  /** The TCB of the 4-tuple (our address, `lport`) ↔ (`rip`, `rport`), or -1. */
  lookup(rip: number, rport: number, lport: number): number {
    const t = this.t
    for (let i = 0; i < t.n; i++) {
      if (t.state[i] !== ST_FREE && t.remotePort[i] === rport && t.localPort[i] === lport && t.remoteIp[i] === rip) return i
    }
    return -1
  }

  /** A free TCB, or the oldest TIME-WAIT one (recycled), or -1 when the table is full. */
  alloc(): number {
    const t = this.t
    let tw = -1
    for (let i = 0; i < t.n; i++) {
      const st = t.state[i]
      if (st === ST_FREE && (t.flags[i] & F_EV_ANY) === 0) return i
      if (st === ST_TIME_WAIT && (tw < 0 || ((t.rtxAt[i] - t.rtxAt[tw]) | 0) < 0)) tw = i
    }
    if (tw >= 0) {
      this.s.counters.inc(C_RECYCLED)
      this.release(tw)
      return tw
    }
    this.s.counters.inc(C_TABLE_FULL)
    return -1
  }

  /** Fills a free TCB for a new connection (state left to the caller). */
  initTcb(i: number, rip: number, rport: number, lport: number, iss: number, h: TcpHandler | null): void {
    const t = this.t
    t.clear(i)
    tcpReasmClear(this.s.u32, this.holesOff(i))
    t.remoteIp[i] = rip
    t.remotePort[i] = rport
    t.localPort[i] = lport
    t.sndUna[i] = iss
    t.sndNxt[i] = (iss + 1) >>> 0
    t.sndMax[i] = (iss + 1) >>> 0
    t.recover[i] = iss
    t.mss[i] = OUR_MSS
    t.rto[i] = RTO_INITIAL
    t.wscale[i] = this.rcvShift << 4
    t.kaIdle[i] = this.keepAliveIdleS > 65535 ? 65535 : this.keepAliveIdleS
    this.handlers[i] = h
  }

  /** Frees TCB `i` with no event (TIME-WAIT over, recycled, orphan done). */
  release(i: number): void {
    this.listeners.remove(i)
    this.handlers[i] = null
    this.t.clear(i)
  }

  /** The connection ends (reset, timeout, LAST-ACK done): tell the app, if it is still listening, then free. */
  drop(i: number, err: number): void {
    const t = this.t
    this.listeners.remove(i)
    const h = this.handlers[i]
    const tell = h !== null && !t.has(i, F_ORPHAN) && (t.has(i, F_OPENED) || !t.has(i, F_PASSIVE))
    if (!tell) {
      this.release(i)
      return
    }
    const keep = t.flags[i] & (F_EV_DATA | F_EV_END | F_EV_CONNECT)
    const rx = t.rxLen[i]
    const rcvNxt = t.rcvNxt[i]
    const rxFin = t.flags[i] & F_RX_FIN
    t.clear(i)
    // The TCB stays reserved until the app has been told (alloc skips free TCBs with events); unread
    // data is still offered first.
    t.rxLen[i] = rx
    t.rcvNxt[i] = rcvNxt
    t.err[i] = err
    t.flags[i] = keep | rxFin
    this.event(i, F_EV_CLOSE)
  }

  /** The handshake completed: the app hears of it (once). */
  opened(i: number): void {
    const t = this.t
    if (t.has(i, F_OPENED)) return
    t.set(i, F_OPENED)
    this.event(i, F_EV_CONNECT)
  }

  /** Our FIN is acknowledged in FIN-WAIT-1: an orphan waits a bounded time for the peer's FIN. */
  finWait2(i: number): void {
    if (this.t.has(i, F_ORPHAN)) this.armKa(i, this.finWait2Ms)
  }

  /** TIME-WAIT (RFC 9293 §3.10.7.4): both FINs are acknowledged; the app is told the connection is over. */
  timeWait(i: number): void {
    const t = this.t
    t.state[i] = ST_TIME_WAIT
    t.unset(i, F_KA_ON | F_PERSIST | F_RTT)
    this.armRtx(i, this.timeWaitMs)
    if (this.handlers[i] !== null && !t.has(i, F_ORPHAN)) this.event(i, F_EV_CLOSE)
  }

  /** Data arrived for a connection the app closed: RST (RFC 1122 §4.2.2.13) and free. */
  abortOrphan(i: number): void {
    this.out.sendRst(i)
    this.release(i)
  }

  /** RFC 5961 §7: true while this second's challenge-ACK budget lasts. */
  challengeAllowed(): boolean {
    const sec = Math.floor(this.nowUs / 1000000)
    if (sec !== this.challengeSecond) {
      this.challengeSecond = sec
      this.challengeCount = 0
    }
    if (this.challengeCount >= this.challengeLimit) return false
    this.challengeCount++
    return true
  }

  // ---- the app interface ----------------------------------------------------------------------------

  private valid(id: number): boolean {
    return id >= 0 && id < this.t.n && id === Math.floor(id) && this.t.state[id] !== ST_FREE && !this.t.has(id, F_ORPHAN)
  }

  /** Opens a listener on `port` (1..65535); its id, or TCP_ERR_PORT_IN_USE / TCP_ERR_TABLE_FULL / TCP_ERR_INVALID. */
  listen(port: number, handler: TcpHandler): number {
    if (port !== Math.floor(port) || port < 1 || port > 65535) return TCP_ERR_INVALID
    if (this.listeners.find(port) >= 0) return TCP_ERR_PORT_IN_USE
    const l = this.listeners.open(port, handler)
    return l < 0 ? TCP_ERR_TABLE_FULL : l
  }

  /** Closes listener `l`; its half-open connections are reset. Established connections stay. */
  unlisten(l: number, now?: number): void {
    if (!this.listeners.isOpen(l)) return
    if (now !== undefined) this.setNow(now)
    while (this.listeners.queued(l) > 0) {
      const i = this.listeners.queuedTcb(l, 0)
      this.out.sendRst(i)
      this.release(i)
    }
    this.listeners.close(l)
  }

  /** The port of listener `l`, or -1. */
  listenerPort(l: number): number {
    return this.listeners.isOpen(l) ? this.listeners.port(l) : -1
  }

  private portInUse(lport: number, rip: number, rport: number): boolean {
    if (this.listeners.find(lport) >= 0) return true
    return this.lookup(rip, rport, lport) >= 0
  }

  /**
   * Active open (RFC 9293 §3.10.1) to `ip`:`port` from `localPort` (0: ephemeral, RFC 6335 §6 range from a
   * random start, RFC 6056 §3.3.2). Returns the connection id; `handler` hears onConnect or onClose.
   * Errors: TCP_ERR_TABLE_FULL, TCP_ERR_PORT_IN_USE, TCP_ERR_NO_ROUTE, TCP_ERR_INVALID.
   */
  connect(ip: number, port: number, localPort: number, handler: TcpHandler, now: number): number {
    this.setNow(now)
    ip = ip >>> 0
    if (port !== Math.floor(port) || port < 1 || port > 65535) return TCP_ERR_INVALID
    if (localPort !== Math.floor(localPort) || localPort < 0 || localPort > 65535) return TCP_ERR_INVALID
    if (this.s.ipv4.route(ip, now) === IP_ERR_NO_ROUTE) return TCP_ERR_NO_ROUTE
    let lport = localPort
    if (lport === 0) {
      const span = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1
      for (let k = 0; k < span; k++) {
        const c = EPHEMERAL_FIRST + ((this.nextEphemeral - EPHEMERAL_FIRST + k) % span)
        if (!this.portInUse(c, ip, port)) {
          lport = c
          break
        }
      }
      if (lport === 0) return TCP_ERR_PORT_IN_USE
      this.nextEphemeral = lport === EPHEMERAL_LAST ? EPHEMERAL_FIRST : lport + 1
    } else if (this.lookup(ip, port, lport) >= 0) {
      return TCP_ERR_PORT_IN_USE
    }
    const i = this.alloc()
    if (i < 0) return TCP_ERR_TABLE_FULL
    const iss = this.isn.isn(this.s.addr, lport, ip, port, now)
    this.initTcb(i, ip, port, lport, iss, handler)
    const t = this.t
    t.state[i] = ST_SYN_SENT
    t.rttSeq[i] = (iss + 1) >>> 0
    t.rttStart[i] = this.nowMs & 0xffff
    t.set(i, F_RTT)
    this.s.counters.inc(C_CONNECT)
    this.out.sendSyn(i)
    this.armRtx(i, t.rto[i])
    return i
  }

  /** Bytes queued and not yet acknowledged. */
  sendQueued(id: number): number {
    return this.valid(id) ? this.t.txLen[id] : 0
  }

  /**
   * Queues bytes for sending (RFC 9293 §3.10.2 SEND) and sends what may go now. Returns how many were
   * taken (less than given when the send ring fills: onDrain follows), or TCP_ERR_CLOSED.
   * `data` may be a view of the arena (e.g. the receive ring, for an echo): it is copied inside the arena.
   * `more`: more follows at once (another send, or shutdown): queue only, so they leave together.
   */
  send(id: number, data: Uint8Array, now?: number, more?: boolean): number {
    if (!this.valid(id)) return TCP_ERR_CLOSED
    const t = this.t
    const st = t.state[id]
    if (t.has(id, F_FIN_QUEUED) || !(st === ST_SYN_SENT || st === ST_SYN_RCVD || st === ST_ESTABLISHED || st === ST_CLOSE_WAIT)) {
      return TCP_ERR_CLOSED
    }
    if (now !== undefined) this.setNow(now)
    const len = data.length
    const room = this.txSize - t.txLen[id]
    const n = len < room ? len : room
    if (n < len) t.set(id, F_WANT_DRAIN)
    if (n === 0) return 0
    const start = (t.sndUna[id] + (synchronized(st) ? 0 : 1) + t.txLen[id]) >>> 0
    const size = this.txSize
    const pos = start & (size - 1)
    const base = this.txRing(id)
    const first = size - pos < n ? size - pos : n
    const u8 = this.s.u8
    if (data.buffer === u8.buffer) {
      this.s.core.copy(base + pos, data.byteOffset, first)
      if (first < n) this.s.core.copy(base, data.byteOffset + first, n - first)
    } else if (first === len) {
      u8.set(data, base + pos)
    } else {
      u8.set(data.subarray(0, first), base + pos)
      if (first < n) u8.set(data.subarray(first, n), base)
    }
    t.txLen[id] += n
    if (!more) this.out.output(id, false)
    return n
  }

  /** Half-close (RFC 9293 §3.10.4 CLOSE on the sending side): FIN after the queued data. */
  shutdown(id: number, now?: number): number {
    if (!this.valid(id)) return TCP_ERR_CLOSED
    const t = this.t
    if (t.has(id, F_FIN_QUEUED)) return 0
    if (now !== undefined) this.setNow(now)
    t.set(id, F_FIN_QUEUED)
    const st = t.state[id]
    if (st === ST_ESTABLISHED) t.state[id] = ST_FIN_WAIT_1
    else if (st === ST_CLOSE_WAIT) t.state[id] = ST_LAST_ACK
    // SYN-SENT / SYN-RECEIVED: "queue for processing after entering ESTABLISHED" (input.ts established()).
    this.out.output(id, false)
    return 0
  }

  /**
   * The app is done with the connection: it finishes on its own (queued data, then FIN) and reports
   * nothing more. Unread data, or data arriving later, resets it instead (RFC 1122 §4.2.2.13). A
   * connection still in SYN-SENT is simply deleted (RFC 9293 §3.10.4).
   */
  close(id: number, now?: number): void {
    if (!this.valid(id)) return
    if (now !== undefined) this.setNow(now)
    const t = this.t
    this.handlers[id] = null
    t.flags[id] = (t.flags[id] & ~(F_EV_ANY | F_WANT_DRAIN)) | F_ORPHAN
    const st = t.state[id]
    if (st === ST_SYN_SENT) {
      this.release(id)
      return
    }
    if (t.rxLen[id] > 0) {
      this.out.sendRst(id)
      this.release(id)
      return
    }
    if (st === ST_TIME_WAIT) return
    if (!t.has(id, F_FIN_QUEUED)) {
      t.set(id, F_FIN_QUEUED)
      if (st === ST_ESTABLISHED) t.state[id] = ST_FIN_WAIT_1
      else if (st === ST_CLOSE_WAIT) t.state[id] = ST_LAST_ACK
      this.out.output(id, false)
    } else if (st === ST_FIN_WAIT_2) {
      this.finWait2(id)
    }
  }

  /** RFC 9293 §3.10.5 ABORT: RST to the peer (once synchronized or in SYN-RECEIVED), TCB freed, no event. */
  abort(id: number, now?: number): void {
    if (!this.valid(id)) return
    if (now !== undefined) this.setNow(now)
    const st = this.t.state[id]
    if (st !== ST_SYN_SENT && st !== ST_TIME_WAIT) this.out.sendRst(id)
    this.release(id)
  }

  /** Offers unread data again (after onData consumed less than it was given). */
  resume(id: number): void {
    if (this.valid(id) && (this.t.rxLen[id] > 0 || this.t.has(id, F_RX_FIN))) {
      this.event(id, F_EV_DATA)
      if (this.t.has(id, F_RX_FIN) && !this.t.has(id, F_END_DONE)) this.event(id, F_EV_END)
    }
  }

  /** Replaces the handler of connection `id` (e.g. in onConnect, to give each connection its own). */
  setHandler(id: number, h: TcpHandler): void {
    if (this.valid(id)) this.handlers[id] = h
  }

  /** Nagle's algorithm off (true) or on (false, the default); RFC 9293 §3.7.4. */
  setNoDelay(id: number, on: boolean): void {
    if (!this.valid(id)) return
    if (on) {
      this.t.set(id, F_NODELAY)
      this.out.output(id, false)
    } else {
      this.t.unset(id, F_NODELAY)
    }
  }

  /** Keep-alives on or off (RFC 1122 §4.2.3.6); `idleMs` > 0 sets this connection's idle time. */
  setKeepAlive(id: number, on: boolean, idleMs?: number, now?: number): void {
    if (!this.valid(id)) return
    if (now !== undefined) this.setNow(now)
    const t = this.t
    if (idleMs !== undefined && idleMs > 0) {
      const sec = Math.ceil(idleMs / 1000)
      t.kaIdle[id] = sec > 65535 ? 65535 : sec
    }
    if (on) {
      t.set(id, F_KEEPALIVE)
      t.kaProbes[id] = 0
      if (synchronized(t.state[id])) this.armKa(id, t.kaIdle[id] * 1000)
    } else {
      t.unset(id, F_KEEPALIVE | F_KA_ON)
    }
  }

  state(id: number): number {
    return id >= 0 && id < this.t.n ? this.t.state[id] : ST_FREE
  }

  remoteIp(id: number): number {
    return this.t.remoteIp[id]
  }

  remotePort(id: number): number {
    return this.t.remotePort[id]
  }

  localPort(id: number): number {
    return this.t.localPort[id]
  }

  /** Connections in use (not free), TIME-WAIT included. */
  inUse(): number {
    let n = 0
    for (let i = 0; i < this.t.n; i++) if (this.t.state[i] !== ST_FREE) n++
    return n
  }
}

/** The TCP module of `stack`, created (and hooked to stack.onTcp) on first use. */
export function attachTcp(stack: NetStack, o?: TcpOptions): Tcp {
  const holder = stack as unknown as { tcp?: Tcp }
  if (holder.tcp === undefined) holder.tcp = new Tcp(stack, o ? o : {})
  return holder.tcp
}
