// A register-accurate simulator of the Microchip ENC28J60 (10BASE-T MAC+PHY with an 8 KB buffer), driven
// byte for byte through its SPI protocol. It behaves like the silicon per the data sheet DS39662E and the
// rev. B7 silicon errata DS80349C, not like any particular driver. Section numbers ("§7.2.4") refer to
// DS39662E; "erratum #n" to DS80349C. Facts not confirmed in a page copy are marked [unconfirmed].
//
// Device dialect: pure logic that also runs on Espruino (no Map/Set/Symbol, no destructuring, spread or
// default parameters, no generators/async, typed arrays for memory, no allocation per byte; every
// module-level function is declared before its first use).
//
// Time. With a `now` clock (µs) internal delays complete when their time has passed: the oscillator
// start-up timer after power-on, the reset window after SRC, MII BUSY (10.24 µs), DMA, the frame time of a
// transmission. Without a clock, each delay completes by the next `send` (and by `update()` or a read of
// `interrupt`), but not within `receive`.
//
// Modelling choices where the data sheet is silent (each documented at its place):
// - BFS/BFC on a MAC/MII register (§4.2.5: "cannot be used on the MAC registers, MII registers, PHY
//   registers or buffer memory") is reported as misuse and then acts as a plain write of the data byte:
//   the bit-field read-modify-write logic only exists for the ETH register file. So BFS MACON3,0x01 leaves
//   MACON3 = 0x01, which is how a driver that relies on it loses its PADCFG/TXCRCEN settings.
// - The dummy byte of a MAC/MII RCR reads as the complement of the value (silicon: undefined).
// - Erratum #1 (SPI below 8 MHz) corrupts MAC/MII register reads deterministically (value XOR 0x5A).
import { crc32Update, fcsMatches, writeFcs } from './crc32.js'

// ---------------------------------------------------------------------------------------------------------
// Register file layout: index = bank * 32 + address for addresses 0x00-0x1A; the five common registers
// 0x1B-0x1F exist in every bank (§3.1) and live at index 0x1B-0x1F.

const EIE = 0x1b
const EIR = 0x1c
const ESTAT = 0x1d
const ECON2 = 0x1e
const ECON1 = 0x1f
// bank 0
const ERDPTL = 0x00
const ERDPTH = 0x01
const EWRPTL = 0x02
const EWRPTH = 0x03
const ETXSTL = 0x04
const ETXNDL = 0x06
const ERXSTL = 0x08
const ERXSTH = 0x09
const ERXNDL = 0x0a
const ERXNDH = 0x0b
const ERXRDPTL = 0x0c
const ERXRDPTH = 0x0d
const ERXWRPTL = 0x0e
const ERXWRPTH = 0x0f
const EDMASTL = 0x10
const EDMANDL = 0x12
const EDMADSTL = 0x14
const EDMACSL = 0x16
const EDMACSH = 0x17
// bank 1
const EHT0 = 0x20
const EPMM0 = 0x28
const EPMCSL = 0x30
const EPMCSH = 0x31
const EPMOL = 0x34
const EPMOH = 0x35
const ERXFCON = 0x38
const EPKTCNT = 0x39
// bank 2 (MAC/MII)
const MACON1 = 0x40
const MACON3 = 0x42
const MACLCON1 = 0x48
const MACLCON2 = 0x49
const MAMXFLL = 0x4a
const MAMXFLH = 0x4b
const MICMD = 0x52
const MIREGADR = 0x54
const MIWRL = 0x56
const MIWRH = 0x57
const MIRDL = 0x58
const MIRDH = 0x59
// bank 3
const MAADR5 = 0x60 // mac[4]
const MAADR6 = 0x61 // mac[5]
const MAADR3 = 0x62 // mac[2]
const MAADR4 = 0x63 // mac[3]
const MAADR1 = 0x64 // mac[0], the first byte on the wire
const MAADR2 = 0x65 // mac[1]
const MISTAT = 0x6a
const EREVID = 0x72

// bits
const EIE_INTIE = 0x80
const EIR_PKTIF = 0x40
const EIR_DMAIF = 0x20
const EIR_LINKIF = 0x10
const EIR_TXIF = 0x08
const EIR_TXERIF = 0x02
const EIR_RXERIF = 0x01
const EIR_HOST_BITS = 0x2b // DMAIF, TXIF, TXERIF, RXERIF: set by hardware, cleared (or set) by the host
const ESTAT_INT = 0x80
const ESTAT_LATECOL = 0x10
const ESTAT_TXABRT = 0x02
const ESTAT_CLKRDY = 0x01
const ESTAT_CLEARABLE = 0x52 // BUFER, LATECOL, TXABRT: the host may only clear them
const ECON2_AUTOINC = 0x80
const ECON2_PKTDEC = 0x40
const ECON2_PWRSV = 0x20
const ECON1_TXRST = 0x80
const ECON1_RXRST = 0x40
const ECON1_DMAST = 0x20
const ECON1_CSUMEN = 0x10
const ECON1_TXRTS = 0x08
const ECON1_RXEN = 0x04
const ERXFCON_UCEN = 0x80
const ERXFCON_ANDOR = 0x40
const ERXFCON_CRCEN = 0x20
const ERXFCON_PMEN = 0x10
const ERXFCON_MPEN = 0x08
const ERXFCON_HTEN = 0x04
const ERXFCON_MCEN = 0x02
const ERXFCON_BCEN = 0x01
const MACON1_PASSALL = 0x02
const MACON1_MARXEN = 0x01
const MACON3_TXCRCEN = 0x10
const MACON3_HFRMEN = 0x04
const MACON3_FRMLNEN = 0x02
const MACON3_FULDPX = 0x01
const MICMD_MIISCAN = 0x02
const MICMD_MIIRD = 0x01
const MISTAT_NVALID = 0x04
const MISTAT_SCAN = 0x02
const MISTAT_BUSY = 0x01

// PHY registers (§3.3) and bits
const PHCON1 = 0x00
const PHSTAT1 = 0x01
const PHID1 = 0x02
const PHID2 = 0x03
const PHCON2 = 0x10
const PHSTAT2 = 0x11
const PHIE = 0x12
const PHIR = 0x13
const PHLCON = 0x14
const PHCON1_PRST = 0x8000
const PHCON1_PLOOPBK = 0x4000
const PHCON1_PDPXMD = 0x0100
const PHCON1_WRITABLE = 0x4900 // PLOOPBK, PPWRSV, PDPXMD
const PHCON2_HDLDIS = 0x0100
const PHCON2_WRITABLE = 0x6500 // FRCLINK, TXDIS, JABBER, HDLDIS
const PHCON2_TXDIS = 0x2000
const PHSTAT1_CAPS = 0x1800 // PFDPX | PHDPX: both duplex modes supported
const PHSTAT1_LLSTAT = 0x0004
const PHSTAT2_TXSTAT = 0x2000
const PHSTAT2_LSTAT = 0x0400
const PHSTAT2_DPXSTAT = 0x0200
const PHIE_ENABLES = 0x0012 // PLNKIE | PGEIE
const PHIR_PLNKIF = 0x0010
const PHIR_PGIF = 0x0004
const PHLCON_RESET = 0x3422 // [unconfirmed: recalled from Register 2-2]
const PHID1_VALUE = 0x0083
const PHID2_VALUE = 0x1400

// Timing
const MII_BUSY_US = 10.24 // §3.3.1
const OST_US = 300 // oscillator start-up timer after power-on (§2.2, about 300 µs) [unconfirmed exact value]
const SRC_ERRATUM_US = 1000 // erratum #2: wait at least 1 ms after SRC
const NO_CLOCK_STEP = 1e7 // without a clock every delay completes by the next step
const RING_ALL = 0x2000

// Register kinds: 0 unimplemented (reads 0, writes ignored), 1 ETH, 2 MAC/MII (dummy byte, no BFS/BFC)
const KIND_ETH = 1
const KIND_MAC = 2
const KIND = new Uint8Array(128)
const WMASK = new Uint8Array(128)
const RESET = new Uint8Array(128)

function defineRegs(first: number, last: number, kind: number, mask: number): void {
  for (let i = first; i <= last; i++) {
    KIND[i] = kind
    WMASK[i] = mask
  }
}

