// Netsim (ARCHITECTURE.md testing layer 3): TCP between two spinet stacks, and between spinet and a scripted
// peer, on a simulated 10 Mbit/s link with loss, duplication, reordering, corruption and delay drawn from a
// seed, all in virtual time (the harness is test/netsim.ts). Every run is deterministic: a failure names its
// seed and reproduces exactly.
//
// The goodput table (loss × buffer size) is kept in test/tcp-netsim-goodput.snapshot.json; a change in the
// stack's behaviour changes the numbers and fails the comparison with a diff, so it shows in review.
// SPINET_UPDATE_SNAPSHOT=1 rewrites the snapshot.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { packageRoot } from '../hal/host/paths.js'
import { createHash } from 'node:crypto'
import { ERR_NONE, ERR_RESET, attachTcp } from '../firmware/tcp/tcp.js'
import { createNet } from '../firmware/api/net.js'
import {
  makeNetsim, A_IP, B_IP, Scheduler, runTransfer, runServiceTransfer, TransferResult, TransferOptions, payload,
  TABLE_LOSSES, TABLE_BUFFERS, TABLE_BYTES, TABLE_SEEDS, Cell, tableCell, cellKey, lossLabel, bufLabel, snapshotOf, goodputMarkdown,
  GoodputSnapshot, makePeerRig, PeerRig, PeerConn, Recorder, Segment, segStr, seqAdd, seqDiff, tcpOptions,
  SYN, ACK, PSH, FIN, RST, ipStr,
} from './netsim.js'

const SNAPSHOT = path.join(packageRoot(), 'test/tcp-netsim-goodput.snapshot.json')

/** Why a transfer is not a success, or '' (byte-exact both ways, both ends closed without error, no TCB left). */
function problems(r: TransferResult, o: Pick<TransferOptions, 'dir'>): string {
  const p: string[] = []
  if (r.timedOut) p.push('did not finish in virtual time')
  if (!r.exactAtB) p.push(`B received ${r.receivedByB} bytes, not the ${TABLE_BYTES} sent (or different ones)`)
  if (!r.exactAtA) p.push(`A received ${r.receivedByA} bytes, not the ${TABLE_BYTES} sent (or different ones)`)
  if (r.closedA !== 1 || r.closedB !== 1) p.push(`onClose heard ${r.closedA} (A) and ${r.closedB} (B) times, not once each`)
  if (r.errA.some((e) => e !== ERR_NONE) || r.errB.some((e) => e !== ERR_NONE)) p.push(`close errors A ${JSON.stringify(r.errA)} B ${JSON.stringify(r.errB)}`)
  if (r.inUseA !== 0 || r.inUseB !== 0) p.push(`TCBs left: A ${r.inUseA}, B ${r.inUseB}`)
  if (p.length === 0) return ''
  return `${o.dir}: ` + p.join('; ') + `\n  A: ${r.countersA}\n  B: ${r.countersB}\n  link: ${JSON.stringify(r.link)}`
}

function assertClean(r: TransferResult, o: Pick<TransferOptions, 'dir'>): void {
  const p = problems(r, o)
  if (p !== '') assert.fail(p)
}

