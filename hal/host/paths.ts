// Where the package is installed, found from this file (works from dist/ and from a global install).
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

let root: string | undefined

export function packageRoot(): string {
  if (root !== undefined) return root
  let dir = path.dirname(fileURLToPath(import.meta.url))
  while (!fs.existsSync(path.join(dir, 'package.json')) || !fs.existsSync(path.join(dir, 'boards'))) {
    const up = path.dirname(dir)
    if (up === dir) throw new Error('cannot find the spinet package root above ' + fileURLToPath(import.meta.url))
    dir = up
  }
  root = dir
  return dir
}
