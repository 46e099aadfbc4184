// The Node-like net API (firmware/api/net.ts) over the stack's TCP, against a scripted peer: servers and
// clients, events in Node's order, write() false + 'drain', half-close, destroy, pause/resume, and the error
// codes (ECONNREFUSED, ECONNRESET, ETIMEDOUT, EMFILE, EADDRINUSE, ENETUNREACH, write after end). Both cores.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { CORES, CoreKind, PEER_IP, OUR_IP, pattern, concat } from './net-frames.js'
import { makeTcpRig, TcpRig, Seg, SegOpts, add, segStr, PEER_PORT, FIN, SYN, RST, ACK, PSH } from './tcp-peer.js'
import { createNet, Net, Socket, Server } from '../firmware/api/net.js'
import { TcpOptions } from '../firmware/tcp/tcp.js'
import { Budget } from '../firmware/kernel/arena.js'

const MS = 1000

interface A { r: TcpRig; net: Net; log: string[] }

function api(kind: CoreKind, o: { tcp?: TcpOptions; budget?: Partial<Budget> } = {}): A {
  const r = makeTcpRig(kind, { tcp: o.tcp, budget: o.budget })
  const net = createNet(r.stack, () => r.clock.now())
  return { r, net, log: [] }
}

function record(s: Socket, log: string[], name: string): void {
  s.on('connect', () => log.push(name + ':connect'))
  s.on('end', () => log.push(name + ':end'))
  s.on('drain', () => log.push(name + ':drain'))
  s.on('error', (e: Error & { code?: string }) => log.push(name + ':error:' + e.code))
  s.on('close', (hadError: boolean) => log.push(name + ':close:' + hadError))
}

/** The peer connects to `port`; returns the peer's sequence numbers once the handshake is done. */
function peerConnect(r: TcpRig, port: number, sport = PEER_PORT, wnd = 65535): { pseq: number; oseq: number } {
  r.peer({ sport, dport: port, seq: 1000, flags: SYN, mss: 1460, wnd })
  const sa = r.segs()
  assert.equal(sa.length, 1, sa.map(segStr).join(' / '))
  assert.equal(sa[0].flags, SYN | ACK)
  r.peer({ sport, dport: port, seq: 1001, ack: add(sa[0].seq, 1), flags: ACK, wnd })
  return { pseq: 1001, oseq: add(sa[0].seq, 1) }
}

