// The WIZnet W5500 driver: socket 0 in MACRAW mode with all 16 KB of RX and 16 KB of TX buffer, sockets
// 1-7 without buffers. Device dialect (reference/espruino.md): no Map/Set, no destructuring, spread or
// default parameters, every function declared before the code that calls it.
//
// Facts come from /work/shared/reference/chips.md PART B ("ref B5" etc.) and the W5500 datasheet v1.0.9
// ("DS p.N"). Nothing here is copied from another driver; where the reference drivers disagree the choice
// is explained at the place it is made.
//
// Data path. A received frame is read over SPI and copied once, from the bytes `spi.sendThenRead` returns,
// into the slot the RX ring reserved for it in the arena. A frame to send is not copied at all: it goes
// out of a view of its TX ring slot behind the 3-byte SPI header (`spi.sendThenWrite`; on Espruino
// SPI.write(header, view, cs)). The driver's only MOSI storage is an 8-byte header/register buffer.
//
// SPI economy (per frame, in the usual case of one full-size frame per poll; tools/bench-spi.ts measures
// it: RX 1.021 SPI bytes per frame byte and 7 chip selects, TX 1.020 and 7):
//   RX: Sn_IR clear (only when INTn is asserted); one Sn_CR poll for the previous poll's RECV (the wait
//       is deferred to the next Sn_CR write or RSR read, by which time the chip has long taken it);
//       Sn_RX_RSR read twice; ONE burst with the 2-byte record header and the frame (when RSR shows at
//       most one maximum-size record the whole of it is read at once; in a backlog the next record's
//       header rides at the end of the previous frame's burst); Sn_RX_RD write; RECV. Sn_RX_RD is never
//       read back: only the host moves it, so the driver keeps it (reading it once after OPEN). RSR is
//       read again in the same poll only when INTn says another frame landed. Records found by one RSR
//       read are committed together (one Sn_RX_RD write + RECV per poll or per commitBytes).
//   TX: Sn_TX_FSR read twice; ONE burst with the frame at Sn_TX_WR (kept by the driver like Sn_RX_RD);
//       Sn_TX_WR write; SEND; Sn_IR read after the frame's wire time; SENDOK clear.
//
// Workarounds for what the chip does in the field. Each is a named exported function below, and the
// driver's `workarounds` option (all on by default) switches each off so a test can show what goes wrong
// without it:
//   readStable16     Sn_RX_RSR / Sn_TX_FSR are not latched: read until two reads agree (DS p.54-55).
//   recoverBadLength an insane record length (Zephyr #46684, ESP #151): close and re-open the socket.
//   waitVersion      VERSIONR may read 0 right after a reset (ref B2, ESP-IDF): poll it, bounded.
//   abortStuckSend   SENDOK may never come when the link drops during SEND (ref B6): bounded wait with a
//                    PHYCFGR.LNK check, then CLOSE/OPEN, the frame counted as a txError.
//
// Multicast. With MFEN the W5500 passes every multicast frame unless MMB blocks them all; it cannot
// filter individual groups (ref B3: Sn_MR.MMB is its only multicast control). So until the first joinMulticast the driver sets MMB,
// and after it the chip lets every multicast group through: the stack's IPv4 layer drops the groups it
// has not joined. IPv6 multicast (33:33:...) passes even with MMB (ref B3, observed on silicon), so the
// driver also sets MIP6B (block the IPv6 ethertype) unless the stack joins a 33:33 group or the option
// blockIpv6 is false: the stack is IPv4 only.
import { Platform } from './types.js'
import { FrameRing } from './frame-ring.js'
import { DriverStats, EthernetDriver, newDriverStats } from './driver.js'

// ---------------------------------------------------------------------------------------------------
// Chip facts

/** Block selects (ref B1). */
export const BSB_COMMON = 0x00
export const BSB_S0_REG = 0x01
export const BSB_S0_TX = 0x02
export const BSB_S0_RX = 0x03
/** Socket n's register block (1 + 4n). */
function sockReg(n: number): number { return 1 + 4 * n }

// Common registers (ref B2)
const MR = 0x0000
const SHAR = 0x0009
const SIMR = 0x0018
const RTR = 0x0019
const PHYCFGR = 0x002e
const VERSIONR = 0x0039
const MR_RST = 0x80
/** VERSIONR always reads 0x04 (ref B2); RTR resets to 0x07D0 (Linux and Zephyr check it for presence). */
export const W5500_VERSION = 0x04
export const W5500_RTR_RESET = 0x07d0

