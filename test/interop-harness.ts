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
  /** Resolves with the first match of `re` in the board's output (rejects after `ms`). */
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>
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
    waitFor: (re, ms = 15000) => new Promise((resolve, reject) => {
      const check = (): void => {
        const m = re.exec(out)
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
