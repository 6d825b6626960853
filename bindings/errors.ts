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
  | "LC_ERR_UNAVAILABLE"
  // Shared tables only (leastconn/shared): LockTimeoutError, DetachedError.
  | "LC_ERR_LOCK_TIMEOUT"
  | "LC_ERR_DETACHED";

// Each class names itself with a string, not `new.target.name`, so minified
// bundles report the same `name` as the others.
export class LeastconnError extends Error {
  override name = "LeastconnError";
  declare readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** The base classes made by coded() below: a LeastconnError built from one value. @internal */
export type CodedErrorClass<T> = new (value: T) => LeastconnError;

/**
 * The base of an error class with one argument: its name, its message made
 * from the argument, and the field (if any) that keeps the argument. The code
 * follows from the name: UnknownBackendError has LC_ERR_UNKNOWN_BACKEND (the
 * list is ErrorCode above). One factory rather than ten constructors, for the
 * size of the browser files.
 */
function coded<T>(name: string, message: (value: T) => string, field?: string): CodedErrorClass<T> {
  const code = `LC_ERR_${name
    .slice(0, -5)
    .replace(/\B(?=[A-Z])/g, "_")
    .toUpperCase()}` as ErrorCode;
  return class extends LeastconnError {
    constructor(value: T) {
      super(code, message(value));
      this.name = name;
      if (field !== undefined) (this as Record<string, unknown>)[field] = value;
    }
  };
}

const quoted = (value: unknown): string => JSON.stringify(value);
const same = (message: string): string => message;

/** A name that is not (or no longer) in the table. */
export class UnknownBackendError extends coded("UnknownBackendError", (b: string) => `unknown backend ${quoted(b)}`, "backend") {
  declare readonly backend: string;
}

/** Adding a name that is already in the table. */
export class DuplicateBackendError extends coded("DuplicateBackendError", (b: string) => `backend ${quoted(b)} already exists`, "backend") {
  declare readonly backend: string;
}

/** A value of the wrong type or out of range; `field` names it, and so does the message. */
export class InvalidArgumentError extends coded("InvalidArgumentError", same) {
  declare readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

export class UnknownAlgorithmError extends coded("UnknownAlgorithmError", (a: unknown) => `unknown algorithm ${quoted(a)}`, "algorithm") {
  declare readonly algorithm: unknown;
}

/** Releasing a backend whose active count is already 0; the count stays 0. */
export class UnderflowError extends coded(
  "UnderflowError",
  (b: string) => `backend ${quoted(b)} has no active connection to release`,
  "backend",
) {
  declare readonly backend: string;
}

/** The core could not grow its memory for more backends. */
export class CapacityError extends coded("CapacityError", same) {}

/** An operation this Balancer cannot do (membership of a shared table is fixed). */
export class UnsupportedError extends coded("UnsupportedError", same) {}

/** acquireAsync(): every backend is full and the queue already holds `limit` waiters. */
export class QueueFullError extends coded(
  "QueueFullError",
  (limit: number) => `every backend is full and the queue is full (${limit} waiting)`,
  "limit",
) {
  declare readonly limit: number;
}

/** acquireAsync(): waited `timeoutMs` in the queue without being handed a backend. */
export class QueueTimeoutError extends coded("QueueTimeoutError", (ms: number) => `no backend was free within ${ms} ms`, "timeoutMs") {
  declare readonly timeoutMs: number;
}

/**
 * acquireAsync(): nothing could take the request even with free slots (no
 * backend up with weight > 0: all down, ejected, draining or weight 0), so
 * waiting would not help.
 */
export class UnavailableError extends coded("UnavailableError", (m: string | undefined) => m ?? "no backend is up") {
  constructor(message?: string) {
    super(message);
  }
}

/** A value as error messages show it: strings quoted (the first 40 characters), kinds for the rest. */
export function describe(value: unknown): string {
  const kind = typeof value;
  if (value === undefined) return "nothing";
  if (typeof value === "string") return value.length > 40 ? quoted(value.slice(0, 40)) + "..." : quoted(value);
  if (kind === "number" || kind === "boolean" || value === null) return String(value);
  if (Array.isArray(value)) return "an array";
  return kind === "object" ? "an object" : `a ${kind}`;
}
