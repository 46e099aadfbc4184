// The W5500 simulator against the datasheet (W5500 DS v1.0.9, "DS p.N") and the fact sheet
// /work/shared/reference/chips.md PART B ("ref B4" etc.). Every access goes through SPI frames,
// the way a driver would make them.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { W5500Sim, type W5500SimOptions } from '../hal/sim/w5500.js'

// ---------------------------------------------------------------------------------------------------
// SPI helpers (DS p.13-16: 16-bit address, control byte BSB[4:0] RWB OM[1:0], data)

const COMMON = 0x00
const sockReg = (n: number): number => 1 + 4 * n
const sockTx = (n: number): number => 2 + 4 * n
const sockRx = (n: number): number => 3 + 4 * n

// Common register offsets
const MR = 0x0000
const GAR = 0x0001
const SUBR = 0x0005
const SHAR = 0x0009
const SIPR = 0x000f
const INTLEVEL = 0x0013
const IR = 0x0015
const IMR = 0x0016
const SIR = 0x0017
const SIMR = 0x0018
const RTR = 0x0019
const RCR = 0x001b
const PTIMER = 0x001c
const PMRU = 0x0026
const PHYCFGR = 0x002e
const VERSIONR = 0x0039

// Socket register offsets
const Sn_MR = 0x00
const Sn_CR = 0x01
const Sn_IR = 0x02
const Sn_SR = 0x03
const Sn_DHAR = 0x06
const Sn_TTL = 0x16
const Sn_RXBUF_SIZE = 0x1e
const Sn_TXBUF_SIZE = 0x1f
const Sn_TX_FSR = 0x20
const Sn_TX_RD = 0x22
const Sn_TX_WR = 0x24
const Sn_RX_RSR = 0x26
const Sn_RX_RD = 0x28
const Sn_RX_WR = 0x2a
const Sn_IMR = 0x2c
const Sn_FRAG = 0x2d

const OPEN = 0x01
const CLOSE = 0x10
const SEND = 0x20
const RECV = 0x40
const SENDOK = 0x10
const IR_RECV = 0x04
const SOCK_MACRAW = 0x42

/** A VDM frame (OM = 00): the data phase lasts as long as the chip select. */
function vdm(bsb: number, addr: number, write: boolean, data: ArrayLike<number>): Uint8Array {
  const f = new Uint8Array(3 + data.length)
  f[0] = addr >> 8
  f[1] = addr & 0xff
  f[2] = (bsb << 3) | (write ? 0x04 : 0x00)
  for (let i = 0; i < data.length; i++) f[3 + i] = data[i]
  return f
}

function rd(chip: W5500Sim, bsb: number, addr: number, len: number): Uint8Array {
  return chip.send(vdm(bsb, addr, false, new Uint8Array(len))).subarray(3)
}
function wr(chip: W5500Sim, bsb: number, addr: number, data: ArrayLike<number>): void {
  chip.send(vdm(bsb, addr, true, data))
}
function rd8(chip: W5500Sim, bsb: number, addr: number): number {
  return rd(chip, bsb, addr, 1)[0]
}
function rd16(chip: W5500Sim, bsb: number, addr: number): number {
  const b = rd(chip, bsb, addr, 2)
  return (b[0] << 8) | b[1]
}
function wr16(chip: W5500Sim, bsb: number, addr: number, v: number): void {
  wr(chip, bsb, addr, [(v >> 8) & 0xff, v & 0xff])
}
/** Read a 16-bit value until two reads agree (DS p.54-55: "read all 16-bits twice or more"). */
function rd16Stable(chip: W5500Sim, bsb: number, addr: number): number {
  let a = rd16(chip, bsb, addr)
  for (;;) {
    const b = rd16(chip, bsb, addr)
    if (a === b) return a
    a = b
  }
}

/** An FDM frame (OM = 01/10/11 for 1/2/4 data bytes). */
function fdm(bsb: number, addr: number, write: boolean, data: ArrayLike<number>): Uint8Array {
  const om = data.length === 4 ? 3 : data.length
  const f = vdm(bsb, addr, write, data)
  f[2] |= om
  return f
}

/** Write Sn_CR and poll it until the chip has accepted the command; returns the polls it took.
 *  `tick` (for a µs clock) is called before each poll. */
function command(chip: W5500Sim, s: number, c: number, tick?: () => void): number {
  wr(chip, sockReg(s), Sn_CR, [c])
  let polls = 0
  for (;;) {
    if (tick) tick()
    if (rd8(chip, sockReg(s), Sn_CR) === 0) return polls
    polls++
    if (polls > 1000) throw new Error('Sn_CR never cleared')
  }
}

const MAC = [0x02, 0x00, 0x00, 0x12, 0x34, 0x56]
const OTHER = [0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc]
const BCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]

/** The Linux sequence (ref B7): S0 gets all 16 KB each way, S1-7 none; SHAR; S0_MR; OPEN. */
function macraw(chip: W5500Sim, mr: number, kb?: number, tick?: () => void): void {
  const size = kb === undefined ? 16 : kb
  wr(chip, COMMON, SHAR, MAC)
  wr(chip, sockReg(0), Sn_RXBUF_SIZE, [size, size])
  for (let s = 1; s < 8; s++) wr(chip, sockReg(s), Sn_RXBUF_SIZE, [0, 0])
  wr(chip, sockReg(0), Sn_MR, [mr])
  command(chip, 0, OPEN, tick)
}

function frame(dst: number[], type: number, len: number, seed?: number): Uint8Array {
  const f = new Uint8Array(len)
  for (let i = 0; i < 6; i++) f[i] = dst[i]
  for (let i = 0; i < 6; i++) f[6 + i] = OTHER[i]
  f[12] = type >> 8
  f[13] = type & 0xff
  let x = seed === undefined ? 7 : seed
  for (let i = 14; i < len; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    f[i] = x >>> 24
  }
  return f
}

/** The MACRAW receive procedure (ref B5): RSR, RX_RD, header, data, RX_RD += LEN, RECV. */
function readRecord(chip: W5500Sim): { len: number; data: Uint8Array } | null {
  const rsr = rd16Stable(chip, sockReg(0), Sn_RX_RSR)
  if (rsr === 0) return null
  const rdp = rd16(chip, sockReg(0), Sn_RX_RD)
  const len = rd16(chip, sockRx(0), rdp)
  const data = rd(chip, sockRx(0), (rdp + 2) & 0xffff, len - 2).slice()
  wr16(chip, sockReg(0), Sn_RX_RD, (rdp + len) & 0xffff)
  command(chip, 0, RECV)
  return { len, data }
}

/** The MACRAW transmit procedure (ref B6): TX_WR, data at TX_WR, TX_WR += len (no SEND). */
function queueTx(chip: W5500Sim, f: Uint8Array): void {
  const w = rd16(chip, sockReg(0), Sn_TX_WR)
  wr(chip, sockTx(0), w, f)
  wr16(chip, sockReg(0), Sn_TX_WR, (w + f.length) & 0xffff)
}

function newChip(opts?: W5500SimOptions): { chip: W5500Sim; sent: Uint8Array[]; misuse: string[] } {
  const misuse: string[] = []
  const o: W5500SimOptions = Object.assign({}, opts, { onMisuse: (w: string) => { misuse.push(w) } })
  const chip = new W5500Sim(o)
  const sent: Uint8Array[] = []
  chip.onTransmit = (f) => { sent.push(f) }
  return { chip, sent, misuse }
}

/** A virtual µs clock. */
function clock(): { now: () => number; step: (us: number) => void } {
  let t = 1000
  return { now: () => t, step: (us: number) => { t += us } }
}

// ---------------------------------------------------------------------------------------------------
// SPI frame

test('SPI: MISO is 0x01 0x02 0x03 during the header and the reply has the frame length (ref B1)', () => {
  const { chip } = newChip()
  const out = chip.send(vdm(COMMON, VERSIONR, false, [0, 0, 0]))
  assert.equal(out.length, 6)
  assert.deepEqual([...out.subarray(0, 4)], [0x01, 0x02, 0x03, 0x04])
  assert.equal(chip.stats.csFrames, 1)
  assert.equal(chip.stats.spiBytes, 6)
})

