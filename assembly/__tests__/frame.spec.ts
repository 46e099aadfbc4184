import {
  parseFrame, parseIpv4, emitEthernet, emitArp, emitIpv4, emitUdp, emitIcmp, emitIcmpChecksum,
  DESC_WORDS, D_VERDICT, D_FRAME_OFF, D_FRAME_LEN, D_ETHERTYPE, D_L3_OFF, D_L3_LEN,
  D_ARP_OP, D_ARP_SHA, D_ARP_SPA, D_ARP_THA, D_ARP_TPA,
  D_IP_IHL, D_IP_HLEN, D_IP_TOS, D_IP_TOTAL_LEN, D_IP_ID, D_IP_FLAGS, D_IP_FRAG_OFF, D_IP_TTL, D_IP_PROTO,
  D_IP_SRC, D_IP_DST, D_IP_PAYLOAD_OFF, D_IP_PAYLOAD_LEN,
  D_L4_SRC_PORT, D_L4_DST_PORT, D_L4_LEN, D_L4_HLEN, D_L4_CHECKSUM, D_DATA_OFF, D_DATA_LEN,
  D_ICMP_TYPE, D_ICMP_CODE, D_ICMP_ID, D_ICMP_SEQ, D_CHECKED, IP_WORD_DF,
  V_ETH_ARP, V_IPV4_ICMP, V_IPV4_UDP, V_IPV4_TCP, V_IPV4_OTHER, V_IPV4_FRAGMENT, V_ETH_OTHER, VERDICT_DROP_FIRST,
  V_DROP_RUNT, V_DROP_ARP_SHORT, V_DROP_ARP_BAD, V_DROP_IP_SHORT, V_DROP_IP_VERSION, V_DROP_IP_IHL,
  V_DROP_IP_TOTAL_LENGTH, V_DROP_IP_CHECKSUM, V_DROP_UDP_SHORT, V_DROP_UDP_LENGTH, V_DROP_UDP_CHECKSUM,
  V_DROP_ICMP_SHORT, V_DROP_ICMP_CHECKSUM, V_DROP_TCP_SHORT,
} from '../frame'

// Known frames, generated and checksummed outside this project's code (Python's struct and a
// by-the-book RFC 1071 sum); test/frame.test.ts holds both backends to the same bytes.
const ARP_REQUEST: u8[] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]
const ICMP_ECHO: u8[] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x45, 0x00, 0x00, 0x24, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01, 0x14, 0xa3, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0x08, 0x00, 0xa7, 0x79, 0xbe, 0xef, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]
const UDP_OPTIONS: u8[] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x46, 0xb8, 0x00, 0x25, 0xab, 0xcd, 0x00, 0x00, 0x01, 0x11, 0x3e, 0x34, 0xc0, 0xa8, 0x01, 0x64, 0x0a, 0x00, 0x00, 0x02, 0x01, 0x01, 0x01, 0x00, 0x14, 0xe9, 0x00, 0x07, 0x00, 0x0d, 0xdb, 0x03, 0x68, 0x65, 0x6c, 0x6c, 0x6f]
const UDP_NO_CHECKSUM: u8[] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x45, 0x00, 0x00, 0x1f, 0x00, 0x07, 0x00, 0x00, 0x40, 0x11, 0x66, 0xc5, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0x03, 0xe8, 0x07, 0xd0, 0x00, 0x0b, 0x00, 0x00, 0x78, 0x79, 0x7a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]
const FRAGMENT_FIRST: u8[] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x45, 0x00, 0x00, 0x2c, 0x55, 0xaa, 0x20, 0x00, 0x40, 0x11, 0xf1, 0x14, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0x0f, 0xa0, 0x0f, 0xa1, 0x00, 0x28, 0xdb, 0x59, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f]
const FRAGMENT_LAST: u8[] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x45, 0x00, 0x00, 0x24, 0x55, 0xaa, 0x00, 0x03, 0x40, 0x11, 0x11, 0x1a, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f]
const TCP_SYN: u8[] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x45, 0x00, 0x00, 0x2c, 0x00, 0x01, 0x40, 0x00, 0x40, 0x06, 0x26, 0xc9, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0xc0, 0x00, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0x60, 0x02, 0xff, 0xff, 0xbf, 0xcd, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4]

// Static scratch memory (no allocator): the frame at an odd offset, so no field is aligned, and a
// descriptor. Bytes past the frame are filled with a canary.
const BUF: usize = memory.data(2048, 16)
const F: usize = BUF + 1
const DESC: usize = memory.data(256, 16)
const DESC2: usize = memory.data(256, 16)

