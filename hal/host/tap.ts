// A Linux TAP device as a Cable, opened through koffi (C FFI with prebuilt binaries: no compiler, no helper
// process). Host only, Linux only.
//
// Read-loop design (does not block the Node event loop, no busy polling, no idle wake-ups):
//   - Each TAP fd is opened O_RDWR|O_NONBLOCK|O_CLOEXEC. The process has one Reactor: an eventfd (the
//     wake-up line) and one asynchronous koffi call `poll([eventfd, tap1, tap2, ...], -1)` waiting on a
//     libuv worker thread. However many TAPs are open, they share that one worker (UV_THREADPOOL_SIZE is 4;
//     a poll per TAP would stall fs/dns/crypto from the fourth TAP on).
//   - When the poll returns, the main thread drains every TAP with synchronous non-blocking read(2) calls
//     into one 65536-byte buffer until EAGAIN, copying each frame out for `onFrame`, then re-arms the poll.
//     A drain hands over at most READ_BUDGET frames per TAP per event-loop turn and continues from
//     setImmediate, so a flood cannot starve timers or other I/O.
//   - send() is a synchronous write(2) (a TAP write does not block: the kernel takes the frame at once).
//   - Opening or closing a TAP writes the eventfd so the worker returns and the poll set is rebuilt; a closed
//     TAP's fd is closed only after the poll returned, so no thread ever polls a closed (or reused) fd
//     number. Closing the TAP fd deletes the (non-persistent) interface.
//   - While a TAP is open the pending poll keeps the process alive, like a listening socket; when the last
//     one closes nothing is pending and the process can exit.
//   Measured on the development machine, a shared and busy one (test/tap.test.ts prints it as diagnostics):
//   Linux -> TAP -> onFrame 70,000-115,000 frames/s, send() -> TAP -> Linux 380,000-800,000 frames/s
//   (60-byte frames), flood ping through the fixture 35,000-90,000 frames/s with 17-36 us average round trip;
//   idle CPU about 1 ms/s.
import { createRequire } from 'node:module'
import fs from 'node:fs'
import type { Cable } from './cable.js'
import { MIN_FRAME } from './cable.js'

type Koffi = typeof import('koffi')
type KFunc = ((...args: any[]) => any) & { async: (...args: any[]) => void }

// Linux UAPI values, identical on x86, x86-64, arm, arm64 and riscv64.
const O_RDWR = 0o2
const O_NONBLOCK = 0o4000
const O_CLOEXEC = 0o2000000
const EFD_NONBLOCK = 0o4000
const EFD_CLOEXEC = 0o2000000
const TUNSETIFF = 0x400454ca
const IFF_TAP = 0x0002
const IFF_NO_PI = 0x1000
const IFNAMSIZ = 16
const IFREQ_SIZE = 40
const POLLIN = 0x0001

const READ_BUFFER = 65536
/** Frames delivered per event-loop turn before yielding (setImmediate) to the rest of the process. */
const READ_BUDGET = 256

interface Libc {
  koffi: Koffi
  open: KFunc
  ioctl: KFunc
  read: KFunc
  write: KFunc
  close: KFunc
  poll: KFunc
  eventfd: KFunc
  strerror: KFunc
}

let libc: Libc | undefined

function loadLibc(): Libc {
  if (libc !== undefined) return libc
  if (process.platform !== 'linux') throw new Error('TAP cables need Linux (this is ' + process.platform + ')')
  let koffi: Koffi
  try {
    koffi = createRequire(import.meta.url)('koffi') as Koffi
  } catch (e) {
    throw new Error('TAP cables need the koffi package (npm install koffi): ' + (e as Error).message)
  }
  let lib
  try {
    lib = koffi.load('libc.so.6')
  } catch {
    lib = koffi.load(null) // musl and others: the symbols the node binary itself links against
  }
  libc = {
    koffi,
    open: lib.func('int open(const char *path, int flags, ...)'),
    ioctl: lib.func('int ioctl(int fd, unsigned long request, ...)'),
    read: lib.func('long read(int fd, void *buf, unsigned long count)'),
    write: lib.func('long write(int fd, const void *buf, unsigned long count)'),
    close: lib.func('int close(int fd)'),
    poll: lib.func('int poll(void *fds, unsigned long nfds, int timeout)'),
    eventfd: lib.func('int eventfd(unsigned int initval, int flags)'),
    strerror: lib.func('const char *strerror(int errnum)'),
  }
  return libc
}

