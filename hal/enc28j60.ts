// The Microchip ENC28J60 driver (10BASE-T MAC+PHY, 8 KB buffer, SPI). Device dialect
// (reference/espruino.md): no Map/Set, no destructuring, spread or default parameters, no generators or
// async, every module-level function declared before the code that calls it.
//
// Facts come from /work/shared/reference/chips.md PART A ("ref A7" etc.), the data sheet DS39662E ("§n")
// and the rev. B silicon errata DS80349C ("erratum #n"). Nothing here is copied from another driver; where
// the reference drivers disagree, the choice is explained where it is made.
//
// Buffer layout (erratum #5, ref A6): RX FIFO 0x0000-0x19FF (ERXST even, ERXND odd, 6.5 KB: four full-size
// frames), TX 0x1A00-0x1FFF: the control byte, up to 1514 frame bytes and the 7-byte TSV (1522 bytes)
// without ever wrapping into the RX FIFO.
//
// Data path. A received frame is read with one RBM straight into the RX ring slot the ring reserved: the
// MOSI buffer of that RBM is the slot itself (its contents are don't-care bytes; the command byte sits in
// the slot's length prefix, which commit() writes afterwards), and the bytes `spi.send` returns are copied
// once into the slot. A frame is sent from its TX ring slot the same way: the WBM command and the
// per-packet control byte temporarily take the place of the slot's 2-byte length prefix, so the slot is
// the MOSI buffer and no copy is made at all; the prefix is restored right after. No scratch frame buffer
// exists (on Espruino a 1.5 KB array would cost ~120 variable blocks).
//
// SPI economy (tools/bench-spi-enc28j60.ts measures it; bank switches are cached and made with BFC/BFS
// on ECON1, never a read-modify-write):
//   RX, per poll: EIR read, bank 1, EPKTCNT read, bank 0 (+ an INTIE clear/set when INT is still
//       asserted at the end, so the edge-triggered pin gives a new edge for what is left). Per frame:
//       ERDPTL (ERDPTH only when its value changes), one RBM for the 6-byte RSV, one RBM for the frame
//       (no FCS), ERXRDPTL+H (the low byte is buffered until the high byte is written, §7.2.4, so both
//       are always written), PKTDEC. 1514-byte frames, one per poll: 10 CS frames, 1.016 SPI bytes/byte.
//   TX, per frame: ECON1 (TXRTS) and EIR reads for the previous frame (skipped when a receive() poll has
//       already seen it complete), the TXIF clear, EWRPTL+H, one WBM with control byte and frame, ETXND
//       only when the length changes, BFS TXRTS. 1514-byte frames: 7 CS frames, 1.009 SPI bytes/byte.
//
// Silicon errata. Each workaround is a named exported function below, and the driver's `workarounds`
// option (all on by default) switches each one off, so a test can show what goes wrong without it:
//   checkSpiClock / verifyMacWrites  #1  SPI below 8 MHz corrupts MAC/MII access (B1/B4)
//   waitAfterSoftReset               #2  CLKRDY is not cleared by SRC: wait ≥ 1 ms instead of trusting it
//   rxBufferAtZero                   #5  the RX write pointer may load 0x0000: put the RX FIFO there
//   pollPacketCount                  #6  EIR.PKTIF is unreliable: read EPKTCNT
//   resetTxLogic                     #12 a half-duplex abort stalls TX until ECON1.TXRST is toggled
//   retryFalseLateCollision          #13 link pulses seen as late collisions: retransmit (bounded)
//   releaseRxSlotOdd                 #14 an even ERXRDPT corrupts the RX buffer: always write it odd
//   txStatusFromTsv                  #15 ESTAT.LATECOL is unreliable: decide from the TSV
//   leavePowerSave                   #19 SRC is ignored in power-save mode: clear ECON2.PWRSV first
//   recoverRxOverflow                RXERIF (buffer full, §12.1.2): count the overflow and clear the flag
// And one repair that is not switchable: recoverRxBuffer, when a receive status vector is inconsistent
// (next-packet pointer odd, outside the FIFO, or not where the byte count says), the receive logic is
// reset and the FIFO reprogrammed; the frames then in the chip are lost and counted as rxErrors.
import { Platform } from './types.js'
import { FrameRing } from './frame-ring.js'
import { DriverStats, EthernetDriver, newDriverStats } from './driver.js'

// ---------------------------------------------------------------------------------------------------
// Chip facts (ref A2-A5). A register is named by bank * 32 + address; 0x1B-0x1F exist in every bank.

const EIE = 0x1b
const EIR = 0x1c
const ESTAT = 0x1d
const ECON2 = 0x1e
const ECON1 = 0x1f
// bank 0
const ERDPTL = 0x00
const EWRPTL = 0x02
const ETXSTL = 0x04
const ETXNDL = 0x06
const ERXSTL = 0x08
const ERXNDL = 0x0a
const ERXRDPTL = 0x0c
// bank 1
const EHT0 = 0x20
const ERXFCON = 0x38
const EPKTCNT = 0x39
// bank 2 (MAC/MII: RCR answers after a dummy byte; BFS/BFC not allowed, ref A2)
const MACON1 = 0x40
const MACON3 = 0x42
const MACON4 = 0x43
const MABBIPG = 0x44
const MAIPGL = 0x46
const MAIPGH = 0x47
const MAMXFLL = 0x4a
const MAMXFLH = 0x4b
const MICMD = 0x52
const MIREGADR = 0x54
const MIWRL = 0x56
const MIWRH = 0x57
const MIRDL = 0x58
const MIRDH = 0x59
// bank 3: MAADR in address order 0x00-0x05 holds mac[4], mac[5], mac[2], mac[3], mac[0], mac[1] (ref A4)
const MAADR_OF_BYTE = [0x64, 0x65, 0x62, 0x63, 0x60, 0x61]
const MISTAT = 0x6a
const EREVID = 0x72

// SPI opcodes (ref A2)
const OP_RCR = 0x00
const OP_RBM = 0x3a
const OP_WCR = 0x40
const OP_WBM = 0x7a
const OP_BFS = 0x80
const OP_BFC = 0xa0
const OP_SRC = 0xff

