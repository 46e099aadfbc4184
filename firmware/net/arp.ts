// ARP for IPv4 over Ethernet (RFC 826), with the cache rules of RFC 1122 §2.3.2 and the address
// announcements of RFC 5227. Device dialect.
//
// ARP POLICY
//
// Cache. A fixed table of budget.arpEntries entries (address -> MAC). An entry is REACHABLE for 60 s
// after its last confirmation: an ARP packet from that address carrying the same MAC, or an IPv4
// datagram to our unicast address from that address and MAC. After that it is STALE: still used,
// and the first datagram sent through a stale entry starts a verification, up to 3 unicast ARP
// requests to the cached MAC 1 s apart (RFC 1122 §2.3.2.1, "unicast poll"). An answer from the
// cached MAC makes the entry REACHABLE again; silence for 3 s deletes it, and the next datagram
// starts a fresh broadcast resolution. An entry neither used nor confirmed for 20 minutes is
// evicted (checked when it is looked up and when a slot is needed).
//
// Resolution. An unknown next hop gets an INCOMPLETE entry and a broadcast request; requests repeat
// at most once per second per target (RFC 1122 §2.3.2.1), 3 in all. Meanwhile whole frames wait in
// the 'arp pending' slots (one frame each); when the answer comes they leave in the order they were
// queued. If no answer comes within 3 s of the first request they are dropped and counted
// (arp.pending.timeout); their senders were told 0 ("queued") and learn of the loss from the
// counters only. A full pending queue refuses the datagram at once (an error to the sender,
// arp.pending.full).
//
// Learning: RFC 826's merge rule, restricted against cache poisoning.
//  - An existing entry is refreshed by any ARP packet from its address carrying the same MAC.
//  - New entries are created only when we need to resolve an address, or from an ARP *request*
//    whose target is our address (its sender is about to talk to us; RFC 826). Replies we did not
//    ask for and gratuitous ARP from others never create entries.
//  - An INCOMPLETE entry takes the MAC of the first ARP packet from its address.
//  - A resolved entry never changes its MAC because of an unsolicited claim (gratuitous ARP,
//    unsolicited reply, a request from another MAC): the claim is refused and counted
//    (arp.rx.conflict) and it starts the verification above. Only if the cached MAC stays silent
//    for 3 s is the entry dropped; the new MAC is then learned from the answer to a fresh broadcast
//    request. A genuine change (replaced NIC, fail-over) takes effect after about 3 s and the next
//    datagram; a spoofer cannot displace a host that still answers.
//  - Entries learned from requests that we never sent to give way to any newcomer. Entries we have
//    sent through are evicted only to resolve another address we need (least recently used first),
//    never because of incoming requests: a request flood cannot push out the gateway.
//  - Nothing is learned from frames with our own MAC as sender, a group (multicast/broadcast) sender
//    MAC, or a sender address that is multicast, broadcast, class E or loopback.
//  - Sender address 0.0.0.0 is an ARP probe (RFC 5227 §2.1.1): never learned; answered when it asks
//    for our address.
//  - Our own address as sender from another MAC is an address conflict (RFC 5227 §2.4): counted
//    (arp.rx.conflict), logged, and defended with one announcement at most every 10 s.
// Replies go only to requests for our own address, unicast to the requester (RFC 826).
// Announcements: two gratuitous ARP requests (sender = target = our address) 2 s apart, on link up
// and whenever the address changes (RFC 5227 §2.3).
import type { NetStack } from './stack.js'
import { Counters } from '../kernel/counters.js'
import { region } from '../kernel/arena.js'
import {
  D_ARP_OP, D_ARP_SHA, D_ARP_SPA, D_ARP_TPA, ARP_OP_REQUEST, ARP_OP_REPLY, ETHERTYPE_ARP, ETH_HEADER_BYTES,
  ARP_BYTES,
} from '../core/frame-desc.js'
import { ETH_MIN_FRAME, isGroupMac, macEquals, copyMac, formatMac } from './ethernet.js'
import { isMulticast, isLoopback, isReserved } from './addr.js'