test('common registers: reset values (DS p.32-43: RTR 0x07D0, RCR 0x08, PTIMER 0x28, PMRU 0xFFFF, VERSIONR 0x04)', () => {
  const { chip } = newChip()
  assert.equal(rd8(chip, COMMON, MR), 0x00)
  assert.equal(rd16(chip, COMMON, RTR), 0x07d0)
  assert.equal(rd8(chip, COMMON, RCR), 0x08)
  assert.equal(rd8(chip, COMMON, PTIMER), 0x28)
  assert.equal(rd16(chip, COMMON, PMRU), 0xffff)
  assert.equal(rd8(chip, COMMON, VERSIONR), 0x04)
  assert.deepEqual([...rd(chip, COMMON, SHAR, 6)], [0, 0, 0, 0, 0, 0])
  assert.equal(rd8(chip, COMMON, SIMR), 0)
  // PHYCFGR: RST=1, OPMD=0, OPMDC=111 and a 100/full link (ref B2: 0xBF with a 100/full link).
  assert.equal(rd8(chip, COMMON, PHYCFGR), 0xbf)
})

test('socket registers: reset values (DS p.44-57: buffers 2 KB, TX_FSR 0x0800, Sn_IMR 0xFF, Sn_FRAG 0x4000, TTL 0x80, DHAR FF)', () => {
  const { chip } = newChip()
  for (let s = 0; s < 8; s++) {
    const b = sockReg(s)
    assert.equal(rd8(chip, b, Sn_MR), 0)
    assert.equal(rd8(chip, b, Sn_SR), 0)
    assert.equal(rd8(chip, b, Sn_RXBUF_SIZE), 2)
    assert.equal(rd8(chip, b, Sn_TXBUF_SIZE), 2)
    assert.equal(rd16(chip, b, Sn_TX_FSR), 0x0800)
    assert.equal(rd16(chip, b, Sn_RX_RSR), 0)
    assert.equal(rd8(chip, b, Sn_IMR), 0xff)
    assert.equal(rd16(chip, b, Sn_FRAG), 0x4000)
    assert.equal(rd8(chip, b, Sn_TTL), 0x80)
    assert.deepEqual([...rd(chip, b, Sn_DHAR, 6)], BCAST)
  }
})

test('VDM: a burst auto-increments across registers (DS p.14): GAR, SUBR, SHAR, SIPR in one frame', () => {
  const { chip } = newChip()
  const all = [192, 168, 1, 1, 255, 255, 255, 0, ...MAC, 192, 168, 1, 50]
  wr(chip, COMMON, GAR, all)
  assert.deepEqual([...rd(chip, COMMON, GAR, all.length)], all)
  assert.deepEqual([...rd(chip, COMMON, SHAR, 6)], MAC)
  assert.deepEqual([...rd(chip, COMMON, SUBR, 4)], [255, 255, 255, 0])
  assert.deepEqual([...rd(chip, COMMON, SIPR, 4)], [192, 168, 1, 50])
  // A 2-byte burst reads the pointer pair of a socket register in one go.
  assert.equal(rd16(chip, sockReg(3), Sn_TX_FSR), 0x0800)
})

test('FDM: OM=01/10/11 carry exactly 1, 2 and 4 data bytes (DS p.14-16)', () => {
  const { chip, misuse } = newChip()
  chip.send(fdm(COMMON, SHAR, true, [MAC[0], MAC[1], MAC[2], MAC[3]]))
  chip.send(fdm(COMMON, SHAR + 4, true, [MAC[4], MAC[5]]))
  const one = chip.send(fdm(COMMON, SHAR + 5, false, [0]))
  assert.equal(one.length, 4)
  assert.equal(one[3], MAC[5])
  const four = chip.send(fdm(COMMON, SHAR, false, [0, 0, 0, 0]))
  assert.deepEqual([...four.subarray(3)], MAC.slice(0, 4))
  assert.deepEqual(misuse, [])
})

test('FDM: a frame cut short is flagged; bytes after an FDM frame are parsed as a new frame and flagged', () => {
  const { chip, misuse } = newChip()
  // OM=11 (4 bytes) but only 2 data bytes before chip select rises: those 2 are written.
  const short = vdm(COMMON, GAR, true, [10, 20])
  short[2] |= 3
  chip.send(short)
  assert.equal(misuse.length, 1)
  assert.match(misuse[0], /cut short/)
  assert.deepEqual([...rd(chip, COMMON, GAR, 2)], [10, 20])
  // Two FDM-1 writes back to back in one chip select: the second is a frame of its own.
  const two = new Uint8Array([...fdm(COMMON, GAR, true, [1]), ...fdm(COMMON, GAR + 1, true, [2])])
  chip.send(two)
  assert.deepEqual([...rd(chip, COMMON, GAR, 2)], [1, 2])
  assert.equal(misuse.length, 2)
  assert.match(misuse[1], /FDM/)
  // With SCSn tied low (the way FDM is meant to be used) the same is normal.
  const tied = newChip({ fdmTiedLow: true })
  tied.chip.send(two)
  assert.deepEqual([...rd(tied.chip, COMMON, GAR, 2)], [1, 2])
  assert.deepEqual(tied.misuse, [])
})

test('SPI: reserved block selects (BSB 4n, n >= 1) are flagged and read 0 (DS p.15)', () => {
  const { chip, misuse } = newChip()
  for (const bsb of [0x04, 0x08, 0x1c]) {
    assert.deepEqual([...rd(chip, bsb, 0, 2)], [0, 0])
  }
  wr(chip, 0x04, 0, [1])
  assert.equal(misuse.length, 4)
  assert.match(misuse[0], /reserved block select/)
  assert.equal(chip.stats.misuse, 4)
  assert.equal(chip.misuseCount, 4)
})

test('SPI: a chip select that rises inside the 3-byte header is flagged', () => {
  const { chip, misuse } = newChip()
  const out = chip.send(new Uint8Array([0x00, 0x39]))
  assert.deepEqual([...out], [0x01, 0x02])
  assert.equal(misuse.length, 1)
})

// ---------------------------------------------------------------------------------------------------
// Reset

test('MR.RST: self-clearing; wipes SHAR and every other register to its reset value (DS p.32, ref B9.9)', () => {
  const { chip } = newChip()
  wr(chip, COMMON, GAR, [192, 168, 1, 1, 255, 255, 255, 0, ...MAC])
  wr16(chip, COMMON, RTR, 0x1234)
  wr(chip, COMMON, SIMR, [0xff])
  wr(chip, sockReg(0), Sn_RXBUF_SIZE, [16, 16])
  wr(chip, COMMON, MR, [0x80])
  assert.equal(rd8(chip, COMMON, MR), 0x00, 'RST cleared by the next frame')
  assert.deepEqual([...rd(chip, COMMON, SHAR, 6)], [0, 0, 0, 0, 0, 0])
  assert.deepEqual([...rd(chip, COMMON, GAR, 4)], [0, 0, 0, 0])
  assert.equal(rd16(chip, COMMON, RTR), 0x07d0)
  assert.equal(rd8(chip, COMMON, SIMR), 0)
  assert.equal(rd8(chip, sockReg(0), Sn_RXBUF_SIZE), 2)
  // MR bits other than RST are plain settings: PB (ping block) stays.
  wr(chip, COMMON, MR, [0x10])
  assert.equal(rd8(chip, COMMON, MR), 0x10)
})

test('MR.RST with a µs clock: MR reads 0x80 until the reset is over, and writes meanwhile are flagged and lost', () => {
  const c = clock()
  const { chip, misuse } = newChip({ now: c.now, resetUs: 1000 })
  wr(chip, COMMON, MR, [0x80])
  assert.equal(rd8(chip, COMMON, MR), 0x80)
  wr(chip, COMMON, SHAR, MAC)
  assert.equal(misuse.length, 1)
  assert.match(misuse[0], /reset is in progress/)
  c.step(1000)
  assert.equal(rd8(chip, COMMON, MR), 0x00)
  assert.deepEqual([...rd(chip, COMMON, SHAR, 6)], [0, 0, 0, 0, 0, 0])
  wr(chip, COMMON, SHAR, MAC)
  assert.deepEqual([...rd(chip, COMMON, SHAR, 6)], MAC)
})

