// UDP without receive rings (budget.udpRxBytes 0, firmware/net/udp.ts "direct mode"), on both core
// backends: a datagram goes to its socket's callback during input as a view of the received frame (or of
// the reassembly buffer), and the callback may send, close, open or throw from there. Also the dgram API and
// the DHCP client over such a stack. The ring-mode behaviour is covered by net-udp.test.ts.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import {
  CORES, makeRig, introduce, eth, arp, ipv4, udp, echoRequest, fragmentFrames, fromPeer, parseEth, parseIp, parseUdp,
  parseIcmp, parseArp, reassemble, pattern, macStr, ip, Rig, IpPacket, CoreKind,
  OUR_MAC, OUR_IP, MASK, GW_IP, GW_MAC, PEER_IP, PEER_MAC, PEER2_IP, PEER2_MAC, BCAST_MAC, ZERO_MAC, SUBNET_BCAST,
} from './net-frames.js'
import { region } from '../firmware/kernel/arena.js'
import { createDgram, RemoteInfo } from '../firmware/api/dgram.js'
import { DhcpClient } from '../firmware/net/dhcp.js'
import { UDP_ERR_CLOSED } from '../firmware/net/udp.js'
import { SeededRandom } from './fixtures/fake-net.js'

/** The budget change under test: sockets without receive rings. */
const DIRECT = { udpRxBytes: 0 }

interface Got { src: number; sport: number; dst: number; data: Uint8Array; view: Uint8Array; rxWaiting: number }

function ipOut(frames: Uint8Array[]): { dst: string; ip: IpPacket }[] {
  return frames.map(parseEth).filter((f) => f.type === 0x0800).map((f) => ({ dst: f.dst, ip: parseIp(f.payload) }))
}

function dgram(dst: number, dport: number, data: Uint8Array, sport = 5555, from = PEER_IP, fromMac = PEER_MAC): Uint8Array {
  return fromPeer({ src: from, dst, proto: 17, payload: udp(from, dst, sport, dport, data) }, fromMac,
    dst === OUR_IP ? OUR_MAC : BCAST_MAC)
}

function directRig(kind: CoreKind, config?: { ip: number; mask: number; gateway: number }): Rig {
  const r = makeRig(kind, { budget: DIRECT, config })
  assert.equal(r.stack.udp.ringBytes, 0)
  return r
}

/** A socket that records what it is given, including the view itself and whether its frame was still in RX. */
function listen(r: Rig, port: number): { id: number; got: Got[] } {
  const got: Got[] = []
  const id = r.stack.udp.open(port, (src, sport, dst, data) => {
    got.push({ src, sport, dst, data: data.slice(), view: data, rxWaiting: r.stack.rx.count() })
  })
  assert.ok(id >= 0)
  return { id, got }
}

/** True when `view` lies inside the arena region `name`. */
function inRegion(r: Rig, view: Uint8Array, name: string): boolean {
  const g = region(r.stack.layout, name)
  return view.buffer === r.core.buffer && view.byteOffset >= g.offset && view.byteOffset + view.length <= g.offset + g.size
}

