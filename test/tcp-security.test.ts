// Security properties of the TCP layer: RFC 6528 ISNs from a keyed HalfSipHash (reference vectors,
// unpredictability across tuples and keys, monotonicity per tuple), RFC 5961 challenge ACKs and their rate
// limit, blind injection, SYN floods (half-open queue + SYN cookies), RSTs for closed ports, TIME-WAIT
// recycling (RFC 1122 §4.2.2.13 / RFC 6191) and exhaustion. Both core backends.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { CORES, CoreKind, PEER_IP, OUR_IP, OUR_MAC, GW_IP, GW_MAC, pattern, eth, arp, ip } from './net-frames.js'
import {
  makeTcpRig, TcpRig, Recorder, acceptFrom, Seg, SegOpts, add, segStr, PEER_PORT, FIN, SYN, RST, ACK, PSH,
} from './tcp-peer.js'
import { halfSipHash, IsnGenerator } from '../firmware/tcp/isn.js'
import {
  ST_FREE, ST_ESTABLISHED, ST_TIME_WAIT, ST_SYN_RCVD, TCP_ERR_TABLE_FULL, ERR_NONE,
} from '../firmware/tcp/tcp.js'

const MS = 1000
const PORT = 80

function words(n: number): Uint32Array {
  const w = new Uint32Array(n)
  for (let j = 0; j < n; j++) w[j] = ((4 * j) | ((4 * j + 1) << 8) | ((4 * j + 2) << 16) | ((4 * j + 3) << 24)) >>> 0
  return w
}

/** The gateway answers for the world beyond the subnet (so answers to far addresses can leave). */
function knowGateway(r: TcpRig): void {
  r.send(eth(OUR_MAC, GW_MAC, 0x0806, arp(2, GW_MAC, GW_IP, OUR_MAC, OUR_IP)))
  r.drain()
}

describe('HalfSipHash-2-4 (the PRF of RFC 6528 F)', () => {
  test('matches the reference 32-bit vectors (key 00..07, message 00..n-1)', () => {
    const k0 = 0x03020100
    const k1 = 0x07060504
    // vectors_hsip32[n] of the reference implementation, read as little-endian words.
    const expect: { [n: number]: number } = { 0: 0x5b9f35a9, 4: 0x89466e2a, 8: 0x8f84b8d0, 12: 0x2f87f057, 16: 0x84acb5d9 }
    for (const n of [0, 4, 8, 12, 16]) {
      assert.equal(halfSipHash(k0, k1, words(n / 4), n / 4), expect[n], 'length ' + n)
    }
  })
})

