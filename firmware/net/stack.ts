// The network interface: one Ethernet port with one IPv4 address, its ARP, IPv4 (with reassembly),
// ICMP and UDP, driven by `poll(now)`. Device dialect.
//
// Data path (ARCHITECTURE.md): a driver (or a test) puts frames into `rx`; `poll` takes at most
// `pollBudget` of them, parses each in place with the hot-path core (core.parseFrame fills a
// descriptor in the arena), and hands it to ARP or IPv4; replies and datagrams are built directly in
// a `tx` slot (or in an ARP-pending slot while the next hop is being resolved). After the frames,
// `poll` runs the due timers (ARP retries, reassembly timeouts), moves frames whose ARP resolution
// completed to `tx`, continues large echo replies, and finally delivers queued UDP datagrams to the
// sockets' callbacks (a budget without UDP rings, udpRxBytes 0, hands them over during input instead).
//
// Memory: everything lives in the arena regions of firmware/kernel/arena.ts ('counters', 'net state',
// 'rx ring', 'tx ring', 'arp cache', 'arp pending', 'ip reassembly state', 'ip reassembly buffers',
// 'udp sockets', 'udp rx rings'); nothing is allocated per frame except the view each UDP callback
// receives. Copies inside the arena go through the hot-path contract's core.copy (wasm memory.copy).
import { Core } from '../core/contract.js'
import {
  DESC_BYTES, D_FRAME_OFF, V_ETH_ARP, V_ETH_OTHER, isDrop,
  V_DROP_RUNT, V_DROP_ARP_SHORT, V_DROP_ARP_BAD, V_DROP_IP_SHORT, V_DROP_IP_VERSION, V_DROP_IP_IHL,
  V_DROP_IP_TOTAL_LENGTH, V_DROP_IP_CHECKSUM, V_DROP_UDP_SHORT, V_DROP_UDP_LENGTH, V_DROP_UDP_CHECKSUM,
  V_DROP_ICMP_SHORT, V_DROP_ICMP_CHECKSUM, V_DROP_TCP_SHORT, VERDICT_COUNT,
} from '../core/frame-desc.js'
import { ArenaLayout, region, SIZES } from '../kernel/arena.js'
import { Counters } from '../kernel/counters.js'
import { TimerTable } from '../kernel/timers.js'
import { FrameRing } from '../../hal/frame-ring.js'
import { ETH_HEADER, isGroupMac, isBroadcastMac, isIpv4MulticastMac, macEquals, writeMulticastMac } from './ethernet.js'
import { isMulticast, subnetBroadcast } from './addr.js'
export { CAST_NONE, CAST_UNICAST, CAST_BROADCAST, CAST_MULTICAST, CAST_UNCONFIGURED } from './addr.js'
import { Arp } from './arp.js'
import { Ipv4 } from './ipv4.js'
import { Reassembly } from './ipv4-reassembly.js'
import { Icmp } from './icmp.js'
import { Udp } from './udp.js'

export interface IpConfig {
  /** u32 network-order values (10.0.0.1 = 0x0A000001); 0 = unset. */
  ip: number
  mask: number
  gateway: number
}

export interface StackOptions {
  core: Core
  layout: ArenaLayout
  /** 6 bytes, unicast. */
  mac: Uint8Array
  config: IpConfig
  /** Frames taken from `rx` per poll (default 16): a broadcast storm cannot starve timers and sockets. */
  pollBudget?: number
  log?: (line: string) => void
  /** Random numbers in [0, 1) for the first IP identification and ephemeral port (default Math.random). */
  random?: () => number
}

/** Receives unfragmented or reassembled TCP segments addressed to our unicast address (descriptor offset). */
export type TcpInput = (desc: number, now: number) => void

/** Multicast groups a stack can join. */
export const MAX_GROUPS = 8
/** Timer slots: ARP, reassembly, and room for DHCP and the applications. */
export const TIMER_SLOTS = 16
export const DEFAULT_POLL_BUDGET = 16

