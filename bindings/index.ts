// The runtime-neutral entry: everything here works unchanged in Node, Deno
// and browsers (the Wasm is inlined and compiled synchronously).

export type { Algorithm } from "./algorithms.js";
export { ALGORITHMS, algorithmId } from "./algorithms.js";
export type {
  AcquireAsyncOptions,
  AcquireOptions,
  AddOptions,
  BackendSnapshot,
  BackendSpec,
  BackendState,
  BalancerEventMap,
  BalancerOptions,
  QueueSnapshot,
  ReleaseOptions,
  Snapshot,
  StateChangeReason,
} from "./balancer.js";
export { BackendEvent, Balancer, ChoiceLease, coarseClock, Lease, MAX_ACTIVE, MAX_WEIGHT, StateChangeEvent } from "./balancer.js";
export type { ErrorCode } from "./errors.js";
export {
  CapacityError,
  DuplicateBackendError,
  InvalidArgumentError,
  LeastconnError,
  QueueFullError,
  QueueTimeoutError,
  UnavailableError,
  UnderflowError,
  UnknownAlgorithmError,
  UnknownBackendError,
  UnsupportedError,
} from "./errors.js";
export type { EjectionOptions, QueueOptions, SlowStartOptions } from "./options.js";
export { EJECTION_DEFAULTS, QUEUE_DEFAULTS } from "./options.js";
