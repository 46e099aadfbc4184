// The example firmware: the stack, DHCP or a static address, and the example services, on any
// driver. The same code runs on an Espruino board (firmware/device.ts) and on the virtual board
// (hal/host/virtual-board.ts). Device dialect.
import { Core } from './core/contract.js'
import { ArenaLayout } from './kernel/arena.js'
import { EthernetDriver } from '../hal/driver.js'
import { RandomSource } from '../hal/types.js'
import { NetStack, IpConfig } from './net/stack.js'
import { DhcpClient, DhcpClientOptions, formatBound } from './net/dhcp.js'
import { formatIp, maskToPrefix } from './net/addr.js'
import { startExampleServices, ExampleServices, formatExampleCounters } from './apps/example.js'
import type { Tcp, TcpOptions } from './tcp/tcp.js'

/**
 * Makes the TCP module of a stack (firmware/tcp/tcp.ts attachTcp). Passed in rather than imported, so a
 * device bundle for a board without TCBs (budget.tcbs 0) carries no TCP code at all.
 */
export type TcpFactory = (stack: NetStack, o: TcpOptions) => Tcp

export interface FirmwareOptions {
  /** TCP, or null for a firmware without it. */
  attachTcp: TcpFactory | null
  core: Core
  layout: ArenaLayout
  driver: EthernetDriver
  random: RandomSource
  mac: Uint8Array
  /** A static address, or null for DHCP. */
  address: IpConfig | null
  hostname: string
  /** Frames taken from the chip per step (storm fairness: the rest waits in the chip). */
  pollBudget: number
  log: (line: string) => void
}

/** Longest sleep between steps when nothing is due (link checks, DHCP timers are never later). */
const MAX_IDLE_US = 250000

// The closures below are made in functions of their own so that they keep only what they use: made in the
// Firmware constructor, they would keep its whole scope, the options and so the arena layout among them, alive
// for as long as the device runs.

/** RFC 6528: the ISN key comes from the board's random source (E.hwRand on Espruino). */
function random32Of(random: RandomSource): () => number {
  return function () { return random.next32() }
}

function dhcpOptions(hostname: string, log: (line: string) => void): DhcpClientOptions {
  return {
    hostname: hostname,
    onBound: function (ip: number, mask: number, gateway: number, lease: number) {
      log(formatBound(ip, mask, gateway, lease))
    },
    onLost: function () { log('dhcp: lease lost, address released') },
  }
}

export class Firmware {
  readonly stack: NetStack
  readonly driver: EthernetDriver
  readonly dhcp: DhcpClient | null
  readonly tcp: Tcp | null
  services: ExampleServices | null = null
  // Only what the firmware needs after construction: not the options object, which holds the arena layout
  // (a running device keeps no region objects after boot).
  private readonly mac: Uint8Array
  private readonly address: IpConfig | null
  private readonly pollBudget: number
  private readonly log: (line: string) => void
  private link = false
  private now = 0

  constructor(opts: FirmwareOptions) {
    this.driver = opts.driver
    this.mac = opts.mac
    this.address = opts.address
    this.pollBudget = opts.pollBudget
    this.log = opts.log
    const staticConfig = opts.address !== null ? opts.address : { ip: 0, mask: 0, gateway: 0 }
    this.stack = new NetStack({ core: opts.core, layout: opts.layout, mac: opts.mac, config: staticConfig,
      pollBudget: opts.pollBudget, log: opts.log })
    this.tcp = opts.attachTcp !== null ? opts.attachTcp(this.stack, { random32: random32Of(opts.random) }) : null
    this.dhcp = opts.address !== null ? null : new DhcpClient(this.stack, opts.random, dhcpOptions(opts.hostname, opts.log))
    // Every module has taken its tables from the layout by now.
    this.stack.releaseLayout()
  }

  /** Initialises the chip and starts the services; prints the address when it is static. */
  start(now: number): void {
    this.now = now
    this.driver.init(this.mac)
    const self = this
    this.services = startExampleServices(this.stack, function () { return self.now }, this.tcp !== null ? this.tcp : undefined)
    if (this.services.skipped.length > 0) this.log('services: no TCP listener left for ' + this.services.skipped.join(', ') + ' (budget.listeners)')
    const a = this.address
    if (a !== null) this.log('address ' + formatIp(a.ip) + '/' + maskToPrefix(a.mask) + (a.gateway !== 0 ? ' gateway ' + formatIp(a.gateway) : ''))
    this.checkLink(now)
  }

  private checkLink(now: number): void {
    const up = this.driver.linkUp()
    if (up === this.link) return
    this.link = up
    this.log('link ' + (up ? 'up' : 'down'))
    if (!up) return
    this.stack.linkUp(now)
    if (this.dhcp !== null && this.dhcp.start(now) < 0) this.log('dhcp: cannot start (no free UDP socket for port 68); raise budget.udpSockets')
  }

  /**
   * One turn of the cooperative loop: chip → RX ring → stack → TX ring → chip. Returns the time of
   * the next timer, so the caller can sleep until then or until the chip interrupts.
   */
  step(now: number): number {
    this.now = now
    this.driver.receive(this.stack.rx, this.pollBudget)
    this.stack.poll(now)
    this.driver.transmit(this.stack.tx, this.stack.tx.slots)
    const next = this.stack.timers.next()
    return next < 0 ? now + MAX_IDLE_US : Math.min(next, now + MAX_IDLE_US)
  }

  /** Called on the slow tick: link state. */
  tick(now: number): void {
    this.checkLink(now)
  }

  /** Frames in flight inside the firmware (a caller keeps stepping while this is non-zero). */
  busy(): boolean {
    return this.stack.rx.count() > 0 || this.stack.tx.count() > 0
  }

  counters(): string {
    const d = this.driver.stats
    let s = this.stack.counters.format()
    if (this.tcp !== null) s += ' | tcp open ' + this.tcp.inUse()
    s += ' | driver rx=' + d.rxFrames + ' tx=' + d.txFrames + ' rxErr=' + d.rxErrors + ' txErr=' + d.txErrors +
      ' recoveries=' + d.recoveries + ' chipOverflows=' + d.chipOverflows
    if (this.services !== null) s += ' | ' + formatExampleCounters(this.services.counters)
    return s
  }
}
