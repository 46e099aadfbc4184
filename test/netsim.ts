// The netsim harness (ARCHITECTURE.md, testing layer 3): stacks on a simulated Ethernet link in virtual
// time. Everything here is deterministic from a seed: the same seed gives the same frames, the same faults
// and the same numbers, so a failure reproduces and a goodput table can be kept as a snapshot.
//
//   Scheduler    a priority queue of (time µs, insertion order, fn): the only clock. It also serves as the
//                `schedule(fn, ms)` of hal/host/faulty-wire.ts, so the cable's delays and reorder hold-backs
//                run in virtual time.
//   SimNode      one NetStack on its own core (each wasm instance has its own memory; or the portable core),
//                its arena laid out from the host board's budget with overrides (the netsim varies the TCP
//                ring sizes). It is the NIC too: frames leave the TX ring one at a time at the line rate
//                (serialisation of frame + preamble/FCS/gap), frames from the cable go straight into the
//                RX ring (a full ring drops and counts, like a chip whose buffer is full). The stack is
//                polled when frames arrive, when a TX slot frees after the ring was full, and at the
//                stack's next timer deadline; never on a fixed tick.
//   Link         wirePair(delay = propagation latency) with faultyCable around end A: faults apply in both
//                directions (A→B on A's "out" lane, B→A on A's "in" lane), each lane from its own stream of
//                the seed.
//   ScriptedPeer a test-side TCP/IP end (its own ARP answer, its own segment builder and parser written from
//                RFC 9293 and RFC 791, nothing shared with firmware/): it sends hand-built segments and
//                collects what the stack answers; PeerConn keeps the test's side of one connection.
//   ChipNode     the example firmware (firmware/main.ts) on a simulated ENC28J60 or W5500 through its real
//                driver, stepped in virtual time, for transfers to its TCP echo and discard services.
//   runTransfer  a bulk transfer between two stacks on the low-level API (firmware/tcp/tcp.ts), hashed with
//                SHA-256 at the receiver, run until both TCB tables are empty; goodputTable() runs the
//                loss × buffer table kept in test/tcp-netsim-goodput.snapshot.json and printed by
//                tools/bench-tcp-netsim.ts.
//
// The CPU is taken as infinitely fast (a poll costs no virtual time): the numbers measure the protocol on
// the link, not the JavaScript.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { referenceChecksum } from './helpers.js'
import { createWasmCore, createPortableCore } from '../hal/host/core.js'
import { loadBoard } from '../hal/host/boards.js'
import { wirePair, faultyCable, FaultOptions, FaultyCable } from '../hal/host/faulty-wire.js'
import type { Cable } from '../hal/host/cable.js'
import { layoutArena, Budget } from '../firmware/kernel/arena.js'
import { Core } from '../firmware/core/contract.js'
import { NetStack } from '../firmware/net/stack.js'
import { attachTcp, Tcp, TcpOptions, TcpHandler } from '../firmware/tcp/tcp.js'
import { VirtualClock } from '../firmware/kernel/clock.js'
import { Firmware } from '../firmware/main.js'
import type { EthernetDriver } from '../hal/driver.js'
import { Enc28j60Sim, W5500Sim } from '../hal/sim/index.js'
import { Enc28j60Driver } from '../hal/enc28j60.js'
import { W5500Driver } from '../hal/w5500.js'
import { simPlatform } from '../hal/host/sim-platform.js'
import { FIN, SYN, RST, PSH, ACK, URG } from './tcp-peer.js'

// ---- the virtual clock and scheduler ------------------------------------------------------------------

interface Event { t: number; seq: number; fn: () => void }

/** Virtual time in microseconds; events at the same time run in the order they were scheduled. */
export class Scheduler {
  now = 0
  /** Events run so far (a measure of the work a scenario took). */
  events = 0
  private heap: Event[] = []
  private seq = 0

  /** Runs `fn` at absolute time `t` µs (not before now). */
  at(t: number, fn: () => void): void {
    const e: Event = { t: t < this.now ? this.now : t, seq: this.seq++, fn }
    const h = this.heap
    h.push(e)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!less(h[i], h[p])) break
      const x = h[i]; h[i] = h[p]; h[p] = x
      i = p
    }
  }

  /** Runs `fn` after `us` microseconds. */
  after(us: number, fn: () => void): void {
    this.at(this.now + Math.max(0, us), fn)
  }

  /** The ScheduleFn of hal/host/cable.ts (milliseconds), in virtual time. */
  readonly schedule = (fn: () => void, ms: number): void => { this.after(ms * 1000, fn) }

  pending(): number { return this.heap.length }

  /** The time of the next event, or Infinity. */
  nextTime(): number { return this.heap.length > 0 ? this.heap[0].t : Infinity }

  /** Runs the earliest event; false when there is none. */
  step(): boolean {
    const h = this.heap
    if (h.length === 0) return false
    const top = h[0]
    const last = h.pop()!
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && less(h[l], h[m])) m = l
        if (r < h.length && less(h[r], h[m])) m = r
        if (m === i) break
        const x = h[i]; h[i] = h[m]; h[m] = x
        i = m
      }
    }
    this.now = top.t
    this.events++
    top.fn()
    return true
  }

  /**
   * Runs events until `done()` holds (checked after each event), time passes `untilUs`, or nothing is left.
   * Returns whether `done()` held.
   */
  runUntil(done: () => boolean, untilUs: number): boolean {
    if (done()) return true
    while (this.heap.length > 0 && this.heap[0].t <= untilUs) {
      this.step()
      if (done()) return true
    }
    return done()
  }

  /** Runs every event up to `untilUs` and leaves the clock there. */
  runFor(us: number): void {
    const end = this.now + us
    while (this.heap.length > 0 && this.heap[0].t <= end) this.step()
    this.now = end
  }
}

function less(a: Event, b: Event): boolean {
  return a.t < b.t || (a.t === b.t && a.seq < b.seq)
}

// ---- addresses ------------------------------------------------------------------------------------------

export function ip(s: string): number {
  const p = s.split('.').map(Number)
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0
}

