// Typed errors of the public API. Each class has one stable `code`; the node
// maps codes to protocol error numbers, so a code never changes meaning.
// Every call that throws one of these has changed nothing.

export type ErrorCode =
  | "LC_ERR_UNKNOWN_BACKEND"
  | "LC_ERR_DUPLICATE_BACKEND"
  | "LC_ERR_INVALID_ARGUMENT"
  | "LC_ERR_UNKNOWN_ALGORITHM"
  | "LC_ERR_UNDERFLOW"
  | "LC_ERR_CAPACITY"
  | "LC_ERR_UNSUPPORTED";

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

/** A value of the wrong type or out of range; `field` names it. */
export class InvalidArgumentError extends LeastconnError {
  override name = "InvalidArgumentError";
  readonly field: string;
  constructor(field: string, message: string) {
    super("LC_ERR_INVALID_ARGUMENT", `${field}: ${message}`);
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