/** Reachability lasts this long after a confirmation (then the entry is stale). */
export const ARP_REACHABLE_US = 60000000
/** An entry neither used nor confirmed for this long is evicted. */
export const ARP_IDLE_US = 1200000000
/** At most one request per target per second (RFC 1122 §2.3.2.1). */
export const ARP_RETRY_US = 1000000
/** Requests per resolution or verification before giving up. */
export const ARP_MAX_TRIES = 3
/** RFC 5227 §1.1: ANNOUNCE_NUM, ANNOUNCE_INTERVAL, DEFEND_INTERVAL. */
export const ARP_ANNOUNCE_NUM = 2
export const ARP_ANNOUNCE_INTERVAL_US = 2000000
export const ARP_DEFEND_INTERVAL_US = 10000000

/** Entry states. A REACHABLE entry whose confirmation is older than ARP_REACHABLE_US is stale. */
export const ARP_FREE = 0
export const ARP_INCOMPLETE = 1
export const ARP_REACHABLE = 2
export const ARP_PROBE = 3

/** resolve(): the next hop is being resolved; the frame may wait in a pending slot. */
export const ARP_RESOLVING = -1
/** resolve(): no cache entry could be taken for the next hop. */
export const ARP_CACHE_FULL = -2

/** Entry flag: we have sent through this entry (or asked for it). */
const F_USED = 1
/** Bytes of state in front of each pending frame (SIZES.arpPending): next hop u32, length u16, sequence u16. */
const PEND_STATE = 8

const C_ETH_TX = Counters.id('eth.tx')
const C_TX_FULL = Counters.id('eth.tx.ring-full')
const C_RX = Counters.id('arp.rx')
const C_TX = Counters.id('arp.tx')
const C_BAD = Counters.id('arp.rx.bad')
const C_IGNORED = Counters.id('arp.rx.ignored')
const C_CONFLICT = Counters.id('arp.rx.conflict')
const C_CACHE_FULL = Counters.id('arp.cache.full')
const C_PENDING_TIMEOUT = Counters.id('arp.pending.timeout')

/** True when 16-bit sequence number `a` was issued before `b`. */
// Made here, not in the constructor: a closure made there would keep the constructor's whole scope alive on
// Espruino, the arena region objects it read among them.
function arpTimer(a: Arp): (now: number) => void {
  return function (now: number) { a.tick(now) }
}

function seqBefore(a: number, b: number): boolean {
  return a !== b && ((b - a) & 0xffff) < 0x8000
}

export class Arp {
  private readonly s: NetStack
  /** Cache entries. */
  readonly entries: number
  // The 'arp cache' region as struct-of-arrays (SIZES.arpEntry = 40 bytes per entry).
  private readonly confirmed: Float64Array
  private readonly used: Float64Array
  private readonly reqAt: Float64Array
  private readonly ipOf: Uint32Array
  private readonly macBase: number
  private readonly state: Uint8Array
  private readonly tries: Uint8Array
  private readonly flags: Uint8Array
  /** Frames that can wait for a resolution ('arp pending' region: 8 bytes of state + a frame slot each). */
  readonly pendingSlots: number
  private readonly pendBase: number
  private readonly pendStride: number
  private pendSeq = 0
  private ready = 0
  private reserved = -1
  private readonly timer: number
  private announceLeft = 0
  private announceAt = 0
  private defendAt = -ARP_DEFEND_INTERVAL_US
  /**
   * Called for every well-formed ARP packet before the cache policy applies (e.g. for DHCP's
   * address check, RFC 2131 §4.4.1 / RFC 5227 §2.1.1). `shaOff` is the arena offset of the sender MAC.
   */
  onPacket: ((op: number, spa: number, tpa: number, shaOff: number) => void) | null = null

