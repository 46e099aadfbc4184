// Ethernet II (RFC 894) helpers: MAC addresses, the IPv4 multicast mapping (RFC 1112 §6.4), frame
// limits, and the one byte-copy primitive the stack uses inside the arena. Device dialect.

/** Largest IP datagram in one Ethernet frame (RFC 894). */
export const ETH_MTU = 1500
/** Ethernet header bytes (destination, source, EtherType). */
export const ETH_HEADER = 14
/** Smallest frame without FCS: shorter frames are padded with zeros (IEEE 802.3 minimum of 64 with FCS). */
export const ETH_MIN_FRAME = 60
/** Largest frame without FCS. */
export const ETH_MAX_FRAME = 1514

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 97 && c <= 102) return c - 87
  if (c >= 65 && c <= 70) return c - 55
  return -1
}

/**
 * Parses "aa:bb:cc:dd:ee:ff" (or with '-') into `out` (6 bytes); false when malformed. Written without
 * regular expressions: Espruino's engine lacks {n} quantifiers.
 */
export function readMac(s: string, out: Uint8Array): boolean {
  if (s.length !== 17) return false
  for (let i = 0; i < 6; i++) {
    const hi = hexDigit(s.charCodeAt(i * 3))
    const lo = hexDigit(s.charCodeAt(i * 3 + 1))
    if (hi < 0 || lo < 0) return false
    if (i < 5 && s.charAt(i * 3 + 2) !== ':' && s.charAt(i * 3 + 2) !== '-') return false
    out[i] = hi * 16 + lo
  }
  return true
}

/** Parses "aa:bb:cc:dd:ee:ff" (or with '-') into 6 bytes; throws on anything else (boot-time only). */
export function parseMac(s: string): Uint8Array {
  const out = new Uint8Array(6)
  if (!readMac(s, out)) throw new Error('MAC "' + s + '": expected six hex bytes like 02:53:50:00:00:01')
  return out
}

function hex2(n: number): string {
  return (n < 16 ? '0' : '') + n.toString(16)
}

/** Formats the 6 bytes at `off` of `b` as "aa:bb:cc:dd:ee:ff". */
export function formatMac(b: Uint8Array, off: number): string {
  let s = hex2(b[off])
  for (let i = 1; i < 6; i++) s += ':' + hex2(b[off + i])
  return s
}

/** The group bit (I/G, least significant bit of the first byte): multicast or broadcast. */
export function isGroupMac(u8: Uint8Array, off: number): boolean {
  return (u8[off] & 1) !== 0
}

/** ff:ff:ff:ff:ff:ff. */
export function isBroadcastMac(u8: Uint8Array, off: number): boolean {
  return (u8[off] & u8[off + 1] & u8[off + 2] & u8[off + 3] & u8[off + 4] & u8[off + 5]) === 255
}

/** 00:00:00:00:00:00. */
export function isZeroMac(u8: Uint8Array, off: number): boolean {
  return (u8[off] | u8[off + 1] | u8[off + 2] | u8[off + 3] | u8[off + 4] | u8[off + 5]) === 0
}

/** The 01:00:5e prefix of IPv4 multicast MACs (RFC 1112 §6.4). */
export function isIpv4MulticastMac(u8: Uint8Array, off: number): boolean {
  return u8[off] === 0x01 && u8[off + 1] === 0x00 && u8[off + 2] === 0x5e && (u8[off + 3] & 0x80) === 0
}

/** True when the 6 bytes at `a` and `b` are equal. */
export function macEquals(u8: Uint8Array, a: number, b: number): boolean {
  return u8[a] === u8[b] && u8[a + 1] === u8[b + 1] && u8[a + 2] === u8[b + 2] &&
    u8[a + 3] === u8[b + 3] && u8[a + 4] === u8[b + 4] && u8[a + 5] === u8[b + 5]
}

/** Copies a 6-byte MAC inside `u8`. */
export function copyMac(u8: Uint8Array, dst: number, src: number): void {
  for (let i = 0; i < 6; i++) u8[dst + i] = u8[src + i]
}

/**
 * Writes the Ethernet address of IPv4 multicast `group` at `off`: 01:00:5e followed by the low-order
 * 23 bits of the group address (RFC 1112 §6.4).
 */
export function writeMulticastMac(u8: Uint8Array, off: number, group: number): void {
  u8[off] = 0x01
  u8[off + 1] = 0x00
  u8[off + 2] = 0x5e
  u8[off + 3] = (group >>> 16) & 0x7f
  u8[off + 4] = (group >>> 8) & 0xff
  u8[off + 5] = group & 0xff
}