export function ipStr(a: number): string {
  return [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.')
}

export const A_IP = ip('10.9.0.1')
export const B_IP = ip('10.9.0.2')
export const PEER_IP = ip('10.9.0.3')
export const NETMASK = ip('255.255.255.0')
export const A_MAC = Uint8Array.from([0x02, 0x4e, 0x53, 0, 0, 0x01])
export const B_MAC = Uint8Array.from([0x02, 0x4e, 0x53, 0, 0, 0x02])
export const PEER_MAC = Uint8Array.from([0x02, 0x4e, 0x53, 0, 0, 0x03])

// ---- a stack on the link --------------------------------------------------------------------------------

/** Line rate in bits per µs (= Mbit/s) and the per-frame overhead on the wire (preamble+SFD 8, FCS 4, gap 12). */
export const WIRE_OVERHEAD = 24
export const MIN_WIRE_FRAME = 60

export type CoreKind = 'wasm' | 'portable'

export interface NodeOptions {
  name: string
  mac: Uint8Array
  ip: number
  core?: CoreKind
  /** Overrides of the host board's budget (e.g. tcpRxBytes, tcpTxBytes, tcbs). */
  budget?: Partial<Budget>
  /** Line rate in Mbit/s (default 10). */
  rateMbps?: number
  /** Seed of the stack's random source. */
  seed: number
  log?: (line: string) => void
}

/** The budget the netsim stacks use: the host board's, smaller tables, with overrides. */
export function netsimBudget(over: Partial<Budget> = {}): Budget {
  const board = loadBoard('host')
  return { ...board.budget, tcbs: 8, listeners: 4, backlog: 4, ...over }
}

export interface NodeStats {
  txFrames: number
  txBytes: number
  rxFrames: number
  /** Frames that found the RX ring full. */
  rxDropped: number
  polls: number
}

export class SimNode {
  readonly name: string
  readonly core: Core
  readonly stack: NetStack
  readonly budget: Budget
  readonly u8: Uint8Array
  readonly stats: NodeStats = { txFrames: 0, txBytes: 0, rxFrames: 0, rxDropped: 0, polls: 0 }
  readonly logs: string[] = []
  /** Called after every poll (the test's view of the stack: deliveries, assertions). */
  afterPoll: (() => void) | null = null
  /** Every frame this node sends, copied (for tests that look at the wire); off by default. */
  sniff: ((frame: Uint8Array, now: number) => void) | null = null
  private cable: Cable | null = null
  private readonly bitsPerUs: number
  private txBusy = false
  private pollAt = Infinity
  private pollGen = 0
  private wantPollOnTxFree = false
  private samePollTime = -1
  private samePollCount = 0

  constructor(readonly sched: Scheduler, o: NodeOptions) {
    this.name = o.name
    this.budget = netsimBudget(o.budget)
    const kind = o.core ?? 'wasm'
    if (kind === 'wasm') {
      this.core = createWasmCore()
    } else {
      this.core = createPortableCore(layoutArena(this.budget, 0, 1 << 30).total)
    }
    const layout = layoutArena(this.budget, this.core.base, this.core.size)
    this.bitsPerUs = o.rateMbps ?? 10
    let seed = (o.seed >>> 0) || 1
    const logs = this.logs
    const log = o.log
    this.stack = new NetStack({
      core: this.core, layout, mac: o.mac,
      config: { ip: o.ip, mask: NETMASK, gateway: 0 },
      log: (l) => { logs.push(l); if (log) log(o.name + ': ' + l) },
      random: () => {
        seed ^= seed << 13; seed >>>= 0
        seed ^= seed >>> 17
        seed ^= seed << 5; seed >>>= 0
        return seed / 4294967296
      },
    })
    this.u8 = new Uint8Array(this.core.buffer)
  }

  /** The current virtual time in µs (what the node passes to poll). */
  readonly now = (): number => this.sched.now

  /** Connects the node to a cable end. */
  attach(cable: Cable): void {
    this.cable = cable
    cable.onFrame = (f) => this.receive(f)
  }

  /** A frame from the cable: into the RX ring (or dropped when it is full), and a poll now. */
  receive(frame: Uint8Array): void {
    this.stats.rxFrames++
    const rx = this.stack.rx
    const off = rx.reserve()
    if (off < 0 || frame.length > rx.capacity) {
      rx.refuse()
      this.stats.rxDropped++
      return
    }
    this.u8.set(frame, off)
    rx.commit(frame.length)
    this.requestPoll(this.sched.now)
  }

  /** Asks for a poll at time `t` (coalesced: one pending poll, the earliest asked for). */
  requestPoll(t: number): void {
    if (t < this.sched.now) t = this.sched.now
    if (t >= this.pollAt) return
    this.pollAt = t
    const gen = ++this.pollGen
    this.sched.at(t, () => { if (gen === this.pollGen) this.poll() })
  }

  /** Polls now (after a test called into the stack from outside a poll, e.g. a socket write). */
  kick(): void {
    this.requestPoll(this.sched.now)
  }

  private poll(): void {
    this.pollAt = Infinity
    this.pollGen++
    const now = this.sched.now
    // A stack that asks to be polled again at the same instant forever is a livelock: fail loudly.
    if (now === this.samePollTime) {
      if (++this.samePollCount > 10000) throw new Error(this.name + ': polled 10000 times at t=' + now + ' µs without time passing (livelock)')
    } else {
      this.samePollTime = now
      this.samePollCount = 0
    }
    const stack = this.stack
    stack.poll(now)
    this.stats.polls++
    if (this.afterPoll !== null) this.afterPoll()
    this.startTx()
    if (stack.rx.count() > 0) this.requestPoll(now)
    if (stack.tx.free() === 0) this.wantPollOnTxFree = true
    const next = stack.timers.next()
    if (next >= 0) this.requestPoll(next)
  }

  /** The NIC: takes the oldest frame from the TX ring when the line is free and puts it on the wire. */
  private startTx(): void {
    if (this.txBusy) return
    const tx = this.stack.tx
    const off = tx.peek()
    if (off < 0) return
    const len = tx.peekLength()
    const frame = this.u8.slice(off, off + len)
    tx.release()
    this.txBusy = true
    const wireBytes = Math.max(len, MIN_WIRE_FRAME) + WIRE_OVERHEAD
    this.stats.txFrames++
    this.stats.txBytes += len
    if (this.wantPollOnTxFree) {
      this.wantPollOnTxFree = false
      this.requestPoll(this.sched.now)
    }
    this.sched.after((wireBytes * 8) / this.bitsPerUs, () => {
      this.txBusy = false
      if (this.sniff !== null) this.sniff(frame, this.sched.now)
      if (this.cable !== null) this.cable.send(frame)
      this.startTx()
    })
  }

  /** Counter value by name. */
  c(name: string): number {
    return this.stack.counters.get(name)
  }
}

// ---- the link -----------------------------------------------------------------------------------------

export interface NetsimOptions {
  seed: number
  /** Faults on the link, both directions (delayMs/jitterMs add to the latency). */
  faults?: FaultOptions
  /** One-way propagation latency in ms (default 1). */
  latencyMs?: number
  /** Line rate in Mbit/s (default 10, an ENC28J60's). */
  rateMbps?: number
  core?: CoreKind
  budgetA?: Partial<Budget>
  budgetB?: Partial<Budget>
  log?: (line: string) => void
}

export interface Netsim {
  sched: Scheduler
  a: SimNode
  b: SimNode
  /** End A of the link, wrapped with the faults (stats.out: A→B, stats.in: B→A). */
  link: FaultyCable
}

/** Two stacks, A (10.9.0.1) and B (10.9.0.2), on one simulated link. */
export function makeNetsim(o: NetsimOptions): Netsim {
  const sched = new Scheduler()
  const rate = o.rateMbps ?? 10
  const a = new SimNode(sched, { name: 'A', mac: A_MAC, ip: A_IP, core: o.core, budget: o.budgetA, rateMbps: rate, seed: o.seed * 2 + 1, log: o.log })
  const b = new SimNode(sched, { name: 'B', mac: B_MAC, ip: B_IP, core: o.core, budget: o.budgetB, rateMbps: rate, seed: o.seed * 2 + 2, log: o.log })
  const [endA, endB] = wirePair({ schedule: sched, delayMs: o.latencyMs ?? 1, names: ['netsim:A', 'netsim:B'] })
  const link = faultyCable(endA, { ...(o.faults ?? {}), seed: o.seed }, sched)
  a.attach(link)
  b.attach(endB)
  return { sched, a, b, link }
}

// ---- test-side frames: TCP/IP written from the RFCs ------------------------------------------------------

function be16(b: Uint8Array, o: number, v: number): void { b[o] = (v >>> 8) & 255; b[o + 1] = v & 255 }
function be32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24; b[o + 1] = (v >>> 16) & 255; b[o + 2] = (v >>> 8) & 255; b[o + 3] = v & 255
}
function rd16(b: Uint8Array, o: number): number { return (b[o] << 8) | b[o + 1] }
function rd32(b: Uint8Array, o: number): number { return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0 }