  constructor(s: NetStack) {
    this.s = s
    const buffer = s.core.buffer
    const r = region(s.layout, 'arp cache')
    const k = r.count
    this.entries = k
    let at = r.offset
    this.confirmed = new Float64Array(buffer, at, k)
    at += 8 * k
    this.used = new Float64Array(buffer, at, k)
    at += 8 * k
    this.reqAt = new Float64Array(buffer, at, k)
    at += 8 * k
    this.ipOf = new Uint32Array(buffer, at, k)
    at += 4 * k
    this.macBase = at
    at += 6 * k
    this.state = new Uint8Array(buffer, at, k)
    at += k
    this.tries = new Uint8Array(buffer, at, k)
    at += k
    this.flags = new Uint8Array(buffer, at, k)
    at += k
    if (at > r.offset + r.size) throw new Error('arp: the arp cache region is too small for its entries')
    s.u8.fill(0, r.offset, r.offset + r.size)

    const p = region(s.layout, 'arp pending')
    this.pendingSlots = p.count
    this.pendBase = p.offset
    this.pendStride = p.each
    if (p.each % 4 !== 0 || (p.count > 0 && p.each < PEND_STATE + 1514)) throw new Error('arp: pending slots must hold 8 bytes + a 1514-byte frame, 4-aligned')
    s.u8.fill(0, p.offset, p.offset + p.size)

    this.timer = s.timers.register('arp', arpTimer(this))
  }

  // ---- cache ----------------------------------------------------------------------------------

  /** Arena offset of entry `i`'s MAC. */
  macOffset(i: number): number {
    return this.macBase + 6 * i
  }

  private find(ip: number): number {
    for (let i = 0; i < this.entries; i++) if (this.state[i] !== ARP_FREE && this.ipOf[i] === ip) return i
    return -1
  }

  private lastActive(i: number): number {
    return this.used[i] > this.confirmed[i] ? this.used[i] : this.confirmed[i]
  }

  private expired(i: number, now: number): boolean {
    return this.state[i] !== ARP_INCOMPLETE && this.lastActive(i) + ARP_IDLE_US <= now
  }

  private free(i: number): void {
    this.state[i] = ARP_FREE
    this.flags[i] = 0
    this.tries[i] = 0
  }

  /** The entry for `ip`, dropping it when idle too long; -1 when none. */
  private live(ip: number, now: number): number {
    const i = this.find(ip)
    if (i >= 0 && this.expired(i, now)) {
      this.free(i)
      return -1
    }
    return i
  }

  /**
   * A slot for a new entry: a free or expired one, else (evicting) the least recently active entry
   * we never sent through, else — only when `own` (we need the entry ourselves) — the least recently
   * active of the others. INCOMPLETE entries are never evicted (frames wait on them). -1 when none.
   */
  private alloc(now: number, own: boolean): number {
    for (let i = 0; i < this.entries; i++) if (this.state[i] === ARP_FREE) return i
    for (let i = 0; i < this.entries; i++) {
      if (this.expired(i, now)) {
        this.free(i)
        return i
      }
    }
    let best = -1
    let bestUsed = true
    for (let i = 0; i < this.entries; i++) {
      if (this.state[i] === ARP_INCOMPLETE) continue
      const usedByUs = (this.flags[i] & F_USED) !== 0
      if (usedByUs && !own) continue
      if (best < 0 || (bestUsed && !usedByUs) || (bestUsed === usedByUs && this.lastActive(i) < this.lastActive(best))) {
        best = i
        bestUsed = usedByUs
      }
    }
    if (best >= 0) this.free(best)
    return best
  }

  /**
   * The cache entry to send to next hop `ip`: its index (MAC at macOffset) when known, possibly stale
   * (a verification starts), or ARP_RESOLVING (a request is out; queue the frame with pendingReserve /
   * pendingCommit), or ARP_CACHE_FULL.
   */
  resolve(ip: number, now: number): number {
    let i = this.live(ip, now)
    if (i < 0) {
      i = this.alloc(now, true)
      if (i < 0) {
        this.s.counters.inc(C_CACHE_FULL)
        return ARP_CACHE_FULL
      }
      this.ipOf[i] = ip
      this.state[i] = ARP_INCOMPLETE
      this.flags[i] = F_USED
      this.tries[i] = 0
      this.used[i] = now
      this.confirmed[i] = 0
      this.request(i, now)
      this.rearm()
      return ARP_RESOLVING
    }
    this.used[i] = now
    this.flags[i] |= F_USED
    const st = this.state[i]
    if (st === ARP_INCOMPLETE) return ARP_RESOLVING
    if (st === ARP_REACHABLE && this.confirmed[i] + ARP_REACHABLE_US <= now) this.startProbe(i, now)
    return i
  }

