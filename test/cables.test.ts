// Host cables without privileges: pcap recording (checked byte by byte), the in-memory wire pair, the
// seeded fault injector (deterministic, rates roughly right over 10,000 frames) and the UDP cable over
// loopback.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import dgram from 'node:dgram'
import type { Cable } from '../hal/host/cable.js'
import { recordPcap, readPcap, pcapGlobalHeader } from '../hal/host/pcap.js'
import { wirePair, faultyCable, seededRandom, FaultOptions } from '../hal/host/faulty-wire.js'
import { openUdpCable } from '../hal/host/udp-cable.js'

/** A virtual-time scheduler: callbacks run in deadline order (FIFO for equal deadlines) when run() is called. */
class VirtualScheduler {
  now = 0
  private seq = 0
  private queue: { at: number; seq: number; fn: () => void }[] = []
  readonly schedule = (fn: () => void, ms: number): void => {
    this.queue.push({ at: this.now + Math.max(0, ms), seq: this.seq++, fn })
  }
  /** Runs everything due up to `until` (default: until the queue is empty). */
  run(until = Infinity): void {
    for (;;) {
      let best = -1
      for (let i = 0; i < this.queue.length; i++) {
        const e = this.queue[i]
        if (e.at > until) continue
        if (best < 0 || e.at < this.queue[best].at || (e.at === this.queue[best].at && e.seq < this.queue[best].seq)) best = i
      }
      if (best < 0) break
      const [e] = this.queue.splice(best, 1)
      this.now = Math.max(this.now, e.at)
      e.fn()
    }
    if (until !== Infinity) this.now = Math.max(this.now, until)
  }
  get pending(): number { return this.queue.length }
}

/** A 60-byte frame carrying `seq` in bytes 14..17, the rest a pattern (checks corruption). */
function numbered(seq: number, len = 60): Uint8Array {
  const f = new Uint8Array(len)
  for (let i = 0; i < len; i++) f[i] = (i * 7 + 3) & 0xff
  f[14] = seq >>> 24; f[15] = (seq >>> 16) & 0xff; f[16] = (seq >>> 8) & 0xff; f[17] = seq & 0xff
  return f
}
const seqOf = (f: Uint8Array): number => ((f[14] << 24) | (f[15] << 16) | (f[16] << 8) | f[17]) >>> 0

function bitsDiffer(a: Uint8Array, b: Uint8Array): number {
  let n = 0
  for (let i = 0; i < a.length; i++) for (let x = a[i] ^ b[i]; x !== 0; x &= x - 1) n++
  return n
}

const tmpDirs: string[] = []
function tmpFile(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spinet-cables-'))
  tmpDirs.push(dir)
  return path.join(dir, name)
}
after(() => { for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true }) })

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

// ---- pcap -----------------------------------------------------------------------------------------------

test('pcap: global header is the classic little-endian microsecond Ethernet header', () => {
  assert.deepEqual([...pcapGlobalHeader()], [
    0xd4, 0xc3, 0xb2, 0xa1, // magic 0xa1b2c3d4 written little-endian
    0x02, 0x00, 0x04, 0x00, // version 2.4
    0, 0, 0, 0, // thiszone
    0, 0, 0, 0, // sigfigs
    0xff, 0xff, 0x00, 0x00, // snaplen 65535
    0x01, 0x00, 0x00, 0x00, // LINKTYPE_ETHERNET
  ])
})

