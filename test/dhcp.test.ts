// The DHCP client (firmware/net/dhcp.ts) against a scripted server, in virtual time, over a fake stack.
// The server's replies are encoded byte by byte here and the client's messages decoded here, independently
// of the firmware's own encoder and parser.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { VirtualClock } from '../firmware/kernel/clock.js'
import { DhcpClient, formatBound, DHCP_DNS_SLOTS } from '../firmware/net/dhcp.js'
import { FakeStack, SeededRandom, ip } from './fixtures/fake-net.js'
import { realStack, pushFrame, drainTx, udpFrame, arpReply, parseUdpFrame, parseArpRequest, BROADCAST_MAC } from './fixtures/real-net.js'

const S = 1000000
const MAC = new Uint8Array([0x02, 0x53, 0x50, 0x00, 0x00, 0x2a])
const SERVER = ip('10.77.0.1')
const OTHER_SERVER = ip('10.77.0.2')
const CLIENT_IP = ip('10.77.0.50')
const MASK = ip('255.255.255.0')
const BCAST = 0xffffffff

// ---------------------------------------------------------------------------------------------------------
// Test-side wire format (RFC 2131 §2, RFC 2132)

function be32(n: number): number[] {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]
}

type Opt = [number, number[]]

interface ReplySpec {
  xid: number
  type?: number // option 53; omitted when null
  op?: number
  htype?: number
  hlen?: number
  yiaddr?: number
  chaddr?: Uint8Array
  cookie?: number[]
  options?: Opt[] // after 53
  file?: Opt[]
  sname?: Opt[]
  noEnd?: boolean
}

function encodeOptions(opts: Opt[], out: number[]): void {
  for (const [code, value] of opts) {
    out.push(code)
    if (code === 0 || code === 255) continue
    out.push(value.length)
    for (const b of value) out.push(b)
  }
}

function area(opts: Opt[] | undefined, size: number): number[] {
  const out: number[] = []
  if (opts) { encodeOptions(opts, out); out.push(255) }
  while (out.length < size) out.push(0)
  if (out.length > size) throw new Error('test area overflow')
  return out
}

function encodeReply(r: ReplySpec): Uint8Array {
  const b: number[] = []
  b.push(r.op ?? 2, r.htype ?? 1, r.hlen ?? 6, 0)
  b.push(...be32(r.xid))
  b.push(0, 0, 0x80, 0) // secs, flags (BROADCAST)
  b.push(...be32(0)) // ciaddr
  b.push(...be32(r.yiaddr ?? 0))
  b.push(...be32(SERVER)) // siaddr
  b.push(...be32(0)) // giaddr
  const ch = r.chaddr ?? MAC
  for (let i = 0; i < 16; i++) b.push(i < ch.length ? ch[i] : 0)
  b.push(...area(r.sname, 64))
  b.push(...area(r.file, 128))
  if (b.length !== 236) throw new Error('fixed part is ' + b.length)
  b.push(...(r.cookie ?? [99, 130, 83, 99]))
  const opts: Opt[] = []
  if (r.type !== undefined) opts.push([53, [r.type]])
  encodeOptions(opts.concat(r.options ?? []), b)
  if (!r.noEnd) b.push(255)
  while (b.length < 300) b.push(0)
  return new Uint8Array(b)
}

interface Lease { lease?: number; t1?: number; t2?: number; server?: number; yiaddr?: number; extra?: Opt[] }

function leaseOptions(l: Lease): Opt[] {
  const o: Opt[] = [
    [54, be32(l.server ?? SERVER)],
    [1, be32(MASK)],
    [3, be32(SERVER).concat(be32(ip('10.77.0.254')))],
    [6, be32(ip('10.77.0.1')).concat(be32(ip('1.1.1.1')), be32(ip('8.8.8.8')))],
    [51, be32(l.lease ?? 3600)],
  ]
  if (l.t1 !== undefined) o.push([58, be32(l.t1)])
  if (l.t2 !== undefined) o.push([59, be32(l.t2)])
  return o.concat(l.extra ?? [])
}

function offer(xid: number, l?: Lease): Uint8Array {
  const x = l ?? {}
  return encodeReply({ xid: xid, type: 2, yiaddr: x.yiaddr ?? CLIENT_IP, options: leaseOptions(x) })
}

function ack(xid: number, l?: Lease): Uint8Array {
  const x = l ?? {}
  return encodeReply({ xid: xid, type: 5, yiaddr: x.yiaddr ?? CLIENT_IP, options: leaseOptions(x) })
}

function nak(xid: number, server?: number): Uint8Array {
  return encodeReply({ xid: xid, type: 6, options: [[54, be32(server ?? SERVER)]] })
}

interface ClientMsg {
  op: number; htype: number; hlen: number; xid: number; secs: number; flags: number
  ciaddr: number; yiaddr: number; chaddr: number[]; cookie: number[]
  options: { [code: number]: number[] }
  length: number; dstIp: number; dstPort: number; srcPort: number; now: number
}

function u32(d: Uint8Array, at: number): number {
  return ((d[at] << 24) | (d[at + 1] << 16) | (d[at + 2] << 8) | d[at + 3]) >>> 0
}

