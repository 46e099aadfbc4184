// ICMP and IPv4 reassembly/fragmentation on both core backends: echo of every size (fragmented both
// ways, byte-exact), broadcast pings, overlapping and oversized fragments, reassembly timeout and
// table limits, port/protocol unreachable with its rate limit and the RFC 1122 §3.2.2 exceptions.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import {
  CORES, makeRig, introduce, eth, ipv4, udp, icmp, echoRequest, fragmentFrames, fromPeer, parseEth, parseIp, parseIcmp,
  reassemble, pattern, concat, macStr, Rig, IpPacket,
  OUR_MAC, OUR_IP, GW_IP, GW_MAC, PEER_IP, PEER_MAC, BCAST_MAC, SUBNET_BCAST, FAR_IP,
} from './net-frames.js'

const S = 1000000

function ipOut(frames: Uint8Array[]): { dst: string; ip: IpPacket }[] {
  return frames.map(parseEth).filter((f) => f.type === 0x0800).map((f) => ({ dst: f.dst, ip: parseIp(f.payload) }))
}

/** The echo reply the peer must get back for `req` (an ICMP echo request message). */
function expectedReply(req: Uint8Array): Uint8Array {
  return icmp(0, req[1], ((req[4] << 24) | (req[5] << 16) | (req[6] << 8) | req[7]) >>> 0, req.subarray(8))
}

/** Sends a ping of `size` data bytes (fragmented at `fragSize` when given) and returns the reply's payload. */
function ping(r: Rig, size: number, fragSize = 0, reverse = false, id = 0x4242): Uint8Array | null {
  const req = echoRequest(0x77, size & 0xffff, pattern(size, size + 1))
  if (fragSize > 0) {
    const frames = fragmentFrames(PEER_IP, OUR_IP, 1, req, fragSize, id)
    if (reverse) frames.reverse()
    for (const f of frames) r.send(f)
  } else {
    r.send(fromPeer({ src: PEER_IP, dst: OUR_IP, proto: 1, payload: req }))
  }
  const out = ipOut(r.drain())
  if (out.length === 0) return null
  for (const o of out) {
    assert.equal(o.dst, macStr(PEER_MAC))
    assert.equal(o.ip.src, OUR_IP)
    assert.equal(o.ip.dst, PEER_IP)
    assert.equal(o.ip.ttl, 64)
    assert.equal(o.ip.proto, 1)
    assert.equal(o.ip.hlen, 20)
  }
  const msg = out.length === 1 && o0Whole(out[0].ip) ? out[0].ip.payload : reassemble(out.map((o) => o.ip))
  assert.deepEqual(msg, expectedReply(req), 'byte-exact echo reply')
  parseIcmp(msg)
  return msg
}

function o0Whole(p: IpPacket): boolean {
  return p.fragOff === 0 && (p.flags & 1) === 0
}