// Socket registers (ref B3)
const SN_MR = 0x00
const SN_CR = 0x01
const SN_IR = 0x02
const SN_SR = 0x03
const SN_RXBUF_SIZE = 0x1e
const SN_TX_FSR = 0x20
const SN_TX_WR = 0x24
const SN_RX_RSR = 0x26
const SN_RX_RD = 0x28
const SN_IMR = 0x2c

const CR_OPEN = 0x01
const CR_CLOSE = 0x10
const CR_SEND = 0x20
const CR_RECV = 0x40
const IR_SENDOK = 0x10
const IR_TIMEOUT = 0x08
const IR_RECV = 0x04
const IR_ALL = 0x1f
const SR_CLOSED = 0x00
const SR_MACRAW = 0x42

const MODE_MACRAW = 0x04
const MODE_MFEN = 0x80
const MODE_MMB = 0x20
const MODE_MIP6B = 0x10

/** S0 gets all of the 16 KB RX and 16 KB TX memory (ref B4). */
const BUF_KB = 16
const BUF_BYTES = BUF_KB * 1024

/** Delivered frames are 60-1514 bytes: no FCS, runts not delivered (ref B5). A record adds 2 bytes. */
export const MIN_FRAME = 60
export const MAX_FRAME = 1514
const MAX_RECORD = MAX_FRAME + 2
/** Frames the stack may hand over: an Ethernet header at least; the chip pads short ones (ref B6). */
const MIN_TX_FRAME = 14

/** The largest data phase the driver makes: a record (header + frame) or a frame + the next header.
 *  (No buffer of this size is kept: bursts go through spi.sendThenRead / sendThenWrite.) */
const MAX_XFER = MAX_RECORD + 2

/** RSTn held low at least 500 µs (Zephyr pulses 500 µs, ref B7); afterwards the chip's PLL needs up to
 *  1 ms to lock before SPI works (W5500 DS reset timing, recalled [R]). */
const RESET_PULSE_US = 500
const PLL_LOCK_US = 1000

/** Pairs of reads readStable16 tries before it gives up for this poll. */
const STABLE_TRIES = 8

// ---------------------------------------------------------------------------------------------------
// SPI access

/** Data bytes a register access carries behind the header in W5500Io's fixed buffer (16-bit registers
 *  need 2); longer accesses are bursts. */
const REG_XFER = 5

/**
 * The W5500's SPI frame (ref B1): 16-bit offset, control byte BSB[4:0] RWB OM=00 (variable-length data,
 * the frame lasts as long as chip select), data. Every access is one chip-select frame (one SpiBus call).
 *
 * MOSI storage is one 8-byte buffer: the 3-byte header and, for a register access, up to REG_XFER data
 * bytes, sent with `spi.send`. A burst sends the header from the same buffer and no copy of its data:
 * a read clocks out zeros behind it (`spi.sendThenRead`), a write sends the caller's bytes straight from
 * a view of them (`spi.sendThenWrite`). Nothing is allocated per access but views and what the bus
 * returns; there is no frame-sized buffer (on a Pico one would keep ~117 of 5,100 blocks).
 */
export class W5500Io {
  readonly platform: Platform
  /** Header (bytes 0-2) and register data (3 .. 3 + REG_XFER). */
  private readonly buf: Uint8Array
  /** A view of the header alone, for bursts. */
  private readonly head: Uint8Array

  constructor(platform: Platform) {
    this.platform = platform
    this.buf = new Uint8Array(3 + REG_XFER)
    this.head = this.buf.subarray(0, 3)
  }

  private header(bsb: number, addr: number, write: boolean): void {
    const o = this.buf
    o[0] = (addr >> 8) & 0xff
    o[1] = addr & 0xff
    o[2] = (bsb << 3) | (write ? 0x04 : 0x00)
  }

  /** Reads `len` bytes; returns the bytes the bus clocked in: the data start at index 3. MOSI during
   *  the data phase is zeros (the chip ignores it). */
  read(bsb: number, addr: number, len: number): Uint8Array {
    this.header(bsb, addr, false)
    if (len > REG_XFER) return this.platform.spi.sendThenRead(this.head, len)
    const o = this.buf
    for (let i = 3; i < 3 + len; i++) o[i] = 0
    return this.platform.spi.send(o.subarray(0, 3 + len))
  }

  read8(bsb: number, addr: number): number {
    return this.read(bsb, addr, 1)[3]
  }

  /** A 16-bit register, big-endian (ref B1), read as one 2-byte burst (not atomic: see readStable16). */
  read16(bsb: number, addr: number): number {
    const r = this.read(bsb, addr, 2)
    return (r[3] << 8) | r[4]
  }

