// Frame rings: fixed slots in the arena, FIFO, refuse when full, never overwrite.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FrameRing } from '../hal/frame-ring.js'
import { layoutArena, region } from '../firmware/kernel/arena.js'
import { loadBoard } from '../hal/host/boards.js'

function ringFromBoard(): { ring: FrameRing; bytes: Uint8Array; slots: number } {
  const b = loadBoard('espruino-wifi-enc28j60')
  const layout = layoutArena(b.budget, 0, b.memory.arenaLimit)
  const buffer = new ArrayBuffer(layout.total)
  const r = region(layout, 'rx ring')
  const h = region(layout, 'rx ring header')
  return { ring: new FrameRing(buffer, r.offset, r.count, r.each, h.offset), bytes: new Uint8Array(buffer), slots: r.count }
}

test('frames come out in order with their lengths, in slots inside the ring region', () => {
  const { ring, bytes, slots } = ringFromBoard()
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < slots; i++) {
      const at = ring.reserve()
      assert.ok(at >= 0)
      bytes.fill(i + round, at, at + 60 + i)
      ring.commit(60 + i)
    }
    for (let i = 0; i < slots; i++) {
      const at = ring.peek()
      assert.equal(ring.peekLength(), 60 + i)
      assert.equal(bytes[at], i + round)
      assert.equal(bytes[at + 59 + i], i + round)
      ring.release()
    }
    assert.equal(ring.peek(), -1)
  }
})

test('a full ring refuses, keeps every frame it holds, and counts refusals', () => {
  const { ring, bytes, slots } = ringFromBoard()
  for (let i = 0; i < slots; i++) { const at = ring.reserve(); bytes[at] = i; ring.commit(1) }
  assert.equal(ring.reserve(), -1)
  ring.refuse()
  assert.equal(ring.overflows(), 1)
  assert.equal(ring.free(), 0)
  assert.throws(() => ring.commit(10))
  for (let i = 0; i < slots; i++) { assert.equal(bytes[ring.peek()], i); ring.release() }
  assert.throws(() => ring.release())
})

test('a frame longer than a slot is refused before anything is written', () => {
  const { ring } = ringFromBoard()
  ring.reserve()
  assert.throws(() => ring.commit(ring.capacity + 1), /does not fit/)
  assert.equal(ring.count(), 0)
  ring.commit(ring.capacity)
  assert.equal(ring.peekLength(), ring.capacity)
})
