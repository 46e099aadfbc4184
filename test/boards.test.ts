// Board files: every board is sound, the required boards exist, and the Pico leaves half its
// variables to the application (README "Memory on the Pico" explains the estimate).
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { checkBoard, Board } from '../firmware/kernel/board.js'
import { layoutArena } from '../firmware/kernel/arena.js'
import { boardNames, loadBoard } from '../hal/host/boards.js'

describe('boards', () => {
  test('the required boards exist', () => {
    for (const n of ['host', 'espruino-pico-w5500', 'espruino-wifi-enc28j60', 'esp32-enc28j60']) {
      assert.ok(boardNames().includes(n), n)
    }
  })

  for (const name of boardNames()) {
    test(`${name}: sound, named after its file, arena within its limit`, () => {
      const b = loadBoard(name)
      assert.deepEqual(checkBoard(b), [])
      assert.equal(b.name, name)
      const l = layoutArena(b.budget, 0, b.memory.arenaLimit)
      assert.ok(l.total <= b.memory.arenaLimit)
    })
  }

  test('a board file with mistakes is refused with what to change', () => {
    const b: Board = { ...loadBoard('espruino-pico-w5500') }
    b.net = { mac: '01:00:00:00:00:01', ip: '10.0.0.300/24' }
    b.core = 'wasm'
    b.spi = { ...b.spi, baud: 0 }
    const p = checkBoard(b).join('\n')
    assert.match(p, /multicast/)
    assert.match(p, /net.ip/)
    assert.match(p, /no WebAssembly/)
    assert.match(p, /spi.baud/)
  })

  test('an ENC28J60 board above 20 MHz is refused', () => {
    const b: Board = { ...loadBoard('esp32-enc28j60') }
    b.spi = { ...b.spi, baud: 25000000 }
    assert.match(checkBoard(b).join('\n'), /20 MHz/)
  })
})
