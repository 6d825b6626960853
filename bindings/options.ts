// Validation of every argument the Balancer takes (names, weights, counts,
// the backends list, seed, signal, release options) and of its resilience options (limits, queue, ejection,
// slow start, peak-ewma decay) into plain normalized records with every
// default filled in. Each bad value throws InvalidArgumentError naming its
// field by its path ("ejection.baseMs"), in the message style of errors.ts.

import { type AlgorithmId, algorithmId } from "./algorithms.js";
import type { ReleaseOptions } from "./balancer.js";
import { DECAY_DEFAULT_MS } from "./core.js";
import { DuplicateBackendError, describe, InvalidArgumentError } from "./errors.js";

/** Largest accepted duration or count in these options: 2^31 - 1 (setTimeout's own limit). */
export const MAX_MS = 0x7fffffff;

/** "field must be rule, got value", or with `what`: "field: what must be rule, got value". */
export function invalid(field: string, rule: string, value: unknown, what?: string): InvalidArgumentError {
  const head = what === undefined ? field : `${field}: ${what}`;
  return new InvalidArgumentError(field, `${head} must be ${rule}, got ${describe(value)}`);
}

/** An integer from min to max, or `fallback` when undefined. */
export function intIn(value: unknown, min: number, max: number, field: string, fallback?: number, what?: string): number {
  if (value === undefined && fallback !== undefined) return fallback;
  // isInteger() is false for anything but a number.
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    throw invalid(field, `an integer from ${min} to ${max}`, value, what);
  }
  return value as number;
}

// Option bags are optional, but when given must be plain objects.
export function checkOptions<T extends object>(value: T | undefined, field: string): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw invalid(field, "an object", value);
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

// One rule per field of an option bag, checked in this order: [key, min, max].
// A min given as a key is that field's value (checked before it), and the
// field's default is then at least that value (ejection.maxMs >= baseMs).
type Rule = readonly [key: string, min: number | string, max: number];

/** An option bag's integers, each from its rule, defaults filled in from `defaults`. */
function bag(value: object | undefined, field: string, defaults: Record<string, number>, rules: readonly Rule[]): Record<string, number> {
  const o = checkOptions(value, field) as Record<string, unknown>;
  const out: Record<string, number> = {};
  for (const [key, min, max] of rules) {
    const lo = typeof min === "number" ? min : out[min]!;
    const fallback = defaults[key];
    out[key] = intIn(o[key], lo, max, `${field}.${key}`, fallback === undefined ? undefined : Math.max(fallback, lo));
  }
  return out;
}

export function normalizeQueue(value: QueueOptions | undefined): QueueConfig {
  return bag(value, "queue", QUEUE_DEFAULTS, [
    ["limit", 0, MAX_MS],
    ["timeoutMs", 0, MAX_MS],
  ]) as QueueConfig;
}

/** undefined: ejection is off. */
export function normalizeEjection(value: EjectionOptions | undefined): EjectionConfig | undefined {
  if (value === undefined) return undefined;
  return bag(value, "ejection", EJECTION_DEFAULTS, [
    ["consecutiveFailures", 1, MAX_MS],
    ["baseMs", 1, MAX_MS],
    ["maxMs", "baseMs", MAX_MS],
    ["maxPercent", 0, 100],
  ]) as EjectionConfig;
}

/** undefined: slow start is off. */
export function normalizeSlowStart(value: SlowStartOptions | undefined): SlowStartConfig | undefined {
  if (value === undefined) return undefined;
  return bag(value, "slowStart", { minPercent: SLOW_START_MIN_PERCENT }, [
    ["windowMs", 1, MAX_MS],
    ["minPercent", 1, 100],
  ]) as SlowStartConfig;
}

/** Peak-ewma's time constant: a number of ms > 0 (Infinity: costs never decay). */
export function checkDecay(value: unknown): number {
  if (value === undefined) return DECAY_DEFAULT_MS;
  if (typeof value !== "number" || !(value > 0)) throw invalid("decayMs", "a number of milliseconds above 0", value);
  return value;
}

/** A per-backend limit: an integer 1..MAX_ACTIVE, or undefined (no limit). */
export function checkMaxConnections(value: unknown, field = "maxConnections", what?: string): number | undefined {
  if (value === undefined) return undefined;
  return intIn(value, 1, MAX_ACTIVE, field, undefined, what);
}

