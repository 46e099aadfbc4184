// The device bundles, as built (build/boards/NAME.js), run the whole stack end to end. Each Espruino board's
// bundle runs in the Espruino-like context (tools/espruino-context.ts) with its SPI bus (test/espruino-spi-mock.ts:
// Espruino's send/write semantics), pins, digitalRead/digitalWrite and setWatch wired to a simulated chip, on a
// virtual clock (getTime, setInterval, setTimeout). The test is the LAN: a DHCP server and a host, building and
// checking every frame itself (test/net-frames.ts, test/tcp-peer.ts). Per board:
//
//   DHCP   DISCOVER -> OFFER, REQUEST -> ACK; the bound address is printed and announced (RFC 5227 §2.3)
//   ARP    a request for the board's address is answered with the board file's MAC; one for another is not
//   ICMP   echo requests (small, > 1,000 bytes, and fragmented where the budget reassembles) -> replies with
//          the same id, sequence and data; an echo to the subnet broadcast is not answered
//   UDP    echo (port 7) returns the payload (fragmented both ways where the budget allows it), discard (9)
//          returns nothing, a closed port gets ICMP port unreachable quoting the datagram
//   TCP    (budget.tcbs > 0) echo on port 7: handshake, three segments echoed byte for byte, close handshake,
//          then the connection is gone (RST); discard on port 9; a closed port answers RST. A board without
//          TCP (the Pico) stays silent to a SYN.
//
// A build step that drops or breaks a method on any of these paths fails one of them. The firmware's own
// error line ("spinet: error processing a frame") and exceptions in its callbacks fail the test too.
import { test, TestContext } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import vm from 'node:vm'
import { createEspruinoContext, EspruinoContext } from '../tools/espruino-context.js'
import { boardNames, loadBoard } from '../hal/host/boards.js'
import { packageRoot } from '../hal/host/paths.js'
import { Enc28j60Sim, W5500Sim } from '../hal/sim/index.js'
import { Board } from '../firmware/kernel/board.js'
import { EspruinoSpiMock, flattenSpiData } from './espruino-spi-mock.js'
import {
  ip, ipStr, mac, macStr, eth, arp, ipv4, udp, echoRequest, parseEth, parseArp, parseIp, parseUdp, parseIcmp,
  reassemble, concat, pattern, IpPacket, GW_IP, GW_MAC, PEER_IP, PEER_MAC, BCAST_MAC, ZERO_MAC, MASK,
} from './net-frames.js'
import { tcpSegment, parseTcp, Seg, segStr, flagStr, add, SYN, ACK, FIN, RST, PSH } from './tcp-peer.js'

// ---- the LAN --------------------------------------------------------------------------------------

/** The DHCP server is the router. */
const SERVER_IP = GW_IP
const SERVER_MAC = GW_MAC
/** What the server hands out. */
const LEASED_IP = ip('10.77.0.50')
const LEASE_S = 3600
const SUBNET_BCAST = ip('10.77.0.255')
const ALL_ONES = 0xffffffff
const PEER_PORT = 40000

/** Microseconds the virtual clock moves on every getTime() call, so the drivers' busy-waits end. */
const GETTIME_STEP_US = 5
/** Longest a single call into the bundle may run (a hung firmware fails instead of hanging the suite). */
const CALL_TIMEOUT_MS = 5000
/** SPINET_DEVICE_TRACE=1 prints every frame on the cable, with its virtual time, to stderr. */
const TRACE = process.env.SPINET_DEVICE_TRACE !== undefined && process.env.SPINET_DEVICE_TRACE !== ''

