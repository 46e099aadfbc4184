// openTap against Linux itself: a child Node process inside a private network namespace opens TAP "tap0"
// and plays a hand-built host (test/fixtures/tap-peer.ts); Linux on the other side of the TAP arpings and
// pings it. Needs root and /dev/net/tun (CI runs as root); skipped with the reason otherwise.
// Network rules: the TAP and all traffic exist only inside the namespace, which is deleted in `finally`
// (and by hal/host/netns.ts's exit/signal handlers if the test dies).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync, ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import readline from 'node:readline'
import { canUseNetns, createNetns, removeStaleNetns, spawnNodeInNetns, Netns } from '../hal/host/netns.js'
import { openTap } from '../hal/host/tap.js'

const FIXTURE = fileURLToPath(new URL('./fixtures/tap-peer.js', import.meta.url))
const MULTI = fileURLToPath(new URL('./fixtures/tap-multi.js', import.meta.url))
const PREFIX = 'spinet-tap'
const HOST_IP = '10.99.0.1'
const PEER_IP = '10.99.0.2'
const PEER_MAC = '02:00:00:99:00:02'

type Event = { event: string; [k: string]: unknown }

/** The fixture's JSON-lines stdout as awaitable events. */
class Peer {
  private readonly queue: Event[] = []
  private waiter: ((e: Event) => void) | null = null
  stderr = ''
  constructor(readonly child: ChildProcess) {
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      let e: Event
      try { e = JSON.parse(line) as Event } catch { return }
      if (this.waiter !== null) { const w = this.waiter; this.waiter = null; w(e) } else this.queue.push(e)
    })
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.stderr += d })
  }

  next(timeoutMs = 10000): Promise<Event> {
    const queued = this.queue.shift()
    if (queued !== undefined) return Promise.resolve(queued)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.waiter = null; reject(new Error('tap-peer did not answer; stderr: ' + this.stderr)) }, timeoutMs)
      const onExit = (code: number | null): void => { clearTimeout(timer); this.waiter = null; reject(new Error(`tap-peer exited (${code}): ${this.stderr}`)) }
      this.child.once('exit', onExit)
      this.waiter = (e) => { clearTimeout(timer); this.child.removeListener('exit', onExit); resolve(e) }
    })
  }

  async expect(event: string, timeoutMs?: number): Promise<Event> {
    const e = await this.next(timeoutMs)
    if (e.event !== event) throw new Error(`expected ${event} from tap-peer, got ${JSON.stringify(e)}; stderr: ${this.stderr}`)
    return e
  }

  async command(line: string, event: string, timeoutMs?: number): Promise<Event> {
    this.child.stdin!.write(line + '\n')
    return this.expect(event, timeoutMs)
  }
}

function startPeer(ns: Netns, args: string[]): Peer {
  return new Peer(spawnNodeInNetns(ns, FIXTURE, args))
}

/** Debian's `arping` is Thomas Habets' (-i IFACE); iputils-arping takes -I IFACE. */
function arpingArgs(iface: string, ip: string): string[] {
  const help = spawnSync('arping', ['--help'], { encoding: 'utf8' })
  const text = String(help.stdout) + String(help.stderr)
  const flag = /Habets/.test(text) ? '-i' : '-I'
  return ['-c', '1', '-w', '2', flag, iface, ip]
}

function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', 'command -v ' + cmd], { stdio: 'ignore' }).status === 0
}

async function linkStats(ns: Netns, dev: string): Promise<{ rx: number; tx: number; txDropped: number }> {
  const r = await ns.exec('ip', ['-s', '-j', 'link', 'show', 'dev', dev])
  const s = JSON.parse(r.stdout)[0].stats64
  return { rx: s.rx.packets, tx: s.tx.packets, txDropped: s.tx.dropped }
}

test('openTap validates the interface name before touching the system', () => {
  assert.throws(() => openTap(''), /invalid interface name/)
  assert.throws(() => openTap('a-very-long-name0'), /invalid interface name/)
  assert.throws(() => openTap('tap 0'), /invalid interface name/)
})

