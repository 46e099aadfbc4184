// Counters of frames in and out and of drops by reason, as u32 words in the arena's "counters"
// region (96 words, SIZES.counters = 384 bytes). Device dialect. Names are listed once here; the console and `spinet sim` print
// the non-zero ones.

/**
 * The counter names, in id order, as one comma-separated string. A function rather than an array so that on
 * Espruino the names stay in the function's code (in flash) and cost no variable blocks while the firmware runs;
 * the string exists only while a name is being looked up (at boot) or the counters are printed.
 */
export function counterNames(): string {
  return 'eth.rx,eth.tx,eth.rx.runt,eth.rx.not-for-us,eth.rx.unknown-type,eth.tx.ring-full,' +
    'arp.rx,arp.tx,arp.rx.bad,arp.rx.ignored,arp.pending.full,arp.pending.timeout,' +
    'arp.rx.conflict,arp.cache.full,' +
    'ip.rx,ip.tx,ip.rx.short,ip.rx.version,ip.rx.ihl,ip.rx.length,ip.rx.checksum,' +
    'ip.rx.not-for-us,ip.rx.bad-src,ip.rx.proto,ip.frag.rx,ip.frag.reassembled,ip.frag.overlap,' +
    'ip.frag.too-big,ip.frag.timeout,ip.frag.no-buffer,ip.frag.bad,ip.frag.tx,ip.tx.no-route,' +
    'icmp.rx,icmp.tx,icmp.rx.bad,icmp.rx.broadcast,icmp.echo,icmp.unreach.tx,icmp.unreach.limited,' +
    'udp.rx,udp.tx,udp.rx.bad,udp.rx.checksum,udp.rx.no-port,udp.rx.ring-full,' +
    'tcp.rx,tcp.tx,tcp.rx.bad,tcp.rx.checksum,tcp.rst.tx,tcp.retransmit,' +
    'tcp.rx.no-port,tcp.rx.out-of-window,tcp.rx.out-of-order,tcp.rx.reasm-full,tcp.challenge-ack,' +
    'tcp.challenge-ack.limited,tcp.fast-retransmit,tcp.timeout,tcp.syn-cookie.tx,tcp.syn-cookie.ok,' +
    'tcp.accept,tcp.connect,tcp.table-full,tcp.time-wait.recycled,' +
    'dhcp.tx,dhcp.rx,dhcp.bound,dhcp.lost,' +
    'drv.rx.error,drv.tx.error,drv.recovery,drv.chip.overflow,poll.budget.stop,' +
    'poll.error'
}

/** The counter names as an array, in id order (for the host and tests; the device walks the string). */
export function counterNameList(): string[] {
  return counterNames().split(',')
}

export const COUNTER_WORDS = 96

export class Counters {
  readonly words: Uint32Array

  constructor(buffer: ArrayBuffer, offset: number) {
    const names = counterNames()
    let n = 1
    for (let p = names.indexOf(','); p >= 0; p = names.indexOf(',', p + 1)) n++
    if (n > COUNTER_WORDS) throw new Error('too many counters for the counters region')
    this.words = new Uint32Array(buffer, offset, COUNTER_WORDS)
    this.words.fill(0)
  }

  /** The index of a counter by name (looked up once at boot by each module). */
  static id(name: string): number {
    const names = ',' + counterNames() + ','
    const at = names.indexOf(',' + name + ',')
    if (at < 0) throw new Error('no counter "' + name + '"')
    // The id is the number of commas before the one that opens the name.
    let i = 0
    for (let p = names.indexOf(','); p < at; p = names.indexOf(',', p + 1)) i++
    return i
  }

  inc(id: number): void { this.words[id]++ }
  get(name: string): number { return this.words[Counters.id(name)] }

  /** "name=value" for every non-zero counter. */
  format(): string {
    const names = counterNames()
    let out = ''
    let i = 0
    let start = 0
    while (start <= names.length) {
      let end = names.indexOf(',', start)
      if (end < 0) end = names.length
      if (this.words[i] !== 0) out += (out.length > 0 ? ' ' : '') + names.substring(start, end) + '=' + this.words[i]
      start = end + 1
      i++
    }
    return out
  }
}
