// `spinet sim`: the example firmware on the virtual board.
//
// Cables: --tap NAME (a Linux TAP in the current network namespace), --udp LOCALPORT:HOST:PORT (one
// Ethernet frame per datagram), or, with neither, the automatic choice `npm start` uses: as root, a
// fresh network namespace with a TAP inside it (so nothing on the host's own network changes); without
// privileges, a UDP cable on loopback and an explanation of how to reach it.
import { spawnSync } from 'node:child_process'
import { boot } from '../firmware/boot.js'
import { layoutArena } from '../firmware/kernel/arena.js'
import { parseCidr, parseIp } from '../firmware/net/addr.js'
import { IpConfig } from '../firmware/net/stack.js'
import { loadBoard } from '../hal/host/boards.js'
import { Cable } from '../hal/host/cable.js'
import { createCore } from '../hal/host/core.js'
import { faultyCable, FaultOptions } from '../hal/host/faulty-wire.js'
import { canUseNetns, createNetns } from '../hal/host/netns.js'
import { recordPcap } from '../hal/host/pcap.js'
import { openTap } from '../hal/host/tap.js'
import { openUdpCable } from '../hal/host/udp-cable.js'
import { startVirtualBoard } from '../hal/host/virtual-board.js'

export interface SimOptions {
  board: string
  chip?: 'enc28j60' | 'w5500'
  core?: 'wasm' | 'portable'
  tap?: string
  udp?: string
  pcap?: string
  loss?: string
  dup?: string
  reorder?: string
  corrupt?: string
  delay?: string
  seed?: string
  ip?: string
  gateway?: string
  dhcp?: boolean
  mac?: string
  hostIp?: string
  stats?: string
}

/** The demo network npm start builds: the board at .2, Linux (in the namespace) at .1. */
const DEMO_HOST = '10.77.0.1/24'
const DEMO_BOARD = '10.77.0.2/24'
const DEMO_UDP = { local: 9000, peer: 9001 }

function fail(msg: string): never {
  throw new Error(msg)
}

function parseMac(s: string): Uint8Array {
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(s)
  if (!m) fail(`--mac ${s}: write six hex bytes, e.g. 02:53:50:4e:45:54`)
  const mac = Uint8Array.from(m.slice(1, 7).map((h) => parseInt(h, 16)))
  if (mac[0] & 1) fail(`--mac ${s}: the first byte is odd, which makes it a multicast address`)
  return mac
}

function probability(name: string, v: string | undefined): number {
  if (v === undefined) return 0
  const p = Number(v)
  if (!(p >= 0 && p <= 1)) fail(`--${name} ${v}: a probability from 0 to 1`)
  return p
}

function faultOptions(o: SimOptions): FaultOptions | null {
  const f: FaultOptions = {
    loss: probability('loss', o.loss), dup: probability('dup', o.dup), reorder: probability('reorder', o.reorder),
    corrupt: probability('corrupt', o.corrupt), delayMs: o.delay !== undefined ? Number(o.delay) : 0,
    seed: o.seed !== undefined ? Number(o.seed) : 1,
  }
  if (!(f.delayMs! >= 0)) fail(`--delay ${o.delay}: milliseconds >= 0`)
  const any = f.loss! > 0 || f.dup! > 0 || f.reorder! > 0 || f.corrupt! > 0 || f.delayMs! > 0
  return any ? f : null
}

function addressing(o: SimOptions, boardIp: string, boardGw: string | undefined): IpConfig | null {
  if (o.dhcp) return null
  const spec = o.ip !== undefined ? o.ip : boardIp
  if (spec === 'dhcp') return null
  const cidr = parseCidr(spec)
  if (cidr === null) fail(`--ip ${spec}: write A.B.C.D/NN, e.g. 10.77.0.2/24`)
  const gw = o.gateway !== undefined ? o.gateway : (o.ip === undefined ? boardGw : undefined)
  const gateway = gw !== undefined ? parseIp(gw) : 0
  if (gateway < 0) fail(`--gateway ${gw}: an IPv4 address`)
  return { ip: cidr.ip, mask: cidr.mask, gateway: gateway >>> 0 }
}

async function openCable(o: SimOptions, log: (s: string) => void): Promise<Cable> {
  let cable: Cable
  if (o.tap !== undefined) {
    cable = openTap(o.tap)
    log(`cable: TAP ${o.tap}`)
    if (o.hostIp !== undefined) configureHostSide(o.tap, o.hostIp)
  } else if (o.udp !== undefined) {
    const m = /^(\d+):([^:]+):(\d+)$/.exec(o.udp)
    if (!m) fail(`--udp ${o.udp}: write LOCALPORT:HOST:PORT, e.g. 9000:127.0.0.1:9001`)
    cable = await openUdpCable(Number(m[1]), m[2], Number(m[3]))
    log(`cable: UDP ${m[1]} <-> ${m[2]}:${m[3]} (one Ethernet frame per datagram)`)
  } else {
    fail('no cable: give --tap NAME or --udp LOCALPORT:HOST:PORT')
  }
  const faults = faultOptions(o)
  if (faults !== null) {
    cable = faultyCable(cable, faults)
    log(`faults: loss ${faults.loss} dup ${faults.dup} reorder ${faults.reorder} corrupt ${faults.corrupt} delay ${faults.delayMs} ms seed ${faults.seed}`)
  }
  if (o.pcap !== undefined) {
    cable = recordPcap(cable, o.pcap)
    log(`pcap: recording to ${o.pcap}`)
  }
  return cable
}