// bank 0: 0x00-0x17 (the high bytes of the 13-bit pointers are 5 bits wide)
defineRegs(0x00, 0x17, KIND_ETH, 0xff)
for (let i = 0x01; i <= 0x15; i += 2) WMASK[i] = 0x1f
// bank 1: EHT0-7, EPMM0-7, EPMCS, EPMO, EWOLIE, EWOLIR, ERXFCON, EPKTCNT
defineRegs(0x20, 0x31, KIND_ETH, 0xff)
defineRegs(0x34, 0x39, KIND_ETH, 0xff)
WMASK[EPMOH] = 0x1f
WMASK[ERXWRPTL] = 0x00 // read-only
WMASK[ERXWRPTH] = 0x00
WMASK[EPKTCNT] = 0x00 // read-only: changed by the hardware and by ECON2.PKTDEC
// bank 2: all of 0x00-0x19 is MAC/MII; only the registers that exist keep written bits
defineRegs(0x40, 0x59, KIND_MAC, 0x00)
WMASK[0x40] = 0x1f // MACON1
WMASK[0x41] = 0xff // MACON2 (legacy; MARST set at reset)
WMASK[0x42] = 0xff // MACON3
WMASK[0x43] = 0x70 // MACON4: DEFER, BPEN, NOBKOFF
WMASK[0x44] = 0x7f // MABBIPG
WMASK[0x46] = 0x7f // MAIPGL
WMASK[0x47] = 0x7f // MAIPGH
WMASK[0x48] = 0x0f // MACLCON1: RETMAX
WMASK[0x49] = 0x3f // MACLCON2: COLWIN
WMASK[0x4a] = 0xff // MAMXFLL
WMASK[0x4b] = 0xff // MAMXFLH
WMASK[0x4d] = 0xff // MAPHSUP
WMASK[0x51] = 0x80 // MICON
WMASK[0x52] = 0x03 // MICMD
WMASK[0x54] = 0x1f // MIREGADR
WMASK[0x56] = 0xff // MIWRL
WMASK[0x57] = 0xff // MIWRH
// bank 3
defineRegs(0x60, 0x65, KIND_MAC, 0xff) // MAADR
defineRegs(0x66, 0x69, KIND_ETH, 0xff) // EBSTSD, EBSTCON, EBSTCS
defineRegs(0x6a, 0x6a, KIND_MAC, 0x00) // MISTAT (read-only)
defineRegs(0x72, 0x72, KIND_ETH, 0x00) // EREVID (read-only)
defineRegs(0x75, 0x75, KIND_ETH, 0x07) // ECOCON
defineRegs(0x77, 0x77, KIND_ETH, 0x03) // EFLOCON (FULDPXS is read-only)
defineRegs(0x78, 0x79, KIND_ETH, 0xff) // EPAUS
// common
defineRegs(0x1b, 0x1f, KIND_ETH, 0xff)
WMASK[EIE] = 0xfb

// Reset values (Table 3-2 and register descriptions; bank 0 pointer values [unconfirmed])
RESET[ERDPTL] = 0xfa
RESET[ERDPTH] = 0x05
RESET[ERXSTL] = 0xfa
RESET[ERXSTH] = 0x05
RESET[ERXNDL] = 0xff
RESET[ERXNDH] = 0x1f
RESET[ERXRDPTL] = 0xfa
RESET[ERXRDPTH] = 0x05
RESET[ERXFCON] = 0xa1 // UCEN | CRCEN | BCEN
RESET[0x41] = 0x80 // MACON2.MARST [unconfirmed]
RESET[MACLCON1] = 0x0f
RESET[MACLCON2] = 0x37
RESET[MAMXFLL] = 0x00
RESET[MAMXFLH] = 0x06 // MAMXFL = 1536
RESET[0x75] = 0x04 // ECOCON: CLKOUT = 6.25 MHz [unconfirmed]
RESET[0x79] = 0x10 // EPAUS = 0x1000 [unconfirmed]
RESET[ECON2] = ECON2_AUTOINC

const REG_NAMES =
  'ERDPTL ERDPTH EWRPTL EWRPTH ETXSTL ETXSTH ETXNDL ETXNDH ERXSTL ERXSTH ERXNDL ERXNDH ERXRDPTL ERXRDPTH ' +
  'ERXWRPTL ERXWRPTH EDMASTL EDMASTH EDMANDL EDMANDH EDMADSTL EDMADSTH EDMACSL EDMACSH - - - ' +
  'EIE EIR ESTAT ECON2 ECON1 ' +
  'EHT0 EHT1 EHT2 EHT3 EHT4 EHT5 EHT6 EHT7 EPMM0 EPMM1 EPMM2 EPMM3 EPMM4 EPMM5 EPMM6 EPMM7 EPMCSL EPMCSH ' +
  '- - EPMOL EPMOH EWOLIE EWOLIR ERXFCON EPKTCNT - - - - - - ' +
  'MACON1 MACON2 MACON3 MACON4 MABBIPG - MAIPGL MAIPGH MACLCON1 MACLCON2 MAMXFLL MAMXFLH - MAPHSUP - - - ' +
  'MICON MICMD - MIREGADR - MIWRL MIWRH MIRDL MIRDH - - - - - - ' +
  'MAADR5 MAADR6 MAADR3 MAADR4 MAADR1 MAADR2 EBSTSD EBSTCON EBSTCSL EBSTCSH MISTAT - - - - - - - EREVID - - ' +
  'ECOCON - EFLOCON EPAUSL EPAUSH'

function regName(index: number): string {
  const names = REG_NAMES.split(' ')
  const n = index < names.length ? names[index] : '-'
  return n !== '-' ? n : 'bank ' + (index >> 5) + ' address 0x' + (index & 0x1f).toString(16)
}

/** The next address after p in a circular FIFO st..nd (wraps only when p is exactly nd), else 0x1FFF → 0. */
function ringNext(p: number, st: number, nd: number): number {
  return p === nd ? st : (p + 1) & 0x1fff
}

/** Ones'-complement checksum of §13.2: big-endian 16-bit words, an odd byte padded with 0x00. */
function foldComplement(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000)
  return ~sum & 0xffff
}

/**
 * The hash table index of §8.4: the CRC over the six destination bytes, taken in the MSB-first register
 * form (which is the bit reversal of the reflected register), bits 28:23. [Bit position per the ENC424J600
 * data sheet and the CycloneTCP driver; DS39662E only says "the CRC is used as a pointer".]
 */
function hashIndex(frame: Uint8Array): number {
  const reflected = crc32Update(0xffffffff, frame, 0, 6) // not complemented
  let idx = 0
  // MSB-first bit k is reflected bit 31-k; index bit j is MSB-first bit 23+j, i.e. reflected bit 8-j
  for (let j = 0; j < 6; j++) idx |= ((reflected >>> (8 - j)) & 1) << j
  return idx
}

// ---------------------------------------------------------------------------------------------------------
// Options and public types

export type Enc28j60Revision = 'B1' | 'B4' | 'B5' | 'B7'

/**
 * Silicon errata (DS80349C) as switches. Unset entries take the default for the revision: every erratum
 * listed for that revision is on, like the real part.
 */
export interface Enc28j60Errata {
  /** #1 MAC interface: with SPI below 8 MHz, MAC/MII register reads are unreliable (B1, B4 only). */
  e1?: boolean
  /** #2 Reset: after SRC, CLKRDY is not cleared but the part is not ready for 1 ms (all revisions). */
  e2?: boolean
  /** #5 Memory: writing ERXST/ERXND may load 0x0000 into the RX write pointer instead of ERXST. */
  e5?: boolean
  /** #6 Interrupts: EIR.PKTIF does not report pending packets (reads 0); poll EPKTCNT. */
  e6?: boolean
  /** #12 Transmit logic: a half-duplex transmit abort stalls the next transmission until TXRST. */
  e12?: boolean
  /** #13 PHY: link pulses taken for collisions in half duplex (late-collision aborts); B5, B7. */
  e13?: boolean
  /** #14 Memory: an even ERXRDPT corrupts the receive buffer (the Next Packet Pointer written). */
  e14?: boolean
  /** #15 Transmit logic: ESTAT.LATECOL is not set on a late collision (the TSV bit is right). */
  e15?: boolean
  /** #17 DMA: a checksum calculation aborts a packet being received. */
  e17?: boolean
  /** #19 SPI: the Reset command is ignored in power-save mode (ECON2.PWRSV). */
  e19?: boolean
}

