// UDP through the socket API on both core backends: echo, checksums checked and generated (verified
// with the test's own reference), fragments both ways, broadcast and multicast, ephemeral ports, the
// socket table, receive rings, and the errors send() returns.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import {
  CORES, makeRig, introduce, eth, ipv4, udp, fragmentFrames, fromPeer, parseEth, parseIp, parseUdp, reassemble,
  pattern, pseudo, macStr, Rig, IpPacket,
  OUR_MAC, OUR_IP, MASK, GW_IP, PEER_IP, PEER_MAC, BCAST_MAC, SUBNET_BCAST, FAR_IP,
} from './net-frames.js'
import { referenceChecksum } from './helpers.js'
import {
  UDP_ERR_TABLE_FULL, UDP_ERR_PORT_IN_USE, UDP_ERR_NO_ROUTE, UDP_ERR_TX_FULL, UDP_ERR_TOO_BIG, UDP_ERR_CLOSED,
  UDP_ERR_INVALID, EPHEMERAL_FIRST, EPHEMERAL_LAST,
} from '../firmware/net/udp.js'

const S = 1000000

interface Got { src: number; sport: number; dst: number; data: Uint8Array }

function ipOut(frames: Uint8Array[]): { dst: string; ip: IpPacket }[] {
  return frames.map(parseEth).filter((f) => f.type === 0x0800).map((f) => ({ dst: f.dst, ip: parseIp(f.payload) }))
}

function listen(r: Rig, port: number): { id: number; got: Got[] } {
  const got: Got[] = []
  const id = r.stack.udp.open(port, (src, sport, dst, data) => got.push({ src, sport, dst, data: data.slice() }))
  assert.ok(id >= 0)
  return { id, got }
}

function dgram(dst: number, dport: number, data: Uint8Array, sport = 5555): Uint8Array {
  return fromPeer({ src: PEER_IP, dst, proto: 17, payload: udp(PEER_IP, dst, sport, dport, data) }, PEER_MAC,
    dst === OUR_IP ? OUR_MAC : BCAST_MAC)
}

