// Shared-memory tables: one backend table in a shared WebAssembly.Memory,
// used by several threads at once through the threads build of the core
// (atomic counters: no update is lost; under contention two threads may pick
// the same backend). Runtime-neutral: posting the handle to a worker is the
// caller's business (worker_threads in Node, Web Workers in Deno and browsers;
// browsers need cross-origin isolation for SharedArrayBuffer).

import wasmText from "../build/core-threads-wasm.js";
import { Balancer, type BalancerOptions } from "./balancer.js";
import { CoreTable, decodeWasm } from "./core.js";
import { InvalidArgumentError } from "./errors.js";

/** Everything another thread needs to attach; structured-cloneable. */
export interface SharedHandle {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  backends: string[];
  algorithm: string;
  tieBreak: "first" | "rotate";
}

// Pages the threads build may grow to (its declared maximum, 256 MiB).
const MAX_PAGES = 4096;

let compiled: WebAssembly.Module | undefined;

export function threadsModule(): WebAssembly.Module {
  return (compiled ??= new WebAssembly.Module(decodeWasm(wasmText)));
}

/** A Balancer over a new shared table, and the handle that lets other threads join it. */
export function createShared(options: BalancerOptions = {}): { balancer: Balancer; handle: SharedHandle } {
  const module = threadsModule();
  const memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
  const balancer = new Balancer(options, { core: CoreTable.instantiate(module, { env: { memory } }), mode: "create" });
  const handle: SharedHandle = {
    module,
    memory,
    backends: balancer.names,
    algorithm: balancer.algorithm,
    tieBreak: balancer.tieBreak,
  };
  return { balancer, handle };
}

/** A Balancer over the shared table of `handle` (in this or another thread). */
export function attachShared(handle: SharedHandle, options: Pick<BalancerOptions, "clock"> = {}): Balancer {
  const notHandle = new InvalidArgumentError("handle", "handle must be the handle returned by createShared()");
  if (
    handle === null ||
    typeof handle !== "object" ||
    !(handle.module instanceof WebAssembly.Module) ||
    !(handle.memory instanceof WebAssembly.Memory) ||
    !WebAssembly.Module.imports(handle.module).some((i) => i.kind === "memory")
  ) {
    throw notHandle;
  }
  if (options === null || typeof options !== "object") {
    throw new InvalidArgumentError("options", "options must be an object");
  }
  // The threads build imports a shared memory; any other module or memory
  // fails to link, which says nothing useful to the caller.
  let core: CoreTable;
  try {
    core = CoreTable.instantiate(handle.module, { env: { memory: handle.memory } });
  } catch {
    throw notHandle;
  }
  return new Balancer(
    { backends: handle.backends, algorithm: handle.algorithm, tieBreak: handle.tieBreak, clock: options.clock },
    { core, mode: "attach" },
  );
}

// Everything else, so one import serves a thread that uses a shared table.
export * from "./index.js";
