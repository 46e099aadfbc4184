// A Node-like `dgram` API over the stack's UDP sockets, the same on the host and on a board. Device dialect.
//
//   const dgram = createDgram(stack, () => clock.now())
//   const s = dgram.createSocket('udp4', (msg, rinfo) => s.send(msg, rinfo.port, rinfo.address))
//   s.bind(7)
//
// Like Node, results are reported asynchronously: 'listening', 'close', send callbacks and errors are queued
// and delivered from one stack timer at the next poll, so handlers attached right after bind()/send() still
// see them. 'message' is emitted from inside the stack's poll as datagrams arrive. Errors are plain Errors
// with a `code` ('EADDRINUSE', 'ENOBUFS', 'ENETUNREACH', 'EMSGSIZE', 'EINVAL', 'EACCES', ...), passed to the
// send callback when there is one and emitted as 'error' otherwise. Unlike Node, an 'error' with no listener
// is dropped rather than thrown: a throw would unwind the stack's poll loop and stop the firmware.
//
// Memory: this is the convenience layer. Each received datagram is copied into a new Uint8Array (the stack's
// view is only valid during its callback) with a new rinfo object, and string payloads are encoded into a new
// Uint8Array. Code that must not allocate per packet uses firmware/net/udp.ts directly (as apps/example.ts does).

import type { TimerTable } from '../kernel/timers.js'
import { parseIp, formatIp, IP_BROADCAST } from '../net/addr.js'
import {
  UDP_ERR_TABLE_FULL, UDP_ERR_PORT_IN_USE, UDP_ERR_NO_ROUTE, UDP_ERR_ARP_QUEUE_FULL, UDP_ERR_TX_FULL, UDP_ERR_TOO_BIG,
  UDP_ERR_CLOSED, UDP_ERR_INVALID,
} from '../net/udp.js'

/** The part of firmware/net/udp.ts's Udp this API uses. */
export interface DgramUdp {
  open(localPort: number, onDatagram: (srcIp: number, srcPort: number, dstIp: number, data: Uint8Array) => void): number
  send(id: number, dstIp: number, dstPort: number, data: Uint8Array, now: number): number
  close(id: number): void
  localPort(id: number): number
}

/** The part of firmware/net/stack.ts's NetStack this API uses (NetStack satisfies it). */
export interface DgramStack {
  readonly udp: DgramUdp
  readonly timers: TimerTable
  config(): { ip: number; mask: number; gateway: number }
}

export interface RemoteInfo { address: string; port: number; family: string; size: number }
export interface AddressInfo { address: string; port: number; family: string }
export type MessageListener = (msg: Uint8Array, rinfo: RemoteInfo) => void
export type SendCallback = (err: Error | null, bytes?: number) => void

/** RFC 768 + RFC 791: 65535 − 20 (IPv4 header) − 8 (UDP header). */
export const MAX_UDP_PAYLOAD = 65507

/** An Error with a Node-style `code` (Espruino cannot subclass Error). */
export function dgramError(code: string, message: string): Error {
  const e = new Error(code + ': ' + message)
  ;(e as Error & { code: string }).code = code
  return e
}

/** UTF-8 (RFC 3629 §3) as Node encodes strings; a lone surrogate becomes U+FFFD. */
export function utf8Encode(s: string): Uint8Array {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { n += 4; i++ }
    else n += 3
  }
  const out = new Uint8Array(n)
  let at = 0
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i)
    if (c < 0x80) {
      out[at++] = c
    } else if (c < 0x800) {
      out[at++] = 0xc0 | (c >> 6)
      out[at++] = 0x80 | (c & 0x3f)
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      c = 0x10000 + ((c - 0xd800) << 10) + (s.charCodeAt(++i) - 0xdc00)
      out[at++] = 0xf0 | (c >> 18)
      out[at++] = 0x80 | ((c >> 12) & 0x3f)
      out[at++] = 0x80 | ((c >> 6) & 0x3f)
      out[at++] = 0x80 | (c & 0x3f)
    } else {
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd
      out[at++] = 0xe0 | (c >> 12)
      out[at++] = 0x80 | ((c >> 6) & 0x3f)
      out[at++] = 0x80 | (c & 0x3f)
    }
  }
  return out
}

/** The Node error for a negative Udp.send result (firmware/net/udp.ts UDP_ERR_*). */
function sendError(rc: number, dst: number): Error {
  const to = formatIp(dst)
  // RFC 1122 §3.3.1: no local address yet, or off the subnet with no gateway
  if (rc === UDP_ERR_NO_ROUTE) return dgramError('ENETUNREACH', 'no route to ' + to + ' (no address yet, or off the subnet without a gateway)')
  if (rc === UDP_ERR_TX_FULL) return dgramError('ENOBUFS', 'the transmit ring is full; send again after the next poll')
  if (rc === UDP_ERR_ARP_QUEUE_FULL) return dgramError('ENOBUFS', 'too many datagrams wait for ARP to resolve ' + to)
  if (rc === UDP_ERR_TOO_BIG) return dgramError('EMSGSIZE', 'the datagram needs more fragments than the transmit ring holds')
  if (rc === UDP_ERR_CLOSED) return dgramError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'socket is closed')
  if (rc === UDP_ERR_INVALID) return dgramError('EINVAL', 'invalid destination port')
  return dgramError('EIO', 'UDP send failed (' + rc + ')')
}