/** Gives the Linux side of our own TAP an address (only inside a namespace we created). */
function configureHostSide(tap: string, hostIp: string): void {
  for (const args of [['addr', 'add', hostIp, 'dev', tap], ['link', 'set', tap, 'up']]) {
    const r = spawnSync('ip', args, { encoding: 'utf8' })
    if (r.status !== 0) fail(`ip ${args.join(' ')}: ${r.stderr || r.error}`)
  }
}

async function runBoard(o: SimOptions): Promise<number> {
  const board = loadBoard(o.board)
  const chip = o.chip !== undefined ? o.chip : board.chip
  const coreName = o.core !== undefined ? o.core : board.core
  const log = (s: string): void => console.log(s)
  const portable = layoutArena(board.budget, 0, board.memory.arenaLimit).total
  boot({ ...board, chip }, createCore(coreName, portable), log)
  const cable = await openCable(o, log)
  const vb = startVirtualBoard({
    board, chip, core: coreName, cable, log,
    mac: parseMac(o.mac !== undefined ? o.mac : board.net.mac),
    address: addressing(o, board.net.ip, board.net.gateway),
  })
  const statsMs = o.stats !== undefined ? Number(o.stats) * 1000 : 0
  const statsTimer = statsMs > 0 ? setInterval(() => log('counters: ' + vb.firmware.counters()), statsMs) : null
  return new Promise((resolve) => {
    const stop = (sig: string): void => {
      if (statsTimer !== null) clearInterval(statsTimer)
      log(`${sig}: stopping`)
      log('counters: ' + vb.firmware.counters())
      log('chip: ' + JSON.stringify(vb.chip.stats))
      vb.stop()
      resolve(0)
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
  })
}

/** As root: a namespace of our own with the board on a TAP inside it; Linux in it is the peer. */
async function runInOwnNamespace(o: SimOptions): Promise<number> {
  const ns = await createNetns('spinet-demo')
  const boardIp = o.ip !== undefined ? o.ip : DEMO_BOARD
  const args = [process.argv[1], 'sim', '--board', o.board, '--tap', 'tap0', '--host-ip', DEMO_HOST, '--ip', boardIp,
    ...passThrough(o)]
  console.log(`network namespace ${ns.name}: Linux is ${DEMO_HOST} on tap0, the board is ${boardIp}`)
  console.log(`ping it:   sudo ip netns exec ${ns.name} ping ${boardIp.split('/')[0]}`)
  console.log(`echo:      sudo ip netns exec ${ns.name} nc -u ${boardIp.split('/')[0]} 7`)
  console.log('stop with Ctrl-C (the namespace is removed)\n')
  const child = ns.spawn(process.execPath, args, { stdio: 'inherit' })
  return new Promise((resolve) => {
    const forward = (sig: NodeJS.Signals): void => { child.kill(sig) }
    process.on('SIGINT', forward)
    process.on('SIGTERM', forward)
    child.on('exit', async (code) => {
      await ns.destroy()
      resolve(code === null ? 1 : code)
    })
  })
}

function passThrough(o: SimOptions): string[] {
  const out: string[] = []
  const keys: (keyof SimOptions)[] = ['chip', 'core', 'pcap', 'loss', 'dup', 'reorder', 'corrupt', 'delay', 'seed', 'gateway', 'mac', 'stats']
  for (const k of keys) if (o[k] !== undefined) out.push('--' + k, String(o[k]))
  if (o.dhcp) out.push('--dhcp')
  return out
}

/** Without privileges: a UDP cable on loopback, and how to get a TAP instead. */
async function runOnLoopback(o: SimOptions, reason: string): Promise<number> {
  console.log(`No TAP: ${reason}.`)
  console.log('To ping the board from Linux, run as root (it then makes a network namespace with a TAP inside):')
  console.log('    sudo npm start')
  console.log(`Meanwhile the board runs on a UDP cable: frames as datagrams on 127.0.0.1:${DEMO_UDP.local}.`)
  console.log('Bridge it to a TAP yourself with socat (as root):')
  console.log(`    socat -b 65536 TUN:${DEMO_HOST},tun-type=tap,tun-name=spinet0,iff-no-pi,iff-up ` +
    `UDP-DATAGRAM:127.0.0.1:${DEMO_UDP.local},bind=127.0.0.1:${DEMO_UDP.peer}\n`)
  return runBoard({ ...o, udp: `${DEMO_UDP.local}:127.0.0.1:${DEMO_UDP.peer}`, ip: o.ip !== undefined ? o.ip : DEMO_BOARD })
}

export async function runSim(o: SimOptions): Promise<number> {
  if (o.tap !== undefined || o.udp !== undefined) return runBoard(o)
  const can = canUseNetns()
  if (can.ok) return runInOwnNamespace(o)
  return runOnLoopback(o, can.reason !== undefined ? can.reason : 'no privileges')
}

