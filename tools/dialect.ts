// A static checker for Espruino's JavaScript dialect. Every rule below comes from the table "The JavaScript
// dialect" in reference/espruino.md (Espruino 2v29, as measured); the device build (tools/bundle.ts) runs it
// on every bundle and refuses to write one that breaks a rule, and test/device-bundle.test.ts runs it too.
//
// checkDialect(source) parses with acorn (ecmaVersion latest) and reports, with line:column (both 1-based):
//   - syntax Espruino lacks (destructuring, spread/rest, defaults, async, generators, labels, ...);
//   - what Babel should have transformed away (for..of, let/const in for-loop heads);
//   - missing globals and members (Map, Math.imul, Array.from, ...), unless a local binding shadows them;
//   - use before declaration: Espruino does not hoist function declarations;
//   - class members named with one of Espruino's keywords, and class expressions other than a variable's
//     initialiser (`new class {...}`, `x ? class {} : y`), which Espruino cannot skip without asserting.
import * as acorn from 'acorn'

export interface Finding {
  line: number
  column: number
  message: string
}

/** An ESTree node as acorn produces it; fields are read by name. */
interface N {
  type: string
  start: number
  end: number
  [key: string]: any
}

// ---------------------------------------------------------------------------------------------------------
// The rule tables (reference/espruino.md, "The JavaScript dialect")

/** Globals that are undefined on Espruino ("Map, Set, WeakMap, Symbol, Proxy, Reflect ... undefined"). */
const MISSING_GLOBALS = new Set([
  'Map', 'Set', 'WeakMap', 'WeakSet', 'WeakRef', 'Symbol', 'Proxy', 'Reflect', 'BigInt', 'BigInt64Array',
  'BigUint64Array', 'RangeError', 'TextEncoder', 'TextDecoder', 'Buffer', 'queueMicrotask', 'setImmediate',
  'WebAssembly',
])

/** Static members that are undefined on Espruino although their object exists. */
const MISSING_MEMBERS: { [object: string]: string[] } = {
  Math: ['imul', 'clz32', 'fround', 'trunc', 'log2'],
  Array: ['from'],
  Object: ['freeze', 'seal', 'is'],
  Promise: ['race'],
}

/** Typed arrays: `TypedArray.from` is missing ("copyWithin, TypedArray.from, BYTES_PER_ELEMENT missing"). */
const TYPED_ARRAYS = new Set([
  'Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array',
  'Float32Array', 'Float64Array',
])

/** Members missing on every object that has them in Node (typed arrays, arrays). */
const MISSING_ANY_MEMBER = new Set(['copyWithin', 'BYTES_PER_ELEMENT'])

/** "Array.prototype.slice etc. as properties of the prototype: undefined ([].slice.call(x) works)". */
const ARRAY_PROTOTYPE_METHODS = new Set([
  'concat', 'copyWithin', 'entries', 'every', 'fill', 'filter', 'find', 'findIndex', 'forEach', 'includes',
  'indexOf', 'join', 'keys', 'lastIndexOf', 'map', 'pop', 'push', 'reduce', 'reduceRight', 'reverse', 'shift',
  'slice', 'some', 'sort', 'splice', 'toString', 'unshift', 'values',
])

/** Objects through which a global can be reached by name. */
const GLOBAL_OBJECTS = new Set(['globalThis', 'global', 'window', 'self'])

/** "class X extends Error" fails; so would any built-in error class. */
const ERROR_CLASSES = new Set([
  'Error', 'TypeError', 'RangeError', 'SyntaxError', 'ReferenceError', 'EvalError', 'URIError', 'AggregateError',
  'InternalError',
])

/**
 * Espruino's keywords (the reserved words of its lexer, 2v29). A class member named like one (`do() {}`,
 * `get in()`, `static of()`) is a syntax error there; `get`, `set` and `as` are fine, and so is any of these as
 * an object key or after a dot.
 */
export const ESPRUINO_KEYWORDS = new Set(['if', 'else', 'do', 'while', 'for', 'break', 'continue', 'function', 'return',
  'var', 'let', 'const', 'this', 'throw', 'try', 'catch', 'finally', 'true', 'false', 'null', 'undefined', 'new', 'in',
  'instanceof', 'switch', 'case', 'default', 'delete', 'typeof', 'void', 'debugger', 'class', 'extends', 'super',
  'static', 'of'])

