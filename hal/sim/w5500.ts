// A register-accurate simulator of the WIZnet W5500 as a host stack uses it: the SPI frame, the common
// and socket registers, the 16 KB + 16 KB socket buffers, and socket 0 in MACRAW mode. It behaves like
// the silicon as the datasheet (W5500 DS v1.0.9, cited as "DS p.N") describes it, not like any driver.
// Facts and confidence tags come from /work/shared/reference/chips.md PART B ("ref B4" etc.).
//
// Pure logic in the device dialect (it also runs on Espruino): typed arrays for all memory and state,
// no Map/Set, no destructuring, spread or default parameters, no allocation per SPI byte.
//
// Time. With no `now` clock the chip advances one step per chip-select frame: anything the chip starts
// in frame k (reset, Sn_CR command, transmission, PHY autonegotiation, VERSIONR-0 window) is finished
// when frame k+1 starts, unless an option asks for more frames (commandLatencyFrames,
// versionZeroFrames). With `now` (µs) the same things take realistic (documented, partly assumed) time.
//
// What is modelled:
// - SPI frame: 16-bit address, control byte BSB[4:0] RWB OM[1:0], VDM (OM=00, the data phase lasts until
//   chip select rises) and FDM (OM=01/10/11: 1, 2 or 4 data bytes; bytes after them are parsed as a new
//   frame, as with SCSn tied low, and flagged unless `fdmTiedLow`), address auto-increment by one per byte
//   across register boundaries, reserved BSBs flagged. MISO reads 0x01 0x02 0x03 during the header
//   [ref B1, one source] and 0x00 during the data phase of a write (not documented).
// - Time-driven events (with `now`) happen at the next SPI access, receive(), `interrupt` read or poll().
// - Common registers: MR (RST self-clears and re-initializes every register, SHAR included), GAR, SUBR,
//   SHAR, SIPR, INTLEVEL, IR/IMR (IR write-1-to-clear), SIR (read-only, derived), SIMR, RTR (0x07D0),
//   RCR (0x08), PPPoE registers, UIPR/UPORTR (read-only), PHYCFGR (RST/OPMD/OPMDC writable, DPX/SPD/LNK
//   from the cable), VERSIONR (0x04).
// - Socket registers for all 8 sockets, buffer allocation (sizes 0/1/2/4/8/16 KB, sequential from socket
//   0, sum at most 16 KB), buffer blocks addressed by any 16-bit offset modulo the socket's size.
// - Sn_CR commands with latency and auto-clear; OPEN (MACRAW on socket 0, TCP/UDP/IPRAW accepted to
//   their first state only), CLOSE, SEND (MACRAW), RECV. Anything else of the hardwired stack is flagged
//   as "not modelled".
// - MACRAW receive records (2-byte big-endian length counting itself, frame without FCS, no padding),
//   filters latched at OPEN, transmit of TX_RD..TX_WR as one frame, short frames padded to 60 bytes.
// - INTn: asserted while (SIR & SIMR) | (IR & IMR) != 0, with the INTLEVEL re-assert wait.
// - RSTn (hardwareReset, called by the host platform's reset pulse): the power-on state again.
// - Opt-in faults: corrupt length header, torn 16-bit RSR/FSR reads, VERSIONR 0 after reset, transmitter
//   hang when the link drops during SEND.

/** Switches for silicon misbehaviour reported in the field. All off by default; may be changed live. */
export interface W5500Faults {
  /** When non-zero, the length header of the next received record is written as this 16-bit value
   *  (e.g. 65534, or below 62) instead of the true one; the rest of the record is stored as usual and
   *  Sn_RX_WR advances by the true size. One-shot: reset to 0 once used. Exercises a driver's
   *  close/re-open recovery (ref B5: Zephyr #46684, ioLibrary SOCKFATAL_PACKLEN). */
  corruptLength: number
  /** 16-bit Sn_RX_RSR / Sn_TX_FSR are not latched (DS p.54-55: "read all 16-bits twice or more"). When on,
   *  a received frame is parked instead of stored, and a finished transmission is held back, until the
   *  high byte of Sn_RX_RSR (socket 0) or Sn_TX_FSR (that socket) is read: the frame lands between the
   *  high and the low byte, so a driver that reads once gets a torn value. If no such read comes, they
   *  land at the end of the next chip-select frame. */
  tornReads: boolean
  /** VERSIONR reads 0x00 for a while after a reset (ref B2: "some W5500 units may return version 0 when
   *  it is read right after the reset"). */
  versionZero: boolean
  /** When the link is down while a SEND is accepted or goes down before its transmission ends, the
   *  transmitter hangs: that SEND never yields SENDOK, even after the link returns, and later SENDs on
   *  the socket do nothing until CLOSE/OPEN or reset (ref B6, esp-idf#6233). Without it, the frame
   *  waits for the link and goes out (with SENDOK) when it returns. */
  linkDownDuringSend: boolean
}

export interface W5500SimOptions {
  /** Clock in microseconds. Without it the chip advances one step per chip-select frame. */
  now?: () => number
  /** Cable connected at power-on (default true). At power-on the link is already negotiated. */
  link?: boolean
  /** Link partner: 10 or 100 Mbit/s (default 100) and full duplex (default true). */
  speed?: number
  fullDuplex?: boolean
  /** Frame clock: extra chip-select frames during which Sn_CR still reads the command (default 0: the
   *  next frame reads 0). Lets tests require drivers to poll Sn_CR until 0. */
  commandLatencyFrames?: number
  /** µs clock: time from a Sn_CR write to its acceptance (Sn_CR reads 0). Default 2 µs (assumed). */
  commandLatencyUs?: number
  /** How much later than the Sn_CR clear Sn_SR shows the new state after OPEN/CLOSE (ref B3: "the
   *  change may lag"). Frames (frame clock) or µs. Default 0. */
  statusLagFrames?: number
  statusLagUs?: number
  /** µs clock: duration of the MR.RST software reset (MR reads 0x80 meanwhile). Default 1000 (assumed). */
  resetUs?: number
  /** Length of the VERSIONR-0 window after a reset when faults.versionZero is on: frames (default 2) or
   *  µs (default 1000, assumed). */
  versionZeroFrames?: number
  versionZeroUs?: number
  /** µs clock: autonegotiation time after a PHY reset or cable plug-in. Default 1 500 000 (typical for
   *  100BASE-TX autonegotiation; not from the W5500 datasheet). */
  autonegUs?: number
  /** The value OPEN loads into Sn_TX_RD/TX_WR/RX_RD/RX_WR. The datasheet says only "initialized by OPEN"
   *  (DS p.54-55); default 0. Set it non-zero to catch drivers that assume 0 instead of reading them. */
  openPointer?: number
  /** Chip select is tied low (the only way FDM is meant to be used, DS p.15): back-to-back FDM frames in
   *  one send() are then normal and not flagged. Default false. */
  fdmTiedLow?: boolean
  faults?: {
    corruptLength?: number
    tornReads?: boolean
    versionZero?: boolean
    linkDownDuringSend?: boolean
  }
  /** Called with a description whenever the host does something the datasheet does not allow. */
  onMisuse?: (what: string) => void
}

