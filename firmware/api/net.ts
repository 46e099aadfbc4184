// A Node-like `net` API over the stack's TCP (firmware/tcp), the same on the host and on a board. Device dialect.
//
//   const net = createNet(stack, () => clock.now())
//   net.createServer((sock) => sock.on('data', (d) => sock.write(d))).listen(7)
//   const c = net.connect({ host: '10.0.0.1', port: 80 }, () => c.end('GET / HTTP/1.0\r\n\r\n'))
//
// Sockets emit 'connect', 'data', 'end', 'drain', 'error' and 'close' (hadError); servers 'listening',
// 'connection', 'error' and 'close'. write() returns false once data had to wait in the socket's own queue
// (the send ring was full) and 'drain' follows when the queue has gone into the ring; end() half-closes
// (FIN after the queued data; the peer may go on sending); destroy() lets go of the connection (it
// finishes with a FIN, or a RST when received data was left unread); setNoDelay, setKeepAlive, pause and
// resume work as in Node (pause holds the data in the receive ring, so the peer's window closes).
// allowHalfOpen defaults to false as in Node: when the peer ends, the socket ends its side too once its
// queue has gone out.
//
// Errors are plain Errors with a `code`: ECONNREFUSED, ECONNRESET, ETIMEDOUT (from the connection),
// EMFILE (no free TCB or listener entry), EADDRINUSE, ENETUNREACH, EINVAL, ERR_STREAM_WRITE_AFTER_END,
// ERR_SOCKET_CLOSED. As in the dgram API, an 'error' nobody listens to is dropped rather than thrown (a
// throw would unwind the stack's poll loop). Events caused by a call (errors of connect/listen/write,
// 'listening', 'close' after destroy) come at the next poll, from one stack timer.
//
// Memory: this is the convenience layer: a Socket object per connection and per pending write, strings
// encoded into new arrays. 'data' hands the listeners a view of the connection's receive ring, valid only
// while they run (no copy per segment): copy it (data.slice()) to keep it. Code that must not allocate
// uses firmware/tcp/tcp.ts directly, as firmware/apps/example.ts does.
import type { NetStack } from '../net/stack.js'
import type { TimerTable } from '../kernel/timers.js'
import { parseIp, formatIp } from '../net/addr.js'
import { Emitter, dgramError, utf8Encode } from './dgram.js'
import {
  attachTcp, Tcp, TcpHandler, TcpOptions, TCP_ERR_TABLE_FULL, TCP_ERR_PORT_IN_USE, TCP_ERR_NO_ROUTE,
  ERR_NONE, ERR_REFUSED, ERR_RESET, ERR_TIMEDOUT, ERR_NO_ROUTE,
} from '../tcp/tcp.js'

type Listener = (a?: any, b?: any) => void

/** An Error with a Node-style `code`. */
export function netError(code: string, message: string): Error {
  return dgramError(code, message)
}

/** The Error for a connection's end (onClose), or null for a normal close. */
function closeError(err: number, who: string): Error | null {
  if (err === ERR_NONE) return null
  if (err === ERR_REFUSED) return netError('ECONNREFUSED', 'connection refused by ' + who)
  if (err === ERR_RESET) return netError('ECONNRESET', 'connection reset by ' + who)
  if (err === ERR_TIMEDOUT) return netError('ETIMEDOUT', 'connection to ' + who + ' timed out')
  if (err === ERR_NO_ROUTE) return netError('ENETUNREACH', 'no route to ' + who)
  return netError('ECONNABORTED', 'connection to ' + who + ' aborted')
}

/** The shared state of one API instance: the TCP module, the clock and the deferred-event queue. */
class NetContext {
  readonly tcp: Tcp
  readonly now: () => number
  private readonly timers: TimerTable
  private readonly timer: number
  private readonly qFn: Listener[] = []
  private readonly qA: any[] = []