type SyntaxRule = (node: N) => string | null

function functionRule(node: N): string | null {
  if (node.async) return 'async function (no async/await on Espruino)'
  if (node.generator) return 'generator function (no generators on Espruino)'
  return null
}

function computedKeyRule(node: N): string | null {
  return node.computed ? 'computed key [k] (fails on Espruino)' : null
}

function classMemberRule(node: N): string | null {
  if (node.computed) return computedKeyRule(node)
  const key = node.key
  if (key && key.type === 'Identifier' && ESPRUINO_KEYWORDS.has(key.name)) {
    return 'class member named ' + key.name + ' (a keyword on Espruino: a syntax error there; rename it)'
  }
  return null
}

function loopHeadRule(head: N | null): string | null {
  if (head && head.type === 'VariableDeclaration' && head.kind !== 'var') {
    return head.kind + ' in a for-loop head (no per-iteration binding on Espruino; Babel block-scoping should ' +
      'have made it var)'
  }
  return null
}

/**
 * Espruino's regular-expression engine has no counted quantifiers ({n}, {n,m}) and no quantifier on a
 * group: such a pattern never matches there (measured on Espruino 2v29: a MAC check with {2} rejected
 * every address). Escaped braces and braces inside a character class are fine.
 */
function regexRule(pattern: string): string | null {
  let inClass = false
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]
    if (c === '\\') { i++; continue }
    if (inClass) { if (c === ']') inClass = false; continue }
    if (c === '[') { inClass = true; continue }
    if (c === '{' && /^\{\d+(,\d*)?\}/.test(pattern.slice(i))) return 'regular expression with a {n,m} quantifier (never matches on Espruino)'
    if (c === ')' && /^[*+?{]/.test(pattern.slice(i + 1))) return 'regular expression with a quantified group (never matches on Espruino)'
  }
  return null
}

function literalRule(n: N): string | null {
  if (n.bigint !== undefined) return 'BigInt literal (no BigInt on Espruino)'
  if (n.regex !== undefined) return regexRule((n.regex as { pattern: string }).pattern)
  return null
}

/** Syntax rules by node type; each returns a message or null. */
const SYNTAX_RULES: { [type: string]: SyntaxRule } = {
  ObjectPattern: () => 'destructuring pattern (fails on Espruino)',
  ArrayPattern: () => 'destructuring pattern (fails on Espruino)',
  RestElement: () => 'rest element ...x (fails on Espruino)',
  SpreadElement: () => 'spread ...x (fails on Espruino)',
  AssignmentPattern: () => 'default value for a parameter or pattern (fails on Espruino)',
  FunctionDeclaration: functionRule,
  FunctionExpression: functionRule,
  ArrowFunctionExpression: functionRule,
  AwaitExpression: () => 'await (no async/await on Espruino)',
  YieldExpression: () => 'yield (no generators on Espruino)',
  LabeledStatement: () => 'label (no labelled break/continue on Espruino)',
  Literal: literalRule,
  ChainExpression: () => 'optional chaining ?. (fails on Espruino)',
  BinaryExpression: (n) => (n.operator === '**' ? 'exponent operator ** (fails on Espruino)' : null),
  AssignmentExpression: (n) => (n.operator === '**=' ? 'exponent operator **= (fails on Espruino)' : null),
  TaggedTemplateExpression: () => 'tagged template (fails on Espruino)',
  ImportDeclaration: () => 'import (no modules on Espruino)',
  ImportExpression: () => 'import() (no modules on Espruino)',
  ExportNamedDeclaration: () => 'export (no modules on Espruino)',
  ExportDefaultDeclaration: () => 'export (no modules on Espruino)',
  ExportAllDeclaration: () => 'export (no modules on Espruino)',
  PrivateIdentifier: (n) => 'class private name #' + n.name + ' (fails on Espruino)',
  Property: computedKeyRule,
  MethodDefinition: classMemberRule,
  PropertyDefinition: classMemberRule,
  MetaProperty: (n) => n.meta.name + '.' + n.property.name + ' (fails on Espruino)',
  ClassDeclaration: classRule,
  ClassExpression: classRule,
  ForOfStatement: (n) => (n.await ? 'for await (no async on Espruino)'
    : 'for..of (Espruino only iterates arrays, strings and typed arrays; Babel for-of should have made it an index loop)'),
  ForStatement: (n) => loopHeadRule(n.init),
  ForInStatement: (n) => loopHeadRule(n.left),
}