test('MR.RST: the rest of a burst that sets RST is lost and flagged', () => {
  const { chip, misuse } = newChip()
  wr(chip, COMMON, MR, [0x80, 192, 168])
  assert.equal(misuse.length, 1)
  assert.deepEqual([...rd(chip, COMMON, GAR, 2)], [0, 0])
})

test('fault versionZero off: VERSIONR reads 0x04 right after power-on and after MR.RST', () => {
  const { chip } = newChip()
  assert.equal(rd8(chip, COMMON, VERSIONR), 0x04)
  wr(chip, COMMON, MR, [0x80])
  assert.equal(rd8(chip, COMMON, VERSIONR), 0x04)
})

test('fault versionZero on: VERSIONR reads 0 for a while after reset (ref B2, ESP-IDF polls it)', () => {
  const { chip } = newChip({ faults: { versionZero: true } })
  // Power-on: frames 1 and 2 read 0.
  assert.equal(rd8(chip, COMMON, VERSIONR), 0x00)
  assert.equal(rd8(chip, COMMON, VERSIONR), 0x00)
  assert.equal(rd8(chip, COMMON, VERSIONR), 0x04)
  wr(chip, COMMON, MR, [0x80])
  let zeros = 0
  while (rd8(chip, COMMON, VERSIONR) !== 0x04) zeros++
  assert.equal(zeros, 2)
  // With a clock: 0 until versionZeroUs after the reset ends.
  const c = clock()
  const t = newChip({ now: c.now, resetUs: 100, versionZeroUs: 500, faults: { versionZero: true } })
  c.step(600)
  wr(t.chip, COMMON, MR, [0x80])
  c.step(100)
  assert.equal(rd8(t.chip, COMMON, VERSIONR), 0x00)
  c.step(499)
  assert.equal(rd8(t.chip, COMMON, VERSIONR), 0x00)
  c.step(1)
  assert.equal(rd8(t.chip, COMMON, VERSIONR), 0x04)
})

// ---------------------------------------------------------------------------------------------------
// Buffers

test('buffers: sizes 0/1/2/4/8/16 KB accepted, others flagged; the sum above 16 KB leaves later sockets without (DS p.52-53)', () => {
  const { chip, misuse } = newChip()
  wr(chip, sockReg(0), Sn_TXBUF_SIZE, [3])
  assert.equal(misuse.length, 1)
  assert.match(misuse[0], /buffer size 3/)
  // Linux order (S0 = 16 first, then S1-7 = 0) passes through an over-budget state: not flagged.
  macraw(chip, 0x04)
  assert.equal(misuse.length, 1)
  assert.equal(rd16(chip, sockReg(0), Sn_TX_FSR), 0x4000)
  assert.equal(rd16(chip, sockReg(1), Sn_TX_FSR), 0)
  // 8 + 8 KB leaves socket 2 with nothing: using its buffer is flagged.
  wr(chip, sockReg(0), Sn_TXBUF_SIZE, [8])
  wr(chip, sockReg(1), Sn_TXBUF_SIZE, [8])
  wr(chip, sockReg(2), Sn_TXBUF_SIZE, [2])
  assert.equal(rd16(chip, sockReg(2), Sn_TX_FSR), 0)
  wr(chip, sockTx(2), 0, [1])
  assert.match(misuse[misuse.length - 1], /more than 16 KB/)
})

test('buffers: allocated sequentially, socket 0 first; each socket sees only its own (DS p.27, ref B4)', () => {
  const { chip } = newChip()
  // Default: 8 x 2 KB. Fill each socket's TX buffer with its number, read back.
  for (let s = 0; s < 8; s++) wr(chip, sockTx(s), 0, new Uint8Array(2048).fill(s + 1))
  for (let s = 0; s < 8; s++) {
    const b = rd(chip, sockTx(s), 0, 2048)
    assert.ok(b.every((x) => x === s + 1), 'socket ' + s)
  }
  // Growing socket 0 to 4 KB moves socket 1 up by 2 KB: socket 1 now sees what was socket 2's memory.
  wr(chip, sockReg(0), Sn_TXBUF_SIZE, [4])
  wr(chip, sockReg(7), Sn_TXBUF_SIZE, [0])
  assert.equal(rd8(chip, sockTx(1), 0), 3)
  assert.equal(rd8(chip, sockTx(0), 2048), 2)
})

test('buffers: any 16-bit offset maps modulo the socket size; bursts wrap within the socket buffer (DS p.27, 55; ref B4)', () => {
  const { chip } = newChip()
  // 2 KB default: offset 0x0805 is offset 5; 0xFFFF is 0x07FF.
  wr(chip, sockTx(0), 0x0805, [0xab])
  assert.equal(rd8(chip, sockTx(0), 0x0005), 0xab)
  assert.equal(rd8(chip, sockTx(0), 0xf805), 0xab)
  wr(chip, sockTx(0), 0xffff, [0x11, 0x22, 0x33])
  assert.equal(rd8(chip, sockTx(0), 0x07ff), 0x11)
  assert.deepEqual([...rd(chip, sockTx(0), 0x0000, 2)], [0x22, 0x33])
  // The wrap stays inside socket 0: socket 1's buffer is untouched.
  assert.equal(rd8(chip, sockTx(1), 0), 0)
  // 16 KB: a burst at 0x3FFE wraps to 0; 0x7FFE is the same place.
  macraw(chip, 0x04)
  wr(chip, sockRx(0), 0x7ffe, [1, 2, 3, 4])
  assert.deepEqual([...rd(chip, sockRx(0), 0x3ffe, 4)], [1, 2, 3, 4])
  assert.deepEqual([...rd(chip, sockRx(0), 0x0000, 2)], [3, 4])
})

// ---------------------------------------------------------------------------------------------------
// Socket commands and states

test('Sn_CR: the chip clears it once it accepts the command; by default the next frame reads 0 (DS p.46)', () => {
  const { chip } = newChip()
  wr(chip, sockReg(0), Sn_MR, [0x04])
  wr(chip, sockReg(0), Sn_CR, [OPEN])
  assert.equal(rd8(chip, sockReg(0), Sn_CR), 0)
  assert.equal(rd8(chip, sockReg(0), Sn_SR), SOCK_MACRAW)
})

test('Sn_CR: commandLatencyFrames makes Sn_CR read the command for that many frames, then 0', () => {
  const { chip, misuse } = newChip({ commandLatencyFrames: 3 })
  wr(chip, sockReg(0), Sn_MR, [0x04])
  wr(chip, sockReg(0), Sn_CR, [OPEN])
  assert.equal(rd8(chip, sockReg(0), Sn_CR), OPEN)
  // A second command while the first is pending is flagged and ignored.
  wr(chip, sockReg(0), Sn_CR, [CLOSE])
  assert.match(misuse[0], /still pending/)
  assert.equal(rd8(chip, sockReg(0), Sn_SR), 0x00, 'not yet open')
  assert.equal(rd8(chip, sockReg(0), Sn_CR), 0)
  assert.equal(rd8(chip, sockReg(0), Sn_SR), SOCK_MACRAW)
  assert.equal(command(chip, 0, CLOSE), 3, 'a polling driver sees 3 non-zero reads')
  assert.equal(rd8(chip, sockReg(0), Sn_SR), 0x00)
})

test('Sn_CR with a µs clock: accepted after commandLatencyUs; Sn_SR may lag further (statusLagUs)', () => {
  const c = clock()
  const { chip } = newChip({ now: c.now, commandLatencyUs: 5, statusLagUs: 10 })
  wr(chip, sockReg(0), Sn_MR, [0x04])
  wr(chip, sockReg(0), Sn_CR, [OPEN])
  c.step(4)
  assert.equal(rd8(chip, sockReg(0), Sn_CR), OPEN)
  c.step(1)
  assert.equal(rd8(chip, sockReg(0), Sn_CR), 0)
  assert.equal(rd8(chip, sockReg(0), Sn_SR), 0x00, 'Sn_SR lags the Sn_CR clear')
  c.step(10)
  assert.equal(rd8(chip, sockReg(0), Sn_SR), SOCK_MACRAW)
})