export interface Enc28j60SimOptions {
  /** Silicon revision; sets EREVID (B1 0x02, B4 0x04, B5 0x05, B7 0x06) and the default errata. */
  revision?: Enc28j60Revision
  errata?: Enc28j60Errata
  /** SPI clock of the host, for erratum #1 (default 20 MHz). */
  spiClockHz?: number
  /** Cable state at power-on (default up). */
  link?: boolean
  /** Microseconds; without it delays complete by the next `send`. */
  now?: () => number
  /** With a seed, erratum #5 strikes pseudo-randomly (about half of the writes); without, always. */
  seed?: number
  /** Reset value of PHCON1.PDPXMD, strapped by the LEDB polarity (default false: half duplex). */
  fullDuplexStrap?: boolean
  /** Wire rate for the frame time (default 10 Mbit/s). */
  bitRateHz?: number
  /** Inter-frame gap added to each transmission (default 9.6 µs). */
  ifgUs?: number
  /** DMA time per byte in ns (default 80) [unconfirmed]. */
  dmaNsPerByte?: number
  /** Erratum #13 trigger: every Nth half-duplex transmission meets a false collision (default 0: never). */
  falseCollisionEvery?: number
  onTransmit?: (frame: Uint8Array) => void
  onMisuse?: (what: string) => void
}

export interface Enc28j60Stats {
  /** chip-select frames (SPI transactions) */
  csFrames: number
  /** SPI bytes clocked in each direction */
  spiBytes: number
  /** frames written into the receive buffer */
  rxFrames: number
  /** frames lost: buffer full, EPKTCNT at 255, too long, or aborted by erratum #17 */
  rxDropped: number
  /** frames rejected by the receive filters (normal operation) */
  rxFiltered: number
  /** frames put on the cable */
  txFrames: number
  /** transmissions aborted (collisions, giant, cancelled) */
  txAborted: number
  /** driver misuse reports */
  misuse: number
}

/** The revision's EREVID value (§3.1 / errata table: B7 did not step the number beyond 0x06). */
function revisionId(rev: Enc28j60Revision): number {
  if (rev === 'B1') return 0x02
  if (rev === 'B4') return 0x04
  if (rev === 'B5') return 0x05
  return 0x06
}

function pick(v: boolean | undefined, dflt: boolean): boolean {
  return v === undefined ? dflt : v
}

/** Scratch for the receive header (6 bytes): written per packet, never retained. */
const HEADER = new Uint8Array(6)

function isBroadcast(f: Uint8Array): boolean {
  return f[0] === 0xff && f[1] === 0xff && f[2] === 0xff && f[3] === 0xff && f[4] === 0xff && f[5] === 0xff
}

/** A type/length field ≤ 1500 is a length; it must match the data bytes (46 with padding for short data). */
function lengthMismatch(lenField: number, data: number): boolean {
  if (lenField === data) return false
  return !(data === 46 && lenField < 46)
}

// transmit states
const TX_IDLE = 0
const TX_SENDING = 1
const TX_STUCK = 2 // erratum #12: TXRTS stays set for ever

// collision kinds for injectCollision
const COL_NORMAL = 1
const COL_LATE = 2
const COL_EXCESSIVE = 3

// ---------------------------------------------------------------------------------------------------------

export class Enc28j60Sim {
  /** The 8 KB buffer memory (public for white-box tests; drivers must use RBM/WBM). */
  readonly memory: Uint8Array
  readonly revision: Enc28j60Revision
  /** The errata in force; tests may flip entries at any time. */
  readonly errata: {
    e1: boolean; e2: boolean; e5: boolean; e6: boolean; e12: boolean; e13: boolean; e14: boolean
    e15: boolean; e17: boolean; e19: boolean
  }

  readonly stats: Enc28j60Stats
  onTransmit: ((frame: Uint8Array) => void) | undefined
  onMisuse: ((what: string) => void) | undefined
  /** Host SPI clock (erratum #1); the host binding may change it when the bus speed changes. */
  spiClockHz: number
  /** Erratum #13 trigger (see options). */
  falseCollisionEvery: number

  private readonly r: Uint8Array
  private readonly revid: number
  private readonly clock: (() => number) | undefined
  private readonly strapFullDuplex: boolean
  private readonly usPerByte: number
  private readonly ifgUs: number
  private readonly dmaUsPerByte: number
  private rand: number
  private vt: number
  private t: number
  private advancing: boolean

  // reset state
  private resetting: boolean
  private readyAt: number
  private clkrdyEarly: boolean

  // receive
  private link: boolean
  private rxWr: number
  private rdptLow: number
  private dropEvent: boolean

  // PHY
  private phcon1: number
  private phcon2: number
  private phie: number
  private phlcon: number
  private plnkif: boolean
  private pgif: boolean
  private llLatch: boolean

  // MII
  private miiBusy: boolean
  private miiDue: number
  private miiWrite: boolean
  private miiAddr: number
  private miiData: number
  private scanning: boolean
  private scanAddr: number
  private scanDue: number
  private scanValid: boolean

  // DMA
  private dmaBusy: boolean
  private dmaStuck: boolean
  private dmaDue: number
  private dmaChecksum: boolean
  private dmaResult: number

  // transmit
  private txState: number
  private txDue: number
  private txStallArmed: boolean
  private txStallCleared: boolean
  private txTsv: Uint8Array
  private txOut: Uint8Array | null
  private txLoop: Uint8Array | null
  private txAbort: boolean
  private txLate: boolean
  private txHalf: boolean
  private hdTxCount: number
  private colPendingNormal: number
  private colPendingLate: number
  private colPendingExcessive: number

  constructor(options?: Enc28j60SimOptions) {
    const o: Enc28j60SimOptions = options || {}
    const rev: Enc28j60Revision = o.revision || 'B7'
    const early = rev === 'B1' || rev === 'B4'
    const e: Enc28j60Errata = o.errata || {}
    this.revision = rev
    this.errata = {
      e1: pick(e.e1, early),
      e2: pick(e.e2, true),
      e5: pick(e.e5, true),
      e6: pick(e.e6, true),
      e12: pick(e.e12, true),
      e13: pick(e.e13, !early),
      e14: pick(e.e14, true),
      e15: pick(e.e15, true),
      e17: pick(e.e17, true),
      e19: pick(e.e19, true),
    }
    this.memory = new Uint8Array(RING_ALL)
    this.r = new Uint8Array(128)
    this.revid = revisionId(rev)
    this.clock = o.now
    this.strapFullDuplex = !!o.fullDuplexStrap
    this.usPerByte = 8e6 / (o.bitRateHz || 10e6)
    this.ifgUs = o.ifgUs === undefined ? 9.6 : o.ifgUs
    this.dmaUsPerByte = (o.dmaNsPerByte === undefined ? 80 : o.dmaNsPerByte) / 1000
    this.rand = o.seed === undefined ? 0 : (o.seed >>> 0) || 1
    this.spiClockHz = o.spiClockHz || 20e6
    this.falseCollisionEvery = o.falseCollisionEvery || 0
    this.onTransmit = o.onTransmit
    this.onMisuse = o.onMisuse
    this.stats = { csFrames: 0, spiBytes: 0, rxFrames: 0, rxDropped: 0, rxFiltered: 0, txFrames: 0, txAborted: 0, misuse: 0 }
    this.vt = 0
    this.t = this.clock ? this.clock() : 0
    this.advancing = false
    this.link = o.link === undefined ? true : o.link
    this.txTsv = new Uint8Array(7)
    this.txOut = null
    this.txLoop = null
    // everything else is set by the power-on reset
    this.resetting = false
    this.readyAt = 0
    this.clkrdyEarly = false
    this.rxWr = 0
    this.rdptLow = 0
    this.dropEvent = false
    this.phcon1 = 0
    this.phcon2 = 0
    this.phie = 0
    this.phlcon = 0
    this.plnkif = false
    this.pgif = false
    this.llLatch = false
    this.miiBusy = false
    this.miiDue = 0
    this.miiWrite = false
    this.miiAddr = 0
    this.miiData = 0
    this.scanning = false
    this.scanAddr = 0
    this.scanDue = 0
    this.scanValid = false
    this.dmaBusy = false
    this.dmaStuck = false
    this.dmaDue = 0
    this.dmaChecksum = false
    this.dmaResult = 0
    this.txState = TX_IDLE
    this.txDue = 0
    this.txStallArmed = false
    this.txStallCleared = false
    this.txAbort = false
    this.txLate = false
    this.txHalf = false
    this.hdTxCount = 0
    this.colPendingNormal = 0
    this.colPendingLate = 0
    this.colPendingExcessive = 0
    this.systemReset(false)
  }

