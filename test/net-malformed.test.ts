// Malformed input on both core backends: runts, every truncation of every kind of frame, bad header
// fields, checksums, lying lengths, odd ARP, bad fragments, random and mutated frames. Each is counted
// by reason, no exception escapes poll, nothing is answered that should not be, and a ping still works.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import {
  CORES, makeRig, introduce, eth, arp, ipv4, udp, icmp, echoRequest, fromPeer, parseEth, parseIp, parseIcmp,
  pattern, Rig,
  OUR_MAC, OUR_IP, PEER_IP, PEER_MAC, BCAST_MAC, ZERO_MAC,
} from './net-frames.js'
import { seededBytes } from './helpers.js'
import { counterNameList } from '../firmware/kernel/counters.js'

function snapshot(r: Rig): Map<string, number> {
  const m = new Map<string, number>()
  for (const n of counterNameList()) m.set(n, r.c(n))
  return m
}

/** Counters that grew since `before` (excluding the always-counted eth.rx). */
function grew(r: Rig, before: Map<string, number>): string[] {
  const out: string[] = []
  for (const n of counterNameList()) if (n !== 'eth.rx' && r.c(n) > (before.get(n) ?? 0)) out.push(n)
  return out
}

function pingWorks(r: Rig): void {
  r.drain()
  introduce(r)
  const req = echoRequest(0x1111, 0x2222, pattern(56))
  r.send(fromPeer({ src: PEER_IP, dst: OUR_IP, proto: 1, payload: req }))
  const out = r.drain().map(parseEth).filter((f) => f.type === 0x0800)
  assert.equal(out.length, 1, 'a ping is still answered')
  const m = parseIcmp(parseIp(out[0].payload).payload)
  assert.equal(m.type, 0)
  assert.deepEqual(m.data, req.subarray(8))
}

/** Valid frames of every kind we parse. */
function samples(): { name: string; frame: Uint8Array }[] {
  return [
    { name: 'arp', frame: eth(BCAST_MAC, PEER_MAC, 0x0806, arp(1, PEER_MAC, PEER_IP, ZERO_MAC, OUR_IP)) },
    { name: 'icmp', frame: fromPeer({ src: PEER_IP, dst: OUR_IP, proto: 1, payload: echoRequest(1, 1, pattern(40)) }) },
    { name: 'udp', frame: fromPeer({ src: PEER_IP, dst: OUR_IP, proto: 17, payload: udp(PEER_IP, OUR_IP, 1, 7, pattern(40)) }) },
    { name: 'tcp', frame: fromPeer({ src: PEER_IP, dst: OUR_IP, proto: 6, payload: tcpHeader() }) },
    { name: 'fragment', frame: fromPeer({ src: PEER_IP, dst: OUR_IP, proto: 17, payload: pattern(48), flags: 1, id: 5 }) },
    { name: 'options', frame: fromPeer({ src: PEER_IP, dst: OUR_IP, proto: 1, payload: echoRequest(1, 1, pattern(8)), options: Uint8Array.of(1, 1, 1, 1, 1, 1, 1, 0) }) },
  ]
}

function tcpHeader(): Uint8Array {
  const t = new Uint8Array(20)
  t[0] = 0x12
  t[2] = 0x00
  t[3] = 0x50
  t[12] = 5 << 4
  t[13] = 0x02
  return t
}