// bits
const EIE_INTIE = 0x80
const EIE_PKTIE = 0x40
const EIE_LINKIE = 0x10
const EIE_TXIE = 0x08
const EIE_TXERIE = 0x02
const EIE_RXERIE = 0x01
const EIR_PKTIF = 0x40
const EIR_DMAIF = 0x20
const EIR_LINKIF = 0x10
const EIR_TXIF = 0x08
const EIR_TXERIF = 0x02
const EIR_RXERIF = 0x01
const ESTAT_LATECOL = 0x10
const ESTAT_CLKRDY = 0x01
const ECON2_AUTOINC = 0x80
const ECON2_PKTDEC = 0x40
const ECON2_PWRSV = 0x20
const ECON1_TXRST = 0x80
const ECON1_RXRST = 0x40
const ECON1_TXRTS = 0x08
const ECON1_RXEN = 0x04
const ERXFCON_UCEN = 0x80
const ERXFCON_CRCEN = 0x20
const ERXFCON_HTEN = 0x04
const ERXFCON_BCEN = 0x01
const MACON1_TXPAUS = 0x08
const MACON1_RXPAUS = 0x04
const MACON1_MARXEN = 0x01
const MACON3_PADCFG_60 = 0x20 // PADCFG = 001: pad to 60 bytes and append the CRC
const MACON3_TXCRCEN = 0x10
const MACON3_FRMLNEN = 0x02
const MACON3_FULDPX = 0x01
const MACON4_DEFER = 0x40
const MICMD_MIIRD = 0x01
const MISTAT_BUSY = 0x01

// PHY (ref A5)
const PHCON1 = 0x00
const PHCON2 = 0x10
const PHSTAT2 = 0x11
const PHIE = 0x12
const PHIR = 0x13
const PHLCON = 0x14
const PHCON1_PDPXMD = 0x0100
const PHCON2_HDLDIS = 0x0100
const PHSTAT2_LSTAT = 0x0400
const PHIE_PGEIE = 0x0002
const PHIE_PLNKIE = 0x0010
/** LEDA = link status (0100), LEDB = transmit/receive activity (0111), stretched (LFRQ 01, STRCH); bits
 *  13:12 stay 1 (ref A5). Avoids LED code 1110, which erratum #11 breaks. */
export const PHLCON_DEFAULT = 0x3476

// RSV status (bits 16-31 as a 16-bit word, ref A7) and TSV (bits 16-31 likewise, ref A8)
const RSV_RECEIVED_OK = 0x0080
/** TSV bit 29: late collision. */
export const TSV_LATE_COLLISION = 0x2000

// Buffer layout (ref A6)
const BUFFER_END = 0x1fff
const RX_END = 0x19ff
const TX_START = 0x1a00
/** The layout erratum #5 forbids, used only when rxBufferAtZero is switched off: TX first, RX above it. */
const ALT_TX_START = 0x0000
const ALT_RX_START = 0x0600

/** Frames: 14-byte header at least; 1514 bytes without FCS at most (MAMXFL = 1518 with it). */
const MIN_TX_FRAME = 14
export const MAX_FRAME = 1514
const MAMXFL = MAX_FRAME + 4
/** The smallest byte count (with FCS) of a frame worth delivering: 64, Ethernet's minimum; shorter ones
 *  are runts (collision fragments) and are dropped as errors. */
const MIN_RX_COUNT = 64

// Timing
/** RESET held low; DS39662E asks for at least 400 ns (tRSTLOW). */
const RESET_PULSE_US = 10
/** Bound of a wait for ESTAT.CLKRDY (the oscillator start-up timer is about 300 µs, ref A10). */
const CLKRDY_TIMEOUT_US = 10000
const CLKRDY_POLL_US = 50
/** Erratum #2: at least 1 ms after SRC (Linux waits 2 ms; ref A10). */
export const SRC_WAIT_US = 2000
/** MII operations take 10.24 µs (§3.3); MISTAT.BUSY is polled this often, this many times. */
const MII_WAIT_US = 11
const MII_POLL_US = 5
const MII_POLLS = 20
/** Polls of ECON1.TXRTS per transmit() call once the frame time has passed. */
const TX_POLLS = 8
const TX_POLL_US = 20
/** Default bound (µs) after which a TXRTS that never clears is a stalled transmitter (erratum #12). */
const TX_TIMEOUT_US = 10000
/** Linux and EtherCard retry a late-collision abort up to 16 times (ref A11 #13). */
const MAX_TX_RETRIES = 16

// ---------------------------------------------------------------------------------------------------
// SPI access: one command per chip-select frame (ref A1), the current bank cached

/** The chip's SPI commands; caches the bank ECON1.BSEL selects so no switch is ever made twice. */
export class Enc28j60Io {
  readonly platform: Platform
  /** The bank selected, as far as the driver knows (-1: unknown, after a reset or at start). */
  bank: number
  private readonly c1: Uint8Array
  private readonly c2: Uint8Array
  private readonly c3: Uint8Array

  constructor(platform: Platform) {
    this.platform = platform
    this.bank = -1
    this.c1 = new Uint8Array(1)
    this.c2 = new Uint8Array(2)
    this.c3 = new Uint8Array(3)
  }

  private op2(b0: number, b1: number): Uint8Array {
    const c = this.c2
    c[0] = b0
    c[1] = b1
    return this.platform.spi.send(c)
  }

  /** Selects the bank of `reg` (nothing for the common registers or when it is already selected). */
  select(reg: number): void {
    if ((reg & 0x1f) >= 0x1b) return
    const b = reg >> 5
    const cur = this.bank
    if (b === cur) return
    // ref A3: BSEL1:0 = ECON1 bits 1:0, changed with BFC/BFS (ECON1 is an ETH register)
    const clear = cur < 0 ? 3 & ~b : cur & ~b
    const set = cur < 0 ? b : b & ~cur
    if (clear !== 0) this.op2(OP_BFC | ECON1, clear)
    if (set !== 0) this.op2(OP_BFS | ECON1, set)
    this.bank = b
  }