function rd16(b: Uint8Array, o: number): number { return (b[o] << 8) | b[o + 1] }
function rd32(b: Uint8Array, o: number): number { return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0 }
function wr32(b: Uint8Array, o: number, v: number): void { b[o] = v >>> 24; b[o + 1] = (v >>> 16) & 255; b[o + 2] = (v >>> 8) & 255; b[o + 3] = v & 255 }
/** An exception of the bundle as one line (its stack's first frames, not util.inspect's dump of the bundle's source). */
function errorLine(e: unknown): string {
  const stack = e !== null && typeof e === 'object' && typeof (e as { stack?: unknown }).stack === 'string' ? (e as { stack: string }).stack : String(e)
  return stack.split('\n').slice(0, 4).map((l) => l.trim()).join(' | ')
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/** The IPv4 datagram of a frame without any check (for matching and descriptions); null for anything else. */
function rawIp(f: Uint8Array): { proto: number; src: number; dst: number; payload: Uint8Array } | null {
  if (f.length < 34 || rd16(f, 12) !== 0x0800 || (f[14] >> 4) !== 4) return null
  const hlen = (f[14] & 15) * 4
  const total = Math.min(rd16(f, 16), f.length - 14)
  if (total < hlen) return null
  return { proto: f[23], src: rd32(f, 26), dst: rd32(f, 30), payload: f.subarray(14 + hlen, 14 + total) }
}

/** One line per frame for failure messages. */
function describe(f: Uint8Array): string {
  if (f.length < 14) return `runt(${f.length})`
  const type = rd16(f, 12)
  const head = `${macStr(f.subarray(6, 12))}>${macStr(f.subarray(0, 6))}`
  if (type === 0x0806 && f.length >= 42) {
    return `${head} ARP ${rd16(f, 20) === 1 ? 'request' : rd16(f, 20) === 2 ? 'reply' : 'op' + rd16(f, 20)} ` +
      `${ipStr(rd32(f, 28))} asks/tells ${ipStr(rd32(f, 38))}`
  }
  const p = rawIp(f)
  if (p === null) return `${head} type 0x${type.toString(16)} len ${f.length}`
  const ips = `${ipStr(p.src)}>${ipStr(p.dst)}`
  const frag = rd16(f, 20) & 0x3fff ? ` frag(off ${(rd16(f, 20) & 0x1fff) * 8}${rd16(f, 20) & 0x2000 ? ' MF' : ''})` : ''
  const u = p.payload
  if (p.proto === 17 && u.length >= 8) return `${head} UDP ${ips} ${rd16(u, 0)}>${rd16(u, 2)} len ${u.length - 8}${frag}`
  if (p.proto === 1 && u.length >= 4) return `${head} ICMP ${ips} type ${u[0]} code ${u[1]} len ${u.length}${frag}`
  if (p.proto === 6 && u.length >= 20) {
    return `${head} TCP ${ips} ${rd16(u, 0)}>${rd16(u, 2)} ${flagStr(u[13])} seq=${rd32(u, 4)} ack=${rd32(u, 8)} ` +
      `len=${u.length - (u[12] >> 4) * 4}${frag}`
  }
  return `${head} IP proto ${p.proto} ${ips} len ${u.length}${frag}`
}

// ---- DHCP server side (RFC 2131 §2, RFC 2132) ----------------------------------------------------------

interface DhcpMsg { op: number; xid: number; flags: number; ciaddr: number; yiaddr: number; chaddr: string; options: Map<number, Uint8Array> }

function parseDhcp(d: Uint8Array): DhcpMsg | null {
  if (d.length < 240 || d[236] !== 99 || d[237] !== 130 || d[238] !== 83 || d[239] !== 99) return null
  const options = new Map<number, Uint8Array>()
  for (let o = 240; o < d.length && d[o] !== 255;) {
    if (d[o] === 0) { o++; continue }
    assert.ok(o + 2 + d[o + 1] <= d.length, 'DHCP option within the message')
    options.set(d[o], d.slice(o + 2, o + 2 + d[o + 1]))
    o += 2 + d[o + 1]
  }
  return {
    op: d[0], xid: rd32(d, 4), flags: rd16(d, 10), ciaddr: rd32(d, 12), yiaddr: rd32(d, 16),
    chaddr: macStr(d.subarray(28, 34)), options,
  }
}

/** The DHCP message in a frame from the client (UDP 68 -> 67), or null. */
function dhcpFromClient(f: Uint8Array, type: number): DhcpMsg | null {
  const p = rawIp(f)
  if (p === null || p.proto !== 17 || p.payload.length < 8 || rd16(p.payload, 0) !== 68 || rd16(p.payload, 2) !== 67) return null
  const m = parseDhcp(p.payload.subarray(8))
  if (m === null) return null
  const t = m.options.get(53)
  return t !== undefined && t.length === 1 && t[0] === type ? m : null
}

/** A server reply (BOOTREPLY), broadcast as the client's BROADCAST flag asks (RFC 2131 §4.1). */
function dhcpReply(type: number, xid: number, client: Uint8Array): Uint8Array {
  const b = new Uint8Array(300)
  b[0] = 2
  b[1] = 1
  b[2] = 6
  wr32(b, 4, xid)
  b[10] = 0x80
  wr32(b, 16, LEASED_IP)
  wr32(b, 20, SERVER_IP)
  b.set(client, 28)
  b.set([99, 130, 83, 99], 236)
  let o = 240
  const opt = (code: number, v: number[]) => { b[o++] = code; b[o++] = v.length; for (const x of v) b[o++] = x }
  const u32 = (v: number) => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]
  opt(53, [type])
  opt(54, u32(SERVER_IP))
  opt(51, u32(LEASE_S))
  opt(1, u32(MASK))
  opt(3, u32(SERVER_IP))
  b[o] = 255
  return eth(BCAST_MAC, SERVER_MAC, 0x0800,
    ipv4({ src: SERVER_IP, dst: ALL_ONES, proto: 17, payload: udp(SERVER_IP, ALL_ONES, 67, 68, b) }))
}

// ---- the bench: a bundle, its chip and a virtual clock ---------------------------------------------------

interface Timer { fn: () => void; at: number; every: number }
interface OnWire { at: number; f: Uint8Array }

class Bench {
  readonly board: Board
  readonly mac: Uint8Array
  readonly chip: W5500Sim | Enc28j60Sim
  readonly ctx: EspruinoContext
  readonly spi: EspruinoSpiMock
  /** Frames the chip put on the cable that the test has not consumed yet, with the time they left. */
  readonly wire: OnWire[] = []
  /** Wiring misuse seen by the pins and the watch (the SPI mock keeps its own). */
  readonly problems: string[] = []
  /** The hosts on the LAN that answer the board's ARP requests (address -> MAC). */
  readonly hosts = new Map<number, Uint8Array>()
  /** ARP requests of the board the LAN answered. */
  arpAnswered = 0
  /** Virtual time in microseconds. */
  nowUs = 1000000
  watchCalls = 0
  private readonly timers = new Map<number, Timer>()
  private nextTimer = 1
  private watchFn: ((e: unknown) => void) | null = null
  private pendingWatch = false
  private lastInt = false
  private resetLow = false
  private callee: (() => void) | null = null
  private readonly callScript = new vm.Script('__spinetTestCall()')

