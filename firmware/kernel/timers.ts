// A fixed table of timers for the cooperative loop. Device dialect.
//
// Timers are registered once at boot (each protocol module takes the few it needs) and then only
// armed and cancelled: no allocation per timer tick. Deadlines are absolute microseconds; `runDue(now)`
// fires every armed timer whose deadline has passed, earliest first, each at most once per call.

const DISARMED = -1

export type TimerCallback = (now: number) => void

export class TimerTable {
  private readonly deadline: Float64Array
  private readonly callbacks: TimerCallback[]
  private readonly names: string[]
  private used = 0

  constructor(capacity: number) {
    this.deadline = new Float64Array(capacity).fill(DISARMED)
    this.callbacks = new Array(capacity)
    this.names = new Array(capacity)
  }

  /** Takes a timer slot at boot; throws when the table is full (a build-time sizing error). */
  register(name: string, cb: TimerCallback): number {
    if (this.used >= this.deadline.length) throw new Error('timer table full (' + this.deadline.length + '): cannot register ' + name)
    this.callbacks[this.used] = cb
    this.names[this.used] = name
    return this.used++
  }

  arm(id: number, at: number): void { this.deadline[id] = at }
  cancel(id: number): void { this.deadline[id] = DISARMED }
  armed(id: number): boolean { return this.deadline[id] !== DISARMED }
  name(id: number): string { return this.names[id] }

  /** The earliest armed deadline, or -1 when none is armed. */
  next(): number {
    let best = DISARMED
    for (let i = 0; i < this.used; i++) {
      const d = this.deadline[i]
      if (d !== DISARMED && (best === DISARMED || d < best)) best = d
    }
    return best
  }

  /** Fires the due timers in deadline order; a timer re-armed by its callback waits for the next call. */
  runDue(now: number): number {
    let fired = 0
    for (;;) {
      let pick = -1
      for (let i = 0; i < this.used; i++) {
        const d = this.deadline[i]
        if (d !== DISARMED && d <= now && (pick < 0 || d < this.deadline[pick])) pick = i
      }
      if (pick < 0 || fired >= this.used) return fired
      this.deadline[pick] = DISARMED
      fired++
      this.callbacks[pick](now)
    }
  }
}