function decodeClient(d: Uint8Array): Omit<ClientMsg, 'dstIp' | 'dstPort' | 'srcPort' | 'now'> {
  const options: { [code: number]: number[] } = {}
  let i = 240
  while (i < d.length && d[i] !== 255) {
    if (d[i] === 0) { i++; continue }
    const code = d[i]
    const n = d[i + 1]
    assert.ok(i + 2 + n <= d.length, 'client option ' + code + ' runs past the message')
    assert.equal(options[code], undefined, 'client sent option ' + code + ' twice')
    options[code] = Array.from(d.subarray(i + 2, i + 2 + n))
    i += 2 + n
  }
  assert.ok(i < d.length, 'client message has no End option')
  return {
    op: d[0], htype: d[1], hlen: d[2], xid: u32(d, 4), secs: (d[8] << 8) | d[9], flags: (d[10] << 8) | d[11],
    ciaddr: u32(d, 12), yiaddr: u32(d, 16), chaddr: Array.from(d.subarray(28, 34)), cookie: Array.from(d.subarray(236, 240)),
    options: options, length: d.length,
  }
}

// ---------------------------------------------------------------------------------------------------------
// The harness: a client on a fake stack, a virtual clock, and the messages it sent to port 67

class Env {
  readonly clock = new VirtualClock()
  readonly stack = new FakeStack(MAC)
  readonly random = new SeededRandom(0x5eed)
  readonly bound: [number, number, number, number][] = []
  readonly lostAt: number[] = []
  readonly client: DhcpClient
  private read = 0

  constructor(hostname?: string) {
    this.client = new DhcpClient(this.stack, this.random, {
      hostname: hostname ?? 'spinet-test',
      onBound: (a, m, g, l) => this.bound.push([a, m, g, l]),
      onLost: () => this.lostAt.push(this.clock.now()),
    })
  }

  now(): number { return this.clock.now() }

  /** Every message the client sent so far. */
  all(): ClientMsg[] {
    return this.stack.udp.sent.map((s) => {
      assert.equal(s.srcPort, 68, 'DHCP client messages come from port 68')
      return { ...decodeClient(s.data), dstIp: s.dstIp, dstPort: s.dstPort, srcPort: s.srcPort, now: s.now }
    })
  }

  /** The messages sent since the last call. */
  fresh(): ClientMsg[] {
    const all = this.all()
    const out = all.slice(this.read)
    this.read = all.length
    return out
  }

  /** Exactly one new message, which is returned. */
  one(): ClientMsg {
    const f = this.fresh()
    assert.equal(f.length, 1, 'expected one new client message, got ' + f.length)
    return f[0]
  }

  /** Advances to `at` (µs), polling at every timer deadline on the way. */
  runTo(at: number): void {
    for (let guard = 0; guard < 100000; guard++) {
      this.stack.poll(this.now())
      const next = this.stack.timers.next()
      if (next < 0 || next > at) break
      if (next > this.now()) this.clock.advance(next - this.now())
    }
    if (at > this.now()) this.clock.advance(at - this.now())
    this.stack.poll(this.now())
  }

  /** A server reply arriving `afterUs` from now, sent to the broadcast address from port 67. */
  reply(data: Uint8Array, afterUs?: number, src?: number, dst?: number, srcPort?: number): void {
    if (afterUs) this.clock.advance(afterUs)
    this.stack.inject(src ?? SERVER, srcPort ?? 67, dst ?? BCAST, 68, data)
    this.stack.settle(this.now())
  }

  /** start → DISCOVER → OFFER → REQUEST → ACK; returns the REQUEST. */
  dora(l?: Lease): ClientMsg {
    this.client.start(this.now())
    const d = this.one()
    this.reply(offer(d.xid, l), 500000)
    const r = this.one()
    this.reply(ack(r.xid, l), 100000)
    return r
  }
}

function typeOf(m: ClientMsg): number {
  return m.options[53][0]
}

function optIp(m: ClientMsg, code: number): number {
  const v = m.options[code]
  assert.ok(v && v.length === 4, 'option ' + code + ' missing or not 4 bytes')
  return ((v[0] << 24) | (v[1] << 16) | (v[2] << 8) | v[3]) >>> 0
}

// ---------------------------------------------------------------------------------------------------------