type Listener = (a?: any, b?: any) => void

/** The few EventEmitter methods apps use (no Node 'events' module on a board). */
export class Emitter {
  private listeners: { [event: string]: Listener[] } = {}

  on(event: string, fn: Listener): this {
    const list = this.listeners[event]
    if (list) list.push(fn)
    else this.listeners[event] = [fn]
    return this
  }

  addListener(event: string, fn: Listener): this { return this.on(event, fn) }

  once(event: string, fn: Listener): this {
    const self = this
    const wrapper = function (a?: any, b?: any): void {
      self.off(event, wrapper)
      fn(a, b)
    }
    ;(wrapper as { listener?: Listener }).listener = fn
    return this.on(event, wrapper)
  }

  off(event: string, fn: Listener): this {
    const list = this.listeners[event]
    if (!list) return this
    for (let i = 0; i < list.length; i++) {
      if (list[i] === fn || (list[i] as { listener?: Listener }).listener === fn) {
        list.splice(i, 1)
        break
      }
    }
    return this
  }

  removeListener(event: string, fn: Listener): this { return this.off(event, fn) }

  listenerCount(event: string): number {
    const list = this.listeners[event]
    return list ? list.length : 0
  }

  /** Calls the listeners in order (on a copy, so a listener may remove itself); false when there were none. */
  emit(event: string, a?: any, b?: any): boolean {
    const list = this.listeners[event]
    if (!list || list.length === 0) return false
    const copy = list.slice()
    for (let i = 0; i < copy.length; i++) copy[i](a, b)
    return true
  }
}

// Deferred events
const EV_LISTENING = 0
const EV_ERROR = 1
const EV_SENT = 2
const EV_CLOSE = 3

/** The per-API state shared by its sockets: the stack, the clock and the deferred-event queue. */
class DgramContext {
  readonly stack: DgramStack
  readonly now: () => number
  private readonly timer: number
  private readonly qSock: DgramSocket[] = []
  private readonly qKind: number[] = []
  private readonly qArg: any[] = []
  private readonly qCb: (Listener | null)[] = []

  constructor(stack: DgramStack, now: () => number) {
    this.stack = stack
    this.now = now
    this.timer = stack.timers.register('dgram.events', () => this.flush())
  }

  defer(sock: DgramSocket, kind: number, arg: any, cb: Listener | null): void {
    this.qSock.push(sock)
    this.qKind.push(kind)
    this.qArg.push(arg)
    this.qCb.push(cb)
    // deadline 0: runs at the next poll's timer pass
    this.stack.timers.arm(this.timer, 0)
  }

  private flush(): void {
    const n = this.qSock.length
    for (let i = 0; i < n; i++) this.qSock[i].deliver(this.qKind[i], this.qArg[i], this.qCb[i])
    // events queued by the handlers above stay for the next poll
    const rest = this.qSock.length - n
    for (let i = 0; i < rest; i++) {
      this.qSock[i] = this.qSock[n + i]
      this.qKind[i] = this.qKind[n + i]
      this.qArg[i] = this.qArg[n + i]
      this.qCb[i] = this.qCb[n + i]
    }
    this.qSock.length = rest
    this.qKind.length = rest
    this.qArg.length = rest
    this.qCb.length = rest
  }
}

export class DgramSocket extends Emitter {
  private readonly ctx: DgramContext
  private id = -1
  private closed = false
  private broadcast = false

  constructor(ctx: DgramContext, onMessage?: MessageListener) {
    super()
    this.ctx = ctx
    if (onMessage) this.on('message', onMessage)
  }

