// Host side of the hot paths: instantiates build/core.wasm and picks a backend by name.
import fs from 'node:fs'
import { Core, CoreName } from '../../firmware/core/contract.js'
import { PortableCore } from '../../firmware/core/portable.js'
import { WasmCore, CoreExports } from '../../firmware/core/wasm.js'
import { packageRoot } from './paths.js'

let compiled: WebAssembly.Module | undefined

/** The compiled hot paths; `npm run build` writes build/core.wasm. */
export function coreModule(): WebAssembly.Module {
  if (compiled === undefined) {
    const file = packageRoot() + '/build/core.wasm'
    if (!fs.existsSync(file)) throw new Error(file + ' is missing: run `npm run build` first')
    compiled = new WebAssembly.Module(fs.readFileSync(file))
  }
  return compiled
}

/** A fresh wasm core: its own fixed-size linear memory is the arena. */
export function createWasmCore(): WasmCore {
  const instance = new WebAssembly.Instance(coreModule(), {})
  return new WasmCore(instance.exports as unknown as CoreExports)
}

/** A portable core over a fresh ArrayBuffer of `size` bytes (rounded up to a multiple of 4). */
export function createPortableCore(size: number): PortableCore {
  return new PortableCore(new ArrayBuffer(Math.ceil(size / 4) * 4))
}

/** The one line of configuration that picks a backend: the board's "core", or --core. */
export function createCore(name: CoreName, portableSize: number): Core {
  return name === 'wasm' ? createWasmCore() : createPortableCore(portableSize)
}
