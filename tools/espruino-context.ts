// An Espruino-like JavaScript context on Node: a node:vm context whose globals are only what Espruino's
// interpreter provides (reference/espruino.md, "The JavaScript dialect"). A device bundle that runs here
// uses no missing built-in at run time; tools/dialect.ts checks the same rules statically. Syntax is not
// restricted here (V8 parses everything): that is the static checker's job.
import vm from 'node:vm'

/** The globals kept from the context's own built-ins; everything else it starts with is deleted. */
const BUILTIN_GLOBALS = [
  'Object', 'Function', 'Array', 'String', 'Number', 'Boolean', 'Date', 'RegExp', 'JSON', 'Math', 'Promise',
  'Error', 'TypeError', 'SyntaxError', 'parseInt', 'parseFloat', 'isNaN', 'eval', 'ArrayBuffer', 'DataView',
  'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array',
  'Float32Array', 'Float64Array', 'undefined', 'NaN', 'Infinity',
]

/**
 * Runs inside the context first: deletes the globals and members Espruino lacks ("Math.imul, Math.clz32,
 * Math.fround, Math.trunc, Math.log2, Array.from, Object.freeze/seal/is, Promise.race ... undefined";
 * "copyWithin, TypedArray.from ... missing") and makes `new TypeError() instanceof Error` false, as measured.
 * BYTES_PER_ELEMENT cannot be deleted (it is not configurable); the static checker covers it.
 */
const STRIP = `(function (g, keep) {
  var names = Object.getOwnPropertyNames(g);
  for (var i = 0; i < names.length; i++) if (keep.indexOf(names[i]) < 0) delete g[names[i]];
  var gone = { Math: ['imul', 'clz32', 'fround', 'trunc', 'log2'], Array: ['from'],
    Object: ['freeze', 'seal', 'is'], Promise: ['race'] };
  for (var o in gone) for (var j = 0; j < gone[o].length; j++) delete g[o][gone[o][j]];
  var TypedArray = Object.getPrototypeOf(Uint8Array);
  delete TypedArray.from;
  delete TypedArray.prototype.copyWithin;
  delete Array.prototype.copyWithin;
  Object.setPrototypeOf(TypeError.prototype, Object.prototype);
})(this, KEEP)`

/** Espruino's E object, the part a firmware uses; defined inside the context so it belongs to its realm. */
const DEFINE_E = `this.E = {
  sum: function (a) { var s = 0; for (var i = 0; i < a.length; i++) s += a[i]; return s; },
  hwRand: function () { return (Math.random() * 4294967296) | 0; }
}`

export interface EspruinoContext {
  readonly context: vm.Context
  /** Every console.log call, its arguments joined by spaces, as Espruino prints them. */
  readonly output: string[]
  /** Exceptions thrown by timer callbacks (Espruino prints them as "Uncaught" and carries on). */
  readonly errors: unknown[]
  /** Runs code in the context (synchronously; timers it sets run later on the host's event loop). */
  run(code: string, filename?: string): unknown
  /** Evaluates an expression in the context, e.g. `typeof Map`. */
  evaluate(expression: string): unknown
  /** Cancels every timer the code set. */
  dispose(): void
}

interface Timers {
  setTimeout(fn: () => void, ms?: number): number
  setInterval(fn: () => void, ms?: number): number
  clearTimeout(id: number): void
  clearInterval(id: number): void
  clearAll(): void
}

/** setTimeout and friends with Espruino's numeric ids, on unref'd host timers so they never hold Node up. */
function makeTimers(errors: unknown[]): Timers {
  const live = new Map<number, NodeJS.Timeout>()
  let next = 1
  const guard = (fn: () => void) => () => { try { fn() } catch (e) { errors.push(e) } }
  const add = (handle: NodeJS.Timeout) => { handle.unref(); live.set(next, handle); return next++ }
  const clear = (id: number) => { const h = live.get(id); if (h) { clearTimeout(h); live.delete(id) } }
  return {
    setTimeout: (fn, ms) => {
      const id = next
      return add(setTimeout(() => { live.delete(id); guard(fn)() }, ms ?? 0))
    },
    setInterval: (fn, ms) => add(setInterval(guard(fn), ms ?? 0)),
    clearTimeout: clear,
    clearInterval: clear,
    clearAll: () => { for (const id of Array.from(live.keys())) clear(id) },
  }
}

/** A fresh Espruino-like context. `timeoutMs` bounds each synchronous run. */
export function createEspruinoContext(opts: { timeoutMs?: number } = {}): EspruinoContext {
  const output: string[] = []
  const errors: unknown[] = []
  const timers = makeTimers(errors)
  const context = vm.createContext({})
  vm.runInContext(STRIP.replace('KEEP', JSON.stringify(BUILTIN_GLOBALS)), context)
  vm.runInContext(DEFINE_E, context)
  const start = Date.now()
  Object.assign(context, {
    console: { log: (...args: unknown[]) => { output.push(args.map((a) => String(a)).join(' ')) } },
    setTimeout: timers.setTimeout,
    setInterval: timers.setInterval,
    clearTimeout: timers.clearTimeout,
    clearInterval: timers.clearInterval,
    // seconds as a float, like Espruino's getTime()
    getTime: () => (Date.now() - start) / 1000,
  })
  const timeout = opts.timeoutMs ?? 10000
  return {
    context: context,
    output: output,
    errors: errors,
    run: (code, filename) => vm.runInContext(code, context, { filename: filename ?? 'bundle.js', timeout: timeout }),
    evaluate: (expression) => vm.runInContext(expression, context, { timeout: timeout }),
    dispose: () => timers.clearAll(),
  }
}