export interface W5500Stats {
  /** send() calls (chip-select frames) and bytes clocked. */
  csFrames: number
  spiBytes: number
  /** Records stored in the RX buffer, and frames from the cable that were not (all reasons). */
  rxFrames: number
  rxDropped: number
  /** Parts of rxDropped: no MACRAW socket / link down / in reset; runt or oversize; MACRAW filter;
   *  not enough free RX space. */
  rxNotListening: number
  rxBadSize: number
  rxFiltered: number
  rxNoSpace: number
  /** Frames put on the cable, of which shorter than 60 bytes before padding. */
  txFrames: number
  shortTx: number
  /** Host misuse flagged through onMisuse. */
  misuse: number
}

const NSOCK = 8
/** Bytes of register storage per socket (0x00-0x2F; DS p.44). */
const SREG = 0x30
/** 16 KB of TX memory and 16 KB of RX memory shared by the 8 sockets (DS p.8, ref B4). */
const MEM = 16384
const MIN_FRAME = 60
const MAX_FRAME = 1514

// Common registers (BSB 0x00) [ref B2]
const C_MR = 0x00
const C_SHAR = 0x09
const C_INTLEVEL = 0x13
const C_IR = 0x15
const C_IMR = 0x16
const C_SIR = 0x17
const C_SIMR = 0x18
const C_RTR = 0x19
const C_RCR = 0x1b
const C_PTIMER = 0x1c
const C_PMRU = 0x26
const C_UIPR = 0x28
const C_UPORTR_END = 0x2d
const C_PHYCFGR = 0x2e
const C_VERSIONR = 0x39

const MR_RST = 0x80
/** Writable MR bits: WOL 0x20, PB 0x10, PPPoE 0x08, FARP 0x02 (RST handled apart). */
const MR_BITS = 0x3a
/** IR/IMR: CONFLICT 0x80, UNREACH 0x40, PPPoE 0x20, MP 0x10; bits 3:0 reserved. */
const IR_BITS = 0xf0
const VERSION = 0x04

// Socket registers (BSB 1 + 4n) [ref B3]
const S_MR = 0x00
const S_CR = 0x01
const S_IR = 0x02
const S_SR = 0x03
const S_DHAR = 0x06
const S_MSSR_END = 0x13
const S_TOS = 0x15
const S_TTL = 0x16
const S_RXBUF = 0x1e
const S_TXBUF = 0x1f
const S_FSR = 0x20
const S_TXRD = 0x22
const S_TXWR = 0x24
const S_RSR = 0x26
const S_RXRD = 0x28
const S_RXWR = 0x2a
const S_IMR = 0x2c
const S_FRAG = 0x2d
const S_KPALVTR = 0x2f

// Sn_CR commands
const CR_OPEN = 0x01
const CR_LISTEN = 0x02
const CR_CONNECT = 0x04
const CR_DISCON = 0x08
const CR_CLOSE = 0x10
const CR_SEND = 0x20
const CR_SEND_MAC = 0x21
const CR_SEND_KEEP = 0x22
const CR_RECV = 0x40

// Sn_IR bits (SENDOK 0x10, TIMEOUT 0x08, RECV 0x04, DISCON 0x02, CON 0x01)
const IR_SENDOK = 0x10
const IR_RECV = 0x04
const SN_IR_BITS = 0x1f

// Sn_SR values
const SR_CLOSED = 0x00
const SR_INIT = 0x13
const SR_UDP = 0x22
const SR_IPRAW = 0x32
const SR_MACRAW = 0x42

// Sn_MR bits in MACRAW mode
const MR_MFEN = 0x80
const MR_BCASTB = 0x40
const MR_MMB = 0x20
const MR_MIP6B = 0x10

// Transmitter state per socket
const TX_IDLE = 0
/** The frame is on the wire; done at txDue. */
const TX_FLIGHT = 1
/** SEND accepted while the link is down: goes out when the link returns. */
const TX_WAIT_LINK = 2
/** faults.linkDownDuringSend: never completes. */
const TX_HUNG = 3
/** faults.tornReads: done, held back until the next FSR high-byte read or the end of the CS frame. */
const TX_ARMED = 4

/** PHYCFGR after reset: RST=1, OPMD=0, OPMDC=111 (ref B2: "0xBA with no link after hardware reset"). */
const PHY_RESET_CFG = 0xb8

function hex(v: number, digits: number): string {
  let s = v.toString(16)
  while (s.length < digits) s = '0' + s
  return '0x' + s
}

/** A valid Sn_RXBUF_SIZE / Sn_TXBUF_SIZE value (KB): 0, 1, 2, 4, 8 or 16 (DS p.52-53). */
function validBufKb(kb: number): boolean {
  return kb === 0 || kb === 1 || kb === 2 || kb === 4 || kb === 8 || kb === 16
}

export class W5500Sim {
  /** A frame the chip puts on the cable (no FCS; padded to 60 bytes). A fresh array per frame. */
  onTransmit: ((frame: Uint8Array) => void) | null = null
  /** Called when the (logical) INTn level changes: true = asserted (the pin is low on silicon). */
  onInterrupt: ((asserted: boolean) => void) | null = null
  onMisuse: ((what: string) => void) | null
  readonly faults: W5500Faults
  readonly stats: W5500Stats
  /** The latest misuse description, for test messages. */
  lastMisuse = ''

  private readonly clock: (() => number) | null
  private frameNo = 0
  private readonly cmdFrames: number
  private readonly cmdUs: number
  private readonly srLagFrames: number
  private readonly srLagUs: number
  private readonly resetUs: number
  private readonly vzFrames: number
  private readonly vzUs: number
  private readonly autonegUs: number
  private readonly openPointer: number
  private readonly fdmTiedLow: boolean
  private readonly partnerSpeed: number
  private readonly partnerFull: boolean

  // Storage
  private readonly common = new Uint8Array(0x40)
  private readonly sreg = new Uint8Array(NSOCK * SREG)
  private readonly txMem = new Uint8Array(MEM)
  private readonly rxMem = new Uint8Array(MEM)
  private readonly txBase = new Uint16Array(NSOCK)
  private readonly txSize = new Uint16Array(NSOCK)
  private readonly rxBase = new Uint16Array(NSOCK)
  private readonly rxSize = new Uint16Array(NSOCK)
  /** Bit 0: TX, bit 1: RX buffer left out because the sizes add up to more than 16 KB. */
  private readonly overBudget = new Uint8Array(NSOCK)

