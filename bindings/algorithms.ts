// Algorithm names and their numbers in the core. Names are case-insensitive
// and `_` equals `-` (PROTOCOL.md); the numbers come from the core's own
// assembly/constants.ts.

import {
  ALG_LEAST_CONN,
  ALG_P2C,
  ALG_PEAK_EWMA,
  ALG_RANDOM,
  ALG_ROUND_ROBIN,
  ALG_WEIGHTED_LEAST_CONN,
  ALG_WEIGHTED_ROUND_ROBIN,
} from "../assembly/constants.js";
import { UnknownAlgorithmError } from "./errors.js";

export const ALGORITHMS = [
  "least-connections",
  "weighted-least-connections",
  "round-robin",
  "weighted-round-robin",
  "power-of-two-choices",
  "random",
  "peak-ewma",
] as const;

export type Algorithm = (typeof ALGORITHMS)[number];

export const AlgorithmId = {
  LeastConnections: ALG_LEAST_CONN,
  WeightedLeastConnections: ALG_WEIGHTED_LEAST_CONN,
  RoundRobin: ALG_ROUND_ROBIN,
  WeightedRoundRobin: ALG_WEIGHTED_ROUND_ROBIN,
  PowerOfTwoChoices: ALG_P2C,
  Random: ALG_RANDOM,
  PeakEwma: ALG_PEAK_EWMA,
} as const;
export type AlgorithmId = (typeof AlgorithmId)[keyof typeof AlgorithmId];

// ALGORITHMS lists the names in the core's order (ALG_* are 0..6 in it), so
// a name's index is its number; these are the other spellings.
const ALIASES: Record<string, AlgorithmId> = {
  leastconn: ALG_LEAST_CONN,
  "least-conn": ALG_LEAST_CONN,
  p2c: ALG_P2C,
};

// Raw spellings already seen, so a per-request algorithm costs one lookup.
const seen = new Map<string, AlgorithmId>();

/** The core's number for an algorithm name; throws UnknownAlgorithmError. */
export function algorithmId(name: unknown): AlgorithmId {
  if (typeof name !== "string") throw new UnknownAlgorithmError(name);
  const hit = seen.get(name);
  if (hit !== undefined) return hit;
  const key = name.toLowerCase().replaceAll("_", "-");
  const at = (ALGORITHMS as readonly string[]).indexOf(key);
  if (at < 0 && !Object.hasOwn(ALIASES, key)) throw new UnknownAlgorithmError(name);
  const id = at < 0 ? ALIASES[key]! : (at as AlgorithmId);
  if (seen.size < 256) seen.set(name, id);
  return id;
}

// An id is its name's index (test/core/leases.test.ts checks that they agree).
export function algorithmName(id: AlgorithmId): Algorithm {
  return ALGORITHMS[id];
}
