// Entry of a device bundle (build/boards/NAME.js): the board file is baked in by tools/bundle.ts.
// Device dialect. The arena is one ArrayBuffer sized from the budget.
import { PortableCore } from './core/portable.js'
import { layoutArena } from './kernel/arena.js'
import { Board } from './kernel/board.js'
import { boot, Firmware } from './boot.js'

export function startDevice(board: Board): Firmware {
  const size = layoutArena(board.budget, 0, board.memory.arenaLimit).total
  const core = new PortableCore(new ArrayBuffer(size), 0, size)
  return boot(board, core, function (line: string) { console.log(line) })
}