  /** RCR of an ETH register: the value is the second byte. */
  read(reg: number): number {
    this.select(reg)
    return this.op2(OP_RCR | (reg & 0x1f), 0)[1]
  }

  /** RCR of a MAC/MII register: a dummy byte comes first, the value third (ref A2). */
  readMac(reg: number): number {
    this.select(reg)
    const c = this.c3
    c[0] = OP_RCR | (reg & 0x1f)
    c[1] = 0
    c[2] = 0
    return this.platform.spi.send(c)[2]
  }

  /** WCR (any register). Writing ECON1 also sets BSEL: the cache follows. */
  write(reg: number, value: number): void {
    this.select(reg)
    this.op2(OP_WCR | (reg & 0x1f), value)
    if (reg === ECON1) this.bank = value & 3
  }

  /** A 13-bit pointer: low byte, then high byte. */
  write16(low: number, value: number): void {
    this.write(low, value & 0xff)
    this.write(low + 1, value >> 8)
  }

  /** BFS: ETH registers only (ref A2: not MAC, MII or PHY registers). */
  setBits(reg: number, mask: number): void {
    this.select(reg)
    this.op2(OP_BFS | (reg & 0x1f), mask)
  }

  /** BFC: ETH registers only. */
  clearBits(reg: number, mask: number): void {
    this.select(reg)
    this.op2(OP_BFC | (reg & 0x1f), mask)
  }

  /** SRC, the system reset command (one byte, ref A2). The bank is unknown afterwards. */
  softReset(): void {
    this.c1[0] = OP_SRC
    this.platform.spi.send(this.c1)
    this.bank = -1
  }
}

// ---------------------------------------------------------------------------------------------------
// Options

/** The erratum workarounds; every one is on unless set to false (tests switch them off one at a time). */
export interface Enc28j60Workarounds {
  checkSpiClock?: boolean
  waitAfterSoftReset?: boolean
  rxBufferAtZero?: boolean
  pollPacketCount?: boolean
  resetTxLogic?: boolean
  retryFalseLateCollision?: boolean
  releaseRxSlotOdd?: boolean
  txStatusFromTsv?: boolean
  leavePowerSave?: boolean
  recoverRxOverflow?: boolean
}

export interface Enc28j60DriverOptions {
  /** The ArrayBuffer the frame rings live in (ring offsets index it from its start). Default: the view
   *  each ring keeps of it (see ringArena). */
  arena?: ArrayBuffer
  workarounds?: Enc28j60Workarounds
  /** The SCK frequency the board runs the bus at, when known: below 8 MHz on rev B1/B4 init refuses
   *  (erratum #1). */
  spiClockHz?: number
  /** Full duplex (MACON3.FULDPX and PHCON1.PDPXMD together). Default false: the ENC28J60 cannot
   *  autonegotiate, and an autonegotiating partner sees it as half duplex (ref A5). */
  fullDuplex?: boolean
  /** Pulse the RESET pin (platform.reset) before the SRC command. Default true. */
  resetPin?: boolean
  /** PHLCON value (LED configuration). Default PHLCON_DEFAULT. */
  ledConfig?: number
  /** Bound (µs) after which a transmission whose TXRTS never clears is declared stalled. Default 10 ms. */
  txTimeoutUs?: number
  /** Retransmissions after late-collision aborts per frame. Default 16. */
  maxTxRetries?: number
}

/**
 * The bytes a frame ring lives in, indexed by the offsets reserve()/peek() return. FrameRing keeps that
 * view in a field named `bytes` that TypeScript calls private: a compile-time notion only (and terser keeps
 * property names), so it is read by name when the driver was not given the arena.
 */
function ringArena(ring: FrameRing): Uint8Array {
  return (ring as unknown as { bytes: Uint8Array }).bytes
}

function flag(v: boolean | undefined): boolean {
  return v !== false
}

function opt(v: number | undefined, dflt: number): number {
  return v !== undefined ? v : dflt
}

function hex(v: number): string {
  return '0x' + (v < 16 ? '0' : '') + v.toString(16)
}

// ---------------------------------------------------------------------------------------------------
// Pure helpers

/**
 * The hash-table bit for a destination MAC (§8.4, ref A7): the CRC-32 of the six bytes (polynomial
 * 0x04C11DB7, register preset to all ones, data bits least significant first, no final complement), bits
 * 28:23 of the register in its MSB-first form. Computed bit-serially (48 steps): no table in RAM.
 */
export function hashTableIndex(mac: Uint8Array): number {
  let c = -1
  for (let i = 0; i < 6; i++) {
    const b = mac[i]
    for (let j = 0; j < 8; j++) {
      const bit = ((c >>> 31) ^ (b >> j)) & 1
      c = c << 1
      if (bit !== 0) c = c ^ 0x04c11db7
    }
  }
  return (c >>> 23) & 0x3f
}

/** Microseconds a frame of `len` bytes (no FCS) occupies a 10 Mbit/s wire: preamble+SFD, the frame padded
 *  to 60, the FCS, at 0.8 µs per byte, plus the 9.6 µs inter-frame gap. */
export function frameTimeUs(len: number): number {
  const n = len < 60 ? 60 : len
  return (8 + n + 4) * 0.8 + 9.6
}

/**
 * True when a receive status vector read at `at` fits the FIFO st..nd: the next-packet pointer is even,
 * inside the FIFO, and exactly where the byte count puts it (6 header bytes, the frame with its FCS, one
 * pad byte when that ends odd, wrapping ERXND → ERXST; ref A7).
 */
export function rsvConsistent(at: number, next: number, count: number, st: number, nd: number): boolean {
  if ((next & 1) !== 0 || next < st || next > nd) return false
  if (count > MAMXFL) return false
  const size = nd - st + 1
  const span = 6 + count + (count & 1)
  return st + ((at - st + span) % size) === next
}

// ---------------------------------------------------------------------------------------------------
// Erratum workarounds (DS80349C), one named function each. `drv` is the driver (declared below).

