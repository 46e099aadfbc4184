// The example firmware's services: the classic small servers people test a network stack with. Device dialect.
//
//   UDP echo    port 7  RFC 862: every datagram is sent back to its source
//   UDP discard port 9  RFC 863: every datagram is counted and thrown away
//   TCP echo    port 7  RFC 862 §"TCP Based Echo Service"     (issue 5: add startTcpEcho below)
//   TCP discard port 9  RFC 863 §"TCP Based Discard Service"  (issue 5: add startTcpDiscard below)
//
// The services talk to firmware/net/udp.ts directly rather than through the dgram API: the datagram the stack
// lends us is echoed from inside the receive callback (Udp.send copies it into a frame), so serving a packet
// allocates nothing. Each service is one small start function; startExampleServices calls them in turn, and
// the TCP ones slot in the same way once firmware/tcp exists.

/** The part of firmware/net/udp.ts's Udp the services use. */
export interface ServicesUdp {
  open(localPort: number, onDatagram: (srcIp: number, srcPort: number, dstIp: number, data: Uint8Array) => void): number
  send(id: number, dstIp: number, dstPort: number, data: Uint8Array, now: number): number
  close(id: number): void
}

/** The part of firmware/net/stack.ts's NetStack the services use (NetStack satisfies it). */
export interface ServicesStack {
  readonly udp: ServicesUdp
  config(): { ip: number; mask: number; gateway: number }
  /** NetStack's own address field: read per packet instead of config(), which returns a new object. */
  readonly addr?: number
}

function ownAddress(stack: ServicesStack): number {
  return typeof stack.addr === 'number' ? stack.addr : stack.config().ip
}

export const ECHO_PORT = 7 // RFC 862
export const DISCARD_PORT = 9 // RFC 863
/** Character generator (RFC 864): with echo, the two ends of the classic UDP ping-pong loop. */
const CHARGEN_PORT = 19

/** What the services did; the firmware's console prints these next to the stack's counters. */
export interface ExampleCounters {
  udpEchoRx: number
  udpEchoTx: number
  /** Echo requests not answered: from a source that cannot be answered, or the stack refused the reply. */
  udpEchoDropped: number
  udpDiscardRx: number
  udpDiscardBytes: number
}

/** The running services: their counters, and stop() to close their sockets. */
export interface ExampleServices {
  counters: ExampleCounters
  stop(): void
}

/**
 * Whether a reply may go to `src` from a datagram sent to `dst`. Not in RFC 862 itself, but what a host must
 * do anyway: never answer a broadcast or multicast datagram (a reply per host on the link is an amplifier,
 * and RFC 1122 §3.2.1.3 forbids broadcast/multicast/0 as a source we would answer to), and never answer the
 * echo or chargen port of another host (two echo servers would bounce one datagram between them forever).
 */
function answerable(src: number, srcPort: number, dst: number, ownIp: number): boolean {
  if (dst !== ownIp || ownIp === 0) return false
  const first = src >>> 24
  if (src === 0 || first === 0 || first === 127 || first >= 224) return false
  return srcPort !== 0 && srcPort !== ECHO_PORT && srcPort !== CHARGEN_PORT
}

function openOrThrow(udp: ServicesUdp, port: number, name: string, fn: (src: number, sport: number, dst: number, data: Uint8Array) => void): number {
  const id = udp.open(port, fn)
  if (id === -2) throw new Error(name + ': UDP port ' + port + ' is already in use')
  if (id < 0) throw new Error(name + ': no free UDP socket for port ' + port + ' (raise budget.udpSockets)')
  return id
}

/** RFC 862 "UDP Based Echo Service": "When a datagram is received, the data from it is sent back in an answering datagram." */
function startUdpEcho(stack: ServicesStack, now: () => number, c: ExampleCounters): number {
  let id = -1
  id = openOrThrow(stack.udp, ECHO_PORT, 'udp echo', function (src, sport, dst, data) {
    c.udpEchoRx++
    if (!answerable(src, sport, dst, ownAddress(stack))) { c.udpEchoDropped++; return }
    if (stack.udp.send(id, src, sport, data, now()) < 0) c.udpEchoDropped++
    else c.udpEchoTx++
  })
  return id
}

/** RFC 863 "UDP Based Discard Service": "When a datagram is received, it is thrown away. No response is sent." */
function startUdpDiscard(stack: ServicesStack, c: ExampleCounters): number {
  return openOrThrow(stack.udp, DISCARD_PORT, 'udp discard', function (src, sport, dst, data) {
    c.udpDiscardRx++
    c.udpDiscardBytes += data.length
  })
}

// Issue 5 (TCP): add here, with the same shape, and call them from startExampleServices:
//   function startTcpEcho(stack, c): a listener on port 7 that writes back what each connection reads;
//   function startTcpDiscard(stack, c): a listener on port 9 that reads and drops;
// with counters tcpEchoConnections/tcpEchoBytes and tcpDiscardConnections/tcpDiscardBytes above.

/**
 * Starts the example services on `stack`; `now` is the stack's clock in microseconds. Needs two UDP sockets
 * (plus one for DHCP when the board uses it). Throws at boot when a port is taken or the table is full.
 */
export function startExampleServices(stack: ServicesStack, now: () => number): ExampleServices {
  const counters: ExampleCounters = { udpEchoRx: 0, udpEchoTx: 0, udpEchoDropped: 0, udpDiscardRx: 0, udpDiscardBytes: 0 }
  const sockets: number[] = []
  try {
    sockets.push(startUdpEcho(stack, now, counters))
    sockets.push(startUdpDiscard(stack, counters))
  } catch (e) {
    for (let i = 0; i < sockets.length; i++) stack.udp.close(sockets[i])
    throw e
  }
  return {
    counters: counters,
    stop: function (): void {
      for (let i = 0; i < sockets.length; i++) stack.udp.close(sockets[i])
      sockets.length = 0
    },
  }
}

/** "udp echo 3/3 (0 dropped), discard 2 (100 bytes)" for the console. */
export function formatExampleCounters(c: ExampleCounters): string {
  return 'udp echo ' + c.udpEchoTx + '/' + c.udpEchoRx + ' (' + c.udpEchoDropped + ' dropped), discard ' +
    c.udpDiscardRx + ' (' + c.udpDiscardBytes + ' bytes)'
}
