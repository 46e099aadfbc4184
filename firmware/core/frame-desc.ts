// The frame descriptor: what `parseFrame` / `parseIpv4` (firmware/core/contract.ts) write about one
// received frame, shared by both backends. assembly/frame.ts mirrors these numbers; test/frame.test.ts
// asserts that the two copies agree.
//
// A descriptor is DESC_WORDS 32-bit words in the arena at a 4-byte-aligned offset the caller passes.
// Every parse first clears all of them, so a word that does not apply to the verdict reads 0. Offsets
// are absolute arena offsets (like the frame's own), never relative; addresses are IPv4 addresses as
// u32 values in network order (10.0.0.1 = 0x0A000001). Every offset/length pair stays inside the frame.
// On a drop verdict the words filled before the failing check keep their values (for diagnostics);
// only the verdict, frame and L3 words are promised.
// Device dialect.

/** Words in one descriptor. */
export const DESC_WORDS = 36
/** Bytes in one descriptor. */
export const DESC_BYTES = DESC_WORDS * 4

// ---- word indices ---------------------------------------------------------------------------------

/** The verdict code (below), the same number `parseFrame` returns. */
export const D_VERDICT = 0
/** Offset of the frame (its Ethernet destination MAC; source MAC at +6). For `parseIpv4`: the datagram. */
export const D_FRAME_OFF = 1
/** Bytes of the frame as received (Ethernet padding and FCS-less, whatever the driver delivered). */
export const D_FRAME_LEN = 2
/** EtherType (RFC 894); `parseIpv4` sets 0x0800. */
export const D_ETHERTYPE = 3
/** Offset of the network-layer header (frame + 14). */
export const D_L3_OFF = 4
/** Bytes from D_L3_OFF to the end of the frame (includes Ethernet padding). */
export const D_L3_LEN = 5

// ARP (RFC 826), verdict ETH_ARP.
/** Opcode: 1 request, 2 reply. */
export const D_ARP_OP = 6
/** Offset of the sender hardware address (6 bytes). */
export const D_ARP_SHA = 7
/** Sender protocol address. */
export const D_ARP_SPA = 8
/** Offset of the target hardware address (6 bytes). */
export const D_ARP_THA = 9
/** Target protocol address. */
export const D_ARP_TPA = 10

// IPv4 (RFC 791 §3.1), verdicts IPV4_*.
/** Internet header length in 32-bit words (5..15). */
export const D_IP_IHL = 11
/** Header length in bytes (IHL * 4); options, if any, are D_L3_OFF + 20 .. D_L3_OFF + D_IP_HLEN. */
export const D_IP_HLEN = 12
/** Type of service / DSCP+ECN byte. */
export const D_IP_TOS = 13
/** Total length: it governs, Ethernet padding beyond it is ignored (RFC 894). */
export const D_IP_TOTAL_LEN = 14
/** Identification. */
export const D_IP_ID = 15
/** The three flag bits: IP_FLAG_RESERVED | IP_FLAG_DF | IP_FLAG_MF. */
export const D_IP_FLAGS = 16
/** Fragment offset in bytes (the field times 8). */
export const D_IP_FRAG_OFF = 17
export const D_IP_TTL = 18
export const D_IP_PROTO = 19
export const D_IP_SRC = 20
export const D_IP_DST = 21
/** Offset of the IP payload (D_L3_OFF + D_IP_HLEN). */
export const D_IP_PAYLOAD_OFF = 22
/** Bytes of IP payload (D_IP_TOTAL_LEN - D_IP_HLEN). */
export const D_IP_PAYLOAD_LEN = 23

// Transport (unfragmented datagrams only). The transport header starts at D_IP_PAYLOAD_OFF.
/** UDP/TCP source port. */
export const D_L4_SRC_PORT = 24
/** UDP/TCP destination port. */
export const D_L4_DST_PORT = 25
/** UDP: the UDP length field (trailing IP payload beyond it is ignored); TCP and ICMP: the IP payload. */
export const D_L4_LEN = 26
/** Transport header bytes: 8 for UDP and ICMP, the data offset times 4 for TCP. */
export const D_L4_HLEN = 27
/** The checksum field as received (UDP: 0 = the sender computed none). */
export const D_L4_CHECKSUM = 28
/** Offset of the transport payload (UDP data, ICMP data after the 8-byte header, TCP data). */
export const D_DATA_OFF = 29
/** Bytes of transport payload. */
export const D_DATA_LEN = 30

// ICMP (RFC 792), verdict IPV4_ICMP. Bytes 4..7 of the header are ID << 16 | SEQ whatever the type.
export const D_ICMP_TYPE = 31
export const D_ICMP_CODE = 32
export const D_ICMP_ID = 33
export const D_ICMP_SEQ = 34

/** Checksums verified: CHECKED_IP (header), CHECKED_L4 (ICMP, or UDP with a non-zero checksum). */
export const D_CHECKED = 35

export const CHECKED_IP = 1
export const CHECKED_L4 = 2

/** D_IP_FLAGS bits (the top three bits of the fragment word, shifted down). */
export const IP_FLAG_RESERVED = 4
export const IP_FLAG_DF = 2
export const IP_FLAG_MF = 1

