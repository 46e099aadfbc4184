// A board file (boards/*.json): the chip, its wiring, network defaults and the memory budget.
// Device dialect.
import { Budget, checkBudget } from './arena.js'
import { CoreName } from '../core/contract.js'
import { parseIp, parseCidr } from '../net/addr.js'
import { readMac } from '../net/ethernet.js'

export interface BoardSpi { bus: string; sck?: string; miso?: string; mosi?: string; baud: number; mode: number }
export interface BoardPins { cs: string; int: string; reset: string }
export interface BoardNet { mac: string; ip: string; gateway?: string }

export interface Board {
  name: string
  description: string
  platform: 'host' | 'espruino'
  core: CoreName
  chip: 'enc28j60' | 'w5500'
  espruino?: { board: string; jsVars: number; jsVarBytes: number }
  spi: BoardSpi
  pins: BoardPins
  net: BoardNet
  memory: { arenaLimit: number; bundleLimit?: number }
  budget: Budget
}

// No regular expressions here: Espruino's engine lacks {n} quantifiers and quantified groups.
function validIp(s: string, withPrefix: boolean): boolean {
  if (typeof s !== 'string') return false
  const slash = s.indexOf('/')
  if (slash >= 0 && !withPrefix) return false
  if (slash < 0) return parseIp(s) >= 0
  const c = parseCidr(s)
  return c !== null && c.mask !== 0
}

function validMac(s: string): boolean {
  return typeof s === 'string' && s.length === 17 && s.indexOf('-') < 0 && readMac(s, new Uint8Array(6))
}

/** Checks a board file; returns what is wrong with it, each item saying what to change. */
export function checkBoard(b: Board): string[] {
  const p: string[] = []
  if (typeof b.name !== 'string' || b.name === '') p.push('name: give the board a name')
  if (b.platform !== 'host' && b.platform !== 'espruino') p.push('platform: must be "host" or "espruino"')
  if (b.core !== 'wasm' && b.core !== 'portable') p.push('core: must be "wasm" or "portable"')
  if (b.platform === 'espruino' && b.core !== 'portable') p.push('core: Espruino has no WebAssembly; use "portable"')
  if (b.chip !== 'enc28j60' && b.chip !== 'w5500') p.push('chip: must be "enc28j60" or "w5500"')
  if (!b.spi || typeof b.spi.baud !== 'number' || b.spi.baud <= 0) p.push('spi.baud: set the SPI clock in Hz')
  else if (b.chip === 'enc28j60' && b.spi.baud > 20000000) p.push('spi.baud: the ENC28J60 is specified to 20 MHz at most')
  else if (b.chip === 'w5500' && b.spi.baud > 80000000) p.push('spi.baud: the W5500 is specified to 80 MHz at most')
  if (!b.pins || !b.pins.cs || !b.pins.int || !b.pins.reset) p.push('pins: name the cs, int and reset pins')
  if (!b.net || !validMac(b.net.mac)) p.push('net.mac: write the MAC as six hex bytes, e.g. 02:53:50:00:00:01')
  else if ((parseInt(b.net.mac.slice(0, 2), 16) & 1) !== 0) p.push('net.mac: the first byte is odd, which makes it a multicast address')
  if (b.net && b.net.ip !== 'dhcp' && !validIp(b.net.ip, true)) p.push('net.ip: "dhcp" or an address with prefix, e.g. 192.168.1.50/24')
  if (b.net && b.net.gateway !== undefined && !validIp(b.net.gateway, false)) p.push('net.gateway: an IPv4 address')
  if (!b.memory || typeof b.memory.arenaLimit !== 'number') p.push('memory.arenaLimit: the most bytes the arena may take')
  if (b.platform === 'espruino' && (!b.espruino || !(b.espruino.jsVars > 0))) p.push('espruino.jsVars: the board\'s variable count')
  const budget = checkBudget(b.budget)
  for (let i = 0; i < budget.length; i++) p.push(budget[i])
  return p
}
