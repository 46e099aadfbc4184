// The hot-path contract (firmware/core/contract.ts): both backends, and both wasm paths, held to the
// same vectors and to each other.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Core, pseudoHeaderSeed } from '../firmware/core/contract.js'
import { PortableCore } from '../firmware/core/portable.js'
import { WasmCore } from '../firmware/core/wasm.js'
import { createWasmCore } from '../hal/host/core.js'
import { referenceChecksum, seededBytes } from './helpers.js'

interface Backend { name: string; core: Core; checksum: (off: number, len: number, seed: number) => number }

const wasm: WasmCore = createWasmCore()
const portable = new PortableCore(wasm.buffer, wasm.base, wasm.size)

/** A portable core that believes it runs on Espruino: E.sum is a stand-in with the native semantics. */
function withEspruinoSum(): Backend {
  const g = globalThis as { E?: unknown }
  g.E = { sum: (a: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]; return s } }
  try {
    const core = new PortableCore(wasm.buffer, wasm.base, wasm.size)
    return { name: 'portable (E.sum)', core, checksum: (o, l, s) => core.checksum(o, l, s) }
  } finally {
    delete g.E
  }
}

const backends: Backend[] = [
  { name: 'wasm', core: wasm, checksum: wasm.exports.checksum },
  { name: 'wasm simd', core: wasm, checksum: wasm.exports.checksumSimd },
  { name: 'wasm scalar', core: wasm, checksum: wasm.exports.checksumScalar },
  { name: 'portable', core: portable, checksum: (o, l, s) => portable.checksum(o, l, s) },
  withEspruinoSum(),
]

const mem = new Uint8Array(wasm.buffer)
const base = wasm.base

function place(bytes: Uint8Array, off: number): void {
  mem.set(bytes, off)
}

describe('Internet checksum (RFC 1071)', () => {
  for (const b of backends) {
    test(`${b.name}: RFC 1071 §3 example (sum 0xddf2, checksum 0x220d)`, () => {
      place(Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7), base)
      assert.equal(b.checksum(base, 8, 0), 0x220d)
      assert.equal(b.core.sum(base, 8, 0), 0xddf2)
    })

    test(`${b.name}: an IPv4 header at offset 14 checks to 0 and its checksum field is reproduced`, () => {
      const hdr = Uint8Array.of(0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7)
      place(hdr, base + 14)
      assert.equal(b.checksum(base + 14, 20, 0), 0)
      mem[base + 14 + 10] = 0
      mem[base + 14 + 11] = 0
      assert.equal(b.checksum(base + 14, 20, 0), 0xb861)
    })

    test(`${b.name}: every length 0..300 at offsets 0..7 equals the reference`, () => {
      const data = seededBytes(308, 7)
      for (let off = 0; off < 8; off++) {
        place(data, base + off)
        for (let len = 0; len <= 300; len++) {
          const want = referenceChecksum(data.subarray(0, len), 0x1234)
          assert.equal(b.checksum(base + off, len, 0x1234), want, `offset ${off} length ${len}`)
        }
      }
    })

    test(`${b.name}: 64 KiB, and 1 MiB of 0xFF (lane overflow), equal the reference`, () => {
      const data = seededBytes(65536, 99)
      place(data, base + 3)
      assert.equal(b.checksum(base + 3, 65536, 0), referenceChecksum(data, 0))
      const ones = new Uint8Array(1 << 20).fill(0xff)
      place(ones, base + 1)
      assert.equal(b.checksum(base + 1, ones.length, 0xffffff), referenceChecksum(ones, 0xffffff))
      place(new Uint8Array(1 << 20), base + 1)
    })

    test(`${b.name}: zero length gives the complement of the folded seed`, () => {
      assert.equal(b.checksum(base, 0, 0), 0xffff)
      assert.equal(b.checksum(base, 0, 0x1fffe), ~0xffff & 0xffff)
    })
  }

  test('pseudo-header seed: TypeScript and wasm agree, and a UDP datagram with its checksum verifies', () => {
    const src = 0x0a4d0002, dst = 0x0a4d0001
    const udp = Uint8Array.of(0x30, 0x39, 0x00, 0x07, 0x00, 0x0c, 0x00, 0x00, 0x61, 0x62, 0x63, 0x64)
    const seed = pseudoHeaderSeed(src, dst, 17, udp.length)
    assert.equal(wasm.exports.pseudoHeaderSeed(src, dst, 17, udp.length), seed)
    const pseudo = Uint8Array.of(10, 77, 0, 2, 10, 77, 0, 1, 0, 17, 0, udp.length)
    const all = new Uint8Array(pseudo.length + udp.length)
    all.set(pseudo); all.set(udp, pseudo.length)
    const want = referenceChecksum(all, 0)
    place(udp, base + 42)
    for (const b of backends) {
      assert.equal(b.checksum(base + 42, udp.length, seed), want, b.name)
    }
    mem[base + 42 + 6] = want >> 8
    mem[base + 42 + 7] = want & 0xff
    for (const b of backends) assert.equal(b.checksum(base + 42, udp.length, seed), 0, b.name)
  })

  test('property: all backends agree with the reference on random data, offsets, lengths and seeds', () => {
    fc.assert(fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 2000 }), fc.nat(63), fc.nat(0x3ffff),
      (data, off, seed) => {
        place(data, base + off)
        const want = referenceChecksum(data, seed)
        for (const b of backends) {
          if (b.checksum(base + off, data.length, seed) !== want) return false
        }
        return true
      }), { numRuns: 2000, seed: 42 })
  })
})

describe('wasm core memory', () => {
  test('linear memory has a fixed size and never grows, so the arena views stay valid', () => {
    const pages = wasm.exports.memoryBytes() / 65536
    assert.equal(pages, 256)
    assert.equal(wasm.buffer.byteLength, pages * 65536)
    assert.ok(wasm.exports.dataEnd() <= wasm.base)
    const memory = wasm.exports.memory as unknown as { grow(pages: number): number }
    assert.throws(() => memory.grow(1), 'maximum = initial: the memory refuses to grow')
    assert.equal(wasm.exports.memory.buffer, wasm.buffer)
  })
})