/** The same flags in the raw 16-bit flags/fragment-offset word `emitIpv4` takes. */
export const IP_WORD_DF = 0x4000
export const IP_WORD_MF = 0x2000

export const ETHERTYPE_IPV4 = 0x0800
export const ETHERTYPE_ARP = 0x0806
export const IP_PROTO_ICMP = 1
export const IP_PROTO_TCP = 6
export const IP_PROTO_UDP = 17
export const ARP_OP_REQUEST = 1
export const ARP_OP_REPLY = 2

export const ETH_HEADER_BYTES = 14
export const ARP_BYTES = 28
export const IPV4_HEADER_BYTES = 20
export const UDP_HEADER_BYTES = 8
export const ICMP_HEADER_BYTES = 8
export const TCP_HEADER_BYTES = 20

// ---- verdicts -------------------------------------------------------------------------------------
// Accepted kinds are 1..VERDICT_ACCEPT_LAST; drops are VERDICT_DROP_FIRST.. (each reason its own code,
// so a counter per code tells why frames were refused). 0 is never returned.

export const V_NONE = 0
/** ARP for IPv4 over Ethernet, request or reply: D_ARP_*. */
export const V_ETH_ARP = 1
/** Unfragmented ICMP with a good checksum and at least the 8-byte header: D_IP_*, D_L4_*, D_ICMP_*. */
export const V_IPV4_ICMP = 2
/** Unfragmented UDP, length and checksum good: D_IP_*, D_L4_*, D_DATA_*. */
export const V_IPV4_UDP = 3
/** Unfragmented TCP with a sane data offset (checksum not verified here): D_IP_*, D_L4_*, D_DATA_*. */
export const V_IPV4_TCP = 4
/** Unfragmented IPv4 of another protocol: D_IP_*. */
export const V_IPV4_OTHER = 5
/** A fragment (MF set or offset non-zero), for the reassembler: D_IP_* only, the transport is not parsed. */
export const V_IPV4_FRAGMENT = 6
/** Another EtherType (including IEEE 802.3 lengths and VLAN tags): D_ETHERTYPE, D_L3_*. */
export const V_ETH_OTHER = 7
export const VERDICT_ACCEPT_LAST = 7

export const VERDICT_DROP_FIRST = 16
/** Frame shorter than the 14-byte Ethernet header. */
export const V_DROP_RUNT = 16
/** ARP shorter than the 28 bytes of an IPv4-over-Ethernet packet. */
export const V_DROP_ARP_SHORT = 17
/** ARP not for IPv4 over Ethernet (htype 1, ptype 0x0800, hlen 6, plen 4) or an opcode other than 1, 2. */
export const V_DROP_ARP_BAD = 18
/** IPv4 shorter than 20 bytes. */
export const V_DROP_IP_SHORT = 19
/** IP version not 4 (RFC 1122 §3.2.1.1: silently discard). */
export const V_DROP_IP_VERSION = 20
/** IHL below 5, or the header runs past the frame. */
export const V_DROP_IP_IHL = 21
/** Total length below the header length, or beyond the frame. */
export const V_DROP_IP_TOTAL_LENGTH = 22
/** Header checksum wrong (RFC 1122 §3.2.1.2: silently discard). */
export const V_DROP_IP_CHECKSUM = 23
/** UDP payload shorter than the 8-byte header. */
export const V_DROP_UDP_SHORT = 24
/** UDP length below 8 or beyond the IP payload. */
export const V_DROP_UDP_LENGTH = 25
/** UDP checksum non-zero and wrong (RFC 1122 §4.1.3.4: silently discard). */
export const V_DROP_UDP_CHECKSUM = 26
/** ICMP shorter than the 8-byte header. */
export const V_DROP_ICMP_SHORT = 27
/** ICMP checksum wrong (RFC 792: over the whole message). */
export const V_DROP_ICMP_CHECKSUM = 28
/** TCP shorter than 20 bytes, or a data offset below 5 or beyond the segment. */
export const V_DROP_TCP_SHORT = 29
/** One past the highest verdict code: the size of a counter table indexed by verdict. */
export const VERDICT_COUNT = 30

/** Names for counters and logs, indexed by verdict code ('' for unused codes). */
export const VERDICT_NAMES: string[] = [
  'none', 'eth-arp', 'ipv4-icmp', 'ipv4-udp', 'ipv4-tcp', 'ipv4-other', 'ipv4-fragment', 'eth-other',
  '', '', '', '', '', '', '', '',
  'drop-runt', 'drop-arp-short', 'drop-arp-bad', 'drop-ip-short', 'drop-ip-version', 'drop-ip-ihl',
  'drop-ip-total-length', 'drop-ip-checksum', 'drop-udp-short', 'drop-udp-length', 'drop-udp-checksum',
  'drop-icmp-short', 'drop-icmp-checksum', 'drop-tcp-short',
]

/** True when `verdict` says the frame must be dropped. */
export function isDrop(verdict: number): boolean {
  return verdict >= VERDICT_DROP_FIRST
}