export { FIN, SYN, RST, PSH, ACK, URG }

export function flagStr(f: number): string {
  const names: [number, string][] = [[SYN, 'S'], [FIN, 'F'], [RST, 'R'], [PSH, 'P'], [ACK, '.'], [URG, 'U']]
  return names.filter(([b]) => (f & b) !== 0).map(([, n]) => n).join('') || '-'
}

/** Sequence arithmetic mod 2^32 (RFC 9293 §3.4). */
export function seqAdd(a: number, n: number): number { return (a + n) >>> 0 }
export function seqDiff(a: number, b: number): number { return ((a - b) | 0) }

export interface TcpOptionsIn {
  mss?: number
  wscale?: number
  sackOk?: boolean
  sack?: [number, number][]
  timestamp?: [number, number]
}

/** TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018), padded with NOPs/EOL to a multiple of 4. */
export function tcpOptions(o: TcpOptionsIn): Uint8Array {
  const b: number[] = []
  if (o.mss !== undefined) b.push(2, 4, o.mss >> 8, o.mss & 255)
  if (o.wscale !== undefined) b.push(1, 3, 3, o.wscale)
  if (o.sackOk) b.push(1, 1, 4, 2)
  if (o.timestamp !== undefined) {
    b.push(1, 1, 8, 10)
    for (const v of o.timestamp) b.push(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255)
  }
  if (o.sack !== undefined && o.sack.length > 0) {
    b.push(1, 1, 5, 2 + 8 * o.sack.length)
    for (const [l, r] of o.sack) for (const v of [l, r]) b.push(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255)
  }
  while (b.length % 4 !== 0) b.push(0)
  return Uint8Array.from(b)
}

export interface SegmentIn {
  src: number
  dst: number
  sport: number
  dport: number
  seq: number
  ack?: number
  flags: number
  window?: number
  options?: Uint8Array
  data?: Uint8Array
  urgent?: number
  badChecksum?: boolean
}

/** A TCP segment (RFC 9293 §3.1) with its pseudo-header checksum. */
export function tcpSegment(s: SegmentIn): Uint8Array {
  const opt = s.options ?? new Uint8Array(0)
  const data = s.data ?? new Uint8Array(0)
  const hlen = 20 + opt.length
  const t = new Uint8Array(hlen + data.length)
  be16(t, 0, s.sport)
  be16(t, 2, s.dport)
  be32(t, 4, s.seq >>> 0)
  be32(t, 8, (s.ack ?? 0) >>> 0)
  t[12] = (hlen / 4) << 4
  t[13] = s.flags
  be16(t, 14, s.window ?? 65535)
  be16(t, 18, s.urgent ?? 0)
  t.set(opt, 20)
  t.set(data, hlen)
  const ps = (s.src >>> 16) + (s.src & 0xffff) + (s.dst >>> 16) + (s.dst & 0xffff) + 6 + t.length
  let ck = referenceChecksum(t, ps)
  if (s.badChecksum) ck ^= 0x1111
  be16(t, 16, ck)
  return t
}

let ipId = 1

/** Ethernet II + IPv4 (RFC 791, DF set, TTL 64) around a TCP segment. */
export function tcpFrame(dstMac: Uint8Array, srcMac: Uint8Array, s: SegmentIn): Uint8Array {
  const t = tcpSegment(s)
  assert.ok(20 + t.length <= 1500, 'a scripted segment must fit the 1500-byte MTU (' + (20 + t.length) + ' bytes)')
  const f = new Uint8Array(14 + 20 + t.length)
  f.set(dstMac, 0)
  f.set(srcMac, 6)
  be16(f, 12, 0x0800)
  const h = 14
  f[h] = 0x45
  be16(f, h + 2, 20 + t.length)
  be16(f, h + 4, ipId++ & 0xffff)
  be16(f, h + 6, 0x4000)
  f[h + 8] = 64
  f[h + 9] = 6
  be32(f, h + 12, s.src)
  be32(f, h + 16, s.dst)
  be16(f, h + 10, referenceChecksum(f.subarray(h, h + 20), 0))
  f.set(t, h + 20)
  return f
}

