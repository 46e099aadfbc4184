// DHCP client (RFC 2131; options from RFC 2132). Device dialect.
//
// States (RFC 2131 §4.4, Figure 5), without INIT-REBOOT (§4.4.2):
//
//   stopped ─start─▶ SELECTING ─OFFER─▶ REQUESTING ─ACK─▶ BOUND ─T1─▶ RENEWING ─T2─▶ REBINDING
//                     ▲  DISCOVER again   REQUEST again     ▲            │ ACK          │ ACK
//                     │  4, 8 .. 64 s     4, 8 .. 64 s      └────────────┴──────────────┘
//                     │
//                     └─ NAK · 5 REQUESTs unanswered · NAK in RENEWING/REBINDING · lease expiry (address dropped)
//
// INIT is not a resting state here: entering it sends the DISCOVER at once (the optional random 1-10 s
// start-up wait of §4.4.1 is left to the caller, who decides when to call start()).
//
// Memory: every message is built into one Uint8Array allocated once at construction (or handed in by the
// caller, e.g. a slice of the arena) and sent whole. That buffer is boot-time state exactly like the timer
// table: its size is fixed by the hostname option and never changes, and no message allocates anything.
// Received messages are parsed in place in the view the UDP layer lends us; the values we keep are copied
// into fixed fields. The only allocation after boot is the small {ip, mask, gateway} object handed to
// setConfig, once per change of address (never per message or per renewal).
//
// Time: every value is in microseconds. The UDP receive callback carries no time, so a received reply is
// parsed and validated at once (the view is only valid during the callback) into fixed fields, and acted on
// from a timer armed at deadline 0, which the next poll's timer pass runs with the current time. (NetStack.poll
// runs timers before it delivers datagrams from the UDP rings, so that is one poll later; the loop polls again
// at once because the earliest deadline, 0, is already due. Without rings, budget.udpRxBytes 0, the reply comes
// during input, before the same poll's timer pass.) While one reply waits, further ones are dropped.

import type { RandomSource } from '../../hal/types.js'
import { Counters } from '../kernel/counters.js'
import type { TimerTable } from '../kernel/timers.js'
import { formatIp, maskToPrefix, isLoopback, isMulticast, isReserved } from './addr.js'

/** The address configuration the stack holds (u32 in network order: 10.0.0.1 = 0x0A000001; 0 = unset). */
export interface DhcpIpConfig { ip: number; mask: number; gateway: number }

/** The part of firmware/net/udp.ts's Udp that DHCP uses. */
export interface DhcpUdp {
  open(localPort: number, onDatagram: (srcIp: number, srcPort: number, dstIp: number, data: Uint8Array) => void): number
  send(id: number, dstIp: number, dstPort: number, data: Uint8Array, now: number): number
  close(id: number): void
}

/** The part of firmware/net/stack.ts's NetStack that DHCP uses (NetStack satisfies it). */
export interface DhcpStack {
  readonly mac: Uint8Array
  readonly counters: Counters
  readonly timers: TimerTable
  readonly udp: DhcpUdp
  config(): DhcpIpConfig
  setConfig(c: DhcpIpConfig, now: number): void
}

export interface DhcpClientOptions {
  /** Sent as option 12 (RFC 2132 §3.14), cut to 63 bytes; characters above 0xFF are sent as '?'. */
  hostname?: string
  /** Called when an address is configured or its mask/gateway change (not on a plain renewal). */
  onBound?: (ip: number, mask: number, gateway: number, leaseSeconds: number) => void
  /** Called when the address is taken away: lease expiry or a NAK while renewing/rebinding. */
  onLost?: () => void
  /** A buffer to build messages in instead of allocating one (e.g. a region of the arena). */
  scratch?: Uint8Array
}

// States (RFC 2131 §4.4, Figure 5)
export const DHCP_STOPPED = 0
export const DHCP_SELECTING = 1
export const DHCP_REQUESTING = 2
export const DHCP_BOUND = 3
export const DHCP_RENEWING = 4
export const DHCP_REBINDING = 5
/** The states' names, by number. A function, so that on Espruino the list stays in the code (flash). */
function stateNames(): string[] {
  return ['stopped', 'selecting', 'requesting', 'bound', 'renewing', 'rebinding']
}