function place(bytes: u8[], canary: u8): usize {
  for (let i = 0; i < 2047; i++) store<u8>(BUF + <usize>i, canary)
  for (let i = 0; i < bytes.length; i++) store<u8>(F + <usize>i, bytes[i])
  return F
}

function w(i: u32): u32 {
  return load<u32>(DESC + (<usize>i << 2))
}

/** RFC 1071 by the book, byte by byte. */
function reference(p: usize, len: u32, seed: u32): u32 {
  let s: u64 = <u64>seed
  let i: u32 = 0
  for (; i + 1 < len; i += 2) s += (<u64>load<u8>(p + i) << 8) | <u64>load<u8>(p + i + 1)
  if (len & 1) s += <u64>load<u8>(p + len - 1) << 8
  while (s > 0xffff) s = (s & 0xffff) + (s >> 16)
  return <u32>(~s & 0xffff)
}

function be16(p: usize): u32 {
  return (<u32>load<u8>(p) << 8) | <u32>load<u8>(p + 1)
}

/** Every offset/length pair in the descriptor lies inside [F, F + len). */
function insideFrame(len: u32): bool {
  const end = <u32>F + len
  if (w(D_L3_OFF) != 0 && w(D_L3_OFF) + w(D_L3_LEN) > end) return false
  if (w(D_ARP_SHA) != 0 && w(D_ARP_SHA) + 6 > end) return false
  if (w(D_ARP_THA) != 0 && w(D_ARP_THA) + 6 > end) return false
  if (w(D_IP_HLEN) != 0 && w(D_L3_OFF) + w(D_IP_HLEN) > end) return false
  if (w(D_IP_PAYLOAD_OFF) != 0 && w(D_IP_PAYLOAD_OFF) + w(D_IP_PAYLOAD_LEN) > end) return false
  if (w(D_L4_LEN) != 0 && w(D_IP_PAYLOAD_OFF) + w(D_L4_LEN) > end) return false
  if (w(D_DATA_OFF) != 0 && w(D_DATA_OFF) + w(D_DATA_LEN) > end) return false
  return true
}

/** Parses the frame with two canaries past it; the descriptors must not differ. */
function parseBoth(bytes: u8[], len: u32): u32 {
  place(bytes, 0x5a)
  const v2 = parseFrame(F, len, DESC2)
  place(bytes, 0xa5)
  const v = parseFrame(F, len, DESC)
  expect(v).toBe(v2)
  for (let i: u32 = 0; i < DESC_WORDS; i++) expect(load<u32>(DESC + (<usize>i << 2))).toBe(load<u32>(DESC2 + (<usize>i << 2)))
  return v
}