describe('DHCP: allocation (RFC 2131 §3.1, §4.4.1)', () => {
  test('full DORA: broadcast DISCOVER and REQUEST, then the stack is configured and onBound called', () => {
    const e = new Env()
    assert.equal(e.client.start(0), 0)
    assert.ok(e.stack.udp.isOpen(68), 'port 68 is open')
    const d = e.one()
    assert.equal(d.dstIp, BCAST)
    assert.equal(d.dstPort, 67)
    assert.equal(d.op, 1, 'BOOTREQUEST')
    assert.equal(d.htype, 1)
    assert.equal(d.hlen, 6)
    assert.deepEqual(d.chaddr, Array.from(MAC))
    assert.deepEqual(d.cookie, [99, 130, 83, 99])
    assert.equal(d.flags, 0x8000, 'BROADCAST flag set')
    assert.equal(d.ciaddr, 0)
    assert.equal(typeOf(d), 1, 'DHCPDISCOVER')
    assert.deepEqual(d.options[61], [1].concat(Array.from(MAC)), 'client identifier')
    assert.equal(String.fromCharCode(...d.options[12]), 'spinet-test', 'host name')
    for (const p of [1, 3, 6, 51, 58, 59]) assert.ok(d.options[55].includes(p), 'asks for option ' + p)
    assert.equal(d.options[54], undefined, 'no server id in DISCOVER')
    assert.ok(d.length >= 300 && d.length <= 548, 'message length ' + d.length)
    assert.equal(e.client.state(), 'selecting')

    e.reply(offer(d.xid), 1500000)
    const r = e.one()
    assert.equal(r.dstIp, BCAST)
    assert.equal(typeOf(r), 3, 'DHCPREQUEST')
    assert.equal(r.xid, d.xid, 'same xid as the DISCOVER')
    assert.equal(r.secs, d.secs, 'same secs as the DISCOVER (§4.4.1)')
    assert.equal(r.flags, 0x8000)
    assert.equal(r.ciaddr, 0)
    assert.equal(optIp(r, 50), CLIENT_IP, 'requested IP')
    assert.equal(optIp(r, 54), SERVER, 'server identifier')
    assert.equal(e.client.state(), 'requesting')
    assert.equal(e.stack.configLog.length, 0, 'nothing configured before the ACK')

    e.reply(ack(r.xid), 200000)
    assert.equal(e.client.state(), 'bound')
    assert.deepEqual(e.stack.config(), { ip: CLIENT_IP, mask: MASK, gateway: SERVER })
    assert.equal(e.stack.configLog.length, 1)
    assert.deepEqual(e.bound, [[CLIENT_IP, MASK, SERVER, 3600]])
    assert.equal(formatBound(CLIENT_IP, MASK, SERVER, 3600), 'dhcp: bound 10.77.0.50/24 gateway 10.77.0.1 lease 3600 s')
    assert.equal(e.client.lease(), 3600)
    assert.equal(e.client.server(), SERVER)
    assert.equal(e.client.dnsCount(), DHCP_DNS_SLOTS, 'DNS servers kept as room allows')
    assert.equal(e.client.dns(0), ip('10.77.0.1'))
    assert.equal(e.client.dns(1), ip('1.1.1.1'))
    assert.equal(e.stack.counters.get('dhcp.tx'), 2)
    assert.equal(e.stack.counters.get('dhcp.rx'), 2)
    assert.equal(e.stack.counters.get('dhcp.bound'), 1)
    assert.equal(e.stack.counters.get('dhcp.lost'), 0)
    assert.equal(e.fresh().length, 0, 'nothing more sent once bound')
  })

  test('every message is built in the same preallocated buffer', () => {
    const e = new Env()
    e.dora()
    e.runTo(2000 * S) // a renewal too
    assert.ok(e.stack.udp.sent.length >= 3)
    const sent = e.stack.udp.sent
    for (const m of sent) assert.equal(m.raw, sent[0].raw, 'the same Uint8Array every time')
    assert.ok(sent[0].raw.length <= 548)
  })

  test('a NAK to the REQUEST restarts with a new DISCOVER and a new xid', () => {
    const e = new Env()
    e.client.start(0)
    const d = e.one()
    e.reply(offer(d.xid), S)
    const r = e.one()
    e.reply(nak(r.xid), S)
    const d2 = e.one()
    assert.equal(typeOf(d2), 1)
    assert.notEqual(d2.xid, d.xid)
    assert.equal(e.client.state(), 'selecting')
    assert.equal(e.stack.configLog.length, 0)
    assert.equal(e.lostAt.length, 0, 'nothing was bound, so nothing is lost')
    // the restarted exchange completes
    e.reply(offer(d2.xid), S)
    e.reply(ack(e.one().xid), S)
    assert.equal(e.client.state(), 'bound')
  })

  test('a NAK or ACK from a server we did not choose is ignored while REQUESTING', () => {
    const e = new Env()
    e.client.start(0)
    const d = e.one()
    e.reply(offer(d.xid), S)
    const r = e.one()
    e.reply(nak(r.xid, OTHER_SERVER), S, OTHER_SERVER)
    e.reply(ack(r.xid, { server: OTHER_SERVER }), S, OTHER_SERVER)
    assert.equal(e.client.state(), 'requesting')
    assert.equal(e.fresh().length, 0)
    e.reply(ack(r.xid), S)
    assert.equal(e.client.state(), 'bound')
  })

  test('a second OFFER while REQUESTING is ignored', () => {
    const e = new Env()
    e.client.start(0)
    const d = e.one()
    e.reply(offer(d.xid), S)
    e.one()
    e.reply(offer(d.xid, { server: OTHER_SERVER, yiaddr: ip('10.77.0.99') }), S, OTHER_SERVER)
    assert.equal(e.fresh().length, 0)
    assert.equal(e.client.state(), 'requesting')
  })

  test('the lost OFFER: DISCOVER retransmitted after 4, 8, 16, 32, 64, 64 s, each ±1 s (§4.1)', () => {
    const e = new Env()
    e.client.start(0)
    e.runTo(300 * S)
    const ds = e.fresh()
    assert.ok(ds.length >= 7, 'retransmissions: ' + ds.length)
    const bases = [4, 8, 16, 32, 64, 64]
    let exact = 0
    for (let i = 0; i < bases.length; i++) {
      const gap = (ds[i + 1].now - ds[i].now) / S
      assert.ok(gap >= bases[i] - 1 && gap <= bases[i] + 1, 'gap ' + i + ' = ' + gap + ' s, expected ' + bases[i] + ' ± 1')
      if (gap === bases[i]) exact++
      assert.equal(typeOf(ds[i + 1]), 1)
      assert.equal(ds[i + 1].xid, ds[0].xid, 'retransmissions keep the xid')
      assert.equal(ds[i + 1].secs, Math.floor(ds[i + 1].now / S), "'secs' counts from the start of the exchange")
    }
    assert.ok(exact < bases.length, 'the delays are randomised')
    // the server finally answers the latest DISCOVER
    const last = ds[ds.length - 1]
    e.reply(offer(last.xid), S)
    e.reply(ack(e.one().xid), S)
    assert.equal(e.client.state(), 'bound')
  })

  test('an unanswered REQUEST is sent 5 times, then the client goes back to DISCOVER (§3.1 (5))', () => {
    const e = new Env()
    e.client.start(0)
    const d = e.one()
    e.reply(offer(d.xid), S)
    e.runTo(200 * S)
    const msgs = e.fresh()
    const reqs = msgs.filter((m) => typeOf(m) === 3)
    assert.equal(reqs.length, 5)
    const disc = msgs.filter((m) => typeOf(m) === 1)
    assert.ok(disc.length >= 1, 'back to DISCOVER')
    assert.notEqual(disc[0].xid, d.xid)
    const waited = (disc[0].now - reqs[0].now) / S
    assert.ok(waited >= 4 + 8 + 16 + 32 + 64 - 5 && waited <= 124 + 5, 'gave up after ' + waited + ' s')
  })

  test('the BROADCAST flag, chaddr and start twice', () => {
    const e = new Env('')
    e.client.start(0)
    assert.equal(e.client.start(0), 0, 'start while running is a no-op')
    const d = e.one()
    assert.equal(d.options[12], undefined, 'no host name option when none is set')
    assert.equal(d.length, 300, 'padded to the BOOTP minimum')
  })

  test('port 68 in use: start returns the UDP error', () => {
    const e = new Env()
    e.stack.udp.open(68, () => {})
    assert.equal(e.client.start(0), -2)
    assert.equal(e.client.state(), 'stopped')
  })
})