  write8(bsb: number, addr: number, v: number): void {
    this.header(bsb, addr, true)
    this.buf[3] = v & 0xff
    this.platform.spi.send(this.buf.subarray(0, 4))
  }

  write16(bsb: number, addr: number, v: number): void {
    this.header(bsb, addr, true)
    this.buf[3] = (v >> 8) & 0xff
    this.buf[4] = v & 0xff
    this.platform.spi.send(this.buf.subarray(0, 5))
  }

  /** Writes `len` bytes of `src` from `at` in one burst, straight from a view of `src` (no copy). */
  writeBytes(bsb: number, addr: number, src: Uint8Array, at: number, len: number): void {
    if (len > MAX_XFER) throw new Error('W5500: a ' + len + '-byte SPI burst is more than the driver makes')
    this.header(bsb, addr, true)
    this.platform.spi.sendThenWrite(this.head, src.subarray(at, at + len))
  }
}

// ---------------------------------------------------------------------------------------------------
// Workarounds (named, exported, each with a switch in W5500Workarounds)

/**
 * Reads a 16-bit register that the chip may change between its two bytes (Sn_RX_RSR, Sn_TX_FSR) until
 * two reads in a row agree: DS p.54-55, "it is recommended that you read all 16-bits twice or more until
 * getting the same value". A first read of 0 is returned at once (as ioLibrary does): a 0 torn out of a
 * growing value only delays that data to the next poll, since the chip has already raised Sn_IR.RECV
 * for it. Returns -1 when the value does not settle within a few pairs (try again at the next poll).
 */
export function readStable16(io: W5500Io, bsb: number, addr: number): number {
  let a = io.read16(bsb, addr)
  if (a === 0) return 0
  for (let i = 0; i < STABLE_TRIES; i++) {
    const b = io.read16(bsb, addr)
    if (b === a) return a
    a = b
  }
  return -1
}

/**
 * Polls VERSIONR until it reads 0x04 or `timeoutUs` passes, and returns the last value read. Some W5500
 * units read 0 right after a reset (ref B2: ESP-IDF polls it for that reason). A chip that never reads
 * 0x04 is absent or miswired: the caller says so.
 */
export function waitVersion(io: W5500Io, timeoutUs: number, pollUs: number): number {
  const p = io.platform
  const t0 = p.clock.now()
  for (;;) {
    const v = io.read8(BSB_COMMON, VERSIONR)
    if (v === W5500_VERSION) return v
    if (p.clock.now() - t0 >= timeoutUs) return v
    p.delay(pollUs)
  }
}

/**
 * Whether a MACRAW record length is one the chip can have written: LEN counts its own 2 bytes and a
 * delivered frame is 60-1514 bytes (ref B5), and a whole record is in the buffer before Sn_RX_RSR counts
 * it (the MAC checks the FCS at the end of the frame and drops bad frames, so it cannot expose a partial
 * one), so LEN is at most the `avail` bytes a stable RSR read showed.
 */
export function recordLengthOk(len: number, avail: number): boolean {
  return len >= MIN_FRAME + 2 && len <= MAX_RECORD && len <= avail
}

/**
 * Recovery from an insane record length (ref B5: 65534, 22000 under load; Zephyr #46684 / PR #46701
 * re-opens the socket; ESP #151 loops forever when the driver does not move on). There is no telling
 * where the next record starts, so the MACRAW socket is closed and opened again, which empties the
 * chip's RX buffer. Counted as one rxError and one recovery.
 */
export function recoverBadLength(drv: W5500Driver): void {
  drv.stats.rxErrors++
  drv.stats.recoveries++
  drv.reopenSocket()
}

/** What waitSendDone saw. */
export const SEND_OK = 0
export const SEND_STUCK = 1
export const SEND_LINK_DOWN = 2

/** Wire time in µs of a frame at `mbps`: preamble 8, frame (padded to 60), FCS 4, gap 12 bytes. */
export function wireTimeUs(len: number, mbps: number): number {
  return (((len < MIN_FRAME ? MIN_FRAME : len) + 24) * 8) / mbps
}

/**
 * Waits for the end of a SEND: Sn_IR.SENDOK (cleared here), or TIMEOUT. With `bounded` (the
 * abortStuckSend workaround) it also gives up when PHYCFGR.LNK reads 0 once the frame's wire time has
 * passed, or after `boundUs`: SENDOK may never come when the link drops during SEND (ref B6; ESP-IDF
 * bounds the wait and checks PHYCFGR, Mongoose gives up after 40 polls). Without `bounded` it waits for
 * SENDOK for ever, as drivers did before that was known. The first poll comes after the wire time.
 */
