// Interop, TCP: the virtual board on a TAP in a network namespace (test/interop-harness.ts) against Linux's own
// TCP and real tools (netcat-openbsd, sha256sum), for each chip. The board runs the example firmware: TCP echo on
// port 7 (closes its side once the peer half-closed and everything was echoed) and discard on port 9.
//
//   - 10 MB through `nc -N` to echo (SHA-256 of what comes back = the file's) and to discard (the board's
//     counters say 10,000,000 bytes), with the wasm and the portable core, and through a cable with 2% loss
//     and 2% reordering; the MB/s of each are printed for BENCHMARKS.md
//   - 1,000 sequential connect/echo/close cycles, all succeed, and no TCB is left behind (`tcp open 0` on SIGTERM)
//   - a closed port answers RST: nc reports "Connection refused" at once, not after its timeout
//   - Linux's half-close: 200 kB, shutdown(SHUT_WR), all 200 kB still come back, then the board's FIN
//   - Linux's RST while the board is sending: the board frees the TCB and serves the next connection
//
// Needs root (skipped otherwise, with the reason printed); CI runs as root.
import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {
  startBoard, sh, interopSkipReason, BOARD_IP, BoardRun, BoardCounters, nextCounters, waitTcpIdle, finalCounters,
} from './interop-harness.js'
import { seededBytes } from './helpers.js'
import { packageRoot } from '../hal/host/paths.js'

const skip = interopSkipReason()
if (skip !== undefined) console.log(`# interop-tcp skipped: ${skip}`)

const FIXTURES = path.join(packageRoot(), 'dist/test/fixtures')
const BIG = 10_000_000
const HALF_CLOSE = 200_000
const CYCLES = 1000
const LOSSY = ['--loss', '0.02', '--reorder', '0.02', '--seed', '11']
/** The board's TIME-WAIT (firmware/tcp/tcp.ts timeWaitMs, 2 s) and a margin. */
const PAST_TIME_WAIT_MS = 3000
const TRANSFER_S = 180

// ---- files and figures ------------------------------------------------------------------------------------

let dir = ''
const files = { big: '', bigSha: '', half: '', halfSha: '' }
const sha256 = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex')

before(() => {
  if (skip !== undefined) return
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spinet-interop-tcp-'))
  const big = seededBytes(BIG, 0x5eed1)
  const half = seededBytes(HALF_CLOSE, 0x5eed2)
  files.big = path.join(dir, 'big.bin'); files.bigSha = sha256(big); fs.writeFileSync(files.big, big)
  files.half = path.join(dir, 'half.bin'); files.halfSha = sha256(half); fs.writeFileSync(files.half, half)
})

const figures: string[] = []
after(() => {
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true })
  if (figures.length > 0) console.log('# TCP throughput through the TAP, 10 MB per transfer (MB = 10^6 bytes, wall clock):\n' + figures.join('\n'))
})

function report(label: string, bytes: number, ms: number): void {
  const line = `# ${label}: ${(bytes / 1e6 / (ms / 1000)).toFixed(2)} MB/s (${(ms / 1000).toFixed(2)} s)`
  figures.push(line)
  console.log(line)
}

// ---- Linux-side commands in the namespace -------------------------------------------------------------------

/** bash -c SCRIPT in the namespace, with pipefail and every command under `timeout` by the caller. */
async function bash(run: BoardRun, script: string, timeoutS: number): Promise<{ code: number; out: string; ms: number }> {
  const t0 = Date.now()
  const r = await sh(run.ns, 'bash', ['-c', 'set -o pipefail; ' + script], (timeoutS + 10) * 1000)
  return { ...r, ms: Date.now() - t0 }
}

/** `nc -N` (shutdown(SHUT_WR) on stdin EOF, then read until the board's FIN) sending `file` to echo, piped to sha256sum. */
async function ncEcho(run: BoardRun, file: string, timeoutS = TRANSFER_S): Promise<{ sha: string; ms: number }> {
  const r = await bash(run, `timeout -s KILL ${timeoutS} nc -N ${BOARD_IP} 7 < '${file}' | sha256sum`, timeoutS)
  assert.equal(r.code, 0, `nc to echo failed or timed out (${r.ms} ms): ${r.out}\nboard:\n${run.output().slice(-3000)}`)
  const m = /^([0-9a-f]{64}) /.exec(r.out)
  assert.ok(m, 'no sha256sum output: ' + r.out)
  return { sha: m[1], ms: r.ms }
}