describe('DHCP: lease maintenance (RFC 2131 §4.4.5)', () => {
  test('renew at T1: unicast REQUEST to the server with ciaddr, no server id; the ACK extends the lease', () => {
    const e = new Env()
    const r = e.dora()
    const sentAt = r.now // the lease counts from the REQUEST
    e.runTo(sentAt + 1800 * S - 1)
    assert.equal(e.fresh().length, 0, 'nothing before T1')
    e.runTo(sentAt + 1800 * S)
    const q = e.one()
    assert.equal(e.client.state(), 'renewing')
    assert.equal(typeOf(q), 3)
    assert.equal(q.dstIp, SERVER, 'unicast to the server')
    assert.equal(q.ciaddr, CLIENT_IP)
    assert.equal(q.flags, 0, 'no BROADCAST flag once configured')
    assert.equal(q.options[54], undefined, 'MUST NOT include server identifier')
    assert.equal(q.options[50], undefined, 'MUST NOT include requested IP')
    assert.notEqual(q.xid, r.xid)
    // a stale ACK (old xid) is discarded
    e.reply(ack(r.xid), S, SERVER, CLIENT_IP)
    assert.equal(e.client.state(), 'renewing')
    e.reply(ack(q.xid), S, SERVER, CLIENT_IP)
    assert.equal(e.client.state(), 'bound')
    assert.equal(e.stack.configLog.length, 1, 'same address: the stack is not reconfigured')
    assert.equal(e.bound.length, 1, 'onBound only for a new binding')
    assert.equal(e.stack.counters.get('dhcp.bound'), 2)
    // next T1 counts from the renewal REQUEST
    e.runTo(q.now + 1800 * S - 1)
    assert.equal(e.fresh().length, 0)
    e.runTo(q.now + 1800 * S)
    assert.equal(e.one().dstIp, SERVER)
  })

  test('renewal unanswered: retransmit after half the time to T2 (min 60 s), rebind at T2 by broadcast, then expiry drops the address', () => {
    const e = new Env()
    const r = e.dora()
    const base = r.now
    const t1 = base + 1800 * S
    const t2 = base + 3150 * S
    const end = base + 3600 * S
    e.runTo(t2 - 1)
    const renew = e.fresh()
    assert.ok(renew.length >= 4, 'renewal REQUESTs: ' + renew.length)
    assert.equal(renew[0].now, t1)
    assert.equal(renew[1].now, t1 + (t2 - t1) / 2, 'first retransmission after half the time to T2')
    for (let i = 1; i < renew.length; i++) {
      const gap = renew[i].now - renew[i - 1].now
      assert.ok(gap >= 60 * S, 'at least 60 s between retransmissions')
      assert.ok(gap >= Math.min((t2 - renew[i - 1].now) / 2, 60 * S) - 1)
    }
    for (const m of renew) {
      assert.equal(m.dstIp, SERVER)
      assert.equal(m.ciaddr, CLIENT_IP)
      assert.ok(m.now < t2)
    }
    e.runTo(t2)
    const rb = e.one()
    assert.equal(e.client.state(), 'rebinding')
    assert.equal(rb.dstIp, BCAST, 'REBINDING broadcasts')
    assert.equal(rb.ciaddr, CLIENT_IP)
    assert.equal(rb.options[54], undefined)
    assert.equal(rb.options[50], undefined)
    e.runTo(end - 1)
    const rebind = e.fresh()
    assert.ok(rebind.length >= 1)
    assert.equal(rebind[0].now, t2 + (end - t2) / 2, 'retransmission after half the time to expiry')
    for (const m of rebind) assert.equal(m.dstIp, BCAST)
    assert.equal(e.stack.config().ip, CLIENT_IP, 'still using the address before expiry')
    assert.equal(e.lostAt.length, 0)

    e.runTo(end)
    assert.equal(e.stack.config().ip, 0, 'address dropped at expiry')
    assert.deepEqual(e.stack.configLog[e.stack.configLog.length - 1], { ip: 0, mask: 0, gateway: 0, now: end })
    assert.deepEqual(e.lostAt, [end])
    assert.equal(e.stack.counters.get('dhcp.lost'), 1)
    const d = e.one()
    assert.equal(typeOf(d), 1, 'DISCOVER again')
    assert.equal(d.dstIp, BCAST)
    assert.equal(d.ciaddr, 0)
    assert.equal(d.flags, 0x8000)
    assert.equal(e.client.state(), 'selecting')
  })

  test('rebinding: an ACK from any server rebinds and keeps the address', () => {
    const e = new Env()
    const r = e.dora()
    e.runTo(r.now + 3150 * S)
    const msgs = e.fresh()
    const rb = msgs[msgs.length - 1]
    assert.equal(rb.dstIp, BCAST)
    e.reply(ack(rb.xid, { server: OTHER_SERVER, lease: 7200 }), S, OTHER_SERVER)
    assert.equal(e.client.state(), 'bound')
    assert.equal(e.client.server(), OTHER_SERVER, 'renewals now go to the server that answered')
    assert.equal(e.client.lease(), 7200)
    assert.equal(e.stack.config().ip, CLIENT_IP)
    e.runTo(rb.now + 3600 * S)
    const q = e.one()
    assert.equal(q.dstIp, OTHER_SERVER)
  })

  test('a NAK while renewing drops the address and starts over', () => {
    const e = new Env()
    const r = e.dora()
    e.runTo(r.now + 1800 * S)
    const q = e.one()
    e.reply(nak(q.xid), S, SERVER, CLIENT_IP)
    assert.equal(e.stack.config().ip, 0)
    assert.equal(e.lostAt.length, 1)
    assert.equal(typeOf(e.one()), 1)
    assert.equal(e.client.state(), 'selecting')
  })

  test('a renewal ACK with a new address reconfigures the stack and calls onBound', () => {
    const e = new Env()
    const r = e.dora()
    e.runTo(r.now + 1800 * S)
    const q = e.one()
    e.reply(ack(q.xid, { yiaddr: ip('10.77.0.51') }), S, SERVER, CLIENT_IP)
    assert.equal(e.stack.config().ip, ip('10.77.0.51'))
    assert.equal(e.bound.length, 2)
  })

  test('T1 and T2 from the server are used; inconsistent ones fall back to 0.5 and 0.875 of the lease', () => {
    const e = new Env()
    const r = e.dora({ t1: 600, t2: 900 })
    e.runTo(r.now + 600 * S)
    assert.equal(e.one().dstIp, SERVER, 'renewing at T1 = 600 s')
    e.runTo(r.now + 900 * S)
    const rb = e.fresh()
    assert.equal(rb[rb.length - 1].dstIp, BCAST, 'rebinding at T2 = 900 s')

    const f = new Env()
    const r2 = f.dora({ t1: 5000, t2: 4000 }) // T1 > T2 > lease: ignored
    f.runTo(r2.now + 1800 * S - 1)
    assert.equal(f.fresh().length, 0)
    f.runTo(r2.now + 1800 * S)
    assert.equal(f.one().dstIp, SERVER)
  })

  test('an infinite lease (0xffffffff) is never renewed', () => {
    const e = new Env()
    e.dora({ lease: 0xffffffff })
    assert.equal(e.client.lease(), 0xffffffff)
    assert.equal(formatBound(CLIENT_IP, MASK, SERVER, 0xffffffff), 'dhcp: bound 10.77.0.50/24 gateway 10.77.0.1 lease infinite')
    e.runTo(100 * 24 * 3600 * S)
    assert.equal(e.fresh().length, 0)
    assert.equal(e.client.state(), 'bound')
  })

  test('release sends DHCPRELEASE to the server and stop drops the address and closes port 68', () => {
    const e = new Env()
    e.dora()
    e.clock.advance(10 * S)
    e.client.release(e.now())
    const m = e.one()
    assert.equal(typeOf(m), 7)
    assert.equal(m.dstIp, SERVER)
    assert.equal(m.ciaddr, CLIENT_IP)
    assert.equal(optIp(m, 54), SERVER)
    assert.equal(m.options[55], undefined)
    assert.equal(e.stack.config().ip, 0)
    assert.equal(e.client.state(), 'stopped')
    assert.ok(!e.stack.udp.isOpen(68))
    e.runTo(10000 * S)
    assert.equal(e.fresh().length, 0, 'a stopped client sends nothing')
    assert.equal(e.stack.timers.next(), -1, 'and has no timer armed')
    // it can start again
    e.client.start(e.now())
    assert.equal(typeOf(e.one()), 1)
  })
})

