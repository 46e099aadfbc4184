// Segment arrival per state (RFC 9293 §3.10.7), hardened by RFC 5961: a scripted peer (test/tcp-peer.ts, its
// own encoder) drives one connection into each state and sends every combination of RST/SYN/ACK/FIN, then
// targeted cases (RSTs and SYNs in and out of the window, ACKs too new and too old, data, FINs), also with
// sequence numbers that cross 2^32. Both core backends.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { CORES, CoreKind, PEER_IP, OUR_IP, pattern } from './net-frames.js'
import {
  makeTcpRig, TcpRig, Recorder, acceptFrom, connectTo, Conn, Seg, SegOpts, add, flagStr, segStr, PEER_PORT,
  FIN, SYN, RST, ACK, PSH,
} from './tcp-peer.js'
import { seqLt, seqLe, seqGt, seqGe, seqDiff, seqAdd, seqInWindow } from '../firmware/tcp/seq.js'
import {
  ST_FREE, ST_SYN_SENT, ST_SYN_RCVD, ST_ESTABLISHED, ST_FIN_WAIT_1, ST_FIN_WAIT_2, ST_CLOSE_WAIT, ST_CLOSING,
  ST_LAST_ACK, ST_TIME_WAIT, STATE_NAMES, ERR_NONE, ERR_REFUSED, ERR_RESET,
} from '../firmware/tcp/tcp.js'

const PORT = 80

/** A connection driven into a state, with what the peer knows about it. */
interface Ctx {
  r: TcpRig
  rec: Recorder
  id: number
  /** Our port and the peer's. */
  lport: number
  pport: number
  /** The peer's next sequence number (= our RCV.NXT), what it acknowledges, and our SND.NXT (past our FIN). */
  pseq: number
  oseq: number
  snd: number
  state: number
}

function established(kind: CoreKind, o: { isn?: number } = {}): Ctx {
  const r = makeTcpRig(kind)
  const rec = new Recorder()
  assert.ok(r.tcp.listen(PORT, rec) >= 0)
  const c = acceptFrom(r, PORT, rec, { isn: o.isn })
  return { r, rec, id: c.id, lport: PORT, pport: PEER_PORT, pseq: c.pseq, oseq: c.oseq, snd: c.oseq, state: ST_ESTABLISHED }
}

function send(x: Ctx, o: Partial<SegOpts> & { flags: number }): Seg[] {
  x.r.peer({ sport: x.pport, dport: x.lport, seq: x.pseq, ack: x.oseq, wnd: 65535, ...o })
  return x.r.segs()
}