test('Sn_SR: OPEN gives MACRAW 0x42 on socket 0 only; UDP 0x22 / TCP INIT 0x13; CLOSE gives 0 (DS p.45-49)', () => {
  const { chip, misuse } = newChip()
  wr(chip, sockReg(1), Sn_MR, [0x04])
  command(chip, 1, OPEN)
  assert.equal(rd8(chip, sockReg(1), Sn_SR), 0x00)
  assert.match(misuse[0], /MACRAW is only available on socket 0/)
  wr(chip, sockReg(1), Sn_MR, [0x02])
  command(chip, 1, OPEN)
  assert.equal(rd8(chip, sockReg(1), Sn_SR), 0x22)
  wr(chip, sockReg(2), Sn_MR, [0x01])
  command(chip, 2, OPEN)
  assert.equal(rd8(chip, sockReg(2), Sn_SR), 0x13)
  command(chip, 2, CLOSE)
  assert.equal(rd8(chip, sockReg(2), Sn_SR), 0x00)
  // OPEN with protocol 0 (closed) and unknown commands are flagged.
  command(chip, 3, OPEN)
  command(chip, 3, 0x99)
  command(chip, 3, SEND)
  assert.equal(misuse.length, 4)
  assert.match(misuse[1], /protocol 0/)
  assert.match(misuse[2], /unknown Sn_CR command/)
  assert.match(misuse[3], /closed socket/)
})

test('hardwired TCP/UDP: sockets reach INIT/UDP but SEND/LISTEN there are flagged as not modelled', () => {
  const { chip, sent, misuse } = newChip()
  wr(chip, sockReg(1), Sn_MR, [0x02])
  command(chip, 1, OPEN)
  wr16(chip, sockReg(1), Sn_TX_WR, 10)
  command(chip, 1, SEND)
  command(chip, 1, 0x02) // LISTEN
  assert.equal(sent.length, 0)
  assert.equal(misuse.length, 2)
  assert.match(misuse[0], /not modelled/)
  assert.match(misuse[1], /not modelled/)
  assert.equal(rd8(chip, sockReg(1), Sn_SR), 0x22)
})

test('Sn_IR: bits are write-1-to-clear (DS p.47)', () => {
  const { chip, sent } = newChip()
  macraw(chip, 0x04)
  chip.receive(frame(MAC, 0x0800, 60))
  queueTx(chip, frame(OTHER, 0x0800, 60))
  command(chip, 0, SEND)
  assert.equal(sent.length, 1)
  assert.equal(rd8(chip, sockReg(0), Sn_IR), SENDOK | IR_RECV)
  wr(chip, sockReg(0), Sn_IR, [IR_RECV])
  assert.equal(rd8(chip, sockReg(0), Sn_IR), SENDOK)
  wr(chip, sockReg(0), Sn_IR, [0x00])
  assert.equal(rd8(chip, sockReg(0), Sn_IR), SENDOK)
  wr(chip, sockReg(0), Sn_IR, [0xff])
  assert.equal(rd8(chip, sockReg(0), Sn_IR), 0)
})

test('OPEN initializes the pointers (DS p.54-55); openPointer lets tests catch drivers that assume 0', () => {
  const { chip } = newChip({ openPointer: 0x1234 })
  macraw(chip, 0x04)
  assert.equal(rd16(chip, sockReg(0), Sn_TX_RD), 0x1234)
  assert.equal(rd16(chip, sockReg(0), Sn_TX_WR), 0x1234)
  assert.equal(rd16(chip, sockReg(0), Sn_RX_RD), 0x1234)
  assert.equal(rd16(chip, sockReg(0), Sn_RX_WR), 0x1234)
  assert.equal(rd16(chip, sockReg(0), Sn_TX_FSR), 0x4000)
  assert.equal(rd16(chip, sockReg(0), Sn_RX_RSR), 0)
  chip.receive(frame(MAC, 0x0800, 100, 3))
  const r = readRecord(chip)
  assert.ok(r)
  assert.equal(r.len, 102)
  assert.deepEqual(r.data, frame(MAC, 0x0800, 100, 3))
})

// ---------------------------------------------------------------------------------------------------
// MACRAW receive

test('MACRAW RX record: 2-byte big-endian length counting itself, frame without FCS, no padding (ref B5)', () => {
  const { chip } = newChip()
  macraw(chip, 0x04)
  const a = frame(MAC, 0x0800, 61, 1)
  const b = frame(MAC, 0x0806, 75, 2)
  assert.equal(chip.receive(a), true)
  assert.equal(chip.receive(b), true)
  assert.equal(rd16(chip, sockReg(0), Sn_RX_RSR), 63 + 77)
  assert.equal(rd16(chip, sockReg(0), Sn_RX_WR), 63 + 77)
  assert.equal(rd16(chip, sockRx(0), 0), 63)
  assert.deepEqual(rd(chip, sockRx(0), 2, 61), a)
  // The next record follows at once, at an odd offset.
  assert.equal(rd16(chip, sockRx(0), 63), 77)
  assert.deepEqual(rd(chip, sockRx(0), 65, 75), b)
  assert.equal(chip.stats.rxFrames, 2)
})

test('MACRAW RX: runts (< 60 bytes) and frames over 1514 bytes are not delivered (ref B5)', () => {
  const { chip } = newChip()
  macraw(chip, 0x04)
  assert.equal(chip.receive(frame(MAC, 0x0800, 59)), false)
  assert.equal(chip.receive(frame(MAC, 0x0800, 1515)), false)
  assert.equal(chip.receive(frame(MAC, 0x0800, 60)), true)
  assert.equal(chip.receive(frame(MAC, 0x0800, 1514)), true)
  assert.equal(rd16(chip, sockReg(0), Sn_RX_RSR), 62 + 1516)
  assert.equal(chip.stats.rxBadSize, 2)
  assert.equal(chip.stats.rxDropped, 2)
})

test('MACRAW RX: nothing is received while socket 0 is not open in MACRAW or the link is down', () => {
  const { chip } = newChip()
  assert.equal(chip.receive(frame(MAC, 0x0800, 60)), false)
  macraw(chip, 0x04)
  chip.setLink(false)
  assert.equal(chip.receive(frame(MAC, 0x0800, 60)), false)
  assert.equal(chip.stats.rxNotListening, 2)
})

test('MACRAW RX: a frame that does not fit in the free RX space is dropped whole (ref B9.6)', () => {
  const { chip } = newChip()
  macraw(chip, 0x04, 2)
  assert.equal(chip.receive(frame(MAC, 0x0800, 1000, 1)), true)
  assert.equal(chip.receive(frame(MAC, 0x0800, 1000, 2)), true) // 2004 of 2048 used
  assert.equal(chip.receive(frame(MAC, 0x0800, 60, 3)), false) // needs 62, 44 free
  assert.equal(rd16(chip, sockReg(0), Sn_RX_RSR), 2004)
  assert.equal(chip.stats.rxNoSpace, 1)
  assert.equal(readRecord(chip)?.len, 1002)
  assert.equal(chip.receive(frame(MAC, 0x0800, 60, 3)), true)
  assert.deepEqual(readRecord(chip)?.data, frame(MAC, 0x0800, 1000, 2))
  assert.deepEqual(readRecord(chip)?.data, frame(MAC, 0x0800, 60, 3))
  assert.equal(readRecord(chip), null)
})

