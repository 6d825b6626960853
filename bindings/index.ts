// The runtime-neutral entry: everything here works unchanged in Node, Deno
// and browsers (the Wasm is inlined and compiled synchronously).

export { BackendEvent, Balancer, ChoiceLease, Lease, MAX_ACTIVE, MAX_WEIGHT, coarseClock } from "./balancer.js";
export type { AcquireOptions, BackendSnapshot, BackendSpec, BackendState, BalancerEventMap, BalancerOptions } from "./balancer.js";
export { ALGORITHMS, algorithmId } from "./algorithms.js";
export type { Algorithm } from "./algorithms.js";
export {
  CapacityError,
  DuplicateBackendError,
  InvalidArgumentError,
  LeastconnError,
  UnderflowError,
  UnknownAlgorithmError,
  UnknownBackendError,
  UnsupportedError,
} from "./errors.js";
export type { ErrorCode } from "./errors.js";
