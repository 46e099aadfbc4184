// Initial sequence numbers (RFC 6528) and SYN cookies, from a keyed hash. Device dialect.
//
// RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), where M is a timer that
// ticks every 4 microseconds and F a pseudorandom function of the connection-id and a secret. F here is
// HalfSipHash-2-4 with a 32-bit result (Aumasson & Bernstein's reduced-width SipHash: only 32-bit additions,
// rotations and exclusive-ors, so it needs no multiplication and runs on Espruino), keyed with 64 bits drawn
// once at boot from the board's RandomSource (RFC 6528 §3: "the secret key ... SHOULD be of at least 128
// bits" is not met by a 64-bit HalfSipHash key; 64 bits is the size this PRF takes, and the key never
// leaves the device). Every connection gets an ISN nobody off-path can predict, and the ISNs of one
// 4-tuple still grow with time, so old duplicates of an earlier incarnation stay below them (RFC 9293
// §3.4.1).
//
// SYN cookies (used by firmware/tcp/listen.ts when a listener's half-open queue is full) use the same PRF
// under a second key.

/** 32-bit rotate left. */
function rotl(x: number, b: number): number {
  return (x << b) | (x >>> (32 - b))
}

/**
 * HalfSipHash-2-4 with a 32-bit output over `nWords` 32-bit words (each the little-endian load of 4
 * message bytes, so this equals hashing the 4·nWords-byte message), keyed with (k0, k1) (the two
 * little-endian halves of the 8-byte key). State and all arithmetic are 32-bit.
 */
export function halfSipHash(k0: number, k1: number, words: Uint32Array, nWords: number): number {
  let v0 = k0 | 0
  let v1 = k1 | 0
  let v2 = (0x6c796765 ^ k0) | 0
  let v3 = (0x74656462 ^ k1) | 0
  // nWords message words, then the final word: the message length in bytes in the top byte.
  for (let w = 0; w <= nWords; w++) {
    const m = w < nWords ? words[w] | 0 : (nWords * 4) << 24
    v3 ^= m
    for (let r = 0; r < 2; r++) {
      v0 = (v0 + v1) | 0; v1 = rotl(v1, 5); v1 ^= v0; v0 = rotl(v0, 16)
      v2 = (v2 + v3) | 0; v3 = rotl(v3, 8); v3 ^= v2
      v0 = (v0 + v3) | 0; v3 = rotl(v3, 7); v3 ^= v0
      v2 = (v2 + v1) | 0; v1 = rotl(v1, 13); v1 ^= v2; v2 = rotl(v2, 16)
    }
    v0 ^= m
  }
  v2 ^= 0xff
  for (let r = 0; r < 4; r++) {
    v0 = (v0 + v1) | 0; v1 = rotl(v1, 5); v1 ^= v0; v0 = rotl(v0, 16)
    v2 = (v2 + v3) | 0; v3 = rotl(v3, 8); v3 ^= v2
    v0 = (v0 + v3) | 0; v3 = rotl(v3, 7); v3 ^= v0
    v2 = (v2 + v1) | 0; v1 = rotl(v1, 13); v1 ^= v2; v2 = rotl(v2, 16)
  }
  return (v1 ^ v3) >>> 0
}

/** 2^32, for the 4 µs clock modulo 2^32 (Math.pow is inexact on Espruino). */
const TWO32 = 4294967296

export class IsnGenerator {
  /** ISN key (words 0, 1) and cookie key (words 2, 3). */
  private readonly key: Uint32Array
  /** The message: local address, remote address, ports, and two more words for cookies. */
  private readonly m: Uint32Array

  /** `random32` gives unpredictable 32-bit values (the board's RandomSource.next32). */
  constructor(random32: () => number) {
    this.key = new Uint32Array(4)
    this.m = new Uint32Array(5)
    for (let i = 0; i < 4; i++) this.key[i] = random32() >>> 0
  }

  private f(k: number, lip: number, lport: number, rip: number, rport: number, a: number, b: number, nWords: number): number {
    const m = this.m
    m[0] = lip
    m[1] = rip
    m[2] = ((lport << 16) | rport) >>> 0
    m[3] = a
    m[4] = b
    return halfSipHash(this.key[k], this.key[k + 1], m, nWords)
  }

  /** RFC 6528 §3: M + F(4-tuple, secret); M counts 4 µs ticks of the stack clock `nowUs`. */
  isn(lip: number, lport: number, rip: number, rport: number, nowUs: number): number {
    const t = Math.floor(nowUs / 4) % TWO32
    return (t + this.f(0, lip, lport, rip, rport, 0, 0, 3)) >>> 0
  }

  /** The keyed hash a SYN cookie carries (listen.ts): F'(4-tuple, the peer's ISN, time slot). */
  cookieHash(lip: number, lport: number, rip: number, rport: number, peerIsn: number, slot: number): number {
    return this.f(2, lip, lport, rip, rport, peerIsn, slot, 5)
  }
}
