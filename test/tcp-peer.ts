// Test side of the TCP suites: an independent TCP segment encoder and parser written from RFC 9293 §3.1
// (header), §3.2 (options), RFC 7323 §2 (window scale) and RFC 2018 (SACK) — nothing is shared with
// firmware/tcp — and a scripted peer on top of test/net-frames.ts's rig: it builds segments from the peer's
// address, injects them, and parses what the stack sends back.
import assert from 'node:assert/strict'
import { referenceChecksum } from './helpers.js'
import {
  makeRig, introduce, fromPeer, parseEth, parseIp, parseArp, eth, arp, pseudo, Rig, RigOptions, CoreKind, OUR_IP,
  OUR_MAC, PEER_IP, PEER_MAC,
} from './net-frames.js'
import { attachTcp, Tcp, TcpOptions, TcpHandler } from '../firmware/tcp/tcp.js'

export const FIN = 0x01
export const SYN = 0x02
export const RST = 0x04
export const PSH = 0x08
export const ACK = 0x10
export const URG = 0x20

export function flagStr(f: number): string {
  const n: string[] = []
  if (f & SYN) n.push('SYN')
  if (f & FIN) n.push('FIN')
  if (f & RST) n.push('RST')
  if (f & PSH) n.push('PSH')
  if (f & ACK) n.push('ACK')
  if (f & URG) n.push('URG')
  return n.join('|') || '-'
}

/** u32 arithmetic for the test's own sequence numbers. */
export function add(a: number, n: number): number {
  return (a + n) >>> 0
}

export interface SegOpts {
  sport: number
  dport: number
  seq: number
  ack?: number
  flags: number
  wnd?: number
  data?: Uint8Array
  mss?: number
  ws?: number
  sackOk?: boolean
  sack?: [number, number][]
  /** Raw option bytes appended after the others (for malformed-option tests). */
  rawOptions?: number[]
  badChecksum?: boolean
  urgent?: number
  src?: number
  dst?: number
}

/** A TCP segment (RFC 9293 §3.1) with a correct checksum unless told otherwise. */
export function tcpSegment(o: SegOpts): Uint8Array {
  const opt: number[] = []
  if (o.mss !== undefined) opt.push(2, 4, o.mss >> 8, o.mss & 255)
  if (o.ws !== undefined) opt.push(1, 3, 3, o.ws)
  if (o.sackOk) opt.push(1, 1, 4, 2)
  if (o.sack && o.sack.length > 0) {
    opt.push(1, 1, 5, 2 + 8 * o.sack.length)
    for (const [l, r] of o.sack) {
      for (const v of [l, r]) opt.push(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255)
    }
  }
  if (o.rawOptions) opt.push(...o.rawOptions)
  while (opt.length % 4 !== 0) opt.push(0)
  const data = o.data ?? new Uint8Array(0)
  const hlen = 20 + opt.length
  const b = new Uint8Array(hlen + data.length)
  const dv = new DataView(b.buffer)
  dv.setUint16(0, o.sport)
  dv.setUint16(2, o.dport)
  dv.setUint32(4, o.seq >>> 0)
  dv.setUint32(8, (o.ack ?? 0) >>> 0)
  b[12] = (hlen / 4) << 4
  b[13] = o.flags
  dv.setUint16(14, o.wnd ?? 65535)
  dv.setUint16(18, o.urgent ?? 0)
  b.set(opt, 20)
  b.set(data, hlen)
  const src = o.src ?? PEER_IP
  const dst = o.dst ?? OUR_IP
  let ck = referenceChecksum(b, pseudo(src, dst, 6, b.length))
  if (o.badChecksum) ck ^= 0x1111
  dv.setUint16(16, ck)
  return b
}

export interface Seg {
  src: number
  dst: number
  sport: number
  dport: number
  seq: number
  ack: number
  flags: number
  wnd: number
  hlen: number
  mss?: number
  ws?: number
  sackOk: boolean
  sack: [number, number][]
  data: Uint8Array
}

/** Parses a TCP segment the stack sent, checking its checksum with the test's own reference. */
export function parseTcp(src: number, dst: number, p: Uint8Array): Seg {
  assert.ok(p.length >= 20, 'TCP header')
  assert.equal(referenceChecksum(p, pseudo(src, dst, 6, p.length)), 0, 'TCP checksum')
  const dv = new DataView(p.buffer, p.byteOffset, p.length)
  const hlen = (p[12] >> 4) * 4
  assert.ok(hlen >= 20 && hlen <= p.length, 'data offset')
  const s: Seg = {
    src, dst, sport: dv.getUint16(0), dport: dv.getUint16(2), seq: dv.getUint32(4), ack: dv.getUint32(8),
    flags: p[13], wnd: dv.getUint16(14), hlen, sackOk: false, sack: [], data: p.slice(hlen),
  }
  let i = 20
  while (i < hlen) {
    const k = p[i]
    if (k === 0) break
    if (k === 1) { i++; continue }
    const l = p[i + 1]
    assert.ok(l >= 2 && i + l <= hlen, 'option length')
    if (k === 2) { assert.equal(l, 4); s.mss = dv.getUint16(i + 2) }
    else if (k === 3) { assert.equal(l, 3); s.ws = p[i + 2] }
    else if (k === 4) { assert.equal(l, 2); s.sackOk = true }
    else if (k === 5) {
      for (let j = i + 2; j + 8 <= i + l; j += 8) s.sack.push([dv.getUint32(j), dv.getUint32(j + 4)])
    }
    i += l
  }
  return s
}

export function segStr(s: Seg): string {
  return `${s.sport}>${s.dport} ${flagStr(s.flags)} seq=${s.seq} ack=${s.ack} wnd=${s.wnd} len=${s.data.length}`
}

