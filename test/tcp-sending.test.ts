// The sending side and the timers: RTO with backoff and Karn (RFC 6298), fast retransmit and NewReno
// (RFC 5681, RFC 6582), cwnd growth, the persist timer and zero-window probes, Nagle, delayed ACKs,
// keep-alive, silly-window avoidance on both sides (RFC 9293 §3.8.6.2). A scripted peer on a virtual clock.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { CORES, CoreKind, PEER_IP, pattern } from './net-frames.js'
import {
  makeTcpRig, TcpRig, Recorder, acceptFrom, connectTo, Conn, Seg, SegOpts, add, segStr, PEER_PORT,
  FIN, SYN, RST, ACK, PSH,
} from './tcp-peer.js'
import { ERR_TIMEDOUT, ST_FREE, ST_ESTABLISHED } from '../firmware/tcp/tcp.js'
import { TcpOptions } from '../firmware/tcp/tcp.js'
import { Budget } from '../firmware/kernel/arena.js'

const MS = 1000
const PORT = 80

interface X { r: TcpRig; c: Conn; id: number }

function conn(kind: CoreKind, o: { wnd?: number; sackOk?: boolean; ws?: number; tcp?: TcpOptions; budget?: Partial<Budget> } = {}): X {
  const r = makeTcpRig(kind, { tcp: o.tcp, budget: o.budget })
  const rec = new Recorder()
  r.tcp.listen(PORT, rec)
  const c = acceptFrom(r, PORT, rec, { wnd: o.wnd, sackOk: o.sackOk, ws: o.ws })
  return { r, c, id: c.id }
}

function peer(x: X, o: Partial<SegOpts> & { flags: number }): Seg[] {
  x.r.peer({ sport: PEER_PORT, dport: PORT, seq: x.c.pseq, ack: x.c.oseq, wnd: 65535, ...o })
  return x.r.segs()
}

/** Steps the clock 1 ms at a time until the stack sends something (or `maxMs` passes); returns it and when. */
function waitSeg(r: TcpRig, maxMs: number): { t: number; segs: Seg[] } {
  const t0 = r.clock.now()
  for (let k = 0; k < maxMs; k++) {
    r.advance(MS)
    const s = r.segs()
    if (s.length > 0) return { t: (r.clock.now() - t0) / MS, segs: s }
  }
  return { t: -1, segs: [] }
}

/** A receiver model on the peer side: takes our segments in any order, answers cumulative ACKs. */
class PeerRx {
  next: number
  got = new Map<number, Uint8Array>()
  bytes: number[] = []
  constructor(first: number) { this.next = first }
  take(s: Seg): void {
    if (s.data.length === 0) return
    this.got.set(s.seq, s.data)
    for (;;) {
      const d = this.got.get(this.next)
      if (!d) {
        // a segment covering `next` from before (a retransmission of a larger range)
        let moved = false
        for (const [q, v] of this.got) {
          const off = (this.next - q) >>> 0
          if (off > 0 && off < v.length) {
            for (let k = off; k < v.length; k++) this.bytes.push(v[k])
            this.next = add(q, v.length)
            moved = true
            break
          }
        }
        if (!moved) return
        continue
      }
      for (const b of d) this.bytes.push(b)
      this.got.delete(this.next)
      this.next = add(this.next, d.length)
    }
  }
}