function errnoName(c: Libc, code: number): string {
  for (const [name, value] of Object.entries(c.koffi.os.errno)) if (value === code) return name
  return 'errno ' + code
}

function describe(c: Libc, code: number): string {
  return errnoName(c, code) + ' (' + String(c.strerror(code)) + ')'
}

/** One open TAP as the reactor sees it. */
interface OpenTap {
  fd: number
  ifname: string
  cable: TapCable
  /** A read failed for good (interface deleted under us): no longer polled or read. */
  dead: boolean
  stats: TapStats
}

/**
 * The one poller of this process: a single asynchronous poll(2) over an eventfd and every open TAP, so any
 * number of TAPs occupy one libuv worker thread (a poll per TAP would exhaust the pool of 4 and stall fs,
 * dns and crypto). The worker only waits; all reads happen on the main thread.
 */
class Reactor {
  private readonly taps = new Set<OpenTap>()
  /** Closed while the worker may still be polling their fds: closed when the poll returns. */
  private toRelease: OpenTap[] = []
  private polling = false
  private drainScheduled = false
  private readonly efd: number
  private pollfds = Buffer.alloc(0)
  private readonly rbuf = new Uint8Array(READ_BUFFER)
  private readonly word = Buffer.alloc(8)

  constructor(private readonly c: Libc) {
    this.efd = c.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)
    if (this.efd < 0) throw new Error('openTap: eventfd failed: ' + describe(c, c.koffi.errno()))
  }

  add(tap: OpenTap): void {
    this.taps.add(tap)
    if (this.polling) this.wake() // the worker must poll the new fd too
    else this.drainAll()
  }

  remove(tap: OpenTap): void {
    this.taps.delete(tap)
    if (this.polling) {
      this.toRelease.push(tap)
      this.wake()
    } else {
      this.c.close(tap.fd)
    }
  }

  private wake(): void {
    this.word.writeBigUInt64LE(1n)
    this.c.write(this.efd, this.word, 8)
  }

  private arm(): void {
    if (this.polling || this.drainScheduled) return
    const live = [...this.taps].filter((t) => !t.dead)
    if (live.length === 0) return // nothing to wait for: let the process exit
    const n = live.length + 1
    if (this.pollfds.length < n * 8) this.pollfds = Buffer.alloc(n * 8)
    const p = this.pollfds // struct pollfd { int fd; short events; short revents; }
    p.writeInt32LE(this.efd, 0)
    p.writeInt16LE(POLLIN, 4)
    p.writeInt16LE(0, 6)
    live.forEach((t, i) => {
      p.writeInt32LE(t.fd, (i + 1) * 8)
      p.writeInt16LE(POLLIN, (i + 1) * 8 + 4)
      p.writeInt16LE(0, (i + 1) * 8 + 6)
    })
    this.polling = true
    this.c.poll.async(p, n, -1, (err: unknown, res: number) => {
      this.polling = false
      this.c.read(this.efd, this.word, 8) // reset the wake-up counter (EAGAIN when it was not used)
      for (const t of this.toRelease) this.c.close(t.fd)
      this.toRelease = []
      if (err || res < 0) {
        // EINTR is the only expected failure; back off rather than spin on anything else.
        setTimeout(() => this.drainAll(), 10)
        return
      }
      this.drainAll()
    })
  }

  /**
   * Reads every open TAP until EAGAIN, at most READ_BUDGET frames each per event-loop turn; re-arms the
   * poll once all are empty, otherwise continues from setImmediate so timers and other I/O still run.
   */
  private drainAll(): void {
    this.drainScheduled = false
    const { c, rbuf } = this
    let more = false
    for (const t of this.taps) {
      if (t.dead) continue
      let i = 0
      for (; i < READ_BUDGET; i++) {
        if (!this.taps.has(t)) break // closed by a handler
        const n: number = c.read(t.fd, rbuf, READ_BUFFER)
        if (n < 0) {
          const err = c.koffi.errno()
          if (err !== c.koffi.os.errno.EAGAIN && err !== c.koffi.os.errno.EINTR) {
            t.dead = true // EBADFD/EIO after the interface vanished: stop reading it
            process.emitWarning(`TAP ${t.ifname}: read failed: ${describe(c, err)}; no more frames will be received`)
          }
          break
        }
        if (n < MIN_FRAME) continue
        t.stats.rxFrames++
        t.stats.rxBytes += n
        const handler = t.cable.onFrame
        if (handler !== null) handler(rbuf.slice(0, n)) // a plain Uint8Array copy (not a Buffer, whose slice aliases)
      }
      if (i === READ_BUDGET) more = true
    }
    if (more) {
      this.drainScheduled = true
      setImmediate(() => this.drainAll())
    } else {
      this.arm()
    }
  }
}

