// Network namespaces for interop tests and the CLI: a private network stack where a test may create TAP
// devices and run Linux peers (ping, arping, curl, dnsmasq) without touching the host's own network.
// Host only, Linux only, needs root (CAP_SYS_ADMIN for `ip netns add`, CAP_NET_ADMIN inside).
//
// Every namespace created here is deleted by `destroy()`, and also when the process exits or gets SIGINT,
// SIGTERM or SIGHUP (children started in it are killed first, so their TAPs go too). Names carry the pid,
// so `removeStaleNetns()` can clean up after a process that was SIGKILLed.
import { spawn as spawnChild, spawnSync, ChildProcess, SpawnOptions } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

export interface ExecResult {
  code: number
  stdout: string
  stderr: string
}

export interface ExecOptions {
  /** Resolve even when the command exits non-zero (default: reject with its output). */
  allowFail?: boolean
  /** Kill the command after this many milliseconds (default 30000). */
  timeoutMs?: number
  /** Written to the command's stdin. */
  input?: string
}

export interface Netns {
  readonly name: string
  /** Runs `cmd args` inside the namespace (`ip netns exec NAME cmd args`). */
  exec(cmd: string, args?: string[], opts?: ExecOptions): Promise<ExecResult>
  /** Starts `cmd args` inside the namespace; the child is killed by destroy(). */
  spawn(cmd: string, args?: string[], opts?: SpawnOptions): ChildProcess
  /** Kills the children started with spawn() and deletes the namespace. Idempotent. */
  destroy(): Promise<void>
}

const IP_CANDIDATES = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip']

function findIp(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir === '') continue
    const p = path.join(dir, 'ip')
    if (fs.existsSync(p)) return p
  }
  return IP_CANDIDATES.find((p) => fs.existsSync(p))
}

let ipPath: string | undefined
function ip(): string {
  if (ipPath === undefined) {
    ipPath = findIp()
    if (ipPath === undefined) throw new Error('the `ip` command is missing: apt-get install iproute2')
  }
  return ipPath
}

let canUse: { ok: boolean; reason?: string } | undefined

/**
 * Whether this process can run the namespace/TAP tests: root, `ip` present, /dev/net/tun present, and
 * `ip netns add` actually works (it does not in an unprivileged container). The probe runs once.
 */
export function canUseNetns(): { ok: boolean; reason?: string } {
  if (canUse !== undefined) return canUse
  canUse = probe()
  return canUse
}

function probe(): { ok: boolean; reason?: string } {
  if (process.platform !== 'linux') return { ok: false, reason: 'network namespaces need Linux' }
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return { ok: false, reason: 'not running as root (network namespaces and TAP devices need root)' }
  if (findIp() === undefined) return { ok: false, reason: 'the `ip` command is missing (apt-get install iproute2)' }
  if (!fs.existsSync('/dev/net/tun')) return { ok: false, reason: '/dev/net/tun is missing (modprobe tun, or docker run --device /dev/net/tun)' }
  const name = `spinet-probe-${process.pid}`
  const add = spawnSync(ip(), ['netns', 'add', name], { encoding: 'utf8', timeout: 10000 })
  if (add.status !== 0) return { ok: false, reason: '`ip netns add` fails here: ' + (add.stderr || add.error?.message || '').trim() }
  spawnSync(ip(), ['netns', 'del', name], { timeout: 10000 })
  return { ok: true }
}

// ---- cleanup of everything this process created ----------------------------------------------------------

interface Live {
  name: string
  children: Set<ChildProcess>
}

const live = new Map<string, Live>()
let handlersInstalled = false
let counter = 0

function cleanupSync(): void {
  for (const ns of live.values()) {
    for (const child of ns.children) {
      try { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') } catch { /* already gone */ }
    }
    spawnSync(ip(), ['netns', 'del', ns.name], { timeout: 10000 })
  }
  live.clear()
}

function installHandlers(): void {
  if (handlersInstalled) return
  handlersInstalled = true
  process.on('exit', cleanupSync)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      cleanupSync()
      process.removeListener(sig, onSignal)
      // Nobody else handles it: die of the signal as we would have without this handler.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig)
    }
    process.on(sig, onSignal)
  }
}

