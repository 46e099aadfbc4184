// The Node-like dgram API (firmware/api/dgram.ts) over a fake UDP layer, in virtual time.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { VirtualClock } from '../firmware/kernel/clock.js'
import { createDgram, utf8Encode, Emitter, MAX_UDP_PAYLOAD, Dgram } from '../firmware/api/dgram.js'
import { FakeStack, ip } from './fixtures/fake-net.js'
import { realStack, drainTx, parseUdpFrame } from './fixtures/real-net.js'
import { UDP_ERR_NO_ROUTE, UDP_ERR_TX_FULL, UDP_ERR_ARP_QUEUE_FULL, UDP_ERR_TOO_BIG } from '../firmware/net/udp.js'

const ME = ip('10.0.0.1')
const PEER = ip('10.0.0.2')

function setup(configured?: boolean, udpSockets?: number): { stack: FakeStack; clock: VirtualClock; dgram: Dgram; poll: () => void } {
  const stack = new FakeStack(undefined, udpSockets)
  const clock = new VirtualClock(1000)
  if (configured !== false) stack.setConfig({ ip: ME, mask: ip('255.255.255.0'), gateway: ip('10.0.0.254') }, 0)
  const dgram = createDgram(stack, () => clock.now())
  return { stack, clock, dgram, poll: () => stack.poll(clock.now()) }
}

function codeOf(e: unknown): string {
  return (e as { code?: string }).code ?? '(no code)'
}

describe('dgram: sockets', () => {
  test('createSocket accepts "udp4" and {type:"udp4"}, refuses the rest', () => {
    const { dgram } = setup()
    assert.ok(dgram.createSocket('udp4'))
    assert.ok(dgram.createSocket({ type: 'udp4' }))
    assert.throws(() => dgram.createSocket('udp6'), (e: unknown) => codeOf(e) === 'ERR_SOCKET_BAD_TYPE')
  })

  test('bind: "listening" and the callback come at the next poll, so late listeners see them', () => {
    const { stack, dgram, poll } = setup()
    const s = dgram.createSocket('udp4')
    const log: string[] = []
    s.bind(5000, () => log.push('cb'))
    s.on('listening', () => log.push('listening'))
    assert.deepEqual(log, [], 'nothing synchronous')
    assert.ok(stack.udp.isOpen(5000), 'the port is taken at once')
    poll()
    assert.deepEqual(log, ['cb', 'listening'])
    assert.deepEqual(s.address(), { address: '0.0.0.0', port: 5000, family: 'IPv4' })
    poll()
    assert.deepEqual(log, ['cb', 'listening'], 'once only')
  })

  test('bind() and bind(cb) take an ephemeral port; bind({port}) works', () => {
    const { dgram, poll } = setup()
    const a = dgram.createSocket('udp4')
    let called = false
    a.bind(() => { called = true })
    poll()
    assert.ok(called)
    assert.ok(a.address().port >= 49152)
    const b = dgram.createSocket('udp4').bind({ port: 6000 })
    assert.equal(b.address().port, 6000)
    const c = dgram.createSocket('udp4').bind()
    assert.notEqual(c.address().port, a.address().port)
  })

  test('bind errors: port in use → EADDRINUSE, table full → ENOBUFS, via "error"; misuse throws', () => {
    const { dgram, poll } = setup(true, 2)
    const a = dgram.createSocket('udp4').bind(7000)
    const errs: string[] = []
    const b = dgram.createSocket('udp4')
    b.on('error', (e: Error) => errs.push(codeOf(e)))
    b.bind(7000)
    dgram.createSocket('udp4').bind(7001)
    const c = dgram.createSocket('udp4')
    c.on('error', (e: Error) => errs.push(codeOf(e)))
    c.bind(7002)
    poll()
    assert.deepEqual(errs, ['EADDRINUSE', 'ENOBUFS'])
    assert.throws(() => b.address(), (e: unknown) => codeOf(e) === 'EBADF')
    assert.throws(() => a.bind(7003), (e: unknown) => codeOf(e) === 'ERR_SOCKET_ALREADY_BOUND')
    assert.throws(() => dgram.createSocket('udp4').bind(70000), (e: unknown) => codeOf(e) === 'ERR_SOCKET_BAD_PORT')
    assert.throws(() => dgram.createSocket('udp4').bind(1.5), (e: unknown) => codeOf(e) === 'ERR_SOCKET_BAD_PORT')
  })

  test('an "error" with no listener is dropped, not thrown out of the poll', () => {
    const { dgram, poll } = setup()
    dgram.createSocket('udp4').bind(8000)
    dgram.createSocket('udp4').bind(8000)
    assert.doesNotThrow(poll)
  })
})