describe('parseFrame: known frames', () => {
  it('an ARP request (padded to 60 bytes)', () => {
    expect(parseBoth(ARP_REQUEST, 60)).toBe(V_ETH_ARP)
    expect(w(D_VERDICT)).toBe(V_ETH_ARP)
    expect(w(D_FRAME_OFF)).toBe(<u32>F)
    expect(w(D_FRAME_LEN)).toBe(60)
    expect(w(D_ETHERTYPE)).toBe(0x0806)
    expect(w(D_L3_OFF)).toBe(<u32>F + 14)
    expect(w(D_L3_LEN)).toBe(46)
    expect(w(D_ARP_OP)).toBe(1)
    expect(w(D_ARP_SHA)).toBe(<u32>F + 22)
    expect(w(D_ARP_SPA)).toBe(0x0a000001)
    expect(w(D_ARP_THA)).toBe(<u32>F + 32)
    expect(w(D_ARP_TPA)).toBe(0x0a000002)
    expect(w(D_IP_HLEN)).toBe(0)
  })

  it('an ICMP echo request, Ethernet padding ignored', () => {
    expect(parseBoth(ICMP_ECHO, 60)).toBe(V_IPV4_ICMP)
    expect(w(D_IP_IHL)).toBe(5)
    expect(w(D_IP_HLEN)).toBe(20)
    expect(w(D_IP_TOS)).toBe(0)
    expect(w(D_IP_TOTAL_LEN)).toBe(36)
    expect(w(D_IP_ID)).toBe(0x1234)
    expect(w(D_IP_FLAGS)).toBe(2)
    expect(w(D_IP_FRAG_OFF)).toBe(0)
    expect(w(D_IP_TTL)).toBe(64)
    expect(w(D_IP_PROTO)).toBe(1)
    expect(w(D_IP_SRC)).toBe(0x0a000001)
    expect(w(D_IP_DST)).toBe(0x0a000002)
    expect(w(D_IP_PAYLOAD_OFF)).toBe(<u32>F + 34)
    expect(w(D_IP_PAYLOAD_LEN)).toBe(16)
    expect(w(D_ICMP_TYPE)).toBe(8)
    expect(w(D_ICMP_CODE)).toBe(0)
    expect(w(D_ICMP_ID)).toBe(0xbeef)
    expect(w(D_ICMP_SEQ)).toBe(1)
    expect(w(D_L4_CHECKSUM)).toBe(0xa779)
    expect(w(D_L4_LEN)).toBe(16)
    expect(w(D_L4_HLEN)).toBe(8)
    expect(w(D_DATA_OFF)).toBe(<u32>F + 42)
    expect(w(D_DATA_LEN)).toBe(8)
    expect(w(D_CHECKED)).toBe(3)
  })

  it('a UDP datagram behind IP options, from an address above 2^31, odd data length', () => {
    expect(parseBoth(UDP_OPTIONS, 51)).toBe(V_IPV4_UDP)
    expect(w(D_IP_IHL)).toBe(6)
    expect(w(D_IP_HLEN)).toBe(24)
    expect(w(D_IP_TOS)).toBe(0xb8)
    expect(w(D_IP_TOTAL_LEN)).toBe(37)
    expect(w(D_IP_TTL)).toBe(1)
    expect(w(D_IP_SRC)).toBe(0xc0a80164)
    expect(w(D_IP_PAYLOAD_OFF)).toBe(<u32>F + 38)
    expect(w(D_IP_PAYLOAD_LEN)).toBe(13)
    expect(w(D_L4_SRC_PORT)).toBe(5353)
    expect(w(D_L4_DST_PORT)).toBe(7)
    expect(w(D_L4_LEN)).toBe(13)
    expect(w(D_L4_HLEN)).toBe(8)
    expect(w(D_L4_CHECKSUM)).toBe(0xdb03)
    expect(w(D_DATA_OFF)).toBe(<u32>F + 46)
    expect(w(D_DATA_LEN)).toBe(5)
    expect(w(D_CHECKED)).toBe(3)
  })

  it('a UDP datagram without a checksum is accepted, only the IP header checked', () => {
    expect(parseBoth(UDP_NO_CHECKSUM, 60)).toBe(V_IPV4_UDP)
    expect(w(D_L4_CHECKSUM)).toBe(0)
    expect(w(D_CHECKED)).toBe(1)
    expect(w(D_DATA_LEN)).toBe(3)
  })

  it('IPv4 fragments are reported with their fields and no transport', () => {
    expect(parseBoth(FRAGMENT_FIRST, 58)).toBe(V_IPV4_FRAGMENT)
    expect(w(D_IP_FLAGS)).toBe(1)
    expect(w(D_IP_FRAG_OFF)).toBe(0)
    expect(w(D_IP_ID)).toBe(0x55aa)
    expect(w(D_IP_PAYLOAD_LEN)).toBe(24)
    expect(w(D_L4_SRC_PORT)).toBe(0)
    expect(w(D_L4_LEN)).toBe(0)
    expect(parseBoth(FRAGMENT_LAST, 50)).toBe(V_IPV4_FRAGMENT)
    expect(w(D_IP_FLAGS)).toBe(0)
    expect(w(D_IP_FRAG_OFF)).toBe(24)
    expect(w(D_IP_PAYLOAD_LEN)).toBe(16)
  })

  it('a TCP SYN with an MSS option: ports and data offset', () => {
    expect(parseBoth(TCP_SYN, 58)).toBe(V_IPV4_TCP)
    expect(w(D_L4_SRC_PORT)).toBe(49152)
    expect(w(D_L4_DST_PORT)).toBe(80)
    expect(w(D_L4_LEN)).toBe(24)
    expect(w(D_L4_HLEN)).toBe(24)
    expect(w(D_DATA_OFF)).toBe(<u32>F + 58)
    expect(w(D_DATA_LEN)).toBe(0)
  })

  it('parseIpv4 parses a bare datagram like parseFrame past Ethernet', () => {
    place(ICMP_ECHO, 0)
    expect(parseIpv4(F + 14, 36, DESC)).toBe(V_IPV4_ICMP)
    expect(w(D_ETHERTYPE)).toBe(0x0800)
    expect(w(D_L3_OFF)).toBe(<u32>F + 14)
    expect(w(D_DATA_OFF)).toBe(<u32>F + 42)
  })
})

