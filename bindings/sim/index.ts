// The simulator's runtime-neutral entry (dist/sim.js): the model, its
// settings and its printed forms. No I/O; the CLI (cli/simulate.ts), the
// page's Web Worker (bindings/sim/worker.ts) and the tests drive it.

export { configFromFlags, FLAGS, type Flag, type FlagValues, flagsFromQuery, flagsToArgs, flagsToQuery } from "./flags.js";
export { describeModel, formatJson, formatTable, runDigest, sortByP99 } from "./format.js";
export { Histogram } from "./histogram.js";
export { type AlgorithmResult, type BackendResult, type Progress, type RunOptions, simulate } from "./model.js";
export { exp, ln, Rng } from "./random.js";
export {
  type FailureWindow,
  formatService,
  type ModelConfig,
  normalize,
  parseDuration,
  parseFailure,
  parseService,
  parseSlow,
  type Service,
  type SimConfig,
  type SlowBackend,
  serviceMeanUs,
} from "./spec.js";