test('RECV commits Sn_RX_RD: writing RX_RD alone frees nothing and RSR does not change (DS p.55, ref B9.4)', () => {
  const { chip, misuse } = newChip()
  macraw(chip, 0x04, 2)
  chip.receive(frame(MAC, 0x0800, 1000, 1))
  chip.receive(frame(MAC, 0x0800, 1000, 2))
  wr16(chip, sockReg(0), Sn_RX_RD, 1002)
  assert.equal(rd16(chip, sockReg(0), Sn_RX_RD), 1002, 'the register reads back what was written')
  for (let i = 0; i < 3; i++) assert.equal(rd16(chip, sockReg(0), Sn_RX_RSR), 2004)
  assert.equal(chip.receive(frame(MAC, 0x0800, 100)), false, 'space is not freed yet')
  command(chip, 0, RECV)
  assert.equal(rd16(chip, sockReg(0), Sn_RX_RSR), 1002)
  assert.equal(chip.receive(frame(MAC, 0x0800, 100)), true)
  // Moving RX_RD past RX_WR is flagged.
  wr16(chip, sockReg(0), Sn_RX_RD, 1002 + 1002 + 102 + 2)
  command(chip, 0, RECV)
  assert.match(misuse[0], /past Sn_RX_WR/)
})

test('MACRAW RX: records wrap around the 16 KB buffer; raw-pointer bursts and split-at-end reads both work (ref B4)', () => {
  const { chip } = newChip()
  macraw(chip, 0x84)
  let seed = 11
  let total = 0
  for (let n = 0; n < 60; n++) {
    seed = (seed * 69069 + 1) >>> 0
    const len = 60 + (seed % 1455)
    const f = frame(MAC, 0x0800, len, seed)
    assert.equal(chip.receive(f), true)
    total += len + 2
    if (n % 2 === 0) {
      // ioLibrary/ESP/Mongoose style: raw pointer as offset, one burst that may run over the end.
      const r = readRecord(chip)
      assert.ok(r)
      assert.deepEqual(r.data, f)
    } else {
      // Linux/Zephyr style: offset = pointer % 16 KB, transfer split at the end of the buffer.
      const rdp = rd16(chip, sockReg(0), Sn_RX_RD)
      const hdr = new Uint8Array(2)
      const body = new Uint8Array(len)
      const get = (dst: Uint8Array, ptr: number): void => {
        const off = ptr % 0x4000
        const first = Math.min(dst.length, 0x4000 - off)
        dst.set(rd(chip, sockRx(0), off, first), 0)
        if (first < dst.length) dst.set(rd(chip, sockRx(0), 0, dst.length - first), first)
      }
      get(hdr, rdp)
      const rlen = (hdr[0] << 8) | hdr[1]
      assert.equal(rlen, len + 2)
      get(body, (rdp + 2) & 0xffff)
      assert.deepEqual(body, f)
      wr16(chip, sockReg(0), Sn_RX_RD, (rdp + rlen) & 0xffff)
      command(chip, 0, RECV)
    }
  }
  assert.ok(total > 3 * 16384, 'the pointers went round the buffer several times')
  assert.equal(rd16(chip, sockReg(0), Sn_RX_RSR), 0)
  assert.equal(rd16(chip, sockReg(0), Sn_RX_WR), total & 0xffff)
})

test('MACRAW filters: MFEN 0x80 accepts only own unicast, broadcast and multicast (DS p.45, ref B3)', () => {
  const { chip } = newChip()
  macraw(chip, 0x04)
  assert.equal(chip.receive(frame(OTHER, 0x0800, 60)), true, 'promiscuous without MFEN')
  command(chip, 0, CLOSE)
  wr(chip, sockReg(0), Sn_MR, [0x84])
  command(chip, 0, OPEN)
  assert.equal(chip.receive(frame(OTHER, 0x0800, 60)), false)
  assert.equal(chip.receive(frame(MAC, 0x0800, 60)), true)
  assert.equal(chip.receive(frame(BCAST, 0x0806, 60)), true)
  assert.equal(chip.receive(frame([0x01, 0x00, 0x5e, 0, 0, 1], 0x0800, 60)), true)
  assert.equal(chip.stats.rxFiltered, 1)
})

test('MACRAW filters: BCASTB 0x40 blocks broadcast', () => {
  const { chip } = newChip()
  macraw(chip, 0xc4)
  assert.equal(chip.receive(frame(BCAST, 0x0806, 60)), false)
  assert.equal(chip.receive(frame(MAC, 0x0800, 60)), true)
})

test('MACRAW filters: MMB 0x20 blocks IPv4 multicast but IPv6 multicast 33:33 always passes (ref B3, observed by ESP)', () => {
  const { chip } = newChip()
  macraw(chip, 0xa4)
  assert.equal(chip.receive(frame([0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb], 0x0800, 60)), false)
  assert.equal(chip.receive(frame([0x33, 0x33, 0x00, 0x00, 0x00, 0x01], 0x86dd, 60)), true)
  assert.equal(chip.receive(frame(BCAST, 0x0806, 60)), true)
})

test('MACRAW filters: MIP6B 0x10 blocks the IPv6 ethertype 0x86DD, multicast or not', () => {
  const { chip } = newChip()
  macraw(chip, 0x14)
  assert.equal(chip.receive(frame(MAC, 0x86dd, 60)), false)
  assert.equal(chip.receive(frame([0x33, 0x33, 0x00, 0x00, 0x00, 0x01], 0x86dd, 60)), false)
  assert.equal(chip.receive(frame(MAC, 0x0800, 60)), true)
})

test('MACRAW filters: Sn_MR changes apply only at OPEN (ref B3: CLOSE and OPEN again)', () => {
  const { chip } = newChip()
  macraw(chip, 0x04)
  wr(chip, sockReg(0), Sn_MR, [0x84])
  assert.equal(rd8(chip, sockReg(0), Sn_MR), 0x84)
  assert.equal(chip.receive(frame(OTHER, 0x0800, 60)), true, 'still promiscuous')
  command(chip, 0, CLOSE)
  command(chip, 0, OPEN)
  assert.equal(chip.receive(frame(OTHER, 0x0800, 60)), false)
})

// ---------------------------------------------------------------------------------------------------
// MACRAW transmit

test('SEND: TX_RD..TX_WR goes out as one frame; TX_RD and FSR update only when it is out; then SENDOK (ref B6, DS p.54)', () => {
  const { chip, sent } = newChip({ commandLatencyFrames: 2 })
  macraw(chip, 0x04)
  const f = frame(OTHER, 0x0800, 300, 5)
  queueTx(chip, f)
  // FSR = size - (TX_WR - TX_RD) (DS p.54); TX_WR alone sends nothing.
  assert.equal(rd16(chip, sockReg(0), Sn_TX_FSR), 0x4000 - 300)
  for (let i = 0; i < 4; i++) rd8(chip, COMMON, VERSIONR)
  assert.equal(sent.length, 0)
  wr(chip, sockReg(0), Sn_CR, [SEND])
  assert.equal(rd16(chip, sockReg(0), Sn_TX_RD), 0)
  assert.equal(rd8(chip, sockReg(0), Sn_IR), 0)
  assert.equal(sent.length, 0)
  while (rd8(chip, sockReg(0), Sn_CR) !== 0) { /* poll */ }
  assert.equal(sent.length, 1)
  assert.deepEqual(sent[0], f)
  assert.equal(rd16(chip, sockReg(0), Sn_TX_RD), 300)
  assert.equal(rd16(chip, sockReg(0), Sn_TX_FSR), 0x4000)
  assert.equal(rd8(chip, sockReg(0), Sn_IR), SENDOK)
  assert.equal(chip.stats.txFrames, 1)
})

test('SEND: two frames written before one SEND go out glued as one frame (ref B6)', () => {
  const { chip, sent } = newChip()
  macraw(chip, 0x04)
  const a = frame(OTHER, 0x0800, 100, 1)
  const b = frame(OTHER, 0x0800, 200, 2)
  queueTx(chip, a)
  queueTx(chip, b)
  command(chip, 0, SEND)
  assert.equal(sent.length, 1)
  assert.equal(sent[0].length, 300)
  assert.deepEqual(sent[0].subarray(0, 100), a)
  assert.deepEqual(sent[0].subarray(100), b)
})