  constructor(name: string) {
    const board = loadBoard(name)
    this.board = board
    this.mac = mac(board.net.mac)
    this.chip = board.chip === 'w5500' ? new W5500Sim({}) : new Enc28j60Sim({ spiClockHz: board.spi.baud })
    this.chip.onTransmit = (f: Uint8Array) => {
      if (TRACE) console.error(`${(this.nowUs / 1e6).toFixed(6)} ${name} >> ${describe(f)}`)
      this.wire.push({ at: this.nowUs, f: f.slice() })
    }
    this.ctx = createEspruinoContext()
    const pins = new Map<string, object>()
    for (const p of [board.spi.sck, board.spi.miso, board.spi.mosi, board.pins.cs, board.pins.int, board.pins.reset]) {
      if (p !== undefined && !pins.has(p)) pins.set(p, { pin: p })
    }
    const pinSet = new Set<unknown>(pins.values())
    const pin = (n: string | undefined) => (n === undefined ? undefined : pins.get(n))
    const cs = pin(board.pins.cs)
    const int = pin(board.pins.int)
    const reset = pin(board.pins.reset)
    this.spi = new EspruinoSpiMock({
      name: board.spi.bus, chip: this.chip, cs, isPin: (x) => pinSet.has(x),
      Uint8Array: this.ctx.evaluate('Uint8Array') as Uint8ArrayConstructor,
      checkSetup: (opts) => {
        // the option keys must reach Espruino under their own names (tools/bundle.ts mangles the firmware's)
        assert.deepEqual(Object.keys(opts).sort(), ['baud', 'miso', 'mode', 'mosi', 'sck'])
        assert.equal(opts.baud, board.spi.baud)
        assert.equal(opts.mode, board.spi.mode)
        assert.equal(opts.sck, pin(board.spi.sck))
        assert.equal(opts.miso, pin(board.spi.miso))
        assert.equal(opts.mosi, pin(board.spi.mosi))
      },
      afterFrame: () => this.sampleInt(),
    })
    const context = this.ctx.context
    for (const [n, p] of pins) context[n] = p
    context[board.spi.bus] = this.spi.global()
    Object.defineProperty(context, '__spinetTestCall', { value: () => { if (this.callee !== null) this.callee() }, enumerable: false })
    Object.assign(context, {
      digitalWrite: (p: unknown, v: unknown) => {
        const high = v === true || (typeof v === 'number' && v !== 0)
        if (p === reset) {
          // RESET is active low: the chip is back at its power-on state when the line rises again
          if (!high) this.resetLow = true
          else if (this.resetLow) { this.resetLow = false; this.chip.hardwareReset() }
        } else if (p === cs) {
          if (!high) this.problems.push('digitalWrite(CS, 0): chip select driven by hand, outside SPI.send/write')
        } else {
          this.problems.push('digitalWrite on ' + JSON.stringify(p) + ', which is neither CS nor RESET')
        }
      },
      digitalRead: (p: unknown) => {
        if (p !== int) { this.problems.push('digitalRead on ' + JSON.stringify(p) + ', not the INT pin'); return 1 }
        return this.chip.interrupt ? 0 : 1
      },
      setWatch: (fn: (e: unknown) => void, p: unknown, opts: Record<string, unknown>) => {
        if (p !== int) this.problems.push('setWatch on ' + JSON.stringify(p) + ', not the INT pin')
        if (opts === undefined || opts.repeat !== true || opts.edge !== 'falling') {
          this.problems.push('setWatch options ' + JSON.stringify(opts) + ': INT is active low, a repeating falling-edge watch is needed')
        }
        if (this.watchFn !== null) this.problems.push('a second setWatch')
        this.watchFn = fn
        return 1
      },
      // Espruino's clock in seconds; every read moves it on a little, as the real one does while code runs
      getTime: () => { this.nowUs += GETTIME_STEP_US; return this.nowUs / 1e6 },
      setInterval: (fn: () => void, ms?: number) => this.addTimer(fn, ms, true),
      setTimeout: (fn: () => void, ms?: number) => this.addTimer(fn, ms, false),
      clearInterval: (id: number) => { this.timers.delete(id) },
      clearTimeout: (id: number) => { this.timers.delete(id) },
    })
  }

  private addTimer(fn: () => void, ms: number | undefined, repeat: boolean): number {
    const every = Math.max(1, ms ?? 0) * 1000
    const id = this.nextTimer++
    this.timers.set(id, { fn, at: this.nowUs + every, every: repeat ? every : 0 })
    return id
  }

  /** Loads the bundle: it boots, initialises the chip and starts the network, synchronously. */
  boot(): void {
    const file = path.join(packageRoot(), 'build/boards', this.board.name + '.js')
    assert.ok(fs.existsSync(file), `${file} missing: run npm run build`)
    this.ctx.run(fs.readFileSync(file, 'utf8'), this.board.name + '.js')
    this.sampleInt()
    this.serviceWatch()
  }

  /** Runs a callback of the bundle as Espruino does: an exception is printed ("Uncaught") and the device carries on. */
  private invoke(fn: () => void): void {
    this.callee = fn
    try {
      this.callScript.runInContext(this.ctx.context, { timeout: CALL_TIMEOUT_MS })
    } catch (e) {
      this.ctx.errors.push(e)
    } finally {
      this.callee = null
    }
  }

  /** The INT line: a falling edge (asserted now, not at the last look) queues the watch, as Espruino does. */
  private sampleInt(): void {
    const level = this.chip.interrupt
    if (level && !this.lastInt) this.pendingWatch = true
    this.lastInt = level
  }

  /** Runs queued watch events (those raised while they run are queued again). */
  private serviceWatch(): void {
    for (let n = 0; this.pendingWatch; n++) {
      if (n === 200) {
        this.problems.push('interrupt storm: INT fell 200 times in a row without new input')
        this.pendingWatch = false
        break
      }
      this.pendingWatch = false
      if (this.watchFn === null) break
      this.watchCalls++
      const fn = this.watchFn
      const now = this.nowUs / 1e6
      this.invoke(() => fn({ state: false, time: now, lastTime: now }))
      this.sampleInt()
    }
  }

  /** A frame from the cable; the sender's MAC pads it to the 60-byte minimum (IEEE 802.3 §4.2.3.3). */
  inject(f: Uint8Array): void {
    const wire = f.length < 60 ? concat(f, new Uint8Array(60 - f.length)) : f
    if (TRACE) console.error(`${(this.nowUs / 1e6).toFixed(6)} ${this.board.name} << ${describe(f)}`)
    assert.ok(this.chip.receive(wire), `${this.board.name}: the chip refused ${describe(f)}`)
    this.sampleInt()
    this.serviceWatch()
  }

