// A Babel pass of the device build (tools/bundle.ts) that spends fewer function objects on class methods.
//
// On Espruino every method the bundle defines stays in RAM for as long as the firmware runs: its name on the
// prototype, the function, a link to its code, one block per parameter, about five blocks of 13 bytes each.
// The source keeps its short methods; the bundle, like a linker, keeps only what it calls:
//   - a method no code names is dropped (the firmware's API has more than one board's app uses: the bundle
//     carries the app, and property names are mangled, so nothing outside the bundle can call it);
//   - a method called from exactly one place becomes a function of its object (`this` → a first parameter,
//     `o.m(a)` → `m(o, a)`), which terser then inlines into that place. An inlined body costs no RAM
//     until it runs.
// Only names the bundle owns are touched: a platform name (`send`, `setup`, ...: reservedProperties) or a
// name that appears as an object literal key, a class field, a getter or more than one method is left alone,
// since Espruino or another object may reach it.

/** A Babel node, read by field name. */
interface Node { type: string; [key: string]: any }
/** The part of a Babel path this pass uses. */
interface Path {
  node: Node
  parent: Node
  parentPath: Path | null
  scope: Scope
  get(key: string): Path
  traverse(visitor: object, state?: unknown): void
  findParent(test: (p: Path) => boolean): Path | null
  getStatementParent(): Path | null
  replaceWith(node: Node): void
  insertBefore(node: Node): void
  remove(): void
  skip(): void
  isArrowFunctionExpression(): boolean
  isReferencedIdentifier(): boolean
}
interface Binding { scope: Scope; path: Path }
interface Scope {
  getBinding(name: string): Binding | undefined
  generateUidIdentifier(name: string): Node
  crawl(): void
  path: Path
}
interface Types {
  identifier(name: string): Node
  functionDeclaration(id: Node, params: Node[], body: Node): Node
  callExpression(callee: Node, args: Node[]): Node
  cloneNode(n: Node, deep: boolean): Node
}

/** What the pass found and did, for the build log and the tests. */
export interface MethodStats {
  /** Methods dropped because no code names them. */
  dropped: string[]
  /** Methods turned into functions because one place calls them. */
  moved: string[]
  /** `return EXPR` methods copied into each of their calls. */
  inlined: string[]
}

/** Where each bundle-owned method name is defined and used. */
interface Uses {
  methods: Path[]
  calls: Path[]
  other: number
}

function propertyName(n: Node | undefined, computed: boolean): string | null {
  if (computed || n === undefined) return null
  if (n.type === 'Identifier') return n.name as string
  if (n.type === 'StringLiteral') return n.value as string
  return null
}

/** Every method definition and every use of a property name in the program. */
function survey(program: Path): { [name: string]: Uses } {
  const uses: { [name: string]: Uses } = Object.create(null)
  const of = (name: string): Uses => uses[name] || (uses[name] = { methods: [], calls: [], other: 0 })
  program.traverse({
    ClassMethod(p: Path) {
      const name = propertyName(p.node.key, p.node.computed)
      if (name === null) return
      if (p.node.kind === 'method' && !p.node.static) of(name).methods.push(p)
      else of(name).other++
    },
    'ObjectProperty|ObjectMethod|ClassProperty|ClassPrivateProperty'(p: Path) {
      const name = propertyName(p.node.key, p.node.computed)
      if (name !== null) of(name).other++
    },
    MemberExpression(p: Path) {
      const name = propertyName(p.node.property, p.node.computed)
      if (name === null) return
      const parent = p.parent
      const isCall = parent.type === 'CallExpression' && parent.callee === p.node && p.node.object.type !== 'Super' &&
        parent.arguments.every((a: Node) => a.type !== 'SpreadElement')
      if (isCall) of(name).calls.push(p.parentPath as Path)
      else of(name).other++
    },
  })
  return uses
}

/** Whether the body reads `arguments` or `super`, which mean something else outside the method. */
function usesMethodOnly(method: Path): boolean {
  let found = false
  method.traverse({
    Identifier(p: Path) { if (p.node.name === 'arguments') found = true },
    Super() { found = true },
  })
  return found
}

/** Whether every name the method's body reads from outside it means the same at `target` (a statement). */
function sameOuterNames(method: Path, target: Path): boolean {
  let ok = true
  method.traverse({
    Identifier(p: Path) {
      if (!p.isReferencedIdentifier()) return
      const name = p.node.name as string
      const b = p.scope.getBinding(name)
      if (b === undefined) return // a global
      if (b.path.findParent((q) => q.node === method.node) !== null) return // declared inside the method
      if (target.scope.getBinding(name) !== b) ok = false
    },
  })
  return ok
}

/** `this` → `self` in the method's own body (not in nested functions, which have their own `this`). */
function replaceThis(body: Path, self: Node, t: Types): void {
  body.traverse({
    ThisExpression(p: Path) { p.replaceWith(t.cloneNode(self, false)) },
    Function(p: Path) { if (!p.isArrowFunctionExpression()) p.skip() },
    Class(p: Path) { p.skip() },
  })
}