  /** Driver misuse reports so far (the same number as stats.misuse). */
  get misuse(): number {
    return this.stats.misuse
  }

  /** True while the INT pin is asserted (electrically low): INTIE and an enabled flag (§12.0). */
  get interrupt(): boolean {
    this.sync(true)
    return this.intCondition()
  }

  /** Lets internal time catch up (completes pending delays without a clock). */
  update(): void {
    this.sync(true)
  }

  /**
   * The RESET pin (§11, "Reset": the pin, like a power-on reset, resets the whole part). Modelled as the
   * power-on reset: registers and PHY to their reset values, the oscillator start-up timer runs again with
   * CLKRDY clear (erratum #2 concerns the SRC command only), power-save mode is left (erratum #19 concerns
   * SRC only). Kept: the buffer memory, the cable and link state, the options, errata switches and stats.
   * [unconfirmed: whether the start-up timer runs after a pin reset; modelled like power-on, the safe side.]
   */
  hardwareReset(): void {
    this.sync(false)
    this.systemReset(false)
  }

  // -------------------------------------------------------------------------------------------------------
  // SPI: one chip-select frame per call, full duplex

  send(tx: Uint8Array): Uint8Array {
    this.sync(true)
    const n = tx.length
    const out = new Uint8Array(n)
    this.stats.csFrames++
    this.stats.spiBytes += n
    if (n === 0) return out
    const b0 = tx[0]
    const op = b0 >> 5
    const arg = b0 & 0x1f
    if (op === 0) {
      this.rcr(arg, n, out)
    } else if (op === 1) {
      if (arg === 0x1a) this.rbm(n, out)
      else this.flag('undefined SPI opcode 0x' + b0.toString(16) + ' (RBM is 0x3A only, Table 4-1)')
    } else if (op === 2 || op === 4 || op === 5) {
      this.writeOp(op, arg, tx, n)
    } else if (op === 3) {
      if (arg === 0x1a) this.wbm(tx, n)
      else this.flag('undefined SPI opcode 0x' + b0.toString(16) + ' (WBM is 0x7A only, Table 4-1)')
    } else if (op === 7 && arg === 0x1f) {
      this.src()
    } else {
      this.flag('undefined SPI opcode 0x' + b0.toString(16) + ' (Table 4-1)')
    }
    return out
  }

  /** RCR (§4.2.1): ETH registers answer on the 2nd byte; MAC/MII registers send a dummy byte first. */
  private rcr(arg: number, n: number, out: Uint8Array): void {
    const idx = this.index(arg)
    let v = this.readReg(idx)
    if (KIND[idx] === KIND_MAC) {
      if (this.errata.e1 && this.spiClockHz < 8e6) v ^= 0x5a // erratum #1
      if (n > 1) out[1] = ~v & 0xff // the dummy byte (undefined on silicon)
      if (n > 2) out[2] = v
      else this.flag('RCR of MAC/MII register ' + regName(idx) + ' without the dummy byte (Figure 4-4)')
    } else if (n > 1) {
      out[1] = v
    }
  }

  /** RBM (§4.2.2): ERDPT auto-increments (AUTOINC), wrapping ERXND→ERXST only at exactly ERXND, else 0x1FFF→0. */
  private rbm(n: number, out: Uint8Array): void {
    const r = this.r
    const mem = this.memory
    let p = ((r[ERDPTH] << 8) | r[ERDPTL]) & 0x1fff
    const auto = (r[ECON2] & ECON2_AUTOINC) !== 0
    const st = this.ptr(ERXSTL)
    const nd = this.ptr(ERXNDL)
    for (let i = 1; i < n; i++) {
      out[i] = mem[p]
      if (auto) p = p === nd ? st : (p + 1) & 0x1fff
    }
    r[ERDPTL] = p & 0xff
    r[ERDPTH] = p >> 8
  }

  /** WBM (§4.2.4): EWRPT auto-increments (AUTOINC), 0x1FFF→0, never the receive-buffer wrap. */
  private wbm(tx: Uint8Array, n: number): void {
    if (this.resetting) {
      this.flag('WBM while the chip is still in reset (wait for the reset to finish, erratum #2)')
      return
    }
    const r = this.r
    const mem = this.memory
    let p = ((r[EWRPTH] << 8) | r[EWRPTL]) & 0x1fff
    const auto = (r[ECON2] & ECON2_AUTOINC) !== 0
    for (let i = 1; i < n; i++) {
      mem[p] = tx[i]
      if (auto) p = (p + 1) & 0x1fff
    }
    r[EWRPTL] = p & 0xff
    r[EWRPTH] = p >> 8
  }

  /** WCR, BFS, BFC (§4.2.3, 4.2.5, 4.2.6). */
  private writeOp(op: number, arg: number, tx: Uint8Array, n: number): void {
    const idx = this.index(arg)
    const name = op === 2 ? 'WCR' : op === 4 ? 'BFS' : 'BFC'
    if (n < 2) {
      this.flag(name + ' ' + regName(idx) + ' without a data byte')
      return
    }
    if (n > 2) this.flag(name + ' ' + regName(idx) + ' with ' + (n - 2) + ' extra byte(s): one command per CS frame')
    const d = tx[1]
    if (op === 2) {
      this.writeReg(idx, d)
    } else if (KIND[idx] === KIND_MAC) {
      // §4.2.5: BFS/BFC "cannot be used on the MAC registers, MII registers". Choice: a plain write.
      this.flag(name + ' on MAC/MII register ' + regName(idx) + ' (only ETH registers support bit-field ops, §4.2.5)')
      this.writeReg(idx, d)
    } else {
      const old = this.readReg(idx)
      this.writeReg(idx, op === 4 ? old | d : old & ~d & 0xff)
    }
  }

  /** SRC (§4.2.7): a system reset, except in power-save mode with erratum #19. */
  private src(): void {
    if (this.errata.e19 && (this.r[ECON2] & ECON2_PWRSV) !== 0) {
      this.flag('SRC in power-save mode is ignored (erratum #19): clear ECON2.PWRSV first')
      return
    }
    this.systemReset(true)
  }

  // -------------------------------------------------------------------------------------------------------
  // Registers

  private index(arg: number): number {
    return arg >= 0x1b ? arg : ((this.r[ECON1] & 3) << 5) | arg
  }

  private ptr(lowIndex: number): number {
    return ((this.r[lowIndex + 1] << 8) | this.r[lowIndex]) & 0x1fff
  }

  private readReg(idx: number): number {
    const r = this.r
    switch (idx) {
      case ERXWRPTL:
        return this.rxWr & 0xff
      case ERXWRPTH:
        return this.rxWr >> 8
      case EIR: {
        let v = r[EIR] & EIR_HOST_BITS
        if (r[EPKTCNT] !== 0 && !this.errata.e6) v |= EIR_PKTIF // erratum #6: PKTIF not reported
        if (this.linkif()) v |= EIR_LINKIF
        return v
      }
      case ESTAT: {
        let v = r[ESTAT] & ESTAT_CLEARABLE
        if (this.intCondition()) v |= ESTAT_INT
        if (!this.resetting || this.clkrdyEarly) v |= ESTAT_CLKRDY // erratum #2: not cleared by SRC
        return v
      }
      case MISTAT: {
        let v = 0
        if (this.miiBusy || this.scanning) v |= MISTAT_BUSY
        if (this.scanning) v |= MISTAT_SCAN
        if (this.scanning && !this.scanValid) v |= MISTAT_NVALID
        return v
      }
      case EREVID:
        return this.revid
      case 0x77: // EFLOCON.FULDPXS mirrors MACON3.FULDPX
        return (r[0x77] & 0x03) | ((r[MACON3] & MACON3_FULDPX) << 2)
      default:
        return r[idx]
    }
  }

