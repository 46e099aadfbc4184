// The device bundle runs the whole firmware, not just its boot: in a Node vm context stripped to
// Espruino's globals, with the board's SPI bus (SPI1/SPI2.send(data, cs) and .write(...data, cs), with
// Espruino's handling of arrays and {data, count}), digitalRead/Write and
// setWatch wired to a simulated chip, each Espruino board's bundle must initialise its chip, bring
// the link up and put a DHCPDISCOVER on the cable.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { createEspruinoContext } from '../tools/espruino-context.js'
import { boardNames, loadBoard } from '../hal/host/boards.js'
import { packageRoot } from '../hal/host/paths.js'
import { Enc28j60Sim, W5500Sim } from '../hal/sim/index.js'
import { Board } from '../firmware/kernel/board.js'
import { flattenSpiData } from './espruino-spi-mock.js'

function isDhcpDiscover(f: Uint8Array, mac: Uint8Array): boolean {
  if (f.length < 14 + 20 + 8 + 240) return false
  const type = (f[12] << 8) | f[13]
  if (type !== 0x0800 || f[14 + 9] !== 17) return false
  const ihl = (f[14] & 15) * 4
  const u = 14 + ihl
  if (((f[u] << 8) | f[u + 1]) !== 68 || ((f[u + 2] << 8) | f[u + 3]) !== 67) return false
  const d = u + 8
  for (let i = 0; i < 6; i++) if (f[6 + i] !== mac[i] || f[d + 28 + i] !== mac[i]) return false
  const cookie = d + 236
  if (f[cookie] !== 99 || f[cookie + 1] !== 130 || f[cookie + 2] !== 83 || f[cookie + 3] !== 99) return false
  for (let o = cookie + 4; o + 2 < f.length && f[o] !== 255;) {
    if (f[o] === 0) { o++; continue }
    if (f[o] === 53) return f[o + 2] === 1
    o += 2 + f[o + 1]
  }
  return false
}

/** A broadcast frame of `len` bytes of an unused ethertype (the stack drops it; the driver reads it). */
function broadcastFrame(src: Uint8Array, len: number): Uint8Array {
  const f = new Uint8Array(len).fill(0x5a)
  f.fill(0xff, 0, 6)
  f.set(src, 6)
  f[12] = 0x88
  f[13] = 0xb5
  return f
}

function macOf(b: Board): Uint8Array {
  return Uint8Array.from(b.net.mac.split(':').map((h) => parseInt(h, 16)))
}

for (const name of boardNames().filter((n) => loadBoard(n).platform === 'espruino')) {
  test(`${name}: the device bundle drives its ${loadBoard(name).chip} and sends a DHCPDISCOVER`, async () => {
    const board = loadBoard(name)
    const file = path.join(packageRoot(), 'build/boards', name + '.js')
    const chip = board.chip === 'w5500' ? new W5500Sim({}) : new Enc28j60Sim({ spiClockHz: board.spi.baud })
    const sent: Uint8Array[] = []
    chip.onTransmit = (f) => { sent.push(f.slice()) }
    const ctx = createEspruinoContext()
    const pins: Record<string, unknown> = {}
    for (const p of [board.spi.sck, board.spi.miso, board.spi.mosi, board.pins.cs, board.pins.int, board.pins.reset]) {
      if (p !== undefined) pins[p] = { pin: p }
    }
    let watch: (() => void) | null = null
    let csFrames = 0
    let largestSend = 0 // the longest typed array given to send(): a MOSI buffer the driver filled
    let burstReads = 0 // send([header, {data: 0, count}])
    let burstWrites = 0 // write(header, frame, cs)
    Object.assign(ctx.context, pins, {
      [board.spi.bus]: {
        // the option keys must reach Espruino under their own names (tools/bundle.ts mangles the firmware's)
        setup: (opts: Record<string, unknown>) => {
          assert.deepEqual(Object.keys(opts).sort(), ['baud', 'miso', 'mode', 'mosi', 'sck'])
          assert.equal(opts.baud, board.spi.baud)
          assert.equal(opts.sck, pins[board.spi.sck as string])
        },
        // Espruino's SPI.send (src/jswrap_spi_i2c.c): one CS frame; a typed array or an array of items
        // returns a Uint8Array of what came back.
        send: (data: unknown, cs: unknown) => {
          assert.equal(cs, pins[board.pins.cs], 'chip select is the board file\'s CS pin')
          assert.ok(typeof data === 'object' && data !== null, 'send() takes a typed array or an array here')
          csFrames++
          if (ArrayBuffer.isView(data)) largestSend = Math.max(largestSend, data.byteLength)
          else burstReads++
          const tx: number[] = []
          flattenSpiData(data, tx)
          return chip.send(Uint8Array.from(tx))
        },
        // Espruino's SPI.write(...data, nss): the arguments end to end in one CS frame when the last one is
        // a pin; nothing is read back.
        write: (...args: unknown[]) => {
          assert.equal(args[args.length - 1], pins[board.pins.cs], 'write() ends with the board file\'s CS pin')
          csFrames++
          burstWrites++
          const tx: number[] = []
          flattenSpiData(args.slice(0, -1), tx)
          chip.send(Uint8Array.from(tx))
        },
      },
      digitalWrite: () => {},
      digitalRead: (pin: unknown) => (pin === pins[board.pins.int] ? (chip.interrupt ? 0 : 1) : 1),
      setWatch: (fn: () => void, pin: unknown, opts: Record<string, unknown>) => {
        assert.equal(pin, pins[board.pins.int], 'the watch is on the board file\'s INT pin')
        assert.equal(JSON.stringify(opts), '{"repeat":true,"edge":"falling"}')
        watch = fn
        return 1
      },
    })
    try {
      ctx.run(fs.readFileSync(file, 'utf8'), name + '.js')
      const deadline = Date.now() + 5000
      while (Date.now() < deadline && !sent.some((f) => isDhcpDiscover(f, macOf(board)))) {
        if (chip.interrupt && watch !== null) (watch as () => void)()
        await new Promise((r) => setTimeout(r, 20))
      }
      assert.deepEqual(ctx.errors, [])
      assert.ok(ctx.output.some((l) => /^link up/.test(l)), ctx.output.join('\n'))
      assert.ok(sent.some((f) => isDhcpDiscover(f, macOf(board))), `no DHCPDISCOVER among ${sent.length} frames; output:\n${ctx.output.join('\n')}`)
      assert.ok(csFrames > 10)
      if (board.chip === 'w5500') {
        // hal/w5500.ts keeps no frame-sized MOSI buffer: register accesses go out of its 8-byte buffer,
        // frames through SPI.write and SPI.send([header, {data: 0, count: n}]) (tools/bundle.ts must
        // keep the names write and count).
        assert.ok(largestSend <= 8, 'send() of a ' + largestSend + '-byte typed array')
        assert.ok(burstWrites > 0, 'frames go out through SPI.write')
        assert.ok(chip.receive(broadcastFrame(new Uint8Array([2, 0, 0, 0xaa, 0xbb, 0xcc]), 300)))
        const rxDeadline = Date.now() + 5000
        while (Date.now() < rxDeadline && burstReads === 0) {
          if (chip.interrupt && watch !== null) (watch as () => void)()
          await new Promise((r) => setTimeout(r, 20))
        }
        assert.deepEqual(ctx.errors, [])
        assert.ok(burstReads > 0, 'a received frame is read through SPI.send([header, {data: 0, count: n}])')
        assert.ok(largestSend <= 8, 'send() of a ' + largestSend + '-byte typed array')
      }
    } finally {
      ctx.dispose()
    }
  })
}