for (const kind of CORES) {
  describe(`TCP retransmission timer (${kind} core)`, () => {
    test('SYN retransmitted after 1, 2, 4, 8, 16 s; given up with ETIMEDOUT 32 s after the last (RFC 6298 §2.1, §5.5)', () => {
      const r = makeTcpRig(kind)
      const rec = new Recorder()
      const id = r.tcp.connect(PEER_IP, PEER_PORT, 0, rec, r.clock.now())
      assert.equal(r.segs()[0].flags, SYN)
      const gaps: number[] = []
      for (let k = 0; k < 5; k++) {
        const w = waitSeg(r, 40000)
        assert.equal(w.segs[0].flags, SYN)
        gaps.push(w.t)
      }
      assert.deepEqual(gaps, [1000, 2000, 4000, 8000, 16000])
      for (let k = 0; k < 31999; k++) r.advance(MS)
      assert.deepEqual(rec.events, [], 'still trying 31.999 s after the last SYN')
      r.advance(MS)
      assert.equal(r.segs().length, 0, 'no RST for a connection that never opened')
      assert.deepEqual(rec.events, ['close:' + id + ':' + ERR_TIMEDOUT])
      assert.equal(r.tcp.state(id), ST_FREE)
      assert.equal(r.c('tcp.timeout'), 1)
    })

    test('RTO from measured RTT (SRTT + max(200 ms, 4·RTTVAR)), doubled per timeout, Karn keeps the backed-off RTO', () => {
      const x = conn(kind)
      const { r, id } = x
      // Five round trips of 50 ms: SRTT 50, RTTVAR ≤ 25 → RTO = 50 + 200 = 250 ms.
      for (let k = 0; k < 5; k++) {
        r.tcp.send(id, pattern(100, k), r.clock.now())
        const s = r.segs()
        assert.equal(s.length, 1)
        r.clock.advance(50 * MS)
        x.c.oseq = add(s[0].seq, 100)
        peer(x, { flags: ACK })
      }
      assert.equal(r.tcp.t.rto[id], 250)
      // A segment that is never acknowledged: retransmitted after 250, 500, 1000 ms.
      r.tcp.send(id, pattern(100, 9), r.clock.now())
      const orig = r.segs()[0]
      const gaps: number[] = []
      for (let k = 0; k < 3; k++) {
        const w = waitSeg(r, 5000)
        assert.equal(w.segs[0].seq, orig.seq)
        assert.deepEqual(w.segs[0].data, orig.data)
        gaps.push(w.t)
      }
      assert.deepEqual(gaps, [250, 500, 1000])
      // Its ACK gives no sample (Karn, RFC 6298 §3): the RTO stays backed off for the next segment.
      r.clock.advance(10 * MS)
      x.c.oseq = add(orig.seq, 100)
      peer(x, { flags: ACK })
      assert.equal(r.tcp.t.rto[id], 2000)
      r.tcp.send(id, pattern(100, 10), r.clock.now())
      const next = r.segs()[0]
      const w = waitSeg(r, 5000)
      assert.equal(w.t, 2000, 'the backed-off RTO')
      // A fresh sample (a segment sent once) brings the RTO back down.
      x.c.oseq = add(next.seq, 100)
      peer(x, { flags: ACK })
      r.tcp.send(id, pattern(100, 11), r.clock.now())
      const s2 = r.segs()[0]
      r.clock.advance(40 * MS)
      x.c.oseq = add(s2.seq, 100)
      peer(x, { flags: ACK })
      assert.ok(r.tcp.t.rto[id] < 400, 'RTO ' + r.tcp.t.rto[id])
      assert.ok(r.c('tcp.retransmit') >= 4)
    })

    test('RTO never below 200 ms nor above 60 s; the connection is given up after maxRetries (ETIMEDOUT, RST)', () => {
      const x = conn(kind, { tcp: { maxRetries: 12 } })
      const { r, id } = x
      r.tcp.send(id, pattern(10), r.clock.now())
      r.segs()
      const gaps: number[] = []
      for (let k = 0; k < 12; k++) gaps.push(waitSeg(r, 70000).t)
      // The handshake's RTT on this clock is 0 ms: RTO = 0 + 200 ms (the floor), then doubling up to 60 s.
      assert.deepEqual(gaps, [200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000, 60000])
      const w = waitSeg(r, 70000)
      assert.equal(w.segs.length, 1)
      assert.equal(w.segs[0].flags & RST, RST)
      r.advance(1)
      assert.deepEqual(x.c.rec.events.slice(-1), ['close:' + id + ':' + ERR_TIMEDOUT])
    })
  })

  describe(`TCP congestion control (${kind} core)`, () => {
    test('slow start: the initial window is 3 segments (RFC 5681 §3.1), cwnd grows with each ACK; never one segment at a time', () => {
      const x = conn(kind)
      const { r, id } = x
      const data = pattern(60000)
      assert.equal(r.tcp.send(id, data, r.clock.now()), 60000)
      const rx = new PeerRx(x.c.oseq)
      let burst = r.segs()
      assert.equal(burst.length, 3, 'IW = 3 × 1460')
      const sizes: number[] = [burst.length]
      for (let round = 0; round < 4; round++) {
        // The peer acknowledges every second segment (a delayed-ACK receiver).
        const next: Seg[] = []
        for (let k = 0; k < burst.length; k++) {
          rx.take(burst[k])
          if (k % 2 === 1 || k === burst.length - 1) {
            x.c.oseq = rx.next
            next.push(...peer(x, { flags: ACK }))
          }
        }
        burst = next
        sizes.push(burst.length)
      }
      // Byte counting with L = 2 (RFC 3465): each ACK of two segments opens the window by two more, so the
      // flight doubles every round trip; the last rounds are what is left of the 60000 bytes (41 segments).
      assert.deepEqual(sizes, [3, 6, 12, 20, 1])
      for (const s of burst) rx.take(s)
      assert.deepEqual(Uint8Array.from(rx.bytes), data.subarray(0, rx.bytes.length))
    })

    test('fast retransmit on the third duplicate ACK, NewReno partial ACK retransmits the next hole, full ACK ends recovery', () => {
      const x = conn(kind, { sackOk: false })
      const { r, id } = x
      const t = r.tcp.t
      const data = pattern(40000)
      r.tcp.send(id, data, r.clock.now())
      const rx = new PeerRx(x.c.oseq)
      // Grow cwnd: acknowledge everything sent for a few rounds.
      let out = r.segs()
      for (let k = 0; k < 3; k++) {
        for (const s of out) rx.take(s)
        x.c.oseq = rx.next
        out = peer(x, { flags: ACK })
      }
      assert.ok(out.length >= 8, 'a window of segments in flight: ' + out.length)
      // Segments 0 and 3 of this flight are lost; the peer gets the others and sends a duplicate ACK each.
      const lost = [out[0], out[3]]
      const dup: Seg[] = []
      for (let k = 1; k < out.length; k++) {
        if (k === 3) continue
        rx.take(out[k])
        x.c.oseq = rx.next
        dup.push(...peer(x, { flags: ACK }))
      }
      assert.equal(r.c('tcp.fast-retransmit'), 1)
      const rtx = dup.filter((s) => s.seq === lost[0].seq)
      assert.equal(rtx.length, 1, 'the first hole retransmitted at the third duplicate ACK')
      assert.equal(dup.indexOf(rtx[0]) >= 0, true)
      assert.ok(t.has(id, 1 << 7), 'in recovery')
      const ssthresh = t.ssthresh[id]
      // The retransmission arrives: a partial ACK (up to the second hole), which is retransmitted at once.
      rx.take(rtx[0])
      x.c.oseq = rx.next
      assert.equal(rx.next, lost[1].seq)
      const partial = peer(x, { flags: ACK })
      const rtx2 = partial.filter((s) => s.seq === lost[1].seq)
      assert.equal(rtx2.length, 1, 'partial ACK: the next hole goes at once (RFC 6582 §3.2 step 5)')
      assert.ok(t.has(id, 1 << 7), 'still in recovery')
      // Everything sent during recovery (the retransmission and new data cwnd inflation let out) arrives.
      for (const s of dup) rx.take(s)
      for (const s of partial) rx.take(s)
      x.c.oseq = rx.next
      assert.ok(((rx.next - t.recover[id]) | 0) >= 0, 'the peer has everything up to recover')
      peer(x, { flags: ACK })
      assert.ok(!t.has(id, 1 << 7), 'a full ACK ends recovery')
      assert.ok(t.cwnd[id] <= ssthresh, 'cwnd deflated to at most ssthresh')
      assert.equal(r.c('tcp.retransmit') >= 2, true)
      assert.equal(r.c('tcp.timeout'), 0)
    })

    test('a timeout collapses cwnd to one segment and halves ssthresh (RFC 5681 eq. 4); go-back-N refills', () => {
      const x = conn(kind)
      const { r, id } = x
      const t = r.tcp.t
      r.tcp.send(id, pattern(20000), r.clock.now())
      const first = r.segs()
      assert.equal(first.length, 3)
      const w = waitSeg(r, 2000)
      assert.equal(w.segs.length, 1, 'one segment after the timeout')
      assert.equal(w.segs[0].seq, first[0].seq)
      assert.equal(t.cwnd[id], 1460)
      assert.equal(t.ssthresh[id], 2920)
      x.c.oseq = add(first[0].seq, 1460)
      const more = peer(x, { flags: ACK })
      assert.equal(more.length, 2, 'cwnd 2 × 1460 after one ACK in slow start')
      assert.equal(more[0].seq, first[1].seq, 'go back to the first unacknowledged byte')
    })

    test('a small send ring (the Pico budget, 1 KiB) still keeps two segments in flight', () => {
      const x = conn(kind, { budget: { tcpRxBytes: 1024, tcpTxBytes: 1024 } })
      const { r, id } = x
      assert.equal(r.tcp.send(id, pattern(1024), r.clock.now()), 1024)
      const out = r.segs()
      assert.equal(out.length, 2, out.map(segStr).join(' / '))
      assert.deepEqual(out.map((s) => s.data.length), [512, 512])
    })
  })

  describe(`TCP persist timer and zero windows (${kind} core)`, () => {
    test('window 0: probes of one byte after RTO, backed off, for as long as the peer answers; the window opens and data flows', () => {
      const x = conn(kind, { tcp: { maxRetries: 4 } })
      const { r, id } = x
      r.tcp.send(id, pattern(3000), r.clock.now())
      const out = r.segs()
      // The peer takes 2920 bytes and closes its window.
      x.c.oseq = add(out[0].seq, 2920)
      const none = peer(x, { flags: ACK, wnd: 0 })
      assert.ok(none.every((s) => s.data.length === 0))
      const gaps: number[] = []
      for (let k = 0; k < 7; k++) {
        const w = waitSeg(r, 70000)
        assert.equal(w.segs.length, 1)
        assert.equal(w.segs[0].data.length, 1, 'a one-byte probe')
        assert.equal(w.segs[0].seq, x.c.oseq)
        gaps.push(w.t)
        peer(x, { flags: ACK, wnd: 0 })
      }
      for (let k = 1; k < gaps.length; k++) assert.ok(gaps[k] >= gaps[k - 1], 'backed off: ' + gaps.join(','))
      assert.equal(r.tcp.state(id), ST_ESTABLISHED, 'more probes than maxRetries, but answered: still open')
      const open = peer(x, { flags: ACK, wnd: 65535 })
      const all = open.concat(r.segs())
      assert.ok(all.some((s) => s.data.length > 0), 'data again')
      const last = all[all.length - 1]
      assert.equal(add(last.seq, last.data.length), add(out[0].seq, 3000))
    })

    test('unanswered zero-window probes end the connection like retransmissions (ETIMEDOUT)', () => {
      const x = conn(kind, { tcp: { maxRetries: 3 } })
      const { r, id } = x
      r.tcp.send(id, pattern(2000), r.clock.now())
      const out = r.segs()
      x.c.oseq = add(out[0].seq, 1460)
      peer(x, { flags: ACK, wnd: 0 })
      for (let k = 0; k < 200; k++) r.advance(1000 * MS)
      assert.equal(r.tcp.state(id), ST_FREE)
      assert.deepEqual(x.c.rec.events.slice(-1), ['close:' + id + ':' + ERR_TIMEDOUT])
    })
  })

  describe(`TCP Nagle and silly-window avoidance (${kind} core)`, () => {
    test('Nagle on (default): small writes wait for the ACK and leave as one segment; setNoDelay(true) sends each', () => {
      const x = conn(kind)
      const { r, id } = x
      r.tcp.send(id, pattern(10, 1), r.clock.now())
      const first = r.segs()
      assert.equal(first.length, 1, 'nothing in flight: the first small write goes')
      for (let k = 0; k < 5; k++) r.tcp.send(id, pattern(10, 2 + k), r.clock.now())
      assert.equal(r.segs().length, 0, 'held while the first is unacknowledged')
      x.c.oseq = add(first[0].seq, 10)
      const after = peer(x, { flags: ACK })
      assert.equal(after.length, 1)
      assert.equal(after[0].data.length, 50, 'coalesced')
      x.c.oseq = add(after[0].seq, 50)
      peer(x, { flags: ACK })
      r.tcp.setNoDelay(id, true)
      for (let k = 0; k < 3; k++) r.tcp.send(id, pattern(10, k), r.clock.now())
      const nd = r.segs()
      assert.deepEqual(nd.map((s) => s.data.length), [10, 10, 10])
    })

    test('sender SWS: a window too small for a full segment and under half the largest one waits; the override timer sends it', () => {
      const x = conn(kind, { wnd: 20000 })
      const { r, id } = x
      r.tcp.send(id, pattern(5000), r.clock.now())
      const out = r.segs()
      assert.equal(out.length, 3)
      // The peer takes all three, and offers only 300 more bytes (max window seen: 20000).
      x.c.oseq = add(out[2].seq, out[2].data.length)
      const a = peer(x, { flags: ACK, wnd: 300 })
      assert.equal(a.filter((s) => s.data.length > 0).length, 0, 'no 300-byte segment')
      const w = waitSeg(r, 5000)
      assert.equal(w.segs.length, 1)
      assert.equal(w.segs[0].data.length, 300, 'the override (persist) timer sends what fits')
    })

    test('receiver SWS: a slow reader closes the window; small reads do not reopen it, half the ring does (RFC 9293 §3.8.6.2.2)', () => {
      const x = conn(kind, { budget: { tcpRxBytes: 4096, tcpTxBytes: 4096 } })
      const { r, id } = x
      const rec = x.c.rec
      rec.consume = 0
      let last: Seg | null = null
      for (let k = 0; k < 4; k++) {
        const o = peer(x, { flags: ACK | PSH, data: pattern(1024, k) })
        x.c.pseq = add(x.c.pseq, 1024)
        r.advance(200 * MS)
        const all = o.concat(r.segs())
        if (all.length) last = all[all.length - 1]
      }
      assert.ok(last)
      assert.equal(last!.wnd, 0, 'window closed')
      assert.equal(last!.ack, x.c.pseq)
      // The app reads 100 bytes: no update.
      rec.consume = 100
      r.tcp.resume(id)
      r.advance(1)
      assert.equal(r.segs().length, 0, 'no window update for 100 bytes')
      // Reading up to half the ring (2048) announces it.
      rec.consume = 1948
      r.tcp.resume(id)
      r.advance(1)
      const upd = r.segs()
      assert.equal(upd.length, 1)
      assert.equal(upd[0].wnd, 2048)
      // A probe into the closed part is answered with the current window.
      rec.consume = undefined
    })
  })

  describe(`TCP delayed ACKs (${kind} core)`, () => {
    test('one segment: ACK after the delayed-ACK time (100 ms); the second segment: ACK at once (RFC 9293 §3.8.6.3)', () => {
      const x = conn(kind)
      const { r } = x
      let o = peer(x, { flags: ACK | PSH, data: pattern(1460) })
      x.c.pseq = add(x.c.pseq, 1460)
      r.advance(1)
      assert.equal(o.length + r.segs().length, 0, 'not at once')
      const w = waitSeg(r, 500)
      assert.equal(w.t, 100)
      assert.equal(w.segs[0].ack, x.c.pseq)
      peer(x, { flags: ACK, data: pattern(1460) })
      x.c.pseq = add(x.c.pseq, 1460)
      o = peer(x, { flags: ACK, data: pattern(1460) })
      x.c.pseq = add(x.c.pseq, 1460)
      r.advance(1)
      o = o.concat(r.segs())
      assert.equal(o.length, 1, 'every second segment is acknowledged at once')
      assert.equal(o[0].ack, x.c.pseq)
    })

    test('out of order: an immediate duplicate ACK with SACK blocks (RFC 2018), the hole filled: an immediate ACK', () => {
      const x = conn(kind, { sackOk: true })
      const { r } = x
      const d = pattern(4000)
      const base = x.c.pseq
      let o = peer(x, { flags: ACK, seq: add(base, 1000), data: d.subarray(1000, 2000) })
      assert.equal(o.length, 1)
      assert.equal(o[0].ack, base)
      assert.deepEqual(o[0].sack, [[add(base, 1000), add(base, 2000)]])
      o = peer(x, { flags: ACK, seq: add(base, 3000), data: d.subarray(3000, 4000) })
      assert.deepEqual(o[0].sack, [[add(base, 3000), add(base, 4000)], [add(base, 1000), add(base, 2000)]], 'most recent first')
      o = peer(x, { flags: ACK, seq: base, data: d.subarray(0, 1000) })
      r.advance(1)
      o = o.concat(r.segs())
      assert.equal(o.length, 1, 'hole filled: ACK at once')
      assert.equal(o[0].ack, add(base, 2000))
      assert.deepEqual(o[0].sack, [[add(base, 3000), add(base, 4000)]])
      o = peer(x, { flags: ACK, seq: add(base, 2000), data: d.subarray(2000, 3000) })
      r.advance(1)
      o = o.concat(r.segs())
      assert.equal(o[o.length - 1].ack, add(base, 4000))
      assert.deepEqual(o[o.length - 1].sack, [])
      assert.deepEqual(x.c.rec.bytes(), d)
    })
  })

  describe(`TCP keep-alive (${kind} core)`, () => {
    test('off by default: three idle hours, not a segment', () => {
      const x = conn(kind)
      x.r.advance(3 * 3600 * 1000 * MS)
      assert.equal(x.r.segs().length, 0)
      assert.equal(x.r.tcp.state(x.id), ST_ESTABLISHED)
    })

    test('on: a probe <SEQ=SND.UNA-1> after the idle time; answered, the connection stays; unanswered, 9 probes 75 s apart then ETIMEDOUT', () => {
      const x = conn(kind)
      const { r, id } = x
      r.tcp.setKeepAlive(id, true, 10000, r.clock.now())
      let w = waitSeg(r, 20000)
      assert.equal(w.t, 10000)
      assert.equal(w.segs[0].seq, add(x.c.oseq, -1))
      assert.equal(w.segs[0].data.length, 0)
      peer(x, { flags: ACK })
      w = waitSeg(r, 20000)
      assert.equal(w.t, 10000, 'idle time restarts after an answer')
      const gaps: number[] = []
      for (let k = 0; k < 8; k++) gaps.push(waitSeg(r, 100000).t)
      assert.deepEqual(gaps, [75000, 75000, 75000, 75000, 75000, 75000, 75000, 75000])
      w = waitSeg(r, 100000)
      assert.equal(w.t, 75000)
      assert.equal(w.segs[0].flags & RST, RST)
      r.advance(1)
      assert.deepEqual(x.c.rec.events.slice(-1), ['close:' + id + ':' + ERR_TIMEDOUT])
    })
  })
}