export interface Segment {
  src: number
  dst: number
  sport: number
  dport: number
  seq: number
  ack: number
  flags: number
  window: number
  hlen: number
  mss?: number
  wscale?: number
  sackOk: boolean
  sack: [number, number][]
  data: Uint8Array
}

/** Parses an IPv4/TCP frame the stack sent, checking the IP and TCP checksums; null for anything else. */
export function parseTcpFrame(f: Uint8Array): Segment | null {
  if (f.length < 14 + 20 + 20 || rd16(f, 12) !== 0x0800) return null
  const h = 14
  const ihl = (f[h] & 15) * 4
  if (f[h + 9] !== 6) return null
  assert.equal(referenceChecksum(f.subarray(h, h + ihl), 0), 0, 'IP header checksum of a segment from the stack')
  const total = rd16(f, h + 2)
  const src = rd32(f, h + 12)
  const dst = rd32(f, h + 16)
  const t = f.subarray(h + ihl, h + total)
  const ps = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 6 + t.length
  assert.equal(referenceChecksum(t, ps), 0, 'TCP checksum of a segment from the stack')
  const hlen = (t[12] >> 4) * 4
  const seg: Segment = {
    src, dst, sport: rd16(t, 0), dport: rd16(t, 2), seq: rd32(t, 4), ack: rd32(t, 8), flags: t[13] & 0x3f,
    window: rd16(t, 14), hlen, sackOk: false, sack: [], data: t.slice(hlen),
  }
  let i = 20
  while (i < hlen) {
    const kind = t[i]
    if (kind === 0) break
    if (kind === 1) { i++; continue }
    const len = t[i + 1]
    assert.ok(len >= 2 && i + len <= hlen, 'TCP option length within the header')
    if (kind === 2) seg.mss = rd16(t, i + 2)
    else if (kind === 3) seg.wscale = t[i + 2]
    else if (kind === 4) seg.sackOk = true
    else if (kind === 5) for (let j = i + 2; j + 8 <= i + len; j += 8) seg.sack.push([rd32(t, j), rd32(t, j + 4)])
    i += len
  }
  return seg
}

export function segStr(s: Segment): string {
  return `${ipStr(s.src)}:${s.sport} > ${ipStr(s.dst)}:${s.dport} [${flagStr(s.flags)}] seq ${s.seq} ack ${s.ack} win ${s.window}` +
    (s.data.length > 0 ? ` len ${s.data.length}` : '') + (s.mss !== undefined ? ` mss ${s.mss}` : '') +
    (s.wscale !== undefined ? ` ws ${s.wscale}` : '') + (s.sackOk ? ' sackOK' : '') +
    (s.sack.length > 0 ? ' sack ' + s.sack.map(([l, r]) => l + '-' + r).join(',') : '')
}

// ---- the scripted peer ---------------------------------------------------------------------------------

/**
 * A hand-driven TCP/IP end on the link: answers ARP for its own address (RFC 826), records every TCP
 * segment the stack sends it, and sends the segments the test builds. It has no TCP state machine of its
 * own: the test is the state machine.
 */
export class ScriptedPeer {
  readonly received: { t: number; seg: Segment }[] = []
  readonly other: { t: number; frame: Uint8Array }[] = []
  private readonly cable: Cable
  constructor(readonly sched: Scheduler, cable: Cable, readonly mac: Uint8Array = PEER_MAC, readonly addr: number = PEER_IP,
              /** The MAC of the stack under test. */
              readonly stackMac: Uint8Array = B_MAC) {
    this.cable = cable
    cable.onFrame = (f) => this.onFrame(f)
  }

  private onFrame(f: Uint8Array): void {
    if (f.length >= 42 && rd16(f, 12) === 0x0806 && rd16(f, 20) === 1 && rd32(f, 38) === this.addr) {
      // ARP request for us: reply (op 2) to the asker.
      const r = new Uint8Array(42)
      r.set(f.subarray(6, 12), 0)
      r.set(this.mac, 6)
      be16(r, 12, 0x0806)
      r.set(f.subarray(14, 20), 14)
      be16(r, 20, 2)
      r.set(this.mac, 22)
      be32(r, 28, this.addr)
      r.set(f.subarray(22, 28), 32)
      r.set(f.subarray(28, 32), 38)
      this.cable.send(r)
      return
    }
    const seg = rd16(f, 12) === 0x0800 ? parseTcpFrame(f) : null
    if (seg !== null && seg.dst === this.addr) this.received.push({ t: this.sched.now, seg })
    else this.other.push({ t: this.sched.now, frame: f })
  }

  /** Sends a segment to the stack (src defaults to the peer's address). */
  send(s: Omit<SegmentIn, 'src' | 'dst'> & { src?: number; dst: number }): void {
    this.cable.send(tcpFrame(this.stackMac, this.mac, { ...s, src: s.src ?? this.addr }))
  }

  /** Removes and returns the segments received so far. */
  take(): Segment[] {
    return this.received.splice(0).map((r) => r.seg)
  }
}

/** A stack (B) and a scripted peer on a clean link (delay `latencyMs`, default 0.1 ms), no NIC rate limit on the peer. */
export function makePeerSim(o: { seed: number; core?: CoreKind; budget?: Partial<Budget>; latencyMs?: number; faults?: FaultOptions; log?: (l: string) => void }): { sched: Scheduler; node: SimNode; peer: ScriptedPeer; link: FaultyCable } {
  const sched = new Scheduler()
  const node = new SimNode(sched, { name: 'B', mac: B_MAC, ip: B_IP, core: o.core, budget: o.budget, seed: o.seed, log: o.log })
  const [endPeer, endNode] = wirePair({ schedule: sched, delayMs: o.latencyMs ?? 0.1, names: ['netsim:peer', 'netsim:B'] })
  const link = faultyCable(endPeer, { ...(o.faults ?? {}), seed: o.seed }, sched)
  const peer = new ScriptedPeer(sched, link)
  node.attach(endNode)
  return { sched, node, peer, link }
}

// ---- bulk transfers between two stacks ------------------------------------------------------------------

