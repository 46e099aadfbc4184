// The device build: one JavaScript file per Espruino board, build/boards/NAME.js.
//
//   dist/firmware/device.js (tsc, ES2020)
//     → rollup: a virtual entry calls startDevice(<the board file>), output one iife
//     → Babel: an explicit plugin list lowers what Espruino's interpreter lacks (reference/espruino.md,
//       "A pipeline that produced working code"), then a second pass moves function declarations to the top
//       of their block, because Espruino does not hoist them
//     → terser (ecma 5 output; classes, arrows and templates stay native)
//     → tools/dialect.ts must find nothing, before terser and after it, or the build fails with its findings.
import fs from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'
import { rollup, Plugin } from '@rollup/wasm-node'
import { minify } from 'terser'
import type { Board } from '../firmware/kernel/board.js'
import { checkDialect, formatFindings } from './dialect.js'

export interface BundleResult {
  /** The board's name. */
  board: string
  /** Absolute path of the bundle written. */
  file: string
  /** Its size in bytes. */
  bytes: number
}

// @babel/core ships no types and the project does not depend on @types/babel__core; this is the part used.
interface BabelNode { type: string; body?: BabelNode[] }
interface BabelPath { node: BabelNode }
interface BabelPlugin { name: string; visitor: { [type: string]: { exit(path: BabelPath): void } } }
interface BabelCore {
  transformAsync(code: string, options: object): Promise<{ code?: string | null } | null>
}

const require = createRequire(import.meta.url)
const babel = require('@babel/core') as BabelCore

/** The Babel plugins, in the order of reference/espruino.md (async-to-promises is not used: no async code). */
const LOWERING_PLUGINS = [
  '@babel/plugin-transform-parameters',
  '@babel/plugin-transform-destructuring',
  '@babel/plugin-transform-spread',
  '@babel/plugin-transform-object-rest-spread',
  '@babel/plugin-transform-computed-properties',
  '@babel/plugin-transform-optional-chaining',
  '@babel/plugin-transform-nullish-coalescing-operator',
  '@babel/plugin-transform-logical-assignment-operators',
  '@babel/plugin-transform-exponentiation-operator',
  '@babel/plugin-transform-block-scoping',
  '@babel/plugin-transform-for-of',
]

/**
 * Babel assumptions that keep its output free of helpers Espruino cannot run: with `iterableIsArray`,
 * spread, destructuring and for..of become index loops and `.concat`/`.apply` instead of Symbol.iterator and
 * Array.from; `noDocumentAll` makes `?.` and `??` plain `== null` tests.
 */
const ASSUMPTIONS = {
  iterableIsArray: true,
  noDocumentAll: true,
  objectRestNoSymbols: true,
  setSpreadProperties: true,
  pureGetters: true,
  ignoreFunctionLength: true,
  setComputedProperties: true,
  noNewArrows: true,
}

/** The directory bundles are written to. */
export function bundleDir(root: string): string {
  return path.join(root, 'build', 'boards')
}

/** The bundle file of a board. */
export function bundleFile(root: string, boardName: string): string {
  return path.join(bundleDir(root), boardName + '.js')
}

/** The size in bytes of a bundle's code (what counts against the board's memory.bundleLimit). */
export function bundleBytes(code: string): number {
  return Buffer.byteLength(code, 'utf8')
}

/** The size in bytes of a board's built bundle, or -1 when it has not been built. */
export function bundleSize(root: string, boardName: string): number {
  const file = bundleFile(root, boardName)
  return fs.existsSync(file) ? fs.statSync(file).size : -1
}

// ---------------------------------------------------------------------------------------------------------
// 1. rollup

const ENTRY_ID = '\0spinet-device-entry'

/** The driver module and class of each chip: a bundle carries only its board's driver. */
const DRIVERS: { [chip: string]: [string, string] } = {
  enc28j60: ['enc28j60.js', 'Enc28j60Driver'],
  w5500: ['w5500.js', 'W5500Driver'],
}

/** A virtual entry module: boots the firmware with the board file and the board's driver baked in. */
function entryPlugin(deviceModule: string, board: Board): Plugin {
  const driver = DRIVERS[board.chip]
  if (driver === undefined) throw new Error('board ' + board.name + ': no driver for chip ' + board.chip)
  const driverModule = path.join(path.dirname(path.dirname(deviceModule)), 'hal', driver[0])
  const source = 'import { startDevice } from ' + JSON.stringify(deviceModule) + '\n' +
    'import { ' + driver[1] + ' } from ' + JSON.stringify(driverModule) + '\n' +
    'startDevice(' + JSON.stringify(board) + ', function (platform) { return new ' + driver[1] +
    '(platform, { spiClockHz: ' + board.spi.baud + ' }) })\n'
  return {
    name: 'spinet-device-entry',
    resolveId(id) { return id === ENTRY_ID ? ENTRY_ID : null },
    load(id) { return id === ENTRY_ID ? source : null },
  }
}