  // Socket state
  /** True state (Sn_SR value) and the value Sn_SR shows while a status lag runs. */
  private readonly state = new Uint8Array(NSOCK)
  private readonly srOld = new Uint8Array(NSOCK)
  private readonly srLagging = new Uint8Array(NSOCK)
  private readonly srDue = new Float64Array(NSOCK)
  /** Sn_MR as latched by the last OPEN (filters apply from OPEN on, ref B3). */
  private readonly mrOpen = new Uint8Array(NSOCK)
  /** Pending Sn_CR command (what Sn_CR reads) and when the chip accepts it. */
  private readonly cmd = new Uint8Array(NSOCK)
  private readonly cmdDue = new Float64Array(NSOCK)
  private readonly txRd = new Uint16Array(NSOCK)
  private readonly txWr = new Uint16Array(NSOCK)
  /** Sn_RX_RD as the chip uses it (committed by RECV) and as the host wrote it. */
  private readonly rxRd = new Uint16Array(NSOCK)
  private readonly rxRdReg = new Uint16Array(NSOCK)
  private readonly rxWr = new Uint16Array(NSOCK)
  private readonly txState = new Uint8Array(NSOCK)
  private readonly txDue = new Float64Array(NSOCK)
  /** Sn_TX_WR when SEND was accepted: the frame is TX_RD..txEnd. */
  private readonly txEnd = new Uint16Array(NSOCK)

  // Reset
  private resetBusy = false
  private resetDue = 0
  private versionUntil = 0

  // PHY and cable
  private cableUp: boolean
  /** PHYCFGR bits 7:3 as written. */
  private phyCfg = PHY_RESET_CFG
  /** OPMD:OPMDC latched when the PHY last left reset (4 bits). */
  private phyMode = (PHY_RESET_CFG >> 3) & 0x0f
  private linkUp = false
  private linkSpeed = 100
  private linkFull = true
  private autonegBusy = false
  private autonegDue = 0

  // INTn
  private intAsserted = false
  private intOffValid = false
  private intOffAt = 0
  private intWait = false
  private intDue = 0

  // Torn-read fault: one parked frame
  private readonly park = new Uint8Array(MAX_FRAME)
  private parkLen = 0

  private inAdvance = false
  /** µs clock: the due time of the event advance() is processing (-1: none). */
  private evtAt = -1
  private writeBlockedFlagged = false

  constructor(opts?: W5500SimOptions) {
    const o: W5500SimOptions = opts !== undefined ? opts : {}
    this.clock = o.now !== undefined ? o.now : null
    this.cmdFrames = o.commandLatencyFrames !== undefined ? o.commandLatencyFrames : 0
    this.cmdUs = o.commandLatencyUs !== undefined ? o.commandLatencyUs : 2
    this.srLagFrames = o.statusLagFrames !== undefined ? o.statusLagFrames : 0
    this.srLagUs = o.statusLagUs !== undefined ? o.statusLagUs : 0
    this.resetUs = o.resetUs !== undefined ? o.resetUs : 1000
    this.vzFrames = o.versionZeroFrames !== undefined ? o.versionZeroFrames : 2
    this.vzUs = o.versionZeroUs !== undefined ? o.versionZeroUs : 1000
    this.autonegUs = o.autonegUs !== undefined ? o.autonegUs : 1500000
    this.openPointer = o.openPointer !== undefined ? o.openPointer & 0xffff : 0
    this.fdmTiedLow = o.fdmTiedLow === true
    this.partnerSpeed = o.speed === 10 ? 10 : 100
    this.partnerFull = o.fullDuplex !== false
    this.onMisuse = o.onMisuse !== undefined ? o.onMisuse : null
    const f = o.faults !== undefined ? o.faults : {}
    this.faults = {
      corruptLength: f.corruptLength !== undefined ? f.corruptLength : 0,
      tornReads: f.tornReads === true,
      versionZero: f.versionZero === true,
      linkDownDuringSend: f.linkDownDuringSend === true,
    }
    this.stats = {
      csFrames: 0, spiBytes: 0, rxFrames: 0, rxDropped: 0, rxNotListening: 0, rxBadSize: 0,
      rxFiltered: 0, rxNoSpace: 0, txFrames: 0, shortTx: 0, misuse: 0,
    }
    // Power-on: registers at their reset values, the PHY out of reset and, with a cable, linked.
    this.cableUp = o.link !== false
    this.wipe()
    this.phyCfg = PHY_RESET_CFG
    this.phyMode = (PHY_RESET_CFG >> 3) & 0x0f
    if (this.linkPossible()) this.linkUpNow()
    // The VERSIONR-0 window (a fault switch) also follows power-on; the first frame is frame 1.
    this.versionUntil = (this.clock !== null ? this.clock() : 1) + (this.clock !== null ? this.vzUs : this.vzFrames)
  }

  // ------------------------------------------------------------------------------------------------
  // Public interface

  /** One chip-select frame: `tx` is what the host clocks out (MOSI); the result is MISO, same length. */
  send(tx: Uint8Array): Uint8Array {
    const n = tx.length
    const out = new Uint8Array(n)
    this.stats.csFrames++
    this.stats.spiBytes += n
    this.frameNo++
    this.writeBlockedFlagged = false
    this.advance()
    let i = 0
    let chained = false
    while (i < n) {
      if (n - i < 3) {
        // MISO during the header phase is 0x01 0x02 0x03 [ref B1, one source].
        out[i] = 0x01
        if (n - i > 1) out[i + 1] = 0x02
        this.misuse('chip select rose inside the 3-byte frame header (' + (n - i) + ' byte(s))')
        break
      }
      if (chained && !this.fdmTiedLow) {
        this.misuse('bytes after a fixed-length (FDM) frame in the same chip select: parsed as a new frame')
      }
      out[i] = 0x01
      out[i + 1] = 0x02
      out[i + 2] = 0x03
      const addr = (tx[i] << 8) | tx[i + 1]
      const ctrl = tx[i + 2]
      i += 3
      const bsb = ctrl >> 3
      const write = (ctrl & 0x04) !== 0
      const om = ctrl & 0x03
      let len = n - i
      if (om !== 0) {
        // FDM: OM 01/10/11 = 1, 2, 4 data bytes (DS p.14).
        const fixed = om === 3 ? 4 : om
        if (len < fixed) {
          this.misuse('FDM frame with ' + fixed + ' data byte(s) cut short to ' + len)
        } else {
          len = fixed
        }
      }
      this.access(bsb, addr, write, tx, out, i, len)
      i += len
      chained = om !== 0
    }
    this.endFrame()
    return out
  }