describe('netsim harness', () => {
  test('the scheduler runs events in time order, same-time events in the order scheduled', () => {
    const s = new Scheduler()
    const seen: string[] = []
    s.at(30, () => seen.push('c'))
    s.at(10, () => seen.push('a1'))
    s.at(10, () => seen.push('a2'))
    s.after(20, () => { seen.push('b'); s.after(0, () => seen.push('b+0')) })
    s.schedule(() => seen.push('ms'), 0.04)
    s.runFor(1000)
    assert.deepEqual(seen, ['a1', 'a2', 'b', 'b+0', 'c', 'ms'])
    assert.equal(s.now, 1000)
  })

  /** UDP ping-pong A→B→A `n` times over a link with the given faults; returns what happened. */
  function udpPingPong(seed: number, faults: object, n: number, gapUs = 5000): { replies: number; lastReply: number; log: string } {
    const net = makeNetsim({ seed, faults })
    const { a, b, sched } = net
    const data = new Uint8Array(1000).fill(0x5a)
    const bId = b.stack.udp.open(7, (src, sport, _dst, d) => { b.stack.udp.send(bId, src, sport, d, sched.now) })
    let replies = 0
    let lastReply = 0
    const log: string[] = []
    const aId = a.stack.udp.open(4000, (_src, _sport, _dst, d) => { replies++; lastReply = sched.now; log.push(sched.now + ':' + d.length) })
    for (let i = 0; i < n; i++) {
      sched.at(i * gapUs, () => { a.stack.udp.send(aId, B_IP, 7, data, sched.now); a.kick() })
    }
    sched.runFor(n * gapUs + 1000000)
    return { replies, lastReply, log: log.join(' ') + JSON.stringify(net.link.stats) }
  }

  test('UDP over a clean link: every datagram echoed; timing follows the 10 Mbit/s line and 1 ms latency', () => {
    const r = udpPingPong(1, {}, 20)
    assert.equal(r.replies, 20)
    // The last request leaves at 95 ms: 2 × (1 ms + 1066 B × 8 / 10 Mbit/s = 0.85 ms) later its reply is back.
    const oneWay = 1000 + ((1000 + 8 + 20 + 14 + 24) * 8) / 10
    assert.ok(Math.abs(r.lastReply - (95000 + 2 * oneWay)) < 1, String(r.lastReply))
  })

  test('faults come from the seed: the same seed gives the same run, another seed another', () => {
    const faults = { loss: 0.1, dup: 0.05, reorder: 0.05, corrupt: 0.05, jitterMs: 2 }
    const r1 = udpPingPong(42, faults, 200, 50000)
    const r2 = udpPingPong(42, faults, 200, 50000)
    const r3 = udpPingPong(43, faults, 200, 50000)
    assert.equal(r1.log, r2.log)
    assert.notEqual(r1.log, r3.log)
    assert.ok(r1.replies > 100 && r1.replies < 200, String(r1.replies))
  })

  test('two wasm stacks do not share memory', () => {
    const net = makeNetsim({ seed: 1 })
    assert.notEqual(net.a.core.buffer, net.b.core.buffer)
    assert.equal(net.a.stack.addr, A_IP)
    assert.equal(net.b.stack.addr, B_IP)
  })
})

// ---- spinet against spinet: 1 MB each way, the goodput table ------------------------------------------------

const cells = new Map<string, Cell>()

describe('netsim TCP, spinet against spinet: 1,000,000 bytes each way (seeds 1, 2, 3), byte-exact, both TCBs freed', () => {
  for (const loss of TABLE_LOSSES) {
    for (const buf of TABLE_BUFFERS) {
      test(`${lossLabel(loss)} loss, ${bufLabel(buf)} buffers`, () => {
        const c = tableCell(loss, buf)
        cells.set(cellKey(loss, buf), c)
        const p: string[] = []
        TABLE_SEEDS.forEach((seed, k) => {
          for (const [dir, r] of [['up', c.up[k]], ['down', c.down[k]]] as const) {
            const q = problems(r, { dir })
            if (q !== '') p.push(`seed ${seed}, ` + q)
            // Well under a few seconds of real time per megabyte.
            if (r.realMs > 3000) p.push(`seed ${seed}, ${dir}: ${r.realMs} ms of real time`)
          }
        })
        if (p.length > 0) assert.fail(`${lossLabel(loss)} loss, ${bufLabel(buf)}:\n` + p.join('\n'))
      })
    }
  }

  test('the goodput table (kB/s of virtual time, up / down) matches test/tcp-netsim-goodput.snapshot.json', () => {
    for (const loss of TABLE_LOSSES) for (const buf of TABLE_BUFFERS) {
      if (!cells.has(cellKey(loss, buf))) cells.set(cellKey(loss, buf), tableCell(loss, buf))
    }
    const now = snapshotOf(cells)
    const table = goodputMarkdown(now)
    console.log('# netsim goodput, kB/s up / down (10 Mbit/s, 1 ms, 1,000,000 bytes, seeds 1-3):\n# ' + table.split('\n').join('\n# '))
    if (process.env.SPINET_UPDATE_SNAPSHOT === '1' || !fs.existsSync(SNAPSHOT)) {
      fs.writeFileSync(SNAPSHOT, JSON.stringify(now, null, 2) + '\n')
      console.log('# wrote ' + SNAPSHOT)
      return
    }
    const kept = JSON.parse(fs.readFileSync(SNAPSHOT, 'utf8')) as GoodputSnapshot
    const changes: string[] = []
    for (const loss of Object.keys(now.goodput)) {
      for (const buf of Object.keys(now.goodput[loss])) {
        for (const dir of ['up', 'down'] as const) {
          const was = kept.goodput[loss]?.[buf]?.[dir]
          const is = now.goodput[loss][buf][dir]
          if (was !== is) changes.push(`  ${loss} loss, ${buf}, ${dir}: ${was} -> ${is} kB/s`)
        }
      }
    }
    if (changes.length > 0) {
      assert.fail('the goodput table changed (if on purpose, rerun with SPINET_UPDATE_SNAPSHOT=1 and commit the snapshot):\n' +
        changes.join('\n') + '\nnow:\n' + table + '\nkept:\n' + goodputMarkdown(kept))
    }
  })
})

