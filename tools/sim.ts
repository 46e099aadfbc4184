// `spinet sim`: the example firmware on the virtual board.
import { boot } from '../firmware/boot.js'
import { layoutArena } from '../firmware/kernel/arena.js'
import { loadBoard } from '../hal/host/boards.js'
import { createCore } from '../hal/host/core.js'

export interface SimOptions {
  board: string
  chip?: 'enc28j60' | 'w5500'
  core?: 'wasm' | 'portable'
}

export async function runSim(opts: SimOptions): Promise<number> {
  const board = loadBoard(opts.board)
  if (opts.chip !== undefined) board.chip = opts.chip
  const coreName = opts.core !== undefined ? opts.core : board.core
  const portableSize = layoutArena(board.budget, 0, board.memory.arenaLimit).total
  const core = createCore(coreName, portableSize)
  boot(board, core, (line) => console.log(line))
  return 0
}
