// The `spinet` command as a user runs it: build prints the arena map and refuses bad budgets; sim runs
// the virtual board on a UDP cable (no privileges needed), answers ARP and ping through it, prints its
// counters and stops cleanly on SIGTERM.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import dgram from 'node:dgram'
import path from 'node:path'
import { packageRoot } from '../hal/host/paths.js'
import { layoutArena } from '../firmware/kernel/arena.js'
import { loadBoard } from '../hal/host/boards.js'
import { arp, eth, ipv4, echoRequest, ip, mac, BCAST_MAC, ZERO_MAC } from './net-frames.js'

const cli = path.join(packageRoot(), 'dist/tools/spinet.js')

test('spinet build --board NAME --no-bundle prints the map and its total', () => {
  const r = spawnSync(process.execPath, [cli, 'build', '--board', 'espruino-pico-w5500', '--no-bundle'], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  const b = loadBoard('espruino-pico-w5500')
  const total = layoutArena(b.budget, 0, b.memory.arenaLimit).total
  assert.match(r.stdout, new RegExp(`arena ${total} bytes`))
  assert.match(r.stdout, new RegExp(`total\\s+${total}`))
  assert.match(r.stdout, /tcp rx rings/)
})

test('spinet build refuses an unknown board and names the boards there are', () => {
  const r = spawnSync(process.execPath, [cli, 'build', '--board', 'no-such-board', '--no-bundle'], { encoding: 'utf8' })
  assert.notEqual(r.status, 0)
  assert.match(r.stderr, /no board "no-such-board"; boards: .*espruino-pico-w5500/)
})

test('spinet sim --udp: the board answers ARP and ping over the cable, then stops on SIGTERM', async () => {
  const peer = dgram.createSocket('udp4')
  await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()))
  const peerPort = peer.address().port
  const boardPort = 20000 + (process.pid % 20000)
  const child = spawn(process.execPath, [cli, 'sim', '--udp', `${boardPort}:127.0.0.1:${peerPort}`, '--ip', '10.77.0.2/24',
    '--chip', 'w5500'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d) => { out += d })
  child.stderr.on('data', (d) => { out += d })
  const frames: Uint8Array[] = []
  peer.on('message', (m) => frames.push(new Uint8Array(m)))
  try {
    for (let i = 0; i < 100 && !/link up/.test(out); i++) await new Promise((r) => setTimeout(r, 100))
    assert.match(out, /link up/)
    const me = mac('02:00:00:00:00:10')
    const send = (f: Uint8Array): void => { peer.send(f, boardPort, '127.0.0.1') }
    send(eth(BCAST_MAC, me, 0x0806, arp(1, me, ip('10.77.0.10'), ZERO_MAC, ip('10.77.0.2'))))
    send(eth(mac('02:53:50:4e:45:54'), me, 0x0800, ipv4({ src: ip('10.77.0.10'), dst: ip('10.77.0.2'), proto: 1,
      payload: echoRequest(0x1234, 1, new TextEncoder().encode('spinet')) })))
    for (let i = 0; i < 50 && frames.length < 2; i++) await new Promise((r) => setTimeout(r, 100))
    const arpReply = frames.find((f) => f[12] === 0x08 && f[13] === 0x06 && f[21] === 2)
    assert.ok(arpReply, 'an ARP reply came back')
    const echoReply = frames.find((f) => f[12] === 0x08 && f[13] === 0x00 && f[23] === 1 && f[34] === 0)
    assert.ok(echoReply, 'an ICMP echo reply came back')
  } finally {
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
    child.kill('SIGTERM')
    const code = await exited
    peer.close()
    assert.equal(code, 0)
    assert.match(out, /SIGTERM: stopping/)
    assert.match(out, /counters: .*eth\.rx=\d+/)
  }
})
