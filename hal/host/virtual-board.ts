// The virtual board: the example firmware driving a simulated chip whose cable is a TAP device, a UDP
// socket or an in-memory wire. Host only.
import { Board } from '../../firmware/kernel/board.js'
import { CoreName } from '../../firmware/core/contract.js'
import { layoutArena } from '../../firmware/kernel/arena.js'
import { Clock } from '../../firmware/kernel/clock.js'
import { Firmware } from '../../firmware/main.js'
import { attachTcp } from '../../firmware/tcp/tcp.js'
import { IpConfig } from '../../firmware/net/stack.js'
import { EthernetDriver } from '../driver.js'
import { Enc28j60Sim, W5500Sim } from '../sim/index.js'
import { Enc28j60Driver } from '../enc28j60.js'
import { W5500Driver } from '../w5500.js'
import { Cable } from './cable.js'
import { createCore } from './core.js'
import { realClock, simPlatform } from './sim-platform.js'

export interface VirtualBoardOptions {
  board: Board
  chip: 'enc28j60' | 'w5500'
  core: CoreName
  cable: Cable
  mac: Uint8Array
  /** A static address, or null for DHCP. */
  address: IpConfig | null
  log: (line: string) => void
  clock?: Clock
}

type AnySim = Enc28j60Sim | W5500Sim

export interface VirtualBoard {
  readonly firmware: Firmware
  readonly chip: AnySim
  stop(): void
}

/** Frames a step takes from the chip; the rest waits in the chip's buffer (storm fairness). */
const POLL_BUDGET = 16
/** Link and counters are looked at this often (µs). */
const TICK_US = 500000
/** Line rates: the ENC28J60 is a 10BASE-T device, the W5500 links at 100 Mbit/s. */
const LINE_BITS_PER_US = { enc28j60: 10, w5500: 100 }
/** Preamble + SFD (8), FCS (4) and the inter-frame gap (12) on the wire, in bytes. */
const WIRE_OVERHEAD = 24
/** IEEE 802.3 minimum frame without FCS: a transmitter pads shorter frames (a TAP hands them over unpadded). */
const MIN_WIRE_FRAME = 60

function padded(frame: Uint8Array): Uint8Array {
  if (frame.length >= MIN_WIRE_FRAME) return frame
  const f = new Uint8Array(MIN_WIRE_FRAME)
  f.set(frame)
  return f
}

/**
 * Frames from the cable arrive at the chip no faster than its line rate. A TAP hands over a burst (all
 * fragments of an 8000-byte ping) at once; a real wire spreads them out, and the MCU drains the chip in
 * between. Without this the simulated chip would see an impossible instantaneous burst.
 */
class Wire {
  private readonly frames: Uint8Array[] = []
  private readonly arrivals: number[] = []
  private last = 0
  constructor(private readonly bitsPerUs: number) {}
  push(frame: Uint8Array, now: number): void {
    this.last = Math.max(now, this.last) + ((frame.length + WIRE_OVERHEAD) * 8) / this.bitsPerUs
    this.frames.push(frame)
    this.arrivals.push(this.last)
  }
  /**
   * Hands the next frame to `deliver` if its last bit has arrived by `now`: one per firmware step, so a
   * stall of the host (a GC pause, a burst read from the TAP) stretches the simulated wire instead of
   * dumping a burst into the chip that no real wire could deliver while the MCU keeps polling.
   */
  deliver(now: number, deliver: (f: Uint8Array) => void): void {
    if (this.frames.length > 0 && this.arrivals[0] <= now) {
      this.arrivals.shift()
      deliver(this.frames.shift()!)
    }
  }
  pending(): boolean { return this.frames.length > 0 }
}

function makeChipAndDriver(o: VirtualBoardOptions, clock: Clock): { chip: AnySim; driver: EthernetDriver } {
  if (o.chip === 'w5500') {
    const chip = new W5500Sim({})
    return { chip, driver: new W5500Driver(simPlatform(chip, clock)) }
  }
  const chip = new Enc28j60Sim({ spiClockHz: o.board.spi.baud })
  return { chip, driver: new Enc28j60Driver(simPlatform(chip, clock), { spiClockHz: o.board.spi.baud }) }
}

export function startVirtualBoard(o: VirtualBoardOptions): VirtualBoard {
  const clock = o.clock !== undefined ? o.clock : realClock()
  const portableSize = layoutArena(o.board.budget, 0, o.board.memory.arenaLimit).total
  const core = createCore(o.core, portableSize)
  const layout = layoutArena(o.board.budget, core.base, Math.min(o.board.memory.arenaLimit, core.size))
  const { chip, driver } = makeChipAndDriver(o, clock)
  const firmware = new Firmware({
    core, layout, driver, attachTcp, mac: o.mac, address: o.address, hostname: 'spinet-' + o.chip, pollBudget: POLL_BUDGET,
    log: o.log, random: { next32: () => (Math.random() * 0x100000000) >>> 0 },
  })
  chip.onTransmit = (frame) => o.cable.send(frame)
  const wire = new Wire(LINE_BITS_PER_US[o.chip])
  let stopped = false
  let timer: NodeJS.Timeout | null = null
  let immediate: NodeJS.Immediate | null = null
  let nextTick = 0

  const run = (): void => {
    immediate = null
    if (stopped) return
    let now = clock.now()
    if (now >= nextTick) { firmware.tick(now); nextTick = now + TICK_US }
    const toChip = (f: Uint8Array): void => { chip.receive(f) }
    wire.deliver(now, toChip)
    let next = firmware.step(now)
    // Keep stepping while frames are on the wire, the chip has frames for us or the stack has frames
    // to send, a bounded number of turns, then yield so the cable and timers get their turn.
    for (let turns = 0; turns < 256 && (wire.pending() || chip.interrupt || firmware.busy()); turns++) {
      now = clock.now()
      wire.deliver(now, toChip)
      next = firmware.step(now)
    }
    if (timer !== null) clearTimeout(timer)
    if (wire.pending()) { wake(); return }
    const waitUs = Math.max(0, Math.min(next, nextTick) - clock.now())
    timer = setTimeout(wake, Math.ceil(waitUs / 1000))
  }
  const wake = (): void => { if (immediate === null && !stopped) immediate = setImmediate(run) }

  o.cable.onFrame = (frame) => { wire.push(padded(frame), clock.now()); wake() }
  firmware.start(clock.now())
  wake()
  return {
    firmware,
    chip,
    stop: () => {
      stopped = true
      if (timer !== null) clearTimeout(timer)
      if (immediate !== null) clearImmediate(immediate)
      o.cable.onFrame = null
      o.cable.close()
    },
  }
}