test('pcap: both directions recorded in order with virtual timestamps, byte for byte', async () => {
  const file = tmpFile('both.pcap')
  const sched = new VirtualScheduler()
  const [a, b] = wirePair({ schedule: sched.schedule })
  let clockUs = 1_700_000_000_123_456 // a microsecond clock (the stack's Clock unit)
  const rec = recordPcap(a, file, { clock: { now: () => clockUs } })
  const gotA: Uint8Array[] = []
  const gotB: Uint8Array[] = []
  rec.onFrame = (f) => gotA.push(f)
  b.onFrame = (f) => gotB.push(f)

  const f1 = numbered(1)
  const f2 = numbered(2, 1514)
  const f3 = numbered(3, 64)
  rec.send(f1) // out at t0
  sched.run()
  clockUs += 2_500_001 // +2.500001 s
  b.send(f2) // in
  sched.run()
  clockUs += 999_999
  rec.send(f3) // out
  sched.run()
  assert.equal(gotB.length, 2)
  assert.equal(gotA.length, 1)
  assert.equal(rec.frames, 3)
  rec.close()

  const bytes = fs.readFileSync(file)
  assert.equal(bytes.length, 24 + (16 + 60) + (16 + 1514) + (16 + 64))
  assert.deepEqual([...bytes.subarray(0, 24)], [...pcapGlobalHeader()])
  // First record header by hand: ts_sec, ts_usec, incl_len, orig_len, little-endian u32.
  const expectHeader = (o: number, sec: number, usec: number, len: number): void => {
    const h = Buffer.alloc(16)
    h.writeUInt32LE(sec, 0); h.writeUInt32LE(usec, 4); h.writeUInt32LE(len, 8); h.writeUInt32LE(len, 12)
    assert.deepEqual([...bytes.subarray(o, o + 16)], [...h], 'record header at ' + o)
  }
  let o = 24
  expectHeader(o, 1_700_000_000, 123_456, 60)
  assert.deepEqual([...bytes.subarray(o + 16, o + 16 + 60)], [...f1]); o += 16 + 60
  expectHeader(o, 1_700_000_002, 623_457, 1514)
  assert.deepEqual([...bytes.subarray(o + 16, o + 16 + 1514)], [...f2]); o += 16 + 1514
  expectHeader(o, 1_700_000_003, 623_456, 64)
  assert.deepEqual([...bytes.subarray(o + 16, o + 16 + 64)], [...f3])

  const parsed = readPcap(bytes)
  assert.equal(parsed.linktype, 1)
  assert.equal(parsed.snaplen, 65535)
  assert.deepEqual(parsed.records.map((r) => seqOf(r.data)), [1, 2, 3])
})

test('pcap: frames longer than the snaplen are cut, orig_len keeps the real length; buffered data is flushed', () => {
  const file = tmpFile('big.pcap')
  const [a, b] = wirePair()
  const rec = recordPcap(a, file, { clock: () => 5, bufferBytes: 100 })
  rec.send(new Uint8Array(70000).fill(0xab))
  rec.send(numbered(9))
  // bufferBytes 100: the big record went to disk at once; the small one is still buffered.
  assert.equal(fs.statSync(file).size, 24 + 16 + 65535)
  rec.flush()
  assert.equal(fs.statSync(file).size, 24 + 16 + 65535 + 16 + 60)
  rec.close()
  b.close()
  const { records } = readPcap(fs.readFileSync(file))
  assert.equal(records[0].data.length, 65535)
  assert.equal(records[0].origLen, 70000)
  assert.equal(records[0].tsSec, 0)
  assert.equal(records[0].tsUsec, 5)
  assert.equal(seqOf(records[1].data), 9)
})

test('pcap: the wrapped cable passes frames through unchanged and close closes the inner cable', async () => {
  const file = tmpFile('pass.pcap')
  const [a, b] = wirePair()
  let innerClosed = false
  const inner: Cable = { name: a.name, onFrame: null, send: (f) => a.send(f), close: () => { innerClosed = true; a.close() } }
  a.onFrame = (f) => inner.onFrame?.(f)
  const rec = recordPcap(inner, file)
  assert.equal(rec.name, 'wire:a')
  const got: number[] = []
  rec.onFrame = (f) => got.push(seqOf(f))
  b.send(numbered(42))
  await tick()
  assert.deepEqual(got, [42])
  rec.close()
  assert.ok(innerClosed)
  const { records } = readPcap(fs.readFileSync(file))
  assert.equal(records.length, 1)
  const now = Date.now() / 1000
  assert.ok(Math.abs(records[0].tsSec - now) < 60, 'wall-clock timestamp by default')
})

// ---- wirePair -------------------------------------------------------------------------------------------

test('wirePair: delivers both ways, in order, never during send, from a copy', async () => {
  const [a, b] = wirePair()
  const atA: number[] = []
  const atB: number[] = []
  a.onFrame = (f) => atA.push(seqOf(f))
  b.onFrame = (f) => {
    assert.ok(f instanceof Uint8Array && !Buffer.isBuffer(f), 'a plain Uint8Array')
    atB.push(seqOf(f))
  }
  const reused = numbered(1)
  a.send(reused)
  reused[17] = 2 // the sender reuses its buffer at once
  a.send(reused)
  b.send(numbered(100))
  assert.deepEqual(atB, [], 'not delivered synchronously')
  await tick()
  await tick()
  assert.deepEqual(atB, [1, 2])
  assert.deepEqual(atA, [100])

  b.close()
  a.send(numbered(3))
  b.send(numbered(101))
  await tick()
  assert.deepEqual(atB, [1, 2], 'a closed end receives nothing')
  assert.deepEqual(atA, [100], 'a closed end sends nothing')
})