export function waitSendDone(io: W5500Io, len: number, mbps: number, boundUs: number, bounded: boolean): number {
  const p = io.platform
  const t0 = p.clock.now()
  const wire = wireTimeUs(len, mbps)
  let pollUs = wire / 4
  if (pollUs < 2) pollUs = 2
  p.delay(wire + 2)
  for (;;) {
    const ir = io.read8(BSB_S0_REG, SN_IR)
    const done = ir & (IR_SENDOK | IR_TIMEOUT)
    if (done !== 0) {
      io.write8(BSB_S0_REG, SN_IR, done)
      return (done & IR_SENDOK) !== 0 ? SEND_OK : SEND_STUCK
    }
    if (bounded) {
      if ((io.read8(BSB_COMMON, PHYCFGR) & 0x01) === 0) return SEND_LINK_DOWN
      if (p.clock.now() - t0 >= boundUs) return SEND_STUCK
    }
    p.delay(pollUs)
  }
}

/**
 * The transmitter did not finish a SEND (link down, or hung after a link drop: ref B6, esp-idf#6233):
 * CLOSE and OPEN the MACRAW socket, which abandons the frame and restarts the transmitter. The frame
 * counts as a txError (the stack learns of it through the stats) and the repair as a recovery.
 */
export function abortStuckSend(drv: W5500Driver): void {
  drv.stats.txErrors++
  drv.stats.recoveries++
  drv.reopenSocket()
}

// ---------------------------------------------------------------------------------------------------
// The driver

/** Switches for the workarounds; all on by default. A test turns one off to show why it is there. */
export interface W5500Workarounds {
  readStable16: boolean
  recoverBadLength: boolean
  waitVersion: boolean
  abortStuckSend: boolean
}

export interface W5500DriverOptions {
  /** The ArrayBuffer the frame rings live in (ring offsets index it from its start). Default: the
   *  ring's own view of it (FrameRing.bytes). */
  arena?: ArrayBuffer
  workarounds?: {
    readStable16?: boolean
    recoverBadLength?: boolean
    waitVersion?: boolean
    abortStuckSend?: boolean
  }
  /** Pulse RSTn (platform.reset) before the MR.RST software reset at init. Default true. */
  hardwareReset?: boolean
  /** Bounds (µs) of the waits for MR.RST to clear and VERSIONR to read 0x04 (each). Default 100 ms. */
  resetTimeoutUs?: number
  versionTimeoutUs?: number
  /** Bound (µs) of every Sn_CR / Sn_SR wait. Default 100 ms (Linux, Zephyr and ESP-IDF, ref B3). */
  commandTimeoutUs?: number
  /** Bound (µs) of the SENDOK wait. Default: twice a 1514-byte frame's wire time at the link speed
   *  plus 2 ms (100 Mbit/s: 2.2 ms; 10 Mbit/s: 4.5 ms). */
  sendTimeoutUs?: number
  /** Set MIP6B (drop IPv6 frames in the chip) while no 33:33 group is joined. Default true. */
  blockIpv6?: boolean
  /** Commit consumed RX bytes (Sn_RX_RD + RECV) at least every this many bytes within one poll, so
   *  the chip gets its space back during a long drain. Default 4096 (a quarter of the buffer). */
  commitBytes?: number
}

/** The bytes a frame ring lives in, indexed by the offsets reserve()/peek() return. */
export function ringBytes(ring: FrameRing): Uint8Array {
  return ring.bytes
}

function opt(v: number | undefined, dflt: number): number {
  return v !== undefined ? v : dflt
}

function flag(v: boolean | undefined): boolean {
  return v !== false
}

function hex(v: number, digits: number): string {
  let s = v.toString(16)
  while (s.length < digits) s = '0' + s
  return '0x' + s
}

export class W5500Driver implements EthernetDriver {
  readonly chip: 'w5500' = 'w5500'
  readonly stats: DriverStats
  readonly workarounds: W5500Workarounds
  /** The last reason the driver gave up on the chip ('' while it works). */
  lastError = ''

  private readonly io: W5500Io
  private readonly platform: Platform
  private readonly arena: Uint8Array | null
  private readonly mac = new Uint8Array(6)
  private readonly doHardwareReset: boolean
  private readonly resetTimeoutUs: number
  private readonly versionTimeoutUs: number
  private readonly commandTimeoutUs: number
  private readonly sendTimeoutUs: number
  private readonly blockIpv6: boolean
  private readonly commitBytes: number

  private ready = false
  private promiscuous = false
  private multicast = false
  private ipv6Multicast = false
  private link = false
  private mbps = 100