  constructor(stack: NetStack, now: () => number, o?: TcpOptions) {
    this.tcp = attachTcp(stack, o)
    this.now = now
    this.timers = stack.timers
    const self = this
    this.timer = stack.timers.register('net.events', function () { self.flush() })
  }

  /** Runs fn(a) at the next poll. */
  defer(fn: Listener, a?: any): void {
    this.qFn.push(fn)
    this.qA.push(a)
    this.timers.arm(this.timer, 0)
  }

  private flush(): void {
    const n = this.qFn.length
    const fns = this.qFn.splice(0, n)
    const args = this.qA.splice(0, n)
    for (let i = 0; i < n; i++) fns[i](args[i])
    if (this.qFn.length > 0) this.timers.arm(this.timer, 0)
  }
}

export interface AddressInfo { address: string; port: number; family: string }

export interface ConnectOptions {
  host?: string
  port: number
  localPort?: number
  noDelay?: boolean
  keepAlive?: boolean
  keepAliveInitialDelay?: number
  allowHalfOpen?: boolean
}

export class Socket extends Emitter implements TcpHandler {
  private readonly ctx: NetContext
  private id = -1
  remoteAddress: string | undefined = undefined
  remotePort: number | undefined = undefined
  localPort: number | undefined = undefined
  localAddress: string | undefined = undefined
  readonly remoteFamily = 'IPv4'
  bytesRead = 0
  bytesWritten = 0
  connecting = false
  destroyed = false
  /** The writable side: end() was called. */
  private ended = false
  private shutdownDone = false
  private paused = false
  private readonly allowHalfOpen: boolean
  /** Writes waiting for room in the send ring (with their callbacks). */
  private readonly queue: Uint8Array[] = []
  private readonly queueCb: (Listener | null)[] = []
  private queuedBytes = 0
  private needDrain = false
  private closedEmitted = false
  private server: Server | null

  constructor(ctx: NetContext, allowHalfOpen: boolean, server: Server | null) {
    super()
    this.ctx = ctx
    this.allowHalfOpen = allowHalfOpen
    this.server = server
  }

  /** Binds the socket to TCB `id` (a connection a listener accepted, or a connect in progress). */
  attach(id: number, connecting: boolean): void {
    const tcp = this.ctx.tcp
    this.id = id
    this.connecting = connecting
    this.remoteAddress = formatIp(tcp.remoteIp(id))
    this.remotePort = tcp.remotePort(id)
    this.localPort = tcp.localPort(id)
    this.localAddress = formatIp(tcp.s.addr)
    tcp.setHandler(id, this)
  }

  get readyState(): string {
    if (this.connecting) return 'opening'
    if (this.destroyed || this.id < 0) return 'closed'
    const tcp = this.ctx.tcp
    const st = tcp.state(this.id)
    const readable = st !== 6 && st !== 8 && st !== 7 && st !== 9 // not CLOSE-WAIT/LAST-ACK/CLOSING/TIME-WAIT
    if (this.ended) return readable ? 'readOnly' : 'closed'
    return readable ? 'open' : 'writeOnly'
  }

  address(): AddressInfo {
    return { address: this.localAddress || '0.0.0.0', port: this.localPort || 0, family: 'IPv4' }
  }

  /**
   * Writes a Uint8Array or a string (UTF-8). Returns true when everything went into the send ring, false
   * when some of it waits in the socket's queue ('drain' follows once it is in the ring).
   */
  write(data: Uint8Array | string, cb?: Listener): boolean {
    const done: Listener | null = cb || null
    if (this.ended || this.destroyed) {
      this.fail(netError(this.destroyed ? 'ERR_SOCKET_CLOSED' : 'ERR_STREAM_WRITE_AFTER_END',
        this.destroyed ? 'the socket is closed' : 'write after end'), done)
      return false
    }
    let bytes = typeof data === 'string' ? utf8Encode(data) : data
    if (this.queue.length === 0 && this.id >= 0) {
      // Straight into the send ring when nothing waits before it.
      const n = bytes.length > 0 ? this.ctx.tcp.send(this.id, bytes, this.ctx.now()) : 0
      if (n >= bytes.length) {
        this.bytesWritten += bytes.length
        if (done) this.ctx.defer(done, null)
        return true
      }
      if (n > 0) {
        this.bytesWritten += n
        bytes = bytes.subarray(n)
      }
    }
    // What waits is copied: the caller may reuse its array, and a 'data' view of the receive ring is
    // overwritten once the listener returns.
    this.queue.push(bytes.slice())
    this.queueCb.push(done)
    this.queuedBytes += bytes.length
    this.needDrain = true
    return false
  }