/** A per-call wait: like queue.timeoutMs. */
export function checkTimeout(value: unknown, fallback: number): number {
  return intIn(value, 0, MAX_MS, "timeoutMs", fallback);
}

/** Largest accepted weight. */
export const MAX_WEIGHT = 1_000_000;
/** Largest accepted active count in a snapshot (2^31 - 1). */
export const MAX_ACTIVE = 0x7fffffff;

// Validators, shared with the node so that its replies say what the library
// says. An argument is named by itself ("backend must be ..."); an item of
// the `backends` option by its path and what it is ("backends[1].weight: a
// weight must be ...").
/** A backend name: a non-empty string. */
export function checkName(name: unknown, field = "backend", what?: string): string {
  if (typeof name !== "string" || name.length === 0) throw invalid(field, "a non-empty string", name, what);
  return name;
}

/** A weight 0..MAX_WEIGHT; `fallback` (when given) for undefined. */
export function checkWeight(value: unknown, field = "weight", what?: string, fallback?: number): number {
  return intIn(value, 0, MAX_WEIGHT, field, fallback, what);
}

/** An active count 0..MAX_ACTIVE; `fallback` (when given) for undefined. */
export function checkActive(value: unknown, field = "active", what?: string, fallback?: number): number {
  return intIn(value, 0, MAX_ACTIVE, field, fallback, what);
}

/** An algorithm name (any spelling PROTOCOL.md allows) to its number. */
export function checkAlgorithm(name: unknown): AlgorithmId {
  if (typeof name !== "string") throw invalid("algorithm", "a string", name);
  return algorithmId(name);
}

export interface NormalSpec {
  name: string;
  weight: number;
  connections: number;
  maxConnections: number | undefined;
}

export function normalizeSpecs(list: unknown): NormalSpec[] {
  if (!Array.isArray(list)) throw invalid("backends", "an array of names or {name, weight, connections} objects", list);
  const seen = new Set<string>();
  const out: NormalSpec[] = [];
  list.forEach((item: unknown, i) => {
    const field = `backends[${i}]`;
    // A name alone is a backend with every default: an object without the other fields.
    let o: Record<string, unknown> = {};
    if (typeof item !== "string") {
      if (item === null || typeof item !== "object" || Array.isArray(item)) {
        throw new InvalidArgumentError(field, `${field}: must be a name or {name, weight, connections}, got ${describe(item)}`);
      }
      o = item as Record<string, unknown>;
    }
    const spec: NormalSpec = {
      name: typeof item === "string" ? checkName(item, field, "a backend name") : checkName(o.name, `${field}.name`, "a backend name"),
      weight: checkWeight(o.weight, `${field}.weight`, "a weight", 1),
      connections: checkActive(o.connections, `${field}.connections`, "an active count", 0),
      maxConnections: checkMaxConnections(o.maxConnections, `${field}.maxConnections`, "a connection limit"),
    };
    if (seen.has(spec.name)) throw new DuplicateBackendError(spec.name);
    seen.add(spec.name);
    out.push(spec);
  });
  return out;
}

export function checkSeed(seed: unknown): number {
  if (!Number.isSafeInteger(seed) || (seed as number) < 0) {
    throw new InvalidArgumentError("seed", `seed: must be an integer from 0 to 2^53-1, got ${describe(seed)}`);
  }
  return seed as number;
}

/** A release's `ok`: true when absent; null (no outcome) only where `orNull` (the protocol has none). */
export function checkOk(options: ReleaseOptions | undefined, orNull?: boolean): boolean | null {
  if (options === undefined) return true;
  const { ok } = checkOptions(options, "options");
  if (ok === undefined) return true;
  if (typeof ok !== "boolean" && !(orNull && ok === null)) throw invalid("ok", "a boolean", ok);
  return ok;
}

export function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  const s = signal as AbortSignal | null;
  // Optional chaining also turns away null and every primitive.
  if (typeof s?.aborted !== "boolean" || typeof s.addEventListener !== "function") {
    throw invalid("signal", "an AbortSignal", signal);
  }
  return s;
}