test('TAP cable in a network namespace against Linux', async (t) => {
  const can = canUseNetns()
  if (!can.ok) {
    t.skip('needs root, iproute2 and /dev/net/tun: ' + can.reason)
    return
  }
  await removeStaleNetns(PREFIX)
  const ns = await createNetns(PREFIX)
  try {
    const peer = startPeer(ns, ['tap0', PEER_IP, PEER_MAC])
    const ready = await peer.expect('ready')
    assert.equal(ready.ifname, 'tap0')
    await ns.exec('ip', ['addr', 'add', HOST_IP + '/24', 'dev', 'tap0'])
    await ns.exec('ip', ['link', 'set', 'tap0', 'up'])

    await t.test('arping gets the hand-built ARP reply', async (t) => {
      if (!hasCommand('arping')) { t.skip('arping is not installed (apt-get install arping)'); return }
      const r = await ns.exec('arping', arpingArgs('tap0', PEER_IP), { allowFail: true })
      assert.equal(r.code, 0, 'arping failed:\n' + r.stdout + r.stderr)
      assert.match(r.stdout.toLowerCase(), /02:00:00:99:00:02/)
      const stats = await peer.command('stats', 'stats')
      assert.ok((stats.arpReplies as number) >= 1)
    })

    await t.test('ping gets hand-built echo replies', async (t) => {
      if (!hasCommand('ping')) { t.skip('ping is not installed (apt-get install iputils-ping)'); return }
      const r = await ns.exec('ping', ['-c', '3', '-i', '0.2', '-W', '2', PEER_IP], { allowFail: true })
      assert.equal(r.code, 0, 'ping failed:\n' + r.stdout + r.stderr)
      assert.match(r.stdout, /3 received/)
      // The kernel learned the MAC from our ARP reply.
      const neigh = await ns.exec('ip', ['neigh', 'show', PEER_IP, 'dev', 'tap0'])
      assert.match(neigh.stdout.toLowerCase(), /02:00:00:99:00:02/)
    })

    await t.test('a second open of a busy TAP name fails clearly', async () => {
      const second = startPeer(ns, ['tap0', '10.99.0.3', '02:00:00:99:00:03'])
      const e = await second.expect('error')
      assert.match(String(e.message), /EBUSY|busy/)
    })

    await t.test('without CAP_NET_ADMIN the error says how to grant it', async (t) => {
      if (!hasCommand('setpriv')) { t.skip('setpriv (util-linux) is not installed'); return }
      // Still root (so /dev/net/tun opens), but CAP_NET_ADMIN is dropped: TUNSETIFF fails with EPERM.
      const child = ns.spawn('setpriv', ['--inh-caps=-net_admin', '--bounding-set=-net_admin', '--',
        process.execPath, FIXTURE, 'tapx', '10.99.0.4', '02:00:00:99:00:04'], { stdio: ['pipe', 'pipe', 'pipe'] })
      const e = await new Peer(child).expect('error')
      assert.match(String(e.message), /EPERM/)
      assert.match(String(e.message), /setcap cap_net_admin\+ep/)
    })

    await t.test('frame rate through the TAP (thousands of frames/s each way)', async (t) => {
      // Linux -> TAP -> child: a Node UDP sender inside the namespace, in bursts of 200 (the TAP queue holds 1000).
      const N = 20000
      const sender = ns.spawn(process.execPath, ['-e', `
        const s = require('node:dgram').createSocket('udp4'); const payload = Buffer.alloc(18)
        let sent = 0
        const burst = () => { for (let i = 0; i < 200 && sent < ${N}; i++, sent++) s.send(payload, 9, '${PEER_IP}')
          if (sent < ${N}) setTimeout(burst, 0); else setTimeout(() => s.close(), 100) }
        burst()`], { stdio: 'ignore' })
      const before = await linkStats(ns, 'tap0')
      await new Promise((resolve) => sender.once('exit', resolve))
      await new Promise((resolve) => setTimeout(resolve, 300))
      const after = await linkStats(ns, 'tap0')
      const s = await peer.command('stats', 'stats')
      const got = s.udp as number
      const inMs = (s.lastUdpAt as number) - (s.firstUdpAt as number)
      const inRate = Math.round(got / (inMs / 1000))
      t.diagnostic(`Linux -> TAP -> openTap: ${got}/${N} frames in ${inMs.toFixed(0)} ms = ${inRate} frames/s ` +
        `(kernel queue drops ${after.txDropped - before.txDropped})`)
      assert.ok(got >= N / 2, `only ${got} of ${N} frames arrived`)
      assert.ok(inRate >= 2000, `receive rate ${inRate} frames/s`)

      // child -> TAP -> Linux: synchronous writes, counted by the kernel.
      const rx0 = (await linkStats(ns, 'tap0')).rx
      const b = await peer.command('blast ' + N, 'blast', 30000)
      const rx1 = (await linkStats(ns, 'tap0')).rx
      const outRate = Math.round(N / ((b.ms as number) / 1000))
      t.diagnostic(`openTap -> TAP -> Linux: ${N} frames in ${(b.ms as number).toFixed(0)} ms = ${outRate} frames/s ` +
        `(kernel counted ${rx1 - rx0}, write errors ${b.txErrors})`)
      assert.ok(rx1 - rx0 >= N * 0.99, `kernel received ${rx1 - rx0} of ${N}`)
      assert.ok(outRate >= 2000, `send rate ${outRate} frames/s`)

      // Round trips: flood ping waits for each reply before the next request.
      if (hasCommand('ping')) {
        const r = await ns.exec('ping', ['-f', '-c', '2000', '-q', '-W', '1', PEER_IP], { allowFail: true, timeoutMs: 60000 })
        const m = /(\d+) packets transmitted, (\d+) received.*time (\d+)ms/s.exec(r.stdout)
        const rtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+)/.exec(r.stdout)
        if (m !== null) {
          const rate = Math.round((2 * Number(m[2])) / (Number(m[3]) / 1000))
          t.diagnostic(`flood ping: ${m[2]}/${m[1]} replies in ${m[3]} ms = ${rate} frames/s through the cable` +
            (rtt !== null ? `, rtt min/avg/max ${rtt[1]}/${rtt[2]}/${rtt[3]} ms` : ''))
          assert.ok(Number(m[2]) >= 1900, r.stdout)
        } else {
          assert.fail('flood ping output not understood:\n' + r.stdout + r.stderr)
        }
      }
    })

    await t.test('many TAPs in one process share one poll thread and the process exits after closing them', async () => {
      const r = await ns.exec(process.execPath, [MULTI, '6'], { timeoutMs: 15000 })
      const out = JSON.parse(r.stdout.trim()) as { fsOk: boolean; fsMs: number; names: string[] }
      assert.ok(out.fsOk, 'fs.readFile stalled: the libuv worker pool is exhausted')
      assert.deepEqual(out.names, ['mtap0', 'mtap1', 'mtap2', 'mtap3', 'mtap4', 'mtap5'])
      const links = await ns.exec('ip', ['-o', 'link', 'show'])
      assert.doesNotMatch(links.stdout, /mtap/, 'the TAPs are gone with their fds')
    })

    await t.test('closing the cable deletes the TAP', async () => {
      const closed = await peer.command('quit', 'closed')
      assert.equal(closed.event, 'closed')
      if (peer.child.exitCode === null) await new Promise((resolve) => peer.child.once('exit', resolve))
      const r = await ns.exec('ip', ['link', 'show', 'tap0'], { allowFail: true })
      assert.notEqual(r.code, 0, 'tap0 still exists:\n' + r.stdout)
    })
  } finally {
    await ns.destroy()
  }
  const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout
  assert.ok(!left.includes(ns.name), 'namespace left behind: ' + ns.name)
})