  /** Starts verifying entry `i` by unicast requests to its cached MAC. */
  private startProbe(i: number, now: number): void {
    this.state[i] = ARP_PROBE
    this.tries[i] = 0
    if (this.reqAt[i] + ARP_RETRY_US <= now) this.request(i, now)
    this.rearm()
  }

  /** One request for entry `i`: broadcast while resolving, unicast to the cached MAC while verifying. */
  private request(i: number, now: number): void {
    const s = this.s
    this.tries[i]++
    this.reqAt[i] = now
    this.send(ARP_OP_REQUEST, this.state[i] === ARP_PROBE ? this.macOffset(i) : s.bcastMacOff, s.zeroMacOff, this.ipOf[i])
  }

  /** Builds and queues one ARP packet from us (RFC 826 packet format), padded to the Ethernet minimum. */
  private send(op: number, dstMacOff: number, thaOff: number, tpa: number): boolean {
    const s = this.s
    const f = s.tx.reserve()
    if (f < 0) {
      s.tx.refuse()
      s.counters.inc(C_TX_FULL)
      return false
    }
    s.core.emitEthernet(f, dstMacOff, s.macOff, ETHERTYPE_ARP)
    s.core.emitArp(f + ETH_HEADER_BYTES, op, s.macOff, s.addr, thaOff, tpa)
    s.u8.fill(0, f + ETH_HEADER_BYTES + ARP_BYTES, f + ETH_MIN_FRAME)
    s.tx.commit(ETH_MIN_FRAME)
    s.counters.inc(C_TX)
    s.counters.inc(C_ETH_TX)
    return true
  }

  /** Announces our address now and once more ARP_ANNOUNCE_INTERVAL_US later (RFC 5227 §2.3). */
  announce(now: number): void {
    this.announceLeft = ARP_ANNOUNCE_NUM
    this.announceAt = now
    this.sendAnnouncement(now)
    this.rearm()
  }

  private sendAnnouncement(now: number): void {
    const s = this.s
    this.announceLeft--
    this.announceAt = now + ARP_ANNOUNCE_INTERVAL_US
    if (s.addr !== 0) this.send(ARP_OP_REQUEST, s.bcastMacOff, s.zeroMacOff, s.addr)
  }

  /** Sends an ARP probe for `ip` (sender address 0.0.0.0, RFC 5227 §2.1.1), e.g. before using a DHCP lease. */
  probe(ip: number): boolean {
    const s = this.s
    const saved = s.addr
    s.addr = 0
    const ok = this.send(ARP_OP_REQUEST, s.bcastMacOff, s.zeroMacOff, ip >>> 0)
    s.addr = saved
    return ok
  }

  /** An IPv4 datagram to our unicast address came from `ip` with Ethernet source at `macOff`: reachability confirmed. */
  confirm(ip: number, macOff: number, now: number): void {
    const i = this.find(ip)
    if (i < 0 || this.state[i] === ARP_INCOMPLETE || !macEquals(this.s.u8, macOff, this.macOffset(i))) return
    this.confirmed[i] = now
    if (this.state[i] === ARP_PROBE) {
      this.state[i] = ARP_REACHABLE
      this.tries[i] = 0
      this.rearm()
    }
  }

  // ---- input ----------------------------------------------------------------------------------