test('SEND: frames wrap around the TX buffer (raw pointer offsets, modulo the size)', () => {
  const { chip, sent } = newChip()
  macraw(chip, 0x04, 2)
  for (let n = 0; n < 12; n++) {
    const f = frame(OTHER, 0x0800, 700 + n, n)
    queueTx(chip, f)
    command(chip, 0, SEND)
    assert.deepEqual(sent[n], f)
    wr(chip, sockReg(0), Sn_IR, [SENDOK])
  }
  assert.equal(rd16(chip, sockReg(0), Sn_TX_FSR), 2048)
})

test('SEND: short frames are padded to 60 bytes on the wire and counted (ref B6, padding assumed)', () => {
  const { chip, sent } = newChip()
  macraw(chip, 0x04)
  const f = frame(OTHER, 0x0806, 42, 9)
  queueTx(chip, f)
  command(chip, 0, SEND)
  assert.equal(sent[0].length, 60)
  assert.deepEqual(sent[0].subarray(0, 42), f)
  assert.ok(sent[0].subarray(42).every((x) => x === 0))
  assert.equal(chip.stats.shortTx, 1)
  // TX_RD moves by the 42 bytes written, not by the padding.
  assert.equal(rd16(chip, sockReg(0), Sn_TX_RD), 42)
})

test('SEND with a µs clock: the frame takes its wire time; a SEND before SENDOK is flagged and ignored', () => {
  const c = clock()
  const { chip, sent, misuse } = newChip({ now: c.now, commandLatencyUs: 1 })
  const tick = (): void => c.step(1)
  macraw(chip, 0x04, 16, tick)
  queueTx(chip, frame(OTHER, 0x0800, 1514, 1))
  command(chip, 0, SEND, tick)
  // (8 preamble + 1514 + 4 FCS + 12 IFG) x 8 bit / 100 Mbit/s = 123.04 µs on the wire.
  c.step(100)
  assert.equal(sent.length, 0)
  assert.equal(rd16(chip, sockReg(0), Sn_TX_FSR), 0x4000 - 1514)
  queueTx(chip, frame(OTHER, 0x0800, 60, 2))
  command(chip, 0, SEND, tick)
  assert.match(misuse[0], /previous SEND/)
  c.step(30)
  assert.equal(sent.length, 0, 'time-driven events happen at the next SPI access or poll()')
  chip.poll()
  assert.equal(sent.length, 1)
  assert.equal(sent[0].length, 1514)
  assert.equal(rd8(chip, sockReg(0), Sn_IR), SENDOK)
  // The ignored SEND left its bytes between TX_RD and TX_WR: the next SEND sends them.
  assert.equal(rd16(chip, sockReg(0), Sn_TX_FSR), 0x4000 - 60)
  command(chip, 0, SEND, tick)
  c.step(10)
  chip.poll()
  assert.equal(sent.length, 2)
  assert.equal(sent[1].length, 60)
})

test('SEND while the link is down: nothing goes out and no SENDOK until the link returns (ref B6, B9.11)', () => {
  const { chip, sent } = newChip()
  macraw(chip, 0x04)
  chip.setLink(false)
  queueTx(chip, frame(OTHER, 0x0800, 100, 1))
  command(chip, 0, SEND)
  for (let i = 0; i < 5; i++) assert.equal(rd8(chip, sockReg(0), Sn_IR), 0)
  assert.equal(sent.length, 0)
  assert.equal(rd8(chip, COMMON, PHYCFGR) & 1, 0)
  chip.setLink(true)
  assert.equal(rd8(chip, COMMON, PHYCFGR) & 1, 1)
  assert.equal(sent.length, 1)
  assert.equal(rd8(chip, sockReg(0), Sn_IR), SENDOK)
})

test('fault linkDownDuringSend off: a link drop between SEND and completion delays the frame, SENDOK follows', () => {
  const { chip, sent } = newChip()
  macraw(chip, 0x04)
  queueTx(chip, frame(OTHER, 0x0800, 100, 1))
  wr(chip, sockReg(0), Sn_CR, [SEND])
  chip.setLink(false)
  rd8(chip, sockReg(0), Sn_CR)
  assert.equal(sent.length, 0)
  chip.setLink(true)
  rd8(chip, COMMON, VERSIONR)
  assert.equal(sent.length, 1)
  assert.equal(rd8(chip, sockReg(0), Sn_IR), SENDOK)
})

test('fault linkDownDuringSend on: SENDOK never comes, even after the link returns; CLOSE/OPEN recovers (esp-idf#6233)', () => {
  const { chip, sent } = newChip({ faults: { linkDownDuringSend: true } })
  macraw(chip, 0x04)
  queueTx(chip, frame(OTHER, 0x0800, 100, 1))
  wr(chip, sockReg(0), Sn_CR, [SEND])
  chip.setLink(false)
  assert.equal(rd8(chip, sockReg(0), Sn_CR), 0, 'the command itself is accepted')
  chip.setLink(true)
  for (let i = 0; i < 10; i++) assert.equal(rd8(chip, sockReg(0), Sn_IR), 0)
  command(chip, 0, SEND)
  assert.equal(rd8(chip, sockReg(0), Sn_IR), 0)
  assert.equal(sent.length, 0)
  command(chip, 0, CLOSE)
  command(chip, 0, OPEN)
  queueTx(chip, frame(OTHER, 0x0800, 100, 2))
  command(chip, 0, SEND)
  assert.equal(sent.length, 1)
  assert.equal(rd8(chip, sockReg(0), Sn_IR), SENDOK)
})

// ---------------------------------------------------------------------------------------------------
// Interrupts

test('SIR/SIMR/INTn: Sn_IR bits set regardless of Sn_IMR; Sn_IMR gates SIR; INTn while (SIR & SIMR) != 0 (DS p.35-36, ref B3)', () => {
  const { chip, sent } = newChip()
  macraw(chip, 0x04)
  wr(chip, sockReg(0), Sn_IMR, [IR_RECV]) // as ESP-IDF does
  queueTx(chip, frame(OTHER, 0x0800, 60))
  command(chip, 0, SEND)
  assert.equal(sent.length, 1)
  assert.equal(rd8(chip, sockReg(0), Sn_IR), SENDOK, 'SENDOK set although Sn_IMR masks it')
  assert.equal(rd8(chip, COMMON, SIR), 0)
  assert.equal(chip.interrupt, false)
  chip.receive(frame(MAC, 0x0800, 60))
  assert.equal(rd8(chip, COMMON, SIR), 0x01)
  assert.equal(chip.interrupt, false, 'SIMR = 0')
  wr(chip, COMMON, SIMR, [0x01])
  assert.equal(chip.interrupt, true)
  // SIR is read-only: writing it changes nothing.
  wr(chip, COMMON, SIR, [0x01])
  assert.equal(rd8(chip, COMMON, SIR), 0x01)
  wr(chip, sockReg(0), Sn_IR, [IR_RECV])
  assert.equal(chip.interrupt, false)
  assert.equal(rd8(chip, sockReg(0), Sn_IR), SENDOK)
})

test('IR/IMR: common interrupts are write-1-to-clear and gated by IMR (DS p.34-35)', () => {
  const { chip } = newChip()
  chip.raiseInterrupt(0x80 | 0x40)
  assert.equal(rd8(chip, COMMON, IR), 0xc0)
  assert.equal(chip.interrupt, false)
  wr(chip, COMMON, IMR, [0x40])
  assert.equal(chip.interrupt, true)
  wr(chip, COMMON, IR, [0x40])
  assert.equal(rd8(chip, COMMON, IR), 0x80)
  assert.equal(chip.interrupt, false)
})