/**
 * Erratum #1: with SCK below 8 MHz, MAC and MII register access is unreliable on revisions B1 and B4
 * (EREVID < 5; ESP-IDF limits it to those, ref A1/A11). Returns what to tell the user, or null when the
 * clock is fine or unknown.
 */
export function checkSpiClock(revision: number, spiClockHz: number | undefined): string | null {
  if (spiClockHz === undefined || spiClockHz >= 8e6 || revision >= 5) return null
  return 'ENC28J60 rev ' + hex(revision) + ' with SPI at ' + spiClockHz / 1e6 + ' MHz: below 8 MHz MAC/MII ' +
    'register access is unreliable on B1/B4 (erratum #1); run SCK at 8 MHz or more'
}

/**
 * Erratum #1, the check that does not depend on knowing the clock: read back the MAC registers written
 * at init (MACON1, MACON3, MABBIPG, MAMXFL, MAADR). Throws with the erratum in the message on a mismatch.
 */
export function verifyMacWrites(drv: Enc28j60Driver, mac: Uint8Array): void {
  const io = drv.io
  const want = [
    MACON1, MACON1_MARXEN | MACON1_TXPAUS | MACON1_RXPAUS,
    MACON3, drv.macon3(),
    MABBIPG, drv.fullDuplex ? 0x15 : 0x12,
    MAMXFLL, MAMXFL & 0xff,
    MAMXFLH, MAMXFL >> 8,
  ]
  for (let i = 0; i < 6; i++) {
    want.push(MAADR_OF_BYTE[i])
    want.push(mac[i])
  }
  for (let i = 0; i < want.length; i += 2) {
    const got = io.readMac(want[i])
    if (got !== want[i + 1]) {
      throw new Error('ENC28J60: MAC register ' + hex(want[i]) + ' reads ' + hex(got) + ' after writing ' +
        hex(want[i + 1]) + ': an SPI clock below 8 MHz on rev B1/B4 (erratum #1), or a chip that was not ready')
    }
  }
}

/**
 * Erratum #2: after SRC the PHY clock stops but ESTAT.CLKRDY is not cleared, so polling it proves
 * nothing. Wait SRC_WAIT_US (≥ 1 ms), then check CLKRDY (bounded).
 */
export function waitAfterSoftReset(drv: Enc28j60Driver): void {
  drv.platform.delay(SRC_WAIT_US)
  drv.waitClockReady('after the SRC reset')
}

/** Erratum #5: writing ERXST/ERXND may load 0x0000 into the RX write pointer, so the RX FIFO starts at
 *  0x0000 (ERXST even, ERXND odd) and TX lies above it. Returns [rxStart, rxEnd, txStart]. */
export function rxBufferAtZero(): number[] {
  return [0x0000, RX_END, TX_START]
}

/** Erratum #6: EIR.PKTIF does not reliably report pending packets: the count comes from EPKTCNT. */
export function pollPacketCount(drv: Enc28j60Driver): number {
  return drv.io.read(EPKTCNT)
}

/**
 * Erratum #12: after a transmit abort (half duplex) the next TXRTS may never clear. Toggle ECON1.TXRST,
 * then clear TXIF and TXERIF, because releasing TXRST may itself raise TXERIF (ref A11).
 */
export function resetTxLogic(drv: Enc28j60Driver): void {
  const io = drv.io
  io.setBits(ECON1, ECON1_TXRST)
  io.clearBits(ECON1, ECON1_TXRST)
  io.clearBits(EIR, EIR_TXIF | EIR_TXERIF)
  drv.forgetTxPointers()
  drv.stats.recoveries++
}

/**
 * Erratum #13: in half duplex, link pulses of some partners are taken for collisions, and past MACLCON2
 * bytes that aborts the frame as a late collision. Retransmit a late-collision abort, a bounded number of
 * times (TSV status bits 16-31 as from txStatusFromTsv).
 */
export function retryFalseLateCollision(tsvStatus: number, retries: number, maxRetries: number): boolean {
  return (tsvStatus & TSV_LATE_COLLISION) !== 0 && retries < maxRetries
}

/**
 * Erratum #14: an even ERXRDPT can make the receive hardware corrupt the buffer. Freeing up to `next`
 * writes next - 1, or ERXND when next is ERXST: always odd with ERXST even and ERXND odd.
 */
export function releaseRxSlotOdd(next: number, rxStart: number, rxEnd: number): number {
  return next === rxStart ? rxEnd : next - 1
}

/**
 * Erratum #15: ESTAT.LATECOL is not reliable; the 7-byte transmit status vector the chip writes at
 * ETXND+1 is. Returns its bits 16-31 (TSV_LATE_COLLISION is bit 29).
 */
export function txStatusFromTsv(drv: Enc28j60Driver): number {
  const tsv = drv.readTsv()
  return tsv[3] | (tsv[4] << 8)
}

/** Erratum #19: SRC is ignored in power-save mode: clear ECON2.PWRSV (and let the clock start) first. */
export function leavePowerSave(drv: Enc28j60Driver): void {
  drv.io.clearBits(ECON2, ECON2_PWRSV)
  drv.waitClockReady('after leaving power-save mode')
}

/** EIR.RXERIF: the chip dropped at least one frame (buffer full or EPKTCNT at 255, §12.1.2). Count the
 *  overflow and clear the flag, or INT stays asserted for ever. */
export function recoverRxOverflow(drv: Enc28j60Driver): void {
  drv.io.clearBits(EIR, EIR_RXERIF)
  drv.stats.chipOverflows++
  drv.stats.recoveries++
}

// ---------------------------------------------------------------------------------------------------
// The driver

export class Enc28j60Driver implements EthernetDriver {
  readonly chip: 'enc28j60'
  readonly stats: DriverStats
  readonly platform: Platform
  readonly io: Enc28j60Io
  readonly workarounds: {
    checkSpiClock: boolean
    waitAfterSoftReset: boolean
    rxBufferAtZero: boolean
    pollPacketCount: boolean
    resetTxLogic: boolean
    retryFalseLateCollision: boolean
    releaseRxSlotOdd: boolean
    txStatusFromTsv: boolean
    leavePowerSave: boolean
    recoverRxOverflow: boolean
  }
  readonly fullDuplex: boolean
  /** EREVID read at init (B1 0x02, B4 0x04, B5 0x05, B7 0x06). */
  revision: number
  /** The buffer layout in force. */
  rxStart: number
  rxEnd: number
  txStart: number

