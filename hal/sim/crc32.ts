// The Ethernet CRC-32 (IEEE 802.3 §3.2.9: generator polynomial 0x04C11DB7, register preset to all ones,
// bits taken least significant first, result complemented), for the simulators' FCS and hash filters.
// Device dialect: it runs on Espruino as well as on Node (table built once, no allocation per call).

/** The 256-entry table of the reflected algorithm (reflected polynomial 0xEDB88320). */
const TABLE = new Uint32Array(256)
for (let n = 0; n < 256; n++) {
  let c = n
  for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  TABLE[n] = c >>> 0
}

/**
 * Continues a CRC-32 register (reflected form, not complemented) over bytes[off, off + len).
 * Start with 0xFFFFFFFF; complement the end value (`~reg >>> 0`) to get the FCS.
 */
export function crc32Update(reg: number, bytes: Uint8Array, off: number, len: number): number {
  let c = reg >>> 0
  const end = off + len
  for (let i = off; i < end; i++) c = TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8)
  return c >>> 0
}

/** The Ethernet FCS value of bytes[off, off + len): CRC-32 of "123456789" is 0xCBF43926. */
export function crc32(bytes: Uint8Array, off: number, len: number): number {
  return ~crc32Update(0xffffffff, bytes, off, len) >>> 0
}

/**
 * True if the 4 bytes at bytes[off + len] are the FCS of bytes[off, off + len). On the wire the FCS goes
 * out least significant byte first (its bits are sent x^31 first, which the reflected form maps to LSB
 * first), so the value is stored little-endian.
 */
export function fcsMatches(bytes: Uint8Array, off: number, len: number): boolean {
  const c = crc32(bytes, off, len)
  const p = off + len
  return bytes[p] === (c & 0xff) && bytes[p + 1] === ((c >>> 8) & 0xff) &&
    bytes[p + 2] === ((c >>> 16) & 0xff) && bytes[p + 3] === (c >>> 24)
}

/** Writes the FCS of bytes[off, off + len) little-endian at bytes[off + len]. */
export function writeFcs(bytes: Uint8Array, off: number, len: number): void {
  const c = crc32(bytes, off, len)
  const p = off + len
  bytes[p] = c & 0xff
  bytes[p + 1] = (c >>> 8) & 0xff
  bytes[p + 2] = (c >>> 16) & 0xff
  bytes[p + 3] = c >>> 24
}
