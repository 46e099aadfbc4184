// The static memory budget: one byte arena laid out once at boot from the board's budget.
// Every packet buffer and every protocol table lives in one of these regions; nothing is allocated
// per packet, per connection or per timer tick after boot. Device dialect.

/** A board's memory budget (boards/*.json, "budget"). Counts are fixed table sizes. */
export interface Budget {
  /** Frame ring slots between the chip driver and the stack. */
  rxSlots: number
  txSlots: number
  /** Bytes per frame slot: a 2-byte length plus the largest frame (1514 bytes without FCS). */
  frameSlotBytes: number
  /** TCP connection table (TCBs) and the send/receive ring of each. */
  tcbs: number
  tcpRxBytes: number
  tcpTxBytes: number
  /** Out-of-order holes tracked per TCB receive ring (RFC 9293 §3.10.7.4; SACK blocks come from here). */
  tcpHoles: number
  /** Listening sockets and the accept backlog of each. */
  listeners: number
  backlog: number
  /** UDP socket table and the receive ring of each. */
  udpSockets: number
  udpRxBytes: number
  /** ARP cache entries, and packets that may wait for a resolution (each with a frame slot of its own). */
  arpEntries: number
  arpPending: number
  /** IPv4 fragment reassembly buffers and the largest datagram each can rebuild. */
  reassemblyBuffers: number
  reassemblyBytes: number
}

/** Fixed per-entry sizes of the protocol tables (bytes). */
export const SIZES = {
  ringHeader: 16,
  /** firmware/tcp/tcb.ts: 18 u32 + 9 u16 + 6 u8 fields per TCB (struct-of-arrays). */
  tcbState: 96,
  /** firmware/core/tcp-reasm-desc.ts: a TCB's reassembly tracker is a header and one [start, end) pair per hole. */
  tcpHolesHeader: 8,
  tcpHole: 8,
  listener: 8,
  backlogEntry: 4,
  udpSocket: 16,
  /** firmware/net/arp.ts: three f64 times, IPv4 address, MAC, state, tries, flags (struct-of-arrays). */
  arpEntry: 40,
  arpPending: 8,
  reassemblyState: 64,
  /** firmware/kernel/counters.ts: COUNTER_WORDS u32 words. */
  counters: 384,
  /** firmware/net/stack.ts: own/broadcast/zero MACs, multicast groups, two frame descriptors, scratch headers. */
  netState: 384,
}

/** The smallest frame slot: 2-byte length + 1514-byte frame, rounded up to 4. */
export const MIN_FRAME_SLOT = 1516
/** RFC 1122 §3.3.2: every host must reassemble datagrams of at least 576 bytes (EMTU_R). */
export const MIN_REASSEMBLY = 576
/** RFC 791: the total length field is 16 bits. */
export const MAX_DATAGRAM = 65535
const ALIGN = 16

export interface Region {
  name: string
  offset: number
  size: number
  count: number
  each: number
}

export interface ArenaLayout {
  base: number
  total: number
  regions: Region[]
}

/** Errors about the budget carry this name (Espruino cannot subclass Error). */
export const BUDGET_ERROR = 'BudgetError'

function budgetError(message: string): Error {
  const e = new Error(message)
  e.name = BUDGET_ERROR
  return e
}

export function isBudgetError(e: unknown): e is Error {
  return e instanceof Error && e.name === BUDGET_ERROR
}

/** The budget's keys. A function, not a constant array: on Espruino the list then lives in the code (flash) and
 *  costs variable blocks only while a budget is checked at boot. */
function budgetKeys(): string[] {
  return [
    'rxSlots', 'txSlots', 'frameSlotBytes', 'tcbs', 'tcpRxBytes', 'tcpTxBytes', 'tcpHoles', 'listeners',
    'backlog', 'udpSockets', 'udpRxBytes', 'arpEntries', 'arpPending', 'reassemblyBuffers', 'reassemblyBytes',
  ]
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a
}

function nextPowerOfTwo(n: number): number {
  let p = 1
  while (p < n) p *= 2
  return p
}

