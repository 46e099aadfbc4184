// The wasm backend of the hot-path contract: a thin binding over build/core.wasm's exports.
// The module is instantiated by the host (hal/host/core.ts); this file only needs its exports.
import { Core } from './contract.js'

/** What assembly/index.ts exports. */
export interface CoreExports {
  memory: { buffer: ArrayBuffer }
  ARENA_BASE: { value: number }
  memoryBytes(): number
  dataEnd(): number
  checksum(ptr: number, len: number, seed: number): number
  checksumScalar(ptr: number, len: number, seed: number): number
  checksumSimd(ptr: number, len: number, seed: number): number
  sum(ptr: number, len: number, seed: number): number
  sumScalar(ptr: number, len: number, seed: number): number
  sumSimd(ptr: number, len: number, seed: number): number
  pseudoHeaderSeed(src: number, dst: number, proto: number, length: number): number
}

export class WasmCore implements Core {
  readonly name = 'wasm' as const
  readonly buffer: ArrayBuffer
  readonly base: number
  readonly size: number
  readonly exports: CoreExports

  constructor(exports: CoreExports) {
    this.exports = exports
    this.buffer = exports.memory.buffer
    this.base = exports.ARENA_BASE.value
    if (exports.dataEnd() > this.base) throw new Error('core.wasm static data overlaps the arena base')
    this.size = exports.memoryBytes() - this.base
    // Bound methods keep the call path to one export call (no property lookups per packet).
    this.checksum = exports.checksum
    this.sum = exports.sum
  }

  checksum: (off: number, len: number, seed: number) => number
  sum: (off: number, len: number, seed: number) => number
}