  /** A frame from the cable (no FCS). False when the chip drops it. */
  receive(frame: Uint8Array): boolean {
    this.advance()
    const len = frame.length
    const st = this.stats
    if (!this.linkUp || this.resetBusy || this.state[0] !== SR_MACRAW) {
      st.rxDropped++
      st.rxNotListening++
      return false
    }
    // Runts are not delivered (ref B5, ESP tested); neither is anything over 1514 bytes without FCS.
    if (len < MIN_FRAME || len > MAX_FRAME) {
      st.rxDropped++
      st.rxBadSize++
      return false
    }
    if (!this.filterPass(frame)) {
      st.rxDropped++
      st.rxFiltered++
      return false
    }
    if (this.parkLen > 0) this.landParked()
    // A frame that does not fit in the free RX space is dropped whole (ref B9.6, assumed).
    if (len + 2 > this.rxFree(0)) {
      st.rxDropped++
      st.rxNoSpace++
      return false
    }
    if (this.faults.tornReads) {
      this.park.set(frame)
      this.parkLen = len
      return true
    }
    this.land(frame, len)
    return true
  }

  /** Plug (true) or unplug (false) the cable. The link comes up after autonegotiation (next frame). */
  setLink(up: boolean): void {
    this.advance()
    this.cableUp = up
    if (!up) {
      this.dropLink()
    } else if (this.linkPossible() && !this.linkUp && !this.autonegBusy) {
      this.startAutoneg()
    }
  }

  /** True while INTn is asserted (logical; the pin is active low on silicon). */
  get interrupt(): boolean {
    if (this.clock !== null) this.advance()
    return this.intAsserted
  }

  /** PHYCFGR.LNK as the host would read it. */
  get link(): boolean {
    if (this.clock !== null) this.advance()
    return this.linkUp
  }

  /** Count of flagged misuses (same as stats.misuse). */
  get misuseCount(): number {
    return this.stats.misuse
  }

  /**
   * The RSTn pin (active low; DS pin description): the chip goes back to its power-on state,
   * like a freshly constructed simulator: every register at its reset value (SHAR included), sockets
   * closed, buffer sizes 2 KB, pending commands, transmissions and interrupts gone, buffer memory
   * cleared, the PHY out of reset in its default mode (PHYCFGR RST=1, OPMD=0, OPMDC=111).
   * Kept: the cable, the options, the fault switches and the statistics. As at construction, a
   * connected cable is linked at once (the simulator does not replay autonegotiation after power-on),
   * and the VERSIONR-0 window of faults.versionZero follows, as after power-on.
   */
  hardwareReset(): void {
    this.resetBusy = false
    this.wipe()
    this.txMem.fill(0)
    this.rxMem.fill(0)
    this.intOffValid = false
    this.intWait = false
    this.autonegBusy = false
    this.linkUp = false
    this.phyCfg = PHY_RESET_CFG
    this.phyMode = (PHY_RESET_CFG >> 3) & 0x0f
    if (this.linkPossible()) this.linkUpNow()
    // Frame clock: the next two chip-select frames read 0 (as frames 1 and 2 after construction).
    this.versionUntil = this.clock !== null ? this.clock() + this.vzUs : this.frameNo + 1 + this.vzFrames
  }

  /** With a µs clock: let due internal events happen without an SPI access (for a pin watcher). */
  poll(): void {
    this.advance()
  }

  /** Sim-only hook: set IR bits (CONFLICT 0x80, UNREACH 0x40, PPPoE 0x20, MP 0x10), events of the
   *  hardwired stack that this simulator does not generate itself. */
  raiseInterrupt(bits: number): void {
    this.common[C_IR] |= bits & IR_BITS
    this.updateInt()
  }

  // ------------------------------------------------------------------------------------------------
  // Time and events

  /** The current time; while advance() processes a due event (µs clock), the time that event was due. */
  private t(): number {
    if (this.evtAt >= 0) return this.evtAt
    return this.clock !== null ? this.clock() : this.frameNo
  }

  /** "Later": µs on a clock, else frames from now (1 = done when the next frame starts). */
  private after(us: number, frames: number): number {
    return this.clock !== null ? this.t() + us : this.frameNo + frames
  }

  /** µs clock: process an event as of the time it was due. */
  private at(due: number): void {
    if (this.clock !== null) this.evtAt = due
  }

  // Events are noticed lazily (at the next SPI access, receive(), `interrupt` read or poll()) but take
  // effect in the order they were due and as of the time they were due: what they start (a transmission
  // after SEND is accepted, the VERSIONR-0 window after a reset, a frame waiting for the link) is timed
  // from then, not from the host's next access, and an event sees the state the earlier ones left (a
  // SEND accepted before autonegotiation ends finds the link down). The silicon does these things on its
  // own, whether or not the host is clocking SPI. (Processing them by kind at the next access made a
  // SEND's wire time start only when the host next polled, and let a later link-up overtake an earlier
  // SEND.)
  private advance(): void {
    if (this.inAdvance) return
    this.inAdvance = true
    const t = this.t()
    // Earliest due event first; ties keep the order reset, PHY, then per socket command, transmission.
    for (let guard = 0; guard < 4 * NSOCK + 4; guard++) {
      let kind = 0
      let sock = -1
      let due = Infinity
      if (this.resetBusy && this.resetDue <= t) { kind = 1; due = this.resetDue }
      if (this.autonegBusy && this.autonegDue <= t && this.autonegDue < due) { kind = 2; due = this.autonegDue }
      for (let s = 0; s < NSOCK; s++) {
        if (this.cmd[s] !== 0 && this.cmdDue[s] <= t && this.cmdDue[s] < due) { kind = 3; sock = s; due = this.cmdDue[s] }
        if (this.txState[s] === TX_FLIGHT && this.txDue[s] <= t && this.txDue[s] < due) { kind = 4; sock = s; due = this.txDue[s] }
      }
      if (kind === 0) break
      this.at(due)
      if (kind === 1) {
        this.resetBusy = false
        this.versionUntil = this.t() + (this.clock !== null ? this.vzUs : this.vzFrames)
      } else if (kind === 2) {
        this.autonegBusy = false
        if (this.linkPossible()) this.linkUpNow()
      } else if (kind === 3) {
        const c = this.cmd[sock]
        this.cmd[sock] = 0
        this.execute(sock, c)
      } else {
        if (this.faults.tornReads) this.txState[sock] = TX_ARMED
        else this.completeTx(sock)
      }
      this.evtAt = -1
    }
    for (let s = 0; s < NSOCK; s++) {
      if (this.srLagging[s] !== 0 && t >= this.srDue[s]) this.srLagging[s] = 0
      if (this.txState[s] === TX_ARMED && !this.faults.tornReads) this.completeTx(s)
    }
    if (this.intWait && t >= this.intDue) {
      this.intWait = false
      this.updateInt()
    }
    this.inAdvance = false
  }