describe('RFC 6528 ISNs', () => {
  test('per tuple: ISN = M + F, so it grows by exactly one per 4 µs; another key gives another F', () => {
    let s = 1
    const g = new IsnGenerator(() => { s = (s * 69069 + 1) >>> 0; return s })
    const a = g.isn(OUR_IP, 80, PEER_IP, 40000, 1000000)
    const b = g.isn(OUR_IP, 80, PEER_IP, 40000, 1000000 + 4 * 12345)
    assert.equal((b - a) >>> 0, 12345)
    let s2 = 2
    const g2 = new IsnGenerator(() => { s2 = (s2 * 69069 + 1) >>> 0; return s2 })
    assert.notEqual(g2.isn(OUR_IP, 80, PEER_IP, 40000, 1000000), a)
  })

  test('across tuples: no pattern an off-path attacker could use (distinct, bits balanced, differences irregular)', () => {
    let s = 7
    const g = new IsnGenerator(() => { s = (s * 69069 + 1) >>> 0; return s })
    const isns: number[] = []
    for (let p = 0; p < 1024; p++) isns.push(g.isn(OUR_IP, 80, PEER_IP, 40000 + p, 5000000))
    assert.equal(new Set(isns).size, 1024, 'distinct')
    for (let bit = 0; bit < 32; bit++) {
      const ones = isns.filter((v) => ((v >>> bit) & 1) === 1).length
      assert.ok(ones > 400 && ones < 624, `bit ${bit} set ${ones}/1024 times`)
    }
    const diffs = new Set<number>()
    for (let k = 1; k < isns.length; k++) diffs.add((isns[k] - isns[k - 1]) >>> 0)
    assert.ok(diffs.size > 1000, 'consecutive ports do not give a constant step')
    // A single bit of the tuple flips about half the output bits (avalanche).
    let flips = 0
    for (let k = 0; k < 256; k++) {
      const x = g.isn(OUR_IP, 80, PEER_IP + k, 40000, 0)
      const y = g.isn(OUR_IP, 80, (PEER_IP + k) ^ 0x100, 40000, 0)
      let d = (x ^ y) >>> 0
      while (d) { flips += d & 1; d >>>= 1 }
    }
    const avg = flips / 256
    assert.ok(avg > 13 && avg < 19, 'average flipped bits ' + avg)
  })

  for (const kind of CORES) {
    test(`the stack's SYN-ACKs carry them (${kind} core): two boots differ, one boot is monotonic per tuple`, () => {
      const seen: number[] = []
      for (const seed of [1, 2]) {
        let k = seed * 0x9e3779b9
        const r = makeTcpRig(kind, { tcp: { random32: () => { k = (k * 1103515245 + 12345) >>> 0; return k } } })
        r.tcp.listen(PORT, new Recorder())
        r.peer({ sport: 1234, dport: PORT, seq: 1, flags: SYN })
        const a = r.segs()[0].seq
        r.peer({ sport: 1234, dport: PORT, seq: 2, flags: RST })
        r.clock.advance(4000)
        r.peer({ sport: 1234, dport: PORT, seq: 100, flags: SYN })
        const b = r.segs()[0].seq
        assert.equal((b - a) >>> 0, 1000, '4 ms later: 1000 ticks of 4 µs more')
        seen.push(a)
      }
      assert.notEqual(seen[0], seen[1], 'a different key at each boot')
    })
  }
})

