// The network stack as a device runs it: the compiled firmware/net modules and the portable core,
// bundled by rollup into one script and run in the Espruino-like context (tools/espruino-context.ts:
// no Map/Set/Symbol/WebAssembly/Math.imul/..., an `E.sum`), on the ESP32 board's budget. The bundle is
// also held to the static dialect checker (tools/dialect.ts), except for what the device build's Babel
// pass lowers (let in for-loop heads).
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { rollup } from '@rollup/wasm-node'
import { checkDialect, formatFindings } from '../tools/dialect.js'
import { createEspruinoContext } from '../tools/espruino-context.js'
import {
  eth, arp, udp, echoRequest, fragmentFrames, fromPeer, parseEth, parseArp, parseIp, parseUdp, parseIcmp,
  reassemble, pattern, macStr, OUR_MAC, OUR_IP, MASK, GW_IP, PEER_IP, PEER_MAC, BCAST_MAC, ZERO_MAC,
} from './net-frames.js'

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir)
  return dir
}

const root = repoRoot()
const ENTRY = '\0spinet-net-device-test'

function entrySource(budget: unknown, frames: Uint8Array[]): string {
  const dist = (p: string) => JSON.stringify(path.join(root, 'dist', p))
  return `
import { PortableCore } from ${dist('firmware/core/portable.js')}
import { layoutArena } from ${dist('firmware/kernel/arena.js')}
import { NetStack } from ${dist('firmware/net/stack.js')}
var budget = ${JSON.stringify(budget)}
var size = layoutArena(budget, 0, 16777216).total
var core = new PortableCore(new ArrayBuffer(size), 0, size)
var stack = new NetStack({ core: core, layout: layoutArena(budget, 0, size), mac: new Uint8Array(${JSON.stringify(Array.from(OUR_MAC))}),
  config: { ip: ${OUR_IP}, mask: ${MASK}, gateway: ${GW_IP} } })
var u8 = new Uint8Array(core.buffer)
var now = 1000000
var echo = stack.udp.open(7, function (src, sport, dst, data) { stack.udp.send(echo, src, sport, data, now) })
var frames = ${JSON.stringify(frames.map((f) => Array.from(f)))}
var out = []
for (var i = 0; i < frames.length; i++) {
  var off = stack.rx.reserve()
  u8.set(frames[i], off)
  stack.rx.commit(frames[i].length)
  stack.poll(now)
  now += 1000
  for (;;) {
    var o = stack.tx.peek()
    if (o < 0) break
    var n = stack.tx.peekLength()
    var f = []
    for (var k = 0; k < n; k++) f.push(u8[o + k])
    out.push(f)
    stack.tx.release()
  }
}
console.log(JSON.stringify(out))
console.log(stack.counters.format())
`
}

async function bundle(source: string): Promise<string> {
  const build = await rollup({
    input: ENTRY,
    plugins: [{
      name: 'entry',
      resolveId(id: string) { return id === ENTRY ? ENTRY : null },
      load(id: string) { return id === ENTRY ? source : null },
    }],
    onwarn(w: { code?: string; message: string }) { if (w.code !== 'CIRCULAR_DEPENDENCY') throw new Error(w.message) },
  })
  try {
    const { output } = await build.generate({ format: 'iife', exports: 'none', strict: false })
    return output[0].code
  } finally {
    await build.close()
  }
}

describe('the network stack on the device dialect', () => {
  test('bundled with the portable core, it answers ARP, ping, fragmented ping and UDP echo in an Espruino-like context', async () => {
    const board = JSON.parse(fs.readFileSync(path.join(root, 'boards', 'esp32-enc28j60.json'), 'utf8'))
    const ping = echoRequest(3, 4, pattern(56))
    const bigPing = echoRequest(5, 6, pattern(1400))
    const small = pattern(100)
    const big = pattern(1800, 5)
    const frames = [
      eth(BCAST_MAC, PEER_MAC, 0x0806, arp(1, PEER_MAC, PEER_IP, ZERO_MAC, OUR_IP)),
      fromPeer({ src: PEER_IP, dst: OUR_IP, proto: 1, payload: ping }),
      ...fragmentFrames(PEER_IP, OUR_IP, 1, bigPing, 1000, 77),
      fromPeer({ src: PEER_IP, dst: OUR_IP, proto: 17, payload: udp(PEER_IP, OUR_IP, 4444, 7, small) }),
      ...fragmentFrames(PEER_IP, OUR_IP, 17, udp(PEER_IP, OUR_IP, 4444, 7, big), 1480, 78),
    ]
    const code = await bundle(entrySource(board.budget, frames))
    const findings = checkDialect(code).filter((f) => !/let in a for-loop head/.test(f.message))
    assert.equal(findings.length, 0, formatFindings(findings, code))

    const ctx = createEspruinoContext({ timeoutMs: 20000 })
    try {
      ctx.run(code)
    } finally {
      ctx.dispose()
    }
    assert.equal(ctx.errors.length, 0)
    const out = (JSON.parse(ctx.output[0]) as number[][]).map((f) => parseEth(Uint8Array.from(f)))
    const counters = ctx.output[1]
    assert.doesNotMatch(counters, /poll\.error/)

    // ARP reply
    assert.equal(out[0].type, 0x0806)
    assert.equal(parseArp(out[0].payload).op, 2)
    // ping reply
    const ips = out.slice(1).map((f) => {
      assert.equal(f.dst, macStr(PEER_MAC))
      return parseIp(f.payload)
    })
    const r1 = parseIcmp(ips[0].payload)
    assert.equal(r1.type, 0)
    assert.deepEqual(r1.data, ping.subarray(8))
    // reassembled ping (1408-byte message): one reply frame
    const r2 = parseIcmp(ips[1].payload)
    assert.deepEqual(r2.data, bigPing.subarray(8))
    // UDP echo
    assert.deepEqual(parseUdp(ips[2]).data, small)
    // fragmented UDP echo: reassembled, answered with fragments
    const frags = ips.slice(3)
    assert.equal(frags.length, 2)
    const whole = reassemble(frags)
    assert.deepEqual(parseUdp({ ...frags[0], payload: whole }).data, big)
    assert.match(counters, /ip\.frag\.reassembled=2/)
  })
})