test('wirePair: a virtual scheduler and a propagation delay', () => {
  const sched = new VirtualScheduler()
  const [a, b] = wirePair({ schedule: sched.schedule, delayMs: 5 })
  const got: [number, number][] = []
  b.onFrame = (f) => got.push([sched.now, seqOf(f)])
  a.send(numbered(1))
  sched.run(3)
  a.send(numbered(2))
  sched.run()
  assert.deepEqual(got, [[5, 1], [8, 2]])
})

// ---- faultyCable ----------------------------------------------------------------------------------------

/** Sends `n` numbered frames A -> faulty(A) -> wire -> B in virtual time; returns what B got. */
function runFaulty(opts: FaultOptions, n: number, direction: 'out' | 'in' = 'out') {
  const sched = new VirtualScheduler()
  const [a, b] = wirePair({ schedule: sched.schedule })
  const received: Uint8Array[] = []
  let faulty
  if (direction === 'out') {
    faulty = faultyCable(a, opts, sched.schedule)
    b.onFrame = (f) => received.push(f)
    for (let i = 0; i < n; i++) { faulty.send(numbered(i)); if (i % 16 === 15) sched.run(sched.now + 1) }
  } else {
    faulty = faultyCable(b, opts, { schedule: sched.schedule })
    faulty.onFrame = (f) => received.push(f)
    for (let i = 0; i < n; i++) { a.send(numbered(i)); if (i % 16 === 15) sched.run(sched.now + 1) }
  }
  sched.run()
  return { received, stats: faulty.stats, sched }
}

function summary(received: Uint8Array[]) {
  const seqs = received.map(seqOf)
  const seen = new Map<number, number>()
  let inversions = 0
  let corrupted = 0
  for (let i = 0; i < received.length; i++) {
    const s = seqs[i]
    seen.set(s, (seen.get(s) ?? 0) + 1)
    if (i > 0 && s < seqs[i - 1] && s !== seqs[i - 1]) inversions++
  }
  for (const f of received) {
    // A flipped bit in the sequence field would misnumber the frame: compare with its own clean copy.
    const d = bitsDiffer(f, numbered(seqOf(f)))
    if (d > 0) corrupted++
  }
  const unique = seen.size
  const dups = [...seen.values()].filter((c) => c > 1).length
  return { seqs, unique, dups, inversions, corrupted }
}

test('faultyCable: the same seed gives the same faults, another seed different ones', () => {
  const opts = { loss: 0.1, dup: 0.05, reorder: 0.05, corrupt: 0.05, delayMs: 2, jitterMs: 3, seed: 1234 }
  const run1 = runFaulty(opts, 2000)
  const run2 = runFaulty(opts, 2000)
  const hex = (r: Uint8Array[]): string[] => r.map((f) => Buffer.from(f).toString('hex'))
  assert.deepEqual(hex(run1.received), hex(run2.received))
  assert.deepEqual(run1.stats, run2.stats)
  const run3 = runFaulty({ ...opts, seed: 4321 }, 2000)
  assert.notDeepEqual(hex(run1.received), hex(run3.received))

  const a = seededRandom(7)
  const b = seededRandom(7)
  for (let i = 0; i < 100; i++) assert.equal(a(), b())
})