for (const kind of CORES) {
  describe(`UDP direct delivery, udpRxBytes 0 (${kind} core)`, () => {
    test('no rings in the arena; each datagram reaches its socket during input, as a view of the frame', () => {
      const r = directRig(kind)
      assert.equal(region(r.stack.layout, 'udp rx rings').size, 0)
      introduce(r)
      introduce(r, PEER2_IP, PEER2_MAC)
      const a = listen(r, 7000)
      const b = listen(r, 7001)
      const c = listen(r, 7002)
      const d1 = pattern(100, 1)
      const d2 = pattern(37, 2)
      const d3 = pattern(5, 3)
      r.inject(dgram(OUR_IP, 7001, d1, 5555))
      r.inject(dgram(OUR_IP, 7000, d2, 6000, PEER2_IP, PEER2_MAC))
      r.inject(dgram(SUBNET_BCAST, 7001, d3, 6001))
      assert.equal(a.got.length + b.got.length, 0, 'nothing before poll')
      r.poll()
      assert.equal(c.got.length, 0)
      assert.equal(a.got.length, 1)
      assert.equal(b.got.length, 2)
      assert.deepEqual([a.got[0].src, a.got[0].sport, a.got[0].dst, a.got[0].data], [PEER2_IP, 6000, OUR_IP, d2])
      assert.deepEqual([b.got[0].src, b.got[0].sport, b.got[0].dst, b.got[0].data], [PEER_IP, 5555, OUR_IP, d1])
      assert.deepEqual([b.got[1].src, b.got[1].sport, b.got[1].dst, b.got[1].data], [PEER_IP, 6001, SUBNET_BCAST, d3])
      for (const g of [a.got[0], b.got[0], b.got[1]]) {
        assert.ok(inRegion(r, g.view, 'rx ring'), 'a view of the received frame, not a copy')
        assert.ok(g.rxWaiting > 0, 'delivered while the frame is still in the RX ring (during input)')
        assert.equal(g.view.length, g.data.length, 'no Ethernet padding in the view')
      }
      assert.equal(r.stack.rx.count(), 0, 'every RX slot released')
      assert.equal(r.c('udp.rx'), 3)
      assert.equal(r.c('udp.rx.ring-full'), 0)
      assert.equal(r.stack.udp.queued(b.id), 0)
      assert.equal(r.drain().length, 0, 'nothing sent')
    })

    test('the largest unfragmented datagram (1472 bytes) is delivered whole; no ring can run full', () => {
      const r = directRig(kind)
      introduce(r)
      const l = listen(r, 1234)
      const sent: Uint8Array[] = []
      for (let i = 0; i < 20; i++) {
        const d = pattern(i === 0 ? 1472 : 1472 - i * 50, i)
        sent.push(d)
        r.inject(dgram(OUR_IP, 1234, d))
      }
      r.poll()
      r.poll()
      assert.deepEqual(l.got.map((g) => g.data), sent)
      assert.equal(l.got[0].data.length, 1472)
      assert.equal(r.c('udp.rx.ring-full'), 0)
    })

    test('an echo sent from inside delivery is a correct frame, and the following frames still work', () => {
      const r = directRig(kind)
      introduce(r)
      const sizes = [0, 1, 333, 1472]
      let id = -1
      id = r.stack.udp.open(7, (src, sport, dst, data) => {
        assert.equal(r.stack.udp.send(id, src, sport, data, r.clock.now()), 0)
      })
      for (const n of sizes) r.inject(dgram(OUR_IP, 7, pattern(n, n), 5000 + n))
      // after the datagrams, in the same poll: a ping and an ARP request
      r.inject(fromPeer({ src: PEER_IP, dst: OUR_IP, proto: 1, payload: echoRequest(9, 1, pattern(56, 7)) }))
      r.inject(eth(BCAST_MAC, PEER2_MAC, 0x0806, arp(1, PEER2_MAC, PEER2_IP, ZERO_MAC, OUR_IP)))
      r.poll()
      const frames = r.drain()
      assert.equal(frames.length, sizes.length + 2)
      const out = ipOut(frames.slice(0, sizes.length + 1))
      for (let k = 0; k < sizes.length; k++) {
        assert.equal(out[k].dst, macStr(PEER_MAC))
        assert.equal(out[k].ip.src, OUR_IP)
        assert.equal(out[k].ip.dst, PEER_IP)
        assert.equal(out[k].ip.flags & 1, 0, 'not fragmented')
        const u = parseUdp(out[k].ip)
        assert.equal(u.sport, 7)
        assert.equal(u.dport, 5000 + sizes[k])
        assert.deepEqual(u.data, pattern(sizes[k], sizes[k]))
      }
      const ping = parseIcmp(out[sizes.length].ip.payload)
      assert.equal(ping.type, 0, 'echo reply')
      assert.deepEqual(ping.data, pattern(56, 7))
      const arpReply = parseArp(parseEth(frames[sizes.length + 1]).payload)
      assert.equal(arpReply.op, 2)
      assert.equal(arpReply.tpa, PEER2_IP)
      assert.equal(r.c('udp.tx'), sizes.length)
      assert.equal(r.c('poll.error'), 0)
      // and again, in a later poll
      r.send(dgram(OUR_IP, 7, pattern(10, 99), 4444))
      const again = ipOut(r.drain())
      assert.equal(again.length, 1)
      assert.deepEqual(parseUdp(again[0].ip).data, pattern(10, 99))
    })

    test('a reassembled datagram is delivered from the reassembly buffer; an echo of it leaves as fragments', () => {
      const r = directRig(kind)
      assert.ok(r.stack.reassembly.buffers > 0, 'this budget has reassembly buffers')
      introduce(r)
      const data = pattern(5000, 9)
      const views: Uint8Array[] = []
      let id = -1
      id = r.stack.udp.open(5000, (src, sport, dst, d) => {
        views.push(d)
        assert.deepEqual(d, data)
        assert.equal(r.stack.udp.send(id, src, sport, d, r.clock.now()), 0)
      })
      for (const f of fragmentFrames(PEER_IP, OUR_IP, 17, udp(PEER_IP, OUR_IP, 5, 5000, data), 1480, 321).reverse()) r.inject(f)
      r.poll()
      assert.equal(views.length, 1)
      assert.ok(inRegion(r, views[0], 'ip reassembly buffers'), 'a view of the reassembly buffer')
      assert.equal(r.stack.reassembly.inUse(), 0, 'the buffer is free again')
      assert.equal(r.c('ip.frag.reassembled'), 1)
      assert.equal(r.c('poll.error'), 0, 'no assertion failed inside the callback')
      const out = ipOut(r.drain())
      assert.equal(out.length, Math.ceil((data.length + 8) / 1480))
      const u = parseUdp({ ...out[0].ip, payload: reassemble(out.map((o) => o.ip)) })
      assert.equal(u.sport, 5000)
      assert.equal(u.dport, 5)
      assert.deepEqual(u.data, data)
      // the stack goes on: a second fragmented datagram is delivered too
      for (const f of fragmentFrames(PEER_IP, OUR_IP, 17, udp(PEER_IP, OUR_IP, 5, 5000, data), 1480, 322)) r.inject(f)
      r.poll()
      assert.equal(views.length, 2)
      assert.equal(r.c('poll.error'), 0)
      assert.equal(ipOut(r.drain()).length, Math.ceil((data.length + 8) / 1480))
    })

    test('a callback may close its own socket (the next datagram gets port unreachable) and open another', () => {
      const r = directRig(kind)
      introduce(r)
      let n = 0
      const seen: number[] = []
      let id = -1
      id = r.stack.udp.open(99, (src, sport, dst, data) => {
        n++
        r.stack.udp.close(id)
        assert.equal(r.stack.udp.localPort(id), UDP_ERR_CLOSED)
        // the freed slot may be taken at once, by another port
        const other = r.stack.udp.open(100, (s2, p2, d2, data2) => seen.push(data2[0]))
        assert.ok(other >= 0)
        assert.equal(data.length, 4)
      })
      r.inject(dgram(OUR_IP, 99, pattern(4, 1)))
      r.inject(dgram(OUR_IP, 99, pattern(4, 2)))
      r.inject(dgram(OUR_IP, 100, Uint8Array.of(42)))
      r.poll()
      assert.equal(n, 1)
      assert.deepEqual(seen, [42], 'the socket opened from the callback receives in the same poll')
      assert.equal(r.c('udp.rx.no-port'), 1)
      const out = ipOut(r.drain())
      assert.equal(out.length, 1)
      const m = parseIcmp(out[0].ip.payload)
      assert.equal(m.type, 3)
      assert.equal(m.code, 3)
      assert.equal(r.c('poll.error'), 0)
    })

    test('a callback that throws: poll survives, counts and logs it, releases the frame; the next datagrams are delivered', () => {
      const r = directRig(kind)
      introduce(r)
      let n = 0
      let id = -1
      id = r.stack.udp.open(98, (src, sport, dst, data) => {
        n++
        // a reply sent before the exception leaves normally
        assert.equal(r.stack.udp.send(id, src, sport, data, r.clock.now()), 0)
        throw new Error('app bug')
      })
      const echo = listen(r, 7)
      const rx0 = r.c('eth.rx')
      r.inject(dgram(OUR_IP, 98, pattern(4, 1)))
      r.inject(dgram(OUR_IP, 98, pattern(4, 2)))
      r.inject(dgram(OUR_IP, 7, pattern(4, 3)))
      assert.doesNotThrow(() => r.poll())
      assert.equal(n, 2)
      assert.equal(echo.got.length, 1, 'a datagram after the failing ones in the same poll')
      assert.equal(r.c('poll.error'), 2)
      assert.equal(r.logs.filter((l) => l.includes('app bug')).length, 2)
      assert.equal(r.stack.rx.count(), 0, 'the RX slots were released')
      assert.equal(r.c('eth.rx'), rx0 + 3)
      const out = ipOut(r.drain())
      assert.deepEqual(out.map((o) => parseUdp(o.ip).data), [pattern(4, 1), pattern(4, 2)])
      // a fragmented datagram whose callback throws: its reassembly buffer is freed all the same
      for (const f of fragmentFrames(PEER_IP, OUR_IP, 17, udp(PEER_IP, OUR_IP, 5, 98, pattern(3000, 4)), 1480, 7)) r.inject(f)
      r.poll()
      assert.equal(n, 3)
      assert.equal(r.c('poll.error'), 3)
      assert.equal(r.stack.reassembly.inUse(), 0)
      r.drain()
      r.send(dgram(OUR_IP, 98, pattern(4, 5)))
      assert.equal(n, 4)
      r.send(dgram(OUR_IP, 7, pattern(4, 6)))
      assert.equal(echo.got.length, 2)
      assert.deepEqual(echo.got[1].data, pattern(4, 6))
    })

    test('no socket: ICMP port unreachable as with rings, none for broadcasts', () => {
      const r = directRig(kind)
      introduce(r)
      const frame = dgram(OUR_IP, 9999, pattern(40))
      r.send(frame)
      const out = ipOut(r.drain())
      assert.equal(out.length, 1)
      assert.equal(out[0].ip.dst, PEER_IP)
      const m = parseIcmp(out[0].ip.payload)
      assert.equal(m.type, 3)
      assert.equal(m.code, 3)
      assert.deepEqual(m.data, frame.subarray(14, 14 + 28))
      r.send(dgram(SUBNET_BCAST, 9999, pattern(40)))
      assert.equal(r.drain().length, 0)
      assert.equal(r.c('udp.rx.no-port'), 2)
    })

    test('the dgram API: messages are copies, a handler may reply and close from inside delivery', () => {
      const r = directRig(kind)
      introduce(r)
      const api = createDgram(r.stack, () => r.clock.now())
      const s = api.createSocket('udp4')
      const msgs: { msg: Uint8Array; rinfo: RemoteInfo }[] = []
      let closed = false
      s.on('close', () => { closed = true })
      s.on('message', (msg: Uint8Array, rinfo: RemoteInfo) => {
        msgs.push({ msg, rinfo })
        s.send(msg, rinfo.port, rinfo.address)
        if (msgs.length === 2) s.close()
      })
      s.bind(4321)
      r.poll()
      r.inject(dgram(OUR_IP, 4321, pattern(20, 1), 1111))
      r.inject(dgram(OUR_IP, 4321, pattern(30, 2), 2222))
      r.inject(dgram(OUR_IP, 4321, pattern(40, 3), 3333))
      r.poll()
      r.poll()
      assert.equal(msgs.length, 2)
      assert.ok(closed)
      assert.equal(msgs[0].msg.buffer === r.core.buffer, false, 'the listener owns a copy')
      assert.deepEqual(msgs[0].msg, pattern(20, 1))
      assert.deepEqual(msgs[0].rinfo, { address: '10.77.0.10', port: 1111, family: 'IPv4', size: 20 })
      const out = ipOut(r.drain())
      const udpOut = out.filter((o) => o.ip.proto === 17).map((o) => parseUdp(o.ip))
      assert.deepEqual(udpOut.map((u) => [u.dport, u.data]), [[1111, pattern(20, 1)], [2222, pattern(30, 2)]])
      const icmpOut = out.filter((o) => o.ip.proto === 1)
      assert.equal(icmpOut.length, 1, 'the third datagram found the port closed')
    })
  })

  describe(`DHCP over a stack without UDP rings (${kind} core)`, () => {
    test('DORA: the OFFER is answered within the same poll and the lease is obtained', () => {
      const r = directRig(kind, { ip: 0, mask: 0, gateway: 0 })
      const offered = ip('10.77.0.50')
      const bound: number[][] = []
      const client = new DhcpClient(r.stack, new SeededRandom(5), { onBound: (a, m, g, l) => bound.push([a, m, g, l]) })
      assert.equal(client.start(r.clock.now()), 0)
      r.poll()
      const disc = dhcpOut(r.drain())
      assert.equal(disc.length, 1)
      assert.equal(disc[0].type, 1)
      assert.equal(disc[0].ipDst, 0xffffffff)

      r.clock.advance(1000000)
      r.inject(eth(BCAST_MAC, GW_MAC, 0x0800, ipv4Udp(GW_IP, 0xffffffff, 67, 68, serverMessage(disc[0].xid, 2, offered))))
      r.poll()
      const req = dhcpOut(r.drain())
      assert.equal(req.length, 1, 'the REQUEST leaves in the poll that received the OFFER')
      assert.equal(req[0].type, 3)
      assert.equal(req[0].xid, disc[0].xid)
      assert.deepEqual(req[0].options[50], be32(offered))
      assert.deepEqual(req[0].options[54], be32(GW_IP))
      assert.equal(client.state(), 'requesting')

      r.clock.advance(1000000)
      // unicast to the offered address and our MAC, as some servers do
      r.inject(eth(OUR_MAC, GW_MAC, 0x0800, ipv4Udp(GW_IP, offered, 67, 68, serverMessage(req[0].xid, 5, offered))))
      r.poll()
      assert.equal(client.state(), 'bound')
      assert.deepEqual(r.stack.config(), { ip: offered, mask: MASK, gateway: GW_IP })
      assert.deepEqual(bound, [[offered, MASK, GW_IP, 3600]])
      assert.equal(r.c('dhcp.rx'), 2)
      assert.equal(r.c('dhcp.bound'), 1)
      assert.equal(r.c('poll.error'), 0)
      // the new address works: a datagram to it reaches a socket
      r.drain()
      const l = listen(r, 7)
      r.send(fromPeer({ src: PEER_IP, dst: offered, proto: 17, payload: udp(PEER_IP, offered, 1, 7, pattern(9)) }))
      assert.equal(l.got.length, 1)
      assert.equal(l.got[0].dst, offered)
    })
  })
}

