// The driver over one instance of the Wasm core: compiles the inlined module
// once, instantiates it synchronously, and keeps typed-array views of the
// table. Views go stale when memory grows, so they are re-taken after every
// call that can grow it (reset, add) and never cached elsewhere.

import wasmBase64 from "../build/core-wasm.js";

/** The core's exports, numbers only (see assembly/index.ts). */
export interface CoreExports {
  memory: WebAssembly.Memory;
  reset(capacity: number, seed: number, rotateTies: number): number;
  attach(): void;
  random32(): number;
  add(weight: number): number;
  removeAt(index: number): number;
  setState(index: number, state: number): number;
  setWeight(index: number, weight: number): number;
  setActive(index: number, active: number): number;
  acquire(algorithm: number, now: number): number;
  release(index: number): number;
  sample(which: number): number;
  size(): number;
  capacity(): number;
  layout(which: number): number;
}

export const STATE_UP = 0;
export const STATE_DOWN = 1;
export const STATE_DRAINING = 2;
export const NONE = -1;
export const ERR_NO_MEMORY = -2;

let compiled: WebAssembly.Module | undefined;

export function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

/** The compiled core, compiled on first use and shared by every table. */
export function coreModule(): WebAssembly.Module {
  return (compiled ??= new WebAssembly.Module(decodeBase64(wasmBase64)));
}

/** One table: a core instance plus views of its arrays. */
export class CoreTable {
  readonly exports: CoreExports;
  /** Whole-memory views, indexed by (array offset >> 2 or >> 3) + backend index. */
  u32!: Uint32Array;
  f64!: Float64Array;
  activeAt = 0;
  weightAt = 0;
  stateAt = 0;
  totalAt = 0;
  lastAt = 0;
  private buffer: ArrayBuffer | SharedArrayBuffer | undefined;
  private cap = -1;

  /** A table over an instance made elsewhere (e.g. by @assemblyscript/loader). */
  constructor(exports: CoreExports) {
    this.exports = exports;
  }

  static instantiate(module: WebAssembly.Module = coreModule(), imports: WebAssembly.Imports = {}): CoreTable {
    return new CoreTable(new WebAssembly.Instance(module, imports).exports as unknown as CoreExports);
  }

  /** Re-takes views and offsets if memory or capacity changed. */
  refresh(): void {
    const e = this.exports;
    const cap = e.capacity();
    if (this.buffer === e.memory.buffer && this.cap === cap) return;
    this.buffer = e.memory.buffer;
    this.cap = cap;
    this.u32 = new Uint32Array(this.buffer);
    this.f64 = new Float64Array(this.buffer);
    this.activeAt = e.layout(0) >>> 2;
    this.weightAt = e.layout(1) >>> 2;
    this.stateAt = e.layout(2) >>> 2;
    this.totalAt = e.layout(3) >>> 2;
    this.lastAt = e.layout(4) >>> 3;
  }

  active(i: number): number { return this.u32[this.activeAt + i]!; }
  weight(i: number): number { return this.u32[this.weightAt + i]!; }
  state(i: number): number { return this.u32[this.stateAt + i]!; }
  /**
   * Total requests: a u64 read as two halves, exact below 2^53. Another
   * thread may carry into the high half between the two reads; the total
   * only grows, so a high half unchanged across the low read is consistent.
   */
  total(i: number): number {
    const at = this.totalAt + 2 * i;
    const u32 = this.u32;
    let hi = Atomics.load(u32, at + 1);
    for (;;) {
      const lo = Atomics.load(u32, at);
      const again = Atomics.load(u32, at + 1);
      if (again === hi) return lo + hi * 4294967296;
      hi = again;
    }
  }
  /** Last-used time, or null when never picked (stored as NaN). */
  lastUsed(i: number): number | null {
    const t = this.f64[this.lastAt + i]!;
    return t === t ? t : null;
  }
}