  private writeReg(idx: number, value: number): void {
    if (this.resetting) {
      this.flag('write to ' + regName(idx) + ' while the chip is still in reset (CLKRDY/erratum #2: wait 1 ms after SRC)')
      return
    }
    const r = this.r
    const rxen = (r[ECON1] & ECON1_RXEN) !== 0
    switch (idx) {
      case ERXSTL:
      case ERXSTH:
      case ERXNDL:
      case ERXNDH:
        if (rxen) this.flag('write to ' + regName(idx) + ' while ECON1.RXEN is set (§3.2.1)')
        r[idx] = value & WMASK[idx]
        this.loadRxWritePointer()
        return
      case ERXRDPTL: // §7.2.4: the low byte is buffered until ERXRDPTH is written
        this.rdptLow = value
        return
      case ERXRDPTH:
        r[ERXRDPTH] = value & 0x1f
        r[ERXRDPTL] = this.rdptLow
        return
      case ERXFCON:
      case MAADR1:
      case MAADR2:
      case MAADR3:
      case MAADR4:
      case MAADR5:
      case MAADR6:
        if (rxen) this.flag('write to ' + regName(idx) + ' while ECON1.RXEN is set (§7.2.1)')
        r[idx] = value
        return
      case EIR: // PKTIF and LINKIF are read-only
        r[EIR] = value & EIR_HOST_BITS
        return
      case ESTAT: // BUFER, LATECOL, TXABRT can only be cleared; the rest is read-only
        r[ESTAT] = r[ESTAT] & value & ESTAT_CLEARABLE
        return
      case ECON2:
        if ((value & ECON2_PKTDEC) !== 0) this.packetDecrement()
        r[ECON2] = value & 0xa8 // AUTOINC, PWRSV, VRPS; PKTDEC reads 0
        return
      case ECON1:
        this.writeEcon1(value)
        return
      case MACON3:
        if (rxen && ((value ^ r[MACON3]) & MACON3_FULDPX) !== 0) this.flag('duplex changed while ECON1.RXEN is set (§7.2.1)')
        r[MACON3] = value
        return
      case MICMD:
        this.writeMicmd(value)
        return
      case MIREGADR:
        if (this.miiBusy || this.scanning) this.flag('MIREGADR written while MISTAT.BUSY (§3.3)')
        r[MIREGADR] = value & 0x1f
        return
      case MIWRH:
        r[MIWRH] = value
        this.startMiiWrite()
        return
      default:
        r[idx] = value & WMASK[idx] // read-only and unimplemented registers have a zero mask
    }
  }

  private writeEcon1(value: number): void {
    const r = this.r
    const old = r[ECON1]
    let v = value
    if ((v & ECON1_TXRST) !== 0) {
      // transmit logic held in reset: an ongoing or stuck transmission is dropped, TXRTS cannot be set
      if ((old & ECON1_TXRST) === 0) {
        if (this.txStallArmed || this.txState === TX_STUCK) this.txStallCleared = true
        this.txStallArmed = false
        this.txState = TX_IDLE
      }
      v &= ~ECON1_TXRTS
    } else if ((old & ECON1_TXRST) !== 0) {
      // erratum #12: "Clearing ECON1.TXRST may cause a new transmit error interrupt event"
      if (this.errata.e12 && this.txStallCleared) r[EIR] |= EIR_TXERIF
      this.txStallCleared = false
    }
    r[ECON1] = v
    if ((v & ECON1_DMAST) !== 0 && (old & ECON1_DMAST) === 0) this.startDma()
    else if ((v & ECON1_DMAST) === 0 && (old & ECON1_DMAST) !== 0 && this.dmaBusy) this.cancelDma()
    if ((v & ECON1_TXRTS) !== 0 && (old & ECON1_TXRTS) === 0) this.startTx()
    else if ((v & ECON1_TXRTS) === 0 && (old & ECON1_TXRTS) !== 0 && this.txState === TX_SENDING) this.cancelTx()
    if ((v & ECON1_RXEN) !== 0 && (old & ECON1_RXEN) === 0) this.duplexCheck('ECON1.RXEN')
  }

  private packetDecrement(): void {
    const r = this.r
    if (r[EPKTCNT] === 0) this.flag('ECON2.PKTDEC with EPKTCNT = 0')
    else r[EPKTCNT]--
  }

  /** §3.2.1: writing ERXST (or ERXND) loads the RX write pointer with ERXST; erratum #5: sometimes 0x0000. */
  private loadRxWritePointer(): void {
    let p = this.ptr(ERXSTL)
    if (this.errata.e5) {
      if (this.rand === 0) p = 0
      else {
        let x = this.rand
        x ^= x << 13
        x >>>= 0
        x ^= x >>> 17
        x ^= x << 5
        x >>>= 0
        this.rand = x
        if ((x & 0x100) !== 0) p = 0
      }
    }
    this.rxWr = p
  }

  private duplexCheck(what: string): void {
    const mac = (this.r[MACON3] & MACON3_FULDPX) !== 0
    const phy = (this.phcon1 & PHCON1_PDPXMD) !== 0
    if (mac !== phy) {
      this.flag(what + ' set with MACON3.FULDPX=' + (mac ? 1 : 0) + ' but PHCON1.PDPXMD=' + (phy ? 1 : 0) +
        ': duplex mismatch, the chip is in an indeterminate state (§9.1)')
    }
  }

  private intCondition(): boolean {
    const r = this.r
    const eie = r[EIE]
    if ((eie & EIE_INTIE) === 0) return false
    let flags = r[EIR] & EIR_HOST_BITS
    if (r[EPKTCNT] !== 0) flags |= EIR_PKTIF // the interrupt logic sees the packet count even with erratum #6
    if (this.linkif()) flags |= EIR_LINKIF
    return (flags & eie & 0x7b) !== 0
  }

  private linkif(): boolean {
    return this.pgif && (this.phie & PHIE_ENABLES) === PHIE_ENABLES
  }

  private flag(what: string): void {
    this.stats.misuse++
    if (this.onMisuse) this.onMisuse(what)
  }

  /** Power-on (srcCommand false) or SRC reset: registers to their reset values; buffer memory kept. */
  private systemReset(srcCommand: boolean): void {
    const r = this.r
    r.set(RESET)
    this.rdptLow = RESET[ERXRDPTL]
    this.rxWr = 0 // ERXWRPT resets to 0x0000
    this.dropEvent = false
    this.miiBusy = false
    this.scanning = false
    this.scanValid = false
    this.dmaBusy = false
    this.dmaStuck = false
    this.txState = TX_IDLE
    this.txStallArmed = false
    this.txStallCleared = false
    this.txOut = null
    this.txLoop = null
    this.phyReset()
    this.resetting = true
    const e2 = srcCommand && this.errata.e2
    this.clkrdyEarly = e2
    this.readyAt = this.t + (e2 ? SRC_ERRATUM_US : OST_US)
  }

  private phyReset(): void {
    this.phcon1 = this.strapFullDuplex ? PHCON1_PDPXMD : 0
    this.phcon2 = 0
    this.phie = 0
    this.phlcon = PHLCON_RESET
    this.plnkif = false
    this.pgif = false
    this.llLatch = false // the link "has gone down" through the reset: the first PHSTAT1 read shows 0
  }

  // -------------------------------------------------------------------------------------------------------
  // Time

  private sync(step: boolean): void {
    if (this.clock) {
      this.advance(this.clock())
    } else {
      if (step) this.vt += NO_CLOCK_STEP
      this.advance(this.vt)
    }
  }

  /** Completes, in time order, every delayed operation due by time t. */
  private advance(t: number): void {
    if (t > this.t) this.t = t
    if (this.advancing) return
    this.advancing = true
    for (let guard = 0; guard < 64; guard++) {
      let which = 0
      let due = t
      if (this.resetting && this.readyAt <= due) {
        which = 1
        due = this.readyAt
      }
      if (this.miiBusy && this.miiDue <= due && (which === 0 || this.miiDue < due)) {
        which = 2
        due = this.miiDue
      }
      if (this.dmaBusy && !this.dmaStuck && this.dmaDue <= due && (which === 0 || this.dmaDue < due)) {
        which = 3
        due = this.dmaDue
      }
      if (this.txState === TX_SENDING && this.txDue <= due && (which === 0 || this.txDue < due)) {
        which = 4
        due = this.txDue
      }
      if (which === 0) break
      if (which === 1) this.resetting = false
      else if (which === 2) this.finishMii()
      else if (which === 3) this.finishDma()
      else this.finishTx()
    }
    if (this.scanning && this.scanDue <= t) {
      const v = this.phyRead(this.scanAddr)
      this.r[MIRDL] = v & 0xff
      this.r[MIRDH] = v >> 8
      this.scanValid = true
      this.scanDue = t + MII_BUSY_US
    }
    this.advancing = false
  }