  /** Moves queued writes into the send ring (the last one before a pending FIN goes out with it). */
  private pump(): void {
    const tcp = this.ctx.tcp
    while (this.queue.length > 0 && this.id >= 0) {
      const b = this.queue[0]
      const n = b.length > 0 ? tcp.send(this.id, b, this.ctx.now(), this.ended && this.queue.length === 1) : 0
      if (n < 0) return
      this.bytesWritten += n
      this.queuedBytes -= n
      if (n < b.length) {
        this.queue[0] = b.subarray(n)
        return
      }
      this.queue.shift()
      const cb = this.queueCb.shift()
      if (cb) this.ctx.defer(cb, null)
    }
    if (this.queue.length === 0 && this.ended && !this.shutdownDone && this.id >= 0) {
      this.shutdownDone = true
      tcp.shutdown(this.id, this.ctx.now())
    }
  }

  /** Half-close: optional last data, then FIN after everything queued. */
  end(data?: Uint8Array | string | Listener, cb?: Listener): this {
    if (typeof data === 'function') {
      cb = data
      data = undefined
    }
    if (cb) this.once('finish', cb)
    if (this.ended || this.destroyed) return this
    if (data !== undefined && data !== null) {
      // Queued behind what waits, and sent together with the FIN.
      const bytes = typeof data === 'string' ? utf8Encode(data) : data as Uint8Array
      this.queue.push(bytes.slice())
      this.queueCb.push(null)
      this.queuedBytes += bytes.length
    }
    this.ended = true
    this.pump()
    this.ctx.defer(() => this.emit('finish'))
    return this
  }

  /** Lets go of the connection (FIN after queued ring data, RST if received data is unread); 'close' follows. */
  destroy(err?: Error): this {
    if (this.destroyed) return this
    this.destroyed = true
    this.connecting = false
    if (this.id >= 0) this.ctx.tcp.close(this.id, this.ctx.now())
    this.id = -1
    this.queue.length = 0
    this.queueCb.length = 0
    const self = this
    this.ctx.defer(function () {
      if (err) self.emit('error', err)
      self.emitClose(!!err)
    })
    return this
  }

  /** Sends a RST and closes at once (Node's resetAndDestroy). */
  resetAndDestroy(): this {
    if (this.id >= 0 && !this.destroyed) this.ctx.tcp.abort(this.id, this.ctx.now())
    this.id = -1
    return this.destroy()
  }

  setNoDelay(noDelay?: boolean): this {
    if (this.id >= 0) this.ctx.tcp.setNoDelay(this.id, noDelay !== false)
    return this
  }

  setKeepAlive(enable?: boolean, initialDelay?: number): this {
    if (this.id >= 0) this.ctx.tcp.setKeepAlive(this.id, !!enable, initialDelay, this.ctx.now())
    return this
  }

  pause(): this {
    this.paused = true
    return this
  }

  resume(): this {
    this.paused = false
    if (this.id >= 0) this.ctx.tcp.resume(this.id)
    return this
  }

  get isPaused(): boolean {
    return this.paused
  }

  /** Node compatibility: nothing to keep a process alive for here. */
  ref(): this { return this }
  unref(): this { return this }