  /** Sn_RX_RD as the driver has moved it, and how much of that is not yet committed by RECV. */
  private rxRd = 0
  private uncommitted = 0
  /** Bytes of whole records known to be in the chip from rxRd on (from the last stable RSR read). */
  private avail = 0
  /** The length header of the record at rxRd when already read (-1: not known). */
  private nextLen = -1
  /** Sn_TX_WR as the driver has moved it. */
  private txWr = 0
  /** A Sn_CR command (RECV) was written and its acceptance not yet seen. */
  private cmdPending = false

  constructor(platform: Platform, options?: W5500DriverOptions) {
    const o: W5500DriverOptions = options !== undefined ? options : {}
    const w = o.workarounds !== undefined ? o.workarounds : {}
    this.platform = platform
    this.io = new W5500Io(platform)
    this.arena = o.arena !== undefined ? new Uint8Array(o.arena) : null
    this.stats = newDriverStats()
    this.workarounds = {
      readStable16: flag(w.readStable16),
      recoverBadLength: flag(w.recoverBadLength),
      waitVersion: flag(w.waitVersion),
      abortStuckSend: flag(w.abortStuckSend),
    }
    this.doHardwareReset = flag(o.hardwareReset)
    this.resetTimeoutUs = opt(o.resetTimeoutUs, 100000)
    this.versionTimeoutUs = opt(o.versionTimeoutUs, 100000)
    this.commandTimeoutUs = opt(o.commandTimeoutUs, 100000)
    this.sendTimeoutUs = opt(o.sendTimeoutUs, 0)
    this.blockIpv6 = flag(o.blockIpv6)
    this.commitBytes = opt(o.commitBytes, 4096)
  }

  // -------------------------------------------------------------------------------------------------
  // EthernetDriver

  init(mac: Uint8Array): void {
    if (mac.length !== 6) throw new Error('W5500: a MAC address has 6 bytes, not ' + mac.length)
    this.mac.set(mac)
    this.bringUp()
  }

  linkUp(): boolean {
    if (!this.ready) return false
    return this.readLink()
  }

  receive(rx: FrameRing, budget: number): number {
    if (!this.ready || budget <= 0) return 0
    const io = this.io
    let moved = 0
    let looked = false
    for (;;) {
      if (moved >= budget) {
        if (this.avail > 0 || this.platform.irq.asserted()) this.stats.budgetStops++
        break
      }
      // A full ring leaves the frames in the chip's 16 KB (hal/frame-ring.ts, overflow policy).
      if (rx.free() === 0) break
      // Give the chip its space back now and then during a long drain.
      if (this.uncommitted >= this.commitBytes && !this.commit()) break
      if (this.avail === 0) {
        // Sn_RX_RSR is read once per poll, and again only when INTn says a frame landed since.
        const irq = this.platform.irq.asserted()
        if (looked && !irq) break
        looked = true
        // Clear socket 0's interrupt causes before reading RSR (write 1 to clear, ref B3): a frame that
        // lands after this read raises Sn_IR.RECV, and so INTn, again.
        if (irq) io.write8(BSB_S0_REG, SN_IR, IR_ALL)
        // RSR counts from the Sn_RX_RD the last RECV committed: commit, and let RECV finish, first.
        if (this.uncommitted > 0 && !this.commit()) break
        if (!this.settle()) break
        const n = this.readRsr()
        if (n <= 0) break
        if (n > BUF_BYTES) {
          // More than the buffer holds: the SPI read went wrong or the chip is confused.
          recoverBadLength(this)
          break
        }
        this.avail = n
        this.nextLen = -1
      }
      const got = this.nextLen < 0 && this.avail <= MAX_RECORD
        ? this.readRecords(rx, budget - moved)
        : this.readRecord(rx)
      if (got < 0) break
      moved += got
    }
    if (this.ready && this.uncommitted > 0) this.commit()
    return moved
  }