function classRule(node: N): string | null {
  const sup = node.superClass
  if (sup && sup.type === 'Identifier' && ERROR_CLASSES.has(sup.name)) {
    return 'class extends ' + sup.name + ' (fails on Espruino; throw a plain Error with a distinctive message or name)'
  }
  return null
}

// ---------------------------------------------------------------------------------------------------------
// A generic walk over acorn's tree

function isNode(v: unknown): v is N {
  return v !== null && typeof v === 'object' && typeof (v as N).type === 'string'
}

/** The child nodes of `node` with the field each sits in. */
function children(node: N): [string, N][] {
  const out: [string, N][] = []
  for (const key of Object.keys(node)) {
    if (key === 'loc') continue
    const value = node[key]
    if (Array.isArray(value)) {
      for (const item of value) if (isNode(item)) out.push([key, item])
    } else if (isNode(value)) {
      out.push([key, value])
    }
  }
  return out
}

function isFunction(node: N): boolean {
  return node.type === 'FunctionDeclaration' || node.type === 'FunctionExpression' ||
    node.type === 'ArrowFunctionExpression'
}

// ---------------------------------------------------------------------------------------------------------
// Scopes: enough of them to tell a local `Map` from the global one, and to find function declarations

interface Binding {
  kind: string
  /** The declaring node (the FunctionDeclaration itself for a function declaration). */
  node: N
  scope: Scope
}

interface Scope {
  parent: Scope | null
  /** The nearest enclosing function-like scope (itself for a function or the program). */
  fn: Scope
  names: Map<string, Binding>
}

function newScope(parent: Scope | null, functionLike: boolean): Scope {
  const scope = { parent: parent, names: new Map<string, Binding>() } as Scope
  scope.fn = functionLike || parent === null ? scope : parent.fn
  return scope
}

/** Whether `node` (a child of `parent`) opens a scope, and of which kind. */
function scopeKind(node: N, parent: N | null): 'function' | 'block' | null {
  if (node.type === 'Program' || isFunction(node)) return 'function'
  // a class field initialiser runs at construction time, like a function body
  if (parent && parent.type === 'PropertyDefinition' && node === parent.value) return 'function'
  if (node.type === 'BlockStatement') return parent && isFunction(parent) ? null : 'block'
  if (node.type === 'ForStatement' || node.type === 'ForInStatement' || node.type === 'ForOfStatement' ||
    node.type === 'SwitchStatement' || node.type === 'CatchClause' || node.type === 'StaticBlock') return 'block'
  return null
}

function patternNames(pattern: N | null, out: N[]): N[] {
  if (!pattern) return out
  switch (pattern.type) {
    case 'Identifier': out.push(pattern); break
    case 'ObjectPattern': for (const p of pattern.properties) patternNames(p.type === 'RestElement' ? p : p.value, out); break
    case 'ArrayPattern': for (const e of pattern.elements) patternNames(e, out); break
    case 'RestElement': patternNames(pattern.argument, out); break
    case 'AssignmentPattern': patternNames(pattern.left, out); break
  }
  return out
}

function bind(scope: Scope, pattern: N | null, kind: string, node: N): void {
  for (const id of patternNames(pattern, [])) {
    // a function declaration keeps its binding over a later `var` of the same name
    const old = scope.names.get(id.name)
    if (old && old.kind === 'function' && kind === 'var') continue
    scope.names.set(id.name, { kind: kind, node: node, scope: scope })
  }
}

function lookup(scope: Scope | null, name: string): Binding | null {
  for (let s = scope; s !== null; s = s.parent) {
    const b = s.names.get(name)
    if (b) return b
  }
  return null
}