for (const kind of CORES) {
  describe(`net API: servers (${kind} core)`, () => {
    test('listen → "listening"; a connection → "connection" with addresses; data both ways; end/close in order', () => {
      const { r, net, log } = api(kind)
      let sock: Socket | null = null
      const got: number[] = []
      const server = net.createServer((s) => {
        sock = s
        log.push('connection ' + s.remoteAddress + ':' + s.remotePort + ' → ' + s.localPort)
        record(s, log, 's')
        s.on('data', (d: Uint8Array) => { for (const b of d) got.push(b); s.write(d) })
      })
      server.listen(8080, () => log.push('listening'))
      assert.equal(log.length, 0, 'events come at the next poll')
      r.poll()
      assert.deepEqual(log, ['listening'])
      assert.deepEqual(server.address(), { address: '0.0.0.0', port: 8080, family: 'IPv4' })
      const c = peerConnect(r, 8080)
      assert.deepEqual(log.slice(1), ['connection 10.77.0.10:40000 → 8080'])
      r.peer({ sport: PEER_PORT, dport: 8080, seq: c.pseq, ack: c.oseq, flags: ACK | PSH, data: pattern(100) })
      r.advance(1)
      assert.deepEqual(Uint8Array.from(got), pattern(100))
      const echo = r.segs().filter((s) => s.data.length > 0)
      assert.equal(echo.length, 1)
      assert.deepEqual(echo[0].data, pattern(100))
      assert.equal(sock!.bytesRead, 100)
      assert.equal(sock!.bytesWritten, 100)
      // The peer closes: 'end', our side ends too (allowHalfOpen false), then 'close' once our FIN is acked.
      r.peer({ sport: PEER_PORT, dport: 8080, seq: add(c.pseq, 100), ack: add(c.oseq, 100), flags: ACK | FIN })
      r.advance(1)
      const fin = r.segs().filter((s) => s.flags & FIN)
      assert.equal(fin.length, 1, 'our FIN follows the peer\'s')
      r.peer({ sport: PEER_PORT, dport: 8080, seq: add(c.pseq, 101), ack: add(fin[0].seq, 1), flags: ACK })
      r.advance(1)
      r.advance(1)
      assert.deepEqual(log.slice(2), ['s:end', 's:close:false'])
      server.close(() => { log.push('server closed') })
      r.advance(1)
      assert.equal(log[log.length - 1], 'server closed')
      r.peer({ sport: PEER_PORT + 1, dport: 8080, seq: 1, flags: SYN })
      assert.equal(r.segs()[0].flags, RST | ACK, 'no longer listening')
    })

    test('listen errors: EADDRINUSE, EMFILE (listener table full), EINVAL', () => {
      const { r, net } = api(kind, { budget: { listeners: 2 } })
      const errs: string[] = []
      net.createServer().listen(7)
      net.createServer().on('error', (e: Error & { code?: string }) => errs.push(e.code!)).listen(7)
      net.createServer().listen(8)
      net.createServer().on('error', (e: Error & { code?: string }) => errs.push(e.code!)).listen(9)
      net.createServer().on('error', (e: Error & { code?: string }) => errs.push(e.code!)).listen(70000)
      r.poll()
      assert.deepEqual(errs, ['EADDRINUSE', 'EMFILE', 'EINVAL'])
    })

    test('server.close() waits for open connections before "close"', () => {
      const { r, net, log } = api(kind)
      let sock: Socket | null = null
      const server = net.createServer((s) => { sock = s })
      server.listen(80)
      r.poll()
      peerConnect(r, 80)
      server.close(() => log.push('closed'))
      r.advance(1)
      assert.deepEqual(log, [], 'a connection is still open')
      sock!.destroy()
      r.advance(1)
      r.advance(1)
      assert.deepEqual(log, ['closed'])
    })
  })

  describe(`net API: clients (${kind} core)`, () => {
    test('connect(): SYN, "connect" and the callback on SYN-ACK; writes before it wait in the ring', () => {
      const { r, net, log } = api(kind)
      const s = net.connect({ host: '10.77.0.10', port: 5000 }, () => log.push('cb'))
      record(s, log, 'c')
      assert.equal(s.connecting, true)
      assert.equal(s.readyState, 'opening')
      assert.equal(s.write('hello '), true)
      assert.equal(s.write(Uint8Array.from([119, 111, 114, 108, 100])), true)
      const syn = r.segs()
      assert.equal(syn.length, 1)
      assert.equal(syn[0].flags, SYN)
      assert.equal(syn[0].data.length, 0)
      assert.equal(s.localPort, syn[0].sport)
      r.peer({ sport: 5000, dport: syn[0].sport, seq: 9, ack: add(syn[0].seq, 1), flags: SYN | ACK, mss: 1460 })
      r.advance(1)
      assert.deepEqual(log, ['cb', 'c:connect'], 'the callback was the first "connect" listener')
      assert.equal(s.readyState, 'open')
      const data = r.segs().filter((x) => x.data.length > 0)
      assert.equal(new TextDecoder().decode(concat(...data.map((x) => x.data))), 'hello world')
    })

    test('connect errors: ECONNREFUSED, ETIMEDOUT, EMFILE, ENETUNREACH, EINVAL — "error" then "close"', () => {
      const { r, net, log } = api(kind, { tcp: { synRetries: 1 }, budget: { tcbs: 2, listeners: 1 } })
      const refused = net.connect({ host: '10.77.0.10', port: 1 })
      record(refused, log, 'refused')
      const syn = r.segs()[0]
      r.peer({ sport: 1, dport: syn.sport, seq: 0, ack: add(syn.seq, 1), flags: RST | ACK })
      r.advance(1)
      const timeout = net.connect({ host: '10.77.0.10', port: 2 })
      record(timeout, log, 'timeout')
      const other = net.connect({ host: '10.77.0.10', port: 3 })
      const full = net.connect({ host: '10.77.0.10', port: 4 })
      record(full, log, 'full')
      const far = net.connect({ host: '10.77.0.10', port: 0 })
      record(far, log, 'badport')
      const bad = net.connect({ host: 'example.com', port: 80 })
      record(bad, log, 'badhost')
      r.advance(1)
      for (let k = 0; k < 4; k++) r.advance(1000 * MS)
      r.segs()
      assert.deepEqual(log, [
        'refused:error:ECONNREFUSED', 'refused:close:true',
        'full:error:EMFILE', 'full:close:true',
        'badport:error:EINVAL', 'badport:close:true',
        'badhost:error:EINVAL', 'badhost:close:true',
        'timeout:error:ETIMEDOUT', 'timeout:close:true',
      ])
      other.destroy()
      const { r: r2, net: net2, log: log2 } = api(kind)
      r2.stack.setConfig({ ip: OUR_IP, mask: 0xffffff00, gateway: 0 }, r2.clock.now())
      record(net2.connect({ host: '192.0.2.1', port: 80 }), log2, 'unreach')
      r2.advance(1)
      assert.deepEqual(log2, ['unreach:error:ENETUNREACH', 'unreach:close:true'])
    })

    test('ECONNRESET when the peer resets an open connection', () => {
      const { r, net, log } = api(kind)
      const s = net.connect({ host: '10.77.0.10', port: 5000 })
      record(s, log, 'c')
      const syn = r.segs()[0]
      r.peer({ sport: 5000, dport: syn.sport, seq: 9, ack: add(syn.seq, 1), flags: SYN | ACK })
      r.peer({ sport: 5000, dport: syn.sport, seq: 10, flags: RST })
      r.advance(1)
      assert.deepEqual(log, ['c:connect', 'c:error:ECONNRESET', 'c:close:true'])
    })
  })

  describe(`net API: flow control and closing (${kind} core)`, () => {
    test('write() returns false when the send ring is full and "drain" follows as the peer acknowledges', () => {
      const { r, net, log } = api(kind, { budget: { tcpTxBytes: 4096, tcpRxBytes: 4096 } })
      let sock: Socket | null = null
      net.createServer((s) => { sock = s; record(s, log, 's') }).listen(80)
      r.poll()
      const c = peerConnect(r, 80)
      const data = pattern(10000)
      assert.equal(sock!.write(data.subarray(0, 3000)), true)
      assert.equal(sock!.write(data.subarray(3000, 6000)), false, 'the ring holds 4096')
      assert.equal(sock!.write(data.subarray(6000)), false)
      const got: Uint8Array[] = []
      let ack = c.oseq
      for (let k = 0; k < 50 && got.reduce((n, d) => n + d.length, 0) < 10000; k++) {
        const out = r.segs()
        for (const s of out) if (s.data.length > 0 && s.seq === ack) { got.push(s.data); ack = add(ack, s.data.length) }
        r.peer({ sport: PEER_PORT, dport: 80, seq: c.pseq, ack, flags: ACK })
        r.advance(1)
      }
      assert.deepEqual(concat(...got), data)
      assert.deepEqual(log.filter((e) => e === 's:drain'), ['s:drain'], 'one drain once everything is in the ring')
      assert.equal(sock!.bytesWritten, 10000)
    })

    test('end(): half-close — our FIN goes, we keep reading; "end" when the peer closes; write after end errors', () => {
      const { r, net, log } = api(kind)
      let sock: Socket | null = null
      const got: number[] = []
      net.createServer({ allowHalfOpen: true }, (s) => {
        sock = s
        record(s, log, 's')
        s.on('data', (d: Uint8Array) => { for (const b of d) got.push(b) })
      }).listen(80)
      r.poll()
      const c = peerConnect(r, 80)
      sock!.end('bye')
      const out = r.segs()
      assert.equal(out.length, 1)
      assert.equal(out[0].flags & FIN, FIN)
      assert.equal(new TextDecoder().decode(out[0].data), 'bye')
      r.peer({ sport: PEER_PORT, dport: 80, seq: c.pseq, ack: add(c.oseq, 4), flags: ACK | PSH, data: pattern(50) })
      r.advance(1)
      assert.equal(got.length, 50, 'still reading after our FIN')
      sock!.write('more')
      r.advance(1)
      assert.deepEqual(log, ['s:error:ERR_STREAM_WRITE_AFTER_END'])
      r.peer({ sport: PEER_PORT, dport: 80, seq: add(c.pseq, 50), ack: add(c.oseq, 4), flags: ACK | FIN })
      r.advance(1)
      assert.deepEqual(log.slice(1), ['s:end', 's:close:false'])
    })

    test('destroy(): FIN when all was read, RST when data was left unread; "close" follows', () => {
      for (const unread of [false, true]) {
        const { r, net, log } = api(kind)
        let sock: Socket | null = null
        net.createServer((s) => { sock = s; record(s, log, 's'); if (!unread) s.on('data', () => {}) }).listen(80)
        r.poll()
        const c = peerConnect(r, 80)
        r.peer({ sport: PEER_PORT, dport: 80, seq: c.pseq, ack: c.oseq, flags: ACK | PSH, data: pattern(10) })
        r.advance(1)
        r.segs()
        sock!.destroy()
        const out = r.segs()
        assert.equal(out.length, 1)
        assert.equal(out[0].flags & (unread ? RST : FIN), unread ? RST : FIN, unread ? 'RST' : 'FIN')
        r.advance(1)
        assert.deepEqual(log, ['s:close:false'])
        assert.equal(sock!.destroyed, true)
      }
    })

    test('pause() holds data in the ring and the window closes; resume() and a late "data" listener get it all', () => {
      const { r, net } = api(kind, { budget: { tcpTxBytes: 4096, tcpRxBytes: 4096 } })
      let sock: Socket | null = null
      net.createServer((s) => { sock = s }).listen(80)
      r.poll()
      const c = peerConnect(r, 80)
      // No 'data' listener yet: the bytes wait.
      let seq = c.pseq
      let lastWnd = -1
      for (let k = 0; k < 4; k++) {
        r.peer({ sport: PEER_PORT, dport: 80, seq, ack: c.oseq, flags: ACK, data: pattern(1024, k) })
        seq = add(seq, 1024)
        r.advance(300 * MS)
        for (const s of r.segs()) lastWnd = s.wnd
      }
      assert.equal(lastWnd, 0, 'the window closed')
      const got: Uint8Array[] = []
      sock!.pause()
      sock!.on('data', (d: Uint8Array) => got.push(d.slice()))
      r.advance(1)
      assert.equal(got.length, 0, 'paused')
      sock!.resume()
      r.advance(1)
      assert.equal(concat(...got).length, 4096)
      const upd = r.segs()
      assert.equal(upd[upd.length - 1].wnd, 4096, 'window update once read')
    })

    test('setNoDelay and setKeepAlive reach the connection', () => {
      const { r, net } = api(kind)
      let sock: Socket | null = null
      net.createServer((s) => { sock = s }).listen(80)
      r.poll()
      const c = peerConnect(r, 80)
      sock!.setNoDelay(true)
      sock!.write('a')
      sock!.write('b')
      assert.equal(r.segs().length, 2, 'no Nagle')
      sock!.setKeepAlive(true, 5000)
      r.peer({ sport: PEER_PORT, dport: 80, seq: c.pseq, ack: add(c.oseq, 2), flags: ACK })
      for (let k = 0; k < 5001; k++) r.advance(MS)
      const ka = r.segs()
      assert.equal(ka.length, 1)
      assert.equal(ka[0].seq, add(c.oseq, 1), 'a keep-alive probe')
    })
  })
}