test('faultyCable: loss, dup, reorder and corrupt rates over 10,000 frames, each way', () => {
  const N = 10000
  for (const direction of ['out', 'in'] as const) {
    const loss = summary(runFaulty({ loss: 0.1, seed: 1 }, N, direction).received)
    assert.ok(loss.unique > N * 0.86 && loss.unique < N * 0.94, `${direction} loss: ${N - loss.unique} lost`)
    assert.equal(loss.dups, 0)
    assert.equal(loss.inversions, 0)

    const dup = runFaulty({ dup: 0.1, seed: 2 }, N, direction)
    const ds = summary(dup.received)
    assert.equal(ds.unique, N)
    assert.ok(ds.dups > N * 0.08 && ds.dups < N * 0.12, `${direction} dup: ${ds.dups}`)
    assert.equal(dup.received.length, N + ds.dups)
    assert.equal(dup.stats[direction].duplicated, ds.dups)

    const reorder = runFaulty({ reorder: 0.1, seed: 3 }, N, direction)
    const rs = summary(reorder.received)
    assert.equal(rs.unique, N)
    assert.equal(reorder.received.length, N)
    // Every held frame comes right after its successor: one inversion per reordered frame.
    assert.ok(rs.inversions > N * 0.07 && rs.inversions < N * 0.12, `${direction} reorder: ${rs.inversions}`)
    for (let i = 1; i < rs.seqs.length; i++) {
      if (rs.seqs[i] < rs.seqs[i - 1]) assert.equal(rs.seqs[i - 1] - rs.seqs[i], 1, 'released right after the next one')
    }

    const corrupt = runFaulty({ corrupt: 0.1, seed: 4 }, N, direction)
    const cs = summary(corrupt.received)
    assert.equal(corrupt.received.length, N)
    const flipped = corrupt.stats[direction].corrupted
    assert.ok(flipped > N * 0.08 && flipped < N * 0.12, `${direction} corrupt: ${flipped}`)
    // A flip inside the 4-byte sequence field makes the frame look like another clean frame: the check
    // below sees the other 56 of 60 bytes.
    assert.ok(cs.corrupted <= flipped && cs.corrupted > flipped * 0.85, `${direction} corrupt seen ${cs.corrupted} of ${flipped}`)
  }
})

test('faultyCable: corruption flips exactly one bit in a copy, the sender keeps its frame', () => {
  const sched = new VirtualScheduler()
  const [a, b] = wirePair({ schedule: sched.schedule })
  const f = faultyCable(a, { corrupt: 1, seed: 9 }, sched.schedule)
  const got: Uint8Array[] = []
  b.onFrame = (x) => got.push(x)
  const sent: Uint8Array[] = []
  for (let i = 0; i < 200; i++) {
    const frame = numbered(i)
    sent.push(frame)
    f.send(frame)
  }
  sched.run()
  assert.equal(got.length, 200)
  for (let i = 0; i < 200; i++) {
    assert.equal(bitsDiffer(sent[i], numbered(i)), 0, 'sender buffer untouched')
    // The flipped bit may be in the sequence field: compare with what was sent at that position.
    assert.equal(bitsDiffer(got[i], sent[i]), 1)
  }
})

test('faultyCable: a held frame with no successor is released after holdMs; delay and jitter use the scheduler', () => {
  const sched = new VirtualScheduler()
  const [a, b] = wirePair({ schedule: sched.schedule })
  const f = faultyCable(a, { reorder: 1, holdMs: 50, seed: 1 }, sched.schedule)
  const got: [number, number][] = []
  b.onFrame = (x) => got.push([sched.now, seqOf(x)])
  f.send(numbered(1))
  sched.run(10)
  assert.deepEqual(got, [])
  f.send(numbered(2)) // releases 1 right after it (2 is not held: only one frame is held at a time)
  sched.run(20)
  assert.deepEqual(got.map((g) => g[1]), [2, 1])
  f.send(numbered(3)) // held again, nobody follows
  sched.run()
  assert.deepEqual(got.map((g) => g[1]), [2, 1, 3])
  assert.equal(got[2][0], 70, 'released at 20 + holdMs')

  const s2 = new VirtualScheduler()
  const [c, d] = wirePair({ schedule: s2.schedule })
  const slow = faultyCable(c, { delayMs: 40, seed: 5 }, s2.schedule)
  const times: number[] = []
  d.onFrame = () => times.push(s2.now)
  slow.send(numbered(1))
  s2.run()
  assert.deepEqual(times, [40])

  const s3 = new VirtualScheduler()
  const [e, g] = wirePair({ schedule: s3.schedule })
  const jittery = faultyCable(e, { delayMs: 10, jitterMs: 5, seed: 5 }, s3.schedule)
  const jt: number[] = []
  g.onFrame = () => jt.push(s3.now)
  for (let i = 0; i < 100; i++) jittery.send(numbered(i))
  s3.run()
  assert.equal(jt.length, 100)
  for (const t of jt) assert.ok(t >= 10 && t < 15, 'delay within [delayMs, delayMs + jitterMs): ' + t)
})

