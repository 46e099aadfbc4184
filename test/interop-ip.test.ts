// Interop, IP layer: the virtual board on a TAP in a network namespace, against the real Linux stack
// and real tools (ping, arping, nc, dnsmasq), for each chip. Skipped, with the reason printed, only
// where there is no root; CI runs as root.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { interopSkipReason, startBoard, BoardRun, sh, pingLoss, BOARD_IP } from './interop-harness.js'

const skip = interopSkipReason()
if (skip !== undefined) console.log(`# interop-ip skipped: ${skip}`)

/** Debian ships iputils arping (-I IFACE) or Habets arping (-i IFACE); both take -c and -w. */
function arpingArgs(iface: string, ip: string): string[] {
  let help = ''
  try { help = execFileSync('arping', ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) } catch (e) {
    help = String((e as { stdout?: string }).stdout) + String((e as { stderr?: string }).stderr)
  }
  const flag = /-I\s/.test(help) ? '-I' : '-i'
  return ['-c', '3', '-w', '5', flag, iface, ip]
}

/** A connected UDP socket in Node reports ICMP port unreachable as ECONNREFUSED (Linux IP_RECVERR). */
const UNREACH_PROBE = `
const s = require('dgram').createSocket('udp4');
s.on('error', (e) => { console.log('error ' + e.code); process.exit(0) });
s.connect(5555, '${BOARD_IP}', () => {
  let n = 0; const t = setInterval(() => { s.send('x'); if (++n > 10) { console.log('no error'); process.exit(0) } }, 200);
});`

for (const chip of ['enc28j60', 'w5500']) {
  describe(`interop ${chip}: ping, arping, UDP echo, port unreachable`, { skip }, () => {
    let board: BoardRun
    before(async () => { board = await startBoard(['--chip', chip, '--ip', BOARD_IP + '/24']) })
    after(async () => { if (board) await board.stop() })

    for (const size of [0, 1, 1472, 4000, 8000]) {
      test(`ping -s ${size}: 0% loss${size > 1472 ? ' (Linux fragments, the board reassembles and fragments its reply)' : ''}`, async () => {
        const r = await sh(board.ns, 'ping', ['-c', '5', '-i', '0.2', '-W', '2', '-s', String(size), BOARD_IP])
        assert.equal(pingLoss(r.out), 0, r.out + '\nboard:\n' + board.output())
      })
    }

    test('arping gets replies from the board', async () => {
      const r = await sh(board.ns, 'arping', arpingArgs('tap0', BOARD_IP))
      assert.equal(r.code, 0, r.out)
      assert.match(r.out, /02:53:50:4e:45:54/i)
    })

    test('UDP echo on port 7 with nc -u returns what was sent', async () => {
      const r = await board.ns.exec('sh', ['-c', `printf 'hello spinet\\n' | nc -u -w 2 ${BOARD_IP} 7`], { allowFail: true })
      assert.equal(r.stdout, 'hello spinet\n', r.stdout + r.stderr)
    })

    test('a closed UDP port answers ICMP port unreachable, seen by Linux as ECONNREFUSED', async () => {
      const r = await sh(board.ns, process.execPath, ['-e', UNREACH_PROBE])
      assert.match(r.out, /error ECONNREFUSED/)
    })

    test('the board survived: counters printed, no exception', () => {
      assert.doesNotMatch(board.output(), /TypeError|RangeError|Uncaught|at .*\.js:\d+/)
    })
  })
}

describe('interop: with 5% loss on the cable the board keeps answering', { skip }, () => {
  let board: BoardRun
  before(async () => { board = await startBoard(['--ip', BOARD_IP + '/24', '--loss', '0.05', '--seed', '7']) })
  after(async () => { if (board) await board.stop() })

  test('ping 60 times: most replies arrive, the last ones too', async () => {
    const r = await sh(board.ns, 'ping', ['-c', '60', '-i', '0.05', '-W', '1', BOARD_IP], 60000)
    // Each echo crosses the lossy cable twice: about 10% lost; far more means the board stopped.
    assert.ok(pingLoss(r.out) < 35, r.out)
    const tail = await sh(board.ns, 'ping', ['-c', '10', '-i', '0.05', '-W', '1', BOARD_IP])
    assert.ok(pingLoss(tail.out) < 60, tail.out)
  })
})

describe('interop: a lease from a real dnsmasq, then ping on the leased address', { skip }, () => {
  for (const chip of ['enc28j60', 'w5500']) {
    test(chip, async () => {
      const board = await startBoard(['--chip', chip, '--dhcp'])
      try {
        const dnsmasq = board.ns.spawn('dnsmasq', ['--no-daemon', '--conf-file=/dev/null', '--interface=tap0', '--bind-interfaces',
          '--port=0', '--no-resolv', '--user=root', '--dhcp-range=10.77.0.50,10.77.0.99,255.255.255.0,10m',
          '--dhcp-option=3,10.77.0.1', '--dhcp-leasefile=/dev/null', '--log-dhcp'], { stdio: ['ignore', 'pipe', 'pipe'] })
        void dnsmasq
        const m = await board.waitFor(/dhcp: bound (10\.77\.0\.\d+)\/24 gateway 10\.77\.0\.1/, 40000)
        const r = await sh(board.ns, 'ping', ['-c', '3', '-i', '0.2', '-W', '2', m[1]])
        assert.equal(pingLoss(r.out), 0, r.out)
      } finally {
        await board.stop()
      }
    })
  }
})
