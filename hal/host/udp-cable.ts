// A Cable over UDP: one Ethernet frame (no FCS) per datagram, the encapsulation of socat's UDP-DATAGRAM
// address and of QEMU's `-netdev dgram`. Host only. Pairs with, for example:
//   socat -b 65536 TUN:10.77.0.1/24,tun-type=tap,tun-name=tap0,iff-no-pi,iff-up \
//         UDP-DATAGRAM:127.0.0.1:9000,bind=127.0.0.1:9001
// (the board then uses openUdpCable(9000, '127.0.0.1', 9001)).
import dgram from 'node:dgram'
import net from 'node:net'
import type { Cable } from './cable.js'
import { MAX_FRAME, MIN_FRAME } from './cable.js'

export interface UdpCableOptions {
  /** Address to bind (default 127.0.0.1, or ::1 when the peer is an IPv6 address). */
  bindAddress?: string
  /** Accept datagrams only from host:port (default true): other senders on the port are ignored. */
  strictPeer?: boolean
}

export interface UdpCable extends Cable {
  /** The bound local port (useful with localPort 0). */
  readonly localPort: number
  /** Frames and datagrams counted each way; `ignored` counts datagrams from other senders or too short. */
  readonly stats: { rxFrames: number; txFrames: number; ignored: number; txErrors: number }
}

/**
 * Binds `localPort` (0 picks a free one) and sends each frame as one datagram to `host:port`.
 * Resolves once the socket is bound.
 */
export function openUdpCable(localPort: number, host: string, port: number, opts: UdpCableOptions = {}): Promise<UdpCable> {
  const v6 = net.isIPv6(host)
  const bindAddress = opts.bindAddress ?? (v6 ? '::1' : '127.0.0.1')
  const strict = opts.strictPeer ?? true
  const sock = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', recvBufferSize: 1 << 21, sendBufferSize: 1 << 21 })
  const stats = { rxFrames: 0, txFrames: 0, ignored: 0, txErrors: 0 }
  let closed = false
  let peerAddress = host

  return new Promise((resolve, reject) => {
    const onBindError = (e: Error): void => {
      sock.close()
      reject(new Error(`openUdpCable: cannot bind ${bindAddress}:${localPort}: ${e.message}`))
    }
    sock.once('error', onBindError)
    sock.bind(localPort, bindAddress, () => {
      sock.removeListener('error', onBindError)
      // After bind, errors are per datagram (e.g. ICMP port unreachable surfacing as ECONNREFUSED): count them.
      sock.on('error', () => { stats.txErrors++ })
      const bound = sock.address().port
      const cable: UdpCable = {
        name: `udp:${bindAddress}:${bound}->${host}:${port}`,
        localPort: bound,
        stats,
        onFrame: null,
        send(frame: Uint8Array): void {
          if (closed) return
          if (frame.length > MAX_FRAME) { stats.txErrors++; return }
          // Copy: dgram may send after we return, and the caller may reuse its buffer (a TX ring slot).
          const copy = Buffer.from(frame)
          stats.txFrames++
          sock.send(copy, port, host, (err) => { if (err) stats.txErrors++ })
        },
        close(): void {
          if (closed) return
          closed = true
          sock.close()
        },
      }
      sock.on('message', (msg, rinfo) => {
        if (closed) return
        if (msg.length < MIN_FRAME || (strict && (rinfo.port !== port || !sameHost(rinfo.address, peerAddress)))) {
          stats.ignored++
          return
        }
        stats.rxFrames++
        const handler = cable.onFrame
        if (handler !== null) handler(new Uint8Array(msg.buffer, msg.byteOffset, msg.length))
      })
      if (net.isIP(host) === 0) {
        // A host name: learn its address from the first lookup so strict peer matching works.
        import('node:dns').then((dns) => dns.promises.lookup(host, { family: v6 ? 6 : 4 })).then(
          (r) => { peerAddress = r.address; resolve(cable) },
          (e: Error) => { sock.close(); reject(new Error(`openUdpCable: cannot resolve ${host}: ${e.message}`)) })
      } else {
        resolve(cable)
      }
    })
  })
}

function sameHost(a: string, b: string): boolean {
  if (a === b) return true
  const strip = (s: string): string => (s.startsWith('::ffff:') ? s.slice(7) : s)
  return strip(a) === strip(b)
}