export interface TransferOptions {
  seed: number
  /** Bytes to move. */
  bytes: number
  /** 'up': A (client) sends to B (server); 'down': B (server) sends to A; 'both': each sends `bytes` to the other. */
  dir: 'up' | 'down' | 'both'
  /** TCP send and receive ring size of both stacks. */
  bufBytes: number
  faults?: FaultOptions
  core?: CoreKind
  latencyMs?: number
  rateMbps?: number
  /** Give up after this much virtual time (ms, default 600 s). */
  limitMs?: number
  tcp?: TcpOptions
  log?: (line: string) => void
}

export interface TransferResult {
  /** Bytes each receiver got, and whether they equal what was sent (SHA-256). */
  receivedByB: number
  receivedByA: number
  exactAtB: boolean
  exactAtA: boolean
  /** Both ends heard onClose without an error, and both TCB tables are empty at the end. */
  closedA: number
  closedB: number
  errA: number[]
  errB: number[]
  inUseA: number
  inUseB: number
  /** Virtual µs from connect() to the last byte at the receiver(s), and to both tables empty. */
  dataUs: number
  doneUs: number
  /** Payload bytes per second of virtual time ÷ 1000 (kB/s), from connect() to the last byte. */
  goodputKBps: number
  realMs: number
  events: number
  link: FaultyCable['stats']
  countersA: string
  countersB: string
  timedOut: boolean
}

/** Deterministic payload: xorshift32 bytes. */
export function payload(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  let x = (seed >>> 0) || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    out[i] = x & 0xff
  }
  return out
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex')
}

/** One side of a bulk transfer on the low-level API (firmware/tcp/tcp.ts): sends `data`, hashes what it reads. */
class Bulk implements TcpHandler {
  sent = 0
  received = 0
  readonly hash = createHash('sha256')
  ended = false
  endedAt = -1
  closed = 0
  errs: number[] = []
  lastByteAt = -1
  id = -1
  constructor(private readonly tcp: Tcp, private readonly data: Uint8Array | null, private readonly expect: number,
              private readonly now: () => number, private readonly onDone: () => void) {}

  pump(): void {
    const d = this.data
    if (d === null || this.id < 0) return
    while (this.sent < d.length) {
      const n = this.tcp.send(this.id, d.subarray(this.sent, Math.min(d.length, this.sent + 65536)), this.now())
      if (n <= 0) return
      this.sent += n
    }
    this.tcp.shutdown(this.id, this.now())
  }

  onConnect(id: number): void {
    this.id = id
    this.pump()
  }

  onData(_id: number, data: Uint8Array): number {
    this.hash.update(data)
    this.received += data.length
    if (this.received >= this.expect && this.lastByteAt < 0) {
      this.lastByteAt = this.now()
      this.onDone()
    }
    return data.length
  }

  onEnd(id: number): void {
    this.ended = true
    this.endedAt = this.now()
    // A pure receiver reads to the end, then half-closes its side too; onClose follows when both FINs are
    // acknowledged (a sender's FIN was queued by pump() after its last byte).
    if (this.data === null) this.tcp.shutdown(id, this.now())
  }

  onDrain(_id: number): void { this.pump() }

  onClose(_id: number, err: number): void {
    this.closed++
    this.errs.push(err)
  }
}

/**
 * A bulk transfer between A and B on a netsim link, on the low-level TCP API: A connects to B:5001, the
 * sender writes `bytes` and half-closes, the receiver hashes what it reads and closes after the peer's FIN.
 * Runs in virtual time until both TCB tables are empty (TIME-WAIT included) or `limitMs`.
 */
export function runTransfer(o: TransferOptions): TransferResult {
  const t0 = Date.now()
  const budget = { tcpRxBytes: o.bufBytes, tcpTxBytes: o.bufBytes }
  const net = makeNetsim({ seed: o.seed, faults: o.faults, core: o.core, latencyMs: o.latencyMs, rateMbps: o.rateMbps, budgetA: budget, budgetB: budget, log: o.log })
  const { sched, a, b } = net
  const tcpA = attachTcp(a.stack, o.tcp)
  const tcpB = attachTcp(b.stack, o.tcp)
  const up = o.dir === 'up' || o.dir === 'both'
  const down = o.dir === 'down' || o.dir === 'both'
  const dataUp = up ? payload(o.bytes, o.seed * 7 + 1) : null
  const dataDown = down ? payload(o.bytes, o.seed * 7 + 2) : null
  let waiting = (up ? 1 : 0) + (down ? 1 : 0)
  let dataUs = -1
  const done = (): void => { if (--waiting === 0) dataUs = sched.now }
  const client = new Bulk(tcpA, dataUp, down ? o.bytes : 0, a.now, done)
  const server = new Bulk(tcpB, dataDown, up ? o.bytes : 0, b.now, done)
  assert.ok(tcpB.listen(5001, server) >= 0, 'listen')
  const start = sched.now
  const id = tcpA.connect(B_IP, 5001, 0, client, sched.now)
  assert.ok(id >= 0, 'connect: ' + id)
  a.kick()
  const limit = start + (o.limitMs ?? 600000) * 1000
  const finished = (): boolean => dataUs >= 0 && client.closed > 0 && server.closed > 0 && tcpA.inUse() === 0 && tcpB.inUse() === 0
  const ok = sched.runUntil(finished, limit)
  const end = dataUs >= 0 ? dataUs : sched.now
  return {
    receivedByB: server.received,
    receivedByA: client.received,
    exactAtB: !up || (server.received === o.bytes && server.hash.digest('hex') === sha256(dataUp!)),
    exactAtA: !down || (client.received === o.bytes && client.hash.digest('hex') === sha256(dataDown!)),
    closedA: client.closed,
    closedB: server.closed,
    errA: client.errs,
    errB: server.errs,
    inUseA: tcpA.inUse(),
    inUseB: tcpB.inUse(),
    dataUs: end - start,
    doneUs: sched.now - start,
    goodputKBps: ((o.dir === 'both' ? 2 : 1) * o.bytes) / ((end - start) / 1e6) / 1000,
    realMs: Date.now() - t0,
    events: sched.events,
    link: net.link.stats,
    countersA: a.stack.counters.format(),
    countersB: b.stack.counters.format(),
    timedOut: !ok,
  }
}

// ---- the scripted peer against a stack's listener --------------------------------------------------------