describe('DHCP: option parsing (RFC 2132)', () => {
  test('options continued in the overloaded file and sname fields (option 52) are read', () => {
    const e = new Env()
    e.client.start(0)
    const d = e.one()
    const msg = encodeReply({
      xid: d.xid, type: 2, yiaddr: CLIENT_IP,
      options: [[52, [3]]],
      file: [[54, be32(SERVER)], [51, be32(3600)]],
      sname: [[1, be32(MASK)]],
    })
    e.reply(msg, S)
    const r = e.one()
    assert.equal(optIp(r, 54), SERVER)
  })

  test('pad options, unknown options and a missing End are tolerated', () => {
    const e = new Env()
    e.client.start(0)
    const d = e.one()
    const msg = encodeReply({
      xid: d.xid, type: 2, yiaddr: CLIENT_IP, noEnd: true,
      options: [[0, []], [0, []], [200, [1, 2, 3, 4, 5]], [54, be32(SERVER)], [43, []]],
    })
    e.reply(msg.subarray(0, 240 + 3 + 2 + 7 + 6 + 2), S) // cut exactly after the last option, no End
    assert.equal(optIp(e.one(), 54), SERVER)
  })

  test('no subnet mask option: the class mask is used; no router: gateway 0', () => {
    const e = new Env()
    e.client.start(0)
    const d = e.one()
    e.reply(encodeReply({ xid: d.xid, type: 2, yiaddr: CLIENT_IP, options: [[54, be32(SERVER)]] }), S)
    const r = e.one()
    e.reply(encodeReply({ xid: r.xid, type: 5, yiaddr: CLIENT_IP, options: [[54, be32(SERVER)], [51, be32(600)]] }), S)
    assert.deepEqual(e.stack.config(), { ip: CLIENT_IP, mask: ip('255.0.0.0'), gateway: 0 })
  })

  describe('malformed or foreign messages are dropped without exceptions', () => {
    /** [name, build(xid, ownDiscover) → bytes, source port] */
    const cases: [string, (xid: number, own: Uint8Array) => Uint8Array, number?][] = [
      ['empty datagram', () => new Uint8Array(0)],
      ['shorter than the fixed fields', (x) => offer(x).subarray(0, 200)],
      ['fixed fields but no cookie', (x) => offer(x).subarray(0, 236)],
      ['missing magic cookie', (x) => encodeReply({ xid: x, type: 2, yiaddr: CLIENT_IP, cookie: [0, 0, 0, 0], options: leaseOptions({}) })],
      ['wrong magic cookie', (x) => encodeReply({ xid: x, type: 2, yiaddr: CLIENT_IP, cookie: [99, 130, 83, 98], options: leaseOptions({}) })],
      ['wrong xid', (x) => offer((x + 1) >>> 0)],
      ['wrong op (BOOTREQUEST)', (x) => encodeReply({ op: 1, xid: x, type: 2, yiaddr: CLIENT_IP, options: leaseOptions({}) })],
      ['our own DISCOVER echoed back from port 67', (_x, own) => own],
      ['our own DISCOVER echoed back from port 68', (_x, own) => own, 68],
      ['an OFFER from a port other than 67', (x) => offer(x), 1067],
      ['wrong htype', (x) => encodeReply({ htype: 6, xid: x, type: 2, yiaddr: CLIENT_IP, options: leaseOptions({}) })],
      ['wrong hlen', (x) => encodeReply({ hlen: 16, xid: x, type: 2, yiaddr: CLIENT_IP, options: leaseOptions({}) })],
      ['another client\'s chaddr', (x) => encodeReply({ chaddr: new Uint8Array([2, 0, 0, 0, 0, 9]), xid: x, type: 2, yiaddr: CLIENT_IP, options: leaseOptions({}) })],
      ['no message type', (x) => encodeReply({ xid: x, yiaddr: CLIENT_IP, options: leaseOptions({}) })],
      ['message type twice', (x) => encodeReply({ xid: x, type: 2, yiaddr: CLIENT_IP, options: [[53, [2]] as Opt].concat(leaseOptions({})) })],
      ['message type of length 2', (x) => encodeReply({ xid: x, yiaddr: CLIENT_IP, options: [[53, [2, 0]] as Opt].concat(leaseOptions({})) })],
      ['message type DISCOVER', (x) => encodeReply({ xid: x, type: 1, yiaddr: CLIENT_IP, options: leaseOptions({}) })],
      ['a NAK while selecting', (x) => nak(x)],
      ['an ACK while selecting', (x) => ack(x)],
      ['subnet mask of length 3', (x) => encodeReply({ xid: x, type: 2, yiaddr: CLIENT_IP, options: [[1, [255, 255, 255]] as Opt, [54, be32(SERVER)]] })],
      ['server id of length 5', (x) => encodeReply({ xid: x, type: 2, yiaddr: CLIENT_IP, options: [[54, be32(SERVER).concat([0])]] })],
      ['server id 0.0.0.0', (x) => encodeReply({ xid: x, type: 2, yiaddr: CLIENT_IP, options: [[54, be32(0)]] })],
      ['router list not a multiple of 4', (x) => encodeReply({ xid: x, type: 2, yiaddr: CLIENT_IP, options: [[54, be32(SERVER)], [3, [10, 77, 0, 1, 10]]] })],
      ['DNS list empty', (x) => encodeReply({ xid: x, type: 2, yiaddr: CLIENT_IP, options: [[54, be32(SERVER)], [6, []]] })],
      ['lease of length 2', (x) => encodeReply({ xid: x, type: 2, yiaddr: CLIENT_IP, options: [[54, be32(SERVER)], [51, [0, 60]]] })],
      ['overload value 4', (x) => encodeReply({ xid: x, type: 2, yiaddr: CLIENT_IP, options: [[54, be32(SERVER)], [52, [4]]] })],
      ['overload inside the overloaded file field', (x) => encodeReply({ xid: x, type: 2, yiaddr: CLIENT_IP, options: [[52, [1]]], file: [[52, [2]], [54, be32(SERVER)]] })],
      ['truncated overloaded file field option', (x) => {
        const m = encodeReply({ xid: x, type: 2, yiaddr: CLIENT_IP, options: [[54, be32(SERVER)], [52, [1]]] })
        m[108] = 200; m[109] = 200 // an option of 200 bytes starting 128 bytes before the end of 'file'
        return m
      }],
      ['truncated option: packet ends inside the last option', (x) => {
        const m = encodeReply({ xid: x, type: 2, yiaddr: CLIENT_IP, options: [[54, be32(SERVER)]], noEnd: true })
        return m.subarray(0, 240 + 3 + 4) // 53 whole, 54 cut after 2 of its 4 value bytes
      }],
      ['truncated option: packet ends on an option code', (x) => {
        const m = encodeReply({ xid: x, type: 2, yiaddr: CLIENT_IP, options: [[54, be32(SERVER)]], noEnd: true })
        m[240 + 3 + 6] = 7 // after a whole 54, the code of a log-server option and then the end of the packet
        return m.subarray(0, 240 + 3 + 6 + 1)
      }],
      ['option length far beyond the packet', (x) => {
        const m = encodeReply({ xid: x, type: 2, yiaddr: CLIENT_IP, options: [[54, be32(SERVER)], [43, [1]]] })
        m[240 + 3 + 6 + 1] = 255 // vendor option claims 255 bytes
        return m.subarray(0, 260)
      }],
      ['OFFER of 0.0.0.0', (x) => offer(x, { yiaddr: 0 })],
      ['OFFER of a multicast address', (x) => offer(x, { yiaddr: ip('224.0.0.1') })],
      ['OFFER of loopback', (x) => offer(x, { yiaddr: ip('127.0.0.5') })],
      ['OFFER without server identifier', (x) => encodeReply({ xid: x, type: 2, yiaddr: CLIENT_IP, options: [[51, be32(60)]] })],
    ]

    for (const [name, build, port] of cases) {
      test(name, () => {
        const e = new Env()
        e.client.start(0)
        const d = e.one()
        const own = e.stack.udp.sent[0].data
        const before = e.client.dropped
        assert.doesNotThrow(() => e.reply(build(d.xid, own), S, SERVER, BCAST, port ?? 67))
        assert.equal(e.client.state(), 'selecting')
        assert.equal(e.fresh().length, 0, 'no REQUEST sent')
        assert.equal(e.client.dropped, before + 1, 'counted as dropped')
        assert.equal(e.stack.counters.get('dhcp.rx'), 1)
        // a valid OFFER still works afterwards
        e.reply(offer(d.xid), S)
        assert.equal(typeOf(e.one()), 3)
      })
    }

    test('an ACK without a lease time is not bound to (Table 3: MUST)', () => {
      const e = new Env()
      e.client.start(0)
      const d = e.one()
      e.reply(offer(d.xid), S)
      const r = e.one()
      e.reply(encodeReply({ xid: r.xid, type: 5, yiaddr: CLIENT_IP, options: [[54, be32(SERVER)]] }), S)
      assert.equal(e.client.state(), 'requesting')
      assert.equal(e.stack.configLog.length, 0)
    })

    test('2,000 random mutations of a valid OFFER and ACK never throw', () => {
      const rnd = new SeededRandom(77)
      for (let i = 0; i < 2000; i++) {
        const e = new Env()
        e.client.start(0)
        const d = e.one()
        const m = new Uint8Array(i % 2 === 0 ? offer(d.xid) : ack(d.xid))
        const flips = 1 + (rnd.next32() % 6)
        for (let k = 0; k < flips; k++) {
          // mostly in the options, sometimes anywhere
          const at = rnd.next32() % 4 === 0 ? rnd.next32() % m.length : 240 + (rnd.next32() % 60)
          m[at] = rnd.next32() & 0xff
        }
        const cut = rnd.next32() % 3 === 0 ? rnd.next32() % m.length : m.length
        assert.doesNotThrow(() => e.reply(m.subarray(0, cut), S))
        const st = e.client.state()
        assert.ok(st === 'selecting' || st === 'requesting', st)
      }
    })
  })
})