for (const kind of CORES) {
  describe(`ICMP echo and fragments (${kind} core)`, () => {
    test('echo replies for 0, 1, 1472 data bytes are byte-exact, one frame each', () => {
      const r = makeRig(kind)
      introduce(r)
      for (const size of [0, 1, 1472]) {
        assert.ok(ping(r, size), `reply to ${size}`)
      }
      assert.equal(r.c('icmp.echo'), 3)
    })

    test('4000 and 8000 bytes as fragments: reassembled, answered with fragments, byte-exact (in and out of order)', () => {
      const r = makeRig(kind)
      introduce(r)
      assert.ok(ping(r, 4000, 1480))
      assert.ok(ping(r, 8000, 1480, true, 0x99))
      assert.ok(ping(r, 8000, 1000, false, 0x9a))
      assert.equal(r.c('ip.frag.reassembled'), 3)
      assert.ok(r.c('ip.frag.tx') >= 3 + 6 + 6)
      assert.equal(r.stack.reassembly.inUse(), 0)
    })

    test('tiny fragments (8 bytes each) reassemble', () => {
      const r = makeRig(kind)
      introduce(r)
      assert.ok(ping(r, 120, 8))
    })

    test('an echo reply larger than the free TX slots leaves over several polls', () => {
      const r = makeRig(kind, { budget: { txSlots: 4 } })
      introduce(r)
      const req = echoRequest(1, 2, pattern(8000, 3))
      const got: IpPacket[] = []
      for (const f of fragmentFrames(PEER_IP, OUR_IP, 1, req, 1480, 7)) r.send(f)
      for (let i = 0; i < 5 && got.length < 6; i++) {
        for (const o of ipOut(r.drain())) got.push(o.ip)
        r.poll()
      }
      assert.equal(got.length, 6)
      assert.deepEqual(reassemble(got), expectedReply(req))
      assert.equal(r.stack.reassembly.inUse(), 0)
    })

    test('the largest echo (65,535-byte datagram) is answered with 45 fragments over several polls', () => {
      const r = makeRig(kind)
      introduce(r)
      const req = echoRequest(1, 1, pattern(65507, 11))
      const got: IpPacket[] = []
      for (const f of fragmentFrames(PEER_IP, OUR_IP, 1, req, 1480, 0xbeef)) {
        r.send(f)
        for (const o of ipOut(r.drain())) got.push(o.ip)
      }
      for (let i = 0; i < 5 && got.length < 45; i++) {
        r.poll()
        for (const o of ipOut(r.drain())) got.push(o.ip)
      }
      assert.equal(got.length, 45)
      assert.deepEqual(reassemble(got), expectedReply(req))
      assert.equal(got[44].fragOff + got[44].payload.length, 65515)
      assert.equal(r.stack.reassembly.inUse(), 0)
    })

    test('an echo request with IP options is answered (options not copied)', () => {
      const r = makeRig(kind)
      introduce(r)
      const req = echoRequest(5, 6, pattern(64))
      r.send(eth(OUR_MAC, PEER_MAC, 0x0800, ipv4({ src: PEER_IP, dst: OUR_IP, proto: 1, payload: req, options: Uint8Array.of(1, 1, 1, 0) })))
      const out = ipOut(r.drain())
      assert.equal(out.length, 1)
      assert.deepEqual(out[0].ip.payload, expectedReply(req))
    })

    test('an echo request from off-subnet is answered through the gateway', () => {
      const r = makeRig(kind)
      introduce(r, GW_IP, GW_MAC)
      const req = echoRequest(9, 9, pattern(10))
      r.send(eth(OUR_MAC, GW_MAC, 0x0800, ipv4({ src: FAR_IP, dst: OUR_IP, proto: 1, payload: req })))
      const out = ipOut(r.drain())
      assert.equal(out.length, 1)
      assert.equal(out[0].dst, macStr(GW_MAC))
      assert.equal(out[0].ip.dst, FAR_IP)
    })

    test('broadcast and subnet-broadcast pings are ignored (RFC 1122 3.2.2.6 allows it) and counted', () => {
      const r = makeRig(kind)
      introduce(r)
      for (const dst of [0xffffffff, SUBNET_BCAST]) {
        r.send(eth(BCAST_MAC, PEER_MAC, 0x0800, ipv4({ src: PEER_IP, dst, proto: 1, payload: echoRequest(1, 1, pattern(8)) })))
      }
      assert.equal(r.drain().length, 0)
      assert.equal(r.c('icmp.rx.broadcast'), 2)
    })

    test('overlapping fragments: the whole datagram is discarded, later fragments too', () => {
      const r = makeRig(kind)
      introduce(r)
      const req = echoRequest(1, 1, pattern(3000))
      const mk = (off: number, len: number, more: boolean, id = 50) => eth(OUR_MAC, PEER_MAC, 0x0800,
        ipv4({ src: PEER_IP, dst: OUR_IP, proto: 1, payload: req.subarray(off, off + len), id, flags: more ? 1 : 0, fragOff: off }))
      r.send(mk(0, 1480, true))
      r.send(mk(1472, 1480, true)) // overlaps the first by 8 bytes
      r.send(mk(2952, req.length - 2952, false))
      assert.equal(ipOut(r.drain()).length, 0)
      assert.equal(r.c('ip.frag.overlap'), 2)
      assert.equal(r.c('ip.frag.reassembled'), 0)
      // An exact duplicate is an overlap too; a datagram with another id is unaffected.
      r.send(mk(0, 1480, true, 51))
      r.send(mk(0, 1480, true, 51))
      assert.equal(r.c('ip.frag.overlap'), 3)
      r.send(mk(0, 1480, true, 52))
      r.send(mk(1480, 1480, true, 52))
      r.send(mk(2960, req.length - 2960, false, 52))
      assert.equal(ipOut(r.drain()).length, 3, 'datagram 52 answered')
      // A second, different last fragment.
      r.send(mk(2960, req.length - 2960, false, 53))
      r.send(mk(2952, 8, true, 53))
      r.send(mk(2960, 16, false, 53))
      assert.equal(r.c('ip.frag.overlap'), 4)
      // Tombstones go at the timeout.
      r.advance(31 * S)
      assert.equal(r.stack.reassembly.inUse(), 0)
    })

    test('a datagram beyond 65,535 bytes is refused (ping of death), and one beyond the buffer', () => {
      const r = makeRig(kind)
      introduce(r)
      const tail = pattern(16)
      r.send(eth(OUR_MAC, PEER_MAC, 0x0800, ipv4({ src: PEER_IP, dst: OUR_IP, proto: 1, payload: tail, id: 60, fragOff: 65528 })))
      assert.equal(r.c('ip.frag.too-big'), 1)
      assert.equal(r.drain().length, 0)
      const small = makeRig(kind, { budget: { reassemblyBuffers: 1, reassemblyBytes: 1500 } })
      introduce(small)
      assert.equal(ping(small, 4000, 1480), null)
      assert.equal(small.c('ip.frag.too-big'), 2, 'the fragments past the buffer are counted (the first one fitted)')
      // The discarded datagram's tombstone holds the only buffer until the timeout.
      assert.equal(small.stack.reassembly.inUse(), 1)
      small.advance(30 * S)
      assert.equal(small.stack.reassembly.inUse(), 0)
      assert.ok(ping(small, 1400, 1000, false, 0x4343), 'a datagram that fits the buffer is rebuilt')
    })

    test('reassembly timeout frees the buffer and sends time exceeded when fragment zero came', () => {
      const r = makeRig(kind)
      introduce(r)
      const req = echoRequest(3, 4, pattern(3000))
      const frames = fragmentFrames(PEER_IP, OUR_IP, 1, req, 1480, 70)
      r.send(frames[0])
      r.send(frames[2])
      assert.equal(r.stack.reassembly.inUse(), 1)
      r.advance(29 * S)
      assert.equal(r.stack.reassembly.inUse(), 1)
      r.advance(1 * S)
      assert.equal(r.stack.reassembly.inUse(), 0)
      assert.equal(r.c('ip.frag.timeout'), 1)
      const out = ipOut(r.drain())
      assert.equal(out.length, 1)
      const m = parseIcmp(out[0].ip.payload)
      assert.equal(m.type, 11)
      assert.equal(m.code, 1)
      const quoted = parseIp(concat(m.data.subarray(0, 20), new Uint8Array(1500)))
      assert.equal(quoted.src, PEER_IP)
      assert.equal(quoted.id, 70)
      assert.deepEqual(m.data.subarray(20, 28), req.subarray(0, 8))
      // Without fragment zero: freed silently.
      r.send(frames[1])
      r.advance(31 * S)
      assert.equal(r.stack.reassembly.inUse(), 0)
      assert.equal(ipOut(r.drain()).length, 0)
    })

    test('a full reassembly table refuses new datagrams and recovers', () => {
      const r = makeRig(kind)
      introduce(r)
      const req = echoRequest(3, 4, pattern(2000))
      const sets = [80, 81, 82, 83, 84].map((id) => fragmentFrames(PEER_IP, OUR_IP, 1, req, 1480, id))
      for (let i = 0; i < 5; i++) r.send(sets[i][0])
      assert.equal(r.stack.reassembly.inUse(), 4)
      assert.equal(r.c('ip.frag.no-buffer'), 1)
      r.send(sets[0][1])
      assert.equal(ipOut(r.drain()).length, 2, 'datagram 80 completes and is answered')
      r.send(sets[4][0])
      r.send(sets[4][1])
      assert.equal(ipOut(r.drain()).length, 2, 'datagram 84 now has a buffer')
    })

    test('malformed fragments: empty, or a non-last one not a multiple of 8', () => {
      const r = makeRig(kind)
      introduce(r)
      r.send(fromPeer({ src: PEER_IP, dst: OUR_IP, proto: 17, payload: new Uint8Array(0), flags: 1, id: 9 }))
      r.send(fromPeer({ src: PEER_IP, dst: OUR_IP, proto: 17, payload: pattern(13), flags: 1, id: 9 }))
      assert.equal(r.c('ip.frag.bad'), 2)
      assert.equal(r.stack.reassembly.inUse(), 0)
    })
  })

  describe(`ICMP errors (${kind} core)`, () => {
    test('port unreachable for a closed UDP port quotes the header and 8 bytes', () => {
      const r = makeRig(kind)
      introduce(r)
      const dgram = ipv4({ src: PEER_IP, dst: OUR_IP, proto: 17, payload: udp(PEER_IP, OUR_IP, 5555, 9999, pattern(40)), id: 0x777 })
      r.send(eth(OUR_MAC, PEER_MAC, 0x0800, dgram))
      const out = ipOut(r.drain())
      assert.equal(out.length, 1)
      assert.equal(out[0].ip.dst, PEER_IP)
      const m = parseIcmp(out[0].ip.payload)
      assert.equal(m.type, 3)
      assert.equal(m.code, 3)
      assert.equal(m.rest, 0)
      assert.deepEqual(m.data, dgram.subarray(0, 28))
      assert.equal(r.c('udp.rx.no-port'), 1)
      assert.equal(r.c('icmp.unreach.tx'), 1)
    })

    test('errors are rate limited: a burst of 10, then 10 per second', () => {
      const r = makeRig(kind)
      introduce(r)
      const frame = fromPeer({ src: PEER_IP, dst: OUR_IP, proto: 17, payload: udp(PEER_IP, OUR_IP, 5555, 9999, pattern(4)) })
      for (let i = 0; i < 30; i++) r.send(frame)
      assert.equal(ipOut(r.drain()).length, 10)
      assert.equal(r.c('icmp.unreach.limited'), 20)
      r.advance(S / 2)
      for (let i = 0; i < 30; i++) r.send(frame)
      assert.equal(ipOut(r.drain()).length, 5)
    })

    test('no errors about broadcasts, multicasts, link-layer broadcasts, odd sources or ICMP errors', () => {
      const r = makeRig(kind)
      introduce(r)
      const u = (dst: number) => udp(PEER_IP, dst, 5555, 9999, pattern(4))
      r.send(eth(BCAST_MAC, PEER_MAC, 0x0800, ipv4({ src: PEER_IP, dst: 0xffffffff, proto: 17, payload: u(0xffffffff) })))
      r.send(eth(BCAST_MAC, PEER_MAC, 0x0800, ipv4({ src: PEER_IP, dst: SUBNET_BCAST, proto: 17, payload: u(SUBNET_BCAST) })))
      // Unicast IP inside a link-layer broadcast is discarded altogether (RFC 1122 3.3.6).
      r.send(eth(BCAST_MAC, PEER_MAC, 0x0800, ipv4({ src: PEER_IP, dst: OUR_IP, proto: 17, payload: u(OUR_IP) })))
      // Source 0.0.0.0 is accepted but not a host to report to.
      r.send(eth(OUR_MAC, PEER_MAC, 0x0800, ipv4({ src: 0, dst: OUR_IP, proto: 17, payload: udp(0, OUR_IP, 68, 9999, pattern(4)) })))
      // An ICMP error about an ICMP error: an unknown-protocol reply would be an error; a destination
      // unreachable received is just counted.
      r.send(fromPeer({ src: PEER_IP, dst: OUR_IP, proto: 1, payload: icmp(3, 3, 0, pattern(28)) }))
      assert.equal(ipOut(r.drain()).length, 0)
      assert.equal(r.c('udp.rx.no-port'), 3)
      assert.equal(r.c('ip.rx.not-for-us'), 1)
    })

    test('protocol unreachable for a transport we lack; multicast and bad sources are dropped', () => {
      const r = makeRig(kind)
      introduce(r)
      r.send(fromPeer({ src: PEER_IP, dst: OUR_IP, proto: 200, payload: pattern(20) }))
      const out = ipOut(r.drain())
      assert.equal(out.length, 1)
      const m = parseIcmp(out[0].ip.payload)
      assert.equal(m.type, 3)
      assert.equal(m.code, 2)
      assert.equal(r.c('ip.rx.proto'), 1)
      for (const src of [0xe0000001, 0xffffffff, SUBNET_BCAST, 0x7f000001, OUR_IP]) {
        r.send(fromPeer({ src, dst: OUR_IP, proto: 200, payload: pattern(20) }))
      }
      assert.equal(r.c('ip.rx.bad-src'), 5)
      assert.equal(ipOut(r.drain()).length, 0)
    })

    test('a fragmented datagram to a closed port is reported once, after reassembly', () => {
      const r = makeRig(kind)
      introduce(r)
      const payload = udp(PEER_IP, OUR_IP, 5555, 9999, pattern(3000))
      for (const f of fragmentFrames(PEER_IP, OUR_IP, 17, payload, 1480, 123)) r.send(f)
      const out = ipOut(r.drain())
      assert.equal(out.length, 1)
      const m = parseIcmp(out[0].ip.payload)
      assert.equal(m.type, 3)
      assert.equal(m.code, 3)
      assert.deepEqual(m.data.subarray(20, 28), payload.subarray(0, 8))
    })
  })
}