/** Turns the only method named `name` into a function next to its class; false when that is not safe. */
function moveToFunction(name: string, method: Path, call: Path, t: Types): boolean {
  if (call.findParent((q) => q.node === method.node) !== null) return false // recursive
  if (!method.node.params.every((p: Node) => p.type === 'Identifier')) return false
  if (usesMethodOnly(method)) return false
  const anchor = method.findParent((q) => q.node.type === 'ClassDeclaration' || q.node.type === 'ClassExpression')
  const statement = anchor !== null ? anchor.getStatementParent() : null
  if (statement === null || statement.parentPath === null) return false
  // the function is declared beside the class statement: the call must be inside that block to see it
  const block = statement.parentPath
  if (call.findParent((q) => q.node === block.node) === null) return false
  if (!sameOuterNames(method, statement)) return false
  const self = method.scope.generateUidIdentifier('self')
  replaceThis(method.get('body'), self, t)
  const id = block.scope.generateUidIdentifier(name)
  statement.insertBefore(t.functionDeclaration(id, [self].concat(method.node.params), method.node.body))
  const callee = call.node.callee as Node
  call.replaceWith(t.callExpression(t.cloneNode(id, false), [callee.object].concat(call.node.arguments)))
  method.remove()
  return true
}

/** Nodes in an expression, to keep inlined copies small. */
const INLINE_NODES_MAX = 16

/** Whether evaluating `e` has no effect (no call, assignment, update, `new`, function or class in it). */
function isPure(e: Path): boolean {
  const impure = (n: Node) => /Call|Tagged|Assignment|Update|New|Function|Class|Yield|Await|Super/.test(n.type) ||
    (n.type === 'UnaryExpression' && n.operator === 'delete')
  if (impure(e.node)) return false
  let pure = true
  e.traverse({ enter(p: Path) { if (impure(p.node)) pure = false } })
  return pure
}

/** Whether `e` reads the same at any time: `this`, a literal, or a name nothing assigns again. */
function isStable(e: Node, at: Path): boolean {
  if (e.type === 'ThisExpression' || /^(Numeric|String|Boolean|Null)Literal$/.test(e.type)) return true
  if (e.type !== 'Identifier') return false
  const b = at.scope.getBinding(e.name as string) as (Binding & { constant: boolean }) | undefined
  return b !== undefined && b.constant
}

/** What a `return EXPR` body can be copied from: the expression, its parameters, whether it reads `this`
 *  and whether it calls anything. */
interface Inlinable { expr: Node; params: string[]; usesThis: boolean; calls: boolean }

/** A function or method whose body is only `return EXPR`, small and with nothing that would differ in a copy. */
function inlinable(fn: Path): Inlinable | null {
  const body = fn.node.body.body as Node[]
  if (body.length !== 1 || body[0].type !== 'ReturnStatement' || !body[0].argument) return null
  if (!fn.node.params.every((p: Node) => p.type === 'Identifier')) return null
  const params = (fn.node.params as Node[]).map((p) => p.name as string)
  let usesThis = false
  let nodes = 0
  let ok = true
  let calls = false
  fn.get('body').traverse({
    enter(p: Path) {
      nodes++
      const type = p.node.type
      if (/Function|Class|Assignment|Update|Super|Yield|Await|New/.test(type)) ok = false
      if (type === 'CallExpression') calls = true
      if (type === 'ThisExpression') usesThis = true
      if (type === 'Identifier' && p.isReferencedIdentifier() && p.node.name === 'arguments') ok = false
    },
  })
  return ok && nodes <= INLINE_NODES_MAX ? { expr: body[0].argument as Node, params: params, usesThis: usesThis, calls: calls } : null
}

/**
 * Whether `value` may stand for a parameter (or `this`) in the copy: a stable value always; a pure expression
 * when the copy calls nothing, so that nothing can change what it reads however often and whenever the copy
 * reads it (in the call it was read once, before the body ran).
 */
function canStandFor(value: Path, f: Inlinable): boolean {
  if (isStable(value.node, value)) return true
  return isPure(value) && !f.calls
}

/**
 * A copy of `e` with `this` and the parameters replaced. The expression holds no function or class, so an
 * identifier is a reference unless it names a property (`o.x`, `{ x: 1 }`).
 */
function copyWith(e: Node, f: Inlinable, receiver: Node | null, args: Node[], t: Types): Node {
  if (e.type === 'ThisExpression' && receiver !== null) return t.cloneNode(receiver, true)
  if (e.type === 'Identifier' && f.params.indexOf(e.name as string) >= 0) return t.cloneNode(args[f.params.indexOf(e.name as string)], true)
  const out: Node = { ...e }
  for (const key of Object.keys(e)) {
    const v = e[key]
    const isName = (key === 'property' && (e.type === 'MemberExpression' || e.type === 'OptionalMemberExpression') && !e.computed) ||
      (key === 'key' && e.type === 'ObjectProperty' && !e.computed)
    if (isName || /^(loc|start|end|leadingComments|trailingComments|innerComments|extra)$/.test(key)) continue
    if (Array.isArray(v)) out[key] = v.map((x) => (x && typeof x.type === 'string' ? copyWith(x, f, receiver, args, t) : x))
    else if (v && typeof v === 'object' && typeof v.type === 'string') out[key] = copyWith(v, f, receiver, args, t)
  }
  return out
}