function checkCounts(b: Budget, problems: string[]): void {
  const any = b as unknown as { [k: string]: unknown }
  const keys = budgetKeys()
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]
    const v = any[k]
    if (typeof v !== 'number' || v !== Math.floor(v) || v < 0) {
      problems.push('budget.' + k + ' = ' + JSON.stringify(v) + ': set it to a whole number >= 0')
    }
  }
}

function checkRules(b: Budget, problems: string[]): void {
  // One RX slot is enough where the chip buffers frames itself (16 KB on the W5500, 8 KB on the ENC28J60):
  // the driver leaves a frame on the chip until the stack has taken the one before.
  if (b.rxSlots < 1) problems.push('budget.rxSlots = ' + b.rxSlots + ': the RX ring needs at least 1 slot')
  if (b.txSlots < 1) problems.push('budget.txSlots = ' + b.txSlots + ': the TX ring needs at least 1 slot')
  if (b.frameSlotBytes < MIN_FRAME_SLOT || b.frameSlotBytes % 4 !== 0) {
    problems.push('budget.frameSlotBytes = ' + b.frameSlotBytes + ': a frame slot must hold a 2-byte length and a ' +
      '1514-byte frame; use a multiple of 4 >= ' + MIN_FRAME_SLOT + ' (1536 is usual)')
  }
  if (b.tcbs > 0) {
    const rings: [string, number][] = [['tcpRxBytes', b.tcpRxBytes], ['tcpTxBytes', b.tcpTxBytes]]
    for (let i = 0; i < rings.length; i++) {
      const v = rings[i][1]
      if (!isPowerOfTwo(v) || v < 256 || v > 1048576) {
        problems.push('budget.' + rings[i][0] + ' = ' + v + ': a TCP ring must be a power of two from 256 to 1048576' +
          (v > 256 && v < 1048576 ? ' (try ' + nextPowerOfTwo(v) + ')' : ''))
      }
    }
    if (b.tcpHoles < 1) problems.push('budget.tcpHoles = 0: out-of-order reassembly needs at least 1 hole per TCB')
  }
  if (b.listeners > 0 && b.backlog < 1) problems.push('budget.backlog = 0: each listener needs a backlog of at least 1')
  if (b.listeners > b.tcbs) problems.push('budget.listeners = ' + b.listeners + ' exceeds budget.tcbs = ' + b.tcbs + ': a listener can never accept more connections than there are TCBs; lower listeners or raise tcbs')
  // udpRxBytes 0: no rings, datagrams go to the socket's callback straight from the frame (firmware/net/udp.ts)
  if (b.udpSockets > 0 && b.udpRxBytes !== 0 && (!isPowerOfTwo(b.udpRxBytes) || b.udpRxBytes < 256)) {
    problems.push('budget.udpRxBytes = ' + b.udpRxBytes + ': a UDP receive ring must be a power of two >= 256, ' +
      'or 0 for no rings')
  }
  if (b.arpEntries < 1) problems.push('budget.arpEntries = 0: ARP needs at least one cache entry (the gateway)')
  if (b.arpPending > b.txSlots * 4) problems.push('budget.arpPending = ' + b.arpPending + ': more packets waiting for ARP than 4 x txSlots cannot be queued; lower it')
  if (b.reassemblyBuffers > 0 && (b.reassemblyBytes < MIN_REASSEMBLY || b.reassemblyBytes > MAX_DATAGRAM)) {
    problems.push('budget.reassemblyBytes = ' + b.reassemblyBytes + ': RFC 1122 3.3.2 needs at least ' + MIN_REASSEMBLY +
      ' and IPv4 allows at most ' + MAX_DATAGRAM)
  }
}

/** Checks a budget; returns the list of problems, each saying what to change (empty when it is sound). */
export function checkBudget(b: Budget): string[] {
  const problems: string[] = []
  if (b === null || typeof b !== 'object') return ['budget: missing; add a "budget" object to the board file']
  checkCounts(b, problems)
  if (problems.length === 0) checkRules(b, problems)
  return problems
}

