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
  parseFrame(off: number, len: number, desc: number): number
  parseIpv4(off: number, len: number, desc: number): number
  emitEthernet(off: number, dstMacOff: number, srcMacOff: number, ethertype: number): void
  emitArp(off: number, op: number, shaOff: number, spa: number, thaOff: number, tpa: number): void
  emitIpv4(off: number, tos: number, totalLength: number, id: number, flagsFragment: number, ttl: number,
           proto: number, src: number, dst: number): void
  emitUdp(off: number, srcPort: number, dstPort: number, dataLen: number, src: number, dst: number): void
  emitIcmp(off: number, type: number, code: number, rest: number, len: number): void
  emitIcmpChecksum(off: number, len: number): void
  copy(dst: number, src: number, len: number): void
  tcpReassemble(trackerOff: number, maxRanges: number, ringOff: number, ringSize: number, ringNxt: number,
                rcvNxt: number, rcvWnd: number, seq: number, dataOff: number, len: number): number
  tcpSackBlocks(trackerOff: number, out: number, max: number): number
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
    this.parseFrame = exports.parseFrame
    this.parseIpv4 = exports.parseIpv4
    this.emitEthernet = exports.emitEthernet
    this.emitArp = exports.emitArp
    this.emitIpv4 = exports.emitIpv4
    this.emitUdp = exports.emitUdp
    this.emitIcmp = exports.emitIcmp
    this.emitIcmpChecksum = exports.emitIcmpChecksum
    this.copy = exports.copy
    this.tcpReassemble = exports.tcpReassemble
    this.tcpSackBlocks = exports.tcpSackBlocks
  }

  checksum: (off: number, len: number, seed: number) => number
  sum: (off: number, len: number, seed: number) => number
  // Verdicts and other results are small, so the i32 the export returns needs no `>>> 0`; IPv4
  // addresses are passed in (JavaScript wraps values above 2^31 into the i32 parameter) or read back
  // from the descriptor through a Uint32Array, never returned.
  parseFrame: (off: number, len: number, desc: number) => number
  parseIpv4: (off: number, len: number, desc: number) => number
  emitEthernet: (off: number, dstMacOff: number, srcMacOff: number, ethertype: number) => void
  emitArp: (off: number, op: number, shaOff: number, spa: number, thaOff: number, tpa: number) => void
  emitIpv4: (off: number, tos: number, totalLength: number, id: number, flagsFragment: number, ttl: number,
             proto: number, src: number, dst: number) => void
  emitUdp: (off: number, srcPort: number, dstPort: number, dataLen: number, src: number, dst: number) => void
  emitIcmp: (off: number, type: number, code: number, rest: number, len: number) => void
  emitIcmpChecksum: (off: number, len: number) => void
  // Sequence numbers above 2^31 wrap into the i32 parameters and back; results are small or negative
  // codes (the i32 the export returns is the contract's number as it is).
  copy: (dst: number, src: number, len: number) => void
  tcpReassemble: (trackerOff: number, maxRanges: number, ringOff: number, ringSize: number, ringNxt: number,
                  rcvNxt: number, rcvWnd: number, seq: number, dataOff: number, len: number) => number
  tcpSackBlocks: (trackerOff: number, out: number, max: number) => number
}