/** Records the declarations that `node` makes; `outer` holds it, `inner` is the scope it opens (or `outer`). */
function declare(node: N, outer: Scope, inner: Scope): void {
  switch (node.type) {
    case 'FunctionDeclaration':
      if (node.id) bind(outer, node.id, 'function', node)
      for (const p of node.params) bind(inner, p, 'param', node)
      break
    case 'FunctionExpression':
      if (node.id) bind(inner, node.id, 'function-name', node)
      for (const p of node.params) bind(inner, p, 'param', node)
      break
    case 'ArrowFunctionExpression':
      for (const p of node.params) bind(inner, p, 'param', node)
      break
    case 'VariableDeclaration':
      for (const d of node.declarations) bind(node.kind === 'var' ? outer.fn : outer, d.id, node.kind, d)
      break
    case 'ClassDeclaration':
      if (node.id) bind(outer, node.id, 'class', node)
      break
    case 'CatchClause':
      bind(inner, node.param, 'catch', node)
      break
  }
}

/** Whether an Identifier in field `key` of `parent` reads or writes a variable (rather than naming a property). */
function isReference(parent: N | null, key: string): boolean {
  if (!parent) return true
  switch (parent.type) {
    case 'MemberExpression': return key !== 'property' || parent.computed
    case 'Property': case 'MethodDefinition': case 'PropertyDefinition': return key !== 'key' || parent.computed
    case 'LabeledStatement': case 'BreakStatement': case 'ContinueStatement': return false
    case 'FunctionDeclaration': case 'FunctionExpression': case 'ArrowFunctionExpression':
      return key !== 'id' && key !== 'params'
    case 'ClassDeclaration': case 'ClassExpression': return key !== 'id'
    case 'VariableDeclarator': return key !== 'id'
    case 'CatchClause': return key !== 'param'
    case 'MetaProperty': case 'ImportSpecifier': case 'ImportDefaultSpecifier': case 'ImportNamespaceSpecifier':
    case 'ExportSpecifier': return false
  }
  return true
}

// ---------------------------------------------------------------------------------------------------------
// The checker

class Checker {
  readonly findings: Finding[] = []
  private readonly scopes = new Map<N, Scope>()

  constructor(private readonly program: N) {}

  run(): Finding[] {
    this.walk(this.program, null, '', null, (node, _parent, _key, outer, inner) => declare(node, outer, inner))
    this.walk(this.program, null, '', null, (node, parent, key, outer) => this.check(node, parent, key, outer))
    this.findings.sort((a, b) => a.line - b.line || a.column - b.column)
    return this.findings
  }

  /** Walks the tree keeping the scope chain; scopes made on the first walk are reused on the second. */
  private walk(node: N, parent: N | null, key: string, outer: Scope | null,
    visit: (node: N, parent: N | null, key: string, outer: Scope, inner: Scope) => void): void {
    const kind = scopeKind(node, parent)
    let inner = outer as Scope
    if (kind !== null) {
      inner = this.scopes.get(node) ?? newScope(outer, kind === 'function')
      this.scopes.set(node, inner)
    }
    visit(node, parent, key, outer ?? inner, inner)
    for (const [childKey, child] of children(node)) this.walk(child, node, childKey, inner, visit)
  }

  private report(node: N, message: string): void {
    const loc = node.loc.start
    this.findings.push({ line: loc.line, column: loc.column + 1, message: message })
  }

  private check(node: N, parent: N | null, key: string, scope: Scope): void {
    const rule = SYNTAX_RULES[node.type]
    const message = rule ? rule(node) : null
    if (message) this.report(node, message)
    if (node.type === 'Identifier' && isReference(parent, key)) this.checkIdentifier(node, parent, key, scope)
    if (node.type === 'MemberExpression') this.checkMember(node, scope)
    if (node.type === 'ClassExpression' && !(parent !== null && parent.type === 'VariableDeclarator' && key === 'init')) {
      this.report(node, 'class expression inside an expression (Espruino asserts and halts when it skips a class ' +
        'definition, e.g. in a ?: or && it does not take: declare the class, or make it a variable\'s whole initialiser)')
    }
  }