describe('dgram: messages', () => {
  test('"message" gets its own copy of the data and rinfo', () => {
    const { stack, dgram } = setup()
    const got: [Uint8Array, unknown][] = []
    const s = dgram.createSocket('udp4', (msg, rinfo) => got.push([msg, rinfo]))
    s.bind(9999)
    stack.inject(PEER, 1234, ME, 9999, new Uint8Array([1, 2, 3]))
    stack.poll(0)
    assert.equal(got.length, 1)
    assert.deepEqual(Array.from(got[0][0]), [1, 2, 3], 'data survives the stack reusing its buffer')
    assert.deepEqual(got[0][1], { address: '10.0.0.2', port: 1234, family: 'IPv4', size: 3 })
  })

  test('send: bytes and UTF-8 strings go out; cb(null, bytes) at the next poll', () => {
    const { stack, clock, dgram, poll } = setup()
    const s = dgram.createSocket('udp4')
    s.bind(4000)
    const results: unknown[][] = []
    clock.advance(5)
    s.send(new Uint8Array([9, 8, 7]), 1111, '10.0.0.2', (err, n) => results.push([err, n]))
    const text = 'héllo € 😀'
    s.send(text, 2222, '8.8.8.8', (err, n) => results.push([err, n]))
    assert.equal(results.length, 0, 'callbacks are asynchronous')
    poll()
    assert.deepEqual(results, [[null, 3], [null, Buffer.byteLength(text)]])
    const sent = stack.udp.sent
    assert.equal(sent.length, 2)
    assert.equal(sent[0].dstIp, PEER)
    assert.equal(sent[0].dstPort, 1111)
    assert.equal(sent[0].srcPort, 4000)
    assert.equal(sent[0].now, 1005, 'sent with the clock given to createDgram')
    assert.deepEqual(Array.from(sent[0].data), [9, 8, 7])
    assert.equal(sent[1].dstIp, ip('8.8.8.8'), 'off-subnet goes via the gateway')
    assert.deepEqual(Buffer.from(sent[1].data), Buffer.from(text, 'utf8'))
  })

  test('send on an unbound socket binds an ephemeral port first', () => {
    const { stack, dgram, poll } = setup()
    const s = dgram.createSocket('udp4')
    let listening = false
    s.on('listening', () => { listening = true })
    s.send('x', 53, '10.0.0.2')
    poll()
    assert.ok(listening)
    assert.ok(stack.udp.sent[0].srcPort >= 49152)
    assert.equal(s.address().port, stack.udp.sent[0].srcPort)
  })

  test('send errors go to the callback when given, to "error" otherwise', () => {
    const { stack, dgram, poll } = setup()
    const s = dgram.createSocket('udp4')
    s.bind(4001)
    const viaCb: string[] = []
    const viaEvent: string[] = []
    s.on('error', (e: Error) => viaEvent.push(codeOf(e)))
    const cb = (e: Error | null): void => { viaCb.push(e ? codeOf(e) : 'ok') }
    s.send(new Uint8Array(MAX_UDP_PAYLOAD + 1), 1, '10.0.0.2', cb)
    s.send('x', 1, 'not-an-address', cb)
    s.send('x', 1, '10.0.0.300', cb)
    s.send('x', 0, '10.0.0.2', cb)
    s.send('x', 9, '255.255.255.255', cb)
    stack.udp.sendResult = UDP_ERR_TX_FULL
    s.send('x', 9, '10.0.0.2', cb)
    s.send('x', 9, '10.0.0.2')
    stack.udp.sendResult = 0
    poll()
    assert.deepEqual(viaCb, ['EMSGSIZE', 'EINVAL', 'EINVAL', 'EINVAL', 'EACCES', 'ENOBUFS'])
    assert.deepEqual(viaEvent, ['ENOBUFS'])
    assert.equal(stack.udp.sent.length, 0)
    for (const e of [viaCb, viaEvent]) assert.ok(e.length > 0)
  })

  test('the stack\'s send errors map to Node codes; broadcast needs setBroadcast(true)', () => {
    const { stack, dgram, poll } = setup(false)
    const s = dgram.createSocket('udp4')
    s.bind(1068)
    const codes: string[] = []
    const cb = (e: Error | null): void => { codes.push(e ? codeOf(e) : 'ok') }
    for (const rc of [UDP_ERR_NO_ROUTE, UDP_ERR_TX_FULL, UDP_ERR_ARP_QUEUE_FULL, UDP_ERR_TOO_BIG, -99]) {
      stack.udp.sendResult = rc
      s.send('x', 9, '10.0.0.2', cb)
    }
    stack.udp.sendResult = 0
    s.send('x', 9, '255.255.255.255', cb)
    s.setBroadcast(true)
    s.send('x', 9, '255.255.255.255', cb)
    poll()
    assert.deepEqual(codes, ['ENETUNREACH', 'ENOBUFS', 'ENOBUFS', 'EMSGSIZE', 'EIO', 'EACCES', 'ok'])
    assert.equal(stack.udp.sent.length, 1)
    assert.equal(stack.udp.sent[0].dstIp, 0xffffffff)
  })

  test('close: "close" at the next poll, port freed, nothing delivered or sent afterwards', () => {
    const { stack, dgram, poll } = setup()
    let messages = 0
    const s = dgram.createSocket('udp4', () => messages++)
    s.bind(4444)
    poll()
    const log: string[] = []
    s.on('close', () => log.push('close'))
    s.close(() => log.push('cb'))
    s.close()
    assert.ok(!stack.udp.isOpen(4444))
    assert.deepEqual(log, [])
    poll()
    assert.deepEqual(log, ['cb', 'close'])
    stack.inject(PEER, 1, ME, 4444, new Uint8Array(1))
    poll()
    assert.equal(messages, 0)
    let err = ''
    s.send('x', 1, '10.0.0.2', (e) => { err = e ? codeOf(e) : 'ok' })
    poll()
    assert.equal(err, 'ERR_SOCKET_DGRAM_NOT_RUNNING')
    // the port can be bound again by another socket
    dgram.createSocket('udp4').bind(4444)
    assert.ok(stack.udp.isOpen(4444))
  })

  test('a handler that sends from "listening" is served at the following poll', () => {
    const { stack, dgram, poll } = setup()
    const s = dgram.createSocket('udp4')
    let sentCb = false
    s.bind(4555, () => s.send('hi', 1, '10.0.0.2', () => { sentCb = true }))
    poll()
    assert.equal(stack.udp.sent.length, 1)
    assert.ok(!sentCb)
    poll()
    assert.ok(sentCb)
  })
})

