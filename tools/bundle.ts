// The device build: one JavaScript file per Espruino board, build/boards/NAME.js.
//
//   dist/firmware/device.js (tsc, ES2020)
//     → rollup: a virtual entry calls startDevice(<the board file>), output one iife
//     → Babel, three passes:
//       1. constants are inlined (inlineConstants): a literal in the code costs no RAM on Espruino, a binding does;
//       2. an explicit plugin list lowers what Espruino's interpreter lacks (reference/espruino.md, "A pipeline
//          that produced working code");
//       3. the iife's body moves to the top level of the script under short `$` names (globalScope), function
//          declarations move to the top of their block because Espruino does not hoist them, and calls terser
//          must not inline are marked #__NOINLINE__ (no `new class {...}`, no closures that keep their caller's scope)
//     → terser (ecma 5 output; classes, arrows and templates stay native; property names mangled, the
//       platform's kept)
//     → tools/dialect.ts must find nothing, before terser and after it, or the build fails with its findings.
//
// What the passes save is measured in variable blocks (JsVars) on a Pico-sized Espruino build; the numbers are
// in README.md, "Memory on the Pico".
import fs from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'
import { rollup, Plugin } from '@rollup/wasm-node'
import { minify } from 'terser'
import type { Board } from '../firmware/kernel/board.js'
import { counterNameList } from '../firmware/kernel/counters.js'
import { checkDialect, formatFindings, parseSource, ESPRUINO_KEYWORDS } from './dialect.js'
import { simple as walkSimple } from 'acorn-walk'
import { methodsToFunctions, MethodStats } from './bundle-methods.js'

export interface BundleResult {
  /** The board's name. */
  board: string
  /** Absolute path of the bundle written. */
  file: string
  /** Its size in bytes. */
  bytes: number
  /** Class methods the build dropped (nothing calls them), turned into functions (one place calls them) or copied into their calls. */
  methods: MethodStats
}

// @babel/core ships no types and the project does not depend on @types/babel__core; this is the part used.
interface BabelNode {
  type: string
  body?: BabelNode[]
  kind?: string
  id?: BabelNode | null
  name?: string
  init?: BabelNode | null
  computed?: boolean
  shorthand?: boolean
  properties?: BabelNode[]
  key?: BabelNode
  value?: unknown
  operator?: string
}
interface BabelBinding { constant: boolean; referencePaths: BabelPath[]; path: BabelPath; references: number }
interface BabelScope {
  getBinding(name: string): BabelBinding | undefined
  bindings: { [name: string]: BabelBinding }
  crawl(): void
}
interface BabelPath {
  node: BabelNode
  parent: BabelNode
  parentPath: BabelPath | null
  scope: BabelScope
  get(key: string): BabelPath
  evaluate(): { confident: boolean; value: unknown }
  traverse(visitor: { [type: string]: (path: BabelPath) => void }): void
  isReferencedIdentifier(): boolean
  isBindingIdentifier(): boolean
  replaceWith(node: BabelNode): void
  remove(): void
}
interface BabelPlugin { name: string; visitor: { [type: string]: { enter?(path: BabelPath): void; exit?(path: BabelPath): void } } }
interface BabelApi {
  types: { valueToNode(value: unknown): BabelNode; addComment(node: BabelNode, type: 'leading', text: string): void }
}
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

/**
 * The board file as the bundle carries it: without what only people and the build read (`description`,
 * `memory.bundleLimit`). The device keeps this object for as long as it runs, a variable block per few
 * characters.
 */
export function deviceBoard(board: Board): object {
  const copy = JSON.parse(JSON.stringify(board)) as { description?: string; memory: { bundleLimit?: number } }
  delete copy.description
  delete copy.memory.bundleLimit
  return copy
}

/** A virtual entry module: boots the firmware with the board file, the board's driver and (when the
 *  budget has TCBs) TCP baked in; and the modules a budget leaves out (IPv4 reassembly without buffers). */