// ---- faults of every kind, both directions at once -------------------------------------------------------

const SCENARIOS: { name: string; faults: TransferOptions['faults'] }[] = [
  { name: '1% loss + 5% duplication', faults: { loss: 0.01, dup: 0.05 } },
  { name: '5% loss + 5% reordering', faults: { loss: 0.05, reorder: 0.05 } },
  { name: '10% loss + 5% corruption', faults: { loss: 0.1, corrupt: 0.05 } },
  { name: '1% loss + 20 ms delay with 5 ms jitter', faults: { loss: 0.01, delayMs: 20, jitterMs: 5 } },
  { name: '5% loss + 2% each of duplication, reordering, corruption + 2 ms jitter', faults: { loss: 0.05, dup: 0.02, reorder: 0.02, corrupt: 0.02, jitterMs: 2 } },
]

describe('netsim TCP, spinet against spinet: every fault, 1,000,000 bytes each way at the same time', () => {
  for (const s of SCENARIOS) {
    for (const buf of TABLE_BUFFERS) {
      for (const seed of [1, 2]) {
        test(`${s.name}, ${bufLabel(buf)} buffers, seed ${seed}`, () => {
          const o: TransferOptions = { seed, bytes: TABLE_BYTES, dir: 'both', bufBytes: buf, faults: s.faults }
          const r = runTransfer(o)
          assertClean(r, o)
          const l = r.link
          // The faults did happen.
          const f = s.faults!
          if (f.dup) assert.ok(l.out.duplicated + l.in.duplicated > 0)
          if (f.reorder) assert.ok(l.out.reordered + l.in.reordered > 0)
          if (f.corrupt) assert.ok(l.out.corrupted + l.in.corrupted > 0)
          if (f.loss) assert.ok(l.out.lost + l.in.lost > 0)
        })
      }
    }
  }

  test('the portable core gives exactly the run the wasm core gives', () => {
    const o: TransferOptions = { seed: 3, bytes: 300000, dir: 'both', bufBytes: 8192, faults: { loss: 0.02, dup: 0.01, reorder: 0.01, corrupt: 0.01 } }
    const w = runTransfer({ ...o, core: 'wasm' })
    const p = runTransfer({ ...o, core: 'portable' })
    assertClean(w, o)
    assertClean(p, o)
    assert.equal(p.doneUs, w.doneUs)
    assert.equal(p.countersA, w.countersA)
    assert.equal(p.countersB, w.countersB)
  })

  test('a run reproduces from its seed', () => {
    const o: TransferOptions = { seed: 9, bytes: 200000, dir: 'both', bufBytes: 65536, faults: { loss: 0.05, reorder: 0.05, jitterMs: 1 } }
    const r1 = runTransfer(o)
    const r2 = runTransfer(o)
    assert.equal(r1.doneUs, r2.doneUs)
    assert.equal(r1.events, r2.events)
    assert.equal(r1.countersA, r2.countersA)
    assert.deepEqual(r1.link, r2.link)
  })
})

// ---- through the simulated chips: the example firmware's services ---------------------------------------------

describe('netsim TCP through the simulated chips: 1,000,000 bytes to the example firmware\'s echo and discard services', () => {
  for (const chip of ['enc28j60', 'w5500'] as const) {
    for (const faults of [{}, { loss: 0.02, reorder: 0.02, dup: 0.01, corrupt: 0.01 }]) {
      for (const port of [7, 9] as const) {
        const what = `${chip}, ${port === 7 ? 'echo' : 'discard'}${Object.keys(faults).length > 0 ? ', 2% loss + 2% reordering + 1% duplication + 1% corruption' : ', clean link'}`
        test(what, () => {
          const r = runServiceTransfer({ seed: 4, chip, port, bytes: TABLE_BYTES, faults })
          const info = `\n  client: ${r.countersClient}\n  firmware: ${r.countersFirmware}`
          assert.ok(!r.timedOut, 'did not finish' + info)
          assert.equal(r.sent, TABLE_BYTES)
          if (port === 7) {
            assert.ok(r.exact, `echoed ${r.received} bytes, not the same ${TABLE_BYTES}` + info)
            assert.equal(r.tcpEchoBytes, TABLE_BYTES)
          } else {
            assert.equal(r.received, 0)
            assert.equal(r.tcpDiscardBytes, TABLE_BYTES, info)
          }
          assert.deepEqual(r.errs, [ERR_NONE], info)
          assert.equal(r.inUseClient + r.inUseFirmware, 0, 'TCBs left' + info)
        })
      }
    }
  }
})

// ---- the Node-like API (firmware/api/net.ts) on the netsim link ---------------------------------------------

