// Interop: TCP between the virtual board and Linux's own TCP, on a TAP in a network namespace (the harness
// of test/interop-harness.ts). Linux connects to the example firmware's TCP echo (port 7) and discard (port 9)
// services, sends seeded bytes, half-closes, and checks the echo byte for byte; also through a lossy cable.
// Needs root (skipped otherwise).
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import { startBoard, sh, interopSkipReason, BOARD_IP, BoardRun } from './interop-harness.js'
import { packageRoot } from '../hal/host/paths.js'

const skip = interopSkipReason()
const CLIENT = path.join(packageRoot(), 'dist/test/fixtures/tcp-client.js')

interface ClientResult { sent: number; received: number; exact: boolean; ms: number; error?: string }

async function client(run: BoardRun, port: number, bytes: number, mode: 'echo' | 'discard', timeoutMs = 120000): Promise<ClientResult> {
  const r = await sh(run.ns, process.execPath, [CLIENT, BOARD_IP, String(port), String(bytes), mode], timeoutMs)
  assert.equal(r.code, 0, r.out)
  return JSON.parse(r.out.trim().split('\n').pop()!) as ClientResult
}

for (const chip of ['enc28j60', 'w5500'] as const) {
  describe(`interop ${chip}: TCP with Linux`, { skip }, () => {
    let run: BoardRun
    test('the board starts', async () => { run = await startBoard(['--chip', chip]) })

    test('echo (port 7): 1 kB and 1 MB come back byte-exact; the connection closes cleanly', async () => {
      for (const n of [1000, 1000000]) {
        const r = await client(run, 7, n, 'echo')
        assert.equal(r.error, undefined)
        assert.equal(r.received, n)
        assert.ok(r.exact, 'echo differs')
      }
    })

    test('discard (port 9): 300 kB taken, nothing sent back, both sides close', async () => {
      const r = await client(run, 9, 300000, 'discard')
      assert.equal(r.error, undefined)
      assert.ok(r.exact)
    })

    test('a closed port: Linux sees ECONNREFUSED (our RST)', async () => {
      const r = await client(run, 4444, 10, 'echo')
      assert.equal(r.error, 'ECONNREFUSED')
    })

    test('the board survived: no exception, counters printed', async () => {
      await run.stop()
      assert.doesNotMatch(run.output(), /error processing a frame/)
    })
  })
}

describe('interop: TCP echo through a lossy cable (5% loss, 2% reordering, 1% duplication, 1% corruption)', { skip }, () => {
  test('200 kB echoed byte-exact by Linux\'s TCP and ours', async () => {
    const run = await startBoard(['--loss', '0.05', '--reorder', '0.02', '--dup', '0.01', '--corrupt', '0.01', '--seed', '3'])
    try {
      const r = await client(run, 7, 200000, 'echo', 180000)
      assert.equal(r.error, undefined)
      assert.ok(r.exact, 'echo differs')
    } finally {
      await run.stop()
    }
  })
})
