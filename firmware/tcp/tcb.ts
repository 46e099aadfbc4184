// The TCP connection table: one Transmission Control Block per connection (RFC 9293 §3.3.1), stored as
// struct-of-arrays typed views on the arena region 'tcb state' (ARCHITECTURE.md: no JS object per
// connection). Device dialect.
//
// Bytes per TCB, not counting its rings and its reassembly tracker: 18 u32 + 9 u16 + 6 u8 = 96
// (TCB_BYTES, checked against SIZES.tcbState at boot).
//
// Rings: the byte with sequence number s lives at ring offset (s & (size - 1)) of the TCB's send or receive
// ring. Ring sizes are powers of two, so they divide 2^32 and the mapping survives the sequence wrap; no
// ring head or tail is stored. The send ring holds txLen bytes from the first unacknowledged data byte
// (SND.UNA, or ISS + 1 while our SYN is unacknowledged); the receive ring holds rxLen bytes the app has
// not read yet, ending at RCV.NXT, followed by out-of-order data the tracker ('tcp holes') knows about.
//
// Times are u32 milliseconds of the stack clock (now / 1000, modulo 2^32), compared like sequence numbers.
import { SIZES } from '../kernel/arena.js'

// ---- states (RFC 9293 §3.3.2) ----------------------------------------------------------------------
/** The TCB is free (CLOSED: "no connection state at all"). LISTEN lives in the listener table. */
export const ST_FREE = 0
export const ST_SYN_SENT = 1
export const ST_SYN_RCVD = 2
export const ST_ESTABLISHED = 3
export const ST_FIN_WAIT_1 = 4
export const ST_FIN_WAIT_2 = 5
export const ST_CLOSE_WAIT = 6
export const ST_CLOSING = 7
export const ST_LAST_ACK = 8
export const ST_TIME_WAIT = 9

export const STATE_NAMES = [
  'CLOSED', 'SYN-SENT', 'SYN-RECEIVED', 'ESTABLISHED', 'FIN-WAIT-1', 'FIN-WAIT-2', 'CLOSE-WAIT', 'CLOSING',
  'LAST-ACK', 'TIME-WAIT',
]

/** True in the synchronized states (RFC 9293 §3.5: the SYNs of both sides have been exchanged). */
export function synchronized(state: number): boolean {
  return state >= ST_ESTABLISHED
}

// ---- flags (the u32 `flags` word) ------------------------------------------------------------------
/** Nagle's algorithm off (RFC 9293 §3.7.4, setNoDelay). */
export const F_NODELAY = 1 << 0
/** Keep-alives on (RFC 9293 §3.8.4, setKeepAlive). */
export const F_KEEPALIVE = 1 << 1
/** An ACK must go out now (out-of-order data, a window update, a challenge). */
export const F_ACK_NOW = 1 << 2
/** One in-order segment arrived unacknowledged: the next one, or the delayed-ACK timer, acknowledges. */
export const F_DELACK = 1 << 3
/** The app shut down its sending side: a FIN follows the queued data. */
export const F_FIN_QUEUED = 1 << 4
/** Our FIN has been acknowledged. */
export const F_FIN_ACKED = 1 << 5
/** Both sides sent SACK-permitted (RFC 2018 §2): we add SACK blocks to our ACKs. */
export const F_SACK_OK = 1 << 6
/** Fast recovery in progress (RFC 6582 §3.2). */
export const F_RECOVERY = 1 << 7
/** A segment is being timed for the RTT (RFC 6298 §3); rttSeq / rttStart describe it. */
export const F_RTT = 1 << 8
/** rtxAt is armed: retransmission, persist, SYN, or TIME-WAIT expiry. */
export const F_RTX_ON = 1 << 9
/** kaAt is armed: keep-alive, or the FIN-WAIT-2 timeout of an orphaned connection. */
export const F_KA_ON = 1 << 10
/** The outstanding byte is a zero-window probe (RFC 9293 §3.8.6.1): its timer is the persist timer. */
export const F_PERSIST = 1 << 11
/** Opened by a listener (passive OPEN). */
export const F_PASSIVE = 1 << 12
/** The app let go of the connection (close): it finishes on its own and tells no one. */
export const F_ORPHAN = 1 << 13
/** Output was refused (TX ring or ARP queue full): try again at the next poll. */
export const F_OUTPUT = 1 << 14
/** The peer's FIN has been received. */
export const F_RX_FIN = 1 << 15
/** send() could not take everything: tell the app when the ring has room (onDrain). */
export const F_WANT_DRAIN = 1 << 16
// Events waiting for the app (delivered in the TCP timer pass, in this order).
export const F_EV_CONNECT = 1 << 17
export const F_EV_DATA = 1 << 18
export const F_EV_END = 1 << 19
export const F_EV_DRAIN = 1 << 20
export const F_EV_CLOSE = 1 << 21
export const F_EV_ANY = F_EV_CONNECT | F_EV_DATA | F_EV_END | F_EV_DRAIN | F_EV_CLOSE
/** 'end' has been told to the app. */
export const F_END_DONE = 1 << 22
/** The handshake completed: the app has been (or is being) told of the connection. */
export const F_OPENED = 1 << 23
/** Both sides sent the window scale option (RFC 7323 §2.2): the shifts in `wscale` apply. */
export const F_WS_OK = 1 << 24