function run(file: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawnChild(file, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30000)
    child.on('error', (e) => { clearTimeout(timer); reject(new Error(`${file} ${args.join(' ')}: ${e.message}`)) })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const res = { code: code ?? 128, stdout, stderr }
      if (code === 0 || opts.allowFail) resolve(res)
      else reject(new Error(`${[file, ...args].join(' ')} failed (${signal ?? 'exit ' + code}):\n${stdout}${stderr}`))
    })
    child.stdin!.on('error', () => { /* command did not read its input */ })
    child.stdin!.end(opts.input ?? '')
  })
}

/**
 * Creates a fresh namespace named PREFIX-PID-N with IPv6 disabled (no router solicitations or MLD on the
 * test cable) and loopback up.
 */
export async function createNetns(prefix = 'spinet'): Promise<Netns> {
  if (!/^[A-Za-z0-9_.-]{1,40}$/.test(prefix)) throw new Error('createNetns: bad prefix ' + JSON.stringify(prefix))
  installHandlers()
  const name = `${prefix}-${process.pid}-${counter++}`
  await run(ip(), ['netns', 'add', name])
  const entry: Live = { name, children: new Set() }
  live.set(name, entry)
  let destroyed = false

  const exec = (cmd: string, args: string[] = [], opts?: ExecOptions): Promise<ExecResult> =>
    run(ip(), ['netns', 'exec', name, cmd, ...args], opts)

  const ns: Netns = {
    name,
    exec,
    spawn(cmd: string, args: string[] = [], opts: SpawnOptions = {}): ChildProcess {
      if (destroyed) throw new Error(`netns ${name} is destroyed`)
      const child = spawnChild(ip(), ['netns', 'exec', name, cmd, ...args], opts)
      entry.children.add(child)
      child.on('exit', () => entry.children.delete(child))
      return child
    },
    async destroy(): Promise<void> {
      if (destroyed) return
      destroyed = true
      await Promise.all([...entry.children].map((child) => stopChild(child)))
      live.delete(name)
      await run(ip(), ['netns', 'del', name], { allowFail: true })
    },
  }

  try {
    // = sysctl -w net.ipv6.conf.{all,default}.disable_ipv6=1 (default: for the TAPs created later), written
    // through /proc because minimal images lack procps; skipped where the kernel has no IPv6.
    await exec('sh', ['-c', 'for c in all default; do f=/proc/sys/net/ipv6/conf/$c/disable_ipv6; if [ -e $f ]; then echo 1 > $f || exit 1; fi; done'])
    await exec(ip(), ['link', 'set', 'lo', 'up'])
  } catch (e) {
    await ns.destroy()
    throw e
  }
  return ns
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited. */
function stopChild(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => { try { child.kill('SIGKILL') } catch { /* gone */ } }, graceMs)
    child.once('exit', () => { clearTimeout(timer); resolve() })
    try { child.kill('SIGTERM') } catch { clearTimeout(timer); resolve() }
  })
}

/**
 * Starts `node scriptPath args` inside the namespace (koffi and the TAP live in that child: a TAP is created
 * in the namespace of the process that opens it). stdio is piped; the child is killed by ns.destroy().
 */
export function spawnNodeInNetns(ns: Netns, scriptPath: string, args: string[] = [], opts: SpawnOptions = {}): ChildProcess {
  return ns.spawn(process.execPath, [scriptPath, ...args], { stdio: ['pipe', 'pipe', 'pipe'], ...opts })
}

/**
 * Deletes namespaces named PREFIX-PID-N whose PID no longer runs (left behind by a SIGKILLed test run),
 * so a stale TAP with the same subnet cannot steal the next run's route. Returns the names deleted.
 */
export async function removeStaleNetns(prefix = 'spinet'): Promise<string[]> {
  const list = await run(ip(), ['netns', 'list'], { allowFail: true })
  const removed: string[] = []
  for (const line of list.stdout.split('\n')) {
    const name = line.split(' ')[0]
    const m = /^(.*)-(\d+)-\d+$/.exec(name)
    if (m === null || m[1] !== prefix) continue
    const pid = Number(m[2])
    if (pid === process.pid || fs.existsSync('/proc/' + pid)) continue
    await run(ip(), ['netns', 'del', name], { allowFail: true })
    removed.push(name)
  }
  return removed
}