for (const kind of CORES) {
  describe(`malformed frames (${kind} core)`, () => {
    test('runt frames (0-13 bytes) are counted and dropped', () => {
      const r = makeRig(kind)
      const f = samples()[1].frame
      for (let n = 0; n < 14; n++) r.send(f.subarray(0, n))
      assert.equal(r.c('eth.rx.runt'), 14)
      assert.equal(r.drain().length, 0)
      pingWorks(r)
    })

    test('every truncation of every kind of frame is dropped with a reason, never answered', () => {
      const r = makeRig(kind)
      introduce(r)
      for (const s of samples()) {
        for (let n = 14; n < s.frame.length; n++) {
          const before = snapshot(r)
          r.send(s.frame.subarray(0, n))
          const g = grew(r, before)
          if (s.name === 'fragment' && n >= 34 + 8) {
            // A shorter fragment is still a fragment (when a multiple of 8 its total length was cut too).
            assert.ok(g.length > 0, `${s.name} cut to ${n}: counted`)
            continue
          }
          assert.ok(g.length > 0, `${s.name} cut to ${n}: counted`)
          const reasons = g.filter((x) => /\.(short|bad|length|ihl|checksum|runt)$/.test(x) || x === 'ip.rx.length')
          assert.ok(reasons.length > 0, `${s.name} cut to ${n}: a drop reason among ${g.join(',')}`)
          assert.equal(r.drain().length, 0, `${s.name} cut to ${n}: no answer`)
        }
      }
      assert.equal(r.c('poll.error'), 0)
      r.advance(31000000)
      pingWorks(r)
    })

    test('bad header fields are counted by reason', () => {
      const r = makeRig(kind)
      introduce(r)
      const good = { src: PEER_IP, dst: OUR_IP, proto: 1, payload: echoRequest(1, 1, pattern(32)) }
      const raw = (mutate: (b: Uint8Array) => void) => {
        const b = ipv4(good)
        mutate(b)
        return eth(OUR_MAC, PEER_MAC, 0x0800, b)
      }
      const cases: [string, Uint8Array, string][] = [
        ['IP version 6 in an IPv4 frame', raw((b) => { b[0] = 0x65 }), 'ip.rx.version'],
        ['IHL 0', fromPeer({ ...good, ihl: 0 }), 'ip.rx.ihl'],
        ['IHL 4', fromPeer({ ...good, ihl: 4 }), 'ip.rx.ihl'],
        ['IHL 15 beyond a short frame', eth(OUR_MAC, PEER_MAC, 0x0800, ipv4({ ...good, payload: new Uint8Array(10), ihl: 15 })), 'ip.rx.ihl'],
        ['total length beyond the frame', fromPeer({ ...good, totalLength: 2000 }), 'ip.rx.length'],
        ['total length below the header', fromPeer({ ...good, totalLength: 12 }), 'ip.rx.length'],
        ['bad header checksum', fromPeer({ ...good, badChecksum: true }), 'ip.rx.checksum'],
        ['bad ICMP checksum', fromPeer({ ...good, payload: icmp(8, 0, 1, pattern(8), true) }), 'icmp.rx.bad'],
        ['ICMP shorter than 8 bytes', fromPeer({ ...good, payload: pattern(5) }), 'icmp.rx.bad'],
        ['UDP length beyond the payload', fromPeer({ ...good, proto: 17, payload: udp(PEER_IP, OUR_IP, 1, 7, pattern(8), { lengthField: 100 }) }), 'udp.rx.bad'],
        ['UDP length below 8', fromPeer({ ...good, proto: 17, payload: udp(PEER_IP, OUR_IP, 1, 7, pattern(8), { lengthField: 4 }) }), 'udp.rx.bad'],
        ['UDP shorter than its header', fromPeer({ ...good, proto: 17, payload: pattern(6) }), 'udp.rx.bad'],
        ['bad UDP checksum', fromPeer({ ...good, proto: 17, payload: udp(PEER_IP, OUR_IP, 1, 7, pattern(8), { checksum: 'bad' }) }), 'udp.rx.checksum'],
        ['TCP data offset below 5', fromPeer({ ...good, proto: 6, payload: (() => { const t = tcpHeader(); t[12] = 0x40; return t })() }), 'tcp.rx.bad'],
        ['TCP shorter than 20', fromPeer({ ...good, proto: 6, payload: pattern(12) }), 'tcp.rx.bad'],
        ['ARP cut to 27 bytes', eth(BCAST_MAC, PEER_MAC, 0x0806, arp(1, PEER_MAC, PEER_IP, ZERO_MAC, OUR_IP).subarray(0, 27)), 'arp.rx.bad'],
        ['ARP hardware length 8', eth(BCAST_MAC, PEER_MAC, 0x0806, (() => { const a = arp(1, PEER_MAC, PEER_IP, ZERO_MAC, OUR_IP); a[4] = 8; return a })()), 'arp.rx.bad'],
        ['ARP protocol length 16', eth(BCAST_MAC, PEER_MAC, 0x0806, (() => { const a = arp(1, PEER_MAC, PEER_IP, ZERO_MAC, OUR_IP); a[5] = 16; return a })()), 'arp.rx.bad'],
        ['ARP opcode 3', eth(BCAST_MAC, PEER_MAC, 0x0806, arp(3, PEER_MAC, PEER_IP, ZERO_MAC, OUR_IP)), 'arp.rx.bad'],
        ['ARP for another hardware type', eth(BCAST_MAC, PEER_MAC, 0x0806, (() => { const a = arp(1, PEER_MAC, PEER_IP, ZERO_MAC, OUR_IP); a[1] = 6; return a })()), 'arp.rx.bad'],
        ['ARP with a multicast sender MAC', eth(BCAST_MAC, PEER_MAC, 0x0806, arp(1, Uint8Array.of(1, 0, 0x5e, 0, 0, 1), PEER_IP, ZERO_MAC, OUR_IP)), 'arp.rx.bad'],
        ['ARP with a broadcast sender address', eth(BCAST_MAC, PEER_MAC, 0x0806, arp(1, PEER_MAC, 0xffffffff, ZERO_MAC, OUR_IP)), 'arp.rx.bad'],
        ['empty fragment', fromPeer({ ...good, payload: new Uint8Array(0), flags: 1, id: 77 }), 'ip.frag.bad'],
        ['fragment of 7 bytes with MF', fromPeer({ ...good, payload: pattern(7), flags: 1, id: 78 }), 'ip.frag.bad'],
        ['another host\'s unicast MAC', eth(PEER_MAC, OUR_MAC, 0x0800, ipv4(good)), 'eth.rx.not-for-us'],
        ['IPv6 multicast MAC', eth(Uint8Array.of(0x33, 0x33, 0, 0, 0, 1), PEER_MAC, 0x86dd, pattern(40)), 'eth.rx.not-for-us'],
        ['IPv6 to our MAC', eth(OUR_MAC, PEER_MAC, 0x86dd, pattern(40)), 'eth.rx.unknown-type'],
        ['IPv4 to another address', fromPeer({ ...good, dst: PEER_IP }), 'ip.rx.not-for-us'],
        ['a multicast source', fromPeer({ ...good, src: 0xe0000005 }), 'ip.rx.bad-src'],
      ]
      for (const [what, frame, counter] of cases) {
        const before = snapshot(r)
        r.send(frame)
        assert.deepEqual(grew(r, before).filter((n) => n === counter), [counter], `${what}: counted as ${counter}`)
        assert.equal(r.drain().length, 0, `${what}: no answer`)
      }
      assert.equal(r.c('poll.error'), 0)
      pingWorks(r)
    })

    test('lengths that are shorter than the frame are honoured: Ethernet padding, a UDP length below the IP payload', () => {
      const r = makeRig(kind)
      introduce(r)
      const got: Uint8Array[] = []
      r.stack.udp.open(7, (_s, _p, _d, data) => got.push(data.slice()))
      // 28-byte datagram in a 60-byte frame (padding after the IP total length).
      const small = fromPeer({ src: PEER_IP, dst: OUR_IP, proto: 17, payload: udp(PEER_IP, OUR_IP, 1, 7, Uint8Array.of(1, 2)) })
      const padded = new Uint8Array(60)
      padded.set(small)
      padded.fill(0xee, small.length)
      r.send(padded)
      // UDP length says 10 (2 data bytes) inside a 20-byte IP payload: the UDP length governs.
      const u = udp(PEER_IP, OUR_IP, 1, 7, Uint8Array.of(3, 4))
      r.send(fromPeer({ src: PEER_IP, dst: OUR_IP, proto: 17, payload: new Uint8Array([...u, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]) }))
      assert.deepEqual(got, [Uint8Array.of(1, 2), Uint8Array.of(3, 4)])
    })

    test('random and mutated frames: no exception escapes poll, and a ping still works', () => {
      const r = makeRig(kind)
      introduce(r)
      r.stack.udp.open(7, () => {})
      const base = samples()
      let seed = 7
      for (let i = 0; i < 3000; i++) {
        let f: Uint8Array
        if (i % 3 === 0) {
          // Random bytes behind a header that reaches the parser.
          const n = 14 + (i % 200)
          f = seededBytes(n, ++seed)
          f.set(OUR_MAC, 0)
          f[12] = i % 2 === 0 ? 0x08 : 0x08
          f[13] = i % 6 === 0 ? 0x06 : 0x00
          if (f.length > 14 && f[13] === 0) f[14] = 0x40 | (f[14] & 15)
        } else {
          // A valid frame with a few bytes flipped and maybe cut.
          const s = base[i % base.length].frame
          f = s.slice()
          const flips = seededBytes(8, ++seed)
          for (let k = 0; k < 4; k++) {
            const at = 14 + (((flips[2 * k] << 8) | flips[2 * k + 1]) % (f.length - 14))
            f[at] ^= 1 << (flips[k] & 7)
          }
          if (i % 5 === 0) f = f.subarray(0, 14 + (flips[7] % (f.length - 13)))
        }
        r.inject(f)
        r.poll()
        r.drain()
        if (i % 500 === 0) r.advance(40000000)
      }
      assert.equal(r.c('poll.error'), 0)
      r.advance(40000000)
      assert.equal(r.stack.reassembly.inUse(), 0)
      pingWorks(r)
    })

    test('the poll budget bounds the frames taken per poll', () => {
      const r = makeRig(kind, { pollBudget: 16 })
      for (let i = 0; i < 20; i++) r.inject(eth(BCAST_MAC, PEER_MAC, 0x0806, arp(1, PEER_MAC, PEER_IP, ZERO_MAC, PEER_IP + 1)))
      r.poll()
      assert.equal(r.stack.rx.count(), 4)
      assert.equal(r.c('poll.budget.stop'), 1)
      r.poll()
      assert.equal(r.stack.rx.count(), 0)
      assert.equal(r.c('arp.rx'), 20)
    })
  })
}