test('INTLEVEL: 0 re-asserts INTn at once; non-zero waits (frame clock: to the next frame) (DS p.34, approximation)', () => {
  for (const level of [0, 0x0100]) {
    const { chip } = newChip()
    const edges: boolean[] = []
    chip.onInterrupt = (a) => { edges.push(a) }
    macraw(chip, 0x04)
    wr16(chip, COMMON, INTLEVEL, level)
    wr(chip, COMMON, SIMR, [0x01])
    chip.receive(frame(MAC, 0x0800, 60))
    assert.equal(chip.interrupt, true)
    wr(chip, sockReg(0), Sn_IR, [IR_RECV])
    assert.equal(chip.interrupt, false)
    chip.receive(frame(MAC, 0x0800, 60))
    assert.equal(chip.interrupt, level === 0, 'level ' + level)
    rd8(chip, COMMON, VERSIONR)
    assert.equal(chip.interrupt, true)
    assert.deepEqual(edges, [true, false, true])
  }
})

test('INTLEVEL with a µs clock: INTn re-asserts (INTLEVEL + 1) x 4 / 150 MHz after it deasserted (0xFFFF: ~1.75 ms)', () => {
  const c = clock()
  const { chip } = newChip({ now: c.now, commandLatencyUs: 1 })
  macraw(chip, 0x04, 16, () => c.step(1))
  wr16(chip, COMMON, INTLEVEL, 0xffff)
  wr(chip, COMMON, SIMR, [0x01])
  chip.receive(frame(MAC, 0x0800, 60))
  assert.equal(chip.interrupt, true)
  wr(chip, sockReg(0), Sn_IR, [IR_RECV])
  assert.equal(chip.interrupt, false)
  chip.receive(frame(MAC, 0x0800, 60))
  c.step(1700)
  assert.equal(chip.interrupt, false)
  c.step(50)
  assert.equal(chip.interrupt, true, 'polled without SPI traffic')
})

// ---------------------------------------------------------------------------------------------------
// PHY

test('PHYCFGR: LNK/SPD/DPX follow the cable (ref B2: 0xBF 100/full, 0xBA no link)', () => {
  const { chip } = newChip()
  assert.equal(rd8(chip, COMMON, PHYCFGR), 0xbf)
  chip.setLink(false)
  assert.equal(rd8(chip, COMMON, PHYCFGR), 0xba)
  assert.equal(chip.link, false)
  chip.setLink(true)
  assert.equal(rd8(chip, COMMON, PHYCFGR), 0xbf, 'autonegotiation done by the next frame')
  const ten = newChip({ speed: 10, fullDuplex: false })
  assert.equal(rd8(ten.chip, COMMON, PHYCFGR), 0xb9)
  const down = newChip({ link: false })
  assert.equal(rd8(down.chip, COMMON, PHYCFGR), 0xba)
})

test('PHYCFGR: RST=0 holds the PHY in reset (link down) until 1 is written; OPMD/OPMDC apply then (ref B2, B9.11)', () => {
  const { chip } = newChip()
  wr(chip, COMMON, PHYCFGR, [0x00]) // Mongoose: 0x00 then 0xF8
  for (let i = 0; i < 3; i++) assert.equal(rd8(chip, COMMON, PHYCFGR) & 0x81, 0x00)
  wr(chip, COMMON, PHYCFGR, [0xc8]) // RST, OPMD, OPMDC=001: 10BASE-T full duplex
  assert.equal(rd8(chip, COMMON, PHYCFGR), 0xc8 | 0x04 | 0x01)
  // Power-down (OPMD=1, OPMDC=110) through a PHY reset: no link.
  wr(chip, COMMON, PHYCFGR, [0x70])
  wr(chip, COMMON, PHYCFGR, [0xf0])
  rd8(chip, COMMON, PHYCFGR)
  assert.equal(rd8(chip, COMMON, PHYCFGR) & 1, 0)
  wr(chip, COMMON, PHYCFGR, [0x78])
  wr(chip, COMMON, PHYCFGR, [0xf8])
  assert.equal(rd8(chip, COMMON, PHYCFGR), 0xff)
})

test('PHY with a µs clock: the link comes up after autonegotiation (autonegUs)', () => {
  const c = clock()
  const { chip } = newChip({ now: c.now, autonegUs: 2000 })
  assert.equal(chip.link, true, 'negotiated at power-on')
  chip.setLink(false)
  chip.setLink(true)
  c.step(1999)
  assert.equal(rd8(chip, COMMON, PHYCFGR) & 1, 0)
  c.step(1)
  assert.equal(rd8(chip, COMMON, PHYCFGR) & 1, 1)
})

// ---------------------------------------------------------------------------------------------------
// Faults

test('fault corruptLength on: the next record has an insane length; one-shot; CLOSE/OPEN empties the buffer (ref B5)', () => {
  const { chip } = newChip({ faults: { corruptLength: 65534 } })
  macraw(chip, 0x04)
  const f = frame(MAC, 0x0800, 100, 1)
  chip.receive(f)
  chip.receive(frame(MAC, 0x0800, 100, 2))
  assert.equal(rd16(chip, sockReg(0), Sn_RX_RSR), 204, 'RX_WR moved by the true sizes')
  assert.equal(rd16(chip, sockRx(0), 0), 65534)
  assert.deepEqual(rd(chip, sockRx(0), 2, 100), f)
  assert.equal(rd16(chip, sockRx(0), 102), 102, 'only one record is corrupted')
  assert.equal(chip.faults.corruptLength, 0)
  // The recovery drivers use (Zephyr PR #46701): close and re-open the MACRAW socket.
  command(chip, 0, CLOSE)
  command(chip, 0, OPEN)
  assert.equal(rd16(chip, sockReg(0), Sn_RX_RSR), 0)
  chip.faults.corruptLength = 20 // below 60 + 2
  chip.receive(f)
  assert.equal(rd16(chip, sockRx(0), 0), 20)
  chip.receive(f)
  assert.equal(rd16(chip, sockRx(0), 102), 102)
})

test('fault corruptLength off: every record carries its true length', () => {
  const { chip } = newChip()
  macraw(chip, 0x04)
  for (let n = 0; n < 5; n++) chip.receive(frame(MAC, 0x0800, 100 + n))
  for (let n = 0; n < 5; n++) assert.equal(readRecord(chip)?.len, 102 + n)
})

test('fault tornReads off: a 2-byte RSR read is consistent', () => {
  const { chip } = newChip()
  macraw(chip, 0x04)
  chip.receive(frame(MAC, 0x0800, 300))
  assert.equal(rd16(chip, sockReg(0), Sn_RX_RSR), 302)
})

test('fault tornReads on: a frame lands between the RSR high and low byte; reading twice gives the true value (DS p.55)', () => {
  const { chip } = newChip({ faults: { tornReads: true } })
  macraw(chip, 0x04)
  assert.equal(chip.receive(frame(MAC, 0x0800, 300)), true)
  // 2-byte burst: high byte of 0 (old), then low byte of 302 = 0x012E (new) -> 0x002E.
  assert.equal(rd16(chip, sockReg(0), Sn_RX_RSR), 0x002e)
  assert.equal(rd16(chip, sockReg(0), Sn_RX_RSR), 302)
  // Byte by byte across two frames tears the same way.
  chip.receive(frame(MAC, 0x0800, 300))
  const hi = rd8(chip, sockReg(0), Sn_RX_RSR)
  const lo = rd8(chip, sockReg(0), Sn_RX_RSR + 1)
  assert.equal((hi << 8) | lo, (0x01 << 8) | ((604) & 0xff))
  assert.equal(rd16Stable(chip, sockReg(0), Sn_RX_RSR), 604)
  // Without an RSR read, the parked frame lands at the end of the next chip-select frame.
  chip.receive(frame(MAC, 0x0800, 60))
  rd8(chip, COMMON, VERSIONR)
  assert.equal(rd8(chip, sockReg(0), Sn_IR) & IR_RECV, IR_RECV)
  assert.equal(rd16(chip, sockReg(0), Sn_RX_RSR), 666)
  // A driver that reads twice still gets every frame right.
  wr(chip, sockReg(0), Sn_IR, [IR_RECV])
  assert.equal(readRecord(chip)?.len, 302)
  assert.equal(readRecord(chip)?.len, 302)
  assert.equal(readRecord(chip)?.len, 62)
  assert.equal(readRecord(chip), null)
})

