// ARP (RFC 826, RFC 1122 §2.3.2, RFC 5227 announcements) on both core backends: replies, learning,
// aging, the request rate limit, the pending queue, gratuitous ARP and poisoning resistance.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import {
  CORES, makeRig, introduce, eth, arp, parseEth, parseArp, parseIp, parseUdp, ipStr, macStr,
  OUR_MAC, OUR_IP, MASK, GW_IP, GW_MAC, PEER_IP, PEER_MAC, PEER2_IP, PEER2_MAC, EVIL_MAC, BCAST_MAC, ZERO_MAC,
  FAR_IP, Rig, fromPeer, echoRequest,
} from './net-frames.js'
import { UDP_ERR_ARP_QUEUE_FULL } from '../firmware/net/udp.js'

const S = 1000000

function arps(frames: Uint8Array[]) {
  return frames.map(parseEth).filter((f) => f.type === 0x0806).map((f) => ({ eth: f, arp: parseArp(f.payload) }))
}

function udps(frames: Uint8Array[]) {
  return frames.map(parseEth).filter((f) => f.type === 0x0800).map((f) => ({ eth: f, ip: parseIp(f.payload) }))
}

function sendUdp(r: Rig, dst: number, n = 1): number[] {
  const id = r.stack.udp.open(0, () => {})
  const res: number[] = []
  for (let i = 0; i < n; i++) res.push(r.stack.udp.send(id, dst, 7, Uint8Array.of(i), r.clock.now()))
  r.stack.udp.close(id)
  return res
}

/** We resolve `ipAddr` by asking, and it answers. */
function resolveVia(r: Rig, ipAddr: number, m: Uint8Array): void {
  assert.deepEqual(sendUdp(r, ipAddr), [0])
  const out = arps(r.drain())
  assert.equal(out.length, 1)
  r.send(eth(OUR_MAC, m, 0x0806, arp(2, m, ipAddr, OUR_MAC, OUR_IP)))
  assert.equal(udps(r.drain()).length, 1)
}

