// Reads board files (boards/*.json) on the host.
import fs from 'node:fs'
import path from 'node:path'
import { Board } from '../../firmware/kernel/board.js'
import { packageRoot } from './paths.js'

export function boardNames(): string[] {
  return fs.readdirSync(path.join(packageRoot(), 'boards'))
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5))
    .sort()
}

export function loadBoard(name: string): Board {
  const file = path.join(packageRoot(), 'boards', name + '.json')
  if (!fs.existsSync(file)) {
    throw new Error(`no board "${name}"; boards: ${boardNames().join(', ')}`)
  }
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Board
}