  private readonly arena: Uint8Array | null
  private readonly spiClockHz: number | undefined
  private readonly resetPin: boolean
  private readonly ledConfig: number
  private readonly txTimeoutUs: number
  private readonly maxTxRetries: number
  private readonly rsvCmd: Uint8Array
  private readonly tsvCmd: Uint8Array
  private ready: boolean
  private link: boolean
  // receive
  private nextPacket: number
  // what the driver knows of ERDPT, EWRPT, ETXND (-1: unknown)
  private rdpt: number
  private wrpt: number
  private txnd: number
  // transmit: the frame in the chip's TX buffer
  private txBusy: boolean
  private txLen: number
  private txRetries: number
  private txStartedAt: number
  private txDueAt: number
  // filters
  private readonly hash: Uint8Array
  private hashOn: boolean
  private promiscuous: boolean

  constructor(platform: Platform, options?: Enc28j60DriverOptions) {
    const o: Enc28j60DriverOptions = options !== undefined ? options : {}
    const w: Enc28j60Workarounds = o.workarounds !== undefined ? o.workarounds : {}
    this.chip = 'enc28j60'
    this.stats = newDriverStats()
    this.platform = platform
    this.io = new Enc28j60Io(platform)
    this.arena = o.arena !== undefined ? new Uint8Array(o.arena) : null
    this.workarounds = {
      checkSpiClock: flag(w.checkSpiClock),
      waitAfterSoftReset: flag(w.waitAfterSoftReset),
      rxBufferAtZero: flag(w.rxBufferAtZero),
      pollPacketCount: flag(w.pollPacketCount),
      resetTxLogic: flag(w.resetTxLogic),
      retryFalseLateCollision: flag(w.retryFalseLateCollision),
      releaseRxSlotOdd: flag(w.releaseRxSlotOdd),
      txStatusFromTsv: flag(w.txStatusFromTsv),
      leavePowerSave: flag(w.leavePowerSave),
      recoverRxOverflow: flag(w.recoverRxOverflow),
    }
    this.fullDuplex = o.fullDuplex === true
    this.spiClockHz = o.spiClockHz
    this.resetPin = flag(o.resetPin)
    this.ledConfig = opt(o.ledConfig, PHLCON_DEFAULT)
    this.txTimeoutUs = opt(o.txTimeoutUs, TX_TIMEOUT_US)
    this.maxTxRetries = opt(o.maxTxRetries, MAX_TX_RETRIES)
    this.rsvCmd = new Uint8Array(7)
    this.rsvCmd[0] = OP_RBM
    this.tsvCmd = new Uint8Array(8)
    this.tsvCmd[0] = OP_RBM
    this.revision = 0
    this.rxStart = 0
    this.rxEnd = RX_END
    this.txStart = TX_START
    this.ready = false
    this.link = false
    this.nextPacket = 0
    this.rdpt = -1
    this.wrpt = -1
    this.txnd = -1
    this.txBusy = false
    this.txLen = 0
    this.txRetries = 0
    this.txStartedAt = 0
    this.txDueAt = 0
    this.hash = new Uint8Array(8)
    this.hashOn = false
    this.promiscuous = false
  }

  // -------------------------------------------------------------------------------------------------
  // EthernetDriver

  init(mac: Uint8Array): void {
    if (!(mac instanceof Uint8Array) || mac.length !== 6) throw new Error('ENC28J60: the MAC address must be 6 bytes')
    const io = this.io
    const wa = this.workarounds
    this.ready = false
    this.txBusy = false
    this.resetChip()

    // presence (ref A1: no chip ID beyond EREVID; 0x00 or 0xFF means nothing answers)
    const rev = io.read(EREVID)
    if (rev === 0x00 || rev === 0xff) {
      throw new Error('ENC28J60 not found: EREVID reads ' + hex(rev) + ' (check power, CS, SCK, MOSI and MISO)')
    }
    this.revision = rev
    if (wa.checkSpiClock) {
      const problem = checkSpiClock(rev, this.spiClockHz)
      if (problem !== null) throw new Error(problem)
    }

    io.write(ECON1, 0x00) // RX and TX off, bank 0
    io.write(ECON2, ECON2_AUTOINC)

    // buffer layout (erratum #5)
    const layout = wa.rxBufferAtZero ? rxBufferAtZero() : [ALT_RX_START, BUFFER_END, ALT_TX_START]
    this.rxStart = layout[0]
    this.rxEnd = layout[1]
    this.txStart = layout[2]
    this.programRxBuffer()
    io.write16(ETXSTL, this.txStart)
    this.forgetTxPointers()

    // receive filters (written with RXEN = 0, §7.2.1)
    this.writeFilters()

    // MAC (ref A12 steps 8-10; duplex after §9.1: MACON3.FULDPX and PHCON1.PDPXMD always agree)
    io.write(MACON1, MACON1_MARXEN | MACON1_TXPAUS | MACON1_RXPAUS)
    io.write(MACON3, this.macon3())
    io.write(MACON4, this.fullDuplex ? 0x00 : MACON4_DEFER)
    io.write(MABBIPG, this.fullDuplex ? 0x15 : 0x12)
    io.write(MAIPGL, 0x12)
    io.write(MAIPGH, this.fullDuplex ? 0x00 : 0x0c)
    io.write(MAMXFLL, MAMXFL & 0xff)
    io.write(MAMXFLH, MAMXFL >> 8)
    for (let i = 0; i < 6; i++) io.write(MAADR_OF_BYTE[i], mac[i])
    if (wa.checkSpiClock) verifyMacWrites(this, mac)

    // PHY
    this.phyWrite(PHCON1, this.fullDuplex ? PHCON1_PDPXMD : 0x0000)
    this.phyWrite(PHCON2, this.fullDuplex ? 0x0000 : PHCON2_HDLDIS)
    this.phyWrite(PHLCON, this.ledConfig)
    const phcon1 = this.phyRead(PHCON1)
    if (((phcon1 & PHCON1_PDPXMD) !== 0) !== this.fullDuplex) {
      throw new Error('ENC28J60: PHCON1 reads 0x' + phcon1.toString(16) + ' after writing the duplex mode: MAC and PHY would disagree (§9.1)')
    }

    // interrupts (ref A9): link changes reach EIR.LINKIF only with PHIE = PGEIE | PLNKIE
    this.phyWrite(PHIE, PHIE_PGEIE | PHIE_PLNKIE)
    this.phyRead(PHIR) // clears a link change latched before now
    io.clearBits(EIR, EIR_DMAIF | EIR_TXIF | EIR_TXERIF | EIR_RXERIF)
    io.write(EIE, EIE_INTIE | EIE_PKTIE | EIE_LINKIE | EIE_TXIE | EIE_TXERIE | EIE_RXERIE)
    const st2 = this.phyRead(PHSTAT2)
    this.link = (st2 & PHSTAT2_LSTAT) !== 0
    io.setBits(ECON1, ECON1_RXEN)
    this.ready = true
  }

