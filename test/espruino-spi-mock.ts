// Espruino's SPI object (SPI1, SPI2, ...) as a device bundle sees it, in front of a simulated chip, for the
// device suites that run a bundle in tools/espruino-context.ts. It follows Espruino's own semantics
// (src/jswrap_spi_i2c.c, src/jsvariterator.c jsvIterateCallback), not the firmware's use of it, so a driver
// may use any form:
//
//   SPI.send(data, cs)       data: a number (returns a number), a String (returns a String), or anything
//                            else jsvIterateCallback walks (returns a new Uint8Array of the bytes clocked in)
//   SPI.write(a, b, ..., cs) every argument walked the same way, nothing read back; a last argument that is a
//                            pin is the chip select
//   SPI.setup(opts)
//
// jsvIterateCallback: a number (or boolean) is one byte; a String its characters; an ArrayBuffer or typed
// array its elements; an Array each element in turn (nested as deep as it goes); an object
// {data: X, count: N} X walked N times; {callback: fn} what fn returns. Anything else is a TypeError. Every
// value is truncated to a byte as it is clocked out.
//
// One call with a chip select is one chip-select frame: the bytes go to the chip's send() at once. Problems
// (wrong or missing chip select, a bad argument) are thrown, as Espruino would throw, and also kept in
// `problems`, because a firmware may catch what a callee throws.

/** The chip side: one chip-select frame in, MISO out (Enc28j60Sim and W5500Sim). */
export interface SpiChip {
  send(tx: Uint8Array): Uint8Array
}

export interface EspruinoSpiMockOptions {
  /** The bus name, e.g. 'SPI1' (messages only). */
  name: string
  chip: SpiChip
  /** The pin object the board file names as chip select: every frame must be framed by it. */
  cs: unknown
  /** True for the pin objects of the context (a pin is never data). */
  isPin: (x: unknown) => boolean
  /** The context realm's Uint8Array: what send() returns must be the device's own kind of array. */
  Uint8Array: Uint8ArrayConstructor
  /** Checks the options of setup() (throw to refuse them). */
  checkSetup?: (opts: Record<string, unknown>) => void
  /** Called after every chip-select frame (e.g. to watch the chip's INT line). */
  afterFrame?: () => void
}

/** Counts of what the firmware used, so a test can tell which forms a bundle exercises. */
export interface SpiUsage {
  setup: number
  sendNumber: number
  sendString: number
  sendBytes: number
  write: number
  /** Chip-select frames given to the chip, and their bytes. */
  frames: number
  bytes: number
  /** {data, count} items met (any call). */
  repeats: number
}

const toStringTag = (x: unknown): string => Object.prototype.toString.call(x)

/** Walks `x` as jsvIterateCallback does, appending bytes to `out`. Throws a TypeError on what Espruino refuses. */
export function flattenSpiData(x: unknown, out: number[], usage?: SpiUsage, isPin?: (x: unknown) => boolean): void {
  if (typeof x === 'number') {
    out.push(x & 255)
  } else if (typeof x === 'boolean') {
    out.push(x ? 1 : 0)
  } else if (typeof x === 'string') {
    for (let i = 0; i < x.length; i++) out.push(x.charCodeAt(i) & 255)
  } else if (ArrayBuffer.isView(x)) {
    // typed arrays of any realm (the bundle's own Uint8Array is not this realm's)
    if (toStringTag(x) === '[object DataView]') throw new TypeError('SPI: a DataView is not iterable data')
    const a = x as unknown as ArrayLike<number>
    for (let i = 0; i < a.length; i++) out.push(Number(a[i]) & 255)
  } else if (toStringTag(x) === '[object ArrayBuffer]') {
    const a = new Uint8Array(x as ArrayBuffer)
    for (let i = 0; i < a.length; i++) out.push(a[i])
  } else if (Array.isArray(x)) {
    for (let i = 0; i < x.length; i++) flattenSpiData(x[i], out, usage, isPin)
  } else if (x !== null && typeof x === 'object' && !(isPin !== undefined && isPin(x))) {
    const o = x as Record<string, unknown>
    if (typeof o.callback === 'function') {
      const r = (o.callback as () => unknown)()
      if (r !== undefined && r !== null) flattenSpiData(r, out, usage, isPin)
      return
    }
    if (o.data === undefined || (typeof o.count !== 'number' && typeof o.count !== 'boolean')) {
      throw new TypeError('If specifying an object, it must be of the form {data : ..., count : N} or {callback : fn} - got ' +
        JSON.stringify(x))
    }
    if (usage !== undefined) usage.repeats++
    const n = Math.trunc(Number(o.count))
    for (let k = 0; k < n; k++) flattenSpiData(o.data, out, usage, isPin)
  } else {
    throw new TypeError('SPI: cannot send ' + (isPin !== undefined && isPin(x) ? 'a pin' : String(x)) + ' as data')
  }
}