/** A stack (B) with TCP and a scripted peer next to it; `run(ms)` advances virtual time. */
export interface PeerRig {
  sched: Scheduler
  node: SimNode
  peer: ScriptedPeer
  tcp: Tcp
  run(ms: number): void
  /** Segments the stack sent to the peer since the last take(). */
  take(): Segment[]
}

export function makePeerRig(o: { seed: number; core?: CoreKind; budget?: Partial<Budget>; tcp?: TcpOptions; log?: (l: string) => void } = { seed: 1 }): PeerRig {
  const { sched, node, peer } = makePeerSim({ seed: o.seed, core: o.core, budget: o.budget, log: o.log })
  const tcp = attachTcp(node.stack, o.tcp)
  return {
    sched, node, peer, tcp,
    // A call into the stack from outside a poll (send, shutdown) left frames in its TX ring: poll first.
    run(ms: number) { node.kick(); sched.runFor(ms * 1000) },
    take() { return peer.take() },
  }
}

/** One connection from the scripted peer to the stack: the test's side of the sequence space. */
export class PeerConn {
  /** Our next sequence number to send, and what we acknowledge (the stack's next byte). */
  sndNxt: number
  rcvNxt = 0
  /** The stack's ISS and the options of its SYN-ACK. */
  synAck: Segment | null = null
  constructor(readonly rig: PeerRig, readonly sport: number, readonly dport: number, readonly iss: number) {
    this.sndNxt = iss
  }

  send(flags: number, o: { seq?: number; ack?: number; data?: Uint8Array; window?: number; options?: Uint8Array } = {}): void {
    this.rig.peer.send({
      dst: B_IP, sport: this.sport, dport: this.dport, seq: o.seq ?? this.sndNxt, ack: o.ack ?? this.rcvNxt, flags,
      window: o.window ?? 65535, data: o.data, options: o.options,
    })
  }

  /** SYN with MSS 1460 (and SACK-permitted unless told not), then the ACK of the stack's SYN-ACK. */
  handshake(o: { window?: number; sackOk?: boolean; wscale?: number; mss?: number } = {}): Segment {
    this.send(SYN, { ack: 0, window: o.window, options: tcpOptions({ mss: o.mss ?? 1460, sackOk: o.sackOk ?? true, wscale: o.wscale }) })
    this.rig.run(20)
    const segs = this.rig.take()
    const sa = segs.find((s) => s.flags === (SYN | ACK) && s.dport === this.sport)
    assert.ok(sa, 'a SYN-ACK; got: ' + segs.map(segStr).join(' | '))
    assert.equal(sa.ack, seqAdd(this.iss, 1), 'the SYN-ACK acknowledges our SYN')
    this.synAck = sa
    this.sndNxt = seqAdd(this.iss, 1)
    this.rcvNxt = seqAdd(sa.seq, 1)
    this.send(ACK, { window: o.window })
    this.rig.run(5)
    return sa
  }

  /** Bytes the peer has taken in order from the stack, and segments held beyond a hole (seq → data). */
  readonly got: number[] = []
  private readonly held = new Map<number, Uint8Array>()

  /**
   * The peer as a receiver: takes the data of `segs` (in order, overlapping, or held beyond a hole until it
   * fills), advances rcvNxt. Returns the number of new in-order bytes.
   */
  receive(segs: Segment[]): number {
    const before = this.got.length
    for (const s of segs) if (s.data.length > 0) this.held.set(s.seq, s.data)
    for (let progress = true; progress;) {
      progress = false
      for (const [seq, d] of this.held) {
        const skip = seqDiff(this.rcvNxt, seq)
        if (skip < 0) continue
        this.held.delete(seq)
        if (skip < d.length) {
          for (let k = skip; k < d.length; k++) this.got.push(d[k])
          this.rcvNxt = seqAdd(this.rcvNxt, d.length - skip)
          progress = true
        }
      }
    }
    return this.got.length - before
  }

  /** Data in order from sndNxt (advances it). */
  data(bytes: Uint8Array, window?: number, flags = ACK | PSH): void {
    this.send(flags, { data: bytes, window })
    this.sndNxt = seqAdd(this.sndNxt, bytes.length)
  }
}

/** A TcpHandler that records everything the stack tells the app (for the scripted-peer tests). */
export class Recorder implements TcpHandler {
  readonly connects: number[] = []
  readonly ends: number[] = []
  readonly closes: [number, number][] = []
  readonly drains: number[] = []
  chunks: Uint8Array[] = []
  /** What onData returns: all (default) or at most this many bytes per call (a slow reader). */
  take = Infinity
  onConnectHook: ((id: number) => void) | null = null
  onConnect(id: number): void { this.connects.push(id); if (this.onConnectHook) this.onConnectHook(id) }
  onData(_id: number, data: Uint8Array): number {
    const n = Math.min(data.length, this.take)
    if (n > 0) this.chunks.push(data.slice(0, n))
    return n
  }
  onEnd(id: number): void { this.ends.push(id) }
  onDrain(id: number): void { this.drains.push(id) }
  onClose(id: number, err: number): void { this.closes.push([id, err]) }
  bytes(): Uint8Array {
    const n = this.chunks.reduce((s, c) => s + c.length, 0)
    const out = new Uint8Array(n)
    let o = 0
    for (const c of this.chunks) { out.set(c, o); o += c.length }
    return out
  }
}

// ---- the goodput table -----------------------------------------------------------------------------------

export const TABLE_LOSSES = [0, 0.01, 0.05, 0.1]
export const TABLE_BUFFERS = [2048, 8192, 65536]
export const TABLE_BYTES = 1000000
/** Each cell is the aggregate of one transfer per seed: total bytes over total time. */
export const TABLE_SEEDS = [1, 2, 3]

export function lossLabel(p: number): string { return Math.round(p * 100) + '%' }
export function bufLabel(b: number): string { return b / 1024 + ' KiB' }

/** One cell of the table: 1 MB transfers A→B ("up") and B→A ("down"), one of each per seed, each on fresh stacks. */
export interface Cell { up: TransferResult[]; down: TransferResult[] }

/** The cell for `loss` × `buf`. */
export function tableCell(loss: number, buf: number, core: CoreKind = 'wasm'): Cell {
  const run = (dir: 'up' | 'down', seed: number): TransferResult =>
    runTransfer({ seed, bytes: TABLE_BYTES, dir, bufBytes: buf, faults: { loss }, core })
  return { up: TABLE_SEEDS.map((s) => run('up', s)), down: TABLE_SEEDS.map((s) => run('down', s)) }
}

