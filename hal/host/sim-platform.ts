// The host binding of hal/types.ts: a simulated chip is the SPI bus; its INT output is the interrupt
// input; the clock is real or virtual.
import crypto from 'node:crypto'
import { Platform, SpiBus } from '../types.js'
import { Clock, VirtualClock } from '../../firmware/kernel/clock.js'

/** What the platform needs from a simulated chip (Enc28j60Sim and W5500Sim both have it). */
export interface SimChip {
  send(tx: Uint8Array): Uint8Array
  readonly interrupt: boolean
  /** The RESET pin: back to the power-on state. */
  hardwareReset?(): void
}

/** Real time in microseconds since an arbitrary start. */
export function realClock(): Clock {
  const t0 = process.hrtime.bigint()
  return { now: () => Number(process.hrtime.bigint() - t0) / 1000 }
}

/** `header` then `data` in one array: what one chip-select frame of SpiBus.sendThenRead (`data` all
 *  zeros) or sendThenWrite clocks out. */
function joinBytes(header: Uint8Array, data: Uint8Array): Uint8Array {
  const tx = new Uint8Array(header.length + data.length)
  tx.set(header, 0)
  tx.set(data, header.length)
  return tx
}

/**
 * A host SpiBus over one chip-select frame function. Host code may allocate: sendThenRead and
 * sendThenWrite put the same bytes in one frame as the device's SPI.send / SPI.write do (hal/espruino.ts)
 * and pass it to the bus's own `send`, looked up at each call, so a test that wraps `bus.send` sees
 * every frame, bursts included.
 */
export function hostSpiBus(send: (tx: Uint8Array) => Uint8Array): SpiBus {
  const bus: SpiBus = {
    send,
    sendThenRead: (header, len) => bus.send(joinBytes(header, new Uint8Array(len))),
    sendThenWrite: (header, data) => { bus.send(joinBytes(header, data)) },
  }
  return bus
}

export function simPlatform(chip: SimChip, clock: Clock): Platform {
  const virtual = clock instanceof VirtualClock ? clock : null
  const delay = (us: number): void => {
    if (virtual !== null) { virtual.advance(us); return }
    const until = clock.now() + us
    while (clock.now() < until) { /* microsecond chip timings only */ }
  }
  const watchers: (() => void)[] = []
  return {
    spi: hostSpiBus((tx) => chip.send(tx)),
    irq: {
      asserted: () => chip.interrupt,
      watch: (fn) => { watchers.push(fn) },
    },
    reset: {
      pulse: (us) => {
        delay(us)
        if (chip.hardwareReset !== undefined) chip.hardwareReset()
      },
    },
    clock,
    random: { next32: () => crypto.randomBytes(4).readUInt32LE(0) },
    delay,
  }
}
