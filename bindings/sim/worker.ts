// The simulator page's Web Worker (dist/sim-worker.js): runs the model off
// the page's thread. Message in: {flags} (the page's settings as flag
// values). Messages out: {type: "progress", ...} about every 16,384
// requests, then {type: "done", table, digest, results} (results with
// chart detail), or {type: "error", message}.

import { configFromFlags, type FlagValues } from "./flags.js";
import { formatTable, runDigest } from "./format.js";
import { simulate } from "./model.js";
import { normalize } from "./spec.js";

interface WorkerScope {
  onmessage: ((event: MessageEvent<{ flags: FlagValues }>) => void) | null;
  postMessage(message: unknown): void;
}
const scope = globalThis as unknown as WorkerScope;

scope.onmessage = (event) => {
  try {
    const model = normalize(configFromFlags(event.data.flags));
    const results = simulate(model, {
      detail: true,
      progressEvery: 16384,
      onProgress: (p) => scope.postMessage({ type: "progress", ...p, requests: model.requests, algorithms: model.algorithms.length }),
    });
    scope.postMessage({ type: "done", table: formatTable(model, results), digest: runDigest(results), results });
  } catch (err) {
    scope.postMessage({ type: "error", message: err instanceof Error ? err.message : String(err) });
  }
};
