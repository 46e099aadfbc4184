// The example firmware's services (firmware/apps/example.ts): UDP echo (RFC 862) and discard (RFC 863).
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { VirtualClock } from '../firmware/kernel/clock.js'
import { startExampleServices, formatExampleCounters, ECHO_PORT, DISCARD_PORT } from '../firmware/apps/example.js'
import { FakeStack, ip } from './fixtures/fake-net.js'
import { realStack, pushFrame, drainTx, udpFrame, arpReply, parseUdpFrame, parseArpRequest } from './fixtures/real-net.js'

const ME = ip('10.0.0.1')
const PEER = ip('10.0.0.2')

function setup(udpSockets?: number): { stack: FakeStack; clock: VirtualClock } {
  const stack = new FakeStack(undefined, udpSockets)
  stack.setConfig({ ip: ME, mask: ip('255.255.255.0'), gateway: 0 }, 0)
  return { stack, clock: new VirtualClock(42) }
}

describe('example services', () => {
  test('UDP echo sends each datagram back to its source address and port (RFC 862)', () => {
    const { stack, clock } = setup()
    const svc = startExampleServices(stack, () => clock.now())
    stack.inject(PEER, 40000, ME, ECHO_PORT, new Uint8Array([1, 2, 3, 4]))
    stack.inject(ip('192.168.5.5'), 40001, ME, ECHO_PORT, new Uint8Array(0))
    stack.poll(clock.now())
    const sent = stack.udp.sent
    assert.equal(sent.length, 2)
    assert.equal(sent[0].dstIp, PEER)
    assert.equal(sent[0].dstPort, 40000)
    assert.equal(sent[0].srcPort, ECHO_PORT)
    assert.equal(sent[0].now, 42)
    assert.deepEqual(Array.from(sent[0].data), [1, 2, 3, 4])
    assert.equal(sent[1].data.length, 0, 'an empty datagram is echoed empty')
    assert.equal(svc.counters.udpEchoRx, 2)
    assert.equal(svc.counters.udpEchoTx, 2)
    assert.equal(svc.counters.udpEchoDropped, 0)
  })

  test('UDP echo does not answer broadcasts, bad sources or another echo/chargen port', () => {
    const { stack, clock } = setup()
    const svc = startExampleServices(stack, () => clock.now())
    const one = new Uint8Array([7])
    stack.inject(PEER, 40000, 0xffffffff, ECHO_PORT, one) // limited broadcast
    stack.inject(PEER, 40000, ip('10.0.0.255'), ECHO_PORT, one) // directed broadcast
    stack.inject(PEER, 40000, ip('224.0.0.1'), ECHO_PORT, one) // multicast
    stack.inject(0, 68, ME, ECHO_PORT, one) // 0.0.0.0 source
    stack.inject(ip('224.1.1.1'), 5, ME, ECHO_PORT, one) // multicast source
    stack.inject(PEER, 0, ME, ECHO_PORT, one) // port 0
    stack.inject(PEER, 7, ME, ECHO_PORT, one) // another echo server: would loop
    stack.inject(PEER, 19, ME, ECHO_PORT, one) // chargen: would loop
    stack.poll(clock.now())
    assert.equal(stack.udp.sent.length, 0)
    assert.equal(svc.counters.udpEchoRx, 8)
    assert.equal(svc.counters.udpEchoDropped, 8)
  })

  test('UDP echo before an address is configured stays silent', () => {
    const stack = new FakeStack()
    const svc = startExampleServices(stack, () => 0)
    stack.inject(PEER, 40000, 0, ECHO_PORT, new Uint8Array(1))
    stack.poll(0)
    assert.equal(stack.udp.sent.length, 0)
    assert.equal(svc.counters.udpEchoDropped, 1)
  })

  test('a refused echo reply (TX full) is counted as dropped', () => {
    const { stack, clock } = setup()
    const svc = startExampleServices(stack, () => clock.now())
    stack.udp.sendResult = -1
    stack.inject(PEER, 40000, ME, ECHO_PORT, new Uint8Array(1))
    stack.poll(clock.now())
    assert.equal(svc.counters.udpEchoTx, 0)
    assert.equal(svc.counters.udpEchoDropped, 1)
  })

  test('UDP discard counts datagrams and bytes and sends nothing (RFC 863)', () => {
    const { stack, clock } = setup()
    const svc = startExampleServices(stack, () => clock.now())
    stack.inject(PEER, 40000, ME, DISCARD_PORT, new Uint8Array(100))
    stack.inject(PEER, 40000, ME, DISCARD_PORT, new Uint8Array(23))
    stack.inject(PEER, 40000, 0xffffffff, DISCARD_PORT, new Uint8Array(0))
    stack.poll(clock.now())
    assert.equal(stack.udp.sent.length, 0)
    assert.equal(svc.counters.udpDiscardRx, 3)
    assert.equal(svc.counters.udpDiscardBytes, 123)
    assert.equal(formatExampleCounters(svc.counters), 'udp echo 0/0 (0 dropped), discard 3 (123 bytes); tcp echo 0 (0 bytes), discard 0 (0 bytes)')
  })

  test('stop closes both ports; a port in use or a full table throws at boot and leaves nothing open', () => {
    const { stack, clock } = setup()
    const svc = startExampleServices(stack, () => clock.now())
    assert.ok(stack.udp.isOpen(ECHO_PORT) && stack.udp.isOpen(DISCARD_PORT))
    svc.stop()
    assert.ok(!stack.udp.isOpen(ECHO_PORT) && !stack.udp.isOpen(DISCARD_PORT))

    const busy = setup()
    busy.stack.udp.open(DISCARD_PORT, () => {})
    assert.throws(() => startExampleServices(busy.stack, () => 0), /udp discard: UDP port 9 is already in use/)
    assert.ok(!busy.stack.udp.isOpen(ECHO_PORT), 'the echo socket was closed again')

    const small = setup(1)
    assert.throws(() => startExampleServices(small.stack, () => 0), /no free UDP socket for port 9/)
  })
})