/** `nc -N` sending `file` to discard: exit 0 once the board has taken it all and closed its side. */
async function ncDiscard(run: BoardRun, file: string, timeoutS = TRANSFER_S): Promise<number> {
  const r = await bash(run, `timeout -s KILL ${timeoutS} nc -N ${BOARD_IP} 9 < '${file}'`, timeoutS)
  assert.equal(r.code, 0, `nc to discard failed or timed out (${r.ms} ms): ${r.out}\nboard:\n${run.output().slice(-3000)}`)
  assert.equal(r.out, '', 'discard sent something back')
  return r.ms
}

async function node<T>(run: BoardRun, fixture: string, args: (string | number)[], timeoutMs: number): Promise<T> {
  const r = await sh(run.ns, process.execPath, [path.join(FIXTURES, fixture), ...args.map(String)], timeoutMs)
  assert.equal(r.code, 0, r.out)
  return JSON.parse(r.out.trim().split('\n').pop()!) as T
}

/** A counter of Linux's TCP in the namespace (/proc/net/snmp, e.g. OutRsts: RSTs Linux sent). */
async function linuxTcpStat(run: BoardRun, name: string): Promise<number> {
  const r = await sh(run.ns, 'cat', ['/proc/net/snmp'])
  const lines = r.out.split('\n').filter((l) => l.startsWith('Tcp:'))
  const names = lines[0]?.split(/\s+/) ?? []
  const values = lines[1]?.split(/\s+/) ?? []
  const i = names.indexOf(name)
  assert.ok(i > 0 && values[i] !== undefined, `no Tcp ${name} in /proc/net/snmp:\n${r.out}`)
  return Number(values[i])
}

/** 10 MB echoed (SHA-256 equal) and 10 MB discarded (the board counted them), with the figures printed. */
async function bigEchoAndDiscard(run: BoardRun, label: string): Promise<void> {
  const echo = await ncEcho(run, files.big)
  assert.equal(echo.sha, files.bigSha, 'the 10 MB echoed differ from the file')
  report(`${label} echo 10 MB`, BIG, echo.ms)

  const before = await nextCounters(run)
  const ms = await ncDiscard(run, files.big)
  const afterDiscard = await nextCounters(run)
  assert.equal(afterDiscard.discardBytes - before.discardBytes, BIG, 'the board did not count 10,000,000 discarded bytes: ' + afterDiscard.line)
  assert.equal(afterDiscard.discardConnections - before.discardConnections, 1)
  report(`${label} discard 10 MB`, BIG, ms)
}

function assertSurvived(run: BoardRun): void {
  assert.doesNotMatch(run.output(), /error processing a frame|TypeError|RangeError|Uncaught/)
}

interface ClientResult { sent: number; received: number; exact: boolean; atShutdown: number; ms: number; error?: string }
interface CyclesResult { cycles: number; ok: number; failures: string[]; ms: number }
interface AbortResult { received: number; sent: number; reset: boolean; ms: number; error?: string }

// ---- the suites ------------------------------------------------------------------------------------------