  // -------------------------------------------------------------------------------------------------------
  // MII and PHY (§3.3)

  private writeMicmd(value: number): void {
    const r = this.r
    const old = r[MICMD]
    r[MICMD] = value & 0x03
    if ((value & MICMD_MIIRD) !== 0 && (old & MICMD_MIIRD) === 0) {
      if (this.miiBusy || this.scanning) {
        this.flag('MICMD.MIIRD set while MISTAT.BUSY (§3.3.1)')
      } else {
        this.miiBusy = true
        this.miiWrite = false
        this.miiAddr = r[MIREGADR]
        this.miiDue = this.t + MII_BUSY_US
      }
    }
    if ((value & MICMD_MIISCAN) !== 0 && (old & MICMD_MIISCAN) === 0) {
      if (this.miiBusy) {
        this.flag('MICMD.MIISCAN set while MISTAT.BUSY (§3.3.3)')
      } else {
        this.scanning = true
        this.scanValid = false
        this.scanAddr = r[MIREGADR]
        this.scanDue = this.t + MII_BUSY_US
      }
    } else if ((value & MICMD_MIISCAN) === 0 && (old & MICMD_MIISCAN) !== 0) {
      this.scanning = false
    }
  }

  private startMiiWrite(): void {
    const r = this.r
    if (this.miiBusy || this.scanning) {
      this.flag('MIWRH written while MISTAT.BUSY (§3.3.2)')
      return
    }
    this.miiBusy = true
    this.miiWrite = true
    this.miiAddr = r[MIREGADR]
    this.miiData = (r[MIWRH] << 8) | r[MIWRL]
    this.miiDue = this.t + MII_BUSY_US
  }

  private finishMii(): void {
    this.miiBusy = false
    if (this.miiWrite) {
      this.phyWrite(this.miiAddr, this.miiData)
    } else {
      const v = this.phyRead(this.miiAddr)
      this.r[MIRDL] = v & 0xff
      this.r[MIRDH] = v >> 8
    }
  }

  private phyRead(addr: number): number {
    switch (addr) {
      case PHCON1:
        return this.phcon1
      case PHSTAT1: {
        // §3.3.4: LLSTAT latches low when the link goes down, until this register is read
        const v = PHSTAT1_CAPS | (this.llLatch ? PHSTAT1_LLSTAT : 0)
        this.llLatch = this.link
        return v
      }
      case PHID1:
        return PHID1_VALUE
      case PHID2:
        return PHID2_VALUE
      case PHCON2:
        return this.phcon2
      case PHSTAT2: {
        let v = 0
        if (this.link) v |= PHSTAT2_LSTAT
        if ((this.phcon1 & PHCON1_PDPXMD) !== 0) v |= PHSTAT2_DPXSTAT
        if (this.txState === TX_SENDING) v |= PHSTAT2_TXSTAT
        return v
      }
      case PHIE:
        return this.phie
      case PHIR: {
        // §12.1.5: an MII read of PHIR clears PGIF and PLNKIF, and with them LINKIF
        const v = (this.plnkif ? PHIR_PLNKIF : 0) | (this.pgif ? PHIR_PGIF : 0)
        this.plnkif = false
        this.pgif = false
        return v
      }
      case PHLCON:
        return this.phlcon
      default:
        return 0 // only 9 of the 32 addresses exist
    }
  }

