// The host binding of hal/types.ts: a simulated chip is the SPI bus; its INT output is the interrupt
// input; the clock is real or virtual.
import crypto from 'node:crypto'
import { Platform } from '../types.js'
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

export function simPlatform(chip: SimChip, clock: Clock): Platform {
  const virtual = clock instanceof VirtualClock ? clock : null
  const delay = (us: number): void => {
    if (virtual !== null) { virtual.advance(us); return }
    const until = clock.now() + us
    while (clock.now() < until) { /* microsecond chip timings only */ }
  }
  const watchers: (() => void)[] = []
  return {
    spi: { send: (tx) => chip.send(tx) },
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
