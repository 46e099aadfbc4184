// Test side of the network stack suites: an independent frame builder and parser (written from the
// RFCs, sharing nothing with firmware/), and a harness that boots a NetStack on either core backend
// with the host board's budget, injects frames into its RX ring and collects what it puts in TX.
import assert from 'node:assert/strict'
import { referenceChecksum } from './helpers.js'
import { createWasmCore, createPortableCore } from '../hal/host/core.js'
import { loadBoard } from '../hal/host/boards.js'
import { layoutArena, Budget } from '../firmware/kernel/arena.js'
import { VirtualClock } from '../firmware/kernel/clock.js'
import { Core } from '../firmware/core/contract.js'
import { NetStack, IpConfig } from '../firmware/net/stack.js'

export type CoreKind = 'wasm' | 'portable'
export const CORES: CoreKind[] = ['wasm', 'portable']

// ---- addresses --------------------------------------------------------------------------------

/** "a.b.c.d" -> u32 (test's own parser). */
export function ip(s: string): number {
  const p = s.split('.').map(Number)
  assert.equal(p.length, 4)
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0
}

export function ipStr(a: number): string {
  return [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.')
}

export function mac(s: string): Uint8Array {
  return Uint8Array.from(s.split(':').map((h) => parseInt(h, 16)))
}

export function macStr(b: Uint8Array): string {
  return Array.from(b).map((x) => x.toString(16).padStart(2, '0')).join(':')
}

export const OUR_MAC = mac('02:53:50:4e:45:54')
export const OUR_IP = ip('10.77.0.2')
export const MASK = ip('255.255.255.0')
export const GW_IP = ip('10.77.0.1')
export const GW_MAC = mac('02:00:00:00:00:01')
export const PEER_IP = ip('10.77.0.10')
export const PEER_MAC = mac('02:00:00:00:00:0a')
export const PEER2_IP = ip('10.77.0.11')
export const PEER2_MAC = mac('02:00:00:00:00:0b')
export const EVIL_MAC = mac('02:66:66:66:66:66')
export const BCAST_MAC = mac('ff:ff:ff:ff:ff:ff')
export const ZERO_MAC = mac('00:00:00:00:00:00')
export const SUBNET_BCAST = ip('10.77.0.255')
export const FAR_IP = ip('192.0.2.7')

// ---- builders -----------------------------------------------------------------------------------

function be16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 255
  b[o + 1] = v & 255
}

function be32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24
  b[o + 1] = (v >>> 16) & 255
  b[o + 2] = (v >>> 8) & 255
  b[o + 3] = v & 255
}

function rd16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1]
}

function rd32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

/** Ethernet II (RFC 894): destination, source, EtherType, payload. */
export function eth(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length)
  f.set(dst, 0)
  f.set(src, 6)
  be16(f, 12, type)
  f.set(payload, 14)
  return f
}

/** ARP for IPv4 over Ethernet (RFC 826), 28 bytes. */
export function arp(op: number, sha: Uint8Array, spa: number, tha: Uint8Array, tpa: number): Uint8Array {
  const a = new Uint8Array(28)
  be16(a, 0, 1)
  be16(a, 2, 0x0800)
  a[4] = 6
  a[5] = 4
  be16(a, 6, op)
  a.set(sha, 8)
  be32(a, 14, spa)
  a.set(tha, 18)
  be32(a, 24, tpa)
  return a
}

export interface IpOpts {
  src: number
  dst: number
  proto: number
  payload: Uint8Array
  id?: number
  ttl?: number
  tos?: number
  /** Flag bits as in the header's top three bits: 4 reserved, 2 DF, 1 MF. */
  flags?: number
  /** Fragment offset in bytes (multiple of 8). */
  fragOff?: number
  options?: Uint8Array
  /** Override the total length field. */
  totalLength?: number
  /** Override IHL (words). */
  ihl?: number
  badChecksum?: boolean
}

/** IPv4 (RFC 791 §3.1) with a correct header checksum unless told otherwise. */
export function ipv4(o: IpOpts): Uint8Array {
  const opt = o.options ?? new Uint8Array(0)
  const hlen = 20 + opt.length
  const h = new Uint8Array(hlen)
  h[0] = 0x40 | (o.ihl ?? hlen / 4)
  h[1] = o.tos ?? 0
  be16(h, 2, o.totalLength ?? hlen + o.payload.length)
  be16(h, 4, o.id ?? 0x1234)
  be16(h, 6, ((o.flags ?? 0) << 13) | ((o.fragOff ?? 0) >> 3))
  h[8] = o.ttl ?? 64
  h[9] = o.proto
  be32(h, 12, o.src)
  be32(h, 16, o.dst)
  h.set(opt, 20)
  let ck = referenceChecksum(h, 0)
  if (o.badChecksum) ck ^= 0x5555
  be16(h, 10, ck)
  return concat(h, o.payload)
}

export function pseudo(src: number, dst: number, proto: number, len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len
}

export interface UdpOpts {
  /** 'zero': send no checksum; 'bad': a wrong one. */
  checksum?: 'zero' | 'bad'
  lengthField?: number
}

