// The hot paths compiled to build/core.wasm. Memory has a fixed size (asconfig.json: initial =
// maximum), so `memory.buffer` never changes identity: on hosts it is the arena.
export { checksum, checksumScalar, checksumSimd, sum, sumScalar, sumSimd, pseudoHeaderSeed } from './checksum'
export { parseFrame, parseIpv4, emitEthernet, emitArp, emitIpv4, emitUdp, emitIcmp, emitIcmpChecksum } from './frame'
export { copy, tcpReassemble, tcpSackBlocks } from './tcp-reasm'

/** First byte free for the arena: everything below belongs to the module's own static data. */
export const ARENA_BASE: u32 = 65536

/** Bytes of linear memory; asconfig.json fixes it, and the host asserts it never grows. */
export function memoryBytes(): u32 {
  return <u32>memory.size() << 16
}

/** The end of the module's static data, which must stay below ARENA_BASE. */
export function dataEnd(): u32 {
  return <u32>__heap_base
}