describe('dgram: helpers', () => {
  test('UTF-8 encoding matches Node, lone surrogates become U+FFFD', () => {
    for (const s of ['', 'abc', '\u007f\u0080\u07ff\u0800\uffff', '😀x', '\ud800', 'a\udc00b', '\ud83d']) {
      assert.deepEqual(Buffer.from(utf8Encode(s)), Buffer.from(s, 'utf8'), JSON.stringify(s))
    }
  })

  test('Emitter: on, once, off, listenerCount', () => {
    const e = new Emitter()
    const log: string[] = []
    const f = (a: string): void => { log.push('f' + a) }
    e.on('x', f)
    e.once('x', (a: string) => log.push('once' + a))
    assert.equal(e.listenerCount('x'), 2)
    e.emit('x', '1')
    e.emit('x', '2')
    e.off('x', f)
    assert.equal(e.emit('x', '3'), false)
    assert.deepEqual(log, ['f1', 'once1', 'f2'])
    const g = (): void => { log.push('g') }
    e.once('y', g)
    e.off('y', g)
    assert.equal(e.emit('y'), false, 'a once listener can be removed by its original function')
  })
})

describe('dgram over the real NetStack', () => {
  test('unconfigured: unicast fails with ENETUNREACH from the stack\'s own routing; broadcast leaves from 0.0.0.0', () => {
    const stack = realStack([0x02, 0, 0, 0, 0, 0x33])
    const clock = new VirtualClock()
    const dgram = createDgram(stack, () => clock.now())
    const s = dgram.createSocket('udp4')
    s.setBroadcast(true)
    s.bind(5353)
    const results: string[] = []
    s.send('one', 9, '10.0.0.2', (e) => { results.push(e ? codeOf(e) : 'ok') })
    s.send('two', 9, '255.255.255.255', (e, n) => { results.push(e ? codeOf(e) : 'ok ' + n) })
    stack.poll(clock.now())
    assert.deepEqual(results, ['ENETUNREACH', 'ok 3'])
    const frames = drainTx(stack).map(parseUdpFrame).filter((u) => u !== null)
    assert.equal(frames.length, 1)
    assert.equal(frames[0]!.src, 0)
    assert.equal(frames[0]!.dst, 0xffffffff)
    assert.equal(frames[0]!.sport, 5353)
    assert.equal(Buffer.from(frames[0]!.data).toString(), 'two')
  })
})