  private fail(err: Error, cb: Listener | null): void {
    const self = this
    this.ctx.defer(function () {
      if (cb) cb(err)
      self.emit('error', err)
    })
  }

  private emitClose(hadError: boolean): void {
    if (this.closedEmitted) return
    this.closedEmitted = true
    if (this.server !== null) this.server.connectionClosed()
    this.server = null
    this.emit('close', hadError)
  }

  // ---- TcpHandler: the stack's events for this connection ----

  onConnect(_id: number): void {
    this.connecting = false
    this.emit('connect')
    this.emit('ready')
  }

  onData(_id: number, data: Uint8Array): number {
    // As in Node, data waits (here: in the receive ring, closing the window) while paused or unheard.
    if (this.paused || this.destroyed || this.listenerCount('data') === 0) return 0
    this.bytesRead += data.length
    this.emit('data', data)
    return data.length
  }

  /** Adding a 'data' listener starts the flow of held data, as in Node. */
  override on(event: string, fn: Listener): this {
    super.on(event, fn)
    if (event === 'data' && !this.paused && this.id >= 0) this.ctx.tcp.resume(this.id)
    return this
  }

  onEnd(_id: number): void {
    this.emit('end')
    if (!this.allowHalfOpen) this.end()
  }

  onDrain(_id: number): void {
    this.pump()
    if (this.queue.length === 0 && this.needDrain) {
      this.needDrain = false
      this.emit('drain')
    }
  }

  onClose(_id: number, err: number): void {
    this.id = -1
    this.connecting = false
    this.destroyed = true
    const e = closeError(err, (this.remoteAddress || '?') + ':' + this.remotePort)
    if (e !== null) this.emit('error', e)
    this.emitClose(e !== null)
  }
}

export class Server extends Emitter implements TcpHandler {
  private readonly ctx: NetContext
  private readonly allowHalfOpen: boolean
  private lid = -1
  private connections = 0
  private closing = false
  listening = false

  constructor(ctx: NetContext, allowHalfOpen: boolean, onConnection?: (s: Socket) => void) {
    super()
    this.ctx = ctx
    this.allowHalfOpen = allowHalfOpen
    if (onConnection) this.on('connection', onConnection)
  }

  /** listen(port, cb?) or listen({port}, cb?); host and backlog arguments are accepted and ignored. */
  listen(port: number | { port: number }, a?: any, b?: any, c?: any): this {
    let cb: any = null
    if (typeof a === 'function') cb = a
    else if (typeof b === 'function') cb = b
    else if (typeof c === 'function') cb = c
    const p: any = port !== null && typeof port === 'object' ? port.port : port
    if (cb) this.once('listening', cb)
    const self = this
    if (this.lid >= 0) {
      this.ctx.defer(function () { self.emit('error', netError('ERR_SERVER_ALREADY_LISTEN', 'listen() was called twice')) })
      return this
    }
    const l = typeof p === 'number' ? this.ctx.tcp.listen(p, this) : -8
    if (l < 0) {
      const e = l === TCP_ERR_PORT_IN_USE ? netError('EADDRINUSE', 'port ' + p + ' is in use')
        : l === TCP_ERR_TABLE_FULL ? netError('EMFILE', 'the listener table is full')
          : netError('EINVAL', 'port must be a whole number from 1 to 65535, got ' + p)
      this.ctx.defer(function () { self.emit('error', e) })
      return this
    }
    this.lid = l
    this.listening = true
    this.closing = false
    this.ctx.defer(function () { self.emit('listening') })
    return this
  }

  address(): AddressInfo | null {
    if (this.lid < 0) return null
    return { address: '0.0.0.0', port: this.ctx.tcp.listenerPort(this.lid), family: 'IPv4' }
  }