  linkUp(): boolean {
    if (!this.ready) return false
    const v = this.tryPhyRead(PHSTAT2)
    if (v >= 0) this.link = (v & PHSTAT2_LSTAT) !== 0
    return this.link
  }

  receive(rx: FrameRing, budget: number): number {
    if (!this.ready) return 0
    const io = this.io
    const eir = io.read(EIR)
    if ((eir & EIR_LINKIF) !== 0) this.serviceLink()
    if ((eir & EIR_RXERIF) !== 0 && this.workarounds.recoverRxOverflow) recoverRxOverflow(this)
    if ((eir & (EIR_TXIF | EIR_TXERIF)) !== 0) this.serviceTx(eir)
    else if (this.txBusy && this.platform.clock.now() - this.txStartedAt > this.txTimeoutUs) this.txFree() // stalled?
    let pending: number
    if (this.workarounds.pollPacketCount) pending = pollPacketCount(this)
    else pending = (eir & EIR_PKTIF) !== 0 ? io.read(EPKTCNT) : 0
    let moved = 0
    let done = 0
    while (done < pending) {
      if (done >= budget) {
        this.stats.budgetStops++
        break
      }
      const at = rx.reserve()
      if (at < 0) break // the ring is full: the frames wait in the chip
      const r = this.readPacket(rx, at)
      if (r < 0) break // the receive buffer had to be reset
      moved += r
      done++
    }
    // An edge-triggered INT pin (setWatch) gives no new edge while it stays asserted: when something is
    // left (frames over the budget or the ring's room, a flag), toggle INTIE so it asserts anew (ref A9:
    // drivers clear INTIE while servicing and set it again; doing it only when needed saves two commands).
    if (this.platform.irq.asserted()) {
      io.clearBits(EIE, EIE_INTIE)
      io.setBits(EIE, EIE_INTIE)
    }
    return moved
  }

  transmit(tx: FrameRing, budget: number): number {
    if (!this.ready) return 0
    let sent = 0
    while (sent < budget && tx.count() > 0) {
      if (!this.txFree()) break
      const at = tx.peek()
      const len = tx.peekLength()
      if (len < MIN_TX_FRAME || len > MAX_FRAME) {
        this.stats.txErrors++
        tx.release()
        continue
      }
      this.startTx(this.arena !== null ? this.arena : ringArena(tx), at, len)
      tx.release()
      this.stats.txFrames++
      sent++
    }
    return sent
  }

  joinMulticast(mac: Uint8Array): void {
    const idx = hashTableIndex(mac)
    this.hash[idx >> 3] |= 1 << (idx & 7)
    this.hashOn = true
    if (this.ready) this.applyFilters()
  }

  setPromiscuous(on: boolean): void {
    this.promiscuous = on
    if (this.ready) this.applyFilters()
  }

  // -------------------------------------------------------------------------------------------------
  // Used by the erratum functions (and visible to tests)

  /** MACON3: PADCFG = 001, TXCRCEN, FRMLNEN, and FULDPX in full duplex (ref A12). */
  macon3(): number {
    return MACON3_PADCFG_60 | MACON3_TXCRCEN | MACON3_FRMLNEN | (this.fullDuplex ? MACON3_FULDPX : 0)
  }

  /** Polls ESTAT.CLKRDY, bounded; throws when it never sets (no chip, or no clock). */
  waitClockReady(when: string): void {
    const p = this.platform
    for (let waited = 0; waited <= CLKRDY_TIMEOUT_US; waited += CLKRDY_POLL_US) {
      if ((this.io.read(ESTAT) & ESTAT_CLKRDY) !== 0) return
      p.delay(CLKRDY_POLL_US)
    }
    throw new Error('ENC28J60 not found: ESTAT.CLKRDY stays clear ' + when + ' (check power, CS, SCK and MISO)')
  }

  /** The pointers the driver tracks are unknown after a reset of the chip or its transmit logic. */
  forgetTxPointers(): void {
    this.wrpt = -1
    this.txnd = -1
  }

  /** The 7-byte TSV at ETXND+1 (one RBM); returns what SPI returned: the TSV is at index 1-7. */
  readTsv(): Uint8Array {
    const at = this.txStart + this.txLen + 1
    this.setPointer(ERDPTL, at, this.rdpt)
    this.rdpt = at + 7 // the TX area is read linearly (ERXND lies below it)
    return this.platform.spi.send(this.tsvCmd)
  }

  // -------------------------------------------------------------------------------------------------
  // Reset and configuration

  /** RESET pin, then SRC (the pin may be unwired on a board, and the pin also wakes a part in power-save),
   *  each followed by the wait it needs. */
  private resetChip(): void {
    const io = this.io
    io.bank = -1
    this.rdpt = -1
    if (this.resetPin) this.platform.reset.pulse(RESET_PULSE_US)
    this.waitClockReady(this.resetPin ? 'after the RESET pulse' : 'at start')
    if (this.workarounds.leavePowerSave) leavePowerSave(this)
    io.softReset()
    if (this.workarounds.waitAfterSoftReset) waitAfterSoftReset(this)
    else this.waitClockReady('after the SRC reset')
  }