// RFC 2131 §4.1: servers listen on port 67, clients on port 68.
export const DHCP_SERVER_PORT = 67
export const DHCP_CLIENT_PORT = 68

// Message types, option 53 (RFC 2132 §9.6)
export const DHCPDISCOVER = 1
export const DHCPOFFER = 2
export const DHCPREQUEST = 3
export const DHCPDECLINE = 4
export const DHCPACK = 5
export const DHCPNAK = 6
export const DHCPRELEASE = 7

// Option codes (RFC 2132)
const OPT_PAD = 0 // §3.1
const OPT_SUBNET_MASK = 1 // §3.3
const OPT_ROUTER = 3 // §3.5
const OPT_DNS = 6 // §3.8
const OPT_HOSTNAME = 12 // §3.14
const OPT_REQUESTED_IP = 50 // §9.1
const OPT_LEASE_TIME = 51 // §9.2
const OPT_OVERLOAD = 52 // §9.3
const OPT_MESSAGE_TYPE = 53 // §9.6
const OPT_SERVER_ID = 54 // §9.7
const OPT_PARAM_LIST = 55 // §9.8
const OPT_T1 = 58 // §9.11
const OPT_T2 = 59 // §9.12
const OPT_CLIENT_ID = 61 // §9.14
const OPT_END = 255 // §3.2

// RFC 2131 §2, Figure 1: fixed fields at these offsets, then the options.
const F_OP = 0
const F_HTYPE = 1
const F_HLEN = 2
const F_XID = 4
const F_SECS = 8
const F_FLAGS = 10
const F_CIADDR = 12
const F_YIADDR = 16
const F_CHADDR = 28
const F_SNAME = 44
const F_FILE = 108
const F_COOKIE = 236
const F_OPTIONS = 240
const BOOTREQUEST = 1
const BOOTREPLY = 2
/** htype 1 = 10 Mb Ethernet (RFC 2131 §2 refers to the ARP hardware types), hlen 6. */
const HTYPE_ETHERNET = 1
/** RFC 2131 §2, Figure 2: the BROADCAST bit of 'flags'. */
const FLAG_BROADCAST = 0x8000
/**
 * RFC 951 §3: a BOOTP message with its 64-byte 'vend' field is 300 bytes, and BOOTP-era relays and servers
 * drop shorter ones, so messages are padded to it (RFC 2132 §3.2: the octets after End are pad).
 */
const MIN_MESSAGE = 300
const MAX_HOSTNAME = 63
/** What we ask for (RFC 2132 §9.8): mask, router, DNS, lease, T1, T2. */
const PARAM_LIST = [OPT_SUBNET_MASK, OPT_ROUTER, OPT_DNS, OPT_LEASE_TIME, OPT_T1, OPT_T2]
/** Fixed options of the longest message: 53 (3) + 61 (9) + 50 (6) + 54 (6) + 55 (2 + list) + End (1). */
const FIXED_OPTIONS = 3 + 9 + 6 + 6 + 2 + PARAM_LIST.length + 1
/** DNS servers kept (option 6 may list more; the rest are dropped). */
export const DHCP_DNS_SLOTS = 2

const SECOND = 1000000
/** RFC 2131 §3.3: a lease of 0xffffffff seconds is infinite. */
const INFINITE_LEASE = 0xffffffff
/** RFC 2131 §4.1: the first retransmission after 4 s, doubling up to 64 s, each ±1 s at random. */
const RETX_FIRST_S = 4
const RETX_MAX_S = 64
/**
 * RFC 2131 §3.1 (5) / §4.4.1: with neither ACK nor NAK after the retransmissions, go back to INIT.
 * Our REQUEST is sent 5 times (waits of 4, 8, 16, 32 and 64 s) before that.
 */
const REQUEST_TRIES = 5
/** RFC 2131 §4.4.5: in RENEWING/REBINDING retransmit after half the time left, but at least 60 s. */
const RENEW_MIN_RETX_S = 60

// Parse results (set of fixed-size options seen, for the RFC 3396 §1 duplicate rule)
const SEEN_MASK = 1
const SEEN_LEASE = 2
const SEEN_TYPE = 4
const SEEN_SERVER = 8
const SEEN_T1 = 16
const SEEN_T2 = 32
const SEEN_OVERLOAD = 64
const SEEN_ROUTER = 128