  /**
   * bind(), bind(port), bind(port, cb), bind(port, address, cb), bind(cb), bind({port}, cb). Port 0 or none
   * takes an ephemeral port; the address is ignored (the socket receives on every address of the stack).
   */
  bind(port?: number | { port?: number } | Listener, address?: string | Listener, cb?: Listener): this {
    let p: any = port
    let done: any = cb
    if (typeof p === 'function') { done = p; p = 0 }
    if (typeof address === 'function') done = address
    if (p !== null && typeof p === 'object') p = p.port
    if (p === undefined || p === null) p = 0
    if (this.closed) throw dgramError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'socket is closed')
    if (this.id >= 0) throw dgramError('ERR_SOCKET_ALREADY_BOUND', 'socket is already bound')
    if (typeof p !== 'number' || p !== Math.floor(p) || p < 0 || p > 65535) {
      throw dgramError('ERR_SOCKET_BAD_PORT', 'port must be a whole number from 0 to 65535, got ' + p)
    }
    const err = this.open(p)
    if (err) this.ctx.defer(this, EV_ERROR, err, null)
    else this.ctx.defer(this, EV_LISTENING, null, done || null)
    return this
  }

  /**
   * send(data, port, address, cb?): data is a Uint8Array or a string (sent as UTF-8). An unbound socket is
   * bound to an ephemeral port first, as in Node. cb(err) or cb(null, bytes) comes at the next poll.
   */
  send(data: Uint8Array | string, port: number, address: string, cb?: SendCallback): void {
    const done: Listener | null = cb || null
    if (this.closed) { this.fail(dgramError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'socket is closed'), done); return }
    const bytes = typeof data === 'string' ? utf8Encode(data) : data
    if (typeof port !== 'number' || port !== Math.floor(port) || port < 1 || port > 65535) {
      this.fail(dgramError('EINVAL', 'port must be a whole number from 1 to 65535, got ' + port), done)
      return
    }
    const dst = typeof address === 'string' ? parseIp(address) : -1
    if (dst < 0) { this.fail(dgramError('EINVAL', 'address must be a dotted IPv4 address, got ' + address), done); return }
    if (bytes.length > MAX_UDP_PAYLOAD) {
      this.fail(dgramError('EMSGSIZE', bytes.length + ' bytes do not fit in one UDP datagram (' + MAX_UDP_PAYLOAD + ')'), done)
      return
    }
    // as in Node (SO_BROADCAST): sending to the limited broadcast address needs setBroadcast(true)
    if (dst === IP_BROADCAST && !this.broadcast) { this.fail(dgramError('EACCES', 'call setBroadcast(true) to send to ' + address), done); return }
    if (this.id < 0) {
      const err = this.open(0)
      if (err) { this.fail(err, done); return }
      this.ctx.defer(this, EV_LISTENING, null, null)
    }
    const rc = this.ctx.stack.udp.send(this.id, dst, port, bytes, this.ctx.now())
    if (rc < 0) { this.fail(sendError(rc, dst), done); return }
    if (done) this.ctx.defer(this, EV_SENT, bytes.length, done)
  }

  setBroadcast(on: boolean): void { this.broadcast = !!on }

  /** Closes the socket; 'close' (and cb) follow at the next poll. Closing twice does nothing. */
  close(cb?: () => void): this {
    if (this.closed) return this
    this.closed = true
    if (this.id >= 0) this.ctx.stack.udp.close(this.id)
    this.id = -1
    this.ctx.defer(this, EV_CLOSE, null, cb || null)
    return this
  }

  /** The bound address: { address: '0.0.0.0', port, family: 'IPv4' }; throws EBADF when not bound. */
  address(): AddressInfo {
    if (this.id < 0) throw dgramError('EBADF', 'socket is not bound')
    return { address: '0.0.0.0', port: this.ctx.stack.udp.localPort(this.id), family: 'IPv4' }
  }

  /** Node compatibility: the stack has no process to keep alive. */
  ref(): this { return this }
  unref(): this { return this }

  /** Called by the context's timer with a queued event. */
  deliver(kind: number, arg: any, cb: Listener | null): void {
    if (kind === EV_LISTENING) {
      if (cb) cb()
      this.emit('listening')
    } else if (kind === EV_ERROR) {
      if (cb) cb(arg)
      else this.emit('error', arg)
    } else if (kind === EV_SENT) {
      if (cb) cb(null, arg)
    } else if (kind === EV_CLOSE) {
      if (cb) cb()
      this.emit('close')
    }
  }

  private fail(err: Error, cb: Listener | null): void {
    this.ctx.defer(this, EV_ERROR, err, cb)
  }

  private open(port: number): Error | null {
    const id = this.ctx.stack.udp.open(port, (src, sport, dst, data) => this.receive(src, sport, data))
    if (id === UDP_ERR_PORT_IN_USE) return dgramError('EADDRINUSE', 'port ' + port + ' is in use')
    if (id === UDP_ERR_TABLE_FULL) return dgramError('ENOBUFS', 'the UDP socket table is full')
    if (id < 0) return dgramError('ENOBUFS', 'could not open a UDP socket (' + id + ')')
    this.id = id
    return null
  }

  private receive(src: number, sport: number, data: Uint8Array): void {
    if (this.closed) return
    // the stack's view is only valid during this callback: the listener gets its own copy
    const msg = new Uint8Array(data)
    this.emit('message', msg, { address: formatIp(src), port: sport, family: 'IPv4', size: data.length })
  }
}

export interface Dgram {
  createSocket(type: string | { type: string }, onMessage?: MessageListener): DgramSocket
}

/** The dgram API over `stack`; `now` gives the stack's time in microseconds. Call once at boot (it takes a timer). */
export function createDgram(stack: DgramStack, now: () => number): Dgram {
  const ctx = new DgramContext(stack, now)
  return {
    createSocket: function (type: string | { type: string }, onMessage?: MessageListener): DgramSocket {
      const t = typeof type === 'string' ? type : type && type.type
      if (t !== 'udp4') throw dgramError('ERR_SOCKET_BAD_TYPE', 'only "udp4" sockets exist here, not ' + JSON.stringify(t))
      return new DgramSocket(ctx, onMessage)
    },
  }
}