  /** Moves the virtual clock by `ms`, running the bundle's timers as they fall due. */
  advance(ms: number): void {
    const until = this.nowUs + ms * 1000
    for (;;) {
      let due: [number, Timer] | null = null
      for (const e of this.timers) if (e[1].at <= until && (due === null || e[1].at < due[1].at)) due = e
      if (due === null) break
      const [id, t] = due
      if (t.at > this.nowUs) this.nowUs = t.at
      if (t.every > 0) t.at = Math.max(t.at + t.every, this.nowUs + 1)
      else this.timers.delete(id)
      this.invoke(t.fn)
      this.sampleInt()
      this.serviceWatch()
      this.answerArp()
    }
    if (this.nowUs < until) this.nowUs = until
    this.answerArp()
  }

  /** The LAN's hosts answer the board's ARP requests for them (broadcast or unicast). */
  private answerArp(): void {
    for (let i = 0; i < this.wire.length; i++) {
      const f = this.wire[i].f
      if (f.length < 42 || rd16(f, 12) !== 0x0806 || rd16(f, 20) !== 1) continue
      const target = rd32(f, 38)
      const hostMac = this.hosts.get(target)
      if (hostMac === undefined) continue
      this.wire.splice(i--, 1)
      this.arpAnswered++
      this.inject(eth(this.mac, hostMac, 0x0806, arp(2, hostMac, target, this.mac, rd32(f, 28))))
    }
  }

  /** Waits (virtual time) for a frame matching `match`, takes it off the wire and returns it. */
  take(match: (f: Uint8Array) => boolean, what: string, maxMs = 2000): OnWire {
    for (let waited = 0; ; waited += 5) {
      this.answerArp()
      const i = this.wire.findIndex((w) => match(w.f))
      if (i >= 0) return this.wire.splice(i, 1)[0]
      if (waited >= maxMs) assert.fail(`${this.board.name}: no ${what} within ${maxMs} ms\n${this.report()}`)
      this.advance(5)
    }
  }

  /** Takes every frame off the wire except the board's address announcements; returns their descriptions. */
  strays(): string[] {
    const out = this.wire.filter((w) => !isAnnouncement(w.f, this.mac)).map((w) => describe(w.f))
    this.wire.length = 0
    return out
  }

  /** Advances `ms` and asserts the board put nothing on the wire meanwhile (announcements aside). */
  quiet(ms: number, why: string): void {
    this.advance(ms)
    assert.deepEqual(this.strays(), [], `${this.board.name}: ${why}`)
  }

  report(): string {
    return `on the wire: ${JSON.stringify(this.wire.map((w) => describe(w.f)), null, 1)}\n` +
      `output:\n${this.ctx.output.join('\n')}\nerrors: ${this.ctx.errors.map(errorLine).join('; ')}\n` +
      `problems: ${this.problems.concat(this.spi.problems).join('; ')}`
  }

  /** A frame from the peer host to the board. */
  fromPeer(proto: number, payload: Uint8Array, dst = LEASED_IP, dstMac = this.mac): Uint8Array {
    return eth(dstMac, PEER_MAC, 0x0800, ipv4({ src: PEER_IP, dst, proto, payload }))
  }

  /** Matches an IPv4 frame of protocol `proto` from the board's MAC and address to the peer. */
  toPeer(proto: number, also: (p: { payload: Uint8Array }) => boolean = () => true): (f: Uint8Array) => boolean {
    return (f) => {
      const p = rawIp(f)
      return p !== null && p.proto === proto && p.src === LEASED_IP && p.dst === PEER_IP && also(p)
    }
  }

  /** Parses and checks the Ethernet and IPv4 headers of a frame the board sent to the peer. */
  ipToPeer(f: Uint8Array): IpPacket {
    const e = parseEth(f)
    assert.equal(e.src, macStr(this.mac), 'Ethernet source: the board file\'s MAC')
    assert.equal(e.dst, macStr(PEER_MAC), 'Ethernet destination: the peer (learned from its ARP request)')
    assert.equal(e.type, 0x0800)
    const p = parseIp(e.payload)
    assert.equal(p.src, LEASED_IP)
    assert.equal(p.dst, PEER_IP)
    assert.ok(p.ttl > 0, 'TTL')
    return p
  }

  dispose(): void {
    this.timers.clear()
    this.ctx.dispose()
  }
}

/** The board's gratuitous ARP (RFC 5227 §2.3): a broadcast request with sender = target = its address. */
function isAnnouncement(f: Uint8Array, boardMac: Uint8Array): boolean {
  return f.length >= 42 && rd16(f, 12) === 0x0806 && rd16(f, 20) === 1 && sameBytes(f.subarray(22, 28), boardMac) &&
    rd32(f, 28) === LEASED_IP && rd32(f, 38) === LEASED_IP
}

// ---- the stages ---------------------------------------------------------------------------------------