test('fault tornReads on: a finished transmission completes between the FSR high and low byte (DS p.54)', () => {
  const { chip, sent } = newChip({ faults: { tornReads: true } })
  macraw(chip, 0x04)
  queueTx(chip, frame(OTHER, 0x0800, 60))
  assert.equal(rd16(chip, sockReg(0), Sn_TX_FSR), 0x4000 - 60) // 0x3FC4
  wr(chip, sockReg(0), Sn_CR, [SEND])
  // Next frame: the command is accepted and the frame is out, but it lands mid-read: 0x3F then 0x00.
  assert.equal(rd16(chip, sockReg(0), Sn_TX_FSR), 0x3f00)
  assert.equal(sent.length, 1)
  assert.equal(rd16(chip, sockReg(0), Sn_TX_FSR), 0x4000)
  assert.equal(rd8(chip, sockReg(0), Sn_IR), SENDOK)
})

// ---------------------------------------------------------------------------------------------------
// Misuse and counters

test('misuse: writes to read-only registers and reserved addresses are flagged', () => {
  const { chip, misuse } = newChip()
  wr16(chip, sockReg(0), Sn_TX_FSR, 0)
  wr(chip, sockReg(0), Sn_SR, [0x42])
  wr(chip, COMMON, VERSIONR, [0])
  wr(chip, COMMON, 0x0030, [0])
  wr(chip, sockReg(0), 0x0030, [0])
  assert.equal(misuse.length, 6)
  assert.equal(rd8(chip, sockReg(0), Sn_SR), 0)
  assert.equal(rd8(chip, COMMON, VERSIONR), 4)
})

test('stats: chip-select frames, SPI bytes, RX/TX frame counters', () => {
  const { chip } = newChip()
  macraw(chip, 0x04)
  const frames0 = chip.stats.csFrames
  const bytes0 = chip.stats.spiBytes
  chip.receive(frame(MAC, 0x0800, 60))
  chip.receive(frame(OTHER, 0x0800, 50))
  readRecord(chip)
  assert.ok(chip.stats.csFrames > frames0)
  assert.ok(chip.stats.spiBytes > bytes0 + 62)
  assert.equal(chip.stats.rxFrames, 1)
  assert.equal(chip.stats.rxDropped, 1)
})

// ---------------------------------------------------------------------------------------------------
// Time model (fixes made while writing the driver)

test('µs clock: a SEND\'s wire time counts from when the chip accepted it, not from the host\'s next access', () => {
  // The chip transmits on its own: a host that looks only 500 µs after SEND finds the frame long gone
  // (1514 bytes at 100 Mbit/s: 123 µs). Before the fix the transmission only started at that access.
  const c = clock()
  const { chip, sent } = newChip({ now: c.now, commandLatencyUs: 2 })
  macraw(chip, 0x04, 16, () => c.step(1))
  queueTx(chip, frame(OTHER, 0x0800, 1514, 1))
  wr(chip, sockReg(0), Sn_CR, [SEND])
  c.step(500)
  assert.equal(rd8(chip, sockReg(0), Sn_IR), SENDOK)
  assert.equal(sent.length, 1)
})

test('µs clock: events due between two accesses take effect in time order (a SEND accepted before the link is back finds it down)', () => {
  // SEND accepted at +2 µs while the cable was just re-plugged (autonegotiation ends at +10 µs): with the
  // linkDownDuringSend fault the transmitter hangs although the link is up when the host next looks.
  const c = clock()
  const { chip, sent } = newChip({ now: c.now, commandLatencyUs: 2, autonegUs: 10, faults: { linkDownDuringSend: true } })
  macraw(chip, 0x04, 16, () => c.step(1))
  queueTx(chip, frame(OTHER, 0x0800, 100, 1))
  wr(chip, sockReg(0), Sn_CR, [SEND])
  chip.setLink(false)
  chip.setLink(true)
  c.step(1000)
  assert.equal(rd8(chip, COMMON, PHYCFGR) & 1, 1, 'link up again')
  assert.equal(rd8(chip, sockReg(0), Sn_IR), 0, 'no SENDOK: the SEND was accepted while the link was down')
  assert.equal(sent.length, 0)
  // Without the fault the frame waited for the link and went out when it came back, at +10 µs.
  const d = newChip({ now: c.now, commandLatencyUs: 2, autonegUs: 10 })
  macraw(d.chip, 0x04, 16, () => c.step(1))
  queueTx(d.chip, frame(OTHER, 0x0800, 100, 1))
  wr(d.chip, sockReg(0), Sn_CR, [SEND])
  d.chip.setLink(false)
  d.chip.setLink(true)
  c.step(1000)
  assert.equal(rd8(d.chip, sockReg(0), Sn_IR), SENDOK)
  assert.equal(d.sent.length, 1)
})

// ---------------------------------------------------------------------------------------------------
// RSTn

/** Every common register and socket 0-7 register as the host reads them. */
function dump(chip: W5500Sim): number[] {
  const out = [...rd(chip, COMMON, 0, 0x3a)]
  for (let s = 0; s < 8; s++) out.push(...rd(chip, sockReg(s), 0, 0x30))
  return out
}

test('hardwareReset (RSTn): back to the power-on state of a fresh chip; cable, options, faults and stats kept', () => {
  const fresh = newChip()
  const { chip } = newChip()
  const before = dump(fresh.chip)
  wr(chip, COMMON, GAR, [192, 168, 1, 1, 255, 255, 255, 0, ...MAC])
  wr(chip, COMMON, PHYCFGR, [0x00])
  wr(chip, COMMON, PHYCFGR, [0xc8]) // forced 10BASE-T full duplex
  wr(chip, COMMON, SIMR, [0x01])
  macraw(chip, 0x84)
  chip.receive(frame(MAC, 0x0800, 100))
  queueTx(chip, frame(OTHER, 0x0800, 100))
  assert.equal(chip.interrupt, true)
  const frames = chip.stats.rxFrames
  chip.hardwareReset()
  assert.equal(chip.interrupt, false)
  assert.deepEqual(dump(chip), before, 'every register as on a freshly constructed chip (PHY back to all-capable, linked)')
  assert.equal(chip.stats.rxFrames, frames)
  assert.equal(rd16(chip, sockRx(0), 0), 0, 'buffer memory cleared')
  // Unplugged cable stays unplugged; the fault switches stay.
  const down = newChip({ link: false, faults: { versionZero: true } })
  rd8(down.chip, COMMON, VERSIONR)
  rd8(down.chip, COMMON, VERSIONR)
  assert.equal(rd8(down.chip, COMMON, VERSIONR), 0x04)
  down.chip.hardwareReset()
  assert.equal(rd8(down.chip, COMMON, VERSIONR), 0x00, 'VERSIONR-0 window after RSTn, as after power-on')
  assert.equal(rd8(down.chip, COMMON, VERSIONR), 0x00)
  assert.equal(rd8(down.chip, COMMON, VERSIONR), 0x04)
  assert.equal(rd8(down.chip, COMMON, PHYCFGR), 0xba)
  down.chip.setLink(true)
  assert.equal(rd8(down.chip, COMMON, PHYCFGR), 0xbf)
})

test('hardwareReset with a µs clock: VERSIONR-0 window of versionZeroUs; a pending reset or SEND is gone', () => {
  const c = clock()
  const { chip, sent } = newChip({ now: c.now, versionZeroUs: 300, faults: { versionZero: true } })
  c.step(1000)
  macraw(chip, 0x04, 16, () => c.step(1))
  queueTx(chip, frame(OTHER, 0x0800, 1514))
  wr(chip, sockReg(0), Sn_CR, [SEND])
  wr(chip, COMMON, MR, [0x80])
  chip.hardwareReset()
  assert.equal(rd8(chip, COMMON, MR), 0x00, 'no software reset in progress')
  assert.equal(rd8(chip, COMMON, VERSIONR), 0x00)
  c.step(300)
  assert.equal(rd8(chip, COMMON, VERSIONR), 0x04)
  c.step(1000)
  assert.equal(sent.length, 0)
  assert.equal(rd8(chip, sockReg(0), Sn_SR), 0x00)
})