for (const chip of ['enc28j60', 'w5500'] as const) {
  describe(`interop ${chip}: TCP with Linux (wasm core)`, { skip, timeout: 600_000 }, () => {
    let run: BoardRun
    before(async () => { run = await startBoard(['--chip', chip, '--ip', BOARD_IP + '/24', '--stats', '1']) })
    after(async () => { if (run) await run.stop() })

    test('10 MB through nc to echo: SHA-256 equal; 10 MB to discard: all counted by the board', async () => {
      await bigEchoAndDiscard(run, `${chip} wasm`)
    })

    test('a closed port answers RST: nc -z sees "Connection refused" at once, not its 2 s timeout', async () => {
      const before = await nextCounters(run)
      const r = await bash(run, `nc -z -v -w 2 ${BOARD_IP} 5555`, 10)
      assert.notEqual(r.code, 0, 'nc connected to a closed port: ' + r.out)
      assert.match(r.out, /Connection refused/, r.out)
      assert.ok(r.ms < 1000, `refused after ${r.ms} ms: a timeout, not a RST`)
      const c = await nextCounters(run)
      assert.ok(c.get('tcp.rx.no-port') > before.get('tcp.rx.no-port'), c.line)
      assert.ok(c.get('tcp.rst.tx') > before.get('tcp.rst.tx'), c.line)
    })

    test('Linux half-closes after 200 kB (nc -N): all 200 kB still come back, then the board\'s FIN', async () => {
      // nc exits by itself only on the board's FIN (the read side stays open after its shutdown).
      const r = await ncEcho(run, files.half, 60)
      assert.equal(r.sha, files.halfSha)
      // The same with a client that notes what had come back when its FIN went out: the rest came after it.
      const c = await node<ClientResult>(run, 'tcp-client.js', [BOARD_IP, 7, HALF_CLOSE, 'echo'], 60_000)
      assert.equal(c.error, undefined)
      assert.equal(c.received, HALF_CLOSE)
      assert.ok(c.exact, 'echo differs')
      assert.ok(c.atShutdown >= 0 && c.atShutdown < HALF_CLOSE, `${c.atShutdown} bytes back before the half-close`)
    })

    test('Linux aborts with RST while the board sends: the TCB is freed, the next connection is served', async () => {
      const rstsBefore = await linuxTcpStat(run, 'OutRsts')
      const a = await node<AbortResult>(run, 'tcp-abort.js', [BOARD_IP, 7, 2_000_000, 100_000], 60_000)
      assert.ok(a.reset, JSON.stringify(a))
      assert.equal(a.error, undefined)
      // Aborted mid-echo: 100 kB of the 2 MB had come back, the board had more to send.
      assert.ok(a.received >= 100_000 && a.received < a.sent, JSON.stringify(a))
      assert.ok(await linuxTcpStat(run, 'OutRsts') > rstsBefore, 'Linux sent no RST')
      // A RST leaves no TIME-WAIT: the TCB goes at once (the board would otherwise retransmit for minutes).
      const idle = await waitTcpIdle(run, 5000)
      assert.equal(idle.tcpOpen, 0, 'the aborted connection is still open: ' + idle.line)
      const c = await node<ClientResult>(run, 'tcp-client.js', [BOARD_IP, 7, 100_000, 'echo'], 60_000)
      assert.equal(c.error, undefined)
      assert.ok(c.exact, 'echo after the RST differs')
    })

    test(`${CYCLES} sequential connect/echo/close cycles: all succeed`, { timeout: 240_000 }, async () => {
      const before = await nextCounters(run)
      const r = await node<CyclesResult>(run, 'tcp-cycles.js', [BOARD_IP, 7, CYCLES], 220_000)
      assert.deepEqual(r.failures, [])
      assert.equal(r.ok, CYCLES)
      console.log(`# ${chip}: ${CYCLES} connect/echo/close cycles in ${(r.ms / 1000).toFixed(1)} s`)
      const c = await nextCounters(run)
      assert.equal(c.echoConnections - before.echoConnections, CYCLES, c.line)
      assert.equal(c.get('tcp.table-full'), 0, c.line)
    })

    test('past TIME-WAIT, stopped with SIGTERM: tcp open 0 (no TCB left behind), no exception', async () => {
      await new Promise((r) => setTimeout(r, PAST_TIME_WAIT_MS))
      await run.stop()
      const c: BoardCounters = finalCounters(run)
      assert.equal(c.tcpOpen, 0, c.line)
      assertSurvived(run)
    })
  })

  describe(`interop ${chip}: TCP with Linux (portable core)`, { skip, timeout: 300_000 }, () => {
    let run: BoardRun
    before(async () => { run = await startBoard(['--chip', chip, '--core', 'portable', '--ip', BOARD_IP + '/24', '--stats', '1']) })
    after(async () => { if (run) await run.stop() })

    test('10 MB echo (SHA-256 equal) and 10 MB discard (all counted)', async () => {
      assert.match(run.output(), /portable/)
      await bigEchoAndDiscard(run, `${chip} portable`)
      assertSurvived(run)
    })
  })

  describe(`interop ${chip}: TCP through a lossy cable (${LOSSY.join(' ')})`, { skip, timeout: 600_000 }, () => {
    let run: BoardRun
    before(async () => { run = await startBoard(['--chip', chip, '--ip', BOARD_IP + '/24', '--stats', '1', ...LOSSY]) })
    after(async () => { if (run) await run.stop() })

    test('10 MB echo (SHA-256 equal) and 10 MB discard (all counted), with retransmissions on the way', async () => {
      await bigEchoAndDiscard(run, `${chip} wasm, loss 2% + reorder 2%`)
      const c = await nextCounters(run)
      // The faults really happened: the board saw segments out of order and retransmitted its own.
      assert.ok(c.get('tcp.rx.out-of-order') > 0 && c.get('tcp.retransmit') > 0, c.line)
      assertSurvived(run)
    })
  })
}
