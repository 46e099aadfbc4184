// IPv4 address and MAC helpers (firmware/net/addr.ts, firmware/net/ethernet.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  parseIp, formatIp, prefixToMask, maskToPrefix, parseCidr, subnetBroadcast, sameSubnet, isMulticast, isLoopback,
  isReserved,
} from '../firmware/net/addr.js'
import { parseMac, formatMac, writeMulticastMac, isBroadcastMac, isGroupMac, isIpv4MulticastMac } from '../firmware/net/ethernet.js'

test('dotted quads round-trip and garbage is refused', () => {
  assert.equal(parseIp('10.0.0.1'), 0x0a000001)
  assert.equal(parseIp('255.255.255.255'), 0xffffffff)
  assert.equal(formatIp(0xc0a80101), '192.168.1.1')
  assert.equal(formatIp(parseIp('0.0.0.0')), '0.0.0.0')
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', 'a.b.c.d', '1.2.3.-4', '1.2.3.1234']) {
    assert.equal(parseIp(bad), -1, bad)
  }
})

test('masks, prefixes, CIDR, subnet broadcast', () => {
  assert.equal(prefixToMask(24), 0xffffff00)
  assert.equal(prefixToMask(0), 0)
  assert.equal(prefixToMask(32), 0xffffffff)
  assert.equal(maskToPrefix(0xfffffe00), 23)
  assert.equal(maskToPrefix(0xff00ff00), -1)
  assert.deepEqual(parseCidr('10.77.0.2/24'), { ip: 0x0a4d0002, mask: 0xffffff00 })
  assert.equal(parseCidr('10.77.0.2/33'), null)
  assert.equal(subnetBroadcast(0x0a4d0002, 0xffffff00), 0x0a4d00ff)
  assert.equal(subnetBroadcast(0x0a4d0002, 0xfffffffe), -1, 'no broadcast on a /31 (RFC 3021)')
  assert.equal(subnetBroadcast(0, 0xffffff00), -1)
  assert.ok(sameSubnet(0xc0a80001, 0xc0a800fe, 0xffffff00))
  assert.ok(!sameSubnet(0xc0a80001, 0xc0a80101, 0xffffff00))
  assert.ok(!sameSubnet(1, 1, 0), 'no mask: nothing is on-link')
  assert.ok(isMulticast(0xe00000fb) && !isMulticast(0xf0000000))
  assert.ok(isLoopback(0x7f000001) && isReserved(0xffffffff))
})

test('MACs and the IPv4 multicast mapping (RFC 1112 6.4)', () => {
  const m = parseMac('02:53:50:4E:45:54')
  assert.equal(formatMac(m, 0), '02:53:50:4e:45:54')
  assert.throws(() => parseMac('02:53:50:4e:45'), /six hex bytes/)
  assert.throws(() => parseMac('02:53:50:4e:45:zz'), /expected six hex bytes/)
  const b = new Uint8Array(6)
  writeMulticastMac(b, 0, 0xefffff01) // 239.255.255.1: the top bit of the second byte is dropped
  assert.equal(formatMac(b, 0), '01:00:5e:7f:ff:01')
  assert.ok(isIpv4MulticastMac(b, 0) && isGroupMac(b, 0) && !isBroadcastMac(b, 0))
  assert.ok(isBroadcastMac(Uint8Array.of(255, 255, 255, 255, 255, 255), 0))
})