function dhcp(b: Bench): void {
  const name = b.board.name
  assert.ok(b.ctx.output.some((l) => /^link up/.test(l)), `${name}: no "link up"\n${b.report()}`)
  const d = b.take((f) => dhcpFromClient(f, 1) !== null, 'DHCPDISCOVER', 1000)
  const discover = dhcpFromClient(d.f, 1) as DhcpMsg
  const de = parseEth(d.f)
  assert.equal(de.src, macStr(b.mac))
  assert.equal(de.dst, 'ff:ff:ff:ff:ff:ff')
  const dip = parseIp(de.payload)
  assert.equal(dip.src, 0, 'DISCOVER from 0.0.0.0')
  assert.equal(dip.dst, ALL_ONES, 'DISCOVER to 255.255.255.255')
  parseUdp(dip)
  assert.equal(discover.op, 1)
  assert.equal(discover.chaddr, macStr(b.mac))
  assert.equal(discover.flags & 0x8000, 0x8000, 'BROADCAST flag: no address to receive unicast on')
  assert.deepEqual(Array.from(discover.options.get(61) ?? []), [1, ...b.mac], 'client identifier 1 + MAC')
  assert.equal(Buffer.from(discover.options.get(12) ?? []).toString('latin1'), name, 'host name option')
  const params = Array.from(discover.options.get(55) ?? [])
  for (const code of [1, 3, 51]) assert.ok(params.includes(code), `parameter request list asks for option ${code}`)

  b.inject(dhcpReply(2, discover.xid, b.mac))
  const r = b.take((f) => dhcpFromClient(f, 3) !== null, 'DHCPREQUEST', 1000)
  const request = dhcpFromClient(r.f, 3) as DhcpMsg
  const rip = parseIp(parseEth(r.f).payload)
  assert.equal(rip.src, 0)
  assert.equal(rip.dst, ALL_ONES)
  parseUdp(rip)
  assert.equal(request.xid, discover.xid, 'REQUEST keeps the xid of the DISCOVER')
  assert.equal(request.ciaddr, 0)
  assert.equal(request.chaddr, macStr(b.mac))
  assert.equal(rd32(request.options.get(50) ?? new Uint8Array(4), 0), LEASED_IP, 'requested IP = the offer')
  assert.equal(rd32(request.options.get(54) ?? new Uint8Array(4), 0), SERVER_IP, 'server identifier')

  b.inject(dhcpReply(5, discover.xid, b.mac))
  const bound = `dhcp: bound ${ipStr(LEASED_IP)}/24 gateway ${ipStr(SERVER_IP)} lease ${LEASE_S} s`
  const first = b.take((f) => isAnnouncement(f, b.mac), 'gratuitous ARP for the bound address', 500)
  assert.ok(b.ctx.output.includes(bound), `${name}: expected "${bound}"\n${b.report()}`)
  const ae = parseEth(first.f)
  assert.equal(ae.dst, 'ff:ff:ff:ff:ff:ff')
  assert.equal(ae.src, macStr(b.mac))
  const a = parseArp(ae.payload)
  assert.deepEqual([a.op, a.sha, ipStr(a.spa), ipStr(a.tpa)], [1, macStr(b.mac), ipStr(LEASED_IP), ipStr(LEASED_IP)])
  // RFC 5227 §2.3: ANNOUNCE_NUM 2, ANNOUNCE_INTERVAL 2 s
  const second = b.take((f) => isAnnouncement(f, b.mac), 'second gratuitous ARP', 3000)
  const gap = (second.at - first.at) / 1e6
  assert.ok(gap > 1.9 && gap < 2.2, `announcements ${gap} s apart, not 2 s`)
  assert.deepEqual(b.strays(), [], `${name}: nothing else while binding`)
  b.hosts.set(SERVER_IP, SERVER_MAC)
  b.hosts.set(PEER_IP, PEER_MAC)
}

function arpStage(b: Bench): void {
  b.inject(eth(BCAST_MAC, PEER_MAC, 0x0806, arp(1, PEER_MAC, PEER_IP, ZERO_MAC, LEASED_IP)))
  const r = b.take((f) => f.length >= 42 && rd16(f, 12) === 0x0806 && rd16(f, 20) === 2, 'ARP reply', 500)
  const e = parseEth(r.f)
  assert.equal(e.dst, macStr(PEER_MAC), 'the reply is unicast to the requester')
  assert.equal(e.src, macStr(b.mac))
  const a = parseArp(e.payload)
  assert.deepEqual([a.op, a.sha, ipStr(a.spa), a.tha, ipStr(a.tpa)],
    [2, b.board.net.mac, ipStr(LEASED_IP), macStr(PEER_MAC), ipStr(PEER_IP)])
  // a request for someone else's address is not answered
  b.inject(eth(BCAST_MAC, PEER_MAC, 0x0806, arp(1, PEER_MAC, PEER_IP, ZERO_MAC, ip('10.77.0.99'))))
  b.quiet(200, 'an ARP request for 10.77.0.99 must go unanswered')
}

/**
 * Takes the datagram the board sends to the peer (protocol `proto`): one frame, or fragments until the last one
 * (MF clear) and everything before it are in. Returns its first packet's header fields with the whole payload.
 */
function takeDatagram(b: Bench, proto: number, what: string): IpPacket {
  const parts: IpPacket[] = []
  let total = -1
  let got = 0
  while (total < 0 || got < total) {
    const w = b.take(b.toPeer(proto), `${what}${parts.length > 0 ? ` (fragment ${parts.length + 1})` : ''}`, 1000)
    const p = b.ipToPeer(w.f)
    parts.push(p)
    got += p.payload.length
    if ((p.flags & 1) === 0) total = p.fragOff + p.payload.length
  }
  if (parts.length === 1 && parts[0].fragOff === 0) return parts[0]
  return { ...parts[0], payload: reassemble(parts) }
}

/** Sends an echo request (whole or as fragments of `fragSize` bytes) and checks the reply. */
function ping(b: Bench, id: number, seq: number, data: Uint8Array, fragSize = 0): void {
  const msg = echoRequest(id, seq, data)
  if (fragSize === 0) {
    b.inject(b.fromPeer(1, msg))
  } else {
    for (let o = 0; o < msg.length; o += fragSize) {
      const end = Math.min(msg.length, o + fragSize)
      b.inject(eth(b.mac, PEER_MAC, 0x0800, ipv4({
        src: PEER_IP, dst: LEASED_IP, proto: 1, payload: msg.slice(o, end), id: 0x5100 + seq,
        flags: end < msg.length ? 1 : 0, fragOff: o,
      })))
    }
  }
  // the reply: one datagram, or fragments when over 1,480 bytes (reassembled and checked by the test)
  const m = parseIcmp(takeDatagram(b, 1, `ICMP echo reply (${data.length} bytes)`).payload)
  assert.equal(m.type, 0, 'echo reply')
  assert.equal(m.code, 0)
  assert.equal(m.rest, ((id << 16) | seq) >>> 0, 'identifier and sequence number')
  assert.equal(m.data.length, data.length, 'echo data of the same length')
  assert.ok(sameBytes(m.data, data), `echo data returned unmodified (${data.length} bytes)`)
  assert.deepEqual(b.strays(), [], `${b.board.name}: one reply per echo request`)
}