  private phyWrite(addr: number, v: number): void {
    switch (addr) {
      case PHCON1:
        if ((v & PHCON1_PRST) !== 0) {
          this.phyReset()
          return
        }
        if (((v ^ this.phcon1) & PHCON1_PDPXMD) !== 0 && (this.r[ECON1] & (ECON1_RXEN | ECON1_TXRTS)) !== 0) {
          this.flag('PHCON1.PDPXMD changed while RXEN or TXRTS is set (§9.1)')
        }
        this.phcon1 = v & PHCON1_WRITABLE
        return
      case PHCON2:
        this.phcon2 = v & PHCON2_WRITABLE
        return
      case PHIE:
        this.phie = v & PHIE_ENABLES
        return
      case PHLCON:
        this.phlcon = v & 0x3ffe
        return
      default:
        // PHSTAT1/2, PHID1/2, PHIR are read-only; other addresses do not exist
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // DMA (§13)

  private startDma(): void {
    const r = this.r
    const mem = this.memory
    const st = this.ptr(ERXSTL)
    const nd = this.ptr(ERXNDL)
    const end = this.ptr(EDMANDL)
    let s = this.ptr(EDMASTL)
    let d = this.ptr(EDMADSTL)
    const checksum = (r[ECON1] & ECON1_CSUMEN) !== 0
    this.dmaBusy = true
    this.dmaStuck = false
    this.dmaChecksum = checksum
    let count = 0
    let sum = 0
    if (s === end) {
      // §13.0 note 2: "the DMA module cannot be used to copy only one byte (EDMAST = EDMAND). An attempt
      // to do so will overwrite all memory in the buffer and may never end."
      this.flag('DMA started with EDMAST = EDMAND (§13.0 note 2)')
      if (!checksum) {
        for (let i = 0; i < RING_ALL; i++) {
          mem[d] = mem[s]
          s = ringNext(s, st, nd)
          d = (d + 1) & 0x1fff
        }
      }
      this.dmaStuck = true
      return
    }
    // the source follows the receive FIFO wrap; the destination is linear, wrapping only 8191→0
    let hi = true
    for (;;) {
      const b = mem[s]
      if (checksum) {
        if (hi) sum += b << 8
        else sum += b
        hi = !hi
      } else {
        mem[d] = b
        d = (d + 1) & 0x1fff
      }
      count++
      if (s === end) break
      if (count > RING_ALL) {
        this.flag('DMA end pointer EDMAND is never reached (§13.0 note 1)')
        this.dmaStuck = true
        return
      }
      s = ringNext(s, st, nd)
    }
    this.dmaResult = foldComplement(sum)
    let start = this.t
    if (this.txState === TX_SENDING && this.txDue > start) start = this.txDue // DMA waits for a transmission
    this.dmaDue = start + count * this.dmaUsPerByte
  }

  private finishDma(): void {
    const r = this.r
    this.dmaBusy = false
    if (this.dmaChecksum) {
      r[EDMACSH] = this.dmaResult >> 8
      r[EDMACSL] = this.dmaResult & 0xff
    }
    r[ECON1] &= ~ECON1_DMAST
    r[EIR] |= EIR_DMAIF
  }

  /** §12.1.6: cancelling by clearing DMAST also raises DMAIF; no registers change. */
  private cancelDma(): void {
    this.dmaBusy = false
    this.dmaStuck = false
    this.r[EIR] |= EIR_DMAIF
  }

  // -------------------------------------------------------------------------------------------------------
  // Transmit (§7.1)

  /**
   * Injects collisions into the next half-duplex transmissions (a cable fault): 'normal' (within the
   * collision window: the MAC backs off and retransmits), 'late' (beyond MACLCON2: abort, TSV bit 29) or
   * 'excessive' (more than MACLCON1.RETMAX retries: abort, TSV bit 28). Full-duplex transmissions consume
   * them without effect (there is no collision detection in full duplex).
   */
  injectCollision(kind: 'normal' | 'late' | 'excessive', count?: number): void {
    const n = count === undefined ? 1 : count
    if (kind === 'late') this.colPendingLate += n
    else if (kind === 'excessive') this.colPendingExcessive += n
    else this.colPendingNormal += n
  }

  private nextCollision(): number {
    if (this.colPendingLate > 0) {
      this.colPendingLate--
      return COL_LATE
    }
    if (this.colPendingExcessive > 0) {
      this.colPendingExcessive--
      return COL_EXCESSIVE
    }
    if (this.colPendingNormal > 0) {
      this.colPendingNormal--
      return COL_NORMAL
    }
    return 0
  }

  private startTx(): void {
    const r = this.r
    const mem = this.memory
    if (this.txStallArmed) {
      // erratum #12: after a half-duplex abort "the next packet transmit ... may never succeed
      // (ECON1.TXRTS will remain set indefinitely)"
      this.txState = TX_STUCK
      return
    }
    this.duplexCheck('ECON1.TXRTS')
    const st = this.ptr(ETXSTL)
    const nd = this.ptr(ETXNDL)
    const len = (nd - st) & 0x1fff // ETXND points at the last byte of the frame
    const ctrl = mem[st]
    const macon3 = r[MACON3]
    let padTo = 0
    let crcEn: boolean
    let huge: boolean
    const vlan = len >= 14 && mem[(st + 13) & 0x1fff] === 0x81 && mem[(st + 14) & 0x1fff] === 0x00
    if ((ctrl & 0x01) !== 0) {
      // Figure 7-1: POVERRIDE: PHUGEEN, PPADEN, PCRCEN replace MACON3
      padTo = (ctrl & 0x04) !== 0 ? 60 : 0
      crcEn = (ctrl & 0x02) !== 0
      huge = (ctrl & 0x08) !== 0
    } else {
      const padcfg = macon3 >> 5
      if ((padcfg & 1) !== 0) padTo = padcfg === 1 ? 60 : padcfg === 5 ? (vlan ? 64 : 60) : 64
      crcEn = (macon3 & MACON3_TXCRCEN) !== 0
      huge = (macon3 & MACON3_HFRMEN) !== 0
      if (padTo !== 0 && !crcEn) this.flag('MACON3.PADCFG pads and appends a CRC but TXCRCEN is clear (Register 6-2)')
    }
    const dataLen = len > padTo ? len : padTo
    const wireLen = dataLen + (crcEn ? 4 : 0)
    const frame = new Uint8Array(crcEn ? wireLen : dataLen)
    let p = (st + 1) & 0x1fff
    for (let i = 0; i < len; i++) {
      frame[i] = mem[p]
      p = (p + 1) & 0x1fff
    }
    let crcError = false
    if (crcEn) writeFcs(frame, 0, dataLen)
    else crcError = dataLen < 4 || !fcsMatches(frame, 0, dataLen - 4)
    const mamxfl = (r[MAMXFLH] << 8) | r[MAMXFLL]
    const giant = !huge && wireLen > mamxfl

    // collisions (half duplex only)
    const half = (macon3 & MACON3_FULDPX) === 0
    let collisions = 0
    let late = false
    let excessive = false
    let collided = 0
    const kind = this.nextCollision()
    if (half) {
      const colwin = r[MACLCON2]
      if (kind === COL_LATE) late = true
      else if (kind === COL_EXCESSIVE) {
        excessive = true
        collisions = (r[MACLCON1] & 0x0f) + 1
      } else if (kind === COL_NORMAL) collisions = 1
      this.hdTxCount++
      if (!late && !excessive && this.errata.e13 && this.link && this.falseCollisionEvery > 0 &&
        this.hdTxCount % this.falseCollisionEvery === 0) {
        // erratum #13: a link pulse seen as a collision; beyond MACLCON2 bytes it is a late collision
        if (wireLen > colwin) late = true
        else collisions++
      }
      const partial = wireLen < colwin ? wireLen : colwin
      collided = collisions * (partial + 8)
    }
    const aborted = late || excessive || giant
    let onWire = wireLen + collided
    if (late) onWire = collided + (r[MACLCON2] + 1 < wireLen ? r[MACLCON2] + 1 : wireLen)
    if (giant) onWire = collided + mamxfl

    // the transmit status vector (Table 7-1)
    const tsv = this.txTsv
    const typeLen = dataLen >= 14 ? (frame[12] << 8) | frame[13] : 0
    tsv[0] = wireLen & 0xff
    tsv[1] = (wireLen >> 8) & 0xff
    let b2 = collisions > 15 ? 15 : collisions
    if (crcError && !crcEn) b2 |= 0x10
    if (typeLen > 1500) b2 |= 0x40
    else if ((macon3 & MACON3_FRMLNEN) !== 0 && dataLen >= 14 && lengthMismatch(typeLen, dataLen - 14 - (crcEn ? 0 : 4))) b2 |= 0x20
    if (!aborted) b2 |= 0x80 // Transmit Done
    tsv[2] = b2
    let b3 = 0
    if (dataLen >= 6 && isBroadcast(frame)) b3 |= 0x02
    else if (dataLen >= 1 && (frame[0] & 1) !== 0) b3 |= 0x01
    if (excessive) b3 |= 0x10
    if (late) b3 |= 0x20
    if (giant) b3 |= 0x40
    tsv[3] = b3
    tsv[4] = onWire & 0xff
    tsv[5] = (onWire >> 8) & 0xff
    let b6 = 0
    if (typeLen === 0x8808) {
      b6 |= 0x01
      if (dataLen >= 16 && frame[14] === 0x00 && frame[15] === 0x01) b6 |= 0x02
    }
    if (typeLen === 0x8100) b6 |= 0x08
    tsv[6] = b6

    // what goes on the cable (no FCS) and what the PHY loops back (with FCS)
    this.txOut = null
    this.txLoop = null
    if (!aborted) {
      const plain = crcEn ? frame.subarray(0, dataLen) : crcError ? null : frame.subarray(0, dataLen - 4)
      const loopPhy = (this.phcon1 & PHCON1_PLOOPBK) !== 0
      // PHCON2.HDLDIS = 0 (PHCON2 register description): in half duplex the PHY loops transmitted data back to the MAC
      const loopHalf = (this.phcon1 & PHCON1_PDPXMD) === 0 && (this.phcon2 & PHCON2_HDLDIS) === 0
      if (plain && !loopPhy && this.link && (this.phcon2 & PHCON2_TXDIS) === 0) this.txOut = plain
      if (loopPhy || loopHalf) this.txLoop = frame
    }
    this.txAbort = aborted
    this.txLate = late
    this.txHalf = half && (late || excessive)
    let start = this.t
    if (this.dmaBusy && !this.dmaStuck && this.dmaDue > start) start = this.dmaDue // TX waits for the DMA
    this.txDue = start + (8 + onWire) * this.usPerByte + this.ifgUs
    this.txState = TX_SENDING
  }

  /** Host cleared TXRTS during a transmission: aborted like a transmit error [unconfirmed details]. */
  private cancelTx(): void {
    this.txTsv[2] &= ~0x80
    this.txAbort = true
    this.txLate = false
    this.txHalf = false
    this.txOut = null
    this.txLoop = null
    this.finishTx()
  }

  /** §7.1: TXRTS clears, the TSV goes to ETXND+1..+7, TXIF (and on abort TXERIF, TXABRT) are set. */
  private finishTx(): void {
    const r = this.r
    const mem = this.memory
    this.txState = TX_IDLE
    let p = (this.ptr(ETXNDL) + 1) & 0x1fff
    for (let i = 0; i < 7; i++) {
      mem[p] = this.txTsv[i]
      p = (p + 1) & 0x1fff
    }
    r[ECON1] &= ~ECON1_TXRTS
    r[EIR] |= EIR_TXIF
    if (this.txAbort) {
      r[EIR] |= EIR_TXERIF
      r[ESTAT] |= ESTAT_TXABRT
      if (this.txLate && !this.errata.e15) r[ESTAT] |= ESTAT_LATECOL // erratum #15: LATECOL unreliable
      if (this.txHalf && this.errata.e12) this.txStallArmed = true
      this.stats.txAborted++
    } else {
      this.stats.txFrames++
    }
    const out = this.txOut
    const loop = this.txLoop
    this.txOut = null
    this.txLoop = null
    if (out && this.onTransmit) this.onTransmit(out)
    if (loop) this.ingest(loop)
  }

  // -------------------------------------------------------------------------------------------------------
  // Receive (§7.2, §8)

  /** The cable: plugs it in or out. Sets PHIR.PLNKIF (and PGIF/LINKIF when enabled); LLSTAT latches low. */
  setLink(up: boolean): void {
    this.sync(false)
    if (up === this.link) return
    this.link = up
    if (!up) this.llLatch = false
    this.plnkif = true
    if ((this.phie & PHIE_ENABLES) === PHIE_ENABLES) this.pgif = true
  }

  /** True if the cable is plugged in. */
  get linkUp(): boolean {
    return this.link
  }

  /**
   * A frame from the cable without its FCS. Shorter frames are zero-padded to 60 bytes, as the sender's
   * MAC would have done, and the real FCS is appended. False when the chip does not keep it.
   */
  receive(frame: Uint8Array): boolean {
    const n = frame.length < 60 ? 60 : frame.length
    const wire = new Uint8Array(n + 4)
    wire.set(frame)
    writeFcs(wire, 0, n)
    return this.fromCable(wire)
  }

  /** A frame from the cable exactly as on the wire, including its 4-byte FCS (which may be wrong). */
  receiveWithFcs(wire: Uint8Array): boolean {
    if (wire.length < 5) return false
    return this.fromCable(wire)
  }

  private fromCable(wire: Uint8Array): boolean {
    this.sync(false)
    if (!this.link) return false
    return this.ingest(wire)
  }

  private ingest(w: Uint8Array): boolean {
    const r = this.r
    const mem = this.memory
    const stats = this.stats
    if (this.resetting || (r[ECON2] & ECON2_PWRSV) !== 0) return false
    if ((r[ECON1] & (ECON1_RXEN | ECON1_RXRST)) !== ECON1_RXEN || (r[MACON1] & MACON1_MARXEN) === 0) return false
    const n = w.length
    const dataLen = n - 4
    const crcOk = fcsMatches(w, 0, dataLen)
    const typeLen = dataLen >= 14 ? (w[12] << 8) | w[13] : 0
    // Register 6-1 PASSALL = 0: control frames are consumed by the MAC
    if (typeLen === 0x8808 && (r[MACON1] & MACON1_PASSALL) === 0) {
      stats.rxFiltered++
      return false
    }
    if (!this.accepts(w, n, crcOk)) {
      stats.rxFiltered++
      return false
    }
    // Register 6-2 HFRMEN = 0: "frames bigger than MAMXFL will be aborted when transmitted or received"
    if ((r[MACON3] & MACON3_HFRMEN) === 0 && n > ((r[MAMXFLH] << 8) | r[MAMXFLL])) {
      return this.dropped(false)
    }
    // erratum #17: a DMA checksum calculation aborts the packet being received
    if (this.errata.e17 && this.dmaBusy && this.dmaChecksum) {
      return this.dropped(false)
    }
    // §12.1.2: no room, or EPKTCNT at 255: the packet is aborted and RXERIF set
    if (r[EPKTCNT] === 255) {
      return this.dropped(true)
    }
    const st = this.ptr(ERXSTL)
    const nd = this.ptr(ERXNDL)
    const rd = this.ptr(ERXRDPTL)
    const start = this.rxWr
    const total = 6 + n
    const size = ((nd - st) & 0x1fff) + 1
    const wOff = (start - st) & 0x1fff
    const rOff = (rd - st) & 0x1fff
    let free: number
    let pad: number
    if (wOff < size) {
      free = rOff < size ? (rOff - wOff - 1 + size) % size : size - 1
      pad = ((st + (wOff + total) % size) & 0x1fff) & 1
    } else {
      // the write pointer is outside the FIFO (erratum #5): it runs linearly until ERXND, then wraps
      free = 0
      let q = start
      while (free < total + 2 && q !== rd) {
        free++
        q = ringNext(q, st, nd)
      }
      pad = total & 1
    }
    if (total + pad > free) {
      return this.dropped(true)
    }
    // write the frame after the 6-byte header, then the header
    let p = start
    for (let i = 0; i < 6; i++) p = ringNext(p, st, nd)
    for (let i = 0; i < n; i++) {
      mem[p] = w[i]
      p = ringNext(p, st, nd)
    }
    if ((p & 1) !== 0) p = ringNext(p, st, nd) // §7.2.2: packets start on an even boundary
    const next = p
    let status = 0
    if (this.dropEvent) status |= 0x0001 // Table 7-3 bit 16: a packet was dropped since the last receive
    this.dropEvent = false
    if (!crcOk) status |= 0x0010
    if (typeLen > 1500) status |= 0x0040
    else if ((r[MACON3] & MACON3_FRMLNEN) !== 0 && dataLen >= 14 && lengthMismatch(typeLen, dataLen - 14)) status |= 0x0020
    if (crcOk) status |= 0x0080 // Received OK
    if (isBroadcast(w)) status |= 0x0200
    else if ((w[0] & 1) !== 0) status |= 0x0100
    if (typeLen === 0x8808) {
      status |= 0x0800
      status |= dataLen >= 16 && w[14] === 0x00 && w[15] === 0x01 ? 0x1000 : 0x2000
    }
    if (typeLen === 0x8100) status |= 0x4000
    let nextField = next
    // erratum #14: with an even ERXRDPT the hardware corrupts the buffer (modelled: the Next Packet Pointer)
    if (this.errata.e14 && (rd & 1) === 0) nextField = next ^ 0x0101
    const header = HEADER
    header[0] = nextField & 0xff
    header[1] = nextField >> 8
    header[2] = n & 0xff
    header[3] = n >> 8
    header[4] = status & 0xff
    header[5] = status >> 8
    p = start
    for (let i = 0; i < 6; i++) {
      mem[p] = header[i]
      p = ringNext(p, st, nd)
    }
    this.rxWr = next
    r[EPKTCNT]++
    stats.rxFrames++
    return true
  }

  /** A packet the chip had to abort: counted, remembered for the next RSV, RXERIF on overflow. */
  private dropped(overflow: boolean): boolean {
    if (overflow) this.r[EIR] |= EIR_RXERIF
    this.dropEvent = true
    this.stats.rxDropped++
    return false
  }

  /** The receive filters of §8 (Figures 8-1 and 8-2). */
  private accepts(w: Uint8Array, n: number, crcOk: boolean): boolean {
    const r = this.r
    const f = r[ERXFCON]
    if ((f & ERXFCON_CRCEN) !== 0 && !crcOk) return false
    if ((f & 0x9f) === 0) return true // no address filter enabled (0x00 = promiscuous)
    const and = (f & ERXFCON_ANDOR) !== 0
    let any = false
    let all = true
    let m: boolean
    if ((f & ERXFCON_UCEN) !== 0) {
      m = this.unicastMatch(w, 0)
      any = any || m
      all = all && m
    }
    if ((f & ERXFCON_PMEN) !== 0) {
      m = this.patternMatch(w, n)
      any = any || m
      all = all && m
    }
    if ((f & ERXFCON_MPEN) !== 0) {
      m = this.magicMatch(w, n)
      any = any || m
      all = all && m
    }
    if ((f & ERXFCON_HTEN) !== 0) {
      const idx = hashIndex(w)
      m = ((r[EHT0 + (idx >> 3)] >> (idx & 7)) & 1) !== 0
      any = any || m
      all = all && m
    }
    if ((f & ERXFCON_MCEN) !== 0) {
      m = (w[0] & 1) !== 0
      any = any || m
      all = all && m
    }
    if ((f & ERXFCON_BCEN) !== 0) {
      m = isBroadcast(w)
      any = any || m
      all = all && m
    }
    return and ? all : any
  }

  private unicastMatch(w: Uint8Array, off: number): boolean {
    const r = this.r
    return w[off] === r[MAADR1] && w[off + 1] === r[MAADR2] && w[off + 2] === r[MAADR3] &&
      w[off + 3] === r[MAADR4] && w[off + 4] === r[MAADR5] && w[off + 5] === r[MAADR6]
  }

  /** §8.2: the checksum of the masked bytes of a 64-byte window at EPMO equals EPMCS. */
  private patternMatch(w: Uint8Array, n: number): boolean {
    const r = this.r
    const off = ((r[EPMOH] << 8) | r[EPMOL]) & 0x1fff
    if (off + 64 > n) return false // the window would extend past the end of the CRC
    let sum = 0
    let hi = true
    for (let i = 0; i < 64; i++) {
      if (((r[EPMM0 + (i >> 3)] >> (i & 7)) & 1) === 0) continue // masked-out bytes are removed
      const b = w[off + i]
      if (hi) sum += b << 8
      else sum += b
      hi = !hi
    }
    return foldComplement(sum) === ((r[EPMCSH] << 8) | r[EPMCSL])
  }

  /** §8.3: addressed to us, and six 0xFF then sixteen copies of MAADR somewhere in the data field. */
  private magicMatch(w: Uint8Array, n: number): boolean {
    if (!this.unicastMatch(w, 0)) return false
    const last = n - 4 - 102
    for (let s = 14; s <= last; s++) {
      let ok = true
      for (let i = 0; i < 6 && ok; i++) ok = w[s + i] === 0xff
      for (let k = 0; k < 16 && ok; k++) ok = this.unicastMatch(w, s + 6 + k * 6)
      if (ok) return true
    }
    return false
  }
}