// ---- errors told to the app (the `err` byte) -------------------------------------------------------
export const ERR_NONE = 0
/** RST in answer to our SYN (RFC 9293 §3.10.7.3). */
export const ERR_REFUSED = 1
/** RST in a synchronized state (RFC 9293 §3.10.7.4 second step). */
export const ERR_RESET = 2
/** Retransmissions or keep-alive probes went unanswered (RFC 1122 §4.2.3.5 R2). */
export const ERR_TIMEDOUT = 3
/** No route to the peer (no address, off-subnet without a gateway). */
export const ERR_NO_ROUTE = 4
/** Closed locally by abort(). */
export const ERR_ABORTED = 5

/** Bytes of state per TCB (≤ SIZES.tcbState). */
export const TCB_BYTES = 18 * 4 + 9 * 2 + 6

export class TcbTable {
  /** TCBs in the table. */
  readonly n: number
  // u32: addresses, sequence space, windows, congestion state, timers, ring fill levels, flags.
  readonly remoteIp: Uint32Array
  /** SND.UNA, SND.NXT, and the highest sequence number sent (SND.NXT is pulled back after a timeout). */
  readonly sndUna: Uint32Array
  readonly sndNxt: Uint32Array
  readonly sndMax: Uint32Array
  readonly sndWl1: Uint32Array
  readonly sndWl2: Uint32Array
  /** SND.WND in bytes (scaled). */
  readonly sndWnd: Uint32Array
  readonly rcvNxt: Uint32Array
  /** RCV.NXT + the window last advertised: the right edge we promised (never moved left). */
  readonly rcvAdv: Uint32Array
  /** NewReno's `recover` (RFC 6582 §3.2). */
  readonly recover: Uint32Array
  readonly cwnd: Uint32Array
  readonly ssthresh: Uint32Array
  /** The ACK that ends the RTT measurement in progress. */
  readonly rttSeq: Uint32Array
  /** Deadlines (ms): retransmission/persist/SYN/TIME-WAIT, and keep-alive/FIN-WAIT-2. */
  readonly rtxAt: Uint32Array
  readonly kaAt: Uint32Array
  /** Bytes in the send ring (unacknowledged + unsent) and unread bytes in the receive ring. */
  readonly txLen: Uint32Array
  readonly rxLen: Uint32Array
  readonly flags: Uint32Array
  // u16
  readonly localPort: Uint16Array
  readonly remotePort: Uint16Array
  /** Effective send MSS (RFC 9293 §3.7.1). */
  readonly mss: Uint16Array
  /** The current RTO in ms, backed off after timeouts (RFC 6298). */
  readonly rto: Uint16Array
  /** SRTT × 8 and RTTVAR × 4 in ms (RFC 6298 §2), saturating at 65535. */
  readonly srtt8: Uint16Array
  readonly rttvar4: Uint16Array
  /** Low 16 bits of the ms clock when the timed segment left (an RTT sample is < RTO ≤ 60 s < 65.5 s). */
  readonly rttStart: Uint16Array
  /** The largest window field the peer has sent (MAX.SND.WND = this << send scale). */
  readonly maxWnd: Uint16Array
  /** Keep-alive idle time in seconds (RFC 1122 §4.2.3.6: default ≥ 2 hours). */
  readonly kaIdle: Uint16Array
  // u8
  readonly state: Uint8Array
  /** Window scale shifts (RFC 7323 §2): send shift in the low nibble, receive shift in the high one. */
  readonly wscale: Uint8Array
  readonly dupacks: Uint8Array
  /** Consecutive timeouts of the current segment (retransmissions, persist probes, SYNs). */
  readonly retries: Uint8Array
  /** Keep-alive probes sent without an answer. */
  readonly kaProbes: Uint8Array
  /** ERR_* told to the app with onClose. */
  readonly err: Uint8Array
  /** Every field array, for clear(). */
  private readonly all: (Uint32Array | Uint16Array | Uint8Array)[] = []