// Layout of the 'net state' region (SIZES.netState bytes).
const NS_MAC = 0
const NS_BCAST = 8
const NS_ZERO = 16
const NS_MCAST = 24
const NS_GROUPS = 32
const NS_DESC_A = 64
const NS_DESC_B = NS_DESC_A + DESC_BYTES
const NS_SCRATCH_UDP = NS_DESC_B + DESC_BYTES
const NS_SCRATCH_ICMP = NS_SCRATCH_UDP + 16
const NS_END = NS_SCRATCH_ICMP + 16

const C_ETH_RX = Counters.id('eth.rx')
const C_ETH_RUNT = Counters.id('eth.rx.runt')
const C_ETH_NOT_US = Counters.id('eth.rx.not-for-us')
const C_ETH_UNKNOWN = Counters.id('eth.rx.unknown-type')
const C_BUDGET_STOP = Counters.id('poll.budget.stop')
const C_POLL_ERROR = Counters.id('poll.error')

/** The counter each drop verdict of core.parseFrame / parseIpv4 is counted under (-1: unused code). */
function dropCounters(): Int8Array {
  const t = new Int8Array(VERDICT_COUNT).fill(-1)
  t[V_DROP_RUNT] = C_ETH_RUNT
  t[V_DROP_ARP_SHORT] = Counters.id('arp.rx.bad')
  t[V_DROP_ARP_BAD] = Counters.id('arp.rx.bad')
  t[V_DROP_IP_SHORT] = Counters.id('ip.rx.short')
  t[V_DROP_IP_VERSION] = Counters.id('ip.rx.version')
  t[V_DROP_IP_IHL] = Counters.id('ip.rx.ihl')
  t[V_DROP_IP_TOTAL_LENGTH] = Counters.id('ip.rx.length')
  t[V_DROP_IP_CHECKSUM] = Counters.id('ip.rx.checksum')
  t[V_DROP_UDP_SHORT] = Counters.id('udp.rx.bad')
  t[V_DROP_UDP_LENGTH] = Counters.id('udp.rx.bad')
  t[V_DROP_UDP_CHECKSUM] = Counters.id('udp.rx.checksum')
  t[V_DROP_ICMP_SHORT] = Counters.id('icmp.rx.bad')
  t[V_DROP_ICMP_CHECKSUM] = Counters.id('icmp.rx.bad')
  t[V_DROP_TCP_SHORT] = Counters.id('tcp.rx.bad')
  return t
}

function noLog(_line: string): void {
  // logging off
}

export class NetStack {
  readonly core: Core
  /** Views of the whole core buffer (the arena lies inside it). */
  readonly u8: Uint8Array
  readonly u16: Uint16Array
  readonly u32: Uint32Array
  readonly dv: DataView
  /**
   * Where the modules find their tables when they are made; null once released (releaseLayout), so that a
   * running device keeps no region objects after boot.
   */
  layout: ArenaLayout | null
  /** Our MAC: a view of 6 bytes in the arena ('net state'). */
  readonly mac: Uint8Array
  readonly counters: Counters
  readonly timers: TimerTable
  readonly rx: FrameRing
  readonly tx: FrameRing
  readonly log: (line: string) => void
  readonly random: () => number
  readonly pollBudget: number

  // Arena offsets inside 'net state'.
  readonly macOff: number
  readonly bcastMacOff: number
  readonly zeroMacOff: number
  readonly mcastMacOff: number
  /** Descriptor of the frame being processed, and of a reassembled datagram. */
  readonly descA: number
  readonly descB: number
  readonly scratchUdp: number
  readonly scratchIcmp: number
  private readonly groups: Uint32Array

  readonly arp: Arp
  readonly ipv4: Ipv4
  readonly reassembly: Reassembly
  readonly icmp: Icmp
  readonly udp: Udp

  /** Our address, netmask and default gateway (u32; 0 = unset), and the derived subnet broadcast (-1: none). */
  addr = 0
  mask = 0
  gateway = 0
  subnetBcast = -1
  /** True while the frame being processed was sent to an Ethernet broadcast or multicast address. */
  linkGroup = false