/** Drives a fresh connection into `state` (RFC 9293 §3.3.2 figure 5 transitions). */
function reach(kind: CoreKind, state: number, isn?: number): Ctx {
  if (state === ST_SYN_SENT) {
    const r = makeTcpRig(kind)
    const rec = new Recorder()
    const id = r.tcp.connect(PEER_IP, PEER_PORT, 0, rec, r.clock.now())
    const syn = r.segs()
    assert.equal(syn.length, 1)
    return { r, rec, id, lport: syn[0].sport, pport: PEER_PORT, pseq: isn ?? 7000, oseq: add(syn[0].seq, 1), snd: add(syn[0].seq, 1), state }
  }
  if (state === ST_SYN_RCVD) {
    const r = makeTcpRig(kind)
    const rec = new Recorder()
    r.tcp.listen(PORT, rec)
    const pisn = isn ?? 3000
    r.peer({ sport: PEER_PORT, dport: PORT, seq: pisn, flags: SYN, mss: 1460 })
    const sa = r.segs()
    assert.equal(sa.length, 1)
    assert.equal(sa[0].flags, SYN | ACK)
    const id = r.tcp.lookup(PEER_IP, PEER_PORT, PORT)
    assert.ok(id >= 0)
    return { r, rec, id, lport: PORT, pport: PEER_PORT, pseq: add(pisn, 1), oseq: add(sa[0].seq, 1), snd: add(sa[0].seq, 1), state }
  }
  const x = established(kind, { isn })
  if (state === ST_ESTABLISHED) return x
  if (state === ST_CLOSE_WAIT || state === ST_LAST_ACK) {
    const out = send(x, { flags: ACK | FIN })
    x.pseq = add(x.pseq, 1)
    x.r.advance(1)
    assert.ok(out.length + x.r.segs().length >= 1)
    x.state = ST_CLOSE_WAIT
    if (state === ST_LAST_ACK) {
      x.r.tcp.shutdown(x.id, x.r.clock.now())
      const fin = x.r.segs()
      assert.equal(fin.length, 1)
      assert.equal(fin[0].flags & FIN, FIN)
      x.snd = add(x.oseq, 1)
      x.state = ST_LAST_ACK
    }
  } else {
    x.r.tcp.shutdown(x.id, x.r.clock.now())
    const fin = x.r.segs()
    assert.equal(fin.length, 1, 'our FIN')
    assert.equal(fin[0].flags, FIN | ACK)
    x.snd = add(x.oseq, 1)
    x.state = ST_FIN_WAIT_1
    if (state === ST_FIN_WAIT_2 || state === ST_TIME_WAIT) {
      send(x, { flags: ACK, ack: add(x.oseq, 1) })
      x.oseq = add(x.oseq, 1)
      x.state = ST_FIN_WAIT_2
      if (state === ST_TIME_WAIT) {
        const a = send(x, { flags: ACK | FIN })
        x.pseq = add(x.pseq, 1)
        assert.equal(a.length, 1)
        x.state = ST_TIME_WAIT
      }
    } else if (state === ST_CLOSING) {
      // The peer's FIN crosses ours: it does not acknowledge our FIN yet.
      const a = send(x, { flags: ACK | FIN })
      x.pseq = add(x.pseq, 1)
      assert.equal(a.length, 1)
      x.state = ST_CLOSING
    }
  }
  assert.equal(x.r.tcp.state(x.id), state, 'reached ' + STATE_NAMES[state])
  return x
}

function st(x: Ctx): number {
  return x.r.tcp.state(x.id)
}

function expectAck(out: Seg[], seq: number, ack: number, what: string): void {
  assert.equal(out.length, 1, what + ': one ACK, got ' + out.map(segStr).join(' / '))
  assert.equal(out[0].flags & (SYN | RST | FIN), 0, what + ': a bare ACK')
  assert.equal(out[0].flags & ACK, ACK)
  assert.equal(out[0].seq, seq, what + ': SEQ=SND.NXT')
  assert.equal(out[0].ack, ack, what + ': ACK=RCV.NXT')
}

const SYNCHRONIZED = [ST_ESTABLISHED, ST_FIN_WAIT_1, ST_FIN_WAIT_2, ST_CLOSE_WAIT, ST_CLOSING, ST_LAST_ACK, ST_TIME_WAIT]

/** Where a FIN (with an acceptable ACK that does not acknowledge our FIN) takes each synchronized state. */
const AFTER_FIN: { [s: number]: number } = {
  [ST_ESTABLISHED]: ST_CLOSE_WAIT, [ST_FIN_WAIT_1]: ST_CLOSING, [ST_FIN_WAIT_2]: ST_TIME_WAIT,
  [ST_CLOSE_WAIT]: ST_CLOSE_WAIT, [ST_CLOSING]: ST_CLOSING, [ST_LAST_ACK]: ST_LAST_ACK, [ST_TIME_WAIT]: ST_TIME_WAIT,
}

describe('sequence-number arithmetic (RFC 9293 §3.4, modulo 2^32)', () => {
  test('comparisons across the wrap, distances and windows', () => {
    const top = 0xfffffff0
    const wrapped = 0x10
    assert.ok(seqLt(top, wrapped) && seqLe(top, wrapped) && seqGt(wrapped, top) && seqGe(wrapped, top))
    assert.ok(!seqLt(wrapped, top) && seqLe(top, top) && seqGe(top, top) && !seqGt(top, top))
    assert.equal(seqDiff(wrapped, top), 0x20)
    assert.equal(seqDiff(top, wrapped), -0x20)
    assert.equal(seqAdd(top, 0x20), wrapped)
    assert.equal(seqAdd(wrapped, -0x20), top)
    assert.ok(seqInWindow(0x5, top, wrapped) && seqInWindow(top, top, wrapped) && !seqInWindow(wrapped, top, wrapped))
    assert.ok(!seqInWindow(top, top, top), 'an empty window holds nothing')
    // Half the space apart is the limit of meaningful comparison; a TCP window is at most 2^30.
    assert.ok(seqLt(0, 0x7fffffff) && seqGt(0, 0x80000001))
  })
})

