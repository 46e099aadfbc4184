// In-memory cables and fault injection for tests and board-to-board simulation. Host only.
//
//   wirePair()            two Cables joined back to back (what one sends, the other receives)
//   faultyCable(inner, o) a Cable that loses, duplicates, reorders, corrupts and delays frames in both
//                         directions, from a seeded PRNG: the same seed and the same traffic give the same
//                         faults, so a failing netsim run reproduces.
//
// Both take a scheduler `schedule(fn, ms)`: real timers by default, a virtual-time scheduler in netsim
// tests (the kernel here has no netem qdisc, so this is the project's only lossy link).
import type { Cable, ScheduleFn } from './cable.js'
import { realSchedule } from './cable.js'

/** Either a bare schedule function or an object carrying one (e.g. a netsim's virtual scheduler). */
export type Timers = ScheduleFn | { schedule: ScheduleFn }

function scheduleOf(t: Timers | undefined): ScheduleFn {
  if (t === undefined) return realSchedule
  return typeof t === 'function' ? t : (fn, ms) => t.schedule(fn, ms)
}

// ---- deterministic random numbers ---------------------------------------------------------------------

/** splitmix32 step: spreads a seed so nearby seeds give unrelated streams. */
function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0
  let z = x
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

/** sfc32 (Chris Doty-Humphrey's Small Fast Counting generator): a float in [0, 1) per call. */
export function seededRandom(seed: number): () => number {
  let a = splitmix32(seed)
  let b = splitmix32(a)
  let c = splitmix32(b)
  let d = 1
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return (t >>> 0) / 4294967296
  }
  for (let i = 0; i < 12; i++) next()
  return next
}

// ---- wirePair ------------------------------------------------------------------------------------------

export interface WirePairOptions {
  /** Delivery scheduler (default: setImmediate / setTimeout). Delivery is never synchronous with send. */
  schedule?: Timers
  /** Propagation delay in milliseconds (default 0: next scheduler turn). */
  delayMs?: number
  /** Names of the two ends (default 'wire:a', 'wire:b'). */
  names?: [string, string]
}

/**
 * Two connected Cables. A frame sent on one end is copied at once (the sender may reuse its buffer) and
 * delivered to the other end's onFrame on a later scheduler turn, in order. Closing an end stops it from
 * sending and receiving; frames in flight to a closed end are dropped.
 */
export function wirePair(opts: WirePairOptions = {}): [Cable, Cable] {
  const schedule = scheduleOf(opts.schedule)
  const delay = opts.delayMs ?? 0
  const [nameA, nameB] = opts.names ?? ['wire:a', 'wire:b']
  const closed = [false, false]
  const ends: Cable[] = []
  const make = (me: number, name: string): Cable => ({
    name,
    onFrame: null,
    send(frame: Uint8Array): void {
      if (closed[me]) return
      const copy = new Uint8Array(frame)
      const peer = 1 - me
      schedule(() => {
        if (closed[peer]) return
        const handler = ends[peer].onFrame
        if (handler !== null) handler(copy)
      }, delay)
    },
    close(): void { closed[me] = true },
  })
  ends.push(make(0, nameA), make(1, nameB))
  return [ends[0], ends[1]]
}

// ---- faultyCable ---------------------------------------------------------------------------------------

export interface FaultOptions {
  /** Probability that a frame is dropped. */
  loss?: number
  /** Probability that a frame is delivered twice. */
  dup?: number
  /** Probability that a frame is held back and released right after the next frame in its direction. */
  reorder?: number
  /** Probability that one random bit of the frame is flipped (in a copy; the sender's buffer is untouched). */
  corrupt?: number
  /** Fixed one-way delay in milliseconds added to every frame (default 0: synchronous). */
  delayMs?: number
  /** Extra random delay in [0, jitterMs) per frame; jitter larger than the frame spacing also reorders. */
  jitterMs?: number
  /** A held (reordered) frame with no successor is released after this many milliseconds (default 20). */
  holdMs?: number
  /** PRNG seed (default 1). Each direction draws from its own stream derived from it. */
  seed?: number
  /** Which directions get the faults: 'both' (default), 'out' (send) or 'in' (receive). */
  directions?: 'both' | 'out' | 'in'
}

export interface FaultStats {
  /** Frames that entered this direction. */
  frames: number
  lost: number
  duplicated: number
  reordered: number
  corrupted: number
  /** Frames handed on (duplicates counted twice). */
  delivered: number
}

export interface FaultyCable extends Cable {
  /** Counters for frames we send (`out`) and frames we receive (`in`). */
  readonly stats: { out: FaultStats; in: FaultStats }
}

function checkProbability(name: string, p: number | undefined): number {
  const v = p ?? 0
  if (!(v >= 0 && v <= 1)) throw new Error(`faultyCable: ${name} must be a probability in [0, 1], got ${p}`)
  return v
}