function entryPlugin(deviceModule: string, board: Board): Plugin {
  const driver = DRIVERS[board.chip]
  if (driver === undefined) throw new Error('board ' + board.name + ': no driver for chip ' + board.chip)
  const driverModule = path.join(path.dirname(path.dirname(deviceModule)), 'hal', driver[0])
  // TCP is carried only by boards whose budget has TCBs.
  const withTcp = board.budget.tcbs > 0
  const tcpModule = path.join(path.dirname(deviceModule), 'tcp', 'tcp.js')
  const source = 'import { startDevice } from ' + JSON.stringify(deviceModule) + '\n' +
    'import { ' + driver[1] + ' } from ' + JSON.stringify(driverModule) + '\n' +
    (withTcp ? 'import { attachTcp } from ' + JSON.stringify(tcpModule) + '\n' : '') +
    'startDevice(' + JSON.stringify(deviceBoard(board)) + ', function (platform) { return new ' + driver[1] +
    '(platform, { spiClockHz: ' + board.spi.baud + ' }) }, ' + (withTcp ? 'attachTcp' : 'null') + ')\n'
  // Without reassembly buffers the stack links ipv4-no-reassembly.ts, which drops fragments as the full module
  // would with no buffers, in about a tenth of the code.
  const withoutReassembly = board.budget.reassemblyBuffers === 0
  return {
    name: 'spinet-device-entry',
    resolveId(id, importer) {
      if (id === ENTRY_ID) return ENTRY_ID
      if (withoutReassembly && id === './ipv4-reassembly.js' && importer !== undefined && /[\\/]net[\\/]stack\.js$/.test(importer)) {
        return path.join(path.dirname(importer), 'ipv4-no-reassembly.js')
      }
      return null
    },
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

/** Characters after the `$` of a global name: one of these, then two (`$` + up to 3 characters fits in one block). */
const NAME_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$'

/** `$a`, `$b`, ... `$$`, then `$aa`, ...: the n-th global name. */
function globalName(n: number): string {
  const k = NAME_CHARS.length
  if (n < k) return '$' + NAME_CHARS[n]
  n -= k
  return '$' + NAME_CHARS[Math.floor(n / k) % k] + NAME_CHARS[n % k]
}

/**
 * Runs the firmware at the top level of the script instead of inside rollup's IIFE. On Espruino every
 * function made inside another function keeps a link to that function's scope, one variable block each; a
 * function made at the top level of a script has none. The bundle's own top-level names become globals, so
 * each is renamed to `$` and one or two characters (fewest for the most used; never a name the code already
 * uses, so nothing is shadowed or captured): apps must not use such names.
 *
 * Class declarations move up to just after the function declarations: Espruino asserts (and halts) when it
 * reaches a class definition in code it skips after an uncaught exception at the top level of a script, and
 * the other top-level statements (constants computed at boot, the start call) are the ones that can throw.
 */
function globalScope(): BabelPlugin {
  return {
    name: 'spinet-global-scope',
    visitor: {
      Program: {
        enter(program: BabelPath) {
          const body = program.node.body as BabelNode[]
          const inner = iifeBody(body)
          if (inner === null) throw new Error('the device bundle is not one iife without arguments: cannot move it to the top level')
          // classes whose heritage is another class declared before them (or none), with methods only
          const classes = new Set<string>()
          const movable = inner.filter((st) => {
            const c = st as BabelNode & { superClass?: BabelNode | null; body?: BabelNode & { body?: BabelNode[] } }
            if (st.type !== 'ClassDeclaration' || !c.id) return false
            const sup = c.superClass
            const ok = (!sup || (sup.type === 'Identifier' && classes.has(sup.name as string))) &&
              ((c.body && c.body.body) || []).every((m) => m.type === 'ClassMethod')
            if (ok) classes.add(c.id.name as string)
            return ok
          })
          const functions = inner.filter((st) => st.type === 'FunctionDeclaration')
          const rest = inner.filter((st) => st.type !== 'FunctionDeclaration' && movable.indexOf(st) < 0)
          body.splice(0, body.length, ...functions, ...movable, ...rest)
          program.scope.crawl()
          const used = new Set<string>()
          program.traverse({ Identifier(p: BabelPath) { used.add(p.node.name as string) } })
          const top = program.scope.bindings
          const names = Object.keys(top).sort((a, b) => top[b].references - top[a].references || (a < b ? -1 : 1))
          const rename = new Map<string, string>()
          let n = 0
          for (const old of names) {
            let name = globalName(n++)
            while (used.has(name)) name = globalName(n++)
            rename.set(old, name)
          }
          program.traverse({
            Identifier(p: BabelPath) {
              const old = p.node.name as string
              const name = rename.get(old)
              if (name === undefined || p.scope.getBinding(old) !== top[old]) return
              if (!p.isReferencedIdentifier() && !p.isBindingIdentifier() && !isAssigned(p)) return
              if (p.parent.type === 'ObjectProperty' && p.parent.shorthand) p.parent.shorthand = false
              p.node.name = name
            },
          })
          program.scope.crawl()
        },
      },
    },
  }
}

/** The statements of `(function () { ... })()`, the whole of rollup's output, or null when it is something else. */
function iifeBody(body: BabelNode[]): BabelNode[] | null {
  type Call = BabelNode & { callee?: BabelNode & { params?: unknown[]; body?: BabelNode & { directives?: unknown[] } }; arguments?: unknown[] }
  const only = body.length === 1 ? body[0] as BabelNode & { expression?: Call } : null
  const call = only !== null && only.type === 'ExpressionStatement' ? only.expression : undefined
  const fn = call !== undefined && call.type === 'CallExpression' ? call.callee : undefined
  if (call === undefined || fn === undefined || fn.type !== 'FunctionExpression' || (fn.params || []).length > 0 ||
    (call.arguments || []).length > 0 || !fn.body || (fn.body.directives || []).length > 0) return null
  return fn.body.body as BabelNode[]
}

/** An identifier written by an assignment, an update or a for..in head (not "referenced" for Babel). */
function isAssigned(p: BabelPath): boolean {
  const parent = p.parent as BabelNode & { left?: BabelNode; argument?: BabelNode }
  return (parent.type === 'AssignmentExpression' && parent.left === p.node) ||
    (parent.type === 'UpdateExpression' && parent.argument === p.node) ||
    ((parent.type === 'ForInStatement' || parent.type === 'ForOfStatement') && parent.left === p.node)
}

/**
 * Adds terser's `#__NOINLINE__` where inlining costs RAM on Espruino or breaks it:
 * - on every `new`: terser would otherwise turn a class constructed once into `new class {...}`, and Espruino
 *   asserts (and halts) when it meets a class definition in code it skips;
 * - on every call of a function declaration that makes closures: inlined into its caller, the function's
 *   closures would keep the caller's variables alive too (Espruino keeps a closure's whole scope chain), e.g.
 *   the board file that startDevice holds;
 * - on every call of a function declaration that holds a long string literal (INLINE_STRING_MAX): inlined, the
 *   string would be copied into each caller, e.g. the counter names (firmware/kernel/counters.ts counterNames).
 */
function annotateNoInline(api: BabelApi): BabelPlugin {
  const closures = new Map<BabelNode, boolean>()
  const mustNotInline = (fn: BabelPath): boolean => {
    let found = closures.get(fn.node)
    if (found === undefined) {
      let any = false
      const hit = () => { any = true }
      fn.traverse({
        FunctionExpression: hit, ArrowFunctionExpression: hit, FunctionDeclaration: hit, ClassExpression: hit, ClassMethod: hit,
        StringLiteral(s: BabelPath) { if ((s.node.value as string).length > INLINE_STRING_MAX) any = true },
      })
      found = any
      closures.set(fn.node, found)
    }
    return found
  }
  const mark = (p: BabelPath) => { api.types.addComment(p.node, 'leading', '#__NOINLINE__') }
  return {
    name: 'spinet-annotate-noinline',
    visitor: {
      NewExpression: { enter: mark },
      CallExpression: {
        enter(p: BabelPath) {
          const callee = p.get('callee').node
          if (callee.type !== 'Identifier') return
          const b = p.scope.getBinding(callee.name as string)
          if (b !== undefined && b.path.node.type === 'FunctionDeclaration' && mustNotInline(b.path)) mark(p)
        },
      },
    },
  }
}

/** Strings longer than this are inlined only where the constant is used once (they would grow the code). */
const INLINE_STRING_MAX = 24

/** The value a constant's initialiser always has, when it is a number, boolean, short string or null. */
function literalValue(init: BabelPath, uses: number): { value: unknown } | null {
  const r = init.evaluate()
  if (!r.confident) return null
  const v = r.value
  if (v === null || typeof v === 'boolean') return { value: v }
  if (typeof v === 'number') return Number.isFinite(v) ? { value: v } : null
  if (typeof v === 'string') return v.length <= INLINE_STRING_MAX || uses <= 1 ? { value: v } : null
  return null
}

/** `X.key` (or `X['key']`) read, never written, deleted or called: the property name, else null. */
function readKey(ref: BabelPath): string | null {
  const m = ref.parentPath
  if (m === null || m.node.type !== 'MemberExpression' || m.get('object').node !== ref.node) return null
  const key = m.get('property').node
  const name = !m.node.computed && key.type === 'Identifier' ? key.name as string
    : m.node.computed && key.type === 'StringLiteral' ? String(key.value) : null
  if (name === null || m.parentPath === null) return null
  const p = m.parentPath.node as BabelNode & { left?: BabelNode; argument?: BabelNode; callee?: BabelNode }
  if (p.type === 'AssignmentExpression' && p.left === m.node) return null
  if (p.type === 'UpdateExpression' || (p.type === 'UnaryExpression' && p.operator === 'delete')) return null
  if ((p.type === 'CallExpression' || p.type === 'NewExpression') && p.callee === m.node) return null
  return name
}

/**
 * Inlines constants: each `const NAME = <literal or constant expression>` (a number, a boolean, null or a
 * short string; Babel's evaluate() folds `-1`, `1 << 4`, `A + 2` over other constants) has its references
 * replaced by the literal and its declaration removed, and so does each const object of such values
 * (`const SIZES = { a: 16 }`) whose every use reads a property it has (`SIZES.a`). On Espruino a binding
 * costs a variable block or more for as long as its scope lives; a literal in the code costs none (it stays
 * in flash with the function's text).
 */
function inlineConstants(api: BabelApi): BabelPlugin {
  const t = api.types
  return {
    name: 'spinet-inline-constants',
    visitor: {
      Program: {
        enter(program: BabelPath) {
          const scalars: { decl: BabelPath; refs: BabelPath[]; value: unknown }[] = []
          const objects: { decl: BabelPath; refs: BabelPath[]; values: Map<string, unknown> }[] = []
          program.traverse({
            VariableDeclarator(decl: BabelPath) {
              const id = decl.node.id
              if (decl.parent.kind !== 'const' || !id || id.type !== 'Identifier' || !decl.node.init) return
              const binding = decl.scope.getBinding(id.name as string)
              if (!binding || !binding.constant || binding.path.node !== decl.node) return
              const refs = binding.referencePaths
              const scalar = literalValue(decl.get('init'), refs.length)
              if (scalar !== null) {
                scalars.push({ decl: decl, refs: refs, value: scalar.value })
                return
              }
              const init = decl.node.init
              if (init.type !== 'ObjectExpression' || refs.length === 0) return
              const values = new Map<string, unknown>()
              const props = decl.get('init').get('properties') as unknown as BabelPath[]
              for (const prop of props) {
                const key = prop.node.key
                if (prop.node.type !== 'ObjectProperty' || prop.node.computed || !key) return
                const name = key.type === 'Identifier' ? key.name : key.type === 'StringLiteral' ? String(key.value) : null
                const v = name === null ? null : literalValue(prop.get('value'), 2)
                if (name === null || v === null) return
                values.set(name as string, v.value)
              }
              for (const ref of refs) {
                const name = readKey(ref)
                if (name === null || !values.has(name)) return
              }
              objects.push({ decl: decl, refs: refs, values: values })
            },
          })
          // all values were computed above, before any code changed
          for (const c of scalars) {
            for (const ref of c.refs) {
              const parent = ref.parent
              if (parent.type === 'ObjectProperty' && parent.shorthand) parent.shorthand = false
              ref.replaceWith(t.valueToNode(c.value))
            }
            c.decl.remove()
          }
          for (const o of objects) {
            for (const ref of o.refs) {
              const member = ref.parentPath as BabelPath
              member.replaceWith(t.valueToNode(o.values.get(readKey(ref) as string)))
            }
            o.decl.remove()
          }
        },
      },
    },
  }
}

/**
 * Folds `Counters.id('name')` (firmware/kernel/counters.ts) into the counter's number, so that each module's
 * `const C_X = Counters.id('x')` becomes a constant inlineConstants removes: on Espruino each such binding
 * would otherwise be a variable block computed at boot. A name that is not a counter fails the build, as it
 * would fail the boot.
 */
function foldCounterIds(api: BabelApi): BabelPlugin {
  const names = counterNameList()
  return {
    name: 'spinet-fold-counter-ids',
    visitor: {
      CallExpression: {
        enter(p: BabelPath) {
          const call = p.node as BabelNode & { callee: BabelNode & { object?: BabelNode; property?: BabelNode }; arguments: BabelNode[] }
          const callee = call.callee
          if (callee.type !== 'MemberExpression' || callee.computed || !callee.object || callee.object.type !== 'Identifier' ||
            !callee.property || callee.property.name !== 'id' || call.arguments.length !== 1 ||
            call.arguments[0].type !== 'StringLiteral') return
          const b = p.scope.getBinding(callee.object.name as string)
          const cls = b !== undefined ? b.path.node : null
          if (cls === null || cls.type !== 'ClassDeclaration' || !cls.id || !/^Counters(\$\d+)?$/.test(cls.id.name as string)) return
          const name = call.arguments[0].value as string
          const id = names.indexOf(name)
          if (id < 0) throw new Error('the firmware asks for a counter that firmware/kernel/counters.ts does not list: ' + name)
          p.replaceWith(api.types.valueToNode(id))
        },
      },
    },
  }
}

const BABEL_BASE = { babelrc: false, configFile: false, sourceType: 'script', comments: false, compact: false }

async function lowerDialect(code: string, stats: MethodStats): Promise<string> {
  // a pass of its own, on the ES2020 output of rollup, where `const` still says what never changes
  const folded = await babel.transformAsync(code, { ...BABEL_BASE, plugins: [foldCounterIds] })
  if (!folded || typeof folded.code !== 'string') throw new Error('Babel produced no code')
  const inlined = await babel.transformAsync(folded.code, { ...BABEL_BASE, plugins: [inlineConstants] })
  if (!inlined || typeof inlined.code !== 'string') throw new Error('Babel produced no code')
  code = inlined.code
  const lowered = await babel.transformAsync(code, {
    ...BABEL_BASE,
    assumptions: ASSUMPTIONS,
    plugins: LOWERING_PLUGINS.map((name) => require(name)),
  })
  if (!lowered || typeof lowered.code !== 'string') throw new Error('Babel produced no code')
  // methods nothing calls are dropped, methods called once become functions terser inlines (tools/bundle-methods.ts)
  const linked = await babel.transformAsync(lowered.code, {
    ...BABEL_BASE, plugins: [methodsToFunctions(new Set(reservedProperties(lowered.code)), stats)],
  })
  if (!linked || typeof linked.code !== 'string') throw new Error('Babel produced no code')
  // a separate pass, so that it also sees the helpers and _loop functions the first pass added
  // comments: true keeps the #__NOINLINE__ annotations for terser (the passes before dropped every other comment)
  const hoisted = await babel.transformAsync(linked.code, {
    ...BABEL_BASE, comments: true, plugins: [globalScope, hoistFunctionDeclarations, annotateNoInline],
  })
  if (!hoisted || typeof hoisted.code !== 'string') throw new Error('Babel produced no code')
  return hoisted.code
}

// ---------------------------------------------------------------------------------------------------------
// 3. terser

/**
 * Property names that belong to the platform, never to the firmware. Names read on a global (`E.hwRand`,
 * `console.log`) and the keys of an object handed to a global function (`setWatch(f, pin, { repeat: true })`)
 * are found in the code; these are the ones the firmware reaches through objects it holds (`spi.setup({ sck,
 * ... })`, `spi.send`, `this.espruino.sum`) or gets back (`process.memory().usage`), and the methods every
 * object has on Espruino (Object.prototype.on, emit, ...; Function.prototype.replaceWith): a made-up name
 * must never be one of those, or an absent property would read as Espruino's method. A new Espruino API used
 * through a held object must be added here, or its name is mangled and the call fails on the device.
 */
export const ESPRUINO_PROPERTIES = [
  'setup', 'send', 'write', 'count', 'sck', 'miso', 'mosi', 'baud', 'mode', 'order', 'bits', // SPI (send/write data: {data, count})
  'repeat', 'edge', 'debounce', 'data', // setWatch options
  'sum', 'hwRand', 'toUint8Array', 'CRC32', 'memory', 'usage', // E, process
  'create', 'close', 'accept', 'recv', // the callbacks of require('NetworkJS').create(...)
  'on', 'emit', 'removeListener', 'removeAllListeners', 'addListener', 'prependListener', 'clone', 'replaceWith',
]

/** JavaScript's reserved words beyond Espruino's keywords (tools/dialect.ts): never made up as names either. */
const JS_RESERVED = ['with', 'yield', 'await', 'enum', 'export', 'import', 'implements', 'interface', 'package',
  'private', 'protected', 'public', 'arguments', 'eval', 'NaN', 'Infinity']

/** The standard objects whose properties (own, and along the prototype chains of them and of their instances) keep their names. */
const STANDARD_OBJECTS: unknown[] = [Object, Function, Array, String, Number, Boolean, Math, JSON, Date, RegExp, Error,
  TypeError, SyntaxError, ReferenceError, Promise, ArrayBuffer, DataView, Uint8Array, Int8Array, Uint16Array, Int16Array,
  Uint32Array, Int32Array, Float32Array, Float64Array, Uint8ClampedArray]

/** An acorn node, read by field name. */
interface AcornNode { type: string; [key: string]: any }

/** Names of the properties terser must not rename in `code` (see minifyDevice). */
export function reservedProperties(code: string): string[] {
  const names = new Set<string>([...ESPRUINO_PROPERTIES, ...ESPRUINO_KEYWORDS, ...JS_RESERVED])
  for (const std of STANDARD_OBJECTS) {
    for (const start of [std, (std as { prototype?: unknown }).prototype]) {
      for (let o = start; o !== null && o !== undefined; o = Object.getPrototypeOf(o)) {
        for (const n of Object.getOwnPropertyNames(o)) names.add(n)
      }
    }
  }
  const ast = parseSource(code)
  const declared = new Set<string>()
  const bind = (n: AcornNode) => { if (n.type === 'Identifier') declared.add(n.name) }
  const fn = (n: AcornNode) => { if (n.id) bind(n.id); n.params.forEach(bind) }
  walkSimple(ast, {
    VariableDeclarator(n: AcornNode) { bind(n.id) },
    FunctionDeclaration: fn,
    FunctionExpression: fn,
    ArrowFunctionExpression: fn,
    ClassDeclaration(n: AcornNode) { if (n.id) bind(n.id) },
    ClassExpression(n: AcornNode) { if (n.id) bind(n.id) },
    CatchClause(n: AcornNode) { if (n.param) bind(n.param) },
  })
  /** Whether an expression hangs from a global (`E` in `E.a.b()`, `process` in `process.memory().usage`). */
  const onGlobal = (e: AcornNode): boolean => {
    while (e.type === 'MemberExpression' || e.type === 'CallExpression') e = e.type === 'CallExpression' ? e.callee : e.object
    return e.type === 'Identifier' && !declared.has(e.name)
  }
  const isName = (s: string) => /^[A-Za-z_$][\w$]*$/.test(s)
  walkSimple(ast, {
    MemberExpression(n: AcornNode) { if (!n.computed && onGlobal(n.object)) names.add(n.property.name) },
    CallExpression(n: AcornNode) {
      if (!onGlobal(n.callee)) return
      for (const a of n.arguments) {
        if (a.type !== 'ObjectExpression') continue
        for (const p of a.properties) if (p.key && p.key.type === 'Identifier') names.add(p.key.name)
      }
    },
    // a string that is a name may be a key somewhere (`budget[key]`, `'x' in o`, an event name)
    Literal(n: AcornNode) { if (typeof n.value === 'string' && isName(n.value)) names.add(n.value) },
    TemplateLiteral(n: AcornNode) {
      const s = n.expressions.length === 0 ? String(n.quasis[0].value.cooked) : ''
      if (isName(s)) names.add(s)
    },
  })
  return [...names]
}

/**
 * ecma 5 keeps terser from introducing syntax of its own (arrows, shorthand, `??=`, `**`, ...); the classes
 * and arrows already in the code pass through. hoist_funs stays off: terser must not move declarations down
 * (the dialect check after it would catch that anyway).
 *
 * The code runs at the top level of the script (globalScope): compress may drop and inline there, but the
 * top-level names keep the short `$` names given them; local names are mangled as usual. Property names are
 * mangled too, except the platform's (reservedProperties): on Espruino a name of up to 4 characters fits in the
 * block that holds the property (and an integer value with it), a longer one takes one more block per 9
 * characters, in every object and prototype that has it. keep_fargs: false drops unused trailing parameters,
 * one block each per function.
 */
async function minifyDevice(code: string): Promise<string> {
  const out = await minify(code, {
    ecma: 5,
    compress: {
      ecma: 5, passes: 3, toplevel: true, hoist_funs: false, hoist_vars: false, unsafe: false, keep_infinity: true,
      keep_fargs: false,
    },
    mangle: { toplevel: false, properties: { builtins: true, reserved: reservedProperties(code) } },
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
  const methods: MethodStats = { dropped: [], moved: [], inlined: [] }
  const lowered = await lowerDialect(await rollupDevice(root, board), methods)
  // checked before terser too, where names and lines still point at the firmware code
  assertDialect(lowered, board, 'in the Babel output (before terser)')
  const code = await minifyDevice(lowered)
  assertDialect(code, board, 'in the terser output')
  const file = bundleFile(root, board.name)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, code)
  return { board: board.name, file: file, bytes: bundleBytes(code), methods: methods }
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