describe('example services over the real NetStack', () => {
  test('an echo request frame comes back as a reply frame (through ARP); discard sends nothing', () => {
    const MY_MAC = [0x02, 0x53, 0x50, 0, 0, 0x10]
    const PEER_MAC = [0x02, 0x99, 0, 0, 0, 0x02]
    const stack = realStack(MY_MAC, { ip: ME, mask: ip('255.255.255.0'), gateway: 0 })
    const clock = new VirtualClock(1000)
    const svc = startExampleServices(stack, () => clock.now())
    const run = (): Uint8Array[] => {
      for (let i = 0; i < 3; i++) stack.poll(clock.now())
      return drainTx(stack)
    }
    run()
    pushFrame(stack, udpFrame(MY_MAC, PEER_MAC, PEER, ME, 40000, DISCARD_PORT, [1, 2, 3]))
    pushFrame(stack, udpFrame(MY_MAC, PEER_MAC, PEER, ME, 40000, ECHO_PORT, [104, 105]))
    let out = run()
    const who = out.map(parseArpRequest).filter((a) => a !== null && a.tpa === PEER)
    if (who.length > 0) {
      pushFrame(stack, arpReply(PEER_MAC, PEER, MY_MAC, ME))
      out = run()
    }
    const udp = out.map(parseUdpFrame).filter((u) => u !== null)
    assert.equal(udp.length, 1, 'one echo reply, nothing for discard')
    const r = udp[0]!
    assert.deepEqual(r.dstMac, PEER_MAC)
    assert.equal(r.src, ME)
    assert.equal(r.dst, PEER)
    assert.equal(r.sport, ECHO_PORT)
    assert.equal(r.dport, 40000)
    assert.deepEqual(Array.from(r.data), [104, 105])
    assert.deepEqual(svc.counters, { udpEchoRx: 1, udpEchoTx: 1, udpEchoDropped: 0, udpDiscardRx: 1, udpDiscardBytes: 3,
      tcpEchoConnections: 0, tcpEchoBytes: 0, tcpDiscardConnections: 0, tcpDiscardBytes: 0 })
  })
})
