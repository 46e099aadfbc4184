// IPv4 addresses as u32 values in network order (10.0.0.1 = 0x0A000001), to and from dotted strings,
// and the address classes the stack checks (RFC 1122 §3.2.1.3, RFC 1112 §4). Device dialect.
//
// Every function returns unsigned values (`>>> 0`): bitwise operators give signed 32-bit results in
// JavaScript, so a value above 0x7FFFFFFF would otherwise compare unequal to the same address read
// from a Uint32Array.

// How a datagram's destination concerns this host (RFC 1122 §3.3.6, §3.2.1.3; RFC 1112 §4).
/** Not addressed to this host. */
export const CAST_NONE = 0
/** Our unicast address. */
export const CAST_UNICAST = 1
/** 255.255.255.255 or our subnet's directed broadcast. */
export const CAST_BROADCAST = 2
/** A multicast group we joined. */
export const CAST_MULTICAST = 3
/** Any unicast address while we have none yet (DHCP offers sent to the offered address): UDP only. */
export const CAST_UNCONFIGURED = 4

/** 255.255.255.255, the limited broadcast address (RFC 1122 §3.2.1.3 (c)). */
export const IP_BROADCAST = 0xffffffff

/**
 * Parses 1..maxDigits decimal digits; -1 for anything else. (No regular expressions in firmware code:
 * Espruino's engine lacks {n,m} quantifiers and quantified groups.)
 */
export function parseDecimal(s: string, maxDigits: number): number {
  if (s.length < 1 || s.length > maxDigits) return -1
  let n = 0
  for (let j = 0; j < s.length; j++) {
    const c = s.charCodeAt(j) - 48
    if (c < 0 || c > 9) return -1
    n = n * 10 + c
  }
  return n
}

/** Parses "a.b.c.d" into a u32; returns -1 when `s` is not a dotted quad of 0..255. */
export function parseIp(s: string): number {
  const parts = s.split('.')
  if (parts.length !== 4) return -1
  let v = 0
  for (let i = 0; i < 4; i++) {
    const n = parseDecimal(parts[i], 3)
    if (n < 0 || n > 255) return -1
    v = v * 256 + n
  }
  return v
}

/** Formats a u32 address as "a.b.c.d". */
export function formatIp(a: number): string {
  return (a >>> 24) + '.' + ((a >>> 16) & 255) + '.' + ((a >>> 8) & 255) + '.' + (a & 255)
}

/** The netmask of a prefix length 0..32 (24 -> 255.255.255.0). */
export function prefixToMask(prefix: number): number {
  if (prefix <= 0) return 0
  if (prefix >= 32) return IP_BROADCAST
  return (IP_BROADCAST << (32 - prefix)) >>> 0
}

/** The prefix length of a contiguous netmask, or -1 when the mask has holes. */
export function maskToPrefix(mask: number): number {
  let n = 0
  let m = mask >>> 0
  while ((m & 0x80000000) !== 0) {
    n++
    m = (m << 1) >>> 0
  }
  return m === 0 ? n : -1
}

/** Parses "a.b.c.d/len" (or a bare address, /32); returns null when malformed. */
export function parseCidr(s: string): { ip: number; mask: number } | null {
  const slash = s.indexOf('/')
  const ip = parseIp(slash < 0 ? s : s.slice(0, slash))
  if (ip < 0) return null
  if (slash < 0) return { ip: ip, mask: IP_BROADCAST }
  const len = parseDecimal(s.slice(slash + 1), 2)
  if (len < 0 || len > 32) return null
  return { ip: ip, mask: prefixToMask(len) }
}

/** Class D, 224.0.0.0/4 (RFC 1112 §4). */
export function isMulticast(a: number): boolean {
  return (a >>> 28) === 14
}

/** 127.0.0.0/8, which must never appear on a network (RFC 1122 §3.2.1.3 (g)). */
export function isLoopback(a: number): boolean {
  return (a >>> 24) === 127
}

/** Class E, 240.0.0.0/4 (reserved; includes the limited broadcast). */
export function isReserved(a: number): boolean {
  return (a >>> 28) === 15
}

/**
 * The directed broadcast of the subnet of `ip`/`mask` (host part all ones, RFC 1122 §3.2.1.3 (d)),
 * or -1 when there is none: no address, no mask, or a /31 or /32 (RFC 3021: no broadcast on /31).
 */
export function subnetBroadcast(ip: number, mask: number): number {
  if (ip === 0 || mask === 0 || (mask >>> 0) >= 0xfffffffe) return -1
  return (ip | ~mask) >>> 0
}

/** True when `a` and `b` are on the same subnet under `mask` (a mask of 0 puts nothing on-link). */
export function sameSubnet(a: number, b: number, mask: number): boolean {
  return mask !== 0 && ((a ^ b) & mask) === 0
}