/**
 * A 1 MB echo through createNet on both stacks: B is the echo server of net.ts's own header comment
 * (`sock.on('data', (d) => sock.write(d))`, or with `d.slice()`), A writes with 'drain' backpressure, ends,
 * and hashes what comes back.
 */
function netApiEcho(o: { seed: number; copy: boolean; loss: number; buf: number }): { got: number; exact: boolean; hadError: boolean | null; ended: boolean; inUse: number; errors: string[] } {
  const budget = { tcpRxBytes: o.buf, tcpTxBytes: o.buf }
  const { a, b, sched } = makeNetsim({ seed: o.seed, faults: { loss: o.loss }, budgetA: budget, budgetB: budget })
  const netA = createNet(a.stack, a.now)
  const netB = createNet(b.stack, b.now)
  const errors: string[] = []
  netB.createServer((sock) => {
    sock.on('data', (d: Uint8Array) => { sock.write(o.copy ? d.slice() : d) })
    sock.on('error', (e: Error & { code?: string }) => errors.push('server: ' + e.code))
  }).listen(7)
  const data = payload(TABLE_BYTES, o.seed + 40)
  const hash = createHash('sha256')
  let got = 0
  let hadError: boolean | null = null
  let ended = false
  const c = netA.connect({ host: ipStr(B_IP), port: 7 }, () => {
    let off = 0
    const pump = (): void => {
      while (off < data.length) {
        const ok = c.write(data.subarray(off, off + 4096))
        off += 4096
        if (!ok) return
      }
      c.end()
    }
    c.on('drain', pump)
    pump()
  })
  c.on('data', (d: Uint8Array) => { hash.update(d); got += d.length })
  c.on('end', () => { ended = true })
  c.on('close', (e: boolean) => { hadError = e })
  c.on('error', (e: Error & { code?: string }) => errors.push('client: ' + e.code))
  a.kick()
  const tcpA = attachTcp(a.stack)
  const tcpB = attachTcp(b.stack)
  sched.runUntil(() => hadError !== null && tcpA.inUse() === 0 && tcpB.inUse() === 0, 600e6)
  const exact = got === data.length && hash.digest('hex') === createHash('sha256').update(data).digest('hex')
  return { got, exact, hadError, ended, inUse: tcpA.inUse() + tcpB.inUse(), errors }
}

describe('netsim TCP through the Node-like API (firmware/api/net.ts): 1,000,000 bytes echoed', () => {
  for (const [loss, buf] of [[0, 8192], [0.05, 2048], [0.02, 65536]] as const) {
    test(`echo server copying its data (d.slice()), ${lossLabel(loss)} loss, ${bufLabel(buf)} buffers: byte-exact, 'end' and 'close', no TCB left`, () => {
      const r = netApiEcho({ seed: 2, copy: true, loss, buf })
      assert.deepEqual(r.errors, [])
      assert.ok(r.exact, `echoed ${r.got} bytes, not the same ${TABLE_BYTES}`)
      assert.ok(r.ended)
      assert.equal(r.hadError, false)
      assert.equal(r.inUse, 0)
    })
  }

  /**
   * firmware/api/net.ts's header shows `sock.on('data', (d) => sock.write(d))`. 'data' hands a view of the
   * receive ring, valid only while the listeners run, and Socket.write keeps the array it is given in its
   * queue when the send ring is full (net.ts: `this.queue.push(bytes)`, `this.queue[0] = b.subarray(n)`):
   * the queued bytes are the ring's, and new data overwrites them before they are sent.
   */
  test('the echo server of net.ts\'s own example, sock.write(d) with the \'data\' view, 5% loss, 2 KiB buffers: byte-exact', () => {
    const r = netApiEcho({ seed: 2, copy: false, loss: 0.05, buf: 2048 })
    assert.ok(r.exact, `the echo differs from what was sent (${r.got} bytes came back): write() queued a view of the ` +
      'receive ring, which was overwritten before it went into the send ring')
    assert.equal(r.inUse, 0)
  })
})

// ---- spinet against a scripted peer --------------------------------------------------------------------------

/** B listening on port 7 with a Recorder; `onConnect` may send. */
function listening(o: { seed?: number; budget?: object; onConnect?: (rig: PeerRig, id: number) => void } = {}): { rig: PeerRig; rec: Recorder } {
  const rig = makePeerRig({ seed: o.seed ?? 5, budget: o.budget })
  const rec = new Recorder()
  if (o.onConnect) rec.onConnectHook = (id) => o.onConnect!(rig, id)
  assert.ok(rig.tcp.listen(7, rec) >= 0)
  return { rig, rec }
}

function show(segs: Segment[]): string {
  return segs.map(segStr).join('\n')
}