function get32(d: Uint8Array, at: number): number {
  return ((d[at] << 24) | (d[at + 1] << 16) | (d[at + 2] << 8) | d[at + 3]) >>> 0
}

function put32(d: Uint8Array, at: number, v: number): void {
  d[at] = (v >>> 24) & 0xff
  d[at + 1] = (v >>> 16) & 0xff
  d[at + 2] = (v >>> 8) & 0xff
  d[at + 3] = v & 0xff
}

/** An address a host may take as its own: not 0/8, not loopback 127/8, not class D/E or broadcast (RFC 1122 §3.2.1.3). */
function usableHostAddress(a: number): boolean {
  return (a >>> 24) !== 0 && !isLoopback(a) && !isMulticast(a) && !isReserved(a)
}

/** The mask of the address's class (RFC 791 §3.2 classes A/B/C), used when the server sends no option 1. */
function classfulMask(a: number): number {
  const first = a >>> 24
  if (first < 128) return 0xff000000
  if (first < 192) return 0xffff0000
  return 0xffffff00
}

/** Ones from the top, then zeros (RFC 4632 §3.1 prefixes); 0 is refused. */
function contiguousMask(m: number): boolean {
  const inv = ~m >>> 0
  return m !== 0 && ((inv & (inv + 1)) >>> 0) === 0
}

/** The firmware's console line for a binding: "dhcp: bound 10.77.0.50/24 gateway 10.77.0.1 lease 3600 s". */
export function formatBound(ip: number, mask: number, gateway: number, leaseSeconds: number): string {
  return 'dhcp: bound ' + formatIp(ip) + '/' + maskToPrefix(mask) + ' gateway ' + formatIp(gateway) + ' lease ' +
    (leaseSeconds === INFINITE_LEASE ? 'infinite' : leaseSeconds + ' s')
}

export class DhcpClient {
  onBound: ((ip: number, mask: number, gateway: number, leaseSeconds: number) => void) | null
  onLost: (() => void) | null

  private readonly stack: DhcpStack
  private readonly random: RandomSource
  private readonly buf: Uint8Array
  private readonly hostname: string
  private readonly retxTimer: number
  private readonly leaseTimer: number
  private readonly rxTimer: number
  private readonly cTx: number
  private readonly cRx: number
  private readonly cBound: number
  private readonly cLost: number

  private st = DHCP_STOPPED
  private sock = -1
  private xid = 0
  /** Transmissions of the current message so far. */
  private tries = 0
  /** When the current exchange began (RFC 2131 §2 'secs'). */
  private exchangeStart = 0
  /** 'secs' of the last DISCOVER, repeated in the REQUEST (RFC 2131 §4.4.1). */
  private discoverSecs = 0
  /** When the first REQUEST of this exchange went out: the lease counts from there (RFC 2131 §4.4.1, §4.4.5). */
  private requestSentAt = 0

  // the offer being requested
  private offeredIp = 0
  private serverId = 0

  // the binding
  private ip = 0
  private mask = 0
  private gateway = 0
  private leaseSeconds = 0
  private t1At = 0
  private t2At = 0
  private expiresAt = 0
  private readonly dnsServers = new Uint32Array(DHCP_DNS_SLOTS)
  private dnsN = 0

  // the last valid reply, parsed during the UDP callback and acted on by rxTimer
  private pending = false
  private pType = 0
  private pYiaddr = 0
  private pSeen = 0
  private pMask = 0
  private pRouter = 0
  private pLease = 0
  private pServer = 0
  private pT1 = 0
  private pT2 = 0
  private pOverload = 0
  private readonly pDns = new Uint32Array(DHCP_DNS_SLOTS)
  private pDnsN = 0

  /** Messages received on port 68 and dropped (malformed, not for us, or unexpected in this state). */
  dropped = 0