  transmit(tx: FrameRing, budget: number): number {
    if (!this.ready || budget <= 0) return 0
    if (tx.count() === 0 || !this.settle()) return 0
    const io = this.io
    const bytes = this.arena !== null ? this.arena : ringBytes(tx)
    let handed = 0
    let taken = 0
    let linkChecked = false
    let aborts = 0
    while (taken < budget) {
      const at = tx.peek()
      if (at < 0) break
      const len = tx.peekLength()
      taken++
      if (len < MIN_TX_FRAME || len > MAX_FRAME) {
        this.stats.txErrors++
        tx.release()
        continue
      }
      if (!this.link) {
        // Known down: look once per call; while it stays down frames have nowhere to go and are
        // dropped as txErrors (ARP and TCP retry), rather than held until the TX ring refuses the stack.
        if (!linkChecked) {
          linkChecked = true
          this.readLink()
        }
        if (!this.link) {
          this.stats.txErrors++
          tx.release()
          continue
        }
      }
      // With one SEND at a time and SENDOK awaited, the 16 KB are free here; less means the socket
      // is in a state the driver did not put it in: restart it (once per call) and retry the frame.
      const free = this.readFsr()
      if (free < 0) break
      if (free < len) {
        if (aborts > 0) break
        aborts++
        taken--
        this.stats.recoveries++
        this.reopenSocket()
        if (!this.ready) break
        continue
      }
      // Raw pointer as the buffer offset: the chip maps it modulo 16 KB and wraps bursts (ref B4).
      io.writeBytes(BSB_S0_TX, this.txWr, bytes, at, len)
      this.txWr = (this.txWr + len) & 0xffff
      io.write16(BSB_S0_REG, SN_TX_WR, this.txWr)
      io.write8(BSB_S0_REG, SN_CR, CR_SEND)
      tx.release()
      handed++
      const bound = this.sendTimeoutUs > 0 ? this.sendTimeoutUs : 2 * wireTimeUs(MAX_FRAME, this.mbps) + 2000
      const res = waitSendDone(io, len, this.mbps, bound, this.workarounds.abortStuckSend)
      if (res === SEND_OK) {
        this.stats.txFrames++
      } else {
        if (res === SEND_LINK_DOWN) this.link = false
        abortStuckSend(this)
        if (!this.ready) break
      }
    }
    return handed
  }

  joinMulticast(mac: Uint8Array): void {
    if (mac.length !== 6 || (mac[0] & 1) === 0) throw new Error('W5500: joinMulticast needs a multicast MAC address')
    const before = this.mode()
    this.multicast = true
    if (mac[0] === 0x33 && mac[1] === 0x33) this.ipv6Multicast = true
    if (this.ready && this.mode() !== before) this.reopenSocket()
  }

  setPromiscuous(on: boolean): void {
    const before = this.mode()
    this.promiscuous = on
    if (this.ready && this.mode() !== before) this.reopenSocket()
  }

  // -------------------------------------------------------------------------------------------------
  // Bring-up

  /** Sn_MR for socket 0: MACRAW, and the filters (ref B3; they apply at OPEN). */
  mode(): number {
    if (this.promiscuous) return MODE_MACRAW
    let m = MODE_MACRAW | MODE_MFEN
    if (!this.multicast) m |= MODE_MMB
    if (this.blockIpv6 && !this.ipv6Multicast) m |= MODE_MIP6B
    return m
  }

  private fail(what: string): Error {
    this.lastError = what
    return new Error(what)
  }

  /** Reset, presence check, MAC, buffers, socket 0 open in MACRAW, interrupts on. Throws when the chip
   *  does not answer the way a W5500 does. */
  private bringUp(): void {
    const io = this.io
    const p = this.platform
    this.ready = false
    if (this.doHardwareReset) {
      p.reset.pulse(RESET_PULSE_US)
      p.delay(PLL_LOCK_US)
    }
    // MR.RST resets every register, SHAR included, and clears itself (ref B2; ESP-IDF polls it).
    io.write8(BSB_COMMON, MR, MR_RST)
    const t0 = p.clock.now()
    let mr = io.read8(BSB_COMMON, MR)
    while ((mr & MR_RST) !== 0) {
      if (p.clock.now() - t0 >= this.resetTimeoutUs) {
        throw this.fail('W5500 not found: MR reads ' + hex(mr, 2) + ' and MR.RST never clears (check SPI wiring and chip select)')
      }
      p.delay(10)
      mr = io.read8(BSB_COMMON, MR)
    }
    const version = this.workarounds.waitVersion
      ? waitVersion(io, this.versionTimeoutUs, 100)
      : io.read8(BSB_COMMON, VERSIONR)
    if (version !== W5500_VERSION) {
      throw this.fail('W5500 not found: VERSIONR reads ' + hex(version, 2) + ', expected 0x04 (check SPI wiring, chip select and power)')
    }
    const rtr = io.read16(BSB_COMMON, RTR)
    if (rtr !== W5500_RTR_RESET) {
      throw this.fail('W5500 not found: RTR reads ' + hex(rtr, 4) + ' after reset, expected 0x07d0')
    }
    io.write8(BSB_COMMON, SIMR, 0)
    io.writeBytes(BSB_COMMON, SHAR, this.mac, 0, 6)
    const back = io.read(BSB_COMMON, SHAR, 6)
    for (let i = 0; i < 6; i++) {
      if (back[3 + i] !== this.mac[i]) throw this.fail('W5500: SHAR does not read back the MAC written (SPI data corrupted?)')
    }
    // Sockets 1-7 first get no buffers, then socket 0 gets all 16 KB each way, so the sizes never add up
    // to more than 16 KB on the way (ref B4). RXBUF_SIZE and TXBUF_SIZE are adjacent: one burst each.
    for (let s = 1; s < 8; s++) io.write16(sockReg(s), SN_RXBUF_SIZE, 0x0000)
    io.write16(BSB_S0_REG, SN_RXBUF_SIZE, (BUF_KB << 8) | BUF_KB)
    // SENDOK in Sn_IMR too, although the driver polls it (ref B3, "Sn_IMR conflict").
    io.write8(BSB_S0_REG, SN_IMR, IR_SENDOK | IR_RECV)
    if (!this.openSocket()) {
      throw this.fail('W5500: socket 0 does not open in MACRAW mode (Sn_SR ' + hex(io.read8(BSB_S0_REG, SN_SR), 2) + ')')
    }
    io.write8(BSB_COMMON, SIMR, 0x01)
    this.readLink()
    this.lastError = ''
    this.ready = true
  }