/** A direction's entry in the snapshot: aggregate kB/s to 0.1 (all bytes over all time), or why there is none. */
export function cellValue(rs: TransferResult[]): number | string {
  const bad = rs.findIndex((r) => r.timedOut || !(r.exactAtA && r.exactAtB))
  if (bad >= 0) {
    const r = rs[bad]
    return `stalled (seed ${TABLE_SEEDS[bad]}): ${r.receivedByA + r.receivedByB} bytes, errors ${JSON.stringify([r.errA, r.errB])}`
  }
  const us = rs.reduce((t, r) => t + r.dataUs, 0)
  return Math.round((rs.length * TABLE_BYTES) / (us / 1e6) / 100) / 10
}

export interface GoodputSnapshot {
  about: string
  link: { rateMbps: number; latencyMs: number; bytes: number; seeds: number[]; mss: number }
  /** loss label → buffer label → { up, down } in kB/s of virtual time. */
  goodput: { [loss: string]: { [buf: string]: { up: number | string; down: number | string } } }
}

export const SNAPSHOT_ABOUT = 'Goodput of spinet against spinet on the netsim link (test/netsim.ts): 10 Mbit/s, 1 ms one-way, ' +
  'random loss in both directions; 1,000,000 bytes A->B (up) and B->A (down) from connect() to the last byte read, once ' +
  'per seed (1, 2, 3) on fresh stacks; each cell is all bytes over all time, in kB/s (1000 bytes/s) of virtual time. ' +
  'Buffer = tcpRxBytes = tcpTxBytes of both stacks. Regenerate with ' +
  'SPINET_UPDATE_SNAPSHOT=1 node tools/run-tests.mjs tcp-netsim.'

export function snapshotOf(cells: Map<string, Cell>): GoodputSnapshot {
  const goodput: GoodputSnapshot['goodput'] = {}
  for (const loss of TABLE_LOSSES) {
    const row: { [buf: string]: { up: number | string; down: number | string } } = {}
    for (const buf of TABLE_BUFFERS) {
      const c = cells.get(cellKey(loss, buf))
      if (c === undefined) throw new Error('snapshotOf: missing cell ' + cellKey(loss, buf))
      row[bufLabel(buf)] = { up: cellValue(c.up), down: cellValue(c.down) }
    }
    goodput[lossLabel(loss)] = row
  }
  return { about: SNAPSHOT_ABOUT, link: { rateMbps: 10, latencyMs: 1, bytes: TABLE_BYTES, seeds: TABLE_SEEDS, mss: 1460 }, goodput }
}

export function cellKey(loss: number, buf: number): string { return lossLabel(loss) + ' ' + bufLabel(buf) }

/** The table as Markdown: rows loss, columns buffer, cells "up / down" kB/s. */
export function goodputMarkdown(s: GoodputSnapshot): string {
  const bufs = Object.keys(s.goodput[Object.keys(s.goodput)[0]])
  const fmt = (v: number | string): string => typeof v === 'number' ? v.toFixed(1) : 'stalled'
  const lines = ['| loss \\ buffer | ' + bufs.join(' | ') + ' |', '|---|' + bufs.map(() => '---:|').join('')]
  for (const loss of Object.keys(s.goodput)) {
    lines.push('| ' + loss + ' | ' + bufs.map((b) => fmt(s.goodput[loss][b].up) + ' / ' + fmt(s.goodput[loss][b].down)).join(' | ') + ' |')
  }
  return lines.join('\n')
}

/** Every cell of the table. */
export function goodputTable(core: CoreKind = 'wasm'): { snapshot: GoodputSnapshot; cells: Map<string, Cell> } {
  const cells = new Map<string, Cell>()
  for (const loss of TABLE_LOSSES) for (const buf of TABLE_BUFFERS) cells.set(cellKey(loss, buf), tableCell(loss, buf, core))
  return { snapshot: snapshotOf(cells), cells }
}

// ---- the example firmware on a simulated chip, for realism ------------------------------------------------

/**
 * The example firmware (firmware/main.ts: stack, services, TCP echo 7 and discard 9) driving a register-
 * accurate simulated chip through its real driver, as the virtual board does, but in virtual time: frames
 * from the cable go into the chip's own buffer and the firmware steps when the chip interrupts, when its
 * stack has frames to send and at its next timer. What the chip transmits leaves at the line rate.
 */
export class ChipNode {
  readonly name: string
  readonly firmware: Firmware
  readonly chip: Enc28j60Sim | W5500Sim
  /** The firmware's clock: follows the scheduler; the driver's microsecond delays move it ahead. */
  readonly clock = new VirtualClock(0)
  private cable: Cable | null = null
  private readonly txQueue: Uint8Array[] = []
  private txBusy = false
  private stepAt = Infinity
  private stepGen = 0
  private nextTick = 0
  private readonly bitsPerUs: number