  constructor(stack: DhcpStack, random: RandomSource, options?: DhcpClientOptions) {
    const o = options || {}
    this.stack = stack
    this.random = random
    this.onBound = o.onBound || null
    this.onLost = o.onLost || null
    let name = o.hostname || ''
    if (name.length > MAX_HOSTNAME) name = name.substring(0, MAX_HOSTNAME)
    this.hostname = name
    const need = Math.max(MIN_MESSAGE, F_OPTIONS + FIXED_OPTIONS + (name.length > 0 ? 2 + name.length : 0))
    if (o.scratch) {
      if (o.scratch.length < need) throw new Error('dhcp: scratch buffer of ' + o.scratch.length + ' bytes, need ' + need)
      this.buf = o.scratch.subarray(0, need)
    } else {
      this.buf = new Uint8Array(need)
    }
    this.cTx = Counters.id('dhcp.tx')
    this.cRx = Counters.id('dhcp.rx')
    this.cBound = Counters.id('dhcp.bound')
    this.cLost = Counters.id('dhcp.lost')
    this.retxTimer = stack.timers.register('dhcp.retransmit', (now) => this.onRetransmit(now))
    this.leaseTimer = stack.timers.register('dhcp.lease', (now) => this.onLeaseTimer(now))
    this.rxTimer = stack.timers.register('dhcp.rx', (now) => this.onReply(now))
  }

  /** Opens port 68 and sends the first DISCOVER. Returns 0, or the UDP layer's negative error. */
  start(now: number): number {
    if (this.st !== DHCP_STOPPED) return 0
    const id = this.stack.udp.open(DHCP_CLIENT_PORT, (src, sport, dst, data) => this.receive(src, sport, dst, data))
    if (id < 0) return id
    this.sock = id
    this.beginDiscover(now)
    return 0
  }

  /** Stops the client and closes port 68. An address it configured is removed (without onLost). */
  stop(now?: number): void {
    if (this.st === DHCP_STOPPED) return
    this.stack.timers.cancel(this.retxTimer)
    this.stack.timers.cancel(this.leaseTimer)
    this.stack.timers.cancel(this.rxTimer)
    this.pending = false
    this.stack.udp.close(this.sock)
    this.sock = -1
    this.st = DHCP_STOPPED
    if (this.ip !== 0) this.unconfigure(now === undefined ? 0 : now)
  }

  /** Gives the address back to the server with a DHCPRELEASE (RFC 2131 §4.4.6), then stops. */
  release(now: number): void {
    if (this.ip !== 0 && this.serverId !== 0 && this.sock >= 0) {
      // RFC 2131 Table 5: a RELEASE has a new xid, 'secs' 0, 'ciaddr' and the server identifier; it is unicast
      this.xid = this.random.next32() >>> 0
      this.build(DHCPRELEASE, 0, this.ip, 0, this.serverId, false)
      this.transmit(this.serverId, now)
    }
    this.stop(now)
  }

  state(): string { return stateNames()[this.st] }
  stateCode(): number { return this.st }
  address(): number { return this.ip }
  server(): number { return this.serverId }
  lease(): number { return this.leaseSeconds }
  dnsCount(): number { return this.dnsN }
  dns(i: number): number { return i < this.dnsN ? this.dnsServers[i] : 0 }

  // -------------------------------------------------------------------------------------------------------
  // Transitions

  /** INIT: a fresh xid (RFC 2131 §4.1), then DISCOVER and SELECTING (RFC 2131 §4.4.1). */
  private beginDiscover(now: number): void {
    this.st = DHCP_SELECTING
    this.xid = this.random.next32() >>> 0
    this.tries = 0
    this.exchangeStart = now
    this.offeredIp = 0
    this.serverId = 0
    this.stack.timers.cancel(this.leaseTimer)
    this.sendDiscover(now)
  }

  private sendDiscover(now: number): void {
    this.discoverSecs = this.secs(now)
    this.build(DHCPDISCOVER, this.discoverSecs, 0, 0, 0, true)
    this.transmit(0xffffffff, now)
    this.armBackoff(now)
  }

  /** SELECTING → REQUESTING: REQUEST with 'requested IP' and 'server identifier', broadcast (RFC 2131 §4.4.1, Table 5). */
  private sendSelectingRequest(now: number): void {
    this.build(DHCPREQUEST, this.discoverSecs, 0, this.offeredIp, this.serverId, true)
    this.transmit(0xffffffff, now)
    this.armBackoff(now)
  }

