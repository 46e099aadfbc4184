// TCP options (RFC 9293 §3.1, §3.2): parsing what a segment carries, writing ours. Device dialect.
//
//   kind 0 End of Option List, kind 1 No-Operation           RFC 9293 §3.2
//   kind 2 Maximum Segment Size (SYN only)                  RFC 9293 §3.7.1
//   kind 3 Window Scale (SYN only)                          RFC 7323 §2
//   kind 4 SACK-Permitted (SYN only), kind 5 SACK blocks    RFC 2018 §2, §3
//   kind 8 Timestamps                                       RFC 7323 §3 (recognised and ignored: we never
//                                                           offer them, so the peer must not send them)
// Unknown options are skipped by their length (RFC 9293 §3.2: "a TCP implementation MUST be prepared to
// handle an illegal option length ... without crashing"): an option whose length is below 2 or runs past
// the header ends the parse, keeping what was read before it.

export const OPT_EOL = 0
export const OPT_NOP = 1
export const OPT_MSS = 2
export const OPT_WSCALE = 3
export const OPT_SACK_PERM = 4
export const OPT_SACK = 5

/** RFC 7323 §2.3: a shift above 14 is used as 14. */
export const MAX_WSCALE = 14
/** SACK blocks we send at most: 4 fit the 40 option bytes with two NOPs (RFC 2018 §3). */
export const MAX_SACK_BLOCKS = 4

/** What the options of the segment being processed said (-1: absent). */
export class ParsedOptions {
  mss = -1
  wscale = -1
  sackOk = false

  /** Parses the `len` option bytes at `off`. */
  parse(u8: Uint8Array, off: number, len: number): void {
    this.mss = -1
    this.wscale = -1
    this.sackOk = false
    const end = off + len
    let p = off
    while (p < end) {
      const kind = u8[p]
      if (kind === OPT_EOL) return
      if (kind === OPT_NOP) {
        p++
        continue
      }
      if (p + 1 >= end) return
      const olen = u8[p + 1]
      if (olen < 2 || p + olen > end) return
      if (kind === OPT_MSS && olen === 4) this.mss = (u8[p + 2] << 8) | u8[p + 3]
      else if (kind === OPT_WSCALE && olen === 3) this.wscale = u8[p + 2] > MAX_WSCALE ? MAX_WSCALE : u8[p + 2]
      else if (kind === OPT_SACK_PERM && olen === 2) this.sackOk = true
      p += olen
    }
  }
}

/**
 * Writes the options of a SYN or SYN-ACK at `at`: MSS always, window scale when `wscale` >= 0, SACK-
 * permitted when `sackOk`, each padded with NOPs to 4 bytes. Returns the bytes written (4, 8 or 12).
 */
export function writeSynOptions(u8: Uint8Array, at: number, mss: number, wscale: number, sackOk: boolean): number {
  u8[at] = OPT_MSS
  u8[at + 1] = 4
  u8[at + 2] = mss >> 8
  u8[at + 3] = mss & 0xff
  let n = 4
  if (wscale >= 0) {
    u8[at + n] = OPT_NOP
    u8[at + n + 1] = OPT_WSCALE
    u8[at + n + 2] = 3
    u8[at + n + 3] = wscale
    n += 4
  }
  if (sackOk) {
    u8[at + n] = OPT_NOP
    u8[at + n + 1] = OPT_NOP
    u8[at + n + 2] = OPT_SACK_PERM
    u8[at + n + 3] = 2
    n += 4
  }
  return n
}

/**
 * Writes a SACK option (RFC 2018 §3) at `at` from `count` blocks held as host-order u32 pairs at word
 * index `w` of `u32`: two NOPs, kind 5, length, then each left and right edge big-endian. Returns the
 * bytes written (4 + 8 × count).
 */
export function writeSackOption(u8: Uint8Array, at: number, u32: Uint32Array, w: number, count: number): number {
  u8[at] = OPT_NOP
  u8[at + 1] = OPT_NOP
  u8[at + 2] = OPT_SACK
  u8[at + 3] = 2 + 8 * count
  let p = at + 4
  for (let k = 0; k < 2 * count; k++) {
    const v = u32[w + k]
    u8[p] = v >>> 24
    u8[p + 1] = (v >>> 16) & 0xff
    u8[p + 2] = (v >>> 8) & 0xff
    u8[p + 3] = v & 0xff
    p += 4
  }
  return 4 + 8 * count
}