/** Records what a TcpHandler is told. */
export class Recorder implements TcpHandler {
  events: string[] = []
  data: number[] = []
  chunks: Uint8Array[] = []
  closed: number[] = []
  /** Bytes to consume per onData (undefined: all). */
  consume: number | undefined = undefined
  onConnectFn: ((id: number) => void) | null = null
  onConnect(id: number): void { this.events.push('connect:' + id); if (this.onConnectFn) this.onConnectFn(id) }
  onData(id: number, d: Uint8Array): number {
    const n = this.consume === undefined ? d.length : Math.min(this.consume, d.length)
    this.chunks.push(d.slice(0, n))
    for (let k = 0; k < n; k++) this.data.push(d[k])
    this.events.push('data:' + id + ':' + n)
    return n
  }
  onEnd(id: number): void { this.events.push('end:' + id) }
  onDrain(id: number): void { this.events.push('drain:' + id) }
  onClose(id: number, err: number): void { this.events.push('close:' + id + ':' + err); this.closed.push(id) }
  bytes(): Uint8Array { return Uint8Array.from(this.data) }
}

export interface TcpRig extends Rig {
  tcp: Tcp
  /** Injects a segment from the peer (defaults: PEER_IP → OUR_IP) and polls. */
  peer(o: SegOpts): void
  /** The TCP segments the stack sent since the last call (ARP etc. skipped). */
  segs(): Seg[]
}

export function makeTcpRig(kind: CoreKind, o: RigOptions & { tcp?: TcpOptions } = {}): TcpRig {
  const r = makeRig(kind, o) as TcpRig
  let k = 0x12345678
  r.tcp = attachTcp(r.stack, { random32: () => { k = (k * 1103515245 + 12345) >>> 0; return k }, ...(o.tcp ?? {}) })
  introduce(r)
  r.peer = (s: SegOpts) => {
    r.send(fromPeer({ src: s.src ?? PEER_IP, dst: s.dst ?? OUR_IP, proto: 6, payload: tcpSegment(s) }, PEER_MAC))
  }
  // The peer is a host like any other: it answers our ARP requests (the cache entry ages out during long
  // scenarios), and the frames that waited for the answer are collected too.
  r.segs = () => {
    const out: Seg[] = []
    for (let round = 0; round < 4; round++) {
      let answered = false
      for (const f of r.drain()) {
        const e = parseEth(f)
        if (e.type === 0x0806) {
          const a = parseArp(e.payload)
          if (a.op === 1 && a.tpa === PEER_IP) {
            r.inject(eth(OUR_MAC, PEER_MAC, 0x0806, arp(2, PEER_MAC, PEER_IP, OUR_MAC, OUR_IP)))
            answered = true
          }
          continue
        }
        if (e.type !== 0x0800) continue
        const ip = parseIp(e.payload)
        if (ip.proto !== 6) continue
        out.push(parseTcp(ip.src, ip.dst, ip.payload))
      }
      if (!answered) break
      r.poll()
    }
    return out
  }
  return r
}

export const PEER_PORT = 40000

export interface Conn {
  id: number
  /** The peer's next sequence number and what it acknowledged last. */
  pseq: number
  /** Our sequence number as the peer sees it (next expected byte). */
  oseq: number
  rec: Recorder
  ourIsn: number
}

/** The peer opens a connection to our listener on `port` (three-way handshake, RFC 9293 §3.5). */
export function acceptFrom(r: TcpRig, port: number, rec: Recorder, o: { isn?: number; wnd?: number; mss?: number; ws?: number; sackOk?: boolean; sport?: number } = {}): Conn {
  const isn = o.isn ?? 1000
  const sport = o.sport ?? PEER_PORT
  r.peer({ sport, dport: port, seq: isn, flags: SYN, wnd: o.wnd ?? 65535, mss: o.mss ?? 1460, ws: o.ws, sackOk: o.sackOk })
  const out = r.segs()
  assert.equal(out.length, 1, 'one SYN-ACK')
  const sa = out[0]
  assert.equal(sa.flags, SYN | ACK, 'SYN-ACK flags')
  assert.equal(sa.ack, add(isn, 1))
  r.peer({ sport, dport: port, seq: add(isn, 1), ack: add(sa.seq, 1), flags: ACK, wnd: o.wnd ?? 65535 })
  const id = rec.events.length > 0 ? Number(rec.events[rec.events.length - 1].split(':')[1]) : -1
  assert.ok(id >= 0, 'onConnect: ' + rec.events.join(','))
  return { id, pseq: add(isn, 1), oseq: add(sa.seq, 1), rec, ourIsn: sa.seq }
}

/** Our stack opens a connection to the peer (PEER_IP:PEER_PORT by default); the peer answers SYN-ACK. */
export function connectTo(r: TcpRig, rec: Recorder, o: { isn?: number; wnd?: number; mss?: number; ws?: number; sackOk?: boolean; port?: number } = {}): Conn {
  const port = o.port ?? PEER_PORT
  const id = r.tcp.connect(PEER_IP, port, 0, rec, r.clock.now())
  assert.ok(id >= 0, 'connect: ' + id)
  const out = r.segs()
  assert.equal(out.length, 1, 'one SYN')
  const syn = out[0]
  assert.equal(syn.flags, SYN)
  const isn = o.isn ?? 5000
  r.peer({ sport: port, dport: syn.sport, seq: isn, ack: add(syn.seq, 1), flags: SYN | ACK, wnd: o.wnd ?? 65535,
    mss: o.mss ?? 1460, ws: o.ws, sackOk: o.sackOk })
  return { id, pseq: add(isn, 1), oseq: add(syn.seq, 1), rec, ourIsn: syn.seq }
}