let theReactor: Reactor | undefined
function reactor(c: Libc): Reactor {
  if (theReactor === undefined) theReactor = new Reactor(c)
  return theReactor
}

const CAP_HINT = 'run as root or grant CAP_NET_ADMIN: sudo setcap cap_net_admin+ep $(which node)'

/** Counters of one TAP cable (frames and bytes each way, frames the kernel refused). */
export interface TapStats {
  rxFrames: number
  rxBytes: number
  txFrames: number
  txBytes: number
  txErrors: number
}

export interface TapCable extends Cable {
  /** The interface name the kernel gave (same as requested unless it contained %d). */
  readonly ifname: string
  readonly stats: TapStats
}

/**
 * Opens (creates) the non-persistent TAP interface `name` and returns it as a Cable. The interface exists
 * while the cable is open; bring it up and address it with `ip` as usual. Needs CAP_NET_ADMIN in the current
 * network namespace (tests run it as root inside a namespace of their own).
 */
export function openTap(name: string): TapCable {
  if (typeof name !== 'string' || name.length === 0 || Buffer.byteLength(name) >= IFNAMSIZ || /[\s/:]/.test(name)) {
    throw new Error(`openTap: invalid interface name ${JSON.stringify(name)} (1 to ${IFNAMSIZ - 1} bytes, no spaces, '/' or ':')`)
  }
  if (!fs.existsSync('/dev/net/tun')) {
    throw new Error('openTap: /dev/net/tun does not exist: load the tun module (modprobe tun), or in a container pass the device (docker run --device /dev/net/tun --cap-add NET_ADMIN)')
  }
  const c = loadLibc()
  const { koffi } = c

  const fd: number = c.open('/dev/net/tun', O_RDWR | O_NONBLOCK | O_CLOEXEC)
  if (fd < 0) {
    const err = koffi.errno()
    const hint = err === koffi.os.errno.EACCES || err === koffi.os.errno.EPERM ? ': ' + CAP_HINT : ''
    throw new Error('openTap: cannot open /dev/net/tun: ' + describe(c, err) + hint)
  }

  const ifr = Buffer.alloc(IFREQ_SIZE)
  ifr.write(name, 0, IFNAMSIZ - 1, 'utf8')
  ifr.writeInt16LE(IFF_TAP | IFF_NO_PI, IFNAMSIZ) // ifr_flags is a native short: little-endian on all supported targets
  if (c.ioctl(fd, TUNSETIFF, 'void *', ifr) < 0) {
    const err = koffi.errno()
    c.close(fd)
    const e = koffi.os.errno
    let why = describe(c, err)
    if (err === e.EPERM || err === e.EACCES) why += ': ' + CAP_HINT
    else if (err === e.EBUSY) why += `: interface ${name} is busy (another process has a TAP of that name open)`
    else if (err === e.EINVAL) why += `: an interface named ${name} probably exists and is not a TAP (ip link del ${name})`
    throw new Error(`openTap: cannot create TAP ${name}: ` + why)
  }
  const end = ifr.indexOf(0)
  const ifname = ifr.toString('utf8', 0, end < 0 || end > IFNAMSIZ ? IFNAMSIZ : end)

  const stats: TapStats = { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0, txErrors: 0 }
  const tap: OpenTap = { fd, ifname, cable: null as unknown as TapCable, dead: false, stats }
  let closed = false
  const cable: TapCable = {
    name: 'tap:' + ifname,
    ifname,
    stats,
    onFrame: null,
    send(frame: Uint8Array): void {
      if (closed) return
      const n: number = c.write(fd, frame, frame.length)
      if (n === frame.length) {
        stats.txFrames++
        stats.txBytes += n
      } else {
        // EIO while the interface is down, EAGAIN/ENOBUFS under pressure: a cable drops the frame.
        stats.txErrors++
      }
    },
    close(): void {
      if (closed) return
      closed = true
      reactor(c).remove(tap)
    },
  }
  tap.cable = cable
  reactor(c).add(tap)
  return cable
}