  constructor(readonly sched: Scheduler, o: { name: string; chip: 'enc28j60' | 'w5500'; mac: Uint8Array; ip: number; core?: CoreKind; budget?: Partial<Budget>; seed: number; rateMbps?: number; log?: (l: string) => void }) {
    this.name = o.name
    const board = loadBoard('host')
    const budget = netsimBudget(o.budget)
    const core = (o.core ?? 'wasm') === 'wasm' ? createWasmCore() : createPortableCore(layoutArena(budget, 0, 1 << 30).total)
    const layout = layoutArena(budget, core.base, Math.min(board.memory.arenaLimit, core.size))
    let driver: EthernetDriver
    if (o.chip === 'w5500') {
      const chip = new W5500Sim({})
      this.chip = chip
      driver = new W5500Driver(simPlatform(chip, this.clock))
    } else {
      const chip = new Enc28j60Sim({ spiClockHz: board.spi.baud })
      this.chip = chip
      driver = new Enc28j60Driver(simPlatform(chip, this.clock), { spiClockHz: board.spi.baud })
    }
    this.bitsPerUs = o.rateMbps ?? (o.chip === 'w5500' ? 100 : 10)
    let x = (o.seed >>> 0) || 1
    const next32 = (): number => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x }
    const log = o.log
    this.firmware = new Firmware({
      core, layout, driver, attachTcp, mac: o.mac, address: { ip: o.ip, mask: NETMASK, gateway: 0 }, hostname: 'netsim-' + o.chip,
      pollBudget: 16, random: { next32 }, log: (l) => { if (log) log(o.name + ': ' + l) },
    })
    this.chip.onTransmit = (frame) => {
      this.txQueue.push(new Uint8Array(frame))
      this.startTx()
    }
  }

  private now(): number {
    if (this.sched.now > this.clock.now()) this.clock.advance(this.sched.now - this.clock.now())
    return this.clock.now()
  }

  attach(cable: Cable): void {
    this.cable = cable
    cable.onFrame = (f) => {
      // A transmitter pads to the 60-byte minimum (the stacks here hand over unpadded frames).
      const frame = f.length >= MIN_WIRE_FRAME ? f : (() => { const p = new Uint8Array(MIN_WIRE_FRAME); p.set(f); return p })()
      this.chip.receive(frame)
      this.requestStep(this.sched.now)
    }
  }

  /** Initialises the chip and starts the services. */
  start(): void {
    this.firmware.start(this.now())
    this.requestStep(this.sched.now)
  }

  private requestStep(t: number): void {
    if (t < this.sched.now) t = this.sched.now
    if (t >= this.stepAt) return
    this.stepAt = t
    const gen = ++this.stepGen
    this.sched.at(t, () => { if (gen === this.stepGen) this.step() })
  }

  private step(): void {
    this.stepAt = Infinity
    this.stepGen++
    let now = this.now()
    if (now >= this.nextTick) { this.firmware.tick(now); this.nextTick = now + 500000 }
    let next = this.firmware.step(now)
    for (let turns = 0; turns < 256 && (this.chip.interrupt || this.firmware.busy()); turns++) {
      now = this.now()
      next = this.firmware.step(now)
    }
    // The clock may have run ahead of the scheduler (driver delays): wake at the same offset.
    this.requestStep(this.sched.now + Math.max(0, Math.min(next, this.nextTick) - now))
  }

  private startTx(): void {
    if (this.txBusy || this.txQueue.length === 0) return
    const frame = this.txQueue.shift()!
    this.txBusy = true
    const wireBytes = Math.max(frame.length, MIN_WIRE_FRAME) + WIRE_OVERHEAD
    this.sched.after((wireBytes * 8) / this.bitsPerUs, () => {
      this.txBusy = false
      if (this.cable !== null) this.cable.send(frame)
      this.startTx()
    })
  }
}

export interface ServiceTransferResult {
  sent: number
  received: number
  exact: boolean
  closed: number
  errs: number[]
  /** TCBs in use at the end: the client stack's and the firmware's. */
  inUseClient: number
  inUseFirmware: number
  dataUs: number
  goodputKBps: number
  realMs: number
  timedOut: boolean
  countersClient: string
  countersFirmware: string
  /** What the firmware's services counted (firmware/apps/example.ts). */
  tcpEchoBytes: number
  tcpDiscardBytes: number
}

/**
 * A plain stack (A, client) sends `bytes` to the example firmware's echo (port 7) or discard (port 9)
 * service on a simulated chip (B), half-closes, and reads until the firmware closes. For echo the bytes that
 * come back are compared (SHA-256); both TCB tables must end empty.
 */
export function runServiceTransfer(o: { seed: number; chip: 'enc28j60' | 'w5500'; port: 7 | 9; bytes: number; faults?: FaultOptions; core?: CoreKind; bufBytes?: number; limitMs?: number; log?: (l: string) => void }): ServiceTransferResult {
  const t0 = Date.now()
  const sched = new Scheduler()
  const rate = o.chip === 'w5500' ? 100 : 10
  const budget = o.bufBytes !== undefined ? { tcpRxBytes: o.bufBytes, tcpTxBytes: o.bufBytes } : {}
  const a = new SimNode(sched, { name: 'A', mac: A_MAC, ip: A_IP, core: o.core, budget, rateMbps: rate, seed: o.seed * 2 + 1, log: o.log })
  const b = new ChipNode(sched, { name: 'B', chip: o.chip, mac: B_MAC, ip: B_IP, core: o.core, budget, seed: o.seed * 2 + 2, log: o.log })
  const [endA, endB] = wirePair({ schedule: sched, delayMs: 0.1, names: ['netsim:A', 'netsim:B'] })
  const link = faultyCable(endA, { ...(o.faults ?? {}), seed: o.seed }, sched)
  a.attach(link)
  b.attach(endB)
  b.start()
  sched.runFor(10000) // the chip comes up, the services listen
  const tcpA = attachTcp(a.stack)
  const data = payload(o.bytes, o.seed * 7 + 3)
  let dataUs = -1
  const start = sched.now
  const client = new Bulk(tcpA, data, o.port === 7 ? o.bytes : 0, a.now, () => { dataUs = sched.now })
  const id = tcpA.connect(B_IP, o.port, 0, client, sched.now)
  assert.ok(id >= 0, 'connect: ' + id)
  a.kick()
  const fw = b.firmware
  const fwTcp = fw.tcp
  assert.ok(fwTcp !== null, 'the chip node runs TCP')
  const done = (): boolean => client.closed > 0 && tcpA.inUse() === 0 && fwTcp.inUse() === 0
  const ok = sched.runUntil(done, start + (o.limitMs ?? 600000) * 1000)
  // Echo: to the last byte back; discard: to the service's FIN (everything read and counted).
  const end = o.port === 7 ? (dataUs >= 0 ? dataUs : sched.now) : (client.endedAt >= 0 ? client.endedAt : sched.now)
  const exact = o.port === 7 ? client.received === o.bytes && client.hash.digest('hex') === sha256(data) : true
  return {
    sent: client.sent, received: client.received, exact, closed: client.closed, errs: client.errs,
    inUseClient: tcpA.inUse(), inUseFirmware: fwTcp.inUse(), dataUs: end - start,
    goodputKBps: o.bytes / ((end - start) / 1e6) / 1000, realMs: Date.now() - t0, timedOut: !ok,
    countersClient: a.stack.counters.format(), countersFirmware: fw.counters(),
    tcpEchoBytes: fw.services !== null ? fw.services.counters.tcpEchoBytes : -1,
    tcpDiscardBytes: fw.services !== null ? fw.services.counters.tcpDiscardBytes : -1,
  }
}