  /** An ARP packet the core parsed into the descriptor at `desc` (RFC 826 "Packet Reception"). */
  input(desc: number, now: number): void {
    const s = this.s
    const u8 = s.u8
    const u32 = s.u32
    const d = desc >> 2
    const op = u32[d + D_ARP_OP]
    const sha = u32[d + D_ARP_SHA]
    const spa = u32[d + D_ARP_SPA]
    const tpa = u32[d + D_ARP_TPA]
    s.counters.inc(C_RX)
    if (this.onPacket !== null) this.onPacket(op, spa, tpa, sha)
    if (isGroupMac(u8, sha)) {
      s.counters.inc(C_BAD)
      return
    }
    if (macEquals(u8, sha, s.macOff)) {
      s.counters.inc(C_IGNORED)
      return
    }
    const ours = s.addr
    const askedForUs = op === ARP_OP_REQUEST && ours !== 0 && tpa === ours
    if (spa === 0) {
      // An ARP probe (RFC 5227 §2.1.1): answer it when it is for our address, learn nothing.
      if (askedForUs) this.send(ARP_OP_REPLY, sha, sha, 0)
      else s.counters.inc(C_IGNORED)
      return
    }
    if (ours !== 0 && spa === ours) {
      this.conflict(sha, now)
      return
    }
    if (isMulticast(spa) || isReserved(spa) || isLoopback(spa) || spa === s.subnetBcast) {
      s.counters.inc(C_BAD)
      return
    }
    let i = this.live(spa, now)
    let handled = false
    if (i >= 0) {
      handled = true
      const st = this.state[i]
      if (st === ARP_INCOMPLETE) {
        copyMac(u8, this.macOffset(i), sha)
        this.state[i] = ARP_REACHABLE
        this.confirmed[i] = now
        this.tries[i] = 0
        this.markReady(i)
        this.rearm()
      } else if (macEquals(u8, sha, this.macOffset(i))) {
        this.confirmed[i] = now
        if (st === ARP_PROBE) {
          this.state[i] = ARP_REACHABLE
          this.tries[i] = 0
          this.rearm()
        }
      } else {
        // A different MAC for a resolved address: refuse, verify the cached one.
        s.counters.inc(C_CONFLICT)
        if (st !== ARP_PROBE) this.startProbe(i, now)
      }
    } else if (askedForUs) {
      handled = true
      i = this.alloc(now, false)
      if (i >= 0) {
        this.ipOf[i] = spa
        copyMac(u8, this.macOffset(i), sha)
        this.state[i] = ARP_REACHABLE
        this.flags[i] = 0
        this.tries[i] = 0
        this.confirmed[i] = now
        this.used[i] = 0
        this.reqAt[i] = -ARP_RETRY_US
      } else {
        s.counters.inc(C_CACHE_FULL)
      }
    }
    if (askedForUs) this.send(ARP_OP_REPLY, sha, sha, spa)
    else if (!handled) s.counters.inc(C_IGNORED)
  }

  /** Someone else claims our address (RFC 5227 §2.4 (b)): count, log, defend at most every 10 s. */
  private conflict(shaOff: number, now: number): void {
    const s = this.s
    s.counters.inc(C_CONFLICT)
    s.log('arp: address conflict: another host (' + formatMac(s.u8, shaOff) + ') claims our address')
    if (now - this.defendAt >= ARP_DEFEND_INTERVAL_US) {
      this.defendAt = now
      this.send(ARP_OP_REQUEST, s.bcastMacOff, s.zeroMacOff, s.addr)
    }
  }

  // ---- timer ----------------------------------------------------------------------------------

  /** The ARP timer (called by the stack's timer table). */
  tick(now: number): void {
    for (let i = 0; i < this.entries; i++) {
      const st = this.state[i]
      if ((st !== ARP_INCOMPLETE && st !== ARP_PROBE) || this.reqAt[i] + ARP_RETRY_US > now) continue
      if (this.tries[i] >= ARP_MAX_TRIES) {
        if (st === ARP_INCOMPLETE) this.dropPending(this.ipOf[i])
        this.free(i)
      } else {
        this.request(i, now)
      }
    }
    if (this.announceLeft > 0 && this.announceAt <= now) this.sendAnnouncement(now)
    this.rearm()
  }

  private rearm(): void {
    let next = -1
    for (let i = 0; i < this.entries; i++) {
      const st = this.state[i]
      if (st !== ARP_INCOMPLETE && st !== ARP_PROBE) continue
      const t = this.reqAt[i] + ARP_RETRY_US
      if (next < 0 || t < next) next = t
    }
    if (this.announceLeft > 0 && (next < 0 || this.announceAt < next)) next = this.announceAt
    if (next < 0) this.s.timers.cancel(this.timer)
    else this.s.timers.arm(this.timer, next)
  }

  // ---- frames waiting for a resolution ----------------------------------------------------------

  private slot(p: number): number {
    return this.pendBase + p * this.pendStride
  }

  private pendLen(p: number): number {
    return this.s.u16[(this.slot(p) + 4) >> 1]
  }

  /** Free pending slots. */
  pendingRoom(): number {
    let n = 0
    for (let p = 0; p < this.pendingSlots; p++) if (this.pendLen(p) === 0) n++
    return n
  }

