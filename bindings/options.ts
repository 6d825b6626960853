// Validation of the Balancer's resilience options (limits, queue, ejection,
// slow start, peak-ewma decay) into plain normalized records with every
// default filled in. Each bad value throws InvalidArgumentError naming its
// field by its path ("ejection.baseMs"), in the message style of errors.ts.

import { DECAY_DEFAULT_MS } from "./core.js";
import { describe, InvalidArgumentError } from "./errors.js";

/** Largest accepted duration or count in these options: 2^31 - 1 (setTimeout's own limit). */
export const MAX_MS = 0x7fffffff;

export function invalid(field: string, what: string | undefined, rule: string, value: unknown): InvalidArgumentError {
  const head = what === undefined ? field : `${field}: ${what}`;
  return new InvalidArgumentError(field, `${head} must be ${rule}, got ${describe(value)}`);
}

/** An integer from min to max, or `fallback` when undefined. */
export function intIn(value: unknown, min: number, max: number, field: string, fallback?: number, what?: string): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(field, what, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

// Option bags are optional, but when given must be plain objects.
export function checkOptions<T extends object>(value: T | undefined, field: string): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw invalid(field, undefined, "an object", value);
  }
  return value;
}

export interface QueueOptions {
  /** Most waiters at once (0..2^31-1; 0: never wait). Default 1024. */
  limit?: number;
  /** Longest wait of acquireAsync() in ms, wall time (0..2^31-1). Default 5,000. */
  timeoutMs?: number;
}

export interface EjectionOptions {
  /** Failures in a row that eject a backend (1..2^31-1). Default 5. */
  consecutiveFailures?: number;
  /** First ejection's length in ms; the k-th lasts baseMs * 2^(k-1), at most maxMs. Default 30,000. */
  baseMs?: number;
  /** Longest ejection in ms (>= baseMs). Default max(300,000, baseMs). */
  maxMs?: number;
  /** Most of the up-or-ejected backends ejected at once, in percent (0..100); at least one, never all. Default 10. */
  maxPercent?: number;
}

export interface SlowStartOptions {
  /** How long the ramp lasts, ms (1..2^31-1). Required. */
  windowMs: number;
  /** Weight at the start of the ramp, percent of the full weight (1..100). Default 10. */
  minPercent?: number;
}

export type QueueConfig = Required<QueueOptions>;
export type EjectionConfig = Required<EjectionOptions>;
export type SlowStartConfig = Required<SlowStartOptions>;

export const QUEUE_DEFAULTS: QueueConfig = { limit: 1024, timeoutMs: 5000 };
/** Envoy's outlier-detection defaults (consecutive_5xx, base_ejection_time, max_ejection_time, max_ejection_percent). */
export const EJECTION_DEFAULTS: EjectionConfig = { consecutiveFailures: 5, baseMs: 30_000, maxMs: 300_000, maxPercent: 10 };
export const SLOW_START_MIN_PERCENT = 10;

export function normalizeQueue(value: QueueOptions | undefined): QueueConfig {
  const o = checkOptions(value, "queue");
  return {
    limit: intIn(o.limit, 0, MAX_MS, "queue.limit", QUEUE_DEFAULTS.limit),
    timeoutMs: intIn(o.timeoutMs, 0, MAX_MS, "queue.timeoutMs", QUEUE_DEFAULTS.timeoutMs),
  };
}

/** undefined: ejection is off. */
export function normalizeEjection(value: EjectionOptions | undefined): EjectionConfig | undefined {
  if (value === undefined) return undefined;
  const o = checkOptions(value, "ejection");
  const d = EJECTION_DEFAULTS;
  const baseMs = intIn(o.baseMs, 1, MAX_MS, "ejection.baseMs", d.baseMs);
  return {
    consecutiveFailures: intIn(o.consecutiveFailures, 1, MAX_MS, "ejection.consecutiveFailures", d.consecutiveFailures),
    baseMs,
    maxMs: intIn(o.maxMs, baseMs, MAX_MS, "ejection.maxMs", Math.max(d.maxMs, baseMs)),
    maxPercent: intIn(o.maxPercent, 0, 100, "ejection.maxPercent", d.maxPercent),
  };
}

/** undefined: slow start is off. */
export function normalizeSlowStart(value: SlowStartOptions | undefined): SlowStartConfig | undefined {
  if (value === undefined) return undefined;
  const o = checkOptions(value, "slowStart");
  return {
    windowMs: intIn(o.windowMs, 1, MAX_MS, "slowStart.windowMs"),
    minPercent: intIn(o.minPercent, 1, 100, "slowStart.minPercent", SLOW_START_MIN_PERCENT),
  };
}

/** Peak-ewma's time constant: a number of ms > 0 (Infinity: costs never decay). */
export function checkDecay(value: unknown): number {
  if (value === undefined) return DECAY_DEFAULT_MS;
  if (typeof value !== "number" || !(value > 0)) throw invalid("decayMs", undefined, "a number of milliseconds above 0", value);
  return value;
}

/** A per-backend limit: an integer 1..max, or undefined (no limit). */
export function checkMaxConnections(value: unknown, max: number, field = "maxConnections", what?: string): number | undefined {
  if (value === undefined) return undefined;
  return intIn(value, 1, max, field, undefined, what);
}

/** A per-call wait: like queue.timeoutMs. */
export function checkTimeout(value: unknown, fallback: number): number {
  return intIn(value, 0, MAX_MS, "timeoutMs", fallback);
}