for (const kind of CORES) {
  describe(`RFC 5961 (${kind} core)`, () => {
    test('challenge ACKs are limited to 10 per second across connections (§7); blind RST/SYN never reset', () => {
      const r = makeTcpRig(kind)
      const rec = new Recorder()
      r.tcp.listen(PORT, rec)
      const c = acceptFrom(r, PORT, rec)
      const c2 = acceptFrom(r, PORT, rec, { sport: PEER_PORT + 1 })
      let answered = 0
      for (let k = 0; k < 20; k++) {
        const which = k % 2 === 0 ? c : c2
        const sport = k % 2 === 0 ? PEER_PORT : PEER_PORT + 1
        r.peer({ sport, dport: PORT, seq: add(which.pseq, 100 + k), flags: k % 3 === 0 ? SYN : RST })
        answered += r.segs().length
      }
      assert.equal(answered, 10)
      assert.equal(r.c('tcp.challenge-ack'), 10)
      assert.equal(r.c('tcp.challenge-ack.limited'), 10)
      assert.equal(r.tcp.state(c.id), ST_ESTABLISHED)
      assert.equal(r.tcp.state(c2.id), ST_ESTABLISHED)
      r.clock.advance(1000 * MS)
      r.peer({ sport: PEER_PORT, dport: PORT, seq: add(c.pseq, 5), flags: RST })
      assert.equal(r.segs().length, 1, 'a new second, a new budget')
    })

    test('a blind attacker guessing sequence numbers: out-of-window RSTs silent, in-window ones challenged, data kept', () => {
      const r = makeTcpRig(kind)
      const rec = new Recorder()
      r.tcp.listen(PORT, rec)
      const c = acceptFrom(r, PORT, rec)
      let resets = 0
      for (let k = 0; k < 64; k++) {
        const guess = (k * 0x04000000 + 12345) >>> 0
        r.peer({ sport: PEER_PORT, dport: PORT, seq: guess, flags: RST })
        r.segs()
        if (r.tcp.state(c.id) !== ST_ESTABLISHED) resets++
      }
      assert.equal(resets, 0)
      r.peer({ sport: PEER_PORT, dport: PORT, seq: c.pseq, ack: c.oseq, flags: ACK | PSH, data: pattern(10) })
      r.advance(1)
      assert.equal(rec.data.length, 10)
    })
  })

  describe(`SYN floods and the connection table (${kind} core)`, () => {
    test('a flood of spoofed SYNs holds at most the backlog; SYN cookies let a real client in; half-opens expire', () => {
      const r = makeTcpRig(kind, { budget: { tcbs: 8, listeners: 2, backlog: 4 } })
      knowGateway(r)
      const rec = new Recorder()
      r.tcp.listen(PORT, rec)
      let rnd = 99
      for (let k = 0; k < 2000; k++) {
        rnd = (rnd * 1103515245 + 12345) >>> 0
        const src = (0xc6120000 | (rnd & 0x1ffff)) >>> 0 // 198.18.0.0/15
        r.peer({ src, sport: 1024 + (rnd >>> 20), dport: PORT, seq: rnd, flags: SYN, mss: 1460 })
        r.segs()
      }
      assert.equal(r.tcp.inUse(), 4, 'the half-open queue (backlog 4), nothing more')
      assert.ok(r.c('tcp.syn-cookie.tx') >= 1990, 'cookies: ' + r.c('tcp.syn-cookie.tx'))
      // A real client now: its SYN gets a cookie, its ACK opens the connection.
      r.peer({ sport: PEER_PORT, dport: PORT, seq: 500, flags: SYN, mss: 1380, ws: 7, sackOk: true })
      const sa = r.segs()
      assert.equal(sa.length, 1)
      assert.equal(sa[0].flags, SYN | ACK)
      assert.equal(sa[0].mss, 1460)
      assert.equal(sa[0].ws, undefined, 'a cookie SYN-ACK offers no window scaling')
      assert.equal(sa[0].sackOk, false)
      r.peer({ sport: PEER_PORT, dport: PORT, seq: 501, ack: add(sa[0].seq, 1), flags: ACK | PSH, data: pattern(20) })
      r.advance(1)
      assert.equal(rec.events[0].startsWith('connect:'), true)
      assert.equal(rec.data.length, 20, 'the data on the cookie ACK is taken')
      assert.equal(r.c('tcp.syn-cookie.ok'), 1)
      const id = r.tcp.lookup(PEER_IP, PEER_PORT, PORT)
      assert.equal(r.tcp.state(id), ST_ESTABLISHED)
      assert.equal(r.tcp.t.mss[id], 1360, 'the MSS rounded down to a cookie value')
      // The flood's half-open connections give up after their SYN-ACK retransmissions; the real one stays.
      for (let k = 0; k < 70; k++) {
        r.advance(1000 * MS)
        r.segs()
        r.peer({ sport: PEER_PORT, dport: PORT, seq: 521, ack: add(sa[0].seq, 1), flags: ACK })
      }
      assert.equal(r.tcp.inUse(), 1)
      assert.deepEqual(rec.closed, [], 'the app never heard of the flood')
    })

    test('a forged or stale cookie is reset, and opens nothing', () => {
      const r = makeTcpRig(kind, { budget: { tcbs: 4, listeners: 1, backlog: 1 } })
      const rec = new Recorder()
      r.tcp.listen(PORT, rec)
      r.peer({ sport: 1, dport: PORT, seq: 1, flags: SYN }) // fills the backlog of 1
      r.segs()
      r.peer({ sport: PEER_PORT, dport: PORT, seq: 500, flags: SYN })
      const cookie = r.segs()[0].seq
      r.peer({ sport: PEER_PORT, dport: PORT, seq: 501, ack: add(cookie, 2), flags: ACK })
      let out = r.segs()
      assert.equal(out.length, 1)
      assert.equal(out[0].flags, RST, 'forged')
      r.peer({ sport: PEER_PORT, dport: PORT, seq: 777, ack: add(cookie, 1), flags: ACK })
      assert.equal(r.segs()[0].flags, RST, 'not for this client ISN')
      r.clock.advance(130000 * MS)
      r.peer({ sport: PEER_PORT, dport: PORT, seq: 501, ack: add(cookie, 1), flags: ACK })
      out = r.segs()
      assert.equal(out[0].flags, RST, 'too old (two 64 s slots)')
      assert.equal(r.c('tcp.syn-cookie.ok'), 0)
      assert.deepEqual(rec.events, [])
    })

    test('a full table: connect() says so (EMFILE in the API); a listener answers with cookies, never a silent drop', () => {
      const r = makeTcpRig(kind, { budget: { tcbs: 2, listeners: 1, backlog: 2 } })
      const rec = new Recorder()
      r.tcp.listen(PORT, rec)
      acceptFrom(r, PORT, rec, { sport: 1 })
      acceptFrom(r, PORT, rec, { sport: 2 })
      assert.equal(r.tcp.connect(PEER_IP, 7, 0, new Recorder(), r.clock.now()), TCP_ERR_TABLE_FULL)
      r.peer({ sport: 3, dport: PORT, seq: 1, flags: SYN })
      const sa = r.segs()
      assert.equal(sa[0].flags, SYN | ACK)
      r.peer({ sport: 3, dport: PORT, seq: 2, ack: add(sa[0].seq, 1), flags: ACK })
      assert.equal(r.segs()[0].flags, RST, 'no TCB for the returned cookie: reset rather than a half-open peer')
    })
  })

  describe(`RST for closed ports and TIME-WAIT (${kind} core)`, () => {
    test('RST for a closed port: <SEQ=SEG.ACK><RST> or <SEQ=0><ACK=SEG.SEQ+SEG.LEN><RST,ACK> (RFC 9293 §3.10.7.1)', () => {
      const r = makeTcpRig(kind)
      r.peer({ sport: 5, dport: 9999, seq: 42, flags: SYN })
      let out = r.segs()
      assert.equal(out[0].flags, RST | ACK)
      assert.equal(out[0].ack, 43)
      r.peer({ sport: 5, dport: 9999, seq: 42, ack: 1000, flags: ACK, data: pattern(3) })
      out = r.segs()
      assert.equal(out[0].flags, RST)
      assert.equal(out[0].seq, 1000)
      assert.equal(r.c('tcp.rx.no-port'), 2)
    })

    /** A connection closed by us first (we end up in TIME-WAIT); returns its id and the numbers. */
    function timeWait(r: TcpRig, rec: Recorder, sport: number): { id: number; pseq: number; oseq: number } {
      const c = acceptFrom(r, PORT, rec, { sport, isn: 1000 * sport })
      r.tcp.shutdown(c.id, r.clock.now())
      const fin = r.segs()[0]
      r.peer({ sport, dport: PORT, seq: c.pseq, ack: add(fin.seq, 1), flags: ACK | FIN })
      r.segs()
      assert.equal(r.tcp.state(c.id), ST_TIME_WAIT)
      return { id: c.id, pseq: add(c.pseq, 1), oseq: add(fin.seq, 1) }
    }

    test('TIME-WAIT lasts 2 s by default and is configurable', () => {
      for (const [ms, opt] of [[2000, undefined], [500, 500]] as [number, number | undefined][]) {
        const r = makeTcpRig(kind, { tcp: opt === undefined ? {} : { timeWaitMs: opt } })
        const rec = new Recorder()
        r.tcp.listen(PORT, rec)
        const tw = timeWait(r, rec, 1)
        r.advance((ms - 1) * MS)
        assert.equal(r.tcp.state(tw.id), ST_TIME_WAIT)
        r.advance(2 * MS)
        assert.equal(r.tcp.state(tw.id), ST_FREE)
      }
    })

    test('a new SYN above the old sequence numbers reopens a TIME-WAIT connection, with a higher ISS (RFC 6191)', () => {
      const r = makeTcpRig(kind)
      const rec = new Recorder()
      r.tcp.listen(PORT, rec)
      const tw = timeWait(r, rec, 7)
      // A SYN below RCV.NXT is an old duplicate: answered with an ACK, no new connection.
      r.peer({ sport: 7, dport: PORT, seq: add(tw.pseq, -10), flags: SYN })
      let out = r.segs()
      assert.equal(out.length, 1)
      assert.equal(out[0].flags, ACK)
      assert.equal(r.tcp.state(tw.id), ST_TIME_WAIT)
      r.peer({ sport: 7, dport: PORT, seq: add(tw.pseq, 100000), flags: SYN })
      out = r.segs()
      assert.equal(out.length, 1)
      assert.equal(out[0].flags, SYN | ACK)
      assert.ok(((out[0].seq - tw.oseq) | 0) > 0, 'ISS above the old SND.NXT')
      assert.equal(r.tcp.state(tw.id), ST_SYN_RCVD)
      assert.equal(r.c('tcp.time-wait.recycled'), 1)
      r.peer({ sport: 7, dport: PORT, seq: add(tw.pseq, 100001), ack: add(out[0].seq, 1), flags: ACK })
      assert.equal(r.tcp.state(tw.id), ST_ESTABLISHED)
    })

    test('connections the app let go cannot pin TCBs: FIN-WAIT-2 orphans expire, data to them is reset', () => {
      const r = makeTcpRig(kind, { tcp: { finWait2Ms: 5000 } })
      const rec = new Recorder()
      r.tcp.listen(PORT, rec)
      const c = acceptFrom(r, PORT, rec, { sport: 11 })
      r.tcp.close(c.id, r.clock.now())
      const fin = r.segs()
      assert.equal(fin[0].flags, FIN | ACK)
      r.peer({ sport: 11, dport: PORT, seq: c.pseq, ack: add(fin[0].seq, 1), flags: ACK })
      r.advance(4999 * MS)
      assert.equal(r.tcp.inUse(), 1, 'FIN-WAIT-2, waiting for the peer')
      r.advance(2 * MS)
      assert.equal(r.tcp.inUse(), 0, 'the orphan gave up waiting')
      const d = acceptFrom(r, PORT, rec, { sport: 12 })
      r.tcp.close(d.id, r.clock.now())
      const fin2 = r.segs()
      r.peer({ sport: 12, dport: PORT, seq: d.pseq, ack: add(fin2[0].seq, 1), flags: ACK | PSH, data: pattern(5) })
      const out = r.segs()
      assert.equal(out[0].flags & RST, RST, 'data nobody will read: RST (RFC 1122 §4.2.2.13)')
      assert.equal(r.tcp.inUse(), 0)
      assert.deepEqual(rec.closed, [], 'no events after close()')
    })

    test('closing a listener resets its half-open connections; established ones stay', () => {
      const r = makeTcpRig(kind)
      const rec = new Recorder()
      const l = r.tcp.listen(PORT, rec)
      const c = acceptFrom(r, PORT, rec, { sport: 21 })
      r.peer({ sport: 22, dport: PORT, seq: 1, flags: SYN })
      r.segs()
      assert.equal(r.tcp.inUse(), 2)
      r.tcp.unlisten(l, r.clock.now())
      const out = r.segs()
      assert.equal(out.length, 1)
      assert.equal(out[0].dport, 22)
      assert.equal(out[0].flags & RST, RST)
      assert.equal(r.tcp.inUse(), 1)
      assert.equal(r.tcp.state(c.id), ST_ESTABLISHED)
    })

    test('a table full of TIME-WAIT: a new connection takes the oldest one', () => {
      const r = makeTcpRig(kind, { budget: { tcbs: 3, listeners: 1, backlog: 3 } })
      const rec = new Recorder()
      r.tcp.listen(PORT, rec)
      const ids: number[] = []
      for (let k = 1; k <= 3; k++) {
        ids.push(timeWait(r, rec, k).id)
        r.advance(100 * MS)
      }
      assert.equal(r.tcp.inUse(), 3)
      const nid = r.tcp.connect(PEER_IP, 7, 0, new Recorder(), r.clock.now())
      assert.equal(nid, ids[0], 'the oldest TIME-WAIT was recycled')
      assert.equal(r.tcp.state(ids[1]), ST_TIME_WAIT)
      assert.equal(r.tcp.state(ids[2]), ST_TIME_WAIT)
      r.peer({ sport: 9, dport: PORT, seq: 5, flags: SYN })
      const sa = r.segs().filter((s) => s.dport === 9)
      assert.equal(sa[0].flags, SYN | ACK)
      assert.equal(r.tcp.state(ids[1]), ST_SYN_RCVD, 'the next oldest went to a listener SYN')
      assert.equal(r.c('tcp.time-wait.recycled'), 2)
    })
  })
}