  /** Writes Sn_CR and waits until the chip has taken the command (Sn_CR reads 0, ref B3). */
  private command(c: number): boolean {
    this.io.write8(BSB_S0_REG, SN_CR, c)
    return this.waitCommand()
  }

  private waitCommand(): boolean {
    const p = this.platform
    const t0 = p.clock.now()
    for (;;) {
      if (this.io.read8(BSB_S0_REG, SN_CR) === 0) return true
      if (p.clock.now() - t0 >= this.commandTimeoutUs) return false
      p.delay(1)
    }
  }

  /** Sn_SR may change after Sn_CR clears (ref B3): wait for it, bounded. */
  private waitStatus(want: number): boolean {
    const p = this.platform
    const t0 = p.clock.now()
    for (;;) {
      if (this.io.read8(BSB_S0_REG, SN_SR) === want) return true
      if (p.clock.now() - t0 >= this.commandTimeoutUs) return false
      p.delay(1)
    }
  }

  /** CLOSE (when not closed), Sn_MR, OPEN, and the pointers OPEN set. False when the chip does not
   *  follow. */
  private openSocket(): boolean {
    const io = this.io
    this.cmdPending = false
    if (!this.waitCommand()) return false
    if (io.read8(BSB_S0_REG, SN_SR) !== SR_CLOSED) {
      if (!this.command(CR_CLOSE) || !this.waitStatus(SR_CLOSED)) return false
    }
    io.write8(BSB_S0_REG, SN_MR, this.mode())
    if (!this.command(CR_OPEN) || !this.waitStatus(SR_MACRAW)) return false
    // OPEN initializes the pointers (DS p.54-55) to a value the datasheet does not give: read them.
    this.txWr = io.read16(BSB_S0_REG, SN_TX_WR)
    this.rxRd = io.read16(BSB_S0_REG, SN_RX_RD)
    this.avail = 0
    this.nextLen = -1
    this.uncommitted = 0
    io.write8(BSB_S0_REG, SN_IR, IR_ALL)
    return true
  }

  /**
   * Closes and re-opens the MACRAW socket (recoveries, filter changes). Frames in the chip's buffers are
   * lost. When the chip does not follow, the whole bring-up runs again; when that fails too the driver
   * stops (receive/transmit do nothing, linkUp() is false) and `lastError` says why.
   */
  reopenSocket(): void {
    if (this.openSocket()) return
    this.stats.recoveries++
    try {
      this.bringUp()
    } catch (e) {
      this.ready = false
      this.lastError = e instanceof Error ? e.message : String(e)
    }
  }

  private readLink(): boolean {
    const v = this.io.read8(BSB_COMMON, PHYCFGR)
    this.link = (v & 0x01) !== 0
    this.mbps = (v & 0x02) !== 0 ? 100 : 10
    return this.link
  }

  // -------------------------------------------------------------------------------------------------
  // Receive

  private readRsr(): number {
    return this.workarounds.readStable16
      ? readStable16(this.io, BSB_S0_REG, SN_RX_RSR)
      : this.io.read16(BSB_S0_REG, SN_RX_RSR)
  }

  private readFsr(): number {
    return this.workarounds.readStable16
      ? readStable16(this.io, BSB_S0_REG, SN_TX_FSR)
      : this.io.read16(BSB_S0_REG, SN_TX_FSR)
  }

