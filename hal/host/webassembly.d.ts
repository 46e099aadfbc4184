// The part of the WebAssembly JS API the host uses (the project's lib is ES2020 without DOM, so that
// firmware code cannot reach browser globals by accident).
declare namespace WebAssembly {
  class Module {
    constructor(bytes: BufferSource | Uint8Array)
  }
  class Instance {
    constructor(module: Module, imports: object)
    readonly exports: Record<string, unknown>
  }
  class Memory {
    constructor(desc: { initial: number; maximum?: number })
    readonly buffer: ArrayBuffer
  }
}
type BufferSource = ArrayBuffer | ArrayBufferView