async function rollupDevice(root: string, board: Board): Promise<string> {
  const deviceModule = path.join(root, 'dist', 'firmware', 'device.js')
  if (!fs.existsSync(deviceModule)) throw new Error(deviceModule + ' is missing: compile the firmware with tsc first')
  const warnings: string[] = []
  const build = await rollup({
    input: ENTRY_ID,
    plugins: [entryPlugin(deviceModule, board)],
    // an unresolved import would become a global that Espruino does not have; a cycle is harmless
    onwarn(warning) { if (warning.code !== 'CIRCULAR_DEPENDENCY') warnings.push(warning.message) },
  })
  try {
    // strict: false: the bundle is a plain script, and the directive would only cost bytes
    const { output } = await build.generate({ format: 'iife', exports: 'none', strict: false })
    if (warnings.length > 0) throw new Error('rollup warned about the device bundle:\n  ' + warnings.join('\n  '))
    return output[0].code
  } finally {
    await build.close()
  }
}

// ---------------------------------------------------------------------------------------------------------
// 2. Babel

/** Function declarations first, in their original order, then the other statements in theirs. */
function hoistInto(body: BabelNode[]): void {
  const functions = body.filter((s) => s.type === 'FunctionDeclaration')
  if (functions.length === 0) return
  const rest = body.filter((s) => s.type !== 'FunctionDeclaration')
  body.splice(0, body.length, ...functions, ...rest)
}

/**
 * Moves function declarations to the top of their program or block: "function declaration hoisting: no: a
 * function is undefined before its declaration line runs" (reference/espruino.md). JavaScript hoists them
 * anyway, so the move does not change what the code means anywhere else.
 */
function hoistFunctionDeclarations(): BabelPlugin {
  const exit = (p: BabelPath) => { if (p.node.body) hoistInto(p.node.body) }
  return {
    name: 'spinet-hoist-function-declarations',
    visitor: { Program: { exit: exit }, BlockStatement: { exit: exit } },
  }
}

const BABEL_BASE = { babelrc: false, configFile: false, sourceType: 'script', comments: false, compact: false }

async function lowerDialect(code: string): Promise<string> {
  const lowered = await babel.transformAsync(code, {
    ...BABEL_BASE,
    assumptions: ASSUMPTIONS,
    plugins: LOWERING_PLUGINS.map((name) => require(name)),
  })
  if (!lowered || typeof lowered.code !== 'string') throw new Error('Babel produced no code')
  // a separate pass, so that it also sees the helpers and _loop functions the first pass added
  const hoisted = await babel.transformAsync(lowered.code, { ...BABEL_BASE, plugins: [hoistFunctionDeclarations] })
  if (!hoisted || typeof hoisted.code !== 'string') throw new Error('Babel produced no code')
  return hoisted.code
}

// ---------------------------------------------------------------------------------------------------------
// 3. terser

/**
 * ecma 5 keeps terser from introducing syntax of its own (arrows, shorthand, `??=`, `**`, ...); the classes
 * and arrows already in the code pass through. hoist_funs stays off: terser must not move declarations down
 * (the dialect check after it would catch that anyway).
 */
async function minifyDevice(code: string): Promise<string> {
  const out = await minify(code, {
    ecma: 5,
    toplevel: true,
    compress: { ecma: 5, passes: 2, hoist_funs: false, hoist_vars: false, unsafe: false, keep_infinity: true },
    mangle: true,
    format: { ecma: 5, ascii_only: true, comments: false },
  })
  if (typeof out.code !== 'string') throw new Error('terser produced no code')
  return out.code
}

// ---------------------------------------------------------------------------------------------------------
// Entry points

/** Throws with the findings when `code` uses what Espruino lacks; `stage` says which code it was. */
function assertDialect(code: string, board: Board, stage: string): void {
  const findings = checkDialect(code)
  if (findings.length > 0) {
    throw new Error('the device bundle for ' + board.name + ' uses what Espruino lacks (reference/espruino.md), ' +
      stage + ':\n' + formatFindings(findings, code))
  }
}

/** Builds the device bundle of one Espruino board into build/boards/NAME.js. */
export async function buildBundle(opts: { root: string; board: Board }): Promise<BundleResult> {
  const { root, board } = opts
  if (board.platform !== 'espruino') throw new Error('board "' + board.name + '" is not an Espruino board')
  const lowered = await lowerDialect(await rollupDevice(root, board))
  // checked before terser too, where names and lines still point at the firmware code
  assertDialect(lowered, board, 'in the Babel output (before terser)')
  const code = await minifyDevice(lowered)
  assertDialect(code, board, 'in the terser output')
  const file = bundleFile(root, board.name)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, code)
  return { board: board.name, file: file, bytes: bundleBytes(code) }
}

/** The board files of a repository whose platform is "espruino", by name. */
export function espruinoBoards(root: string): Board[] {
  const dir = path.join(root, 'boards')
  return fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Board)
    .filter((b) => b.platform === 'espruino')
}

/** Builds the bundle of every Espruino board (boards/*.json with platform "espruino"). */
export async function buildAllBundles(opts: { root: string }): Promise<BundleResult[]> {
  const results: BundleResult[] = []
  for (const board of espruinoBoards(opts.root)) results.push(await buildBundle({ root: opts.root, board: board }))
  return results
}
