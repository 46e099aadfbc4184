// The few things the stack needs from a platform (ARCHITECTURE.md "Platform bindings").
// Device dialect. Espruino binding: hal/espruino.ts; host binding: hal/host/sim-platform.ts.

/**
 * An SPI bus with Espruino's semantics: every call is one chip-select frame (CS low, the bytes, CS high).
 * The two `sendThen…` calls let a driver move a data phase without first copying it behind its command
 * header in a buffer of its own (on Espruino such a frame-sized buffer costs ~117 of a Pico's 5,100
 * blocks).
 */
export interface SpiBus {
  /** Clocks `tx` out and returns the bytes clocked in, always the same length as `tx`. */
  send(tx: Uint8Array): Uint8Array
  /**
   * Clocks out `header` and then `len` zero bytes, and returns the `header.length + len` bytes clocked
   * in: the data start at index `header.length` (as `send` of the header and zeros would return them).
   */
  sendThenRead(header: Uint8Array, len: number): Uint8Array
  /** Clocks out `header` and then all of `data` (often a subarray view into the arena); the bytes
   *  clocked in are not kept. */
  sendThenWrite(header: Uint8Array, data: Uint8Array): void
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