// ---- DHCP, test side (RFC 2131 §2, RFC 2132), independent of firmware/net/dhcp.ts ----------------------

function be32(n: number): number[] {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]
}

/** A server's OFFER (2) or ACK (5) to OUR_MAC, from GW_IP, lease 3600 s. */
function serverMessage(xid: number, type: number, yiaddr: number): Uint8Array {
  const b = new Uint8Array(300)
  b[0] = 2
  b[1] = 1
  b[2] = 6
  b.set(be32(xid), 4)
  b[10] = 0x80
  b.set(be32(yiaddr), 16)
  b.set(be32(GW_IP), 20)
  b.set(OUR_MAC, 28)
  b.set([99, 130, 83, 99], 236)
  const opts = [53, 1, type, 54, 4, ...be32(GW_IP), 1, 4, ...be32(MASK), 3, 4, ...be32(GW_IP), 51, 4, ...be32(3600), 255]
  b.set(opts, 240)
  return b
}

function ipv4Udp(src: number, dst: number, sport: number, dport: number, data: Uint8Array): Uint8Array {
  return ipv4({ src, dst, proto: 17, payload: udp(src, dst, sport, dport, data) })
}

interface ClientMsg { ipDst: number; xid: number; type: number; options: { [code: number]: number[] } }

/** The DHCP messages (to port 67) among `frames`. */
function dhcpOut(frames: Uint8Array[]): ClientMsg[] {
  const out: ClientMsg[] = []
  for (const o of ipOut(frames)) {
    if (o.ip.proto !== 17) continue
    const u = parseUdp(o.ip)
    if (u.dport !== 67) continue
    assert.equal(u.sport, 68)
    const d = u.data
    const options: { [code: number]: number[] } = {}
    let i = 240
    while (i < d.length && d[i] !== 255) {
      if (d[i] === 0) { i++; continue }
      options[d[i]] = Array.from(d.subarray(i + 2, i + 2 + d[i + 1]))
      i += 2 + d[i + 1]
    }
    out.push({ ipDst: o.ip.dst, xid: ((d[4] << 24) | (d[5] << 16) | (d[6] << 8) | d[7]) >>> 0, type: options[53][0], options })
  }
  return out
}