  /** Frames waiting (for a resolution, or for room in the TX ring). */
  pendingCount(): number {
    return this.pendingSlots - this.pendingRoom()
  }

  /** Offset where the next waiting frame is built (the same until pendingCommit), or -1 when full. */
  pendingReserve(): number {
    if (this.reserved >= 0 && this.pendLen(this.reserved) === 0) return this.slot(this.reserved) + PEND_STATE
    for (let p = 0; p < this.pendingSlots; p++) {
      if (this.pendLen(p) === 0) {
        this.reserved = p
        return this.slot(p) + PEND_STATE
      }
    }
    return -1
  }

  /** Queues the reserved frame of `len` bytes until next hop `hop` is resolved (its destination MAC is filled then). */
  pendingCommit(hop: number, len: number): void {
    const p = this.reserved
    if (p < 0) throw new Error('arp: pendingCommit without pendingReserve')
    const at = this.slot(p)
    const s = this.s
    s.u32[at >> 2] = hop
    s.u16[(at + 4) >> 1] = len
    s.u16[(at + 6) >> 1] = this.pendSeq
    this.pendSeq = (this.pendSeq + 1) & 0xffff
    this.reserved = -1
    // The hop may already be resolved (e.g. answered while this frame was being built).
    const i = this.find(hop)
    if (i >= 0 && this.state[i] !== ARP_INCOMPLETE) this.markReady(i)
  }

  /** Entry `i` is resolved: its waiting frames get the MAC and are ready to go (next hop word cleared). */
  private markReady(i: number): void {
    const s = this.s
    const ip = this.ipOf[i]
    const mac = this.macOffset(i)
    for (let p = 0; p < this.pendingSlots; p++) {
      const at = this.slot(p)
      if (this.pendLen(p) === 0 || s.u32[at >> 2] !== ip) continue
      copyMac(s.u8, at + PEND_STATE, mac)
      s.u32[at >> 2] = 0
      this.ready++
    }
    this.flushReady()
  }

  /** Moves ready frames to the TX ring, oldest first, as long as it has room. */
  flushReady(): void {
    const s = this.s
    while (this.ready > 0) {
      let best = -1
      for (let p = 0; p < this.pendingSlots; p++) {
        const at = this.slot(p)
        if (this.pendLen(p) === 0 || s.u32[at >> 2] !== 0) continue
        if (best < 0 || seqBefore(s.u16[(at + 6) >> 1], s.u16[(this.slot(best) + 6) >> 1])) best = p
      }
      if (best < 0) {
        this.ready = 0
        return
      }
      const f = s.tx.reserve()
      if (f < 0) return
      const at = this.slot(best)
      const len = this.pendLen(best)
      s.core.copy(f, at + PEND_STATE, len)
      s.tx.commit(len)
      s.u16[(at + 4) >> 1] = 0
      this.ready--
      s.counters.inc(C_ETH_TX)
    }
  }

  /** Drops the frames waiting for `ip` (its resolution failed). */
  private dropPending(ip: number): void {
    const s = this.s
    for (let p = 0; p < this.pendingSlots; p++) {
      const at = this.slot(p)
      if (this.pendLen(p) !== 0 && s.u32[at >> 2] === ip) {
        s.u16[(at + 4) >> 1] = 0
        s.counters.inc(C_PENDING_TIMEOUT)
      }
    }
  }

  // ---- inspection (console, tests) --------------------------------------------------------------

  /** 'none' | 'incomplete' | 'reachable' | 'stale' | 'probe' for `ip` at `now` (no side effects). */
  describe(ip: number, now: number): string {
    const i = this.find(ip >>> 0)
    if (i < 0 || this.expired(i, now)) return 'none'
    const st = this.state[i]
    if (st === ARP_INCOMPLETE) return 'incomplete'
    if (st === ARP_PROBE) return 'probe'
    return this.confirmed[i] + ARP_REACHABLE_US <= now ? 'stale' : 'reachable'
  }

  /** The cached MAC of `ip` as "aa:bb:..", or '' when there is none. */
  macOf(ip: number): string {
    const i = this.find(ip >>> 0)
    if (i < 0 || this.state[i] === ARP_INCOMPLETE) return ''
    return formatMac(this.s.u8, this.macOffset(i))
  }
}