/** UDP (RFC 768) with the pseudo-header checksum. */
export function udp(src: number, dst: number, sport: number, dport: number, data: Uint8Array, o: UdpOpts = {}): Uint8Array {
  const u = new Uint8Array(8 + data.length)
  be16(u, 0, sport)
  be16(u, 2, dport)
  be16(u, 4, o.lengthField ?? u.length)
  u.set(data, 8)
  if (o.checksum !== 'zero') {
    let ck = referenceChecksum(u, pseudo(src, dst, 17, u.length))
    if (ck === 0) ck = 0xffff
    if (o.checksum === 'bad') ck = ck ^ 0x0101
    be16(u, 6, ck)
  }
  return u
}

/** ICMP message (RFC 792) with type, code, the 4 "rest" bytes and data, checksummed. */
export function icmp(type: number, code: number, rest: number, data: Uint8Array, bad = false): Uint8Array {
  const m = new Uint8Array(8 + data.length)
  m[0] = type
  m[1] = code
  be32(m, 4, rest)
  m.set(data, 8)
  let ck = referenceChecksum(m, 0)
  if (bad) ck ^= 0x0f0f
  be16(m, 2, ck)
  return m
}

export function echoRequest(id: number, seq: number, data: Uint8Array): Uint8Array {
  return icmp(8, 0, ((id << 16) | seq) >>> 0, data)
}

/** Splits an IP payload into fragments of at most `size` bytes (multiple of 8 except the last). */
export function fragments(payload: Uint8Array, size: number): { off: number; data: Uint8Array; more: boolean }[] {
  const out: { off: number; data: Uint8Array; more: boolean }[] = []
  for (let o = 0; o < payload.length; o += size) {
    const end = Math.min(payload.length, o + size)
    out.push({ off: o, data: payload.slice(o, end), more: end < payload.length })
  }
  return out
}

/** Frames from the peer to us carrying the fragments of one datagram. */
export function fragmentFrames(src: number, dst: number, proto: number, payload: Uint8Array, size: number, id: number,
                               srcMac: Uint8Array = PEER_MAC, dstMac: Uint8Array = OUR_MAC): Uint8Array[] {
  return fragments(payload, size).map((fr) => eth(dstMac, srcMac, 0x0800,
    ipv4({ src, dst, proto, payload: fr.data, id, flags: fr.more ? 1 : 0, fragOff: fr.off })))
}

// ---- parsers --------------------------------------------------------------------------------------

export interface EthFrame { dst: string; src: string; type: number; payload: Uint8Array; length: number }

export function parseEth(f: Uint8Array): EthFrame {
  assert.ok(f.length >= 14, 'frame shorter than an Ethernet header')
  return { dst: macStr(f.subarray(0, 6)), src: macStr(f.subarray(6, 12)), type: rd16(f, 12), payload: f.subarray(14), length: f.length }
}

export interface ArpPacket { op: number; sha: string; spa: number; tha: string; tpa: number }

export function parseArp(p: Uint8Array): ArpPacket {
  assert.equal(rd16(p, 0), 1)
  assert.equal(rd16(p, 2), 0x0800)
  assert.equal(p[4], 6)
  assert.equal(p[5], 4)
  return { op: rd16(p, 6), sha: macStr(p.subarray(8, 14)), spa: rd32(p, 14), tha: macStr(p.subarray(18, 24)), tpa: rd32(p, 24) }
}

export interface IpPacket {
  hlen: number; tos: number; total: number; id: number; flags: number; fragOff: number; ttl: number; proto: number
  src: number; dst: number; payload: Uint8Array; header: Uint8Array
}

/** Parses and checks an IPv4 header we received from the stack (version, IHL, checksum, length). */
export function parseIp(p: Uint8Array): IpPacket {
  assert.equal(p[0] >> 4, 4, 'IP version')
  const hlen = (p[0] & 15) * 4
  assert.ok(hlen >= 20)
  assert.equal(referenceChecksum(p.subarray(0, hlen), 0), 0, 'IP header checksum')
  const total = rd16(p, 2)
  assert.ok(total <= p.length, 'total length within the frame')
  const fw = rd16(p, 6)
  return {
    hlen, tos: p[1], total, id: rd16(p, 4), flags: fw >> 13, fragOff: (fw & 0x1fff) * 8, ttl: p[8], proto: p[9],
    src: rd32(p, 12), dst: rd32(p, 16), payload: p.subarray(hlen, total), header: p.subarray(0, hlen),
  }
}

export interface UdpPacket { sport: number; dport: number; length: number; checksum: number; data: Uint8Array }

/** Parses UDP and verifies its checksum with the test's own reference. */
export function parseUdp(ipp: IpPacket): UdpPacket {
  const u = ipp.payload
  const length = rd16(u, 4)
  assert.equal(length, u.length, 'UDP length')
  const checksum = rd16(u, 6)
  assert.notEqual(checksum, 0, 'the stack always generates a UDP checksum')
  assert.equal(referenceChecksum(u, pseudo(ipp.src, ipp.dst, 17, u.length)), 0, 'UDP checksum')
  return { sport: rd16(u, 0), dport: rd16(u, 2), length, checksum, data: u.subarray(8) }
}

