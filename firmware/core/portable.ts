// The portable backend of the hot-path contract (firmware/core/contract.ts), for boards without
// WebAssembly. Device dialect: it runs on Espruino as well as on Node.
import { Core, fold16 } from './contract.js'
import {
  FrameHost, parseFrame as portableParseFrame, parseIpv4 as portableParseIpv4, emitEthernet as portableEmitEthernet,
  emitArp as portableEmitArp, emitIpv4 as portableEmitIpv4, emitUdp as portableEmitUdp, emitIcmp as portableEmitIcmp,
  emitIcmpChecksum as portableEmitIcmpChecksum,
} from './portable-frame.js'
import {
  TcpHost, copyBytes as portableCopy, tcpReassemble as portableTcpReassemble, tcpSackBlocks as portableTcpSackBlocks,
} from './portable-tcp.js'

/** Espruino's native helpers, where they exist (absent on Node). */
interface EspruinoE { sum(values: ArrayLike<number>): number }
declare const E: EspruinoE | undefined

/** Below this many bytes a JavaScript loop beats creating a view for E.sum. */
const ESUM_MIN_BYTES = 16

function swap16(v: number): number {
  return ((v & 0xff) << 8) | (v >> 8)
}

export class PortableCore implements Core, FrameHost, TcpHost {
  readonly name = 'portable' as const
  readonly buffer: ArrayBuffer
  readonly base: number
  readonly size: number
  /** Views of the whole buffer, for the frame paths (firmware/core/portable-frame.ts). */
  readonly u8: Uint8Array
  readonly u32: Uint32Array
  readonly dv: DataView
  /** Espruino's `E`, when its native E.sum exists. */
  private readonly espruino: EspruinoE | undefined

  constructor(buffer: ArrayBuffer, base?: number, size?: number) {
    if (buffer.byteLength % 4 !== 0) throw new Error('arena buffer length must be a multiple of 4')
    this.buffer = buffer
    this.base = base === undefined ? 0 : base
    this.size = size === undefined ? buffer.byteLength - this.base : size
    this.u8 = new Uint8Array(buffer)
    this.u32 = new Uint32Array(buffer)
    this.dv = new DataView(buffer)
    this.espruino = typeof E !== 'undefined' && typeof E.sum === 'function' ? E : undefined
  }

  // Frame paths: firmware/core/portable-frame.ts, the twin of assembly/frame.ts.

  parseFrame(off: number, len: number, desc: number): number {
    return portableParseFrame(this, off, len, desc)
  }

  parseIpv4(off: number, len: number, desc: number): number {
    return portableParseIpv4(this, off, len, desc)
  }

  emitEthernet(off: number, dstMacOff: number, srcMacOff: number, ethertype: number): void {
    portableEmitEthernet(this, off, dstMacOff, srcMacOff, ethertype)
  }

  emitArp(off: number, op: number, shaOff: number, spa: number, thaOff: number, tpa: number): void {
    portableEmitArp(this, off, op, shaOff, spa, thaOff, tpa)
  }

  emitIpv4(off: number, tos: number, totalLength: number, id: number, flagsFragment: number, ttl: number,
           proto: number, src: number, dst: number): void {
    portableEmitIpv4(this, off, tos, totalLength, id, flagsFragment, ttl, proto, src, dst)
  }

  emitUdp(off: number, srcPort: number, dstPort: number, dataLen: number, src: number, dst: number): void {
    portableEmitUdp(this, off, srcPort, dstPort, dataLen, src, dst)
  }

  emitIcmp(off: number, type: number, code: number, rest: number, len: number): void {
    portableEmitIcmp(this, off, type, code, rest, len)
  }

  emitIcmpChecksum(off: number, len: number): void {
    portableEmitIcmpChecksum(this, off, len)
  }

  // TCP receive paths: firmware/core/portable-tcp.ts, the twin of assembly/tcp-reasm.ts.

  copy(dst: number, src: number, len: number): void {
    portableCopy(this.u8, dst, src, len)
  }

  tcpReassemble(trackerOff: number, maxRanges: number, ringOff: number, ringSize: number, ringNxt: number,
                rcvNxt: number, rcvWnd: number, seq: number, dataOff: number, len: number): number {
    return portableTcpReassemble(this, trackerOff, maxRanges, ringOff, ringSize, ringNxt, rcvNxt, rcvWnd, seq, dataOff, len)
  }

  tcpSackBlocks(trackerOff: number, out: number, max: number): number {
    return portableTcpSackBlocks(this, trackerOff, out, max)
  }

  checksum(off: number, len: number, seed: number): number {
    return ~this.sum(off, len, seed) & 0xffff
  }

  // RFC 1071 §2(B): the ones'-complement sum does not depend on byte order, so the bytes are summed as
  // little-endian 16-bit words at even arena addresses (bytes outside the range count as zero) and
  // byte-swapped at the end. A range that starts at an odd address pairs its bytes the other way
  // round, which is exactly the little-endian pairing, so no swap is needed then.
  sum(off: number, len: number, seed: number): number {
    const u8 = this.u8
    const end = off + len
    let p = off
    let s = 0
    if (len > 0 && (p & 1) !== 0) {
      s += u8[p] << 8 // high byte of the little-endian word at p - 1
      p++
    }
    if (this.espruino !== undefined && end - p >= ESUM_MIN_BYTES) {
      const words = (end - p) >> 1
      s += this.espruino.sum(new Uint16Array(this.buffer, p, words))
      p += words * 2
    } else {
      s += this.sumAligned(p, end)
      p += (end - p) & ~1
    }
    if (p < end) s += u8[p] // low byte of the little-endian word at p (p is even here)
    s = fold16(s)
    if ((off & 1) === 0) s = swap16(s)
    return fold16(s + fold16(seed))
  }

  /** Little-endian sum of the whole 16-bit words in [p, end), p even: 4-byte loads where aligned. */
  private sumAligned(p: number, end: number): number {
    const u8 = this.u8
    const u32 = this.u32
    let s = 0
    if ((p & 3) !== 0 && p + 2 <= end) {
      s += u8[p] | (u8[p + 1] << 8)
      p += 2
    }
    const wordEnd = p + ((end - p) & ~3)
    let i = p >> 2
    const iEnd = wordEnd >> 2
    let s2 = 0
    for (; i + 1 < iEnd; i += 2) {
      const a = u32[i]
      const b = u32[i + 1]
      s += (a & 0xffff) + (a >>> 16)
      s2 += (b & 0xffff) + (b >>> 16)
    }
    if (i < iEnd) {
      const a = u32[i]
      s += (a & 0xffff) + (a >>> 16)
    }
    p = wordEnd
    if (p + 2 <= end) s += u8[p] | (u8[p + 1] << 8)
    return s + s2
  }
}