for (const kind of CORES) {
  describe(`UDP (${kind} core)`, () => {
    test('echo through the API: delivered during poll, answered with a correct checksum', () => {
      const r = makeRig(kind)
      introduce(r)
      const seen: Got[] = []
      const id = r.stack.udp.open(7, (src, sport, dst, data) => {
        seen.push({ src, sport, dst, data: data.slice() })
        assert.equal(r.stack.udp.send(id, src, sport, data, r.clock.now()), 0)
      })
      assert.equal(r.stack.udp.localPort(id), 7)
      const data = pattern(333)
      r.inject(dgram(OUR_IP, 7, data))
      assert.equal(seen.length, 0, 'nothing before poll')
      r.poll()
      assert.equal(seen.length, 1)
      assert.deepEqual(seen[0], { src: PEER_IP, sport: 5555, dst: OUR_IP, data })
      const out = ipOut(r.drain())
      assert.equal(out.length, 1)
      assert.equal(out[0].dst, macStr(PEER_MAC))
      assert.equal(out[0].ip.src, OUR_IP)
      assert.equal(out[0].ip.ttl, 64)
      const u = parseUdp(out[0].ip)
      assert.equal(u.sport, 7)
      assert.equal(u.dport, 5555)
      assert.deepEqual(u.data, data)
      assert.equal(r.c('udp.rx'), 1)
      assert.equal(r.c('udp.tx'), 1)
    })

    test('a computed checksum of 0 is sent as 0xFFFF; empty datagrams work', () => {
      const r = makeRig(kind)
      introduce(r)
      const id = r.stack.udp.open(4000, () => {})
      const data = pattern(10)
      data[8] = 0
      data[9] = 0
      const probe = udp(OUR_IP, PEER_IP, 4000, 7, data, { checksum: 'zero' })
      const ck = referenceChecksum(probe, pseudo(OUR_IP, PEER_IP, 17, probe.length))
      data[8] = ck >> 8
      data[9] = ck & 255
      assert.equal(r.stack.udp.send(id, PEER_IP, 7, data, r.clock.now()), 0)
      assert.equal(r.stack.udp.send(id, PEER_IP, 7, new Uint8Array(0), r.clock.now()), 0)
      const out = ipOut(r.drain())
      const u = parseUdp(out[0].ip)
      assert.equal(u.checksum, 0xffff)
      assert.equal(out[1].ip.total, 28)
      assert.equal(parseUdp(out[1].ip).data.length, 0)
    })

    test('checksum: zero (none) accepted, wrong one dropped and counted', () => {
      const r = makeRig(kind)
      introduce(r)
      const l = listen(r, 9)
      r.send(fromPeer({ src: PEER_IP, dst: OUR_IP, proto: 17, payload: udp(PEER_IP, OUR_IP, 1, 9, pattern(20), { checksum: 'zero' }) }))
      r.send(fromPeer({ src: PEER_IP, dst: OUR_IP, proto: 17, payload: udp(PEER_IP, OUR_IP, 1, 9, pattern(20), { checksum: 'bad' }) }))
      assert.equal(l.got.length, 1)
      assert.equal(r.c('udp.rx.checksum'), 1)
    })

    test('large datagrams leave as fragments with one checksum over all the data', () => {
      const r = makeRig(kind)
      introduce(r)
      const id = r.stack.udp.open(4001, () => {})
      for (const n of [1473, 4000, 20000]) {
        const data = pattern(n, n)
        assert.equal(r.stack.udp.send(id, PEER_IP, 9, data, r.clock.now()), 0)
        const out = ipOut(r.drain())
        assert.equal(out.length, Math.ceil((n + 8) / 1480))
        const whole = reassemble(out.map((o) => o.ip))
        const ipw = { ...out[0].ip, payload: whole }
        const u = parseUdp(ipw)
        assert.deepEqual(u.data, data)
      }
      assert.ok(r.c('ip.frag.tx') > 0)
      // 65507 bytes would need 45 fragments: more than this board's 32 TX slots.
      assert.equal(r.stack.udp.send(id, PEER_IP, 9, new Uint8Array(65507), r.clock.now()), UDP_ERR_TOO_BIG)
      assert.equal(r.stack.udp.send(id, PEER_IP, 9, new Uint8Array(65508), r.clock.now()), UDP_ERR_TOO_BIG)
    })

    test('fragmented datagrams are delivered whole', () => {
      const r = makeRig(kind)
      introduce(r)
      const l = listen(r, 5000)
      const data = pattern(5000, 9)
      for (const f of fragmentFrames(PEER_IP, OUR_IP, 17, udp(PEER_IP, OUR_IP, 5, 5000, data), 1480, 321).reverse()) r.send(f)
      assert.equal(l.got.length, 1)
      assert.deepEqual(l.got[0].data, data)
    })

    test('ephemeral ports come from 49152-65535; the table refuses when full; ports are exclusive', () => {
      const r = makeRig(kind)
      const ids: number[] = []
      const ports = new Set<number>()
      for (let i = 0; i < r.stack.udp.sockets; i++) {
        const id = r.stack.udp.open(0, () => {})
        assert.ok(id >= 0)
        const p = r.stack.udp.localPort(id)
        assert.ok(p >= EPHEMERAL_FIRST && p <= EPHEMERAL_LAST, `port ${p}`)
        ports.add(p)
        ids.push(id)
      }
      assert.equal(ports.size, r.stack.udp.sockets)
      assert.equal(r.stack.udp.open(0, () => {}), UDP_ERR_TABLE_FULL)
      r.stack.udp.close(ids[0])
      assert.equal(r.stack.udp.localPort(ids[0]), UDP_ERR_CLOSED)
      const a = r.stack.udp.open(53, () => {})
      assert.ok(a >= 0)
      r.stack.udp.close(ids[1])
      assert.equal(r.stack.udp.open(53, () => {}), UDP_ERR_PORT_IN_USE)
      assert.equal(r.stack.udp.open(70000, () => {}), UDP_ERR_INVALID)
      assert.equal(r.stack.udp.open(1.5, () => {}), UDP_ERR_INVALID)
      // A randomised start: stacks seeded differently start at different ports, then go up by one.
      const firsts = new Set<number>()
      for (const seed of [1, 2, 3, 4]) {
        const r2 = makeRig(kind, { seed })
        const p1 = r2.stack.udp.localPort(r2.stack.udp.open(0, () => {}))
        const p2 = r2.stack.udp.localPort(r2.stack.udp.open(0, () => {}))
        assert.equal(p2, p1 === EPHEMERAL_LAST ? EPHEMERAL_FIRST : p1 + 1)
        firsts.add(p1)
      }
      assert.ok(firsts.size >= 3, 'different starts')
    })

    test('broadcast and subnet broadcast: sent to ff:ff:ff:ff:ff:ff without ARP, and received', () => {
      const r = makeRig(kind)
      const l = listen(r, 67)
      for (const dst of [0xffffffff, SUBNET_BCAST]) {
        assert.equal(r.stack.udp.send(l.id, dst, 68, pattern(30), r.clock.now()), 0)
      }
      const out = ipOut(r.drain())
      assert.equal(out.length, 2)
      for (const o of out) {
        assert.equal(o.dst, 'ff:ff:ff:ff:ff:ff')
        parseUdp(o.ip)
      }
      r.send(dgram(0xffffffff, 67, pattern(5)))
      r.send(dgram(SUBNET_BCAST, 67, pattern(6)))
      assert.deepEqual(l.got.map((g) => g.dst), [0xffffffff, SUBNET_BCAST])
    })

    test('multicast: received only for joined groups, sent to the 01:00:5e mapping; the driver hook hears of it', () => {
      const r = makeRig(kind)
      const l = listen(r, 5353)
      const group = 0xe00000fb // 224.0.0.251
      const mdns = (g: number) => eth(Uint8Array.of(1, 0, 0x5e, (g >>> 16) & 0x7f, (g >>> 8) & 255, g & 255), PEER_MAC, 0x0800,
        ipv4({ src: PEER_IP, dst: g, proto: 17, payload: udp(PEER_IP, g, 5353, 5353, pattern(12)) }))
      r.send(mdns(group))
      assert.equal(l.got.length, 0)
      assert.equal(r.c('ip.rx.not-for-us'), 1)
      const told: string[][] = []
      r.stack.onMulticastChange = (macs) => told.push(macs.map(macStr))
      assert.equal(r.stack.joinGroup(group), true)
      assert.deepEqual(told, [['01:00:5e:00:00:fb']])
      r.send(mdns(group))
      assert.equal(l.got.length, 1)
      assert.equal(l.got[0].dst, group)
      assert.equal(r.stack.udp.send(l.id, group, 5353, pattern(3), r.clock.now()), 0)
      const out = ipOut(r.drain())
      assert.equal(out.length, 1, 'no ICMP about multicast, one datagram out')
      assert.equal(out[0].dst, '01:00:5e:00:00:fb')
      r.stack.leaveGroup(group)
      assert.deepEqual(told[1], [])
      assert.equal(r.stack.joinGroup(OUR_IP), false, 'not a multicast address')
    })

    test('without an address: source 0.0.0.0, broadcast only; unicast offers to any address are delivered', () => {
      const r = makeRig(kind, { config: { ip: 0, mask: 0, gateway: 0 } })
      const l = listen(r, 68)
      assert.equal(r.stack.udp.send(l.id, 0xffffffff, 67, pattern(300), r.clock.now()), 0)
      const out = ipOut(r.drain())
      assert.equal(out[0].ip.src, 0)
      parseUdp(out[0].ip)
      assert.equal(r.stack.udp.send(l.id, PEER_IP, 67, pattern(3), r.clock.now()), UDP_ERR_NO_ROUTE)
      const offered = ip4(10, 77, 0, 50)
      r.send(fromPeer({ src: PEER_IP, dst: offered, proto: 17, payload: udp(PEER_IP, offered, 67, 68, pattern(300)) }))
      assert.equal(l.got.length, 1)
      assert.equal(l.got[0].dst, offered)
      // A closed port gets no ICMP while we have no address; ICMP itself is not taken.
      r.send(fromPeer({ src: PEER_IP, dst: offered, proto: 17, payload: udp(PEER_IP, offered, 67, 99, pattern(3)) }))
      assert.equal(r.drain().length, 0)
      r.stack.setConfig({ ip: offered, mask: MASK, gateway: GW_IP }, r.clock.now())
      assert.equal(r.stack.config().ip, offered)
    })

    test('send errors: no route, TX ring full, closed socket, bad port', () => {
      const r = makeRig(kind, { config: { ip: OUR_IP, mask: MASK, gateway: 0 } })
      introduce(r)
      const id = r.stack.udp.open(0, () => {})
      const now = r.clock.now()
      assert.equal(r.stack.udp.send(id, FAR_IP, 9, pattern(4), now), UDP_ERR_NO_ROUTE)
      assert.equal(r.c('ip.tx.no-route'), 1)
      assert.equal(r.stack.udp.send(id, 0x7f000001, 9, pattern(4), now), UDP_ERR_NO_ROUTE)
      assert.equal(r.stack.udp.send(id, OUR_IP, 9, pattern(4), now), UDP_ERR_NO_ROUTE)
      assert.equal(r.stack.udp.send(id, PEER_IP, 0, pattern(4), now), UDP_ERR_INVALID)
      for (let i = 0; i < r.stack.tx.slots; i++) assert.equal(r.stack.udp.send(id, PEER_IP, 9, pattern(4), now), 0)
      assert.equal(r.stack.udp.send(id, PEER_IP, 9, pattern(4), now), UDP_ERR_TX_FULL)
      assert.equal(r.c('eth.tx.ring-full'), 1)
      r.drain()
      assert.equal(r.stack.udp.send(id, PEER_IP, 9, pattern(4000), now), 0)
      r.stack.udp.close(id)
      assert.equal(r.stack.udp.send(id, PEER_IP, 9, pattern(4), now), UDP_ERR_CLOSED)
      assert.equal(r.stack.udp.send(99, PEER_IP, 9, pattern(4), now), UDP_ERR_CLOSED)
    })

    test('receive rings: a full ring drops and counts, wraps around intact, and is emptied at each poll', () => {
      const r = makeRig(kind, { budget: { udpRxBytes: 256 } })
      introduce(r)
      const l = listen(r, 1234)
      r.inject(dgram(OUR_IP, 1234, pattern(200, 1)))
      r.inject(dgram(OUR_IP, 1234, pattern(200, 2)))
      r.poll()
      assert.equal(l.got.length, 1)
      assert.equal(r.c('udp.rx.ring-full'), 1)
      r.send(dgram(OUR_IP, 1234, pattern(245, 3)))
      assert.equal(r.c('udp.rx.ring-full'), 2, 'larger than the ring can ever hold')
      const sent: Uint8Array[] = []
      for (let i = 0; i < 50; i++) {
        const a = pattern(10 + ((i * 37) % 90), i)
        const b = pattern(5 + ((i * 11) % 60), i + 100)
        sent.push(a, b)
        r.inject(dgram(OUR_IP, 1234, a))
        r.inject(dgram(OUR_IP, 1234, b))
        r.poll()
      }
      assert.equal(r.c('udp.rx.ring-full'), 2)
      assert.deepEqual(l.got.slice(1).map((g) => g.data), sent)
      assert.equal(r.stack.udp.queued(l.id), 0)
    })

    test('a callback may close its socket; the rest of its queue is discarded', () => {
      const r = makeRig(kind)
      introduce(r)
      let n = 0
      const id = r.stack.udp.open(99, () => {
        n++
        r.stack.udp.close(id)
      })
      r.inject(dgram(OUR_IP, 99, pattern(4)))
      r.inject(dgram(OUR_IP, 99, pattern(4)))
      r.poll()
      assert.equal(n, 1)
    })

    test('an exception from a callback propagates after the datagram is consumed', () => {
      const r = makeRig(kind)
      introduce(r)
      let n = 0
      r.stack.udp.open(98, () => {
        n++
        throw new Error('app bug')
      })
      r.inject(dgram(OUR_IP, 98, pattern(4)))
      r.inject(dgram(OUR_IP, 98, pattern(4)))
      assert.throws(() => r.poll(), /app bug/)
      assert.throws(() => r.poll(), /app bug/)
      r.poll()
      assert.equal(n, 2)
    })

    test('datagrams to an unresolved host wait for ARP and leave when it answers', () => {
      const r = makeRig(kind)
      const id = r.stack.udp.open(0, () => {})
      assert.equal(r.stack.udp.send(id, PEER_IP, 9, pattern(3000), r.clock.now()), 0)
      assert.equal(r.stack.arp.pendingCount(), 3)
      r.drain()
      r.send(eth(OUR_MAC, PEER_MAC, 0x0806, arpReply()))
      const out = ipOut(r.drain())
      assert.equal(out.length, 3)
      assert.deepEqual(parseUdp({ ...out[0].ip, payload: reassemble(out.map((o) => o.ip)) }).data, pattern(3000))
      r.advance(S)
    })
  })
}

function ip4(a: number, b: number, c: number, d: number): number {
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0
}

function arpReply(): Uint8Array {
  const a = new Uint8Array(28)
  a.set([0, 1, 8, 0, 6, 4, 0, 2], 0)
  a.set(PEER_MAC, 8)
  a.set([10, 77, 0, 10], 14)
  a.set(OUR_MAC, 18)
  a.set([10, 77, 0, 2], 24)
  return a
}
