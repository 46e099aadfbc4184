#!/usr/bin/env node
// Build orchestrator for `npm run build`, `npm test`, `npm start` and `npm run bench`:
//   1. asc: assembly/ -> build/core.wasm (the hot paths, fixed-size memory = the host arena)
//   2. tsc: firmware/, hal/, tools/, test/ -> dist/
//   3. one device bundle per Espruino board -> build/boards/NAME.js
// It is plain JavaScript because it runs before anything is compiled.
import { spawnSync } from 'node:child_process'
import { fileURLToPath, pathToFileURL } from 'node:url'
import path from 'node:path'

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const quiet = process.argv.includes('--quiet')

function run(label, file, args) {
  const res = spawnSync(process.execPath, [file, ...args], { cwd: root, stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit' })
  if (res.status !== 0) {
    if (quiet) process.stderr.write(String(res.stdout) + String(res.stderr))
    process.stderr.write(`build: ${label} failed (exit ${res.status})\n`)
    process.exit(1)
  }
  if (!quiet) console.log(`build: ${label} ok`)
}

run('asc assembly/ -> build/core.wasm', path.join(root, 'node_modules/assemblyscript/bin/asc.js'),
  ['--config', 'asconfig.json', '--target', 'release'])
run('tsc -> dist/', path.join(root, 'node_modules/typescript/bin/tsc'), ['-p', 'tsconfig.json'])
const bundle = await import(pathToFileURL(path.join(root, 'dist/tools/bundle.js')).href)
const results = await bundle.buildAllBundles({ root })
if (!quiet) for (const r of results) console.log(`build: ${r.board} -> ${path.relative(root, r.file)} (${r.bytes} bytes)`)
