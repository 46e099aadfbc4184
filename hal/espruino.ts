// The Espruino binding of hal/types.ts: SPIx.setup/send/write, setWatch, digitalWrite, getTime, E.hwRand.
// Device dialect (reference/espruino.md "APIs a firmware uses").
import { Platform } from './types.js'

/** A `{data, count}` item of Espruino's SPI data: `data` sent `count` times (src/jsvariterator.c). */
interface EspruinoRepeat {
  data: number
  count: number
}

interface EspruinoSpi {
  setup(opts: { sck: unknown; miso: unknown; mosi: unknown; baud: number; mode: number }): void
  /** Anything but a number or a String (here: a typed array, or an array of typed arrays and
   *  `{data, count}` items sent end to end) returns a new Uint8Array of the bytes clocked in. */
  send(data: Uint8Array | (Uint8Array | EspruinoRepeat)[], cs: unknown): Uint8Array
  /** Sends its arguments end to end without reading back; a last argument that is a pin is the CS. */
  write(a: Uint8Array, b: Uint8Array, cs: unknown): void
}

declare function getTime(): number
declare function digitalWrite(pin: unknown, value: number | boolean): void
declare function digitalRead(pin: unknown): number
declare function setWatch(fn: () => void, pin: unknown, opts: { repeat: boolean; edge: string; debounce?: number }): unknown
declare const E: { hwRand(): number }

export interface EspruinoWiring {
  spi: EspruinoSpi
  sck: unknown
  miso: unknown
  mosi: unknown
  cs: unknown
  int: unknown
  reset: unknown
  baud: number
  mode: number
}

export function espruinoPlatform(w: EspruinoWiring): Platform {
  w.spi.setup({ sck: w.sck, miso: w.miso, mosi: w.mosi, baud: w.baud, mode: w.mode })
  digitalWrite(w.cs, 1)
  digitalWrite(w.reset, 1)
  const now = function (): number { return getTime() * 1e6 }
  const delay = function (us: number): void {
    const until = now() + us
    while (now() < until) { /* busy-wait: only used for microsecond chip timings */ }
  }
  // The data of a burst read: [header, {data: 0, count: len}], made once and refilled per read, so a
  // read allocates nothing but what SPI.send returns.
  const zeros: EspruinoRepeat = { data: 0, count: 0 }
  const burst: (Uint8Array | EspruinoRepeat)[] = [new Uint8Array(0), zeros]
  return {
    spi: {
      send: function (tx: Uint8Array): Uint8Array { return w.spi.send(tx, w.cs) },
      // SPI.send of an array sends its items end to end, {data: 0, count: len} as len zeros, and
      // returns one Uint8Array of header.length + len bytes (src/jswrap_spi_i2c.c): no MOSI buffer.
      sendThenRead: function (header: Uint8Array, len: number): Uint8Array {
        burst[0] = header
        zeros.count = len
        return w.spi.send(burst, w.cs)
      },
      // SPI.write sends its arguments end to end and reads nothing back; the last one, when it is a Pin
      // (w.cs is one: the board file names it), is the CS (src/jswrap_spi_i2c.c). The data go out of
      // the caller's view, uncopied.
      sendThenWrite: function (header: Uint8Array, data: Uint8Array): void { w.spi.write(header, data, w.cs) },
    },
    // Both chips drive INT low to request service.
    irq: {
      asserted: function (): boolean { return digitalRead(w.int) === 0 },
      watch: function (onAssert: () => void): void { setWatch(onAssert, w.int, { repeat: true, edge: 'falling' }) },
    },
    reset: {
      pulse: function (us: number): void { digitalWrite(w.reset, 0); delay(us); digitalWrite(w.reset, 1) },
    },
    clock: { now: now },
    random: { next32: function (): number { return E.hwRand() >>> 0 } },
    delay: delay,
  }
}