function icmpStage(b: Bench): void {
  ping(b, 0x2b1d, 1, pattern(56, 1))
  const big = Math.min(1400, b.board.budget.frameSlotBytes - 2 - 14 - 20 - 8)
  assert.ok(big > 1000)
  ping(b, 0x2b1d, 2, pattern(big, 2))
  const budget = b.board.budget
  if (budget.reassemblyBuffers > 0) {
    // RFC 1122 §3.3.2: a datagram up to reassemblyBytes - 20 in fragments; its reply leaves fragmented past 1,480
    const n = Math.min(3000, budget.reassemblyBytes - 20 - 8)
    const frag = n + 8 > 1480 ? 1480 : Math.ceil((n + 8) / 2 / 8) * 8
    ping(b, 0x2b1d, 3, pattern(n, 3), frag)
  }
  // RFC 1122 §3.2.2.6: an echo request to a broadcast address may be (and here is) ignored
  b.inject(eth(BCAST_MAC, PEER_MAC, 0x0800, ipv4({ src: PEER_IP, dst: SUBNET_BCAST, proto: 1, payload: echoRequest(7, 7, pattern(32, 7)) })))
  b.quiet(200, 'no reply to a broadcast echo request')
}

/** Sends a UDP datagram from the peer (fragmented when over 1,472 bytes). */
function sendUdp(b: Bench, dport: number, data: Uint8Array, sport = PEER_PORT): Uint8Array {
  const seg = udp(PEER_IP, LEASED_IP, sport, dport, data)
  if (seg.length <= 1480) {
    b.inject(b.fromPeer(17, seg))
  } else {
    for (let o = 0; o < seg.length; o += 1480) {
      const end = Math.min(seg.length, o + 1480)
      b.inject(eth(b.mac, PEER_MAC, 0x0800, ipv4({
        src: PEER_IP, dst: LEASED_IP, proto: 17, payload: seg.slice(o, end), id: 0x6200 + (data.length & 0xff),
        flags: end < seg.length ? 1 : 0, fragOff: o,
      })))
    }
  }
  return seg
}

function udpEcho(b: Bench, data: Uint8Array): void {
  sendUdp(b, 7, data)
  const u = parseUdp(takeDatagram(b, 17, `UDP echo reply (${data.length} bytes)`))
  assert.equal(u.sport, 7, 'from the echo port')
  assert.equal(u.dport, PEER_PORT, 'to the port it came from')
  assert.equal(u.data.length, data.length, 'UDP echo returns as many bytes as it got')
  assert.ok(sameBytes(u.data, data), `UDP echo returns the payload (${data.length} bytes)`)
  assert.deepEqual(b.strays(), [], `${b.board.name}: one reply per datagram`)
}

function udpStage(b: Bench): void {
  const budget = b.board.budget
  udpEcho(b, Buffer.from('spinet device bundle, udp echo'))
  // the largest datagram a socket's ring holds (R - 12; without rings, udpRxBytes 0, the callback gets it
  // straight from the frame), within what reassembly and the TX ring allow
  let n = budget.udpRxBytes > 0 ? budget.udpRxBytes - 12 : 65507
  n = Math.min(n, budget.reassemblyBuffers > 0 ? budget.reassemblyBytes - 20 - 8 : 1472)
  n = Math.min(n, budget.txSlots * 1480 - 8)
  udpEcho(b, pattern(n, 21))
  // RFC 863: discarded, no answer
  sendUdp(b, 9, pattern(200, 22))
  b.quiet(200, 'UDP discard must not answer')
  // RFC 1122 §4.1.3.1: a closed port answers ICMP port unreachable quoting the IP header and 8 bytes
  const seg = sendUdp(b, 4444, pattern(40, 23))
  const w = b.take(b.toPeer(1), 'ICMP port unreachable', 1000)
  const p = b.ipToPeer(w.f)
  const m = parseIcmp(p.payload)
  assert.deepEqual([m.type, m.code, m.rest], [3, 3, 0], 'destination unreachable, port unreachable')
  const sent = ipv4({ src: PEER_IP, dst: LEASED_IP, proto: 17, payload: seg })
  assert.ok(sameBytes(m.data, sent.subarray(0, 28)), 'the quote is the datagram\'s IP header and first 8 bytes')
  assert.deepEqual(b.strays(), [], `${b.board.name}: one ICMP error`)
}

// ---- TCP: a scripted peer --------------------------------------------------------------------------

class TcpPeer {
  sndNxt: number
  rcvNxt = 0
  /** What the board acknowledged and the window it offered last. */
  boardAck: number
  wnd = 0
  readonly iss: number

  constructor(readonly b: Bench, readonly sport: number, readonly dport: number, iss: number) {
    this.iss = iss
    this.sndNxt = iss
    this.boardAck = iss
  }

  /** A segment at SND.NXT acknowledging RCV.NXT; SND.NXT moves past its data, SYN and FIN. */
  send(flags: number, data: Uint8Array = new Uint8Array(0)): void {
    const seg = tcpSegment({ src: PEER_IP, dst: LEASED_IP, sport: this.sport, dport: this.dport, seq: this.sndNxt,
      ack: this.rcvNxt, flags, wnd: 8192, data, mss: (flags & SYN) !== 0 ? 1460 : undefined })
    this.b.inject(this.b.fromPeer(6, seg))
    this.sndNxt = add(this.sndNxt, data.length + ((flags & (SYN | FIN)) !== 0 ? 1 : 0))
  }