/** The SPI object a bundle finds as its board's bus global. */
export class EspruinoSpiMock {
  readonly usage: SpiUsage = { setup: 0, sendNumber: 0, sendString: 0, sendBytes: 0, write: 0, frames: 0, bytes: 0, repeats: 0 }
  readonly problems: string[] = []
  /** The setup() options, as given. */
  setupOptions: Record<string, unknown> | null = null
  private readonly o: EspruinoSpiMockOptions

  constructor(o: EspruinoSpiMockOptions) {
    this.o = o
  }

  /** The object to put in the context: Espruino's three methods, bound to this mock. */
  global(): { setup: (opts: Record<string, unknown>) => void; send: (data: unknown, cs?: unknown) => unknown; write: (...args: unknown[]) => void } {
    return {
      setup: (opts) => this.setup(opts),
      send: (data, cs) => this.send(data, cs),
      write: (...args) => this.write(...args),
    }
  }

  private fail(what: string): never {
    const msg = this.o.name + ': ' + what
    this.problems.push(msg)
    throw new Error(msg)
  }

  setup(opts: Record<string, unknown>): void {
    this.usage.setup++
    this.setupOptions = opts
    if (this.o.checkSetup !== undefined) {
      try {
        this.o.checkSetup(opts)
      } catch (e) {
        this.fail('setup(' + JSON.stringify(Object.keys(opts)) + '): ' + (e instanceof Error ? e.message : String(e)))
      }
    }
  }

  private checkCs(cs: unknown, call: string): void {
    if (cs === undefined) this.fail(call + ' without a chip select pin: the chip would see no frame boundary')
    if (cs !== this.o.cs) this.fail(call + ' with chip select ' + JSON.stringify(cs) + ', not the board file\'s CS pin')
  }

  private frame(bytes: number[]): Uint8Array {
    const tx = Uint8Array.from(bytes)
    this.usage.frames++
    this.usage.bytes += tx.length
    const rx = this.o.chip.send(tx)
    if (rx.length !== tx.length) this.fail('the chip returned ' + rx.length + ' bytes for a frame of ' + tx.length)
    if (this.o.afterFrame !== undefined) this.o.afterFrame()
    return rx
  }

  private flatten(x: unknown, call: string): number[] {
    const out: number[] = []
    try {
      flattenSpiData(x, out, this.usage, this.o.isPin)
    } catch (e) {
      this.fail(call + ': ' + (e instanceof Error ? e.message : String(e)))
    }
    return out
  }

  /** SPI.send(data, cs): the reply has the kind of `data` (number, String, or a new Uint8Array). */
  send(data: unknown, cs?: unknown): unknown {
    this.checkCs(cs, 'send')
    if (typeof data === 'number' || typeof data === 'boolean') {
      this.usage.sendNumber++
      return this.frame(this.flatten(data, 'send'))[0]
    }
    if (typeof data === 'string') {
      this.usage.sendString++
      const rx = this.frame(this.flatten(data, 'send'))
      let s = ''
      for (let i = 0; i < rx.length; i++) s += String.fromCharCode(rx[i])
      return s
    }
    this.usage.sendBytes++
    const rx = this.frame(this.flatten(data, 'send'))
    const out = new this.o.Uint8Array(rx.length)
    out.set(rx)
    return out
  }

  /** SPI.write(a, b, ..., cs): a last argument that is a pin is the chip select; nothing is returned. */
  write(...args: unknown[]): void {
    this.usage.write++
    let n = args.length
    let cs: unknown
    if (n > 0 && this.o.isPin(args[n - 1])) {
      cs = args[n - 1]
      n--
    }
    this.checkCs(cs, 'write')
    const bytes: number[] = []
    for (let i = 0; i < n; i++) {
      const part = this.flatten(args[i], 'write')
      for (let k = 0; k < part.length; k++) bytes.push(part[k])
    }
    this.frame(bytes)
  }
}