  /** Stops accepting; 'close' follows once the open connections have ended. */
  close(cb?: (err?: Error) => void): this {
    if (this.lid < 0) {
      if (cb) this.ctx.defer(cb, netError('ERR_SERVER_NOT_RUNNING', 'the server is not running'))
      return this
    }
    this.ctx.tcp.unlisten(this.lid, this.ctx.now())
    this.lid = -1
    this.listening = false
    this.closing = true
    if (cb) this.once('close', cb)
    if (this.connections === 0) this.finishClose()
    return this
  }

  getConnections(cb: (err: Error | null, n: number) => void): void {
    const n = this.connections
    this.ctx.defer(function () { cb(null, n) })
  }

  ref(): this { return this }
  unref(): this { return this }

  private finishClose(): void {
    const self = this
    this.closing = false
    this.ctx.defer(function () { self.emit('close') })
  }

  /** A connection of this server closed. */
  connectionClosed(): void {
    this.connections--
    if (this.closing && this.connections === 0) this.finishClose()
  }

  // ---- TcpHandler: new connections of the listener ----

  onConnect(id: number): void {
    const sock = new Socket(this.ctx, this.allowHalfOpen, this)
    sock.attach(id, false)
    this.connections++
    this.emit('connection', sock)
  }

  onData(_id: number, _data: Uint8Array): number { return 0 }
  onEnd(_id: number): void { /* the socket's handler takes over in onConnect */ }
  onDrain(_id: number): void { /* idem */ }
  onClose(_id: number, _err: number): void { /* idem */ }
}

export interface ServerOptions { allowHalfOpen?: boolean }

export interface Net {
  createServer(options?: ServerOptions | ((s: Socket) => void), onConnection?: (s: Socket) => void): Server
  connect(options: ConnectOptions | number, host?: string | Listener, cb?: Listener): Socket
  createConnection(options: ConnectOptions | number, host?: string | Listener, cb?: Listener): Socket
}

/** The net API over `stack`'s TCP; `now` gives the stack time in µs. Call once at boot (it takes a timer). */
export function createNet(stack: NetStack, now: () => number, o?: TcpOptions): Net {
  const ctx = new NetContext(stack, now, o)
  const connect = function (options: ConnectOptions | number, host?: string | Listener, cb?: Listener): Socket {
    let opts: ConnectOptions
    if (typeof options === 'number') {
      opts = { port: options, host: typeof host === 'string' ? host : undefined }
    } else {
      opts = options
    }
    const done: any = typeof host === 'function' ? host : cb
    const sock = new Socket(ctx, !!opts.allowHalfOpen, null)
    if (done) sock.once('connect', done)
    const fail = function (e: Error): Socket {
      sock.destroy(e)
      return sock
    }
    const ip = parseIp(opts.host === undefined ? '127.0.0.1' : opts.host)
    if (ip < 0) return fail(netError('EINVAL', 'host must be a dotted IPv4 address, got ' + opts.host))
    const id = ctx.tcp.connect(ip, opts.port, opts.localPort || 0, sock, now())
    if (id < 0) {
      if (id === TCP_ERR_TABLE_FULL) return fail(netError('EMFILE', 'no free connection (the TCB table is full)'))
      if (id === TCP_ERR_NO_ROUTE) return fail(netError('ENETUNREACH', 'no route to ' + opts.host))
      if (id === TCP_ERR_PORT_IN_USE) return fail(netError('EADDRINUSE', 'local port ' + opts.localPort + ' is in use'))
      return fail(netError('EINVAL', 'port must be a whole number from 1 to 65535, got ' + opts.port))
    }
    sock.attach(id, true)
    if (opts.noDelay) sock.setNoDelay(true)
    if (opts.keepAlive) sock.setKeepAlive(true, opts.keepAliveInitialDelay)
    return sock
  }
  return {
    createServer: function (options?: ServerOptions | ((s: Socket) => void), onConnection?: (s: Socket) => void): Server {
      if (typeof options === 'function') return new Server(ctx, false, options)
      return new Server(ctx, !!(options && options.allowHalfOpen), onConnection)
    },
    connect: connect,
    createConnection: connect,
  }
}