describe('netsim TCP, spinet against a scripted peer', () => {
  test('a closed port answers RST (RFC 9293 §3.10.7.1): <SEQ=0><ACK=SEG.SEQ+SEG.LEN><RST,ACK>, or <SEQ=SEG.ACK><RST>', () => {
    const { rig } = listening()
    rig.peer.send({ dst: B_IP, sport: 40001, dport: 9999, seq: 5000, flags: SYN, window: 1000 })
    rig.run(5)
    let segs = rig.take()
    assert.equal(segs.length, 1, show(segs))
    assert.equal(segs[0].flags, RST | ACK)
    assert.equal(segs[0].seq, 0)
    assert.equal(segs[0].ack, 5001)
    assert.equal(segs[0].sport, 9999)
    rig.peer.send({ dst: B_IP, sport: 40001, dport: 9999, seq: 6000, ack: 777777, flags: ACK | PSH, data: new Uint8Array(10) })
    rig.run(5)
    segs = rig.take()
    assert.equal(segs.length, 1, show(segs))
    assert.equal(segs[0].flags, RST)
    assert.equal(segs[0].seq, 777777)
    // A RST to a closed port is not answered (RFC 9293 §3.10.7.1: "An incoming segment containing a RST is discarded").
    rig.peer.send({ dst: B_IP, sport: 40001, dport: 9999, seq: 6000, flags: RST })
    rig.run(5)
    assert.equal(rig.take().length, 0)
  })

  test('out-of-order segments: acknowledged at once with SACK blocks, delivered in order once the hole is filled', () => {
    const { rig, rec } = listening()
    const c = new PeerConn(rig, 40000, 7, 1000)
    c.handshake()
    const d = payload(3000, 5)
    c.send(ACK, { seq: seqAdd(c.sndNxt, 2000), data: d.subarray(2000, 3000) })
    rig.run(1)
    let segs = rig.take()
    assert.equal(segs.length, 1, 'an immediate duplicate ACK (RFC 5681 §4.2)\n' + show(segs))
    assert.equal(segs[0].ack, c.sndNxt)
    assert.deepEqual(segs[0].sack, [[seqAdd(c.sndNxt, 2000), seqAdd(c.sndNxt, 3000)]])
    c.send(ACK, { seq: seqAdd(c.sndNxt, 1000), data: d.subarray(1000, 2000) })
    rig.run(1)
    segs = rig.take()
    assert.equal(segs.length, 1, show(segs))
    assert.deepEqual(segs[0].sack, [[seqAdd(c.sndNxt, 1000), seqAdd(c.sndNxt, 3000)]])
    assert.equal(rec.bytes().length, 0, 'nothing delivered across a hole')
    c.data(d.subarray(0, 1000))
    c.sndNxt = seqAdd(c.sndNxt, 2000)
    rig.run(1)
    segs = rig.take()
    assert.equal(segs.length, 1, 'filling the hole is acknowledged at once\n' + show(segs))
    assert.equal(segs[0].ack, c.sndNxt)
    assert.deepEqual(segs[0].sack, [])
    assert.deepEqual(rec.bytes(), d)
  })

  test('overlapping and duplicate segments: every byte delivered once, in order', () => {
    const { rig, rec } = listening()
    const c = new PeerConn(rig, 40000, 7, 0xfffffc00) // the sequence numbers wrap through 2^32 in this test
    c.handshake()
    const d = payload(4000, 6)
    const base = c.sndNxt
    const at = (from: number, to: number): void => { c.send(ACK | PSH, { seq: seqAdd(base, from), data: d.subarray(from, to) }); rig.run(1) }
    at(0, 1000)
    at(500, 1500) // overlaps the delivered part
    at(2500, 3500) // out of order
    at(2000, 3000) // overlaps the held range from the left
    at(0, 1400) // all old
    at(1400, 2600) // fills the hole, overlapping both sides
    at(3000, 4000) // overlaps the end
    rig.run(300)
    assert.deepEqual(rec.bytes(), d)
    const last = rig.take().pop()!
    assert.equal(last.ack, seqAdd(base, 4000))
  })

  test('zero window: persist probes back off, nothing is sent beyond the window, the transfer resumes when it opens', () => {
    const data = payload(20000, 9)
    const { rig } = listening({ onConnect: (r, id) => { r.tcp.send(id, data, r.sched.now) } })
    const c = new PeerConn(rig, 40000, 7, 1000)
    c.handshake({ window: 4000 })
    rig.run(10)
    let segs = rig.take()
    c.receive(segs)
    assert.ok(c.got.length > 0 && c.got.length <= 4000, show(segs))
    // The reader stops: everything acknowledged, window 0.
    c.send(ACK, { window: 0 })
    const probes: number[] = []
    const t0 = rig.sched.now
    for (let i = 0; i < 120; i++) {
      rig.run(500)
      for (const s of rig.take()) {
        assert.ok(s.data.length <= 1, 'only one-byte probes while the window is shut: ' + segStr(s))
        if (s.data.length === 1) {
          assert.equal(s.seq, c.rcvNxt, 'the probe is the next byte')
          probes.push(Math.round((rig.sched.now - t0) / 1000))
          c.send(ACK, { window: 0 }) // not accepted, still shut: RFC 1122 §4.2.2.17 says the connection must stay
        }
      }
    }
    assert.ok(probes.length >= 4, 'probes at ' + probes.join(', ') + ' ms')
    const gaps = probes.slice(1).map((p, i) => p - probes[i])
    assert.ok(gaps[gaps.length - 1] > gaps[0], 'the probe interval backs off: ' + gaps.join(', '))
    assert.equal(rig.tcp.inUse(), 1, 'a peer that answers the probes keeps the connection')
    // The window opens (a reader that acknowledges every segment at once): the rest flows within a few RTTs.
    const opened = rig.sched.now
    const log: string[] = []
    c.send(ACK, { window: 8000 })
    for (let i = 0; i < 12000 && c.got.length < data.length; i++) {
      rig.run(10)
      segs = rig.take()
      for (const s of segs) log.push(Math.round((rig.sched.now - opened) / 1000) + ' ms ' + segStr(s))
      c.receive(segs)
      if (segs.some((s) => s.data.length > 0)) c.send(ACK, { window: 8000 })
    }
    assert.equal(c.got.length, data.length, 'the transfer did not finish in 120 s after the window opened:\n' + log.slice(0, 12).join('\n'))
    assert.deepEqual(Uint8Array.from(c.got), data)
    const took = (rig.sched.now - opened) / 1000
    // 16 KB at 10 Mbit/s is a few ms. The probe byte the peer refused while the window was shut must go again
    // as soon as the window opens, not at the next (backed-off, up to 60 s) persist timeout.
    assert.ok(took < 1000, `the rest took ${took} ms after the window opened:\n` + log.slice(0, 12).join('\n'))
  })

  test('RST (RFC 5961 §3.2): exactly at RCV.NXT resets; elsewhere in the window draws a challenge ACK; outside it is ignored', () => {
    const { rig, rec } = listening()
    const c = new PeerConn(rig, 40000, 7, 1000)
    c.handshake()
    c.data(new Uint8Array(100))
    rig.run(300)
    rig.take()
    c.send(RST, { seq: seqAdd(c.sndNxt, 1000) })
    rig.run(5)
    let segs = rig.take()
    assert.equal(segs.length, 1, 'a challenge ACK\n' + show(segs))
    assert.equal(segs[0].flags, ACK)
    assert.equal(segs[0].ack, c.sndNxt)
    assert.equal(rig.tcp.inUse(), 1)
    c.send(RST, { seq: seqAdd(c.sndNxt, 1000000) })
    rig.run(5)
    segs = rig.take()
    assert.ok(segs.every((s) => (s.flags & RST) === 0), show(segs))
    assert.equal(rig.tcp.inUse(), 1)
    assert.equal(rec.closes.length, 0, 'no close: ' + JSON.stringify(rec.closes))
    c.send(RST, { seq: c.sndNxt })
    rig.run(5)
    assert.equal(rig.take().length, 0, 'a RST is never answered')
    assert.deepEqual(rec.closes.map(([, e]) => e), [ERR_RESET])
    assert.equal(rig.tcp.inUse(), 0, 'the TCB is free')
  })

  test('a SYN on an established connection draws a challenge ACK and changes nothing (RFC 5961 §4.2)', () => {
    const { rig, rec } = listening()
    const c = new PeerConn(rig, 40000, 7, 1000)
    c.handshake()
    c.send(SYN, { seq: seqAdd(c.sndNxt, 50), ack: 0, options: tcpOptions({ mss: 1460 }) })
    rig.run(5)
    const segs = rig.take()
    assert.equal(segs.length, 1, show(segs))
    assert.equal(segs[0].flags, ACK)
    assert.equal(segs[0].ack, c.sndNxt)
    assert.equal(rig.tcp.inUse(), 1)
    assert.equal(rec.closes.length, 0, 'no close: ' + JSON.stringify(rec.closes))
  })

  test('the peer half-closes: the app hears end, may still send, and its own close completes the connection', () => {
    const { rig, rec } = listening()
    const c = new PeerConn(rig, 40000, 7, 1000)
    c.handshake()
    c.data(new Uint8Array([1, 2, 3]), undefined, ACK | PSH | FIN)
    c.sndNxt = seqAdd(c.sndNxt, 1)
    rig.run(5)
    assert.equal(rec.ends.length, 1)
    const id = rec.connects[0]
    assert.equal(rig.tcp.send(id, new Uint8Array([9, 9]), rig.sched.now), 2)
    rig.tcp.shutdown(id, rig.sched.now)
    rig.run(5)
    const segs = rig.take()
    const fin = segs.find((s) => (s.flags & FIN) !== 0)
    assert.ok(fin, show(segs))
    assert.deepEqual(Array.from(segs.filter((s) => s.data.length > 0).flatMap((s) => Array.from(s.data))), [9, 9])
    c.rcvNxt = seqAdd(fin.seq, fin.data.length + 1)
    c.send(ACK)
    rig.run(5)
    assert.deepEqual(rec.closes.map(([, e]) => e), [ERR_NONE])
    assert.equal(rig.tcp.inUse(), 0, 'LAST-ACK done: no TIME-WAIT on the passive closer')
  })
})

