import {
  copy, tcpReassemble, tcpSackBlocks, TCP_REASM_FULL, TCP_REASM_OUTSIDE, TCP_REASM_HEADER_BYTES,
  TCP_REASM_RANGE_BYTES,
} from '../tcp-reasm'

// The known vectors of test/tcp-reasm.test.ts (the same numbers), run on the AssemblyScript source
// directly. Static scratch memory (no allocator): a tracker for up to 8 ranges, a 256-byte ring, segment
// data at an odd offset, SACK output.
const TRACKER: usize = memory.data(<i32>(TCP_REASM_HEADER_BYTES + 8 * TCP_REASM_RANGE_BYTES), 16)
const RING_SIZE: u32 = 256
const RING: usize = memory.data(256, 16)
const SEGBUF: usize = memory.data(2048, 16)
const SEG: usize = SEGBUF + 1
const SACK: usize = memory.data(64, 16)
const CANARY: u8 = 0xee

/** The byte a segment carries for sequence number `seq` (any function of seq does). */
function byteAt(seq: u32): u8 {
  const x = seq * 0x9e3779b1
  return <u8>((x >> 24) ^ (x >> 11) ^ seq)
}

function reset(): void {
  memory.fill(TRACKER, 0, TCP_REASM_HEADER_BYTES + 8 * TCP_REASM_RANGE_BYTES)
  memory.fill(RING, CANARY, RING_SIZE)
}

/** Runs the segment [seq, seq + len) with data byteAt(seq + k) from SEG. */
function seg(maxRanges: u32, ringNxt: u32, rcvNxt: u32, rcvWnd: u32, seq: u32, len: u32): i32 {
  for (let k: u32 = 0; k < len; k++) store<u8>(SEG + <usize>k, byteAt(seq + k))
  return tcpReassemble(TRACKER, maxRanges, RING, RING_SIZE, ringNxt, rcvNxt, rcvWnd, seq, SEG, len)
}

function count(): u32 { return load<u32>(TRACKER) }
function last(): u32 { return load<u32>(TRACKER, 4) }
function start(i: u32): u32 { return load<u32>(TRACKER + TCP_REASM_HEADER_BYTES + (<usize>i << 3)) }
function end(i: u32): u32 { return load<u32>(TRACKER + TCP_REASM_HEADER_BYTES + (<usize>i << 3), 4) }
function ring(i: u32): u8 { return load<u8>(RING + <usize>(i & (RING_SIZE - 1))) }

describe('copy', () => {
  it('moves overlapping ranges up and down like memmove', () => {
    for (let i: u32 = 0; i < 64; i++) store<u8>(SEGBUF + <usize>i, <u8>i)
    copy(SEGBUF + 3, SEGBUF, 20)
    for (let i: u32 = 0; i < 20; i++) expect(load<u8>(SEGBUF + 3 + <usize>i)).toBe(<u8>i)
    for (let i: u32 = 0; i < 64; i++) store<u8>(SEGBUF + <usize>i, <u8>i)
    copy(SEGBUF, SEGBUF + 3, 20)
    for (let i: u32 = 0; i < 20; i++) expect(load<u8>(SEGBUF + <usize>i)).toBe(<u8>(i + 3))
    expect(load<u8>(SEGBUF + 20)).toBe(20)
  })
})