  constructor(buffer: ArrayBuffer, offset: number, size: number, n: number) {
    if (TCB_BYTES > SIZES.tcbState) throw new Error('tcp: a TCB needs ' + TCB_BYTES + ' bytes, SIZES.tcbState is ' + SIZES.tcbState)
    if (n * TCB_BYTES > size || (offset & 3) !== 0) throw new Error('tcp: the tcb state region does not fit its table')
    this.n = n
    let at = offset
    const all = this.all
    const u32 = function (): Uint32Array {
      const a = new Uint32Array(buffer, at, n)
      at += 4 * n
      all.push(a)
      return a
    }
    this.remoteIp = u32()
    this.sndUna = u32()
    this.sndNxt = u32()
    this.sndMax = u32()
    this.sndWl1 = u32()
    this.sndWl2 = u32()
    this.sndWnd = u32()
    this.rcvNxt = u32()
    this.rcvAdv = u32()
    this.recover = u32()
    this.cwnd = u32()
    this.ssthresh = u32()
    this.rttSeq = u32()
    this.rtxAt = u32()
    this.kaAt = u32()
    this.txLen = u32()
    this.rxLen = u32()
    this.flags = u32()
    const u16 = function (): Uint16Array {
      const a = new Uint16Array(buffer, at, n)
      at += 2 * n
      all.push(a)
      return a
    }
    this.localPort = u16()
    this.remotePort = u16()
    this.mss = u16()
    this.rto = u16()
    this.srtt8 = u16()
    this.rttvar4 = u16()
    this.rttStart = u16()
    this.maxWnd = u16()
    this.kaIdle = u16()
    const u8 = function (): Uint8Array {
      const a = new Uint8Array(buffer, at, n)
      at += n
      all.push(a)
      return a
    }
    this.state = u8()
    this.wscale = u8()
    this.dupacks = u8()
    this.retries = u8()
    this.kaProbes = u8()
    this.err = u8()
    new Uint8Array(buffer, offset, at - offset).fill(0)
  }

  /** Clears every field of TCB `i` (it becomes ST_FREE with no flags). */
  clear(i: number): void {
    const all = this.all
    for (let k = 0; k < all.length; k++) all[k][i] = 0
  }

  has(i: number, f: number): boolean {
    return (this.flags[i] & f) !== 0
  }

  set(i: number, f: number): void {
    this.flags[i] |= f
  }

  unset(i: number, f: number): void {
    this.flags[i] &= ~f
  }

  sndShift(i: number): number {
    return this.wscale[i] & 15
  }

  rcvShift(i: number): number {
    return this.wscale[i] >> 4
  }
}

/**
 * What the stack tells the owner of a connection (firmware/tcp/tcp.ts delivers these at the end of a poll,
 * never in the middle of processing a segment). `id` is the TCB index.
 */
export interface TcpHandler {
  /** The handshake completed: an active open is connected, or a listener has a new connection. */
  onConnect(id: number): void
  /**
   * In-order bytes from the peer: a view into the receive ring, valid only during the call. Returns how
   * many bytes were consumed; the rest stays in the ring (holding the receive window shut, so the peer
   * slows down) and is offered again after resume(id) or when more data arrives.
   */
  onData(id: number, data: Uint8Array): number
  /** The peer sent FIN and all its data has been consumed (RFC 9293 §3.10.7.4 eighth step). */
  onEnd(id: number): void
  /** The send ring has room again after send() took less than it was given. */
  onDrain(id: number): void
  /** The connection is over (ERR_NONE, or why); the id may be reused after this returns. */
  onClose(id: number, err: number): void
}
