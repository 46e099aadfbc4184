// Boot: lay out the arena from the board's budget inside the core's memory and report it.
// Device dialect: this is what every board runs first.
import { Core } from './core/contract.js'
import { ArenaLayout, layoutArena, formatArenaMap } from './kernel/arena.js'
import { Board, checkBoard } from './kernel/board.js'
import { VERSION } from './version.js'

export interface Firmware {
  board: Board
  core: Core
  arena: ArenaLayout
}

export type Print = (line: string) => void

/** Boots the firmware on `core`; throws with what to change when the board file is unsound. */
export function boot(board: Board, core: Core, print: Print): Firmware {
  const problems = checkBoard(board)
  if (problems.length > 0) throw new Error('board "' + board.name + '" is unsound:\n  ' + problems.join('\n  '))
  const limit = Math.min(board.memory.arenaLimit, core.size)
  const arena = layoutArena(board.budget, core.base, limit)
  print('spinet ' + VERSION + ' on ' + board.name + ' (' + board.chip + ', ' + core.name + ' core)')
  print('arena: ' + arena.total + ' bytes at 0x' + arena.base.toString(16))
  print(formatArenaMap(arena))
  return { board: board, core: core, arena: arena }
}
