// The interop harness: a network namespace made by the test, the virtual board on a TAP inside it,
// and Linux's own tools run in the namespace as the board's peer. The namespace is removed at the
// end, also when a test fails or the process is interrupted (hal/host/netns.ts registers cleanup).
import { ChildProcess } from 'node:child_process'
import path from 'node:path'
import { createNetns, Netns, canUseNetns } from '../hal/host/netns.js'
import { packageRoot } from '../hal/host/paths.js'

export const HOST_IP = '10.77.0.1'
export const BOARD_IP = '10.77.0.2'

/** Why the interop suites cannot run here, or undefined when they can. */
export function interopSkipReason(): string | undefined {
  const can = canUseNetns()
  return can.ok ? undefined : `interop needs root, iproute2 and /dev/net/tun (${can.reason})`
}

export interface BoardRun {
  ns: Netns
  child: ChildProcess
  output(): string
  /** Resolves with the first match of `re` in the board's output from offset `from` on (rejects after `ms`). */
  waitFor(re: RegExp, ms?: number, from?: number): Promise<RegExpMatchArray>
  stop(): Promise<void>
}

/** Starts `spinet sim --tap tap0` in a fresh namespace; Linux gets HOST_IP/24 on tap0. */
export async function startBoard(args: string[]): Promise<BoardRun> {
  const ns = await createNetns('spinet-it')
  const cli = path.join(packageRoot(), 'dist/tools/spinet.js')
  const child = ns.spawn(process.execPath, [cli, 'sim', '--tap', 'tap0', '--host-ip', HOST_IP + '/24', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const waiters: (() => void)[] = []
  const onData = (d: Buffer): void => { out += d.toString(); for (const w of waiters.slice()) w() }
  child.stdout!.on('data', onData)
  child.stderr!.on('data', onData)
  const run: BoardRun = {
    ns,
    child,
    output: () => out,
    waitFor: (re, ms = 15000, from = 0) => new Promise((resolve, reject) => {
      const check = (): void => {
        const m = re.exec(from > 0 ? out.slice(from) : out)
        if (m) { clearTimeout(t); waiters.splice(waiters.indexOf(check), 1); resolve(m) }
      }
      const t = setTimeout(() => {
        waiters.splice(waiters.indexOf(check), 1)
        reject(new Error(`board did not print ${re} within ${ms} ms; it printed:\n${out}`))
      }, ms)
      waiters.push(check)
      check()
    }),
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r))
        child.kill('SIGTERM')
        await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))])
      }
      await ns.destroy()
    },
  }
  try {
    await run.waitFor(/link up/)
  } catch (e) {
    await run.stop()
    throw e
  }
  return run
}

/** Runs a command in the namespace; resolves with its exit code and output (never rejects on exit code). */
export async function sh(ns: Netns, cmd: string, args: string[], timeoutMs = 30000): Promise<{ code: number; out: string }> {
  const r = await ns.exec(cmd, args, { timeoutMs, allowFail: true })
  return { code: r.code, out: r.stdout + r.stderr }
}

/** The packet loss ping reports, in percent. */
export function pingLoss(out: string): number {
  const m = /([\d.]+)% packet loss/.exec(out)
  if (!m) throw new Error('no ping summary in:\n' + out)
  return Number(m[1])
}

/** One `counters: ...` line of the board (tools/sim.ts prints it every --stats seconds and on SIGTERM). */
export interface BoardCounters {
  line: string
  /** TCBs in use, TIME-WAIT included (`| tcp open N |`). */
  tcpOpen: number
  /** The example services' TCP counters (firmware/apps/example.ts formatExampleCounters). */
  echoConnections: number
  echoBytes: number
  discardConnections: number
  discardBytes: number
  /** A stack counter by name (`tcp.rst.tx`, ...); 0 when the line leaves it out (it prints non-zero ones). */
  get(name: string): number
}

export function parseCounters(line: string): BoardCounters {
  const open = /\| tcp open (\d+) \|/.exec(line)
  const tcp = /tcp echo (\d+) \((\d+) bytes\), discard (\d+) \((\d+) bytes\)/.exec(line)
  if (!open || !tcp) throw new Error('not a counters line with TCP services: ' + line)
  return {
    line,
    tcpOpen: Number(open[1]),
    echoConnections: Number(tcp[1]), echoBytes: Number(tcp[2]),
    discardConnections: Number(tcp[3]), discardBytes: Number(tcp[4]),
    get: (name) => {
      const m = new RegExp('(?:^| )' + name.replace(/[.]/g, '\\.') + '=(\\d+)').exec(line)
      return m ? Number(m[1]) : 0
    },
  }
}

/** The next complete `counters:` line the board prints after now (start the board with --stats). */
export async function nextCounters(run: BoardRun, ms = 5000): Promise<BoardCounters> {
  const m = await run.waitFor(/counters: ([^\n]*)\n/, ms, run.output().length)
  return parseCounters(m[1])
}

/** Waits (polling the --stats lines) until the board reports `tcp open 0`; returns that line's counters. */
export async function waitTcpIdle(run: BoardRun, ms = 10000): Promise<BoardCounters> {
  const until = Date.now() + ms
  let c = await nextCounters(run, ms)
  while (c.tcpOpen !== 0 && Date.now() < until) c = await nextCounters(run, Math.max(until - Date.now(), 1))
  return c
}

/** After stop(): the counters the board printed on SIGTERM. */
export function finalCounters(run: BoardRun): BoardCounters {
  const out = run.output()
  const at = out.lastIndexOf('SIGTERM: stopping')
  const m = at < 0 ? null : /counters: ([^\n]*)/.exec(out.slice(at))
  if (!m) throw new Error('the board printed no counters on SIGTERM; it printed:\n' + out.slice(-4000))
  return parseCounters(m[1])
}
