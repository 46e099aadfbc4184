// The few things the stack needs from a platform (ARCHITECTURE.md "Platform bindings").
// Device dialect. Espruino binding: hal/espruino.ts; host binding: hal/host/platform.ts.

/**
 * An SPI bus with Espruino's semantics: `send` frames chip select around the call (one CS frame per
 * call), clocks `tx` out and returns the bytes clocked in, always the same length as `tx`.
 */
export interface SpiBus {
  send(tx: Uint8Array): Uint8Array
}

/** The chip's interrupt output as the MCU sees it: `asserted()` is true while the chip requests service. */
export interface InterruptInput {
  asserted(): boolean
  /** Calls `onAssert` when the line becomes asserted (Espruino: setWatch on the falling edge). */
  watch(onAssert: () => void): void
}

/** The chip's hardware reset line: `pulse` holds it asserted for at least `us` microseconds. */
export interface ResetOutput {
  pulse(us: number): void
}

/** A monotonic clock in microseconds (firmware/kernel/clock.ts; tests pass a VirtualClock). */
export type { Clock } from '../firmware/kernel/clock.js'
import type { Clock } from '../firmware/kernel/clock.js'

/** Unpredictable 32-bit values (ISNs, DHCP xids, ephemeral ports). */
export interface RandomSource {
  next32(): number
}

/** Everything a chip driver and the stack need from the board. */
export interface Platform {
  spi: SpiBus
  irq: InterruptInput
  reset: ResetOutput
  clock: Clock
  random: RandomSource
  /** Busy-waits (or advances a virtual clock) for at least `us` microseconds. */
  delay(us: number): void
}
