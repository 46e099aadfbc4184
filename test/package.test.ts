// The package itself: name, bin, exports map, version, and nothing fetched at install or run time.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { packageRoot } from '../hal/host/paths.js'
import { VERSION } from '../firmware/version.js'

const root = packageRoot()
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))

test('one package named spinet with a spinet bin and an exports map', () => {
  assert.equal(pkg.name, 'spinet')
  assert.equal(pkg.bin.spinet, 'dist/tools/spinet.js')
  assert.ok(fs.existsSync(path.join(root, pkg.bin.spinet)))
  assert.ok(pkg.exports['.'])
  for (const target of Object.values(pkg.exports) as string[]) assert.ok(fs.existsSync(path.join(root, target)), target)
})

test('firmware VERSION equals package.json version', () => {
  assert.equal(VERSION, pkg.version)
})

test('the main export loads and boots nothing by itself', async () => {
  const spinet = await import('spinet')
  assert.equal(spinet.VERSION, pkg.version)
  assert.equal(typeof spinet.layoutArena, 'function')
})

test('TypeScript is strict', () => {
  const ts = JSON.parse(fs.readFileSync(path.join(root, 'tsconfig.json'), 'utf8'))
  assert.equal(ts.compilerOptions.strict, true)
})

test('no dependency has an install script that npm would need to run', () => {
  const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8'))
  const scripted = Object.entries(lock.packages as Record<string, { hasInstallScript?: boolean; optional?: boolean }>)
    .filter(([name, p]) => name !== '' && p.hasInstallScript && !p.optional)
    .map(([name]) => name)
  // Known and harmless without their scripts: glob-promise's postinstall only installs its peer
  // dependencies, which npm 11 does itself; koffi's install step only selects the prebuilt binary that
  // ships inside the package, which koffi also finds by itself (test/tap.test.ts uses it).
  const harmless = ['node_modules/glob-promise', 'node_modules/koffi']
  assert.deepEqual(scripted.filter((n) => !harmless.some((h) => n.endsWith(h))), [])
})