// ---- corner cases the netsim found in firmware/tcp (each stalled or slowed a transfer; kept as regressions) -----

describe('netsim TCP, retransmission corner cases found by the netsim', () => {
  /**
   * The peer's receive buffer is 8192 bytes and its reader is slow: it acknowledges everything with the window
   * that is left, keeping the right edge still. The last 892 bytes fill the window; their ACK is lost.
   */
  test('an RTO retransmits the oldest unacknowledged segment even when it is shorter than an MSS (RFC 6298 §5.4)', () => {
    const data = payload(20000, 9)
    const { rig, rec } = listening({ onConnect: (r, id) => { r.tcp.send(id, data, r.sched.now) } })
    const c = new PeerConn(rig, 40000, 7, 1000)
    c.handshake({ window: 8192 })
    const edge = seqAdd(c.rcvNxt, 8192)
    let tail: Segment | null = null
    let retransmitted: Segment | null = null
    const log: string[] = []
    for (let i = 0; i < 200 && retransmitted === null; i++) {
      rig.run(50)
      for (const s of rig.take()) {
        log.push(Math.round(rig.sched.now / 1000) + ' ms ' + segStr(s))
        if (tail !== null) {
          if (s.seq === tail.seq && s.data.length > 0) retransmitted = s
          continue
        }
        if (s.data.length > 0 && s.seq === c.rcvNxt) {
          if (seqAdd(s.seq, s.data.length) === edge) { tail = s; continue } // this ACK is lost
          c.rcvNxt = seqAdd(s.seq, s.data.length)
          c.send(ACK, { window: seqDiff(edge, c.rcvNxt) })
        }
      }
    }
    assert.ok(tail !== null, 'the window filled\n' + log.join('\n'))
    assert.ok(retransmitted !== null, `the ${tail.data.length}-byte segment at ${tail.seq} is never retransmitted in 10 s ` +
      `(the connection dies of "timeout" after maxRetries without sending anything):\n` + log.slice(-6).join('\n'))
    assert.equal(rec.closes.length, 0, 'no close: ' + JSON.stringify(rec.closes))
  })

  /**
   * Window updates reordered: the stack first sees "ack X win 8192", sends a segment, then the older
   * "ack X win 0" arrives (same SEQ and ACK, so RFC 9293's SND.WL1/WL2 test takes it), and the ACK of the
   * segment is lost. Data is outstanding, so there is no persist timer: only the RTO can recover.
   */
  test('an RTO retransmits while the send window is zero (RFC 9293 §3.8.6.1: "retransmit ... even if the send window is zero")', () => {
    const data = payload(20000, 10)
    const { rig, rec } = listening({ onConnect: (r, id) => { r.tcp.send(id, data, r.sched.now) } })
    const c = new PeerConn(rig, 40000, 7, 1000)
    c.handshake({ window: 1460 })
    rig.run(10)
    let segs = rig.take()
    assert.equal(segs.length, 1, show(segs))
    assert.equal(segs[0].data.length, 1460)
    c.rcvNxt = seqAdd(segs[0].seq, 1460)
    c.send(ACK, { window: 1460 })
    rig.run(2)
    segs = rig.take()
    assert.equal(segs.length, 1, show(segs))
    const second = segs[0]
    c.send(ACK, { window: 0 }) // the stale zero window, reordered behind the update
    const log: string[] = []
    let again = false
    for (let i = 0; i < 100 && !again; i++) {
      rig.run(100)
      for (const s of rig.take()) {
        log.push(Math.round(rig.sched.now / 1000) + ' ms ' + segStr(s))
        if (s.seq === second.seq && s.data.length > 0) again = true
      }
    }
    assert.ok(again, 'the outstanding segment (or a probe of it) must be retransmitted within 10 s; sent:\n' + log.join('\n'))
    assert.equal(rec.closes.length, 0, 'no close: ' + JSON.stringify(rec.closes))
  })

  /**
   * The stack holds out-of-order data from the peer, so its segments carry a SACK option (12 bytes for one
   * block) and can hold at most MSS − 12 bytes of data. Nagle and sender-SWS must measure "full-sized"
   * against that effective MSS (RFC 9293 §3.7.1 Eff.snd.MSS, §3.8.6.2.1 "if a maximum-sized segment can be
   * sent"), or every segment looks short.
   */
  test('segments that carry SACK blocks are full-sized for Nagle and SWS avoidance (RFC 9293 §3.7.1, §3.8.6.2.1)', () => {
    const data = payload(40000, 11)
    let conn = -1
    const { rig } = listening({ onConnect: (_r, id) => { conn = id } })
    const c = new PeerConn(rig, 40000, 7, 1000)
    c.handshake({ window: 65535 })
    // A hole in what the peer sends: the stack now has a SACK block to report.
    c.send(ACK | PSH, { seq: seqAdd(c.sndNxt, 100), data: new Uint8Array(100) })
    rig.run(2)
    rig.take()
    assert.ok(rig.tcp.send(conn, data, rig.sched.now) > 0)
    rig.run(10) // three full frames take 3.7 ms on the 10 Mbit/s line
    const segs = rig.take().filter((s) => s.data.length > 0)
    assert.ok(segs.every((s) => s.sack.length === 1), show(segs))
    assert.ok(segs.length >= 2, 'the initial window (RFC 5681 §3.1: 3 segments for MSS 1460) goes out at once; with a ' +
      `SACK block held, ${segs.length} segment(s) of at most ${1460 - 12} bytes left in 10 ms:\n` + show(segs))
  })

  /**
   * After an RTO the stack rewinds SND.NXT to SND.UNA (go-back-N). A pure ACK must still carry the
   * sequence number of the next new byte (SND.MAX, as BSD's tcp_output does): the peer may have received
   * everything up to SND.MAX, and by RFC 9293 §3.10.7.4 a zero-length segment is acceptable only when
   * RCV.NXT =< SEG.SEQ < RCV.NXT + RCV.WND, so an ACK with a rewound SEQ is dropped unread. When both ends
   * are retransmitting (a bidirectional transfer) neither accepts the other's ACKs and the connection dies.
   */
  test('a pure ACK sent after an RTO carries SEQ = SND.MAX, acceptable to a peer that received everything', () => {
    const data = payload(4380, 12)
    const { rig } = listening({ onConnect: (r, id) => { r.tcp.send(id, data, r.sched.now) } })
    const c = new PeerConn(rig, 40000, 7, 1000)
    c.handshake({ window: 65535 })
    rig.run(5)
    const first = rig.take().filter((s) => s.data.length > 0)
    assert.ok(first.length >= 2, show(first))
    const sndMax = seqAdd(first[first.length - 1].seq, first[first.length - 1].data.length)
    // The peer got all of it, but its ACKs are lost: the stack times out and retransmits from SND.UNA.
    let rtx: Segment | undefined
    for (let i = 0; i < 300 && rtx === undefined; i++) {
      rig.run(10)
      rtx = rig.take().find((s) => s.seq === first[0].seq && s.data.length > 0)
    }
    assert.ok(rtx, 'an RTO retransmission within 3 s')
    // Out-of-order data from the peer draws an immediate ACK (RFC 5681 §4.2): a pure ACK.
    c.send(ACK | PSH, { seq: seqAdd(c.sndNxt, 100), ack: first[0].seq, data: new Uint8Array(10) })
    rig.run(2)
    const acks = rig.take().filter((s) => s.data.length === 0 && (s.flags & (SYN | FIN | RST)) === 0)
    assert.equal(acks.length, 1, 'one immediate duplicate ACK')
    assert.equal(acks[0].seq, sndMax, `the ACK's SEQ is ${seqDiff(acks[0].seq, sndMax)} from SND.MAX (${segStr(acks[0])}): ` +
      'a peer with RCV.NXT = SND.MAX drops it as unacceptable (RFC 9293 §3.10.7.4 first check) and never reads its ACK field')
  })

  test('a bidirectional transfer with 5% loss and 5% reordering, 64 KiB buffers, seed 1, does not deadlock (it did while RTOs were held back by SWS avoidance and pure ACKs carried a rewound SEQ)', () => {
    const o: TransferOptions = { seed: 1, bytes: TABLE_BYTES, dir: 'both', bufBytes: 65536, faults: { loss: 0.05, reorder: 0.05 } }
    assertClean(runTransfer(o), o)
  })
})