  /** End of a chip-select frame: whatever the torn-read fault held back lands now. */
  private endFrame(): void {
    if (this.parkLen > 0) this.landParked()
    for (let s = 0; s < NSOCK; s++) {
      if (this.txState[s] === TX_ARMED) this.completeTx(s)
    }
  }

  private misuse(what: string): void {
    this.stats.misuse++
    this.lastMisuse = what
    if (this.onMisuse !== null) this.onMisuse(what)
  }

  // ------------------------------------------------------------------------------------------------
  // SPI data phase

  private access(bsb: number, addr: number, write: boolean, tx: Uint8Array, out: Uint8Array, at: number, len: number): void {
    if (len <= 0) return
    if (write && this.resetBusy) {
      if (!this.writeBlockedFlagged) this.misuse('SPI write while the MR.RST software reset is in progress (ignored)')
      this.writeBlockedFlagged = true
      return
    }
    const kind = bsb & 3
    const s = bsb >> 2
    if (bsb === 0) {
      for (let k = 0; k < len; k++) {
        const a = (addr + k) & 0xffff
        if (write) {
          if (this.resetBusy) {
            // MR.RST was written earlier in this burst: the rest of it is lost.
            this.misuse('SPI write while the MR.RST software reset is in progress (ignored)')
            this.writeBlockedFlagged = true
            return
          }
          this.writeCommon(a, tx[at + k])
        } else {
          out[at + k] = this.readCommon(a)
        }
      }
    } else if (kind === 0) {
      // BSB 4n (n >= 1) is reserved (DS p.15): reads give 0, writes go nowhere.
      this.misuse('reserved block select ' + hex(bsb, 2) + (write ? ' (write ignored)' : ' (reads 0)'))
    } else if (kind === 1) {
      for (let k = 0; k < len; k++) {
        const a = (addr + k) & 0xffff
        if (write) this.writeSocket(s, a, tx[at + k])
        else out[at + k] = this.readSocket(s, a)
      }
    } else {
      // Socket TX (2 + 4n) or RX (3 + 4n) buffer: any 16-bit offset, mapped modulo the socket's size,
      // so a burst wraps within the socket's buffer (DS p.27, 55; ref B4).
      const tx2 = kind === 2
      const size = tx2 ? this.txSize[s] : this.rxSize[s]
      if (size === 0) {
        this.misuse('socket ' + s + ' ' + (tx2 ? 'TX' : 'RX') + ' buffer access with no buffer allocated' +
          ((this.overBudget[s] & (tx2 ? 1 : 2)) !== 0 ? ' (buffer sizes add up to more than 16 KB)' : ''))
        return
      }
      const mem = tx2 ? this.txMem : this.rxMem
      const base = tx2 ? this.txBase[s] : this.rxBase[s]
      const mask = size - 1
      if (write) {
        for (let k = 0; k < len; k++) mem[base + ((addr + k) & mask)] = tx[at + k]
      } else {
        for (let k = 0; k < len; k++) out[at + k] = mem[base + ((addr + k) & mask)]
      }
    }
  }

  private readCommon(a: number): number {
    const c = this.common
    if (a === C_MR) return this.resetBusy ? c[C_MR] | MR_RST : c[C_MR]
    if (a === C_SIR) return this.sir()
    if (a === C_PHYCFGR) return this.phycfgr()
    if (a === C_VERSIONR) {
      return this.faults.versionZero && this.t() < this.versionUntil ? 0x00 : VERSION
    }
    if (a < C_PHYCFGR) return c[a]
    return 0 // 0x002F-0x0038 and above 0x0039: reserved
  }

  private writeCommon(a: number, v: number): void {
    const c = this.common
    if (a === C_MR) {
      if ((v & MR_RST) !== 0) this.startReset()
      else c[C_MR] = v & MR_BITS
    } else if (a < C_INTLEVEL) {
      c[a] = v // GAR, SUBR, SHAR, SIPR
    } else if (a < C_IR) {
      c[a] = v // INTLEVEL
    } else if (a === C_IR) {
      c[C_IR] &= ~v & 0xff // write 1 to clear
      this.updateInt()
    } else if (a === C_IMR) {
      c[C_IMR] = v & IR_BITS
      this.updateInt()
    } else if (a === C_SIR) {
      // read-only; derived from Sn_IR & Sn_IMR
    } else if (a === C_SIMR) {
      c[C_SIMR] = v
      this.updateInt()
    } else if (a < C_UIPR) {
      c[a] = v // RTR, RCR, PTIMER, PMAGIC, PHAR, PSID, PMRU
    } else if (a <= C_UPORTR_END) {
      this.misuse('write to read-only UIPR/UPORTR at ' + hex(a, 4))
    } else if (a === C_PHYCFGR) {
      this.writePhy(v)
    } else if (a === C_VERSIONR) {
      this.misuse('write to read-only VERSIONR')
    } else {
      this.misuse('write to reserved common register ' + hex(a, 4))
    }
  }

  private readSocket(s: number, a: number): number {
    const r = s * SREG
    switch (a) {
      case S_CR: return this.cmd[s]
      case S_SR: return this.srLagging[s] !== 0 ? this.srOld[s] : this.state[s]
      case S_FSR: {
        const v = this.fsr(s) >> 8
        // faults.tornReads: a held-back transmission completes between the two bytes.
        if (this.txState[s] === TX_ARMED) this.completeTx(s)
        return v
      }
      case S_FSR + 1: return this.fsr(s) & 0xff
      case S_TXRD: return this.txRd[s] >> 8
      case S_TXRD + 1: return this.txRd[s] & 0xff
      case S_TXWR: return this.txWr[s] >> 8
      case S_TXWR + 1: return this.txWr[s] & 0xff
      case S_RSR: {
        const v = this.rsr(s) >> 8
        // faults.tornReads: a parked frame lands between the two bytes.
        if (s === 0 && this.parkLen > 0) this.landParked()
        return v
      }
      case S_RSR + 1: return this.rsr(s) & 0xff
      case S_RXRD: return this.rxRdReg[s] >> 8
      case S_RXRD + 1: return this.rxRdReg[s] & 0xff
      case S_RXWR: return this.rxWr[s] >> 8
      case S_RXWR + 1: return this.rxWr[s] & 0xff
    }
    if (a < SREG && !(a === 0x14 || (a > S_TTL && a < S_RXBUF))) return this.sreg[r + a]
    return 0 // reserved
  }

