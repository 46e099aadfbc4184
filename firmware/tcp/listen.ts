// Listening sockets (RFC 9293 §3.10.7.2 LISTEN), their half-open queues, and SYN cookies. Device dialect.
//
// The table lives in the arena region 'tcp listeners': per listener 8 bytes (port u16, open u8, queued u8,
// spare u32) and `backlog` u32 slots holding the TCB index of each half-open connection (SYN-RECEIVED), in
// arrival order. A connection leaves the queue when its handshake completes (it is handed to the app at
// once: there is no accept queue to fill) or fails.
//
// SYN-flood defence: a bounded half-open queue per listener, backed by SYN cookies. While a listener has
// fewer than `backlog` half-open connections and a TCB is free, a SYN gets a TCB in SYN-RECEIVED with a
// normal RFC 6528 ISN and full option negotiation (window scale, SACK). When the queue or the table is full,
// the SYN is answered statelessly: the SYN-ACK's sequence number is a cookie (below) and nothing is kept;
// an ACK that returns a valid cookie creates the connection directly in ESTABLISHED. A flood of spoofed
// SYNs therefore holds at most `backlog` TCBs per listener (each for its SYN-ACK retransmissions only) and
// never keeps a legitimate client out. Cookie connections have no window scaling and no SACK (the cookie
// cannot carry them without timestamps) and their MSS is rounded down to one of eight values.
//
// Cookie layout (32 bits, the ISN of our SYN-ACK):
//   bits 31..27  time slot (64 s slots, modulo 32): a cookie is valid in its slot and the next one
//   bits 26..24  MSS index into COOKIE_MSS
//   bits 23..0   HalfSipHash(cookie key; 4-tuple, the client's ISN, the full slot number) & 0xFFFFFF
// A forged ACK has one chance in 2^24 per attempt (times two slots) of being taken.
import type { IsnGenerator } from './isn.js'
import type { TcpHandler } from './tcb.js'

export const COOKIE_MSS = [216, 536, 1024, 1200, 1360, 1400, 1440, 1460]
const COOKIE_SLOT_MS = 64000

const L_PORT = 0
const L_OPEN = 2
const L_QUEUED = 3
const L_SLOTS = 8

export class Listeners {
  /** Listeners in the table and half-open slots per listener. */
  readonly n: number
  readonly backlog: number
  private readonly u8: Uint8Array
  private readonly u16: Uint16Array
  private readonly u32: Uint32Array
  private readonly base: number
  private readonly each: number
  /** Per listener, the app's handler (kept outside the arena: it is a JS object). */
  readonly handlers: (TcpHandler | null)[]

  constructor(buffer: ArrayBuffer, offset: number, count: number, each: number) {
    this.n = count
    this.base = offset
    this.each = each
    this.backlog = count > 0 ? (each - L_SLOTS) >> 2 : 0
    this.u8 = new Uint8Array(buffer)
    this.u16 = new Uint16Array(buffer, 0, buffer.byteLength >> 1)
    this.u32 = new Uint32Array(buffer, 0, buffer.byteLength >> 2)
    if ((offset & 3) !== 0 || (each & 3) !== 0) throw new Error('tcp: listener table must be 4-byte aligned')
    this.u8.fill(0, offset, offset + count * each)
    this.handlers = []
    for (let l = 0; l < count; l++) this.handlers.push(null)
  }

  private at(l: number): number {
    return this.base + l * this.each
  }

  isOpen(l: number): boolean {
    return l >= 0 && l < this.n && this.u8[this.at(l) + L_OPEN] !== 0
  }

  port(l: number): number {
    return this.u16[(this.at(l) + L_PORT) >> 1]
  }

  /** The open listener on `port`, or -1. */
  find(port: number): number {
    for (let l = 0; l < this.n; l++) if (this.u8[this.at(l) + L_OPEN] !== 0 && this.port(l) === port) return l
    return -1
  }

  /** Takes a free entry for `port`; the listener index, or -1 when the table is full. */
  open(port: number, handler: TcpHandler): number {
    for (let l = 0; l < this.n; l++) {
      const a = this.at(l)
      if (this.u8[a + L_OPEN] === 0) {
        this.u16[(a + L_PORT) >> 1] = port
        this.u8[a + L_OPEN] = 1
        this.u8[a + L_QUEUED] = 0
        this.handlers[l] = handler
        return l
      }
    }
    return -1
  }

  close(l: number): void {
    const a = this.at(l)
    this.u8.fill(0, a, a + this.each)
    this.handlers[l] = null
  }

  /** Half-open connections queued on listener `l`. */
  queued(l: number): number {
    return this.u8[this.at(l) + L_QUEUED]
  }

  /** The TCB index of half-open connection `k` (0 = oldest). */
  queuedTcb(l: number, k: number): number {
    return this.u32[((this.at(l) + L_SLOTS) >> 2) + k]
  }

  full(l: number): boolean {
    return this.queued(l) >= this.backlog
  }

  /** Queues TCB `tcb` as half-open on `l`; false when the queue is full. */
  add(l: number, tcb: number): boolean {
    const a = this.at(l)
    const q = this.u8[a + L_QUEUED]
    if (q >= this.backlog) return false
    this.u32[((a + L_SLOTS) >> 2) + q] = tcb
    this.u8[a + L_QUEUED] = q + 1
    return true
  }

  /** Removes TCB `tcb` from whichever queue holds it (its handshake completed or failed). */
  remove(tcb: number): void {
    for (let l = 0; l < this.n; l++) {
      const a = this.at(l)
      const q = this.u8[a + L_QUEUED]
      const w = (a + L_SLOTS) >> 2
      for (let k = 0; k < q; k++) {
        if (this.u32[w + k] !== tcb) continue
        for (let j = k + 1; j < q; j++) this.u32[w + j - 1] = this.u32[w + j]
        this.u8[a + L_QUEUED] = q - 1
        return
      }
    }
  }
}

/** The largest COOKIE_MSS index whose value does not exceed `mss`. */
function cookieMssIndex(mss: number): number {
  let k = 0
  for (let j = 1; j < COOKIE_MSS.length; j++) if (COOKIE_MSS[j] <= mss) k = j
  return k
}

/** The SYN cookie for a SYN from (rip, rport) to (lip, lport) carrying ISN `peerIsn` and MSS `mss`, at `nowUs`. */
export function makeCookie(g: IsnGenerator, lip: number, lport: number, rip: number, rport: number, peerIsn: number,
                           mss: number, nowUs: number): number {
  const slot = Math.floor(nowUs / 1000 / COOKIE_SLOT_MS)
  const m = cookieMssIndex(mss)
  const h = g.cookieHash(lip, lport, rip, rport, peerIsn, slot)
  return (((slot & 31) << 27) | (m << 24) | (h & 0xffffff)) >>> 0
}

/** Checks a returned cookie (the ACK's number minus one); the MSS it carries, or -1 when it is not ours or too old. */
export function checkCookie(g: IsnGenerator, lip: number, lport: number, rip: number, rport: number, peerIsn: number,
                            cookie: number, nowUs: number): number {
  const now = Math.floor(nowUs / 1000 / COOKIE_SLOT_MS)
  for (let back = 0; back < 2; back++) {
    const slot = now - back
    if (slot < 0 || (slot & 31) !== cookie >>> 27) continue
    const h = g.cookieHash(lip, lport, rip, rport, peerIsn, slot)
    if ((h & 0xffffff) === (cookie & 0xffffff)) return COOKIE_MSS[(cookie >>> 24) & 7]
  }
  return -1
}