for (const kind of CORES) {
  describe(`ARP (${kind} core)`, () => {
    test('a request for our address is answered, unicast, padded, and its sender learned', () => {
      const r = makeRig(kind)
      r.send(eth(BCAST_MAC, PEER_MAC, 0x0806, arp(1, PEER_MAC, PEER_IP, ZERO_MAC, OUR_IP)))
      const out = r.drain()
      assert.equal(out.length, 1)
      assert.equal(out[0].length, 60)
      assert.ok(out[0].subarray(42).every((b) => b === 0), 'zero padding')
      const f = parseEth(out[0])
      assert.equal(f.dst, macStr(PEER_MAC))
      assert.equal(f.src, macStr(OUR_MAC))
      const a = parseArp(f.payload)
      assert.deepEqual(a, { op: 2, sha: macStr(OUR_MAC), spa: OUR_IP, tha: macStr(PEER_MAC), tpa: PEER_IP })
      assert.equal(r.stack.arp.describe(PEER_IP, r.clock.now()), 'reachable')
      assert.equal(r.stack.arp.macOf(PEER_IP), macStr(PEER_MAC))
      assert.equal(r.c('arp.rx'), 1)
      assert.equal(r.c('arp.tx'), 1)
    })

    test('a request for another address is ignored and teaches nothing', () => {
      const r = makeRig(kind)
      r.send(eth(BCAST_MAC, PEER_MAC, 0x0806, arp(1, PEER_MAC, PEER_IP, ZERO_MAC, PEER2_IP)))
      assert.equal(r.drain().length, 0)
      assert.equal(r.stack.arp.describe(PEER_IP, r.clock.now()), 'none')
      assert.equal(r.c('arp.rx.ignored'), 1)
    })

    test('an unsolicited reply creates no entry', () => {
      const r = makeRig(kind)
      r.send(eth(OUR_MAC, EVIL_MAC, 0x0806, arp(2, EVIL_MAC, GW_IP, OUR_MAC, OUR_IP)))
      assert.equal(r.stack.arp.describe(GW_IP, r.clock.now()), 'none')
      assert.equal(r.drain().length, 0)
    })

    test('resolution: one broadcast request, frames wait, and leave in order when the reply comes', () => {
      const r = makeRig(kind)
      assert.deepEqual(sendUdp(r, PEER_IP, 3), [0, 0, 0])
      const out = r.drain()
      assert.equal(out.length, 1, 'only the request goes out')
      const q = arps(out)[0]
      assert.equal(q.eth.dst, 'ff:ff:ff:ff:ff:ff')
      assert.deepEqual(q.arp, { op: 1, sha: macStr(OUR_MAC), spa: OUR_IP, tha: '00:00:00:00:00:00', tpa: PEER_IP })
      assert.equal(r.stack.arp.pendingCount(), 3)
      assert.equal(r.stack.arp.describe(PEER_IP, r.clock.now()), 'incomplete')
      r.send(eth(OUR_MAC, PEER_MAC, 0x0806, arp(2, PEER_MAC, PEER_IP, OUR_MAC, OUR_IP)))
      const sent = udps(r.drain())
      assert.equal(sent.length, 3)
      assert.deepEqual(sent.map((s) => parseUdp(s.ip).data[0]), [0, 1, 2], 'queue order kept')
      for (const s of sent) {
        assert.equal(s.eth.dst, macStr(PEER_MAC))
        assert.equal(s.ip.dst, PEER_IP)
      }
      assert.equal(r.stack.arp.pendingCount(), 0)
      assert.equal(r.stack.arp.describe(PEER_IP, r.clock.now()), 'reachable')
    })

    test('requests: at most one per second per target, three in all, then the waiting frames are dropped and counted', () => {
      const r = makeRig(kind)
      assert.deepEqual(sendUdp(r, PEER2_IP, 2), [0, 0])
      assert.equal(arps(r.drain()).length, 1)
      r.advance(S / 2)
      assert.deepEqual(sendUdp(r, PEER2_IP, 3), [0, 0, 0])
      assert.equal(arps(r.drain()).length, 0, 'no second request within the second')
      const times: number[] = []
      for (let t = 0; t < 40; t++) {
        r.advance(S / 10)
        for (const a of arps(r.drain())) {
          assert.equal(a.arp.tpa, PEER2_IP)
          times.push(r.clock.now())
        }
      }
      assert.equal(times.length, 2, 'two more requests (three in all)')
      assert.ok(times[1] - times[0] >= S)
      assert.equal(r.c('arp.pending.timeout'), 5, 'five waiting datagrams dropped')
      assert.equal(r.stack.arp.pendingCount(), 0)
      assert.equal(r.stack.arp.describe(PEER2_IP, r.clock.now()), 'none')
      // A new datagram starts a new resolution at once (the last request was >= 1 s ago).
      sendUdp(r, PEER2_IP)
      assert.equal(arps(r.drain()).length, 1)
    })

    test('a full pending queue refuses the datagram', () => {
      const r = makeRig(kind, { budget: { arpPending: 4 } })
      assert.deepEqual(sendUdp(r, PEER_IP, 5), [0, 0, 0, 0, UDP_ERR_ARP_QUEUE_FULL])
      assert.equal(r.c('arp.pending.full'), 1)
    })

    test('a full cache of entries being resolved refuses a new next hop', () => {
      const r = makeRig(kind, { budget: { arpEntries: 2 } })
      assert.deepEqual(sendUdp(r, PEER_IP), [0])
      assert.deepEqual(sendUdp(r, PEER2_IP), [0])
      assert.deepEqual(sendUdp(r, GW_IP), [UDP_ERR_ARP_QUEUE_FULL])
      assert.equal(r.c('arp.cache.full'), 1)
    })

    test('aging: reachable, stale after 60 s, verified by unicast request, evicted after 20 min idle', () => {
      const r = makeRig(kind)
      introduce(r)
      r.advance(61 * S)
      assert.equal(r.stack.arp.describe(PEER_IP, r.clock.now()), 'stale')
      // A stale entry is still used; using it sends a unicast verification.
      sendUdp(r, PEER_IP)
      const out = r.drain()
      const data = udps(out)
      assert.equal(data.length, 1)
      assert.equal(data[0].eth.dst, macStr(PEER_MAC))
      const probe = arps(out)
      assert.equal(probe.length, 1)
      assert.equal(probe[0].eth.dst, macStr(PEER_MAC), 'unicast poll (RFC 1122 2.3.2.1)')
      assert.equal(r.stack.arp.describe(PEER_IP, r.clock.now()), 'probe')
      r.send(eth(OUR_MAC, PEER_MAC, 0x0806, arp(2, PEER_MAC, PEER_IP, OUR_MAC, OUR_IP)))
      assert.equal(r.stack.arp.describe(PEER_IP, r.clock.now()), 'reachable')
      // Traffic refreshes: an IP datagram from the cached MAC confirms reachability.
      r.advance(59 * S)
      r.send(eth(OUR_MAC, PEER_MAC, 0x0800, new Uint8Array(0)))
      r.send(fromPeer({ src: PEER_IP, dst: OUR_IP, proto: 1, payload: echoRequest(1, 1, new Uint8Array(4)) }, EVIL_MAC))
      r.advance(2 * S)
      assert.equal(r.stack.arp.describe(PEER_IP, r.clock.now()), 'stale', 'a runt or another MAC does not refresh')
      r.send(fromPeer({ src: PEER_IP, dst: OUR_IP, proto: 1, payload: echoRequest(1, 2, new Uint8Array(4)) }))
      r.advance(30 * S)
      assert.equal(r.stack.arp.describe(PEER_IP, r.clock.now()), 'reachable', 'a datagram from the cached MAC refreshes')
      r.drain()
      r.advance(20 * 60 * S)
      assert.equal(r.stack.arp.describe(PEER_IP, r.clock.now()), 'none', 'evicted after 20 min idle')
    })

    test('a stale entry whose host stays silent is dropped after three unicast requests', () => {
      const r = makeRig(kind)
      introduce(r)
      r.advance(61 * S)
      sendUdp(r, PEER_IP)
      let probes = arps(r.drain()).length
      for (let t = 0; t < 5; t++) {
        r.advance(S)
        probes += arps(r.drain()).length
      }
      assert.equal(probes, 3)
      assert.equal(r.stack.arp.describe(PEER_IP, r.clock.now()), 'none')
      sendUdp(r, PEER_IP)
      const q = arps(r.drain())
      assert.equal(q.length, 1)
      assert.equal(q[0].eth.dst, 'ff:ff:ff:ff:ff:ff', 'fresh broadcast resolution')
    })

    test('gratuitous ARP: two announcements on an address change and on link up, none when unchanged', () => {
      const r = makeRig(kind)
      const now = () => r.clock.now()
      const newIp = OUR_IP + 5
      r.stack.setConfig({ ip: newIp, mask: MASK, gateway: GW_IP }, now())
      let a = arps(r.drain())
      assert.equal(a.length, 1)
      assert.equal(a[0].eth.dst, 'ff:ff:ff:ff:ff:ff')
      assert.equal(a[0].arp.op, 1)
      assert.equal(a[0].arp.spa, newIp)
      assert.equal(a[0].arp.tpa, newIp)
      r.advance(S)
      assert.equal(arps(r.drain()).length, 0)
      r.advance(S)
      a = arps(r.drain())
      assert.equal(a.length, 1, 'second announcement 2 s later')
      assert.equal(a[0].arp.spa, newIp)
      r.advance(10 * S)
      assert.equal(arps(r.drain()).length, 0)
      r.stack.setConfig({ ip: newIp, mask: MASK, gateway: GW_IP }, now())
      assert.equal(r.drain().length, 0, 'same address: no announcement')
      r.stack.linkUp(now())
      a = arps(r.drain())
      assert.equal(a.length, 1)
      assert.equal(a[0].arp.spa, newIp)
      assert.equal(r.stack.config().ip, newIp)
      // No address, no announcement.
      r.stack.setConfig({ ip: 0, mask: 0, gateway: 0 }, now())
      r.advance(5 * S)
      r.drain()
      r.stack.linkUp(now())
      assert.equal(r.drain().length, 0)
    })

    test('poisoning: a gratuitous claim for an entry in use is refused and verified; the owner keeps it', () => {
      const r = makeRig(kind)
      resolveVia(r, GW_IP, GW_MAC)
      // Traffic to the Internet goes through the gateway.
      sendUdp(r, FAR_IP)
      assert.equal(udps(r.drain())[0].eth.dst, macStr(GW_MAC))
      // The attacker announces the gateway's address with its own MAC, and sends an unsolicited reply.
      r.send(eth(BCAST_MAC, EVIL_MAC, 0x0806, arp(1, EVIL_MAC, GW_IP, ZERO_MAC, GW_IP)))
      r.send(eth(OUR_MAC, EVIL_MAC, 0x0806, arp(2, EVIL_MAC, GW_IP, OUR_MAC, OUR_IP)))
      assert.equal(r.stack.arp.macOf(GW_IP), macStr(GW_MAC))
      assert.equal(r.c('arp.rx.conflict'), 2)
      // The verification request respects the 1 s per-target limit (our own request was just sent).
      r.advance(S)
      const probe = arps(r.drain())
      assert.equal(probe.length, 1, 'one verification request')
      assert.equal(probe[0].eth.dst, macStr(GW_MAC))
      assert.equal(probe[0].arp.tpa, GW_IP)
      // The real gateway answers: the entry stays, traffic still goes to it.
      r.send(eth(OUR_MAC, GW_MAC, 0x0806, arp(2, GW_MAC, GW_IP, OUR_MAC, OUR_IP)))
      assert.equal(r.stack.arp.describe(GW_IP, r.clock.now()), 'reachable')
      r.advance(5 * S)
      sendUdp(r, FAR_IP)
      const out = r.drain()
      assert.equal(udps(out)[0].eth.dst, macStr(GW_MAC))
      // A request from the attacker claiming the gateway address and asking for ours is refused too.
      r.send(eth(BCAST_MAC, EVIL_MAC, 0x0806, arp(1, EVIL_MAC, GW_IP, ZERO_MAC, OUR_IP)))
      assert.equal(r.stack.arp.macOf(GW_IP), macStr(GW_MAC))
    })

    test('a claimed address whose cached owner stays silent is dropped, then resolved afresh', () => {
      const r = makeRig(kind)
      resolveVia(r, PEER_IP, PEER_MAC)
      r.send(eth(BCAST_MAC, PEER2_MAC, 0x0806, arp(1, PEER2_MAC, PEER_IP, ZERO_MAC, PEER_IP)))
      assert.equal(r.stack.arp.macOf(PEER_IP), macStr(PEER_MAC))
      for (let t = 0; t < 4; t++) r.advance(S)
      r.drain()
      assert.equal(r.stack.arp.describe(PEER_IP, r.clock.now()), 'none')
      sendUdp(r, PEER_IP)
      assert.equal(arps(r.drain())[0].eth.dst, 'ff:ff:ff:ff:ff:ff')
      r.send(eth(OUR_MAC, PEER2_MAC, 0x0806, arp(2, PEER2_MAC, PEER_IP, OUR_MAC, OUR_IP)))
      assert.equal(r.stack.arp.macOf(PEER_IP), macStr(PEER2_MAC), 'the new MAC after verification failed')
      assert.equal(udps(r.drain())[0].eth.dst, macStr(PEER2_MAC))
    })

    test('a flood of requests cannot evict an entry we send through', () => {
      const r = makeRig(kind, { budget: { arpEntries: 4 } })
      resolveVia(r, GW_IP, GW_MAC)
      for (let i = 0; i < 20; i++) {
        const m = Uint8Array.of(2, 0, 0, 0, 1, i)
        r.send(eth(BCAST_MAC, m, 0x0806, arp(1, m, OUR_IP + 100 + i, ZERO_MAC, OUR_IP)))
      }
      assert.equal(r.drain().length, 20, 'each request answered')
      assert.equal(r.stack.arp.macOf(GW_IP), macStr(GW_MAC))
      assert.equal(r.stack.arp.macOf(OUR_IP + 119), '02:00:00:00:01:13', 'newcomers take the other slots')
    })

    test('our address claimed by another host: counted, logged, defended at most every 10 s', () => {
      const r = makeRig(kind)
      r.send(eth(BCAST_MAC, EVIL_MAC, 0x0806, arp(1, EVIL_MAC, OUR_IP, ZERO_MAC, OUR_IP)))
      r.send(eth(BCAST_MAC, EVIL_MAC, 0x0806, arp(1, EVIL_MAC, OUR_IP, ZERO_MAC, OUR_IP)))
      assert.equal(r.c('arp.rx.conflict'), 2)
      assert.ok(r.logs.some((l) => /conflict/.test(l)))
      const a = arps(r.drain())
      assert.equal(a.length, 1, 'one defence')
      assert.equal(a[0].arp.spa, OUR_IP)
      assert.equal(a[0].arp.tpa, OUR_IP)
    })

    test('an ARP probe (sender 0.0.0.0) for our address is answered and teaches nothing', () => {
      const r = makeRig(kind)
      r.send(eth(BCAST_MAC, PEER_MAC, 0x0806, arp(1, PEER_MAC, 0, ZERO_MAC, OUR_IP)))
      const a = arps(r.drain())
      assert.equal(a.length, 1)
      assert.equal(a[0].eth.dst, macStr(PEER_MAC))
      assert.equal(a[0].arp.tpa, 0)
      assert.equal(r.stack.arp.describe(0, r.clock.now()), 'none')
    })

    test('onPacket sees every well-formed ARP packet (for DHCP address checks)', () => {
      const r = makeRig(kind)
      const seen: string[] = []
      r.stack.arp.onPacket = (op, spa, tpa) => seen.push(`${op} ${ipStr(spa)} ${ipStr(tpa)}`)
      r.send(eth(BCAST_MAC, PEER_MAC, 0x0806, arp(1, PEER_MAC, 0, ZERO_MAC, PEER2_IP)))
      assert.deepEqual(seen, ['1 0.0.0.0 10.77.0.11'])
      assert.equal(r.stack.arp.probe(PEER2_IP), true)
      const a = arps(r.drain())
      assert.equal(a[0].arp.spa, 0)
      assert.equal(a[0].arp.tpa, PEER2_IP)
    })
  })
}