describe('tcpReassemble: known vectors', () => {
  it('in order, wrapping around the end of the ring; a zero-length segment changes nothing', () => {
    reset()
    expect(seg(4, 200, 1000, 256, 1000, 50)).toBe(50)
    expect(seg(4, 250, 1050, 206, 1050, 50)).toBe(50)
    expect(seg(4, 44, 1100, 156, 1100, 0)).toBe(0)
    expect(seg(4, 44, 1100, 156, 1100, 10)).toBe(10)
    expect(count()).toBe(0)
    for (let k: u32 = 0; k < 110; k++) expect(ring(200 + k)).toBe(byteAt(1000 + k))
    expect(ring(200 + 110)).toBe(CANARY)
  })

  it('out of order, then the hole at RCV.NXT is filled', () => {
    reset()
    expect(seg(4, 0, 1000, 256, 1020, 10)).toBe(0)
    expect(count()).toBe(1)
    expect(start(0)).toBe(1020)
    expect(end(0)).toBe(1030)
    expect(last()).toBe(1)
    expect(ring(0)).toBe(CANARY)
    expect(ring(20)).toBe(byteAt(1020))
    expect(seg(4, 0, 1000, 256, 1040, 10)).toBe(0)
    expect(count()).toBe(2)
    expect(last()).toBe(2)
    expect(seg(4, 0, 1000, 256, 1030, 10)).toBe(0)
    expect(count()).toBe(1)
    expect(start(0)).toBe(1020)
    expect(end(0)).toBe(1050)
    expect(last()).toBe(1)
    expect(seg(4, 0, 1000, 256, 1000, 20)).toBe(50)
    expect(count()).toBe(0)
    expect(last()).toBe(0)
    for (let k: u32 = 0; k < 50; k++) expect(ring(k)).toBe(byteAt(1000 + k))
  })

  it('duplicates and overlaps: trimmed at RCV.NXT, merged into the ranges they touch', () => {
    reset()
    expect(seg(4, 17, 1000, 256, 1000, 100)).toBe(100)
    expect(seg(4, 117, 1100, 156, 1050, 50)).toBe(TCP_REASM_OUTSIDE)
    expect(seg(4, 117, 1100, 156, 1090, 20)).toBe(10)
    expect(seg(4, 127, 1110, 146, 1120, 10)).toBe(0)
    expect(seg(4, 127, 1110, 146, 1125, 20)).toBe(0)
    expect(start(0)).toBe(1120)
    expect(end(0)).toBe(1145)
    expect(seg(4, 127, 1110, 146, 1115, 10)).toBe(0)
    expect(seg(4, 127, 1110, 146, 1130, 5)).toBe(0)
    expect(count()).toBe(1)
    expect(start(0)).toBe(1115)
    expect(end(0)).toBe(1145)
    expect(seg(4, 127, 1110, 146, 1100, 20)).toBe(35)
    expect(count()).toBe(0)
    for (let k: u32 = 0; k < 145; k++) expect(ring(17 + k)).toBe(byteAt(1000 + k))
  })

  it('beyond the window: dropped, or trimmed at the right edge', () => {
    reset()
    expect(seg(4, 0, 1000, 100, 1100, 10)).toBe(TCP_REASM_OUTSIDE)
    expect(seg(4, 0, 1000, 100, 1095, 10)).toBe(0)
    expect(end(0)).toBe(1100)
    expect(ring(100)).toBe(CANARY)
    expect(seg(4, 0, 1000, 100, 1200, 1)).toBe(TCP_REASM_OUTSIDE)
    expect(seg(4, 0, 1000, 100, 1000, 200)).toBe(100)
    expect(seg(4, 100, 1100, 0, 1100, 1)).toBe(TCP_REASM_OUTSIDE)
    expect(seg(4, 100, 1100, 0, 1099, 1)).toBe(TCP_REASM_OUTSIDE)
    expect(ring(100)).toBe(CANARY)
  })

  it('a full tracker refuses only a new range', () => {
    reset()
    expect(seg(2, 100, 1000, 256, 1010, 10)).toBe(0)
    expect(seg(2, 100, 1000, 256, 1030, 10)).toBe(0)
    expect(seg(2, 100, 1000, 256, 1050, 10)).toBe(TCP_REASM_FULL)
    expect(ring(150)).toBe(CANARY)
    expect(seg(2, 100, 1000, 256, 1020, 5)).toBe(0)
    expect(end(0)).toBe(1025)
    expect(last()).toBe(1)
    expect(seg(2, 100, 1000, 256, 1045, 5)).toBe(TCP_REASM_FULL)
    expect(seg(2, 100, 1000, 256, 1040, 5)).toBe(0)
    expect(end(1)).toBe(1045)
    expect(last()).toBe(2)
    expect(seg(2, 100, 1000, 256, 1000, 5)).toBe(5)
    expect(count()).toBe(2)
    expect(last()).toBe(0)
    expect(seg(2, 105, 1005, 251, 1005, 25)).toBe(40)
    expect(count()).toBe(0)
  })

  it('across the 2^32 sequence wrap', () => {
    reset()
    const w: u32 = 0xfffffff0
    expect(seg(3, 250, w, 256, 0x10, 16)).toBe(0)
    expect(seg(3, 250, w, 256, 0xfffffff8, 16)).toBe(0)
    expect(count()).toBe(2)
    expect(start(0)).toBe(0xfffffff8)
    expect(end(0)).toBe(0x8)
    expect(start(1)).toBe(0x10)
    expect(seg(3, 250, w, 256, 0x8, 8)).toBe(0)
    expect(count()).toBe(1)
    expect(end(0)).toBe(0x20)
    expect(seg(3, 250, w, 256, 0xffffffe0, 24)).toBe(48)
    expect(count()).toBe(0)
    expect(seg(3, (250 + 48) & 255, 0x20, 208, 0x20, 4)).toBe(4)
    for (let k: u32 = 0; k < 52; k++) expect(ring(250 + k)).toBe(byteAt(w + k))
  })

  it('a window larger than the ring is taken as the ring', () => {
    reset()
    expect(seg(4, 5, 1000, 1000, 1256, 10)).toBe(TCP_REASM_OUTSIDE)
    expect(seg(4, 5, 1000, 1000, 1250, 10)).toBe(0)
    expect(end(0)).toBe(1256)
    expect(ring(5)).toBe(CANARY)
  })

  it('one segment bridges three ranges, another closes the last gap from both sides', () => {
    reset()
    expect(seg(4, 0, 1000, 256, 1010, 5)).toBe(0)
    expect(seg(4, 0, 1000, 256, 1040, 5)).toBe(0)
    expect(seg(4, 0, 1000, 256, 1030, 5)).toBe(0)
    expect(seg(4, 0, 1000, 256, 1020, 5)).toBe(0)
    expect(count()).toBe(4)
    expect(last()).toBe(2)
    expect(seg(4, 0, 1000, 256, 1012, 25)).toBe(0)
    expect(count()).toBe(2)
    expect(start(0)).toBe(1010)
    expect(end(0)).toBe(1037)
    expect(start(1)).toBe(1040)
    expect(seg(4, 0, 1000, 256, 1037, 3)).toBe(0)
    expect(count()).toBe(1)
    expect(end(0)).toBe(1045)
  })

  it('a zero window accepts nothing', () => {
    reset()
    expect(seg(4, 0, 1000, 0, 1000, 10)).toBe(TCP_REASM_OUTSIDE)
    expect(seg(4, 0, 1000, 0, 1000, 0)).toBe(0)
    expect(ring(0)).toBe(CANARY)
  })
})

describe('tcpSackBlocks', () => {
  it('the most recently changed range first, then the others in sequence order', () => {
    reset()
    seg(4, 0, 1000, 256, 1020, 10)
    seg(4, 0, 1000, 256, 1060, 10)
    seg(4, 0, 1000, 256, 1040, 10)
    expect(tcpSackBlocks(TRACKER, SACK, 4)).toBe(3)
    expect(load<u32>(SACK)).toBe(1040)
    expect(load<u32>(SACK, 4)).toBe(1050)
    expect(load<u32>(SACK, 8)).toBe(1020)
    expect(load<u32>(SACK, 12)).toBe(1030)
    expect(load<u32>(SACK, 16)).toBe(1060)
    expect(load<u32>(SACK, 20)).toBe(1070)
    expect(tcpSackBlocks(TRACKER, SACK, 1)).toBe(1)
    expect(tcpSackBlocks(TRACKER, SACK, 0)).toBe(0)
    expect(tcpSackBlocks(TRACKER, SACK, -1)).toBe(0)
    seg(4, 0, 1000, 256, 1000, 5)
    expect(tcpSackBlocks(TRACKER, SACK, 4)).toBe(3)
    expect(load<u32>(SACK)).toBe(1020)
  })
})