/** One direction of the wire: its own PRNG, its own held frame, its own counters. */
class Lane {
  readonly stats: FaultStats = { frames: 0, lost: 0, duplicated: 0, reordered: 0, corrupted: 0, delivered: 0 }
  private readonly rand: () => number
  private held: Uint8Array | null = null
  private heldCopies = 0
  private holdGeneration = 0

  constructor(
    seed: number,
    private readonly p: { loss: number; dup: number; reorder: number; corrupt: number; delayMs: number; jitterMs: number; holdMs: number },
    private readonly schedule: ScheduleFn,
    private readonly emit: (frame: Uint8Array) => void,
    private readonly isClosed: () => boolean,
  ) {
    this.rand = seededRandom(seed)
  }

  push(frame: Uint8Array): void {
    const s = this.stats
    s.frames++
    // A fixed number of draws per frame, so one fault decision never shifts the others.
    const rLoss = this.rand()
    const rDup = this.rand()
    const rReorder = this.rand()
    const rCorrupt = this.rand()
    const rBit = this.rand()
    if (rLoss < this.p.loss) { s.lost++; return }
    const copy = new Uint8Array(frame)
    if (rCorrupt < this.p.corrupt && copy.length > 0) {
      const bit = Math.floor(rBit * copy.length * 8)
      copy[bit >> 3] ^= 1 << (bit & 7)
      s.corrupted++
    }
    const copies = rDup < this.p.dup ? 2 : 1
    if (copies === 2) s.duplicated++
    if (this.held === null && rReorder < this.p.reorder) {
      s.reordered++
      this.held = copy
      this.heldCopies = copies
      const generation = ++this.holdGeneration
      this.schedule(() => { if (this.holdGeneration === generation) this.releaseHeld() }, this.p.holdMs)
      return
    }
    this.out(copy, copies)
    this.releaseHeld()
  }

  private releaseHeld(): void {
    const held = this.held
    if (held === null) return
    this.held = null
    this.holdGeneration++
    this.out(held, this.heldCopies)
  }

  private out(frame: Uint8Array, copies: number): void {
    for (let i = 0; i < copies; i++) {
      const f = i === 0 ? frame : new Uint8Array(frame) // each delivery is a frame the receiver owns
      const delay = this.p.delayMs + (this.p.jitterMs > 0 ? this.rand() * this.p.jitterMs : 0)
      if (delay > 0) {
        this.schedule(() => this.deliver(f), delay)
      } else {
        this.deliver(f)
      }
    }
  }

  private deliver(frame: Uint8Array): void {
    if (this.isClosed()) return
    this.stats.delivered++
    this.emit(frame)
  }
}

/**
 * Wraps `inner` with faults in both directions. Decisions come from a PRNG seeded by `opts.seed`, so for
 * the same seed and the same sequence of frames the faults are identical. With `timers` a virtual
 * scheduler runs the delays and reorder hold-backs in virtual time.
 */
export function faultyCable(inner: Cable, opts: FaultOptions = {}, timers?: Timers): FaultyCable {
  const schedule = scheduleOf(timers)
  const p = {
    loss: checkProbability('loss', opts.loss),
    dup: checkProbability('dup', opts.dup),
    reorder: checkProbability('reorder', opts.reorder),
    corrupt: checkProbability('corrupt', opts.corrupt),
    delayMs: Math.max(0, opts.delayMs ?? 0),
    jitterMs: Math.max(0, opts.jitterMs ?? 0),
    holdMs: Math.max(0, opts.holdMs ?? 20),
  }
  const clean = { loss: 0, dup: 0, reorder: 0, corrupt: 0, delayMs: 0, jitterMs: 0, holdMs: 0 }
  const dirs = opts.directions ?? 'both'
  const seed = (opts.seed ?? 1) | 0
  let closed = false
  const isClosed = (): boolean => closed

  const outLane = new Lane(seed ^ 0x5bd1e995, dirs === 'in' ? clean : p, schedule, (f) => inner.send(f), isClosed)
  const inLane = new Lane(seed ^ 0x1b873593, dirs === 'out' ? clean : p, schedule, (f) => {
    const handler = wrapped.onFrame
    if (handler !== null) handler(f)
  }, isClosed)

  const wrapped: FaultyCable = {
    name: 'faulty(' + inner.name + ')',
    stats: { out: outLane.stats, in: inLane.stats },
    onFrame: null,
    send(frame: Uint8Array): void {
      if (!closed) outLane.push(frame)
    },
    close(): void {
      if (closed) return
      closed = true
      inner.close()
    },
  }
  inner.onFrame = (frame) => { if (!closed) inLane.push(frame) }
  return wrapped
}