  /** Told the Ethernet multicast addresses to accept whenever the joined groups change (a driver hook). */
  onMulticastChange: ((macs: Uint8Array[]) => void) | null = null
  /** The TCP layer, when there is one; without it TCP segments are counted (tcp.rx) and dropped. */
  onTcp: TcpInput | null = null

  private readonly drops: Int8Array

  constructor(opts: StackOptions) {
    if (!(opts.mac instanceof Uint8Array) || opts.mac.length !== 6) throw new Error('NetStack: mac must be 6 bytes')
    if ((opts.mac[0] & 1) !== 0) throw new Error('NetStack: mac must be a unicast address (first byte even)')
    const core = opts.core
    const buffer = core.buffer
    this.core = core
    this.layout = opts.layout
    this.u8 = new Uint8Array(buffer)
    this.u16 = new Uint16Array(buffer, 0, buffer.byteLength >> 1)
    this.u32 = new Uint32Array(buffer, 0, buffer.byteLength >> 2)
    this.dv = new DataView(buffer)
    this.log = opts.log ? opts.log : noLog
    this.random = opts.random ? opts.random : Math.random
    this.pollBudget = opts.pollBudget !== undefined && opts.pollBudget > 0 ? opts.pollBudget : DEFAULT_POLL_BUDGET
    this.drops = dropCounters()

    const layout = opts.layout
    this.counters = new Counters(buffer, region(layout, 'counters').offset)
    const ns = region(layout, 'net state')
    if (NS_END > SIZES.netState) throw new Error('NetStack: net state region too small')
    this.u8.fill(0, ns.offset, ns.offset + ns.size)
    this.macOff = ns.offset + NS_MAC
    this.bcastMacOff = ns.offset + NS_BCAST
    this.zeroMacOff = ns.offset + NS_ZERO
    this.mcastMacOff = ns.offset + NS_MCAST
    this.descA = ns.offset + NS_DESC_A
    this.descB = ns.offset + NS_DESC_B
    this.scratchUdp = ns.offset + NS_SCRATCH_UDP
    this.scratchIcmp = ns.offset + NS_SCRATCH_ICMP
    this.groups = new Uint32Array(buffer, ns.offset + NS_GROUPS, MAX_GROUPS)
    this.mac = new Uint8Array(buffer, this.macOff, 6)
    this.mac.set(opts.mac)
    this.u8.fill(0xff, this.bcastMacOff, this.bcastMacOff + 6)

    const rxr = region(layout, 'rx ring')
    this.rx = new FrameRing(buffer, rxr.offset, rxr.count, rxr.each, region(layout, 'rx ring header').offset)
    const txr = region(layout, 'tx ring')
    this.tx = new FrameRing(buffer, txr.offset, txr.count, txr.each, region(layout, 'tx ring header').offset)
    this.timers = new TimerTable(TIMER_SLOTS)

    this.arp = new Arp(this)
    this.reassembly = new Reassembly(this)
    this.ipv4 = new Ipv4(this)
    this.icmp = new Icmp(this)
    this.udp = new Udp(this)
    this.applyConfig(opts.config)
  }

  /**
   * Drops the arena layout once every module that takes its tables from it (TCP included) has been made;
   * attaching one later throws. Firmware calls it at the end of its constructor.
   */
  releaseLayout(): void {
    this.layout = null
  }

  config(): IpConfig {
    return { ip: this.addr, mask: this.mask, gateway: this.gateway }
  }

  private applyConfig(c: IpConfig): boolean {
    const ip = c.ip >>> 0
    const changed = ip !== this.addr
    this.addr = ip
    this.mask = c.mask >>> 0
    this.gateway = c.gateway >>> 0
    this.subnetBcast = subnetBroadcast(this.addr, this.mask)
    return changed
  }

  /** Sets address, mask and gateway; announces a new address with gratuitous ARP (RFC 5227 §2.3). */
  setConfig(c: IpConfig, now: number): void {
    if (this.applyConfig(c) && this.addr !== 0) this.arp.announce(now)
  }

  /** The link came up: announce our address (RFC 5227 §2.3; the cable may have moved to another switch). */
  linkUp(now: number): void {
    if (this.addr !== 0) this.arp.announce(now)
  }

