// Entry of a device bundle (build/boards/NAME.js): the board file is baked in by tools/bundle.ts.
// Device dialect. The arena is one ArrayBuffer sized from the budget; the chip is reached through the
// board's SPI bus and pins (hal/espruino.ts), and the loop is driven by the chip's interrupt pin
// (setWatch) plus a slow tick.
import { PortableCore } from './core/portable.js'
import { layoutArena } from './kernel/arena.js'
import { Board } from './kernel/board.js'
import { boot } from './boot.js'
import { Firmware, TcpFactory } from './main.js'
import { parseCidr, parseIp } from './net/addr.js'
import { parseMac } from './net/ethernet.js'
import { IpConfig } from './net/stack.js'
import { espruinoPlatform, EspruinoWiring } from '../hal/espruino.js'
import { EthernetDriver } from '../hal/driver.js'
import { Platform } from '../hal/types.js'

declare function setInterval(fn: () => void, ms: number): unknown

/** Frames taken from the chip per step; the rest waits in the chip (its buffer is the big one). */
const POLL_BUDGET = 4
/** The slow tick (ms): link state, and a step in case an interrupt edge was missed. */
const TICK_MS = 50

/** Resolves the board file's names (SPI1, A5, ...) to Espruino's objects; null when absent. */
function resolveGlobal(name: string): unknown {
  try {
    // eslint-disable-next-line no-eval
    return (0, eval)(name)
  } catch (e) {
    return null
  }
}

function wiring(board: Board): EspruinoWiring | null {
  const spi = resolveGlobal(board.spi.bus)
  if (spi === null || spi === undefined) return null
  return {
    spi: spi as EspruinoWiring['spi'], sck: resolveGlobal(board.spi.sck || ''), miso: resolveGlobal(board.spi.miso || ''),
    mosi: resolveGlobal(board.spi.mosi || ''), cs: resolveGlobal(board.pins.cs), int: resolveGlobal(board.pins.int),
    reset: resolveGlobal(board.pins.reset), baud: board.spi.baud, mode: board.spi.mode,
  }
}

/** Makes the chip driver; the bundle passes the one for its board's chip, so only that one is carried. */
export type DriverFactory = (platform: Platform) => EthernetDriver

function staticAddress(board: Board): IpConfig | null {
  if (board.net.ip === 'dhcp') return null
  const c = parseCidr(board.net.ip)
  if (c === null) return null
  return { ip: c.ip, mask: c.mask, gateway: board.net.gateway !== undefined ? parseIp(board.net.gateway) >>> 0 : 0 }
}

function log(line: string): void { console.log(line) }

/**
 * Steps the firmware on the chip's interrupt and on a slow tick. A function of its own so that its closures keep
 * only `fw` and `platform` alive: closures made in startDevice would keep all of its variables, the board
 * file among them, for as long as the device runs (a variable block per few characters on Espruino).
 */
function run(fw: Firmware, platform: Platform): void {
  const step = function (): void {
    const now = platform.clock.now()
    fw.step(now)
    for (let turns = 0; turns < 8 && (platform.irq.asserted() || fw.busy()); turns++) fw.step(platform.clock.now())
  }
  platform.irq.watch(step)
  setInterval(function () { fw.tick(platform.clock.now()); step() }, TICK_MS)
}

/** Boots, prints the arena map, and starts the network when the board's SPI bus exists. */
export function startDevice(board: Board, makeDriver: DriverFactory, attachTcp: TcpFactory | null): Firmware | null {
  const size = layoutArena(board.budget, 0, board.memory.arenaLimit).total
  const core = new PortableCore(new ArrayBuffer(size), 0, size)
  const booted = boot(board, core, log)
  const w = wiring(board)
  if (w === null) {
    log('no ' + board.spi.bus + ' here: network not started')
    return null
  }
  const platform = espruinoPlatform(w)
  const fw = new Firmware({
    core: core, layout: booted.arena, driver: makeDriver(platform), random: platform.random, attachTcp: attachTcp,
    mac: parseMac(board.net.mac), address: staticAddress(board), hostname: board.name, pollBudget: POLL_BUDGET, log: log,
  })
  fw.start(platform.clock.now())
  run(fw, platform)
  return fw
}