function regionList(b: Budget): [string, number, number][] {
  return [
    ['counters', 1, SIZES.counters],
    ['net state', 1, SIZES.netState],
    ['rx ring', b.rxSlots, b.frameSlotBytes],
    ['rx ring header', 1, SIZES.ringHeader],
    ['tx ring', b.txSlots, b.frameSlotBytes],
    ['tx ring header', 1, SIZES.ringHeader],
    ['arp cache', b.arpEntries, SIZES.arpEntry],
    ['arp pending', b.arpPending, SIZES.arpPending + b.frameSlotBytes],
    ['ip reassembly state', b.reassemblyBuffers, SIZES.reassemblyState],
    ['ip reassembly buffers', b.reassemblyBuffers, alignUp(b.reassemblyBytes, 4)],
    ['udp sockets', b.udpSockets, SIZES.udpSocket],
    ['udp rx rings', b.udpSockets, b.udpRxBytes],
    ['tcp listeners', b.listeners, SIZES.listener + b.backlog * SIZES.backlogEntry],
    ['tcb state', b.tcbs, SIZES.tcbState],
    ['tcp holes', b.tcbs, SIZES.tcpHolesHeader + b.tcpHoles * SIZES.tcpHole],
    ['tcp rx rings', b.tcbs, b.tcpRxBytes],
    ['tcp tx rings', b.tcbs, b.tcpTxBytes],
  ]
}

/**
 * Lays out the arena from `base` (aligned to 16). `limit` is the most bytes the board can give the
 * arena. Throws an Error named BudgetError whose message lists what to change when the budget is impossible.
 */
export function layoutArena(b: Budget, base: number, limit: number): ArenaLayout {
  const problems = checkBudget(b)
  if (problems.length > 0) throw budgetError('impossible budget:\n  ' + problems.join('\n  '))
  const list = regionList(b)
  const regions: Region[] = []
  let at = alignUp(base, ALIGN)
  for (let i = 0; i < list.length; i++) {
    const size = list[i][1] * list[i][2]
    regions.push({ name: list[i][0], offset: at, size: size, count: list[i][1], each: list[i][2] })
    at = alignUp(at + size, ALIGN)
  }
  const total = at - base
  if (total > limit) {
    let biggest = regions[0]
    for (let i = 1; i < regions.length; i++) if (regions[i].size > biggest.size) biggest = regions[i]
    throw budgetError('impossible budget: the arena needs ' + total + ' bytes but this board gives it at most ' +
      limit + '; shrink the largest region, "' + biggest.name + '" (' + biggest.count + ' x ' + biggest.each +
      ' bytes), or raise memory.arenaLimit if the board really has the RAM')
  }
  return { base: base, total: total, regions: regions }
}

/** Finds a region by name (the stack's modules take their tables from here). */
export function region(layout: ArenaLayout | null, name: string): Region {
  if (layout === null) throw new Error('arena layout released after boot: no region "' + name + '"')
  for (let i = 0; i < layout.regions.length; i++) if (layout.regions[i].name === name) return layout.regions[i]
  throw new Error('arena has no region "' + name + '"')
}

function pad(s: string, n: number, left: boolean): string {
  while (s.length < n) s = left ? ' ' + s : s + ' '
  return s
}

/** The arena map as printed by `spinet build` and at boot. */
export function formatArenaMap(layout: ArenaLayout): string {
  const lines = [pad('region', 22, false) + pad('offset', 9, true) + pad('count', 7, true) + pad('each', 8, true) + pad('bytes', 9, true)]
  for (let i = 0; i < layout.regions.length; i++) {
    const r = layout.regions[i]
    lines.push(pad(r.name, 22, false) + pad('0x' + r.offset.toString(16), 9, true) + pad(String(r.count), 7, true) +
      pad(String(r.each), 8, true) + pad(String(r.size), 9, true))
  }
  lines.push(pad('total', 22, false) + pad('', 24, true) + pad(String(layout.total), 9, true))
  return lines.join('\n')
}
