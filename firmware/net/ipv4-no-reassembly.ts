// IPv4 without fragment reassembly: what a board whose budget has no reassembly buffers (reassemblyBuffers 0)
// links in place of ipv4-reassembly.ts (tools/bundle.ts swaps the module in its device bundle). It has the same
// interface and does what ipv4-reassembly.ts does with no buffers: every fragment addressed to us is counted
// (ip.frag.rx) and dropped, as malformed (ip.frag.bad: empty, or MF set and not a multiple of 8 bytes, RFC 791
// §3.2) or for want of a buffer (ip.frag.no-buffer). RFC 1122 §3.3.2 asks a host to reassemble datagrams of
// at least 576 bytes; such a board does not, and its README entry says so. Sending is unaffected: datagrams
// larger than a frame still leave as fragments (firmware/net/ipv4.ts), except echo replies too large for the
// TX ring, which need a reassembly buffer to be sent from. Device dialect.
import type { NetStack } from './stack.js'
import { Counters } from '../kernel/counters.js'
import { D_IP_FLAGS, D_IP_PAYLOAD_LEN, IP_FLAG_MF } from '../core/frame-desc.js'

const C_FRAG_RX = Counters.id('ip.frag.rx')
const C_NO_BUFFER = Counters.id('ip.frag.no-buffer')
const C_BAD = Counters.id('ip.frag.bad')

export class Reassembly {
  private readonly s: NetStack

  constructor(s: NetStack) {
    this.s = s
  }

  /** No entry is ever in use. */
  inUse(): number {
    return 0
  }

  /** A fragment addressed to us (descriptor at `desc`): counted and dropped. */
  input(desc: number, cast: number, now: number): void {
    const s = this.s
    const d = desc >> 2
    s.counters.inc(C_FRAG_RX)
    const len = s.u32[d + D_IP_PAYLOAD_LEN]
    const more = (s.u32[d + D_IP_FLAGS] & IP_FLAG_MF) !== 0
    s.counters.inc(len === 0 || (more && (len & 7) !== 0) ? C_BAD : C_NO_BUFFER)
  }

  /** Never called: only a datagram reassembled in a buffer (entry >= 0) can become an output job. */
  startJob(i: number, dst: number, proto: number, msgOff: number, n: number, now: number): number {
    throw new Error('reassembly: this board has no reassembly buffers')
  }

  /** There are no output jobs. */
  runJobs(now: number): void {}
}
