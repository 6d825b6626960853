// Typed errors of the public API. Each class has one stable `code`; the node
// maps codes to protocol error numbers, so a code never changes meaning.
// Every call that throws one of these has changed nothing.
//
// Messages have one style, shared with the node's replies: what is wrong,
// what it must be, what it got (`weight must be an integer from 0 to
// 1000000, got 1.5`), the value shown by describe().

export type ErrorCode =
  | "LC_ERR_UNKNOWN_BACKEND"
  | "LC_ERR_DUPLICATE_BACKEND"
  | "LC_ERR_INVALID_ARGUMENT"
  | "LC_ERR_UNKNOWN_ALGORITHM"
  | "LC_ERR_UNDERFLOW"
  | "LC_ERR_CAPACITY"
  | "LC_ERR_UNSUPPORTED"
  | "LC_ERR_QUEUE_FULL"
  | "LC_ERR_QUEUE_TIMEOUT"
  | "LC_ERR_UNAVAILABLE";

// Each class names itself with a string, not `new.target.name`, so minified
// bundles report the same `name` as the others.
export class LeastconnError extends Error {
  override name = "LeastconnError";
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** A name that is not (or no longer) in the table. */
export class UnknownBackendError extends LeastconnError {
  override name = "UnknownBackendError";
  readonly backend: string;
  constructor(backend: string) {
    super("LC_ERR_UNKNOWN_BACKEND", `unknown backend ${JSON.stringify(backend)}`);
    this.backend = backend;
  }
}

/** Adding a name that is already in the table. */
export class DuplicateBackendError extends LeastconnError {
  override name = "DuplicateBackendError";
  readonly backend: string;
  constructor(backend: string) {
    super("LC_ERR_DUPLICATE_BACKEND", `backend ${JSON.stringify(backend)} already exists`);
    this.backend = backend;
  }
}

/** A value of the wrong type or out of range; `field` names it, and so does the message. */
export class InvalidArgumentError extends LeastconnError {
  override name = "InvalidArgumentError";
  readonly field: string;
  constructor(field: string, message: string) {
    super("LC_ERR_INVALID_ARGUMENT", message);
    this.field = field;
  }
}

export class UnknownAlgorithmError extends LeastconnError {
  override name = "UnknownAlgorithmError";
  readonly algorithm: unknown;
  constructor(algorithm: unknown) {
    super("LC_ERR_UNKNOWN_ALGORITHM", `unknown algorithm ${JSON.stringify(algorithm)}`);
    this.algorithm = algorithm;
  }
}

/** Releasing a backend whose active count is already 0; the count stays 0. */
export class UnderflowError extends LeastconnError {
  override name = "UnderflowError";
  readonly backend: string;
  constructor(backend: string) {
    super("LC_ERR_UNDERFLOW", `backend ${JSON.stringify(backend)} has no active connection to release`);
    this.backend = backend;
  }
}

/** The core could not grow its memory for more backends. */
export class CapacityError extends LeastconnError {
  override name = "CapacityError";
  constructor(message: string) {
    super("LC_ERR_CAPACITY", message);
  }
}

/** An operation this Balancer cannot do (membership of a shared table is fixed). */
export class UnsupportedError extends LeastconnError {
  override name = "UnsupportedError";
  constructor(message: string) {
    super("LC_ERR_UNSUPPORTED", message);
  }
}

/** acquireAsync(): every backend is full and the queue already holds `limit` waiters. */
export class QueueFullError extends LeastconnError {
  override name = "QueueFullError";
  readonly limit: number;
  constructor(limit: number) {
    super("LC_ERR_QUEUE_FULL", `every backend is full and the queue is full (${limit} waiting)`);
    this.limit = limit;
  }
}

/** acquireAsync(): waited `timeoutMs` in the queue without being handed a backend. */
export class QueueTimeoutError extends LeastconnError {
  override name = "QueueTimeoutError";
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super("LC_ERR_QUEUE_TIMEOUT", `no backend was free within ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * acquireAsync(): nothing could take the request even with free slots (no
 * backend up with weight > 0: all down, ejected, draining or weight 0), so
 * waiting would not help.
 */
export class UnavailableError extends LeastconnError {
  override name = "UnavailableError";
  constructor(message = "no backend is up") {
    super("LC_ERR_UNAVAILABLE", message);
  }
}

/** A value as error messages show it: strings quoted (the first 40 characters), kinds for the rest. */
export function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "string") return value.length > 40 ? JSON.stringify(value.slice(0, 40)) + "..." : JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}
