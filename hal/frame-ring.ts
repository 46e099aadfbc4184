// DMA-style frame rings in the arena between a chip driver and the stack. Device dialect.
//
// A ring is a fixed number of fixed-size slots; each slot holds a 2-byte little-endian frame length
// and the frame (Ethernet header onwards, no FCS). One producer and one consumer, FIFO order. The
// ring's indices live in its header region in the arena, so the whole state is in one ArrayBuffer.
//
// Overflow policy: a full ring refuses; it never overwrites a frame. The RX producer (the driver)
// asks `reserve()` before taking a frame off the chip and, when it gets -1, leaves the frame in the
// chip's own buffer (8 KB ENC28J60, 16 KB W5500) to be read on a later poll; only the chip drops when
// its buffer is full, and it counts that. The TX producer (the stack) gets -1 as "try later" and
// counts `overflows`; the app is told (a socket write returns false, a send fails), never silently.

const HEAD = 0
const TAIL = 1
const COUNT = 2
const OVERFLOWS = 3
/** u32 words in a ring header (SIZES.ringHeader = 16 bytes). */
export const RING_HEADER_WORDS = 4

export class FrameRing {
  readonly slots: number
  readonly slotBytes: number
  /** The largest frame a slot holds. */
  readonly capacity: number
  /** The arena bytes the ring lives in: the offsets reserve() and peek() return index this view. */
  readonly bytes: Uint8Array
  private readonly base: number
  private readonly hdr: Uint32Array

  constructor(buffer: ArrayBuffer, slotsOffset: number, slots: number, slotBytes: number, headerOffset: number) {
    if (headerOffset % 4 !== 0) throw new Error('ring header must be 4-byte aligned')
    this.bytes = new Uint8Array(buffer)
    this.base = slotsOffset
    this.slots = slots
    this.slotBytes = slotBytes
    this.capacity = slotBytes - 2
    this.hdr = new Uint32Array(buffer, headerOffset, RING_HEADER_WORDS)
    this.hdr.fill(0)
  }

  /** Frames waiting for the consumer. */
  count(): number { return this.hdr[COUNT] }
  /** Free slots. */
  free(): number { return this.slots - this.hdr[COUNT] }
  /** Frames refused because the ring was full. */
  overflows(): number { return this.hdr[OVERFLOWS] }

  /** Offset of the frame bytes of the next free slot, or -1 when the ring is full. */
  reserve(): number {
    if (this.hdr[COUNT] >= this.slots) return -1
    return this.base + this.hdr[HEAD] * this.slotBytes + 2
  }

  /** Publishes the reserved slot holding a frame of `len` bytes. */
  commit(len: number): void {
    if (this.hdr[COUNT] >= this.slots) throw new Error('FrameRing.commit without a reserved slot')
    if (len < 0 || len > this.capacity) throw new Error('FrameRing.commit: length ' + len + ' does not fit a slot')
    const at = this.base + this.hdr[HEAD] * this.slotBytes
    this.bytes[at] = len & 0xff
    this.bytes[at + 1] = len >> 8
    this.hdr[HEAD] = this.hdr[HEAD] + 1 === this.slots ? 0 : this.hdr[HEAD] + 1
    this.hdr[COUNT]++
  }

  /** Counts a frame that had nowhere to go (the caller reports it to whoever must know). */
  refuse(): void { this.hdr[OVERFLOWS]++ }

  /** Offset of the oldest frame's bytes, or -1 when empty. */
  peek(): number {
    if (this.hdr[COUNT] === 0) return -1
    return this.base + this.hdr[TAIL] * this.slotBytes + 2
  }

  /** Length of the oldest frame (0 when empty). */
  peekLength(): number {
    if (this.hdr[COUNT] === 0) return 0
    const at = this.base + this.hdr[TAIL] * this.slotBytes
    return this.bytes[at] | (this.bytes[at + 1] << 8)
  }

  /** Frees the oldest frame's slot. */
  release(): void {
    if (this.hdr[COUNT] === 0) throw new Error('FrameRing.release on an empty ring')
    this.hdr[TAIL] = this.hdr[TAIL] + 1 === this.slots ? 0 : this.hdr[TAIL] + 1
    this.hdr[COUNT]--
  }
}