  private writeSocket(s: number, a: number, v: number): void {
    const r = s * SREG
    const g = this.sreg
    switch (a) {
      case S_MR: g[r] = v; return // takes effect at the next OPEN
      case S_CR: this.command(s, v); return
      case S_IR:
        g[r + S_IR] &= ~v & 0xff // write 1 to clear
        this.updateInt()
        return
      case S_RXBUF:
      case S_TXBUF:
        if (!validBufKb(v)) this.misuse('socket ' + s + ' buffer size ' + v + ' KB (valid: 0, 1, 2, 4, 8, 16)')
        g[r + a] = v
        this.layout()
        return
      case S_TXWR: this.txWr[s] = (this.txWr[s] & 0x00ff) | (v << 8); return
      case S_TXWR + 1: this.txWr[s] = (this.txWr[s] & 0xff00) | v; return
      case S_RXRD: this.rxRdReg[s] = (this.rxRdReg[s] & 0x00ff) | (v << 8); return
      case S_RXRD + 1: this.rxRdReg[s] = (this.rxRdReg[s] & 0xff00) | v; return
      case S_IMR:
        g[r + S_IMR] = v
        this.updateInt()
        return
      case S_SR:
      case S_FSR: case S_FSR + 1:
      case S_TXRD: case S_TXRD + 1:
      case S_RSR: case S_RSR + 1:
      case S_RXWR: case S_RXWR + 1:
        this.misuse('socket ' + s + ': write to read-only register at ' + hex(a, 4))
        return
    }
    if ((a > S_SR && a <= S_MSSR_END) || a === S_TOS || a === S_TTL || (a >= S_FRAG && a <= S_KPALVTR)) {
      g[r + a] = v // PORT, DHAR, DIPR, DPORT, MSSR, TOS, TTL, FRAG, KPALVTR: stored only
      return
    }
    this.misuse('socket ' + s + ': write to reserved register ' + hex(a, 4))
  }

  // ------------------------------------------------------------------------------------------------
  // Registers derived from state

  private sir(): number {
    // SIR bit n: socket n has an interrupt Sn_IMR lets through (ref B3 "Sn_IMR conflict": Sn_IR bits
    // set regardless of Sn_IMR, Sn_IMR gates SIR and INTn).
    let v = 0
    for (let s = 0; s < NSOCK; s++) {
      const r = s * SREG
      if ((this.sreg[r + S_IR] & this.sreg[r + S_IMR]) !== 0) v |= 1 << s
    }
    return v
  }

  private phycfgr(): number {
    let v = this.phyCfg & 0xf8
    if (this.linkUp) {
      v |= 0x01
      if (this.linkSpeed === 100) v |= 0x02
      if (this.linkFull) v |= 0x04
    } else {
      v |= 0x02 // observed: 0xBA with no link after reset, i.e. SPD reads 1, DPX 0 (ref B2)
    }
    return v
  }

  /** Sn_TX_FSR: size - (TX_WR - TX_RD) outside TCP mode (DS p.54). */
  private fsr(s: number): number {
    const used = (this.txWr[s] - this.txRd[s]) & 0xffff
    const free = this.txSize[s] - used
    return free < 0 ? 0 : free
  }

  /** Sn_RX_RSR: RX_WR - RX_RD, where RX_RD is the value the last RECV committed (DS p.55). */
  private rsr(s: number): number {
    return (this.rxWr[s] - this.rxRd[s]) & 0xffff
  }

  private rxFree(s: number): number {
    return this.rxSize[s] - this.rsr(s)
  }

  /** Buffers are carved sequentially, socket 0 first, from one 16 KB TX and one 16 KB RX memory. */
  private layout(): void {
    let tb = 0
    let rb = 0
    for (let s = 0; s < NSOCK; s++) {
      const r = s * SREG
      const tkb = this.sreg[r + S_TXBUF]
      const rkb = this.sreg[r + S_RXBUF]
      let ts = validBufKb(tkb) ? tkb * 1024 : 0
      let rs = validBufKb(rkb) ? rkb * 1024 : 0
      let over = 0
      if (tb + ts > MEM) { ts = 0; over |= 1 }
      if (rb + rs > MEM) { rs = 0; over |= 2 }
      this.overBudget[s] = over
      this.txBase[s] = tb
      this.txSize[s] = ts
      this.rxBase[s] = rb
      this.rxSize[s] = rs
      tb += ts
      rb += rs
    }
  }

  // ------------------------------------------------------------------------------------------------
  // Reset

  /** Every register to its reset value (DS p.32-33, 44; ref B2/B3). Buffer memory is left as it is. */
  private wipe(): void {
    const c = this.common
    c.fill(0)
    c[C_RTR] = 0x07
    c[C_RTR + 1] = 0xd0 // 2000 x 100 µs = 200 ms
    c[C_RCR] = 0x08 // [R]
    c[C_PTIMER] = 0x28 // DS p.39
    c[C_PMRU] = 0xff
    c[C_PMRU + 1] = 0xff
    const g = this.sreg
    g.fill(0)
    for (let s = 0; s < NSOCK; s++) {
      const r = s * SREG
      for (let k = 0; k < 6; k++) g[r + S_DHAR + k] = 0xff
      g[r + S_TTL] = 0x80
      g[r + S_RXBUF] = 2
      g[r + S_TXBUF] = 2
      g[r + S_IMR] = 0xff // [R]
      g[r + S_FRAG] = 0x40 // 0x4000 [R]
      this.state[s] = SR_CLOSED
      this.srLagging[s] = 0
      this.mrOpen[s] = 0
      this.cmd[s] = 0
      this.txRd[s] = 0
      this.txWr[s] = 0
      this.rxRd[s] = 0
      this.rxRdReg[s] = 0
      this.rxWr[s] = 0
      this.txState[s] = TX_IDLE
    }
    this.parkLen = 0
    this.layout()
    this.updateInt()
  }

  /** MR.RST: re-initialize everything; MR.RST reads 1 until the reset is over (ref B2, B9.9). */
  private startReset(): void {
    this.wipe()
    // PHYCFGR is a register too: back to RST=1, OPMD=0, OPMDC=111. A PHY held in reset is released;
    // a running PHY keeps its link and mode (not confirmed either way).
    const held = (this.phyCfg & 0x80) === 0
    this.phyCfg = PHY_RESET_CFG
    if (held) {
      this.phyMode = (PHY_RESET_CFG >> 3) & 0x0f
      if (this.linkPossible()) this.startAutoneg()
    }
    this.resetBusy = true
    this.resetDue = this.after(this.resetUs, 1)
  }