const COMBOS: number[] = []
for (let f = 0; f < 16; f++) COMBOS.push((f & 1 ? RST : 0) | (f & 2 ? SYN : 0) | (f & 4 ? ACK : 0) | (f & 8 ? FIN : 0))

for (const kind of CORES) {
  describe(`TCP segment arrival, every RST/SYN/ACK/FIN combination (${kind} core)`, () => {
    test('CLOSED (no listener): RFC 9293 §3.10.7.1 resets', () => {
      for (const f of COMBOS) {
        const r = makeTcpRig(kind)
        const data = f & SYN ? undefined : pattern(5)
        r.peer({ sport: PEER_PORT, dport: 4444, seq: 0xfffffffe, ack: 777, flags: f, data })
        const out = r.segs()
        const name = flagStr(f)
        if (f & RST) {
          assert.equal(out.length, 0, name + ': an incoming RST is discarded')
          continue
        }
        assert.equal(out.length, 1, name)
        const s = out[0]
        assert.equal(s.sport, 4444)
        assert.equal(s.dport, PEER_PORT)
        if (f & ACK) {
          assert.equal(s.flags, RST, name + ': <SEQ=SEG.ACK><CTL=RST>')
          assert.equal(s.seq, 777)
        } else {
          const len = (data ? 5 : 0) + (f & SYN ? 1 : 0) + (f & FIN ? 1 : 0)
          assert.equal(s.flags, RST | ACK, name + ': <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>')
          assert.equal(s.seq, 0)
          assert.equal(s.ack, add(0xfffffffe, len), name + ' (across 2^32)')
        }
        assert.equal(s.wnd, 0)
        assert.equal(r.c('tcp.rst.tx'), 1)
      }
    })

    test('LISTEN: RST ignored, ACK reset, SYN answered with SYN-ACK, the rest dropped (§3.10.7.2)', () => {
      for (const f of COMBOS) {
        const r = makeTcpRig(kind)
        const rec = new Recorder()
        r.tcp.listen(PORT, rec)
        r.peer({ sport: PEER_PORT, dport: PORT, seq: 100, ack: 555, flags: f })
        const out = r.segs()
        const name = flagStr(f)
        if (f & RST) {
          assert.equal(out.length, 0, name)
        } else if (f & ACK) {
          assert.equal(out.length, 1, name)
          assert.equal(out[0].flags, RST, name)
          assert.equal(out[0].seq, 555)
        } else if (f & SYN) {
          assert.equal(out.length, 1, name)
          assert.equal(out[0].flags, SYN | ACK, name)
          assert.equal(out[0].ack, 101, name + ': the FIN of a SYN is not taken')
          assert.equal(r.tcp.state(r.tcp.lookup(PEER_IP, PEER_PORT, PORT)), ST_SYN_RCVD)
        } else {
          assert.equal(out.length, 0, name + ': dropped')
          assert.equal(r.tcp.inUse(), 0)
        }
        assert.deepEqual(rec.events, [], name + ': the app hears nothing yet')
      }
    })

    test('SYN-SENT: §3.10.7.3 for every combination with an acceptable ACK', () => {
      for (const f of COMBOS) {
        const x = reach(kind, ST_SYN_SENT)
        const out = send(x, { flags: f, seq: 7000, ack: x.oseq, mss: f & SYN ? 1460 : undefined })
        const name = flagStr(f)
        if (f & RST) {
          assert.equal(out.length, 0, name)
          if (f & ACK) {
            assert.equal(st(x), ST_FREE, name + ': refused')
            assert.deepEqual(x.rec.events, ['close:' + x.id + ':' + ERR_REFUSED], name)
          } else {
            assert.equal(st(x), ST_SYN_SENT, name + ': a RST without ACK is ignored')
          }
        } else if ((f & (SYN | ACK)) === (SYN | ACK)) {
          expectAck(out, x.oseq, f & FIN ? 7002 : 7001, name)
          assert.equal(st(x), f & FIN ? ST_CLOSE_WAIT : ST_ESTABLISHED, name)
          assert.equal(x.rec.events[0], 'connect:' + x.id)
          if (f & FIN) assert.ok(x.rec.events.includes('end:' + x.id), name)
        } else if (f & SYN) {
          // Simultaneous open (§3.5 figure 8): SYN-RECEIVED, our SYN again with an ACK.
          assert.equal(out.length, 1, name)
          assert.equal(out[0].flags, SYN | ACK, name)
          assert.equal(out[0].seq, add(x.oseq, -1))
          assert.equal(out[0].ack, 7001)
          assert.equal(st(x), ST_SYN_RCVD, name)
        } else {
          assert.equal(out.length, 0, name + ': neither SYN nor RST: dropped')
          assert.equal(st(x), ST_SYN_SENT, name)
        }
      }
    })

    test('SYN-SENT: an unacceptable ACK is answered <SEQ=SEG.ACK><CTL=RST> (unless it is a RST)', () => {
      for (const bad of [0, -1, 1, 1000]) {
        for (const f of [ACK, ACK | SYN, ACK | RST, ACK | FIN]) {
          const x = reach(kind, ST_SYN_SENT)
          const ack = add(x.oseq, bad === 0 ? -1 : bad === -1 ? -2 : bad)
          const out = send(x, { flags: f, seq: 7000, ack })
          if (f & RST) assert.equal(out.length, 0)
          else {
            assert.equal(out.length, 1, flagStr(f) + ' ack ' + bad)
            assert.equal(out[0].flags, RST)
            assert.equal(out[0].seq, ack)
          }
          assert.equal(st(x), ST_SYN_SENT, 'still waiting')
        }
      }
    })

    test('SYN-RECEIVED (passive): §3.10.7.4 for every combination at RCV.NXT with an acceptable ACK', () => {
      for (const f of COMBOS) {
        const x = reach(kind, ST_SYN_RCVD)
        const out = send(x, { flags: f })
        const name = flagStr(f)
        if (f & RST) {
          assert.equal(out.length, 0, name)
          assert.equal(st(x), ST_FREE, name + ': back to LISTEN (the TCB is dropped)')
          assert.deepEqual(x.rec.events, [], name + ': nothing told: the app never had it')
        } else if (f & SYN) {
          assert.equal(out.length, 0, name)
          assert.equal(st(x), ST_FREE, name + ': a SYN in SYN-RECEIVED from a listener returns to LISTEN')
        } else if (!(f & ACK)) {
          assert.equal(out.length, 0, name)
          assert.equal(st(x), ST_SYN_RCVD, name)
        } else {
          assert.equal(st(x), f & FIN ? ST_CLOSE_WAIT : ST_ESTABLISHED, name)
          assert.equal(x.rec.events[0], 'connect:' + x.id, name)
          x.r.advance(1)
          const all = out.concat(x.r.segs())
          if (f & FIN) expectAck(all, x.oseq, add(x.pseq, 1), name)
          else assert.equal(all.length, 0, name + ': nothing to answer')
        }
        assert.equal(x.r.tcp.listeners.find(PORT) >= 0, true, 'the listener stays')
      }
    })

    for (const s of SYNCHRONIZED) {
      test(`${STATE_NAMES[s]}: §3.10.7.4 for every combination at RCV.NXT with an acceptable ACK`, () => {
        for (const f of COMBOS) {
          const x = reach(kind, s)
          const events = x.rec.events.length
          const out = send(x, { flags: f })
          x.r.advance(1)
          const all = out.concat(x.r.segs())
          const name = STATE_NAMES[s] + ' + ' + flagStr(f)
          if (f & RST) {
            assert.equal(all.length, 0, name)
            assert.equal(st(x), ST_FREE, name + ': reset')
            const told = x.rec.events.slice(events)
            if (s === ST_ESTABLISHED || s === ST_FIN_WAIT_1 || s === ST_FIN_WAIT_2 || s === ST_CLOSE_WAIT) {
              assert.deepEqual(told, ['close:' + x.id + ':' + ERR_RESET], name + ': connection reset')
            } else if (s === ST_TIME_WAIT) {
              assert.deepEqual(told, [], name + ': the app heard close at TIME-WAIT already')
            } else {
              assert.deepEqual(told, ['close:' + x.id + ':' + ERR_NONE], name)
            }
          } else if (f & SYN) {
            expectAck(all, x.snd, x.pseq, name + ' (challenge ACK, RFC 5961 §4.2)')
            assert.equal(st(x), s, name)
            assert.equal(x.r.c('tcp.challenge-ack'), 1)
          } else if (!(f & ACK)) {
            assert.equal(all.length, 0, name + ': no ACK bit: dropped')
            assert.equal(st(x), s, name)
          } else if (f & FIN) {
            const rcvNxt = s === ST_ESTABLISHED || s === ST_FIN_WAIT_1 || s === ST_FIN_WAIT_2 ? add(x.pseq, 1) : x.pseq
            // After the peer's FIN (CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT) a FIN again is acknowledged again.
            expectAck(all, x.snd, rcvNxt, name)
            assert.equal(st(x), AFTER_FIN[s], name)
          } else {
            assert.equal(all.length, 0, name + ': an acceptable bare ACK needs no answer')
            assert.equal(st(x), s, name)
          }
        }
      })
    }
  })

  describe(`TCP segment arrival, targeted cases (${kind} core)`, () => {
    test('RST: exactly at RCV.NXT resets; elsewhere in the window a challenge ACK; outside nothing (RFC 5961 §3.2)', () => {
      const x = reach(kind, ST_ESTABLISHED)
      let out = send(x, { flags: RST, seq: add(x.pseq, 1) })
      expectAck(out, x.oseq, x.pseq, 'in-window RST')
      out = send(x, { flags: RST | ACK, seq: add(x.pseq, 60000) })
      expectAck(out, x.oseq, x.pseq, 'in-window RST, far end')
      out = send(x, { flags: RST, seq: add(x.pseq, 70000) })
      assert.equal(out.length, 0, 'beyond the window: silently dropped')
      out = send(x, { flags: RST, seq: add(x.pseq, -1) })
      assert.equal(out.length, 0, 'before RCV.NXT: silently dropped')
      assert.equal(st(x), ST_ESTABLISHED)
      assert.equal(x.r.c('tcp.challenge-ack'), 2)
      out = send(x, { flags: RST })
      assert.equal(out.length, 0)
      assert.equal(st(x), ST_FREE)
      x.r.advance(1)
      assert.deepEqual(x.rec.events.slice(-1), ['close:' + x.id + ':' + ERR_RESET])
    })

    test('SYN in a synchronized state, in or out of the window: an ACK, never a reset (RFC 5961 §4.2)', () => {
      const x = reach(kind, ST_ESTABLISHED)
      for (const d of [0, 1, 5000, -5, 0x7fffffff]) {
        const out = send(x, { flags: SYN, seq: add(x.pseq, d) })
        expectAck(out, x.oseq, x.pseq, 'SYN at +' + d)
      }
      assert.equal(st(x), ST_ESTABLISHED)
    })

    test('ACK of data not yet sent, or older than the largest window: challenge ACK and the data is dropped (RFC 5961 §5.2)', () => {
      const x = reach(kind, ST_ESTABLISHED)
      let out = send(x, { flags: ACK | PSH, ack: add(x.oseq, 10), data: pattern(10) })
      x.r.advance(1)
      out = out.concat(x.r.segs())
      expectAck(out, x.oseq, x.pseq, 'ACK beyond SND.NXT')
      assert.deepEqual(x.rec.data, [], 'its data was not taken')
      out = send(x, { flags: ACK | PSH, ack: add(x.oseq, -70000), data: pattern(10) })
      x.r.advance(1)
      out = out.concat(x.r.segs())
      expectAck(out, x.oseq, x.pseq, 'ACK older than SND.UNA - MAX.SND.WND')
      assert.deepEqual(x.rec.data, [])
      // An old but plausible ACK (within the window the peer offered) is fine and the data is taken.
      out = send(x, { flags: ACK | PSH, ack: add(x.oseq, -1000), data: pattern(10) })
      x.r.advance(1)
      assert.equal(x.rec.data.length, 10)
    })

    test('unacceptable segments (§3.4 table): each answered with an ACK and dropped', () => {
      const x = reach(kind, ST_ESTABLISHED)
      const cases: { name: string; o: Partial<SegOpts> & { flags: number } }[] = [
        { name: 'old duplicate data', o: { flags: ACK, seq: add(x.pseq, -10), data: pattern(10) } },
        { name: 'data beyond the window', o: { flags: ACK, seq: add(x.pseq, 65536), data: pattern(10) } },
        { name: 'empty segment before RCV.NXT', o: { flags: ACK, seq: add(x.pseq, -1) } },
        { name: 'empty segment at the right edge', o: { flags: ACK, seq: add(x.pseq, 65536) } },
      ]
      for (const c of cases) {
        const out = send(x, c.o)
        expectAck(out, x.oseq, x.pseq, c.name)
      }
      assert.equal(x.r.c('tcp.rx.out-of-window'), 4)
      assert.deepEqual(x.rec.data, [])
    })

    test('data straddling RCV.NXT: only the new part is taken', () => {
      const x = reach(kind, ST_ESTABLISHED)
      const d = pattern(20)
      send(x, { flags: ACK, data: d.subarray(0, 10) })
      send(x, { flags: ACK, seq: x.pseq, data: d })
      x.r.advance(1)
      assert.deepEqual(x.rec.bytes(), d)
    })

    test('FIN-WAIT-1: our FIN acknowledged → FIN-WAIT-2; FIN+ACK of our FIN → TIME-WAIT (app told close)', () => {
      const x = reach(kind, ST_FIN_WAIT_1)
      send(x, { flags: ACK, ack: add(x.oseq, 1) })
      assert.equal(st(x), ST_FIN_WAIT_2)
      const y = reach(kind, ST_FIN_WAIT_1)
      const out = send(y, { flags: ACK | FIN, ack: add(y.oseq, 1) })
      expectAck(out, add(y.oseq, 1), add(y.pseq, 1), 'ACK of the peer FIN')
      assert.equal(st(y), ST_TIME_WAIT)
      y.r.advance(1)
      assert.deepEqual(y.rec.events.slice(-2), ['end:' + y.id, 'close:' + y.id + ':0'])
    })

    test('half-close: FIN-WAIT-2 keeps receiving until the peer FIN, then TIME-WAIT', () => {
      const x = reach(kind, ST_FIN_WAIT_2)
      for (let k = 0; k < 3; k++) {
        send(x, { flags: ACK | PSH, data: pattern(100, k) })
        x.pseq = add(x.pseq, 100)
      }
      x.r.advance(1)
      assert.equal(x.rec.data.length, 300)
      assert.equal(st(x), ST_FIN_WAIT_2)
      send(x, { flags: ACK | FIN })
      assert.equal(st(x), ST_TIME_WAIT)
    })

    test('CLOSE-WAIT: the app may still send; shutdown → LAST-ACK; the ACK of our FIN → CLOSED', () => {
      const x = reach(kind, ST_CLOSE_WAIT)
      assert.equal(x.r.tcp.send(x.id, pattern(50), x.r.clock.now()), 50)
      const d = x.r.segs()
      assert.equal(d.length, 1)
      assert.equal(d[0].data.length, 50)
      x.r.tcp.shutdown(x.id, x.r.clock.now())
      const fin = x.r.segs()
      assert.equal(fin.length, 1)
      assert.equal(fin[0].flags & FIN, FIN)
      assert.equal(fin[0].seq, add(x.oseq, 50))
      assert.equal(st(x), ST_LAST_ACK)
      send(x, { flags: ACK, ack: add(x.oseq, 51) })
      assert.equal(st(x), ST_FREE)
      x.r.advance(1)
      assert.deepEqual(x.rec.events.slice(-2), ['end:' + x.id, 'close:' + x.id + ':0'])
    })

    test('CLOSING: the ACK of our FIN → TIME-WAIT; TIME-WAIT ends after its time and the TCB is free', () => {
      const x = reach(kind, ST_CLOSING)
      send(x, { flags: ACK, ack: add(x.oseq, 1) })
      assert.equal(st(x), ST_TIME_WAIT)
      x.r.advance(1999000)
      assert.equal(st(x), ST_TIME_WAIT)
      x.r.advance(2000)
      assert.equal(st(x), ST_FREE)
    })

    test('TIME-WAIT: a retransmitted FIN is acknowledged again and restarts the timer', () => {
      const x = reach(kind, ST_TIME_WAIT)
      x.r.advance(1500000)
      const out = send(x, { flags: ACK | FIN, seq: add(x.pseq, -1) })
      expectAck(out, x.oseq, x.pseq, 'the FIN again')
      x.r.advance(1500000)
      assert.equal(st(x), ST_TIME_WAIT, 'restarted')
      x.r.advance(600000)
      assert.equal(st(x), ST_FREE)
    })

    test('SYN-RECEIVED: a retransmitted SYN gets the SYN-ACK again; an unacceptable ACK a RST', () => {
      const x = reach(kind, ST_SYN_RCVD)
      let out = send(x, { flags: SYN, seq: add(x.pseq, -1), mss: 1460 })
      assert.equal(out.length, 1)
      assert.equal(out[0].flags, SYN | ACK)
      assert.equal(out[0].seq, add(x.oseq, -1))
      out = send(x, { flags: ACK, ack: add(x.oseq, 5) })
      assert.equal(out.length, 1)
      assert.equal(out[0].flags, RST)
      assert.equal(out[0].seq, add(x.oseq, 5))
      assert.equal(st(x), ST_SYN_RCVD)
      out = send(x, { flags: ACK })
      assert.equal(st(x), ST_ESTABLISHED)
    })

    test('simultaneous open (§3.5 figure 8): SYN-SENT → SYN-RECEIVED → ESTABLISHED, both directions work', () => {
      const x = reach(kind, ST_SYN_SENT)
      let out = send(x, { flags: SYN, seq: 7000, mss: 1400 })
      assert.equal(out[0].flags, SYN | ACK)
      assert.equal(st(x), ST_SYN_RCVD)
      // The peer's own SYN-ACK for our SYN (it received our SYN in SYN-SENT too).
      out = send(x, { flags: SYN | ACK, seq: 7000, ack: x.oseq })
      assert.equal(st(x), ST_ESTABLISHED)
      x.pseq = 7001
      x.r.advance(1)
      assert.equal(x.rec.events[0], 'connect:' + x.id)
      send(x, { flags: ACK | PSH, data: pattern(5) })
      x.r.advance(1)
      assert.equal(x.rec.data.length, 5)
      assert.equal(x.r.tcp.send(x.id, pattern(7), x.r.clock.now()), 7)
      out = x.r.segs()
      assert.equal(out.length, 1)
      assert.equal(out[0].seq, x.oseq)
      assert.equal(out[0].data.length, 7)
    })

    test('data on a SYN is not taken (no TCP Fast Open): not acknowledged, the peer sends it again', () => {
      const r = makeTcpRig(kind)
      const rec = new Recorder()
      r.tcp.listen(PORT, rec)
      r.peer({ sport: PEER_PORT, dport: PORT, seq: 10, flags: SYN, data: pattern(30) })
      const out = r.segs()
      assert.equal(out[0].ack, 11)
    })

    test('a bad checksum or a port 0 is dropped without an answer', () => {
      const x = reach(kind, ST_ESTABLISHED)
      let out = send(x, { flags: ACK | PSH, data: pattern(8), badChecksum: true })
      assert.equal(out.length, 0)
      assert.equal(x.r.c('tcp.rx.checksum'), 1)
      x.r.peer({ sport: 0, dport: PORT, seq: 1, flags: SYN })
      assert.equal(x.r.segs().length, 0)
      assert.equal(x.r.c('tcp.rx.bad'), 1)
    })

    test('malformed options (length 0, 1, past the header) never throw; what came before them counts', () => {
      for (const raw of [[2, 0], [3, 1, 0], [2, 4, 5], [8, 40], [4], [1, 1, 1, 2]]) {
        const r = makeTcpRig(kind)
        r.tcp.listen(PORT, new Recorder())
        r.peer({ sport: PEER_PORT, dport: PORT, seq: 1, flags: SYN, mss: 1000, rawOptions: raw })
        const out = r.segs()
        assert.equal(out.length, 1, JSON.stringify(raw))
        assert.equal(out[0].flags, SYN | ACK)
        assert.equal(r.c('poll.error'), 0)
      }
    })
  })

  describe(`TCP sequence numbers across 2^32 (${kind} core)`, () => {
    test('the peer ISN just below 2^32: data, FIN and ACKs wrap cleanly', () => {
      const x = reach(kind, ST_ESTABLISHED, 0xffffff00)
      const d = pattern(600)
      for (let k = 0; k < 3; k++) {
        send(x, { flags: ACK | PSH, data: d.subarray(k * 200, k * 200 + 200) })
        x.pseq = add(x.pseq, 200)
      }
      x.r.advance(200000)
      const acks = x.r.segs()
      assert.ok(acks.length >= 1)
      assert.equal(acks[acks.length - 1].ack, add(0xffffff01, 600))
      assert.ok(acks[acks.length - 1].ack < 0x1000, 'wrapped')
      assert.deepEqual(x.rec.bytes(), d)
      // Out of order across the wrap: the second half first.
      const e = pattern(400, 9)
      const dup = send(x, { flags: ACK, seq: add(x.pseq, 200), data: e.subarray(200) })
      assert.equal(dup[0].ack, x.pseq, 'duplicate ACK for the hole')
      send(x, { flags: ACK, data: e.subarray(0, 200) })
      x.pseq = add(x.pseq, 400)
      x.r.advance(1)
      assert.deepEqual(x.rec.bytes().subarray(600), e)
      send(x, { flags: ACK | FIN })
      assert.equal(st(x), ST_CLOSE_WAIT)
    })

    test('our ISN just below 2^32: what we send wraps, and the peer ACKs across the wrap are taken', () => {
      // RFC 6528: ISN = M + F(tuple); F is fixed for the tuple and key, M is the clock. Learn F, then choose
      // the clock so that the next ISN for the same tuple is 2^32 - 100.
      const r = makeTcpRig(kind)
      const rec = new Recorder()
      r.tcp.listen(PORT, rec)
      const t0 = r.clock.now()
      r.peer({ sport: PEER_PORT, dport: PORT, seq: 1, flags: SYN })
      const isn0 = r.segs()[0].seq
      r.peer({ sport: PEER_PORT, dport: PORT, seq: 2, flags: RST })
      const f = (isn0 - Math.floor(t0 / 4)) >>> 0
      const targetM = (0x100000000 - 100 - f) >>> 0
      const nowM = Math.floor(r.clock.now() / 4)
      const step = ((targetM - nowM) >>> 0) * 4
      r.clock.advance(step)
      r.peer({ sport: PEER_PORT, dport: PORT, seq: 5000, flags: SYN })
      const sa = r.segs()[0]
      assert.equal(sa.seq, 0x100000000 - 100, 'the ISN we aimed at')
      r.peer({ sport: PEER_PORT, dport: PORT, seq: 5001, ack: add(sa.seq, 1), flags: ACK })
      const id = r.tcp.lookup(PEER_IP, PEER_PORT, PORT)
      r.tcp.setNoDelay(id, true)
      const d = pattern(300)
      assert.equal(r.tcp.send(id, d, r.clock.now()), 300)
      const out = r.segs()
      assert.equal(out.length, 1)
      assert.equal(out[0].seq, 0x100000000 - 99)
      assert.deepEqual(out[0].data, d)
      r.peer({ sport: PEER_PORT, dport: PORT, seq: 5001, ack: add(sa.seq, 301), flags: ACK })
      assert.equal(r.tcp.sendQueued(id), 0, 'acknowledged across the wrap')
      r.tcp.shutdown(id, r.clock.now())
      const fin = r.segs()
      assert.equal(fin[0].seq, add(0x100000000 - 99, 300))
      r.peer({ sport: PEER_PORT, dport: PORT, seq: 5001, ack: add(fin[0].seq, 1), flags: ACK | FIN })
      assert.equal(r.tcp.state(id), ST_TIME_WAIT)
    })
  })
}
