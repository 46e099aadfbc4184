// `spinet build [--board NAME]`: check the budget, print the arena map, write the device bundle.
import { layoutArena, formatArenaMap, isBudgetError } from '../firmware/kernel/arena.js'
import { checkBoard } from '../firmware/kernel/board.js'
import { boardNames, loadBoard } from '../hal/host/boards.js'
import { createWasmCore } from '../hal/host/core.js'
import { packageRoot } from '../hal/host/paths.js'

function arenaBase(platform: string): number {
  return platform === 'host' ? createWasmCore().base : 0
}

async function buildOne(name: string, bundle: boolean): Promise<boolean> {
  const board = loadBoard(name)
  const problems = checkBoard(board)
  if (problems.length > 0) {
    console.error(`board ${name}: refused:\n  ${problems.join('\n  ')}`)
    return false
  }
  try {
    const layout = layoutArena(board.budget, arenaBase(board.platform), board.memory.arenaLimit)
    console.log(`board ${name} (${board.chip}, ${board.core} core): arena ${layout.total} bytes`)
    console.log(formatArenaMap(layout))
  } catch (err) {
    if (!isBudgetError(err)) throw err
    console.error(`board ${name}: ${err.message}`)
    return false
  }
  if (bundle && board.platform === 'espruino') {
    const { buildBundle } = await import('./bundle.js')
    const r = await buildBundle({ root: packageRoot(), board })
    console.log(`bundle: ${r.file} (${r.bytes} bytes)`)
  }
  return true
}

export async function runBuild(opts: { board?: string; bundle: boolean }): Promise<number> {
  const names = opts.board !== undefined ? [opts.board] : boardNames()
  let ok = true
  for (const name of names) {
    if (!(await buildOne(name, opts.bundle))) ok = false
    console.log('')
  }
  return ok ? 0 : 1
}