  // ------------------------------------------------------------------------------------------------
  // PHY

  private writePhy(v: number): void {
    const old = this.phyCfg
    this.phyCfg = v & 0xf8
    if ((old & 0x80) !== 0 && (v & 0x80) === 0) {
      // RST = 0: the PHY is held in reset, link down, until 1 is written (ref B2, B9.11).
      this.dropLink()
    } else if ((old & 0x80) === 0 && (v & 0x80) !== 0) {
      // Leaving reset: OPMD/OPMDC take effect now and the PHY negotiates again.
      this.phyMode = (v >> 3) & 0x0f
      if (this.linkPossible()) this.startAutoneg()
    }
    // OPMD/OPMDC written without a PHY reset are stored but not applied (assumed).
  }

  private linkPossible(): boolean {
    if (!this.cableUp || (this.phyCfg & 0x80) === 0) return false
    // OPMD=1 with OPMDC=110 is power-down.
    return !((this.phyMode & 0x08) !== 0 && (this.phyMode & 0x07) === 6)
  }

  private startAutoneg(): void {
    this.autonegBusy = true
    this.autonegDue = this.after(this.autonegUs, 1)
  }

  private linkUpNow(): void {
    // Resolve speed/duplex from OPMD:OPMDC (ref B2) and the partner.
    const opmd = (this.phyMode & 0x08) !== 0
    const m = this.phyMode & 0x07
    let speed = this.partnerSpeed
    let full = this.partnerFull
    if (opmd) {
      if (m === 0) { speed = 10; full = false }
      else if (m === 1) { speed = 10; full = true }
      else if (m === 2) { speed = 100; full = false }
      else if (m === 3) { speed = 100; full = true }
      else if (m === 4) { full = false } // 100 half with autonegotiation
    }
    this.linkUp = true
    this.linkSpeed = speed
    this.linkFull = full
    // Frames that waited for the link go out now.
    for (let s = 0; s < NSOCK; s++) {
      if (this.txState[s] === TX_WAIT_LINK) this.startTx(s)
    }
  }

  private dropLink(): void {
    this.autonegBusy = false
    if (!this.linkUp) return
    this.linkUp = false
    for (let s = 0; s < NSOCK; s++) {
      if (this.txState[s] === TX_FLIGHT) {
        this.txState[s] = this.faults.linkDownDuringSend ? TX_HUNG : TX_WAIT_LINK
      }
    }
  }

  // ------------------------------------------------------------------------------------------------
  // Socket commands

  private command(s: number, v: number): void {
    if (v === 0) return
    if (this.cmd[s] !== 0) {
      this.misuse('socket ' + s + ': Sn_CR written (' + hex(v, 2) + ') while ' + hex(this.cmd[s], 2) +
        ' is still pending (poll Sn_CR until 0)')
      return
    }
    this.cmd[s] = v
    this.cmdDue[s] = this.after(this.cmdUs, 1 + this.cmdFrames)
  }

  /** The chip accepts a command: Sn_CR reads 0 from now on (the command may still run, DS p.46). */
  private execute(s: number, c: number): void {
    switch (c) {
      case CR_OPEN: this.open(s); return
      case CR_CLOSE: this.close(s); return
      case CR_SEND:
        if (this.state[s] === SR_MACRAW) this.send1(s)
        else if (this.state[s] === SR_CLOSED) this.misuse('socket ' + s + ': SEND on a closed socket')
        else this.misuse('socket ' + s + ': SEND outside MACRAW mode is not modelled')
        return
      case CR_RECV:
        if (this.state[s] === SR_CLOSED) {
          this.misuse('socket ' + s + ': RECV on a closed socket')
          return
        }
        if (((this.rxRdReg[s] - this.rxRd[s]) & 0xffff) > this.rsr(s)) {
          this.misuse('socket ' + s + ': RECV with Sn_RX_RD moved past Sn_RX_WR')
        }
        this.rxRd[s] = this.rxRdReg[s]
        return
      case CR_LISTEN:
      case CR_CONNECT:
      case CR_DISCON:
      case CR_SEND_MAC:
      case CR_SEND_KEEP:
        this.misuse('socket ' + s + ': command ' + hex(c, 2) + ' of the hardwired TCP/UDP stack is not modelled')
        return
    }
    this.misuse('socket ' + s + ': unknown Sn_CR command ' + hex(c, 2))
  }

  private setState(s: number, v: number): void {
    const lag = this.clock !== null ? this.srLagUs : this.srLagFrames
    if (lag > 0 && this.state[s] !== v) {
      this.srOld[s] = this.srLagging[s] !== 0 ? this.srOld[s] : this.state[s]
      this.srLagging[s] = 1
      this.srDue[s] = this.after(this.srLagUs, this.srLagFrames)
    }
    this.state[s] = v
  }

  private open(s: number): void {
    const r = s * SREG
    const mr = this.sreg[r + S_MR]
    const proto = mr & 0x0f
    let next = SR_CLOSED
    if (proto === 1) next = SR_INIT
    else if (proto === 2) next = SR_UDP
    else if (proto === 3) next = SR_IPRAW
    else if (proto === 4) {
      // "MACRAW should be only used in Socket 0" (DS p.45).
      if (s === 0) next = SR_MACRAW
      else this.misuse('socket ' + s + ': MACRAW is only available on socket 0 (OPEN ignored)')
    } else {
      this.misuse('socket ' + s + ': OPEN with Sn_MR protocol ' + proto + ' (socket stays closed)')
    }
    if ((this.overBudget[s] & 3) !== 0 && next !== SR_CLOSED) {
      this.misuse('socket ' + s + ': opened with buffer sizes adding up to more than 16 KB')
    }
    // OPEN initializes the pointers (DS p.54-55), latches Sn_MR, and empties the buffers.
    const p = this.openPointer
    this.txRd[s] = p
    this.txWr[s] = p
    this.rxRd[s] = p
    this.rxRdReg[s] = p
    this.rxWr[s] = p
    this.txState[s] = TX_IDLE
    this.mrOpen[s] = mr
    if (s === 0) this.parkLen = 0
    this.setState(s, next)
  }

  private close(s: number): void {
    // An unfinished transmission is abandoned (no SENDOK); a parked frame is lost.
    this.txState[s] = TX_IDLE
    if (s === 0) this.parkLen = 0
    this.setState(s, SR_CLOSED)
  }