  /** ERXST, ERXND and ERXRDPT (RXEN must be clear, §7.2.1); the next packet is at ERXST. */
  private programRxBuffer(): void {
    const io = this.io
    io.write16(ERXSTL, this.rxStart)
    io.write16(ERXNDL, this.rxEnd)
    const rdpt = this.workarounds.releaseRxSlotOdd ? releaseRxSlotOdd(this.rxStart, this.rxStart, this.rxEnd) : this.rxStart
    io.write16(ERXRDPTL, rdpt)
    this.nextPacket = this.rxStart
  }

  /** EHT0-7 and ERXFCON. Unicast to us, broadcast, CRC check; the hash filter once a group is joined;
   *  0x00 (every frame) when promiscuous (ref A7). */
  private writeFilters(): void {
    const io = this.io
    if (this.hashOn) for (let i = 0; i < 8; i++) io.write(EHT0 + i, this.hash[i])
    let f = ERXFCON_UCEN | ERXFCON_CRCEN | ERXFCON_BCEN
    if (this.hashOn) f |= ERXFCON_HTEN
    io.write(ERXFCON, this.promiscuous ? 0x00 : f)
  }

  /** Filters change only with RXEN clear (§7.2.1). */
  private applyFilters(): void {
    this.io.clearBits(ECON1, ECON1_RXEN)
    this.writeFilters()
    this.io.setBits(ECON1, ECON1_RXEN)
  }

  // -------------------------------------------------------------------------------------------------
  // MII (§3.3, ref A5)

  private miiIdle(): boolean {
    for (let i = 0; i < MII_POLLS; i++) {
      if ((this.io.readMac(MISTAT) & MISTAT_BUSY) === 0) return true
      this.platform.delay(MII_POLL_US)
    }
    return false
  }

  /** A PHY register, or -1 when MISTAT.BUSY does not clear in time. */
  private tryPhyRead(reg: number): number {
    const io = this.io
    io.write(MIREGADR, reg)
    io.write(MICMD, MICMD_MIIRD)
    this.platform.delay(MII_WAIT_US)
    const ok = this.miiIdle()
    io.write(MICMD, 0x00)
    if (!ok) return -1
    return io.readMac(MIRDL) | (io.readMac(MIRDH) << 8)
  }

  private phyRead(reg: number): number {
    const v = this.tryPhyRead(reg)
    if (v < 0) throw new Error('ENC28J60: MII read of PHY register ' + hex(reg) + ' never finished (MISTAT.BUSY)')
    return v
  }

  private phyWrite(reg: number, value: number): void {
    const io = this.io
    io.write(MIREGADR, reg)
    io.write(MIWRL, value & 0xff)
    io.write(MIWRH, value >> 8) // starts the write
    this.platform.delay(MII_WAIT_US)
    if (!this.miiIdle()) throw new Error('ENC28J60: MII write of PHY register ' + hex(reg) + ' never finished (MISTAT.BUSY)')
  }

  /** EIR.LINKIF: an MII read of PHIR clears it (ref A9); PHSTAT2.LSTAT is the link now. */
  private serviceLink(): void {
    this.tryPhyRead(PHIR)
    const v = this.tryPhyRead(PHSTAT2)
    if (v >= 0) this.link = (v & PHSTAT2_LSTAT) !== 0
  }

  // -------------------------------------------------------------------------------------------------
  // Receive

  /** Writes a 13-bit pointer register, skipping each byte the chip already holds. Returns the value. */
  private setPointer(low: number, value: number, known: number): number {
    if (known < 0 || (known & 0xff) !== (value & 0xff)) this.io.write(low, value & 0xff)
    if (known < 0 || (known >> 8) !== (value >> 8)) this.io.write(low + 1, value >> 8)
    return value
  }

  /** A FIFO address n bytes after p (the read pointer wraps ERXND → ERXST, ref A6). */
  private rxAdvance(p: number, n: number): number {
    const st = this.rxStart
    return st + ((p - st + n) % (this.rxEnd - st + 1))
  }

  /**
   * Reads the packet at the next-packet pointer into the slot at `at`. Returns 1 (delivered), 0 (a bad
   * frame, dropped and counted) or -1 (an inconsistent RSV: the receive buffer was reset).
   */
  private readPacket(rx: FrameRing, at: number): number {
    const st = this.rxStart
    const nd = this.rxEnd
    const p = this.nextPacket
    this.rdpt = this.setPointer(ERDPTL, p, this.rdpt)
    const h = this.platform.spi.send(this.rsvCmd) // RBM: the 6-byte RSV at h[1..6]
    const next = h[1] | (h[2] << 8)
    const count = h[3] | (h[4] << 8)
    const status = h[5] | (h[6] << 8)
    this.rdpt = this.rxAdvance(p, 6)
    if (!rsvConsistent(p, next, count, st, nd)) {
      this.recoverRxBuffer()
      return -1
    }
    const len = count - 4 // the FCS stays in the chip
    let delivered = 0
    if ((status & RSV_RECEIVED_OK) === 0 || count < MIN_RX_COUNT) {
      this.stats.rxErrors++
    } else if (len > rx.capacity) {
      this.stats.rxErrors++
      rx.refuse()
    } else {
      // One RBM straight into the slot: the slot is the MOSI buffer (the command byte sits in its length
      // prefix, which commit() rewrites), and what SPI returns is copied once into it.
      const bytes = this.arena !== null ? this.arena : ringArena(rx)
      bytes[at - 1] = OP_RBM
      const r = this.platform.spi.send(bytes.subarray(at - 1, at + len))
      bytes.set(r.subarray(1), at)
      rx.commit(len)
      this.rdpt = this.rxAdvance(p, 6 + len)
      this.stats.rxFrames++
      delivered = 1
    }
    this.releasePacket(next)
    this.nextPacket = next
    return delivered
  }