  /** Processes up to pollBudget frames from rx, runs due timers, flushes output, delivers UDP datagrams. */
  poll(now: number): void {
    const rx = this.rx
    let n = 0
    while (n < this.pollBudget) {
      const off = rx.peek()
      if (off < 0) break
      const len = rx.peekLength()
      try {
        this.input(off, len, now)
      } catch (e) {
        // A bug must not take the device down with it: count, log, and keep going.
        this.counters.inc(C_POLL_ERROR)
        this.log('spinet: error processing a frame: ' + (e instanceof Error ? e.message : String(e)))
      }
      rx.release()
      n++
    }
    if (n === this.pollBudget && rx.count() > 0) this.counters.inc(C_BUDGET_STOP)
    this.timers.runDue(now)
    this.arp.flushReady()
    this.reassembly.runJobs(now)
    this.udp.deliver()
  }

  /** One received Ethernet frame of `len` bytes at arena offset `off` (RFC 894). */
  private input(off: number, len: number, now: number): void {
    const u8 = this.u8
    this.counters.inc(C_ETH_RX)
    if (len < ETH_HEADER) {
      this.counters.inc(C_ETH_RUNT)
      return
    }
    // Destination filter (the chip filters too, unless promiscuous): our MAC, broadcast, IPv4 multicast.
    if (isGroupMac(u8, off)) {
      if (!isBroadcastMac(u8, off) && !isIpv4MulticastMac(u8, off)) {
        this.counters.inc(C_ETH_NOT_US)
        return
      }
      this.linkGroup = true
    } else {
      if (!macEquals(u8, off, this.macOff)) {
        this.counters.inc(C_ETH_NOT_US)
        return
      }
      this.linkGroup = false
    }
    const desc = this.descA
    const v = this.core.parseFrame(off, len, desc)
    if (isDrop(v)) {
      this.countDrop(v)
      return
    }
    if (v === V_ETH_ARP) this.arp.input(desc, now)
    else if (v === V_ETH_OTHER) this.counters.inc(C_ETH_UNKNOWN)
    else this.ipv4.input(desc, v, now)
  }

  /** Counts a drop verdict of the parser under its reason (a code this file does not know: poll.error, to be noticed). */
  countDrop(v: number): void {
    const c = v >= 0 && v < this.drops.length ? this.drops[v] : -1
    this.counters.inc(c >= 0 ? c : C_POLL_ERROR)
  }

  /** The Ethernet source MAC of the frame being processed (valid during input). */
  frameSourceMac(): number {
    return this.u32[(this.descA >> 2) + D_FRAME_OFF] + 6
  }

  /** Accept datagrams for IPv4 multicast `group` (RFC 1112 §4); false when not multicast or the table is full. */
  joinGroup(group: number): boolean {
    group = group >>> 0
    if (!isMulticast(group)) return false
    if (this.isMember(group)) return true
    for (let i = 0; i < MAX_GROUPS; i++) {
      if (this.groups[i] === 0) {
        this.groups[i] = group
        this.multicastChanged()
        return true
      }
    }
    return false
  }

  leaveGroup(group: number): void {
    group = group >>> 0
    for (let i = 0; i < MAX_GROUPS; i++) {
      if (this.groups[i] === group && group !== 0) {
        this.groups[i] = 0
        this.multicastChanged()
      }
    }
  }

  isMember(group: number): boolean {
    for (let i = 0; i < MAX_GROUPS; i++) if (this.groups[i] === group) return true
    return false
  }

  /** The Ethernet addresses of the joined groups (RFC 1112 §6.4), for the chip's filter. */
  multicastMacs(): Uint8Array[] {
    const out: Uint8Array[] = []
    for (let i = 0; i < MAX_GROUPS; i++) {
      if (this.groups[i] === 0) continue
      const m = new Uint8Array(6)
      writeMulticastMac(m, 0, this.groups[i])
      out.push(m)
    }
    return out
  }

  private multicastChanged(): void {
    if (this.onMulticastChange !== null) this.onMulticastChange(this.multicastMacs())
  }
}