  /** SEND in MACRAW: everything between TX_RD and TX_WR is ONE frame (ref B6). */
  private send1(s: number): void {
    const st = this.txState[s]
    if (st === TX_HUNG) return // faults.linkDownDuringSend: the transmitter never answers again
    if (st !== TX_IDLE) {
      this.misuse('socket ' + s + ': SEND before the previous SEND completed (ignored)')
      return
    }
    const len = (this.txWr[s] - this.txRd[s]) & 0xffff
    if (this.txSize[s] === 0 || len === 0) {
      this.misuse('socket ' + s + ': SEND with nothing between Sn_TX_RD and Sn_TX_WR')
      this.raiseSocket(s, IR_SENDOK)
      return
    }
    if (len > this.txSize[s]) this.misuse('socket ' + s + ': SEND of ' + len + ' bytes, more than the TX buffer')
    else if (len > MAX_FRAME) this.misuse('socket ' + s + ': SEND of a ' + len + '-byte frame (more than 1514)')
    this.txEnd[s] = this.txWr[s]
    if (!this.linkUp) {
      // Nothing goes out and SENDOK does not come while PHYCFGR.LNK is 0 (ref B6, B9.11).
      this.txState[s] = this.faults.linkDownDuringSend ? TX_HUNG : TX_WAIT_LINK
      return
    }
    this.startTx(s)
  }

  private startTx(s: number): void {
    this.txState[s] = TX_FLIGHT
    if (this.clock !== null) {
      const len = (this.txEnd[s] - this.txRd[s]) & 0xffff
      // Preamble+SFD 8, frame (padded to 60), FCS 4, inter-frame gap 12 bytes at the link speed.
      const bytes = (len < MIN_FRAME ? MIN_FRAME : len) + 24
      this.txDue[s] = this.t() + (bytes * 8) / this.linkSpeed
    } else {
      this.txDue[s] = this.frameNo // done in this same step
    }
  }

  /** The frame is out: hand it to the cable, move TX_RD, raise SENDOK. */
  private completeTx(s: number): void {
    const len = (this.txEnd[s] - this.txRd[s]) & 0xffff
    const wire = len < MIN_FRAME ? MIN_FRAME : len
    const f = new Uint8Array(wire) // zero padding up to 60 bytes (padding by the chip: assumed, ref B6)
    const base = this.txBase[s]
    const mask = this.txSize[s] - 1
    const rd = this.txRd[s]
    for (let i = 0; i < len; i++) f[i] = this.txMem[base + ((rd + i) & mask)]
    if (len < MIN_FRAME) this.stats.shortTx++
    this.stats.txFrames++
    this.txRd[s] = this.txEnd[s]
    this.txState[s] = TX_IDLE
    this.raiseSocket(s, IR_SENDOK)
    if (this.onTransmit !== null) this.onTransmit(f)
  }

  private raiseSocket(s: number, bits: number): void {
    this.sreg[s * SREG + S_IR] |= bits
    this.updateInt()
  }

  // ------------------------------------------------------------------------------------------------
  // MACRAW receive

  /** MACRAW filters as latched at OPEN (Sn_MR, DS p.45; ref B3). */
  private filterPass(f: Uint8Array): boolean {
    const mr = this.mrOpen[0]
    const bcast = f[0] === 0xff && f[1] === 0xff && f[2] === 0xff && f[3] === 0xff && f[4] === 0xff && f[5] === 0xff
    const mcast = !bcast && (f[0] & 1) !== 0
    if ((mr & MR_BCASTB) !== 0 && bcast) return false
    // MMB blocks multicast, but IPv6 multicast (33:33:...) always passes (observed on silicon, ref B3).
    if ((mr & MR_MMB) !== 0 && mcast && !(f[0] === 0x33 && f[1] === 0x33)) return false
    if ((mr & MR_MIP6B) !== 0 && f[12] === 0x86 && f[13] === 0xdd) return false
    if ((mr & MR_MFEN) !== 0 && !bcast && !mcast) {
      // MAC filter: unicast only to our own SHAR.
      const c = this.common
      for (let k = 0; k < 6; k++) if (f[k] !== c[C_SHAR + k]) return false
    }
    return true
  }

  /** Store one record [LEN_HI][LEN_LO][frame], LEN counting its own 2 bytes, no padding (ref B5). */
  private land(buf: Uint8Array, len: number): void {
    const base = this.rxBase[0]
    const mask = this.rxSize[0] - 1
    const w = this.rxWr[0]
    let hdr = len + 2
    if (this.faults.corruptLength !== 0) {
      hdr = this.faults.corruptLength & 0xffff
      this.faults.corruptLength = 0
    }
    const m = this.rxMem
    m[base + (w & mask)] = hdr >> 8
    m[base + ((w + 1) & mask)] = hdr & 0xff
    for (let i = 0; i < len; i++) m[base + ((w + 2 + i) & mask)] = buf[i]
    this.rxWr[0] = (w + len + 2) & 0xffff
    this.stats.rxFrames++
    this.raiseSocket(0, IR_RECV)
  }

  private landParked(): void {
    const len = this.parkLen
    this.parkLen = 0
    if (this.state[0] !== SR_MACRAW || !this.linkUp) {
      this.stats.rxDropped++
      this.stats.rxNotListening++
      return
    }
    if (len + 2 > this.rxFree(0)) {
      this.stats.rxDropped++
      this.stats.rxNoSpace++
      return
    }
    this.land(this.park, len)
  }

  // ------------------------------------------------------------------------------------------------
  // INTn

  /** INTn is asserted while (SIR & SIMR) | (IR & IMR) != 0 (DS p.35-36). After it deasserts, a new
   *  interrupt asserts it only after the INTLEVEL wait IAWT = (INTLEVEL + 1) x 4 / 150 MHz [R]
   *  (0xFFFF: about 1.75 ms). Frame clock approximation: a non-zero INTLEVEL delays re-assertion to
   *  the next chip-select frame; 0 re-asserts at once. */
  private updateInt(): void {
    const c = this.common
    const cond = ((this.sir() & c[C_SIMR]) | (c[C_IR] & c[C_IMR])) !== 0
    if (cond) {
      if (this.intAsserted) return
      if (this.intOffValid) {
        const lvl = (c[C_INTLEVEL] << 8) | c[C_INTLEVEL + 1]
        const wait = this.clock !== null ? ((lvl + 1) * 4) / 150 : (lvl !== 0 ? 1 : 0)
        const ready = this.intOffAt + wait
        if (this.t() < ready) {
          this.intWait = true
          this.intDue = ready
          return
        }
      }
      this.intWait = false
      this.intAsserted = true
      if (this.onInterrupt !== null) this.onInterrupt(true)
    } else {
      this.intWait = false
      if (!this.intAsserted) return
      this.intAsserted = false
      this.intOffValid = true
      this.intOffAt = this.t()
      if (this.onInterrupt !== null) this.onInterrupt(false)
    }
  }
}