/**
 * Copies a `return EXPR` function or method into every call (`o.m(a)` → EXPR with `this` → o, parameter → a)
 * when every receiver and argument may stand in the copy (canStandFor) and the names the copy reads mean the
 * same at each call. `method` says whether the calls are `o.m(...)` or `f(...)`. False, with nothing changed,
 * when a call does not allow it.
 */
function inlineEverywhere(fn: Path, calls: Path[], method: boolean, t: Types): boolean {
  const f = inlinable(fn)
  if (f === null || (!method && f.usesThis)) return false
  for (const call of calls) {
    const args = call.get('arguments') as unknown as Path[]
    if (args.length !== f.params.length || args.some((a) => !canStandFor(a, f))) return false
    if (method && !canStandFor(call.get('callee.object'), f)) return false
    if (call.findParent((q) => q.node === fn.node) !== null || !sameOuterNames(fn, call)) return false
  }
  for (const call of calls) {
    const receiver = method ? (call.node.callee as Node).object as Node : null
    call.replaceWith(copyWith(f.expr, f, receiver, call.node.arguments as Node[], t))
  }
  fn.remove()
  return true
}

/** The function declarations of the bundle's top scope whose only uses are plain calls. */
function calledFunctions(program: Path): { fn: Path; calls: Path[] }[] {
  const found: { fn: Path; calls: Path[] }[] = []
  program.traverse({
    FunctionDeclaration(p: Path) {
      const b = p.parentPath !== null && p.node.id ? p.parentPath.scope.getBinding(p.node.id.name) as
        (Binding & { referencePaths: Path[]; constantViolations: Path[] }) | undefined : undefined
      if (b === undefined || b.path.node !== p.node || b.constantViolations.length > 0 || b.referencePaths.length < 2) return
      const calls = b.referencePaths.map((r) => r.parentPath as Path)
      const plain = calls.every((c, i) => c.node.type === 'CallExpression' && c.node.callee === b.referencePaths[i].node &&
        c.node.arguments.every((a: Node) => a.type !== 'SpreadElement'))
      if (plain) found.push({ fn: p, calls: calls })
    },
  })
  return found
}

/**
 * The pass. `reserved` holds the property names the bundle does not own (tools/bundle.ts reservedProperties);
 * `stats` receives what was done.
 */
export function methodsToFunctions(reserved: Set<string>, stats: MethodStats) {
  return function (api: { types: Types }) {
    const t = api.types
    return {
      name: 'spinet-methods-to-functions',
      visitor: {
        Program: {
          exit(program: Path) {
            // repeat until nothing changes: a dropped or moved method may leave another one unused or used once
            for (let changed = true; changed;) {
              changed = false
              const uses = survey(program)
              // methods changed in this round: a use found inside one of them is stale until the next survey
              const touched = new Set<Node>()
              const stale = (p: Path) => touched.has(p.node) || p.findParent((q) => touched.has(q.node)) !== null
              const owned = Object.keys(uses).filter((name) => !reserved.has(name) && name !== 'constructor' &&
                uses[name].methods.length > 0 && uses[name].other === 0)
              // first what nothing calls: a method called only from a dropped one goes in the next round
              for (const name of owned) {
                const u = uses[name]
                if (u.calls.length > 0) continue
                if (u.methods.some(stale)) { changed = true; continue }
                for (const m of u.methods) { touched.add(m.node); m.remove() }
                stats.dropped.push(name)
                changed = true
              }
              for (const name of changed ? [] : owned) {
                const u = uses[name]
                if (u.methods.length !== 1 || u.calls.length === 0) continue
                if (stale(u.methods[0]) || u.calls.some(stale)) { changed = true; continue }
                const method = u.methods[0].node
                const callers = u.calls.map((c) => c.findParent((q) => q.node.type === 'ClassMethod' || /Function/.test(q.node.type)))
                if (u.calls.length === 1) {
                  if (!moveToFunction(name, u.methods[0], u.calls[0], t)) continue
                  stats.moved.push(name)
                } else {
                  if (!inlineEverywhere(u.methods[0], u.calls, true, t)) continue
                  stats.inlined.push(name)
                }
                touched.add(method)
                for (const c of callers) if (c !== null) touched.add(c.node)
                changed = true
              }
              if (!changed) {
                // then the functions: the bundle's `return EXPR` functions copied into their calls
                for (const { fn, calls } of calledFunctions(program)) {
                  if (stale(fn) || calls.some(stale)) { changed = true; continue }
                  const name = fn.node.id.name as string
                  const callers = calls.map((c) => c.findParent((q) => /Function|ClassMethod/.test(q.node.type)))
                  if (!inlineEverywhere(fn, calls, false, t)) continue
                  touched.add(fn.node)
                  for (const c of callers) if (c !== null) touched.add(c.node)
                  stats.inlined.push(name + '()')
                  changed = true
                }
              }
              if (changed) program.scope.crawl()
            }
          },
        },
      },
    }
  }
}
