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

// Every name (in ALGORITHMS' order) with its number, then the other spellings.
const IDS: readonly AlgorithmId[] = [
  ALG_LEAST_CONN,
  ALG_WEIGHTED_LEAST_CONN,
  ALG_ROUND_ROBIN,
  ALG_WEIGHTED_ROUND_ROBIN,
  ALG_P2C,
  ALG_RANDOM,
  ALG_PEAK_EWMA,
];
const ALIASES = new Map<string, AlgorithmId>([
  ...ALGORITHMS.map((name, i) => [name, IDS[i]!] as const),
  ["leastconn", ALG_LEAST_CONN],
  ["least-conn", ALG_LEAST_CONN],
  ["p2c", ALG_P2C],
]);

// Raw spellings already seen, so a per-request algorithm costs one lookup.
const seen = new Map<string, AlgorithmId>();

/** The core's number for an algorithm name; throws UnknownAlgorithmError. */
export function algorithmId(name: unknown): AlgorithmId {
  if (typeof name !== "string") throw new UnknownAlgorithmError(name);
  const hit = seen.get(name);
  if (hit !== undefined) return hit;
  const id = ALIASES.get(name.toLowerCase().replaceAll("_", "-"));
  if (id === undefined) throw new UnknownAlgorithmError(name);
  if (seen.size < 256) seen.set(name, id);
  return id;
}

// Indexed by id, so the order of ALGORITHMS need not follow the core's numbers.
const NAMES: Algorithm[] = [];
for (const [i, name] of ALGORITHMS.entries()) NAMES[IDS[i]!] = name;

export function algorithmName(id: AlgorithmId): Algorithm {
  return NAMES[id]!;
}
