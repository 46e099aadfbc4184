// The example firmware's services: the classic small servers people test a network stack with. Device dialect.
//
//   UDP echo    port 7  RFC 862: every datagram is sent back to its source
//   UDP discard port 9  RFC 863: every datagram is counted and thrown away
//   TCP echo    port 7  RFC 862 "TCP Based Echo Service"
//   TCP discard port 9  RFC 863 "TCP Based Discard Service"
//
// The services talk to firmware/net/udp.ts and firmware/tcp/tcp.ts directly rather than through the dgram and
// net APIs: the datagram or the bytes the stack lends us are echoed from inside the receive callback (Udp.send
// copies the datagram into a frame, Tcp.send copies the bytes from the receive ring into the send ring inside
// the arena), so serving a packet allocates nothing. One handler object serves every TCP connection of a
// service. TCP echo takes only the bytes its send ring has room for: the rest stays in the receive ring, the
// window closes and the peer waits (flow control end to end), and onDrain offers the rest again. Each service is
// one small start function; startExampleServices calls them in turn.

/** The part of firmware/net/udp.ts's Udp the services use. */
export interface ServicesUdp {
  open(localPort: number, onDatagram: (srcIp: number, srcPort: number, dstIp: number, data: Uint8Array) => void): number
  send(id: number, dstIp: number, dstPort: number, data: Uint8Array, now: number): number
  close(id: number): void
}

/** The per-connection callbacks of firmware/tcp/tcb.ts's TcpHandler. */
export interface ServicesTcpHandler {
  onConnect(id: number): void
  onData(id: number, data: Uint8Array): number
  onEnd(id: number): void
  onDrain(id: number): void
  onClose(id: number, err: number): void
}

/** The part of firmware/tcp/tcp.ts's Tcp the services use. */
export interface ServicesTcp {
  listen(port: number, handler: ServicesTcpHandler): number
  unlisten(l: number): void
  send(id: number, data: Uint8Array, now?: number): number
  shutdown(id: number, now?: number): number
  resume(id: number): void
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
  /** TCP connections accepted and bytes echoed / discarded (0 when the services run without TCP). */
  tcpEchoConnections: number
  tcpEchoBytes: number
  tcpDiscardConnections: number
  tcpDiscardBytes: number
}

/** The running services: their counters, and stop() to close their sockets. */
export interface ExampleServices {
  counters: ExampleCounters
  /** TCP services left out because the board has too few listeners (budget.listeners), e.g. ['tcp discard']. */
  skipped: string[]
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

/** A listener for a TCP service; -1 when the listener table is full (the service is skipped, see below). */
function listenOrThrow(tcp: ServicesTcp, port: number, name: string, h: ServicesTcpHandler): number {
  const l = tcp.listen(port, h)
  if (l === -2) throw new Error(name + ': TCP port ' + port + ' is already in use')
  return l < 0 ? -1 : l
}

/**
 * RFC 862 "TCP Based Echo Service": "Once a connection is established any data received is sent back. This
 * continues until the calling user terminates the connection." When the peer half-closes, everything it sent
 * has been echoed (onEnd comes after the last byte was consumed), so we close our side too.
 */
function startTcpEcho(tcp: ServicesTcp, now: () => number, c: ExampleCounters): number {
  return listenOrThrow(tcp, ECHO_PORT, 'tcp echo', {
    onConnect: function (id: number): void { c.tcpEchoConnections++ },
    onData: function (id: number, data: Uint8Array): number {
      const n = tcp.send(id, data, now())
      if (n <= 0) return 0
      c.tcpEchoBytes += n
      return n
    },
    onEnd: function (id: number): void { tcp.shutdown(id, now()) },
    onDrain: function (id: number): void { tcp.resume(id) },
    onClose: function (id: number, err: number): void { /* nothing kept per connection */ },
  })
}

/** RFC 863 "TCP Based Discard Service": "Once a connection is established any data received is thrown away." */
function startTcpDiscard(tcp: ServicesTcp, now: () => number, c: ExampleCounters): number {
  return listenOrThrow(tcp, DISCARD_PORT, 'tcp discard', {
    onConnect: function (id: number): void { c.tcpDiscardConnections++ },
    onData: function (id: number, data: Uint8Array): number {
      c.tcpDiscardBytes += data.length
      return data.length
    },
    onEnd: function (id: number): void { tcp.shutdown(id, now()) },
    onDrain: function (id: number): void { /* never writes */ },
    onClose: function (id: number, err: number): void { /* nothing kept per connection */ },
  })
}

/**
 * Starts the example services on `stack`; `now` is the stack's clock in microseconds. Needs two UDP sockets
 * (plus one for DHCP when the board uses it) and, with `tcp`, two TCP listeners. Throws at boot when a port is
 * taken or the UDP table is full; TCP services that find no free listener are skipped (a board with one
 * listener, like the Pico, runs TCP echo only) and named in `skipped`.
 */
export function startExampleServices(stack: ServicesStack, now: () => number, tcp?: ServicesTcp): ExampleServices {
  const counters: ExampleCounters = {
    udpEchoRx: 0, udpEchoTx: 0, udpEchoDropped: 0, udpDiscardRx: 0, udpDiscardBytes: 0,
    tcpEchoConnections: 0, tcpEchoBytes: 0, tcpDiscardConnections: 0, tcpDiscardBytes: 0,
  }
  const sockets: number[] = []
  const listeners: number[] = []
  const skipped: string[] = []
  const stopAll = function (): void {
    for (let i = 0; i < sockets.length; i++) stack.udp.close(sockets[i])
    if (tcp) for (let i = 0; i < listeners.length; i++) tcp.unlisten(listeners[i])
    sockets.length = 0
    listeners.length = 0
  }
  try {
    sockets.push(startUdpEcho(stack, now, counters))
    sockets.push(startUdpDiscard(stack, counters))
    if (tcp) {
      const echo = startTcpEcho(tcp, now, counters)
      if (echo >= 0) listeners.push(echo)
      else skipped.push('tcp echo')
      const discard = startTcpDiscard(tcp, now, counters)
      if (discard >= 0) listeners.push(discard)
      else skipped.push('tcp discard')
    }
  } catch (e) {
    stopAll()
    throw e
  }
  return { counters: counters, skipped: skipped, stop: stopAll }
}

/** "udp echo 3/3 (0 dropped), discard 2 (100 bytes); tcp echo 1 (12 bytes), discard 1 (5 bytes)" for the console. */
export function formatExampleCounters(c: ExampleCounters): string {
  return 'udp echo ' + c.udpEchoTx + '/' + c.udpEchoRx + ' (' + c.udpEchoDropped + ' dropped), discard ' +
    c.udpDiscardRx + ' (' + c.udpDiscardBytes + ' bytes); tcp echo ' + c.tcpEchoConnections + ' (' + c.tcpEchoBytes +
    ' bytes), discard ' + c.tcpDiscardConnections + ' (' + c.tcpDiscardBytes + ' bytes)'
}