describe('DHCP over the real NetStack (firmware/net/stack.ts), frames in and out of its rings', () => {
  test('DORA with a broadcast OFFER and a unicast ACK, then a unicast renewal that resolves the server by ARP', () => {
    const SERVER_MAC = [0x02, 0x77, 0, 0, 0, 0x01]
    const stack = realStack(MAC)
    const clock = new VirtualClock()
    const bound: number[][] = []
    const client = new DhcpClient(stack, new SeededRandom(99), { hostname: 'board', onBound: (a, m, g, l) => bound.push([a, m, g, l]) })
    const run = (): Uint8Array[] => {
      for (let i = 0; i < 4; i++) stack.poll(clock.now())
      return drainTx(stack)
    }
    const dhcpOut = (frames: Uint8Array[]) => frames.map(parseUdpFrame).filter((u) => u !== null && u.dport === 67)

    assert.equal(client.start(clock.now()), 0)
    const out1 = dhcpOut(run())
    assert.equal(out1.length, 1)
    const d = out1[0]!
    assert.deepEqual(d.dstMac, BROADCAST_MAC)
    assert.deepEqual(d.srcMac, Array.from(MAC))
    assert.equal(d.src, 0, 'source 0.0.0.0 before configuration')
    assert.equal(d.dst, BCAST)
    assert.equal(d.sport, 68)
    const disc = decodeClient(d.data)
    assert.equal(disc.options[53][0], 1)

    clock.advance(S)
    pushFrame(stack, udpFrame(BROADCAST_MAC, SERVER_MAC, SERVER, BCAST, 67, 68, offer(disc.xid)))
    const out2 = dhcpOut(run())
    assert.equal(out2.length, 1, 'one REQUEST')
    const req = decodeClient(out2[0]!.data)
    assert.equal(req.options[53][0], 3)
    assert.equal(out2[0]!.dst, BCAST)

    clock.advance(S)
    // some servers answer at the offered address and our MAC even with the BROADCAST flag set
    pushFrame(stack, udpFrame(MAC, SERVER_MAC, SERVER, CLIENT_IP, 67, 68, ack(req.xid)))
    run()
    assert.equal(client.state(), 'bound')
    assert.deepEqual(stack.config(), { ip: CLIENT_IP, mask: MASK, gateway: SERVER })
    assert.deepEqual(bound, [[CLIENT_IP, MASK, SERVER, 3600]])
    assert.equal(stack.counters.get('dhcp.rx'), 2)
    assert.equal(stack.counters.get('dhcp.tx'), 2)

    // T1: the renewal is unicast to the server, so the stack first asks ARP for it
    const requestSentAt = S // the REQUEST went out at t = 1 s
    clock.advance(requestSentAt + 1800 * S - clock.now())
    const out3 = run()
    // (announcements of our new address, RFC 5227 §2.3, are ARP requests too: tpa = our own address)
    const who = out3.map(parseArpRequest).filter((a) => a !== null && a.tpa === SERVER)
    assert.equal(who.length, 1, 'an ARP request for the server')
    assert.equal(who[0]!.spa, CLIENT_IP)
    assert.equal(dhcpOut(out3).length, 0, 'the REQUEST waits for ARP')
    pushFrame(stack, arpReply(SERVER_MAC, SERVER, MAC, CLIENT_IP))
    const out4 = dhcpOut(run())
    assert.equal(out4.length, 1, 'the renewal REQUEST, once ARP resolved')
    const renew = out4[0]!
    assert.deepEqual(renew.dstMac, SERVER_MAC)
    assert.equal(renew.src, CLIENT_IP)
    assert.equal(renew.dst, SERVER)
    const rq = decodeClient(renew.data)
    assert.equal(rq.options[53][0], 3)
    assert.equal(rq.ciaddr, CLIENT_IP)
    assert.equal(rq.flags, 0)

    clock.advance(S)
    pushFrame(stack, udpFrame(MAC, SERVER_MAC, SERVER, CLIENT_IP, 67, 68, ack(rq.xid)))
    run()
    assert.equal(client.state(), 'bound')
    assert.equal(stack.counters.get('dhcp.bound'), 2)
    assert.equal(bound.length, 1)
  })
})