  /**
   * RENEWING: REQUEST unicast to the server that gave the lease; REBINDING: broadcast to any server. Both carry
   * 'ciaddr' and neither 'server identifier' nor 'requested IP' (RFC 2131 §4.4.5, Table 5). We can receive
   * unicast now, so the BROADCAST bit stays clear (RFC 2131 §4.1).
   */
  private sendRenewRequest(now: number): void {
    this.build(DHCPREQUEST, this.secs(now), this.ip, 0, 0, false)
    const renewing = this.st === DHCP_RENEWING && this.serverId !== 0
    this.transmit(renewing ? this.serverId : 0xffffffff, now)
    // RFC 2131 §4.4.5: wait half the time left until T2 (RENEWING) or until expiry (REBINDING), at least 60 s
    const until = this.st === DHCP_RENEWING ? this.t2At : this.expiresAt
    let wait = (until - now) / 2
    if (wait < RENEW_MIN_RETX_S * SECOND) wait = RENEW_MIN_RETX_S * SECOND
    if (now + wait < until) this.stack.timers.arm(this.retxTimer, now + wait)
    else this.stack.timers.cancel(this.retxTimer)
  }

  private onRetransmit(now: number): void {
    if (this.st === DHCP_SELECTING) {
      this.sendDiscover(now)
    } else if (this.st === DHCP_REQUESTING) {
      if (this.tries >= REQUEST_TRIES) this.beginDiscover(now)
      else this.sendSelectingRequest(now)
    } else if (this.st === DHCP_RENEWING || this.st === DHCP_REBINDING) {
      this.sendRenewRequest(now)
    }
  }

  /** T1 → RENEWING, T2 → REBINDING, expiry → lost (RFC 2131 §4.4.5). */
  private onLeaseTimer(now: number): void {
    if (this.ip === 0) return
    if (now >= this.expiresAt) {
      // RFC 2131 §4.4.5: "the client moves to INIT state, MUST immediately stop any other network processing"
      this.lose(now)
    } else if (now >= this.t2At) {
      if (this.st !== DHCP_REBINDING) this.enterRenewal(DHCP_REBINDING, now)
      this.stack.timers.arm(this.leaseTimer, this.expiresAt)
    } else if (now >= this.t1At) {
      if (this.st === DHCP_BOUND) this.enterRenewal(DHCP_RENEWING, now)
      this.stack.timers.arm(this.leaseTimer, this.t2At)
    } else {
      this.stack.timers.arm(this.leaseTimer, this.t1At)
    }
  }

  private enterRenewal(state: number, now: number): void {
    this.st = state
    this.xid = this.random.next32() >>> 0
    this.tries = 0
    this.exchangeStart = now
    // RFC 2131 §4.4.5: "The client records the local time at which the DHCPREQUEST message is sent"
    this.requestSentAt = now
    this.sendRenewRequest(now)
  }

  /** The address is gone: stop using it (RFC 2131 §4.4.5) and start over from INIT. */
  private lose(now: number): void {
    this.stack.counters.inc(this.cLost)
    this.unconfigure(now)
    if (this.onLost) this.onLost()
    this.beginDiscover(now)
  }

  private unconfigure(now: number): void {
    this.ip = 0
    this.mask = 0
    this.gateway = 0
    this.leaseSeconds = 0
    this.dnsN = 0
    this.stack.setConfig({ ip: 0, mask: 0, gateway: 0 }, now)
  }

  /** A valid reply, parsed by receive(), in the current state (RFC 2131 §4.4, Figure 5). */
  private onReply(now: number): void {
    if (!this.pending) return
    this.pending = false
    const type = this.pType
    if (this.st === DHCP_SELECTING && type === DHCPOFFER) {
      // RFC 2131 §4.4.1: the client may take the first offer; the server identifier is what it answers with
      if ((this.pSeen & SEEN_SERVER) === 0 || !usableHostAddress(this.pYiaddr)) { this.dropped++; return }
      this.offeredIp = this.pYiaddr
      this.serverId = this.pServer
      this.st = DHCP_REQUESTING
      this.tries = 0
      this.requestSentAt = now
      this.sendSelectingRequest(now)
    } else if (type === DHCPACK && (this.st === DHCP_REQUESTING || this.st === DHCP_RENEWING || this.st === DHCP_REBINDING)) {
      // RFC 2131 §4.3.1 Table 3: an ACK to a REQUEST carries the lease time and the server identifier
      if ((this.pSeen & SEEN_LEASE) === 0 || !usableHostAddress(this.pYiaddr)) { this.dropped++; return }
      if (this.st === DHCP_REQUESTING && (this.pSeen & SEEN_SERVER) !== 0 && this.pServer !== this.serverId) { this.dropped++; return }
      this.bind(now)
    } else if (type === DHCPNAK && (this.st === DHCP_REQUESTING || this.st === DHCP_RENEWING || this.st === DHCP_REBINDING)) {
      if (this.st === DHCP_REQUESTING && (this.pSeen & SEEN_SERVER) !== 0 && this.pServer !== this.serverId) { this.dropped++; return }
      // RFC 2131 §3.1 (5): on a NAK the client restarts; from RENEWING/REBINDING it must also give up the
      // address it holds (§4.4, Figure 5: "DHCPNAK / Halt network")
      if (this.ip !== 0) this.lose(now)
      else this.beginDiscover(now)
    } else {
      this.dropped++
    }
  }

