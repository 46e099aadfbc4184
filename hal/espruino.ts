// The Espruino binding of hal/types.ts: SPIx.setup/send, setWatch, digitalWrite, getTime, E.hwRand.
// Device dialect (reference/espruino.md "APIs a firmware uses").
import { Platform } from './types.js'

interface EspruinoSpi {
  setup(opts: { sck: unknown; miso: unknown; mosi: unknown; baud: number; mode: number }): void
  send(data: Uint8Array, cs: unknown): Uint8Array
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
  return {
    spi: { send: function (tx: Uint8Array): Uint8Array { return w.spi.send(tx, w.cs) } },
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