export interface IcmpPacket { type: number; code: number; rest: number; data: Uint8Array }

export function parseIcmp(m: Uint8Array): IcmpPacket {
  assert.equal(referenceChecksum(m, 0), 0, 'ICMP checksum')
  return { type: m[0], code: m[1], rest: rd32(m, 4), data: m.subarray(8) }
}

/** Reassembles the IP payload from fragments (the test's own, with full checks). */
export function reassemble(frags: IpPacket[]): Uint8Array {
  assert.ok(frags.length > 0)
  const id = frags[0].id
  const sorted = frags.slice().sort((a, b) => a.fragOff - b.fragOff)
  let expect = 0
  for (const f of sorted) {
    assert.equal(f.id, id, 'one identification for all fragments')
    assert.equal(f.fragOff, expect, 'fragments contiguous')
    expect += f.payload.length
  }
  for (let i = 0; i < sorted.length; i++) {
    const more = (sorted[i].flags & 1) !== 0
    assert.equal(more, i < sorted.length - 1, 'MF on all but the last fragment')
    if (more) assert.equal(sorted[i].payload.length % 8, 0, 'fragment payloads are multiples of 8')
    assert.ok(sorted[i].total <= 1500, 'fragment fits the MTU')
  }
  return concat(...sorted.map((f) => f.payload))
}

// ---- harness --------------------------------------------------------------------------------------

export interface Rig {
  kind: CoreKind
  core: Core
  stack: NetStack
  clock: VirtualClock
  /** Puts a frame in the RX ring. */
  inject(frame: Uint8Array): void
  /** Injects and polls. */
  send(frame: Uint8Array): void
  poll(): void
  advance(us: number): void
  /** Takes every frame from the TX ring. */
  drain(): Uint8Array[]
  /** Counter value by name. */
  c(name: string): number
  logs: string[]
}

export interface RigOptions {
  budget?: Partial<Budget>
  config?: IpConfig
  pollBudget?: number
  /** Seed of the stack's random source (first IP id, ephemeral port start). */
  seed?: number
}

/** A stack on the host board's budget (or a variation), on the given backend. */
export function makeRig(kind: CoreKind, o: RigOptions = {}): Rig {
  const board = loadBoard('host')
  const budget: Budget = { ...board.budget, ...(o.budget ?? {}) }
  let core: Core
  if (kind === 'wasm') {
    core = createWasmCore()
  } else {
    const size = layoutArena(budget, 0, 1 << 30).total
    core = createPortableCore(size)
  }
  const layout = layoutArena(budget, core.base, core.size)
  const clock = new VirtualClock(1000000)
  const logs: string[] = []
  let seed = o.seed ?? 12345
  const stack = new NetStack({
    core, layout, mac: OUR_MAC,
    config: o.config ?? { ip: OUR_IP, mask: MASK, gateway: GW_IP },
    pollBudget: o.pollBudget,
    log: (l) => logs.push(l),
    random: () => {
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed / 2147483648
    },
  })
  const u8 = new Uint8Array(core.buffer)
  const rig: Rig = {
    kind, core, stack, clock, logs,
    inject(frame) {
      const off = stack.rx.reserve()
      assert.ok(off >= 0, 'rx ring full in test')
      u8.set(frame, off)
      stack.rx.commit(frame.length)
    },
    send(frame) {
      rig.inject(frame)
      rig.poll()
    },
    poll() {
      stack.poll(clock.now())
    },
    advance(us) {
      clock.advance(us)
      stack.poll(clock.now())
    },
    drain() {
      const out: Uint8Array[] = []
      for (;;) {
        const off = stack.tx.peek()
        if (off < 0) break
        out.push(u8.slice(off, off + stack.tx.peekLength()))
        stack.tx.release()
      }
      return out
    },
    c(name) {
      return stack.counters.get(name)
    },
  }
  return rig
}

/** The peer asks for our address: we learn it (request targeting us) and answer. Drains the reply. */
export function introduce(r: Rig, peerIp = PEER_IP, peerMac = PEER_MAC): void {
  r.send(eth(BCAST_MAC, peerMac, 0x0806, arp(1, peerMac, peerIp, ZERO_MAC, OUR_IP)))
  const out = r.drain()
  assert.equal(out.length, 1, 'one ARP reply')
}

/** IPv4 frame from the peer to us. */
export function fromPeer(o: IpOpts, srcMac: Uint8Array = PEER_MAC, dstMac: Uint8Array = OUR_MAC): Uint8Array {
  return eth(dstMac, srcMac, 0x0800, ipv4(o))
}

/** Deterministic bytes. */
export function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n)
  let x = seed
  for (let i = 0; i < n; i++) {
    x = (x * 1664525 + 1013904223) >>> 0
    b[i] = x >>> 24
  }
  return b
}