  /** The next segment of this connection from the board (checksums checked); tracks its ACK and window. */
  next(what: string, maxMs = 1000): Seg {
    const w = this.b.take(this.b.toPeer(6, (p) => p.payload.length >= 20 && rd16(p.payload, 0) === this.dport &&
      rd16(p.payload, 2) === this.sport), `${what} (port ${this.dport})`, maxMs)
    const p = this.b.ipToPeer(w.f)
    const s = parseTcp(p.src, p.dst, p.payload)
    if ((s.flags & ACK) !== 0) {
      assert.ok(((s.ack - this.boardAck) | 0) >= 0, `ACK does not go backwards: ${segStr(s)}`)
      assert.ok(((this.sndNxt - s.ack) | 0) >= 0, `ACK of nothing we sent: ${segStr(s)}`)
      this.boardAck = s.ack
      this.wnd = s.wnd
    }
    return s
  }

  /** Three-way handshake (RFC 9293 §3.5). */
  connect(): Seg {
    this.send(SYN)
    const s = this.next('SYN-ACK')
    assert.equal(flagStr(s.flags), flagStr(SYN | ACK), `SYN-ACK expected, got ${segStr(s)}`)
    assert.equal(s.ack, add(this.iss, 1), 'the SYN-ACK acknowledges our SYN')
    assert.ok(s.mss !== undefined && s.mss >= 536 && s.mss <= 1460, `MSS option ${s.mss}`)
    assert.ok(s.wnd > 0 && s.wnd <= this.b.board.budget.tcpRxBytes, `an open window within the receive ring: ${s.wnd}`)
    assert.equal(s.data.length, 0)
    this.rcvNxt = add(s.seq, 1)
    this.send(ACK)
    return s
  }

  /** Sends `chunks` as segments within the board's window and returns what the board sent back meanwhile. */
  exchange(chunks: Uint8Array[], expectBack: number): Uint8Array {
    const back: number[] = []
    const total = chunks.reduce((n, c) => n + c.length, 0)
    const end = add(this.sndNxt, total)
    let i = 0
    for (let rounds = 0; ; rounds++) {
      assert.ok(rounds < 100, 'the exchange makes progress')
      while (i < chunks.length && ((add(this.sndNxt, chunks[i].length) - add(this.boardAck, this.wnd)) | 0) <= 0) {
        this.send(ACK | PSH, chunks[i++])
      }
      if (back.length >= expectBack && this.boardAck === end && i === chunks.length) break
      const s = this.next(`data or ACK (${back.length}/${expectBack} bytes back, acked ${(this.boardAck - this.iss - 1) >>> 0}/${total})`)
      assert.equal(s.flags & (SYN | RST | FIN), 0, `no SYN, RST or FIN during the exchange: ${segStr(s)}`)
      if (s.data.length > 0) {
        assert.equal(s.seq, this.rcvNxt, `in-order data, no retransmission: ${segStr(s)}`)
        for (const x of s.data) back.push(x)
        this.rcvNxt = add(this.rcvNxt, s.data.length)
        this.send(ACK)
      }
    }
    assert.equal(back.length, expectBack, 'no more data than expected')
    return Uint8Array.from(back)
  }

  /** We close first (FIN); the service closes its side after it (onEnd); we acknowledge its FIN. */
  close(): void {
    this.send(FIN | ACK)
    let finSeen = false
    while (!finSeen || this.boardAck !== this.sndNxt) {
      const s = this.next('ACK and FIN of the close')
      assert.equal(s.flags & (SYN | RST), 0, `no SYN or RST in the close: ${segStr(s)}`)
      assert.equal(s.data.length, 0, `no data after our FIN: ${segStr(s)}`)
      if ((s.flags & FIN) !== 0) {
        assert.ok(!finSeen, 'one FIN')
        assert.equal(s.seq, this.rcvNxt, 'the FIN follows the data')
        finSeen = true
        this.rcvNxt = add(this.rcvNxt, 1)
        this.send(ACK)
      }
    }
  }
}

function tcpStage(b: Bench): void {
  const name = b.board.name
  // echo (RFC 862): three segments of a few hundred bytes come back byte for byte
  const echo = new TcpPeer(b, PEER_PORT + 1, 7, 0x1000_0000)
  echo.connect()
  const chunks = [pattern(300, 31), pattern(280, 32), pattern(320, 33)]
  const back = echo.exchange(chunks, 900)
  assert.ok(sameBytes(back, concat(...chunks)), `${name}: TCP echo returns the bytes in order`)
  echo.close()
  b.quiet(300, 'nothing after the close handshake (no retransmitted FIN)')
  // the connection is gone: a segment for it is answered by a reset (RFC 9293 §3.10.7.1, CLOSED: <SEQ=SEG.ACK><CTL=RST>)
  echo.send(ACK, new Uint8Array(0))
  const rst = echo.next('RST for a closed connection')
  assert.equal(flagStr(rst.flags), flagStr(RST), `RST expected, got ${segStr(rst)}`)
  assert.equal(rst.seq, echo.rcvNxt, 'the RST takes its sequence number from our ACK')
  assert.deepEqual(b.strays(), [])

  // discard (RFC 863): bytes acknowledged, none returned
  if (b.board.budget.listeners >= 2) {
    const discard = new TcpPeer(b, PEER_PORT + 2, 9, 0x2000_0000)
    discard.connect()
    discard.exchange([pattern(400, 41), pattern(100, 42)], 0)
    discard.close()
    b.quiet(300, 'nothing after the discard connection closed')
  }

  // a closed port (RFC 9293 §3.10.7.1): <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
  const closed = new TcpPeer(b, PEER_PORT + 3, 23, 0x3000_0000)
  closed.send(SYN)
  const r = closed.next('RST for a SYN to a closed port')
  assert.equal(flagStr(r.flags), flagStr(RST | ACK), `RST|ACK expected, got ${segStr(r)}`)
  assert.equal(r.ack, add(closed.iss, 1))
  assert.equal(r.seq, 0)
  assert.deepEqual(b.strays(), [])
}

