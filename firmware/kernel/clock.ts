// Clocks in microseconds. The stack never reads time itself: `poll(now)` passes it in, so tests run
// on a VirtualClock and a 10-minute scenario takes milliseconds. Device dialect.

export interface Clock {
  now(): number
}

/** Time that moves only when told to: every time-dependent test uses it. */
export class VirtualClock implements Clock {
  private t: number
  constructor(start?: number) {
    this.t = start === undefined ? 0 : start
  }
  now(): number {
    return this.t
  }
  advance(us: number): void {
    if (us < 0) throw new Error('VirtualClock cannot go back')
    this.t += us
  }
}