describe('parseFrame: drops', () => {
  it('each malformed header gets its own verdict', () => {
    expect(parseBoth(ARP_REQUEST, 13)).toBe(V_DROP_RUNT)
    expect(parseBoth(ARP_REQUEST, 41)).toBe(V_DROP_ARP_SHORT)
    place(ARP_REQUEST, 0); store<u8>(F + 21, 3)
    expect(parseFrame(F, 60, DESC)).toBe(V_DROP_ARP_BAD)
    place(ARP_REQUEST, 0); store<u8>(F + 18, 8)
    expect(parseFrame(F, 60, DESC)).toBe(V_DROP_ARP_BAD)
    expect(parseBoth(ICMP_ECHO, 33)).toBe(V_DROP_IP_SHORT)
    place(ICMP_ECHO, 0); store<u8>(F + 14, 0x65)
    expect(parseFrame(F, 60, DESC)).toBe(V_DROP_IP_VERSION)
    place(ICMP_ECHO, 0); store<u8>(F + 14, 0x44)
    expect(parseFrame(F, 60, DESC)).toBe(V_DROP_IP_IHL)
    place(ICMP_ECHO, 0); store<u8>(F + 14, 0x4f)
    expect(parseFrame(F, 60, DESC)).toBe(V_DROP_IP_IHL)
    expect(parseBoth(ICMP_ECHO, 49)).toBe(V_DROP_IP_TOTAL_LENGTH)
    place(ICMP_ECHO, 0); store<u8>(F + 17, 19)
    expect(parseFrame(F, 60, DESC)).toBe(V_DROP_IP_TOTAL_LENGTH)
    place(ICMP_ECHO, 0); store<u8>(F + 22, 63)
    expect(parseFrame(F, 60, DESC)).toBe(V_DROP_IP_CHECKSUM)
    place(ICMP_ECHO, 0); store<u8>(F + 49, 0)
    expect(parseFrame(F, 60, DESC)).toBe(V_DROP_ICMP_CHECKSUM)
    place(UDP_OPTIONS, 0); store<u8>(F + 50, 0x6e)
    expect(parseFrame(F, 51, DESC)).toBe(V_DROP_UDP_CHECKSUM)
    place(UDP_OPTIONS, 0); store<u8>(F + 43, 7)
    expect(parseFrame(F, 51, DESC)).toBe(V_DROP_UDP_LENGTH)
    place(UDP_OPTIONS, 0); store<u8>(F + 43, 14)
    expect(parseFrame(F, 51, DESC)).toBe(V_DROP_UDP_LENGTH)
    place(TCP_SYN, 0); store<u8>(F + 46, 0x40)
    expect(parseFrame(F, 58, DESC)).toBe(V_DROP_TCP_SHORT)
    place(TCP_SYN, 0); store<u8>(F + 46, 0x70)
    expect(parseFrame(F, 58, DESC)).toBe(V_DROP_TCP_SHORT)
  })

  it('short transports: the IP header rewritten to a protocol whose header does not fit', () => {
    // UDP_NO_CHECKSUM is 20 + 11 bytes: turn it into 20 + 7 (too short for UDP, ICMP) and retarget.
    place(UDP_NO_CHECKSUM, 0)
    emitIpv4(F + 14, 0, 27, 7, 0, 64, 17, 0x0a000001, 0x0a000002)
    expect(parseFrame(F, 60, DESC)).toBe(V_DROP_UDP_SHORT)
    emitIpv4(F + 14, 0, 27, 7, 0, 64, 1, 0x0a000001, 0x0a000002)
    expect(parseFrame(F, 60, DESC)).toBe(V_DROP_ICMP_SHORT)
    emitIpv4(F + 14, 0, 39, 7, 0, 64, 6, 0x0a000001, 0x0a000002)
    expect(parseFrame(F, 60, DESC)).toBe(V_DROP_TCP_SHORT)
    emitIpv4(F + 14, 0, 27, 7, 0, 64, 89, 0x0a000001, 0x0a000002)
    expect(parseFrame(F, 60, DESC)).toBe(V_IPV4_OTHER)
    store<u8>(F + 12, 0x86); store<u8>(F + 13, 0xdd)
    expect(parseFrame(F, 60, DESC)).toBe(V_ETH_OTHER)
  })

  it('truncated at every byte: a drop or the same verdict, never a field beyond the frame', () => {
    const frames: u8[][] = [ARP_REQUEST, ICMP_ECHO, UDP_OPTIONS, UDP_NO_CHECKSUM, FRAGMENT_FIRST, FRAGMENT_LAST, TCP_SYN]
    for (let k = 0; k < frames.length; k++) {
      const full = parseBoth(frames[k], <u32>frames[k].length)
      for (let len: u32 = 0; len <= <u32>frames[k].length; len++) {
        const v = parseBoth(frames[k], len)
        expect(v == full || v >= VERDICT_DROP_FIRST).toBe(true)
        expect(insideFrame(len)).toBe(true)
      }
    }
  })
})