  private checkIdentifier(node: N, parent: N | null, key: string, scope: Scope): void {
    const binding = lookup(scope, node.name)
    if (binding === null) {
      if (MISSING_GLOBALS.has(node.name)) this.report(node, node.name + ' is undefined on Espruino')
      return
    }
    const isWrite = parent !== null && parent.type === 'AssignmentExpression' && key === 'left'
    if (binding.kind === 'function' && !isWrite && binding.scope.fn === scope.fn && node.start < binding.node.start) {
      const at = binding.node.loc.start
      const use = parent && parent.type === 'CallExpression' && key === 'callee' ? 'called' : 'used'
      this.report(node, node.name + ' is ' + use + ' before its function declaration at ' + at.line + ':' +
        (at.column + 1) + ' runs (Espruino does not hoist function declarations; move the declaration up)')
    }
  }

  /** The name of a member `o.x` or `o['x']`, or null when it is computed from a non-literal. */
  private static memberName(node: N): string | null {
    if (!node.computed && node.property.type === 'Identifier') return node.property.name
    if (node.computed && node.property.type === 'Literal' && typeof node.property.value === 'string') {
      return node.property.value
    }
    return null
  }

  /** Whether `node` is the unshadowed global `name`. */
  private static isGlobal(node: N, scope: Scope, names: Set<string> | string): boolean {
    if (node.type !== 'Identifier') return false
    const match = typeof names === 'string' ? node.name === names : names.has(node.name)
    return match && lookup(scope, node.name) === null
  }

  private checkMember(node: N, scope: Scope): void {
    const name = Checker.memberName(node)
    if (name === null) return
    const object = node.object
    if (MISSING_ANY_MEMBER.has(name)) {
      this.report(node.property, '.' + name + ' is undefined on Espruino')
    } else if (object.type === 'Identifier' && lookup(scope, object.name) === null) {
      this.checkStaticMember(node, object.name, name)
    } else if (object.type === 'MemberExpression' && Checker.memberName(object) === 'prototype' &&
      Checker.isGlobal(object.object, scope, 'Array') && ARRAY_PROTOTYPE_METHODS.has(name)) {
      this.report(node, 'Array.prototype.' + name + ' is undefined on Espruino (use [].' + name + ')')
    }
  }

  private checkStaticMember(node: N, object: string, name: string): void {
    const missing = MISSING_MEMBERS[object]
    if (missing && missing.indexOf(name) >= 0) {
      this.report(node, object + '.' + name + ' is undefined on Espruino')
    } else if (TYPED_ARRAYS.has(object) && name === 'from') {
      this.report(node, object + '.from is undefined on Espruino')
    } else if (GLOBAL_OBJECTS.has(object) && MISSING_GLOBALS.has(name)) {
      this.report(node, name + ' is undefined on Espruino')
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Entry points

const PARSE_OPTIONS = {
  ecmaVersion: 'latest' as const,
  locations: true,
  allowHashBang: true,
  allowReturnOutsideFunction: true,
  allowAwaitOutsideFunction: true,
  allowImportExportEverywhere: true,
}

/** Parses like the checker does: as a script, or as a module when only that works. Throws a SyntaxError. */
export function parseSource(source: string): acorn.Program {
  try {
    return acorn.parse(source, { ...PARSE_OPTIONS, sourceType: 'script' })
  } catch (scriptError) {
    try {
      return acorn.parse(source, { ...PARSE_OPTIONS, sourceType: 'module' })
    } catch {
      throw scriptError
    }
  }
}

/** Every construct in `source` that Espruino lacks, in source order. A syntax error is one finding. */
export function checkDialect(source: string): Finding[] {
  let program: acorn.Program
  try {
    program = parseSource(source)
  } catch (e) {
    const loc = (e as { loc?: { line: number; column: number } }).loc
    return [{ line: loc ? loc.line : 1, column: loc ? loc.column + 1 : 1, message: 'syntax error: ' + (e as Error).message }]
  }
  return new Checker(program as unknown as N).run()
}

/** Findings as "line:col message" lines, each followed by the source text around it. */
export function formatFindings(findings: Finding[], source?: string, file?: string): string {
  const lines = source === undefined ? [] : source.split('\n')
  return findings.map((f) => {
    let text = (file ? file + ':' : '') + f.line + ':' + f.column + ' ' + f.message
    const line = lines[f.line - 1]
    if (line !== undefined) text += '\n    ' + line.slice(Math.max(0, f.column - 41), f.column + 40)
    return text
  }).join('\n')
}