  /** Writes Sn_RX_RD and RECV: the chip takes back the consumed space (ref B5 steps 5-6). */
  /**
   * Writes Sn_RX_RD and RECV: the chip takes back the consumed space (ref B5 steps 5-6). The wait for
   * Sn_CR == 0 (ref B3) is left to settle(), which runs before the next Sn_CR write or RSR read: by then
   * the chip has long taken the command, so one poll does.
   */
  private commit(): boolean {
    if (!this.settle()) return false
    this.io.write16(BSB_S0_REG, SN_RX_RD, this.rxRd)
    this.uncommitted = 0
    this.io.write8(BSB_S0_REG, SN_CR, CR_RECV)
    this.cmdPending = true
    return true
  }

  /** Waits (bounded) for the chip to take a command written earlier. A chip that does not is brought
   *  up again from reset. False when the command was not taken. */
  private settle(): boolean {
    if (!this.cmdPending) return true
    this.cmdPending = false
    if (this.waitCommand()) return true
    this.stats.recoveries++
    this.lastError = 'W5500: Sn_CR command not taken within ' + this.commandTimeoutUs + ' us'
    try {
      this.bringUp()
    } catch (e) {
      this.ready = false
      this.lastError = e instanceof Error ? e.message : String(e)
    }
    return false
  }

  private consume(len: number): void {
    this.rxRd = (this.rxRd + len) & 0xffff
    this.avail -= len
    this.uncommitted += len
  }

  /** Copies a frame from the bytes SPI returned straight into the RX ring's next slot. */
  private deliver(rx: FrameRing, r: Uint8Array, from: number, len: number): void {
    if (len > rx.capacity) {
      // A slot smaller than a frame (a ring built by hand): nowhere to put it.
      this.stats.rxErrors++
      rx.refuse()
      return
    }
    const at = rx.reserve()
    const bytes = this.arena !== null ? this.arena : ringBytes(rx)
    bytes.set(r.subarray(from, from + len), at)
    rx.commit(len)
    this.stats.rxFrames++
  }

  /**
   * A record length that fails recordLengthOk. With recoverBadLength: re-open the socket. Without it the
   * driver does what a driver that trusts the header does: a frame that fits a slot is delivered as the
   * header says (garbage), one that does not is left where it is (and found again at every poll).
   * Returns -1 (stop this poll) or 1 (a frame was delivered).
   */
  private badLength(rx: FrameRing, len: number, r: Uint8Array | null, at: number): number {
    if (this.workarounds.recoverBadLength) {
      recoverBadLength(this)
      return -1
    }
    if (len < 2 || len - 2 > rx.capacity || len > this.avail) {
      this.stats.rxErrors++
      this.avail = 0
      this.nextLen = -1
      return -1
    }
    if (r === null) {
      r = this.io.read(BSB_S0_RX, (this.rxRd + 2) & 0xffff, len - 2)
      at = 3
    }
    this.deliver(rx, r, at, len - 2)
    this.consume(len)
    this.nextLen = -1
    return 1
  }

  /**
   * RSR shows at most one maximum-size record and its header is not known: read all of it in one burst
   * (header and frame together) and deliver every record in it, up to `max` frames and the ring's room.
   * Returns the frames delivered, or -1 after a recovery.
   */
  private readRecords(rx: FrameRing, max: number): number {
    const n = this.avail
    const r = this.io.read(BSB_S0_RX, this.rxRd, n)
    let p = 3
    let got = 0
    while (this.avail > 0) {
      const len = (r[p] << 8) | r[p + 1]
      if (!recordLengthOk(len, this.avail)) {
        const b = this.badLength(rx, len, r, p + 2)
        if (b < 0) return got > 0 ? got : -1
        got += b
        return got
      }
      if (got >= max || rx.free() === 0) {
        this.nextLen = len
        break
      }
      this.deliver(rx, r, p + 2, len - 2)
      got++
      p += len
      this.consume(len)
    }
    return got
  }

  /**
   * One record: its header (read now, or already known from the previous burst), then its frame in one
   * burst that also brings the next record's header when RSR says one follows. Returns 1 or -1.
   */
  private readRecord(rx: FrameRing): number {
    const io = this.io
    let len = this.nextLen
    if (len < 0) len = io.read16(BSB_S0_RX, this.rxRd)
    this.nextLen = -1
    if (!recordLengthOk(len, this.avail)) return this.badLength(rx, len, null, 0)
    const flen = len - 2
    const ahead = this.avail - len >= 2 ? 2 : 0
    const r = io.read(BSB_S0_RX, (this.rxRd + 2) & 0xffff, flen + ahead)
    this.deliver(rx, r, 3, flen)
    this.consume(len)
    if (ahead === 2) this.nextLen = (r[3 + flen] << 8) | r[4 + flen]
    return 1
  }
}
