// The host side of "the wire": whatever carries Ethernet frames to and from a simulated chip.
// Host only (Node). Implementations: tap.ts (Linux TAP), udp-cable.ts (one frame per datagram),
// faulty-wire.ts (in-memory pair and fault injection), pcap.ts (recording wrapper).

/**
 * One Ethernet cable end. A frame is a whole Ethernet frame from the destination MAC to the end of the
 * payload, without preamble and without FCS: one frame per `send` call and one per `onFrame` event.
 *
 * - `send` never blocks and never throws for a dropped frame (a cable loses frames like a real one);
 *   it does not keep a reference to `frame` after it returns, so callers may reuse the buffer
 *   (e.g. a slot of the arena's TX ring).
 * - `onFrame` receives a frame the receiver owns (never reused by the cable), always a plain Uint8Array,
 *   never a Node Buffer (whose `slice` would alias instead of copy). `null` discards frames.
 * - `close` releases the OS resources; afterwards `send` is a no-op and `onFrame` is not called again.
 */
export interface Cable {
  send(frame: Uint8Array): void
  onFrame: ((frame: Uint8Array) => void) | null
  close(): void
  readonly name: string
}

/** Defers `fn` by `ms` milliseconds: real timers by default, a virtual scheduler in netsim tests. */
export type ScheduleFn = (fn: () => void, ms: number) => void

/** The default scheduler: setImmediate for 0 ms (never re-enters the caller), setTimeout otherwise. */
export const realSchedule: ScheduleFn = (fn, ms) => {
  if (ms <= 0) setImmediate(fn)
  else setTimeout(fn, ms)
}

/** The shortest frame a cable passes on: an Ethernet header (6 + 6 + 2 bytes). */
export const MIN_FRAME = 14
/** The longest frame a cable accepts (matches the 65536-byte read buffer of TAP and UDP). */
export const MAX_FRAME = 65535
