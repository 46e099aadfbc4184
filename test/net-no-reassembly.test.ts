// IPv4 without reassembly (firmware/net/ipv4-no-reassembly.ts), the module a device bundle links when its
// board's budget has no reassembly buffers: it must treat every fragment exactly as the full module does with
// no buffers (same counters, nothing sent, nothing delivered), and the stack must go on working after them.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import {
  CORES, makeRig, introduce, eth, ipv4, udp, echoRequest, fragmentFrames, parseEth, parseIp, parseIcmp,
  Rig, OUR_MAC, OUR_IP, PEER_IP, PEER_MAC,
} from './net-frames.js'
import { Reassembly as NoReassembly } from '../firmware/net/ipv4-no-reassembly.js'
import { Reassembly } from '../firmware/net/ipv4-reassembly.js'

const COUNTERS = ['ip.frag.rx', 'ip.frag.bad', 'ip.frag.no-buffer', 'ip.frag.too-big', 'ip.frag.reassembled', 'udp.rx', 'icmp.rx']

/** Frames of every kind of fragment: a fragmented ping, a fragmented UDP datagram, an empty fragment, a
 *  fragment with MF set and a length that is not a multiple of 8, an oversized one ("ping of death" offset). */
function fragmentsToSend(): Uint8Array[] {
  const data = new Uint8Array(3000).map((_, i) => (i * 7) & 0xff)
  const frames = fragmentFrames(PEER_IP, OUR_IP, 1, echoRequest(7, 1, data), 1480, 0x1111)
  frames.push(...fragmentFrames(PEER_IP, OUR_IP, 17, udp(PEER_IP, OUR_IP, 4000, 7, data), 1000, 0x2222))
  const frag = (payload: Uint8Array, flags: number, fragOff: number, id: number) =>
    eth(OUR_MAC, PEER_MAC, 0x0800, ipv4({ src: PEER_IP, dst: OUR_IP, proto: 17, payload, id, flags, fragOff }))
  frames.push(frag(new Uint8Array(0), 1, 8, 0x3333))
  frames.push(frag(new Uint8Array(13), 1, 0, 0x4444))
  frames.push(frag(new Uint8Array(64), 0, 65528, 0x5555))
  return frames
}

function counters(r: Rig): number[] {
  return COUNTERS.map((n) => r.c(n))
}

function run(r: Rig): { counters: number[]; sent: Uint8Array[] } {
  introduce(r)
  const before = counters(r)
  for (const f of fragmentsToSend()) r.send(f)
  r.advance(60000000)
  r.poll()
  return { counters: counters(r).map((v, i) => v - before[i]), sent: r.drain() }
}

for (const kind of CORES) {
  describe(`IPv4 without reassembly buffers (${kind} core)`, () => {
    test('the no-reassembly module counts and drops fragments exactly as the full module with no buffers', () => {
      const full = makeRig(kind, { budget: { reassemblyBuffers: 0, reassemblyBytes: 0 } })
      assert.ok(full.stack.reassembly instanceof Reassembly)
      const none = makeRig(kind, { budget: { reassemblyBuffers: 0, reassemblyBytes: 0 } })
      ;(none.stack as unknown as { reassembly: unknown }).reassembly = new NoReassembly(none.stack)
      const a = run(full)
      const b = run(none)
      assert.deepEqual(b.counters, a.counters)
      assert.deepEqual(b.sent, a.sent)
      const fragments = fragmentsToSend().length
      // every fragment counted once; the two malformed ones as bad, all others for want of a buffer
      assert.deepEqual(a.counters.slice(0, 5), [fragments, 2, fragments - 2, 0, 0])
      assert.deepEqual(a.sent, [], 'nothing answered: no echo reply, no ICMP error for a datagram never whole')
    })

    test('with the no-reassembly module, unfragmented pings are still answered after fragments were dropped', () => {
      const r = makeRig(kind, { budget: { reassemblyBuffers: 0, reassemblyBytes: 0 } })
      ;(r.stack as unknown as { reassembly: unknown }).reassembly = new NoReassembly(r.stack)
      run(r)
      const data = new Uint8Array(1000).map((_, i) => i & 0xff)
      r.send(eth(OUR_MAC, PEER_MAC, 0x0800, ipv4({ src: PEER_IP, dst: OUR_IP, proto: 1, payload: echoRequest(9, 2, data) })))
      const out = r.drain()
      assert.equal(out.length, 1)
      const icmp = parseIcmp(parseIp(parseEth(out[0]).payload).payload)
      assert.equal(icmp.type, 0)
      assert.deepEqual(icmp.data, data)
      assert.equal(r.stack.reassembly.inUse(), 0)
    })
  })
}
