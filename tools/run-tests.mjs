#!/usr/bin/env node
// Runs every node:test suite compiled to dist/test/*.test.js (Node 20's --test does not expand globs,
// and given a directory it would also run fixtures and helpers as tests).
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const dir = path.join(root, 'dist/test')
const only = process.argv.slice(2)
const files = fs.readdirSync(dir)
  .filter((f) => f.endsWith('.test.js'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()
  .map((f) => path.join('dist/test', f))
if (files.length === 0) {
  console.error('run-tests: no test files in dist/test')
  process.exit(1)
}
const res = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...files], { cwd: root, stdio: 'inherit' })
process.exit(res.status === null ? 1 : res.status)