  /** Gives the chip the space up to `next` (erratum #14) and decrements EPKTCNT (§7.2.4). */
  private releasePacket(next: number): void {
    const io = this.io
    const v = this.workarounds.releaseRxSlotOdd ? releaseRxSlotOdd(next, this.rxStart, this.rxEnd) : next
    io.write(ERXRDPTL, v & 0xff) // buffered by the chip until the high byte is written
    io.write(ERXRDPTL + 1, v >> 8)
    io.setBits(ECON2, ECON2_PKTDEC)
  }

  /**
   * An RSV that cannot be right (a corrupted buffer): hold the receive logic in reset, reprogram the FIFO,
   * bring EPKTCNT to 0 and start again at ERXST. The frames in the chip are lost (counted as rxErrors).
   */
  private recoverRxBuffer(): void {
    const io = this.io
    io.clearBits(ECON1, ECON1_RXEN)
    io.setBits(ECON1, ECON1_RXRST)
    io.clearBits(ECON1, ECON1_RXRST)
    this.programRxBuffer()
    let n = io.read(EPKTCNT)
    this.stats.rxErrors += n
    for (; n > 0; n--) io.setBits(ECON2, ECON2_PKTDEC)
    this.rdpt = -1
    io.setBits(ECON1, ECON1_RXEN)
    this.stats.recoveries++
  }

  // -------------------------------------------------------------------------------------------------
  // Transmit

  /**
   * True when the TX buffer may take a new frame. Waits (bounded: the rest of the frame's wire time, then
   * a few short polls) for TXRTS of the frame in flight to clear, and services its completion. False:
   * still busy, try at the next poll (the new frame stays in the TX ring).
   */
  private txFree(): boolean {
    if (!this.txBusy) return true
    const io = this.io
    const p = this.platform
    for (let i = 0; i < TX_POLLS; i++) {
      if ((io.read(ECON1) & ECON1_TXRTS) === 0) {
        this.serviceTx(io.read(EIR))
        if (!this.txBusy) return true
        continue // a retransmission started: wait for it too
      }
      const now = p.clock.now()
      if (now - this.txStartedAt > this.txTimeoutUs) {
        this.txStalled()
        if (!this.txBusy) return true
        continue
      }
      // the rest of the frame's wire time, then short polls
      const wait = this.txDueAt - now
      p.delay(wait > TX_POLL_US ? wait : TX_POLL_US)
    }
    return false
  }

  /** The frame in the TX buffer finished (TXIF) or was aborted (TXERIF); `eir` was read after TXRTS cleared
   *  or holds one of those flags. */
  private serviceTx(eir: number): void {
    const io = this.io
    const wa = this.workarounds
    if (!this.txBusy) {
      if ((eir & (EIR_TXIF | EIR_TXERIF)) !== 0) io.clearBits(EIR, EIR_TXIF | EIR_TXERIF)
      return
    }
    if ((eir & EIR_TXERIF) === 0) {
      if ((eir & EIR_TXIF) !== 0) io.clearBits(EIR, EIR_TXIF) // TXIE: INT stays asserted until cleared
      this.txBusy = false
      return
    }
    // aborted
    const status = wa.txStatusFromTsv ? txStatusFromTsv(this) : (io.read(ESTAT) & ESTAT_LATECOL) !== 0 ? TSV_LATE_COLLISION : 0
    if (wa.resetTxLogic) resetTxLogic(this)
    else io.clearBits(EIR, EIR_TXIF | EIR_TXERIF)
    if (wa.retryFalseLateCollision && retryFalseLateCollision(status, this.txRetries, this.maxTxRetries)) {
      this.txRetries++
      this.stats.recoveries++
      this.restartTx()
      return
    }
    this.stats.txErrors++
    this.txBusy = false
  }

  /** TXRTS never cleared (erratum #12's stall): cancel, reset the transmit logic and send the frame again
   *  (bounded); without the workaround the frame is given up and the stall stays. */
  private txStalled(): void {
    const io = this.io
    io.clearBits(ECON1, ECON1_TXRTS) // cancels; a cancelled transmission may raise TXIF/TXERIF
    if (this.workarounds.resetTxLogic) {
      resetTxLogic(this)
      if (this.txRetries < this.maxTxRetries) {
        this.txRetries++
        this.restartTx()
        return
      }
    } else {
      io.clearBits(EIR, EIR_TXIF | EIR_TXERIF)
    }
    this.stats.txErrors++
    this.txBusy = false
  }

  /** Control byte + frame at ETXST with one WBM from the TX ring slot, ETXND, TXRTS (ref A8). */
  private startTx(bytes: Uint8Array, at: number, len: number): void {
    this.wrpt = this.setPointer(EWRPTL, this.txStart, this.wrpt)
    // The slot is the MOSI buffer: WBM and the per-packet control byte (0x00: MACON3 decides padding
    // and CRC) replace its 2-byte length prefix for the duration of the call.
    bytes[at - 2] = OP_WBM
    bytes[at - 1] = 0x00
    this.platform.spi.send(bytes.subarray(at - 2, at + len))
    bytes[at - 2] = len & 0xff
    bytes[at - 1] = len >> 8
    this.wrpt = this.txStart + 1 + len
    this.txLen = len
    this.txRetries = 0
    this.launch()
  }

  /** ETXND (ETXST too after a TXRST), then TXRTS. TXIF and TXERIF are already clear here (ref A8 step 4):
   *  every path that ends a transmission clears them (serviceTx, txStalled, resetTxLogic, init), which
   *  also releases INT, so the common case needs no extra command. */
  private launch(): void {
    const io = this.io
    if (this.txnd < 0) io.write16(ETXSTL, this.txStart)
    this.txnd = this.setPointer(ETXNDL, this.txStart + this.txLen, this.txnd)
    io.setBits(ECON1, ECON1_TXRTS)
    const now = this.platform.clock.now()
    this.txBusy = true
    this.txStartedAt = now
    this.txDueAt = now + frameTimeUs(this.txLen)
  }

  /** The frame is still in the TX buffer: send it again. */
  private restartTx(): void {
    this.launch()
  }
}