test('faultyCable: works with real timers, close stops delivery, bad options are refused', async () => {
  const [a, b] = wirePair()
  const f = faultyCable(a, { delayMs: 1, seed: 3 })
  const got: number[] = []
  b.onFrame = (x) => got.push(seqOf(x))
  f.send(numbered(1))
  await new Promise((resolve) => setTimeout(resolve, 20))
  assert.deepEqual(got, [1])
  f.send(numbered(2))
  f.close()
  await new Promise((resolve) => setTimeout(resolve, 20))
  assert.deepEqual(got, [1])
  assert.throws(() => faultyCable(wirePair()[0], { loss: 1.5 }), /probability/)
  assert.equal(faultyCable(wirePair()[0], {}).name, 'faulty(wire:a)')
})

// ---- UDP cable ------------------------------------------------------------------------------------------

async function freePort(): Promise<number> {
  const s = dgram.createSocket('udp4')
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve))
  const port = s.address().port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}

function nextFrame(c: Cable, timeoutMs = 2000): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no frame on ' + c.name)), timeoutMs)
    c.onFrame = (f) => { clearTimeout(timer); c.onFrame = null; resolve(f) }
  })
}

test('UDP cable: two cables over loopback exchange frames, one per datagram', async () => {
  const pa = await freePort()
  const pb = await freePort()
  const a = await openUdpCable(pa, '127.0.0.1', pb)
  const b = await openUdpCable(pb, '127.0.0.1', pa)
  try {
    assert.equal(a.localPort, pa)
    assert.match(a.name, /^udp:127\.0\.0\.1:\d+->127\.0\.0\.1:\d+$/)
    const fromA = nextFrame(b)
    const frame = numbered(77, 1514)
    a.send(frame)
    frame.fill(0) // reused at once by the sender
    const got = await fromA
    assert.ok(!Buffer.isBuffer(got), 'a plain Uint8Array')
    assert.deepEqual([...got], [...numbered(77, 1514)])

    const fromB = nextFrame(a)
    b.send(numbered(78, 9000)) // jumbo frames fit in one loopback datagram
    assert.equal(seqOf(await fromB), 78)

    // Many frames keep their boundaries and order on loopback.
    const seqs: number[] = []
    const all = new Promise<void>((resolve) => {
      b.onFrame = (f) => { seqs.push(seqOf(f)); if (seqs.length === 200) resolve() }
    })
    for (let i = 0; i < 200; i++) a.send(numbered(i, 60 + i))
    await all
    assert.deepEqual(seqs, [...Array(200).keys()])
    assert.equal(b.stats.rxFrames, 201)

    // A datagram from another port, or one too short to be a frame, is ignored.
    const stranger = dgram.createSocket('udp4')
    await new Promise<void>((resolve) => stranger.bind(0, '127.0.0.1', resolve))
    let extra = 0
    b.onFrame = () => { extra++ }
    await new Promise<void>((resolve) => stranger.send(Buffer.from(numbered(5)), pb, '127.0.0.1', () => resolve()))
    stranger.close()
    a.send(new Uint8Array(10))
    await new Promise((resolve) => setTimeout(resolve, 50))
    assert.equal(extra, 0)
    assert.equal(b.stats.ignored, 2)
  } finally {
    a.close()
    b.close()
  }
  a.send(numbered(1)) // after close: a no-op, no throw
})

test('UDP cable: binding a busy port fails with a clear error; port 0 picks one', async () => {
  const a = await openUdpCable(0, '127.0.0.1', 9)
  try {
    assert.ok(a.localPort > 0)
    await assert.rejects(openUdpCable(a.localPort, '127.0.0.1', 9), /cannot bind 127\.0\.0\.1:\d+/)
  } finally {
    a.close()
  }
})

test('UDP cable: works under faults and pcap together (a stack of wrappers)', async () => {
  const pa = await freePort()
  const pb = await freePort()
  const file = tmpFile('udp.pcap')
  const a = recordPcap(faultyCable(await openUdpCable(pa, '127.0.0.1', pb), { dup: 1, seed: 1 }), file)
  const b = await openUdpCable(pb, '127.0.0.1', pa)
  try {
    const got: number[] = []
    const two = new Promise<void>((resolve) => { b.onFrame = (f) => { got.push(seqOf(f)); if (got.length === 2) resolve() } })
    a.send(numbered(5))
    await two
    assert.deepEqual(got, [5, 5])
  } finally {
    a.close()
    b.close()
  }
  assert.equal(readPcap(fs.readFileSync(file)).records.length, 1, 'pcap sees the frame once, before the faults')
})