// ---- the SPI mock itself ------------------------------------------------------------------------------

test('the SPI mock follows Espruino: send returns the kind it got, write frames its arguments, {data, count} repeats', () => {
  const frames: number[][] = []
  const cs = { pin: 'B1' }
  const other = { pin: 'A8' }
  const ctx = createEspruinoContext()
  const CtxU8 = ctx.evaluate('Uint8Array') as Uint8ArrayConstructor
  const spi = new EspruinoSpiMock({
    name: 'SPI1', cs, isPin: (x) => x === cs || x === other, Uint8Array: CtxU8,
    chip: { send: (tx) => { frames.push(Array.from(tx)); return tx.map((x) => x ^ 0xff) } },
  })
  assert.equal(spi.send(0x0f, cs), 0xf0)
  assert.equal(spi.send('AB', cs), String.fromCharCode(0xbe, 0xbd))
  const r = spi.send([Uint8Array.of(1, 2), { data: 0, count: 3 }, [4, [5]], 'a', { data: [6, 7], count: 2 }], cs) as Uint8Array
  assert.ok(r instanceof CtxU8, 'a Uint8Array of the device\'s realm')
  assert.deepEqual(frames[2], [1, 2, 0, 0, 0, 4, 5, 97, 6, 7, 6, 7])
  assert.deepEqual(Array.from(r), frames[2].map((x) => x ^ 0xff))
  assert.equal(spi.write(Uint8Array.of(9), new Uint16Array([0x1234]), cs), undefined)
  assert.deepEqual(frames[3], [9, 0x34])
  assert.throws(() => spi.send(Uint8Array.of(1), other), /not the board file's CS pin/)
  assert.throws(() => spi.write(Uint8Array.of(1)), /without a chip select/)
  assert.throws(() => spi.send({ bytes: [1] }, cs), /must be of the form \{data : \.\.\., count : N\}/)
  assert.equal(frames.length, 4, 'a refused call reaches the chip not at all')
  assert.equal(spi.problems.length, 3)
  const out: number[] = []
  flattenSpiData({ callback: () => [1, 2] }, out)
  assert.deepEqual(out, [1, 2])
  ctx.dispose()
})

// ---- per board ----------------------------------------------------------------------------------------

for (const name of boardNames().filter((n) => loadBoard(n).platform === 'espruino')) {
  const board = loadBoard(name)
  const tcp = board.budget.tcbs > 0
  test(`${name}: the device bundle serves DHCP, ARP, ICMP, UDP${tcp ? ' and TCP' : ''} end to end on its ${board.chip}`, async (t: TestContext) => {
    const b = new Bench(name)
    try {
      b.boot()
      let failed = false
      const stage = async (title: string, fn: () => void) => {
        // a stage after a failed one would only repeat its failure
        await t.test(title, { skip: failed ? 'an earlier stage failed' : false }, () => {
          try {
            fn()
            assert.deepEqual(b.ctx.errors.map(errorLine), [], 'no exception escaped the bundle')
          } catch (e) {
            failed = true
            throw e
          }
        })
      }
      await stage('DHCP: DISCOVER, OFFER, REQUEST, ACK; bound address printed and announced', () => dhcp(b))
      await stage('ARP: a request for its address is answered with the board file\'s MAC', () => arpStage(b))
      await stage('ICMP: echo requests answered with id, sequence and data unchanged', () => icmpStage(b))
      await stage('UDP: echo on 7, discard on 9, port unreachable elsewhere', () => udpStage(b))
      if (tcp) {
        await stage('TCP: echo on 7 (handshake, data, close), discard on 9, RST from a closed port', () => tcpStage(b))
      } else {
        await stage('TCP: a board without TCBs carries no TCP and stays silent to a SYN', () => {
          b.inject(b.fromPeer(6, tcpSegment({ src: PEER_IP, dst: LEASED_IP, sport: PEER_PORT, dport: 7, seq: 1, flags: SYN, mss: 1460 })))
          b.quiet(300, 'no answer to a SYN without TCP')
        })
      }
      const u = b.spi.usage
      t.diagnostic(`${name}: ${u.frames} chip-select frames (${u.bytes} bytes): send(number) ${u.sendNumber}, ` +
        `send(string) ${u.sendString}, send(bytes) ${u.sendBytes}, write ${u.write}, {data,count} items ${u.repeats}; ` +
        `${b.watchCalls} INT watch calls, ${b.arpAnswered} ARP requests answered; virtual time ${(b.nowUs / 1e6).toFixed(2)} s`)
      assert.deepEqual(b.ctx.errors.map(errorLine), [], 'no exception escaped the bundle')
      assert.deepEqual(b.problems.concat(b.spi.problems), [], 'pins and SPI used as wired')
      assert.ok(u.setup === 1, 'SPI set up once')
      assert.deepEqual(b.ctx.output.filter((l) => /error|uncaught|cannot|no free/i.test(l)), [], 'no error printed by the firmware')
      if (board.chip === 'w5500') assert.equal((b.chip as W5500Sim).misuseCount, 0, 'the driver used the W5500 as its datasheet allows')
      else assert.equal((b.chip as Enc28j60Sim).misuse, 0, 'the driver used the ENC28J60 as its datasheet allows')
    } finally {
      b.dispose()
    }
  })
}