  /** REQUESTING/RENEWING/REBINDING → BOUND with the ACK's parameters. */
  private bind(now: number): void {
    const ip = this.pYiaddr
    let mask = this.pMask
    if ((this.pSeen & SEEN_MASK) === 0 || !contiguousMask(mask)) mask = classfulMask(ip)
    // RFC 2132 §3.5: routers are listed in order of preference
    const gateway = (this.pSeen & SEEN_ROUTER) !== 0 ? this.pRouter : 0
    const lease = this.pLease
    if ((this.pSeen & SEEN_SERVER) !== 0) this.serverId = this.pServer
    this.stack.timers.cancel(this.retxTimer)
    this.stack.counters.inc(this.cBound)
    this.st = DHCP_BOUND
    this.leaseSeconds = lease
    this.dnsN = this.pDnsN
    for (let i = 0; i < this.pDnsN; i++) this.dnsServers[i] = this.pDns[i]
    if (lease === INFINITE_LEASE) {
      this.stack.timers.cancel(this.leaseTimer)
    } else {
      // RFC 2131 §4.4.5: T1 defaults to 0.5 and T2 to 0.875 of the lease, and T1 < T2 < lease must hold;
      // server values that break the order are replaced by the defaults
      let t2 = lease * 0.875
      if ((this.pSeen & SEEN_T2) !== 0 && this.pT2 < lease) t2 = this.pT2
      let t1 = lease * 0.5
      if ((this.pSeen & SEEN_T1) !== 0 && this.pT1 < t2) t1 = this.pT1
      if (t1 > t2) t1 = t2
      // RFC 2131 §4.4.1: the lease runs from when the REQUEST was sent, not from when the ACK came
      const base = this.requestSentAt
      this.t1At = base + t1 * SECOND
      this.t2At = base + t2 * SECOND
      this.expiresAt = base + lease * SECOND
      this.stack.timers.arm(this.leaseTimer, this.t1At)
    }
    const changed = ip !== this.ip || mask !== this.mask || gateway !== this.gateway
    // RFC 2131 §4.4.5: given a new address, the client MUST NOT keep using the previous one (setConfig replaces it)
    this.ip = ip
    this.mask = mask
    this.gateway = gateway
    if (changed) {
      this.stack.setConfig({ ip: ip, mask: mask, gateway: gateway }, now)
      if (this.onBound) this.onBound(ip, mask, gateway, lease)
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // Sending

  private secs(now: number): number {
    const s = Math.floor((now - this.exchangeStart) / SECOND)
    return s < 0 ? 0 : s > 0xffff ? 0xffff : s
  }

  private armBackoff(now: number): void {
    // RFC 2131 §4.1: 4 s, 8 s, ... up to 64 s, each randomised by a uniform value in [-1 s, +1 s]
    let base = RETX_FIRST_S
    for (let i = 0; i < this.tries && base < RETX_MAX_S; i++) base *= 2
    if (base > RETX_MAX_S) base = RETX_MAX_S
    const r = (this.random.next32() >>> 0) / 4294967296
    const jitter = Math.floor(r * (2 * SECOND + 1)) - SECOND
    this.tries++
    this.stack.timers.arm(this.retxTimer, now + base * SECOND + jitter)
  }

  private transmit(dst: number, now: number): void {
    this.stack.counters.inc(this.cTx)
    this.stack.udp.send(this.sock, dst, DHCP_SERVER_PORT, this.buf, now)
  }

  /** Builds a client message (RFC 2131 §2 and Table 5) into the whole of `buf`. */
  private build(type: number, secs: number, ciaddr: number, requestedIp: number, serverId: number, broadcast: boolean): void {
    const b = this.buf
    const mac = this.stack.mac
    b.fill(0)
    b[F_OP] = BOOTREQUEST
    b[F_HTYPE] = HTYPE_ETHERNET
    b[F_HLEN] = 6
    put32(b, F_XID, this.xid)
    b[F_SECS] = secs >> 8
    b[F_SECS + 1] = secs & 0xff
    // RFC 2131 §4.1: a client that cannot receive unicast before it is configured sets BROADCAST
    if (broadcast) b[F_FLAGS] = FLAG_BROADCAST >> 8
    put32(b, F_CIADDR, ciaddr)
    for (let i = 0; i < 6; i++) b[F_CHADDR + i] = mac[i]
    // RFC 2132 §2: the magic cookie 99.130.83.99
    b[F_COOKIE] = 99
    b[F_COOKIE + 1] = 130
    b[F_COOKIE + 2] = 83
    b[F_COOKIE + 3] = 99
    let at = F_OPTIONS
    b[at++] = OPT_MESSAGE_TYPE
    b[at++] = 1
    b[at++] = type
    // RFC 2132 §9.14: client identifier = hardware type 1 + MAC
    b[at++] = OPT_CLIENT_ID
    b[at++] = 7
    b[at++] = HTYPE_ETHERNET
    for (let i = 0; i < 6; i++) b[at++] = mac[i]
    if (requestedIp !== 0) {
      b[at++] = OPT_REQUESTED_IP
      b[at++] = 4
      put32(b, at, requestedIp)
      at += 4
    }
    if (serverId !== 0) {
      b[at++] = OPT_SERVER_ID
      b[at++] = 4
      put32(b, at, serverId)
      at += 4
    }
    if (type !== DHCPRELEASE) {
      // RFC 2131 Table 5: a RELEASE carries neither parameter list nor host name ("MUST NOT" / not needed)
      b[at++] = OPT_PARAM_LIST
      b[at++] = PARAM_LIST.length
      for (let i = 0; i < PARAM_LIST.length; i++) b[at++] = PARAM_LIST[i]
      const name = this.hostname
      if (name.length > 0) {
        b[at++] = OPT_HOSTNAME
        b[at++] = name.length
        for (let i = 0; i < name.length; i++) {
          const c = name.charCodeAt(i)
          b[at++] = c > 0xff ? 63 : c
        }
      }
    }
    b[at] = OPT_END
  }

  // -------------------------------------------------------------------------------------------------------
  // Receiving: validate and parse in place, never reading past `data.length` or an option's area

  private receive(srcIp: number, srcPort: number, dstIp: number, data: Uint8Array): void {
    this.stack.counters.inc(this.cRx)
    if (this.st === DHCP_STOPPED || this.pending || srcPort !== DHCP_SERVER_PORT || !this.parse(data)) {
      this.dropped++
      return
    }
    this.pending = true
    this.stack.timers.arm(this.rxTimer, 0)
  }

  /** Checks the fixed fields and parses the options into the p* fields; false drops the message. */
  private parse(d: Uint8Array): boolean {
    const len = d.length
    // RFC 2131 §2: 236 bytes of fixed fields, then the 4-byte magic cookie (RFC 2132 §2)
    if (len < F_OPTIONS) return false
    if (d[F_OP] !== BOOTREPLY || d[F_HTYPE] !== HTYPE_ETHERNET || d[F_HLEN] !== 6) return false
    // RFC 2131 §4.4.5 (and §4.1): replies whose 'xid' is not ours are silently discarded
    if (get32(d, F_XID) !== this.xid) return false
    const mac = this.stack.mac
    for (let i = 0; i < 6; i++) if (d[F_CHADDR + i] !== mac[i]) return false
    if (d[F_COOKIE] !== 99 || d[F_COOKIE + 1] !== 130 || d[F_COOKIE + 2] !== 83 || d[F_COOKIE + 3] !== 99) return false
    this.pSeen = 0
    this.pDnsN = 0
    this.pOverload = 0
    this.pYiaddr = get32(d, F_YIADDR)
    if (!this.parseArea(d, F_OPTIONS, len, true)) return false
    // RFC 2132 §9.3 / RFC 3396 §1: overloaded 'file' then 'sname' continue the options field, in that order
    if ((this.pOverload & 1) !== 0 && !this.parseArea(d, F_FILE, F_COOKIE, false)) return false
    if ((this.pOverload & 2) !== 0 && !this.parseArea(d, F_SNAME, F_FILE, false)) return false
    // RFC 2132 §9.6: every DHCP message carries its type
    if ((this.pSeen & SEEN_TYPE) === 0) return false
    const t = this.pType
    return t === DHCPOFFER || t === DHCPACK || t === DHCPNAK
  }

  /** One option area [start, end): code, length, value (RFC 2132 §2). */
  private parseArea(d: Uint8Array, start: number, end: number, main: boolean): boolean {
    let i = start
    while (i < end) {
      const code = d[i]
      if (code === OPT_PAD) { i++; continue } // RFC 2132 §3.1: one byte, no length
      if (code === OPT_END) return true // RFC 2132 §3.2
      if (i + 1 >= end) return false // no room for the length byte
      const n = d[i + 1]
      const v = i + 2
      if (v + n > end) return false // the value would run past the area
      if (!this.option(d, code, v, n, main)) return false
      i = v + n
    }
    // an area that ends without End is accepted: every option in it was whole
    return true
  }

  /**
   * One option. Options of fixed size appearing twice are refused: RFC 3396 §1 says repeated options are
   * concatenated, which would give them an invalid length. Lists (routers, DNS) concatenate naturally.
   */
  private option(d: Uint8Array, code: number, v: number, n: number, main: boolean): boolean {
    switch (code) {
      case OPT_MESSAGE_TYPE: // RFC 2132 §9.6: length 1
        if (n !== 1 || !this.see(SEEN_TYPE)) return false
        this.pType = d[v]
        return true
      case OPT_SUBNET_MASK: // RFC 2132 §3.3: length 4
        if (n !== 4 || !this.see(SEEN_MASK)) return false
        this.pMask = get32(d, v)
        return true
      case OPT_ROUTER: // RFC 2132 §3.5: a multiple of 4, at least 4
        if (n < 4 || (n & 3) !== 0) return false
        if ((this.pSeen & SEEN_ROUTER) === 0) { this.pSeen |= SEEN_ROUTER; this.pRouter = get32(d, v) }
        return true
      case OPT_DNS: // RFC 2132 §3.8: a multiple of 4, at least 4; keep what fits
        if (n < 4 || (n & 3) !== 0) return false
        for (let k = 0; k < n && this.pDnsN < DHCP_DNS_SLOTS; k += 4) this.pDns[this.pDnsN++] = get32(d, v + k)
        return true
      case OPT_LEASE_TIME: // RFC 2132 §9.2: length 4
        if (n !== 4 || !this.see(SEEN_LEASE)) return false
        this.pLease = get32(d, v)
        return true
      case OPT_SERVER_ID: // RFC 2132 §9.7: length 4
        if (n !== 4 || !this.see(SEEN_SERVER)) return false
        this.pServer = get32(d, v)
        return this.pServer !== 0
      case OPT_T1: // RFC 2132 §9.11: length 4
        if (n !== 4 || !this.see(SEEN_T1)) return false
        this.pT1 = get32(d, v)
        return true
      case OPT_T2: // RFC 2132 §9.12: length 4
        if (n !== 4 || !this.see(SEEN_T2)) return false
        this.pT2 = get32(d, v)
        return true
      case OPT_OVERLOAD: // RFC 2132 §9.3: length 1, value 1 (file), 2 (sname) or 3 (both), only in 'options'
        if (n !== 1 || !main || !this.see(SEEN_OVERLOAD) || d[v] < 1 || d[v] > 3) return false
        this.pOverload = d[v]
        return true
      default: // options we do not use are skipped by their length
        return true
    }
  }

  private see(bit: number): boolean {
    if ((this.pSeen & bit) !== 0) return false
    this.pSeen |= bit
    return true
  }
}