describe('emit', () => {
  it('turns the echo request into a reply in place, checksums by the book', () => {
    place(ICMP_ECHO, 0)
    // Reply to the sender from the address the request was for: the MACs swap in place.
    emitEthernet(F, F + 6, F, 0x0800)
    emitIpv4(F + 14, 0, 36, 0x4321, IP_WORD_DF, 64, 1, 0x0a000002, 0x0a000001)
    emitIcmp(F + 34, 0, 0, (0xbeef << 16) | 1, 16)
    expect(load<u8>(F)).toBe(2)
    expect(load<u8>(F + 5)).toBe(1)
    expect(load<u8>(F + 11)).toBe(2)
    const ipSum = be16(F + 24)
    store<u16>(F + 24, 0)
    expect(ipSum).toBe(reference(F + 14, 20, 0))
    store<u8>(F + 24, <u8>(ipSum >> 8)); store<u8>(F + 25, <u8>ipSum)
    expect(parseFrame(F, 60, DESC)).toBe(V_IPV4_ICMP)
    expect(w(D_ICMP_TYPE)).toBe(0)
    expect(w(D_ICMP_ID)).toBe(0xbeef)
    expect(w(D_ICMP_SEQ)).toBe(1)
    expect(w(D_IP_SRC)).toBe(0x0a000002)
    expect(w(D_IP_ID)).toBe(0x4321)
    store<u8>(F + 34, 8)
    emitIcmpChecksum(F + 34, 16)
    expect(be16(F + 36)).toBe(0xa779)
  })

  it('emits a UDP datagram whose checksum matches the reference; a computed 0 goes out as 0xFFFF', () => {
    const src: u32 = 0xc0a80164
    const dst: u32 = 0x0a000002
    place(UDP_OPTIONS, 0)
    const u = F + 38
    emitUdp(u, 5353, 7, 5, src, dst)
    expect(be16(u + 6)).toBe(0xdb03)
    // Make the sum come out 0: put the complement of the current sum into two data bytes.
    store<u8>(u + 8, 0); store<u8>(u + 9, 0)
    emitUdp(u, 5353, 7, 5, src, dst)
    const c = be16(u + 6)
    store<u8>(u + 8, <u8>(c >> 8)); store<u8>(u + 9, <u8>c)
    emitUdp(u, 5353, 7, 5, src, dst)
    expect(be16(u + 6)).toBe(0xffff)
    expect(parseFrame(F, 51, DESC)).toBe(V_IPV4_UDP)
    expect(w(D_CHECKED)).toBe(3)
  })

  it('emits an ARP reply over the request it answers', () => {
    place(ARP_REQUEST, 0)
    const mine = DESC2 // our MAC, 02:00:00:00:00:02
    store<u32>(mine, 0x00000002); store<u16>(mine + 4, 0x0200)
    emitEthernet(F, F + 6, mine, 0x0806)
    emitArp(F + 14, 2, mine, 0x0a000002, F + 22, 0x0a000001)
    expect(parseFrame(F, 60, DESC)).toBe(V_ETH_ARP)
    expect(w(D_ARP_OP)).toBe(2)
    expect(w(D_ARP_SPA)).toBe(0x0a000002)
    expect(w(D_ARP_TPA)).toBe(0x0a000001)
    expect(load<u8>(F + 14 + 8 + 5)).toBe(2)
    expect(load<u8>(F + 14 + 18 + 5)).toBe(1)
    expect(load<u8>(F + 5)).toBe(1)
    expect(load<u8>(F + 11)).toBe(2)
  })
})
