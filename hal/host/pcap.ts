// Records a Cable to a classic libpcap file for Wireshark/tcpdump: both directions, in the order they
// happen. Host only. Format (https://wiki.wireshark.org/Development/LibpcapFileFormat):
//   global header  magic 0xa1b2c3d4 (microsecond timestamps), version 2.4, thiszone 0, sigfigs 0,
//                  snaplen 65535, network LINKTYPE_ETHERNET (1); all fields in the writer's byte order,
//                  here always little-endian;
//   per frame      ts_sec, ts_usec, incl_len, orig_len (u32 each), then incl_len bytes of the frame.
import fs from 'node:fs'
import type { Cable } from './cable.js'

export const PCAP_MAGIC_USEC = 0xa1b2c3d4
export const LINKTYPE_ETHERNET = 1
export const PCAP_SNAPLEN = 65535
export const PCAP_HEADER_BYTES = 24
export const PCAP_RECORD_HEADER_BYTES = 16

export interface PcapOptions {
  /**
   * The time of a frame in microseconds since the epoch, as a function or as a Clock (the stack's clock
   * interface, firmware/kernel/clock.ts). Default: the wall clock. Netsim tests pass their VirtualClock, so a
   * capture of a 10-minute simulated run shows simulated time (starting at 1970-01-01 for a clock at 0).
   */
  clock?: (() => number) | { now(): number }
  /** Bytes buffered before a write to disk (default 64 KiB). Everything is flushed on close. */
  bufferBytes?: number
}

export interface PcapCable extends Cable {
  /** Frames recorded so far (both directions). */
  readonly frames: number
  /** Writes the buffered records to the file now. */
  flush(): void
}

const wallClockUs = (): number => (performance.timeOrigin + performance.now()) * 1000

/** The 24-byte global header of a little-endian, microsecond libpcap file. */
export function pcapGlobalHeader(snaplen = PCAP_SNAPLEN, linktype = LINKTYPE_ETHERNET): Buffer {
  const h = Buffer.alloc(PCAP_HEADER_BYTES)
  h.writeUInt32LE(PCAP_MAGIC_USEC, 0)
  h.writeUInt16LE(2, 4) // version_major
  h.writeUInt16LE(4, 6) // version_minor
  h.writeInt32LE(0, 8) // thiszone: timestamps are UTC
  h.writeUInt32LE(0, 12) // sigfigs
  h.writeUInt32LE(snaplen, 16)
  h.writeUInt32LE(linktype, 20)
  return h
}

/**
 * Wraps `cable` so every frame sent and every frame received is appended to `file` (created or truncated
 * now). The returned Cable behaves exactly like `cable`; close() closes both and flushes the file.
 */
export function recordPcap(cable: Cable, file: string, opts: PcapOptions = {}): PcapCable {
  const c = opts.clock
  const clock: () => number = c === undefined ? wallClockUs : typeof c === 'function' ? c : () => c.now()
  const limit = opts.bufferBytes ?? 65536
  const fd = fs.openSync(file, 'w')
  fs.writeSync(fd, pcapGlobalHeader())
  let chunks: Buffer[] = []
  let pending = 0
  let frames = 0
  let closed = false

  const flush = (): void => {
    if (pending === 0) return
    fs.writeSync(fd, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, pending))
    chunks = []
    pending = 0
  }

  const record = (frame: Uint8Array): void => {
    if (closed) return
    const us = Math.max(0, Math.round(clock()))
    const sec = Math.floor(us / 1000000)
    const usec = us - sec * 1000000
    const incl = Math.min(frame.length, PCAP_SNAPLEN)
    const rec = Buffer.allocUnsafe(PCAP_RECORD_HEADER_BYTES + incl)
    rec.writeUInt32LE(sec >>> 0, 0)
    rec.writeUInt32LE(usec, 4)
    rec.writeUInt32LE(incl, 8)
    rec.writeUInt32LE(frame.length, 12)
    rec.set(incl === frame.length ? frame : frame.subarray(0, incl), PCAP_RECORD_HEADER_BYTES)
    chunks.push(rec)
    pending += rec.length
    frames++
    if (pending >= limit) flush()
  }

  // A process that exits without close() still leaves a readable capture.
  const onExit = (): void => { try { flush() } catch { /* fd already gone */ } }
  process.on('exit', onExit)

  const wrapped: PcapCable = {
    name: cable.name,
    get frames() { return frames },
    onFrame: null,
    send(frame: Uint8Array): void {
      record(frame)
      cable.send(frame)
    },
    flush,
    close(): void {
      if (closed) return
      cable.close()
      flush()
      closed = true
      process.removeListener('exit', onExit)
      fs.closeSync(fd)
    },
  }
  cable.onFrame = (frame) => {
    record(frame)
    const handler = wrapped.onFrame
    if (handler !== null) handler(frame)
  }
  return wrapped
}

/** One record read back from a capture. */
export interface PcapRecord {
  tsSec: number
  tsUsec: number
  origLen: number
  data: Uint8Array
}

/** Reads a little- or big-endian microsecond libpcap file (tests, tools). */
export function readPcap(bytes: Uint8Array): { snaplen: number; linktype: number; records: PcapRecord[] } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  if (b.length < PCAP_HEADER_BYTES) throw new Error('pcap: shorter than its global header')
  const le = b.readUInt32LE(0) === PCAP_MAGIC_USEC
  if (!le && b.readUInt32BE(0) !== PCAP_MAGIC_USEC) throw new Error('pcap: not a microsecond libpcap file')
  const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o))
  const records: PcapRecord[] = []
  let o = PCAP_HEADER_BYTES
  while (o < b.length) {
    if (o + PCAP_RECORD_HEADER_BYTES > b.length) throw new Error('pcap: truncated record header at ' + o)
    const incl = u32(o + 8)
    if (o + PCAP_RECORD_HEADER_BYTES + incl > b.length) throw new Error('pcap: truncated record at ' + o)
    records.push({ tsSec: u32(o), tsUsec: u32(o + 4), origLen: u32(o + 12), data: b.subarray(o + 16, o + 16 + incl) })
    o += PCAP_RECORD_HEADER_BYTES + incl
  }
  return { snaplen: u32(16), linktype: u32(20), records }
}
