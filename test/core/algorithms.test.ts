// Known-answer tables for the six algorithms: one row per case, each with
// the exact pick sequence (and power-of-two-choices sample pairs) and the
// final active counts. Rows run against the Balancer and, as a cross-check
// that the table and the reference model agree, against ./model.ts too.
// Also owns the generator's known answers (PCG32) and hand-derived draws.

import { describe, expect, it } from "vitest";
import { EWMA_PENALTY } from "../../assembly/constants.js";
import { AlgorithmId, algorithmName } from "../../bindings/algorithms.js";
import { CoreTable, ERR_RANGE, NONE, RAMP_ONE, SAMPLE_FIRST, SAMPLE_SECOND, STATE_DOWN, STATE_EJECTED } from "../../bindings/core.js";
import { Balancer, type BalancerOptions, ChoiceLease, type Lease } from "../../bindings/index.js";
import { Model, type ModelOptions, Pcg32 } from "./model.js";

// Ops, one string each:
//   "a" / "a:<alg>"     acquire (default / given algorithm), recorded in picks
//   "ar" / "ar:<alg>"   acquire and release the lease at once, recorded in picks
//   "rel:n"             release(n)          "set:n=5"   setActive(n, 5)
//   "down:n" "up:n"     markDown / markUp   "rm:n"      remove(n)
//   "w:n=3"             setWeight(n, 3)     "add:n" / "add:n=3"  add (weight 3)
interface Row {
  title: string;
  options: Omit<BalancerOptions, "clock"> & ModelOptions;
  ops: string[];
  picks: Array<string | null>;
  /** Active counts after the ops, in table order. */
  active: number[];
  /** Names after the ops, when they differ from options.backends. */
  names?: string[];
  /** power-of-two-choices: [sampled names, their counts] per pick. */
  samples?: Array<[string[], number[]]>;
}

const api = (n: number): string[] => Array.from({ length: n }, (_, i) => `api-${i + 1}`);
const times = (n: number, op: string): string[] => Array<string>(n).fill(op);
const repeat = <T>(n: number, xs: T[]): T[] => Array.from({ length: n }, () => xs).flat();
const ALL_ALGORITHMS = [
  "least-connections",
  "weighted-least-connections",
  "round-robin",
  "weighted-round-robin",
  "power-of-two-choices",
  "random",
];

const ROWS: Row[] = [
  // ---- least-connections ----
  {
    title: "seed example: api-1 then api-2, counts {1,1,0}",
    options: { backends: api(3) },
    ops: ["a", "a"],
    picks: ["api-1", "api-2"],
    active: [1, 1, 0],
  },
  {
    title: "snapshot counts 5/2/8 (initial connections) pick api-2 until it ties api-1",
    options: {
      backends: [
        { name: "api-1", connections: 5 },
        { name: "api-2", connections: 2 },
        { name: "api-3", connections: 8 },
      ],
    },
    ops: times(4, "a"),
    picks: ["api-2", "api-2", "api-2", "api-1"],
    active: [6, 5, 8],
  },
  {
    title: "snapshot counts 5/2/8 via setActive pick api-2",
    options: { backends: api(3) },
    ops: ["set:api-1=5", "set:api-2=2", "set:api-3=8", "a"],
    picks: ["api-2"],
    active: [5, 3, 8],
  },
  {
    title: "ties go to the lowest index",
    options: {
      backends: [
        { name: "api-1", connections: 2 },
        { name: "api-2", connections: 1 },
        { name: "api-3", connections: 1 },
      ],
    },
    ops: times(5, "a"),
    picks: ["api-2", "api-3", "api-1", "api-2", "api-3"],
    active: [3, 3, 3],
  },
  {
    title: "tieBreak first: released leases keep picking api-1",
    options: { backends: api(3) },
    ops: times(4, "ar"),
    picks: ["api-1", "api-1", "api-1", "api-1"],
    active: [0, 0, 0],
  },
  {
    title: "tieBreak rotate: released leases rotate api-1, api-2, api-3, api-1",
    options: { backends: api(3), tieBreak: "rotate" },
    ops: times(4, "ar"),
    picks: ["api-1", "api-2", "api-3", "api-1"],
    active: [0, 0, 0],
  },
  {
    title: "tieBreak rotate only rotates among the tied",
    options: { backends: [{ name: "api-1" }, { name: "api-2", connections: 5 }, { name: "api-3" }], tieBreak: "rotate" },
    ops: times(4, "ar"),
    picks: ["api-1", "api-3", "api-1", "api-3"],
    active: [0, 5, 0],
  },
  {
    title: "tieBreak rotate: the cursor follows picks of every algorithm",
    options: { backends: api(3), tieBreak: "rotate" },
    ops: ["ar:round-robin", "ar:least-connections", "ar:round-robin", "ar"],
    picks: ["api-1", "api-2", "api-2", "api-3"],
    active: [0, 0, 0],
  },
  {
    title: "tieBreak first: the same ops without rotation",
    options: { backends: api(3) },
    ops: ["ar:round-robin", "ar:least-connections", "ar:round-robin", "ar"],
    picks: ["api-1", "api-1", "api-2", "api-1"],
    active: [0, 0, 0],
  },
  {
    title: "down, draining and weight-0 backends are never picked",
    options: { backends: [{ name: "a" }, { name: "b" }, { name: "c", connections: 1 }, { name: "d" }, { name: "e", connections: 1 }] },
    ops: ["down:a", "rm:c", "w:d=0", ...times(3, "a")],
    picks: ["b", "b", "e"],
    active: [0, 2, 1, 0, 2],
  },
  {
    title: "aliases and spellings: leastconn, LEAST_CONNECTIONS, Least-Conn",
    options: { backends: api(3), algorithm: "round-robin" },
    ops: ["ar:leastconn", "ar:LEAST_CONNECTIONS", "ar:Least-Conn", "a"],
    picks: ["api-1", "api-1", "api-1", "api-1"],
    active: [1, 0, 0],
  },
  // ---- weighted least-connections ----
  {
    title: "weighted-least-connections with weights 1/2/3",
    options: {
      backends: [
        { name: "a", weight: 1 },
        { name: "b", weight: 2 },
        { name: "c", weight: 3 },
      ],
      algorithm: "weighted-least-connections",
    },
    ops: times(7, "a"),
    picks: ["a", "b", "c", "c", "b", "c", "a"],
    active: [2, 2, 3],
  },
  {
    title: "weighted-least-connections: equal ratios 1/3 and 2/6 tie to the lowest index",
    options: {
      backends: [
        { name: "x", weight: 3, connections: 1 },
        { name: "y", weight: 6, connections: 2 },
      ],
      algorithm: "Weighted_Least_Connections",
    },
    ops: ["a", "a"],
    picks: ["x", "y"],
    active: [2, 3],
  },
  {
    title: "weighted-least-connections: 2/6 before 1/3 also ties to the lowest index",
    options: {
      backends: [
        { name: "y", weight: 6, connections: 2 },
        { name: "x", weight: 3, connections: 1 },
      ],
      algorithm: "weighted-least-connections",
    },
    ops: ["a"],
    picks: ["y"],
    active: [3, 1],
  },
  {
    title: "weighted-least-connections at large counts: 2147483646/999999 < 2147483647/1000000 is false",
    options: {
      backends: [
        { name: "p", weight: 1_000_000, connections: 2147483647 },
        { name: "q", weight: 999_999, connections: 2147483646 },
      ],
      algorithm: "weighted-least-connections",
    },
    // p: 2147.483647, q: 2147.48579... so p is smaller.
    ops: ["ar"],
    picks: ["p"],
    active: [2147483647, 2147483646],
  },
  {
    title: "weighted-least-connections: weight 0 is never picked",
    options: {
      backends: [
        { name: "z", weight: 0 },
        { name: "o", weight: 1, connections: 100 },
      ],
      algorithm: "weighted-least-connections",
    },
    ops: times(2, "a"),
    picks: ["o", "o"],
    active: [0, 102],
  },
  {
    title: "weighted-least-connections with tieBreak rotate",
    options: {
      backends: [
        { name: "a", weight: 2 },
        { name: "b", weight: 1 },
        { name: "c", weight: 2 },
      ],
      algorithm: "weighted-least-connections",
      tieBreak: "rotate",
    },
    ops: times(4, "ar"),
    picks: ["a", "b", "c", "a"],
    active: [0, 0, 0],
  },
  // ---- round-robin ----
  {
    title: "round-robin cycles in order",
    options: { backends: api(3), algorithm: "round-robin" },
    ops: times(5, "a"),
    picks: ["api-1", "api-2", "api-3", "api-1", "api-2"],
    active: [2, 2, 1],
  },
  {
    title: "round-robin skips down, draining and weight-0 backends",
    options: { backends: ["a", "b", { name: "c", connections: 1 }, "d", "e"], algorithm: "ROUND_ROBIN" },
    ops: ["down:b", "rm:c", "w:d=0", ...times(4, "a")],
    picks: ["a", "e", "a", "e"],
    active: [2, 0, 1, 0, 2],
  },
  {
    title: "round-robin: a backend that leaves before the cursor shifts it down",
    options: { backends: ["a", "b", "c", "d"], algorithm: "round-robin" },
    ops: ["ar", "rm:a", "a", "a"],
    picks: ["a", "b", "c"],
    active: [1, 1, 0],
    names: ["b", "c", "d"],
  },
  {
    title: "round-robin: a backend back up is picked in its turn",
    options: { backends: ["a", "b", "c"], algorithm: "round-robin" },
    ops: ["down:b", "a", "a", "up:b", "a", "a"],
    picks: ["a", "c", "a", "b"],
    active: [2, 1, 1],
  },
  // ---- smooth weighted round-robin ----
  {
    title: "weighted-round-robin 4/4/2: api-1, api-2, api-3, api-1, api-2, repeating",
    options: {
      backends: [
        { name: "api-1", weight: 4 },
        { name: "api-2", weight: 4 },
        { name: "api-3", weight: 2 },
      ],
      algorithm: "weighted-round-robin",
    },
    ops: times(15, "a"),
    picks: repeat(3, ["api-1", "api-2", "api-3", "api-1", "api-2"]),
    active: [6, 6, 3],
  },
  {
    title: "weighted-round-robin 5/1/1 (nginx's example): a a b a c a a",
    options: {
      backends: [
        { name: "a", weight: 5 },
        { name: "b", weight: 1 },
        { name: "c", weight: 1 },
      ],
      algorithm: "weighted_round_robin",
    },
    ops: times(14, "ar"),
    picks: repeat(2, ["a", "a", "b", "a", "c", "a", "a"]),
    active: [0, 0, 0],
  },
  {
    title: "weighted-round-robin: a down backend keeps its current weight",
    options: {
      backends: [
        { name: "a", weight: 5 },
        { name: "b", weight: 1 },
        { name: "c", weight: 1 },
      ],
      algorithm: "weighted-round-robin",
    },
    ops: ["a", "a", "down:b", "a", "a", "up:b", "a", "a"],
    picks: ["a", "a", "c", "a", "a", "b"],
    active: [4, 1, 1],
  },
  {
    title: "weighted-round-robin: setWeight resets that backend's current weight",
    options: {
      backends: [
        { name: "a", weight: 2 },
        { name: "b", weight: 1 },
      ],
      algorithm: "weighted-round-robin",
    },
    ops: ["a", "w:a=2", "a"],
    picks: ["a", "a"],
    active: [2, 0],
  },
  {
    title: "weighted-round-robin: the same without setWeight",
    options: {
      backends: [
        { name: "a", weight: 2 },
        { name: "b", weight: 1 },
      ],
      algorithm: "weighted-round-robin",
    },
    ops: ["a", "a"],
    picks: ["a", "b"],
    active: [1, 1],
  },
  {
    title: "weighted-round-robin: a new backend starts at current weight 0",
    options: {
      backends: [
        { name: "a", weight: 1 },
        { name: "b", weight: 1 },
      ],
      algorithm: "weighted-round-robin",
    },
    // a: [1,1] -> a [-1,1]; add c: [0,2,1] -> b [0,-1,1]; [1,0,2] -> c [1,0,-1]
    ops: ["a", "add:c", "a", "a", "a"],
    picks: ["a", "b", "c", "a"],
    active: [2, 1, 1],
    names: ["a", "b", "c"],
  },
  // ---- random and power-of-two-choices (seeded; sequences from PCG32) ----
  {
    title: "random, default seed 0, 3 backends",
    options: { backends: api(3), algorithm: "random" },
    ops: times(12, "a"),
    picks: ["api-1", "api-2", "api-3", "api-3", "api-2", "api-2", "api-3", "api-3", "api-1", "api-3", "api-2", "api-3"],
    active: [2, 4, 6],
  },
  {
    title: "random, seed 42, 5 backends",
    options: { backends: api(5), algorithm: "Random", seed: 42 },
    ops: times(12, "a"),
    picks: ["api-3", "api-2", "api-5", "api-1", "api-2", "api-3", "api-2", "api-2", "api-3", "api-3", "api-2", "api-1"],
    active: [2, 5, 4, 0, 1],
  },
  {
    title: "random, seed 2^53-1, 4 backends",
    options: { backends: api(4), algorithm: "random", seed: Number.MAX_SAFE_INTEGER },
    ops: times(8, "a"),
    picks: ["api-2", "api-4", "api-1", "api-1", "api-4", "api-1", "api-3", "api-4"],
    active: [3, 1, 1, 3],
  },
  {
    title: "power-of-two-choices, default seed 0, 4 backends",
    options: { backends: api(4), algorithm: "p2c" },
    ops: times(8, "a"),
    picks: ["api-1", "api-3", "api-2", "api-4", "api-2", "api-4", "api-1", "api-1"],
    samples: [
      [
        ["api-1", "api-3"],
        [0, 0],
      ],
      [
        ["api-4", "api-3"],
        [0, 0],
      ],
      [
        ["api-3", "api-2"],
        [1, 0],
      ],
      [
        ["api-4", "api-3"],
        [0, 1],
      ],
      [
        ["api-2", "api-4"],
        [1, 1],
      ],
      [
        ["api-2", "api-4"],
        [2, 1],
      ],
      [
        ["api-1", "api-3"],
        [1, 1],
      ],
      [
        ["api-2", "api-1"],
        [2, 2],
      ],
    ],
    active: [3, 2, 1, 2],
  },
  {
    title: "power-of-two-choices, seed 7, api-2 down (never sampled)",
    options: { backends: api(5), algorithm: "power-of-two-choices", seed: 7 },
    ops: ["down:api-2", ...times(8, "a")],
    picks: ["api-1", "api-3", "api-5", "api-4", "api-4", "api-1", "api-3", "api-1"],
    samples: [
      [
        ["api-5", "api-1"],
        [0, 0],
      ],
      [
        ["api-4", "api-3"],
        [0, 0],
      ],
      [
        ["api-5", "api-1"],
        [0, 1],
      ],
      [
        ["api-3", "api-4"],
        [1, 0],
      ],
      [
        ["api-5", "api-4"],
        [1, 1],
      ],
      [
        ["api-4", "api-1"],
        [2, 1],
      ],
      [
        ["api-4", "api-3"],
        [2, 1],
      ],
      [
        ["api-4", "api-1"],
        [2, 2],
      ],
    ],
    active: [3, 0, 2, 2, 1],
  },
  {
    title: "power-of-two-choices, seed 1234, leases released: the tie goes to the lower index",
    options: { backends: api(6), algorithm: "P2C", seed: 1234 },
    ops: times(8, "ar"),
    picks: ["api-2", "api-2", "api-2", "api-2", "api-3", "api-3", "api-1", "api-1"],
    samples: [
      [
        ["api-2", "api-5"],
        [0, 0],
      ],
      [
        ["api-2", "api-5"],
        [0, 0],
      ],
      [
        ["api-3", "api-2"],
        [0, 0],
      ],
      [
        ["api-2", "api-5"],
        [0, 0],
      ],
      [
        ["api-3", "api-5"],
        [0, 0],
      ],
      [
        ["api-4", "api-3"],
        [0, 0],
      ],
      [
        ["api-1", "api-5"],
        [0, 0],
      ],
      [
        ["api-4", "api-1"],
        [0, 0],
      ],
    ],
    active: [0, 0, 0, 0, 0, 0],
  },
  {
    title: "power-of-two-choices with one eligible backend: no draw, sampled = [it]",
    options: { backends: api(3), algorithm: "power-of-two-choices" },
    ops: ["down:api-1", "w:api-3=0", "a", "a", "up:api-1", "w:api-3=1", ...times(3, "a")],
    // No draw while one is eligible, so the seed-0 stream starts at the third pick:
    // below(3)=floor(174444157*3/2^32)=0, below(2)=floor(2543941438*2/2^32)=1 -> 2: [api-1, api-3]
    // below(3)=floor(3225358906*3/2^32)=2, below(2)=floor(4049947941*2/2^32)=1:     [api-3, api-2]
    // below(3)=floor(2241886354*3/2^32)=1, below(2)=floor(1518253903*2/2^32)=0:     [api-2, api-1]
    picks: ["api-2", "api-2", "api-1", "api-3", "api-1"],
    samples: [
      [["api-2"], [0]],
      [["api-2"], [1]],
      [
        ["api-1", "api-3"],
        [0, 0],
      ],
      [
        ["api-3", "api-2"],
        [0, 2],
      ],
      [
        ["api-2", "api-1"],
        [2, 1],
      ],
    ],
    active: [2, 2, 1],
  },
  // ---- nothing can take traffic ----
  {
    title: "no backends: null for every algorithm",
    options: {},
    ops: ALL_ALGORITHMS.map((a) => `a:${a}`),
    picks: ALL_ALGORITHMS.map(() => null),
    active: [],
  },
  {
    title: "all down, weight 0 or draining: null for every algorithm, nothing counted",
    options: { backends: ["d", { name: "z", weight: 0 }, { name: "r", connections: 2 }] },
    ops: ["down:d", "rm:r", ...ALL_ALGORITHMS.map((a) => `a:${a}`)],
    picks: ALL_ALGORITHMS.map(() => null),
    active: [0, 0, 2],
  },
  {
    title: "null picks of random and p2c draw nothing: the sequence continues as if they never happened",
    options: { backends: api(3), algorithm: "random" },
    ops: ["down:api-1", "down:api-2", "down:api-3", "a", "a:p2c", "a", "up:api-1", "up:api-2", "up:api-3", ...times(6, "a")],
    // the same picks as the seed-0 random row and the hand derivation below
    picks: [null, null, null, "api-1", "api-2", "api-3", "api-3", "api-2", "api-2"],
    active: [1, 3, 2],
  },
];

type Sample = [string[], number[]];

function runBalancer(row: Row): { picks: Array<string | null>; samples: Sample[]; active: number[]; names: string[] } {
  let now = 0;
  const bal = new Balancer({ ...row.options, clock: () => now });
  const picks: Array<string | null> = [];
  const samples: Sample[] = [];
  for (const op of row.ops) {
    now++;
    const [verb, arg = ""] = op.split(/:(.*)/s) as [string, string?];
    const [name, value] = arg.split("=") as [string, string?];
    const n = Number(value);
    switch (verb) {
      case "a":
      case "ar": {
        const lease: Lease | null = bal.acquire(arg === "" ? undefined : { algorithm: arg });
        picks.push(lease?.backend ?? null);
        if (lease instanceof ChoiceLease) samples.push([[...lease.sampled], [...lease.sampledActive]]);
        if (lease !== null) {
          expect(lease.released).toBe(false);
          expect(bal.get(lease.backend).lastUsed).toBe(now);
        }
        if (verb === "ar") expect(lease?.release()).toBe(true);
        break;
      }
      case "rel":
        bal.release(name);
        break;
      case "set":
        bal.setActive(name, n);
        break;
      case "down":
        bal.markDown(name);
        break;
      case "up":
        bal.markUp(name);
        break;
      case "rm":
        bal.remove(name);
        break;
      case "w":
        bal.setWeight(name, n);
        break;
      case "add":
        bal.add(name, value === undefined ? {} : { weight: n });
        break;
      default:
        throw new Error(`bad op ${op}`);
    }
  }
  return { picks, samples, active: bal.snapshot().map((s) => s.active), names: bal.names };
}

function runModel(row: Row): { picks: Array<string | null>; samples: Sample[]; active: number[]; names: string[] } {
  const m = new Model(row.options);
  const picks: Array<string | null> = [];
  const samples: Sample[] = [];
  for (const op of row.ops) {
    const [verb, arg = ""] = op.split(/:(.*)/s) as [string, string?];
    const [name, value] = arg.split("=") as [string, string?];
    const n = Number(value);
    switch (verb) {
      case "a":
      case "ar": {
        const pick = m.acquire(0, arg === "" ? undefined : arg);
        picks.push(pick?.name ?? null);
        if (pick?.sampled !== undefined) samples.push([pick.sampled, pick.sampledActive!]);
        if (verb === "ar" && pick !== null) m.releaseLease(pick.lease);
        break;
      }
      case "rel":
        m.release(name);
        break;
      case "set":
        m.setActive(name, n);
        break;
      case "down":
        m.markDown(name);
        break;
      case "up":
        m.markUp(name);
        break;
      case "rm":
        m.remove(name);
        break;
      case "w":
        m.setWeight(name, n);
        break;
      case "add":
        m.add(name, value === undefined ? {} : { weight: n });
        break;
      default:
        throw new Error(`bad op ${op}`);
    }
  }
  return { picks, samples, active: m.backends.map((b) => b.active), names: m.names };
}

function expected(row: Row): ReturnType<typeof runBalancer> {
  const initial = (row.options.backends ?? []).map((b) => (typeof b === "string" ? b : b.name));
  return { picks: row.picks, samples: row.samples ?? [], active: row.active, names: row.names ?? initial };
}

describe("algorithm known answers", () => {
  for (const [i, row] of ROWS.entries()) {
    it(`#${i + 1} ${row.title}`, () => {
      expect(runBalancer(row)).toEqual(expected(row));
    });
  }
});

describe("the reference model agrees with every row", () => {
  for (const [i, row] of ROWS.entries()) {
    it(`#${i + 1} ${row.title}`, () => {
      expect(runModel(row)).toEqual(expected(row));
    });
  }
});

describe("the generator (PCG32)", () => {
  it("the model's generator matches the published pcg32 demo vector (seed 42, stream 54)", () => {
    const g = new Pcg32(42, 54n);
    const out = Array.from({ length: 6 }, () => g.next());
    expect(out).toEqual([0xa15c02b7, 0x7b47f409, 0xba1d3330, 0x83d2f293, 0xbfa4784b, 0xcbed606e]);
  });

  const RAW: Array<[number, number[]]> = [[0, [174444157, 2543941438, 3225358906, 4049947941, 2241886354, 1518253903]]];
  // The core exports no raw draw: random over 2^16 backends, all up with
  // weight 1, picks exactly the top 16 bits of each draw (a power of two is
  // never rejected by Lemire's method), so picks show the stream itself.
  const WIDE = 1 << 16;
  function topBitsOfDraws(seed: number, draws: number): number[] {
    const core = CoreTable.instantiate();
    const e = core.exports;
    expect(e.reset(WIDE, seed, 0)).toBe(0);
    for (let i = 0; i < WIDE; i++) e.add(1);
    return Array.from({ length: draws }, () => {
      const pick = e.acquire(AlgorithmId.Random, 0);
      expect(e.release(pick, -1, 0)).toBe(1);
      return pick;
    });
  }

  for (const [seed, raw] of RAW) {
    it(`seed ${seed}: the core's draws are the model's`, () => {
      expect(topBitsOfDraws(seed, raw.length)).toEqual(raw.map((r) => r >>> 16));
      const g = new Pcg32(seed);
      expect(raw.map(() => g.next())).toEqual(raw);
    });
  }

  it("core and model agree on draws for many seeds", () => {
    for (const seed of [1, 2, 7, 42, 1234, 2 ** 32, 2 ** 32 + 1, 2 ** 52 + 3, Number.MAX_SAFE_INTEGER]) {
      const g = new Pcg32(seed);
      const picks = topBitsOfDraws(seed, 50);
      picks.forEach((pick, k) => {
        expect(pick, `seed ${seed} draw ${k}`).toBe(g.next() >>> 16);
      });
    }
  });

  it("by hand: seed 0 random over 3 backends picks floor(raw * 3 / 2^32)", () => {
    // (2^32 - 3) mod 3 = 1, so a draw is only rejected when raw * 3 is a multiple of 2^32: none of these.
    const raw = RAW[0]![1];
    const byHand = raw.map((r) => `api-${Math.floor((r * 3) / 2 ** 32) + 1}`);
    expect(byHand).toEqual(["api-1", "api-2", "api-3", "api-3", "api-2", "api-2"]);
    const bal = new Balancer({ backends: api(3), algorithm: "random" });
    expect(raw.map(() => bal.acquire()?.backend)).toEqual(byHand);
  });

  it("by hand: seed 0 p2c over 4 backends draws below(4), below(3) and skips the first", () => {
    // r1 = floor(174444157*4/2^32) = 0, r2 = floor(2543941438*3/2^32) = 1 -> 2: [api-1, api-3]
    // r1 = floor(3225358906*4/2^32) = 3, r2 = floor(4049947941*3/2^32) = 2:    [api-4, api-3]
    // r1 = floor(2241886354*4/2^32) = 2, r2 = floor(1518253903*3/2^32) = 1:    [api-3, api-2]
    const bal = new Balancer({ backends: api(4), algorithm: "p2c" });
    const got = [0, 1, 2].map(() => {
      const l = bal.acquire() as ChoiceLease;
      return [l.backend, l.sampled, l.sampledActive];
    });
    expect(got).toEqual([
      ["api-1", ["api-1", "api-3"], [0, 0]],
      ["api-3", ["api-4", "api-3"], [0, 0]],
      ["api-2", ["api-3", "api-2"], [1, 0]],
    ]);
  });

  it("below(n) rejects biased draws (Lemire): model check with n = 3 * 2^30", () => {
    // threshold = (2^32 - n) mod n = 2^30: a raw draw r is rejected when (r * n) mod 2^32 < 2^30.
    const n = 3 * 2 ** 30;
    const g = new Pcg32(5);
    const probe = g.clone();
    let expectedValue = -1;
    for (;;) {
      const r = probe.next();
      const m = BigInt(r) * BigInt(n);
      if (Number(BigInt.asUintN(32, m)) >= 2 ** 30) {
        expectedValue = Number(m >> 32n);
        break;
      }
    }
    expect(g.below(n)).toBe(expectedValue);
    expect(g.state).toBe(probe.state);
  });
});

// ---- the core's resilience features, row by row on the raw core ----
// Limits (setLimit), the ejected state, slow start (setRamp) and peak-ewma
// (setDecay, release's duration) have no Balancer options yet, so these rows
// drive the core's exports directly. Each row runs on its own backends (small
// table: the scans) and again with 37 more that are down (40 backends: the
// trees, the ramping list beside them): the picks must be the same.
//
// Ops: "a" acquire (recorded in picks: an index or null), "ar" acquire and
// release at once (no duration), "r:i" release i (no duration), "r:i=ms"
// release i after ms (observed at the current time), "t:ms" set the clock,
// "lim:i=n" setLimit, "ramp:i=r" setRamp, "st:i=s" setState, "act:i=n"
// setActive.
interface CoreRow {
  title: string;
  alg: AlgorithmId;
  weights: number[];
  rotate?: boolean;
  seed?: number;
  ops: string[];
  picks: Array<number | null>;
  active: number[];
}

const LC = AlgorithmId.LeastConnections;
const WLC = AlgorithmId.WeightedLeastConnections;
const RR = AlgorithmId.RoundRobin;
const WRR = AlgorithmId.WeightedRoundRobin;
const P2C = AlgorithmId.PowerOfTwoChoices;
const RND = AlgorithmId.Random;
const EWMA = AlgorithmId.PeakEwma;
const ALL_IDS = [LC, WLC, RR, WRR, P2C, RND, EWMA];

const CORE_ROWS: CoreRow[] = [
  // ---- limits ----
  {
    title: "least-connections: a backend at its limit (1) is skipped though it has the fewest",
    alg: LC,
    weights: [1, 1, 1],
    ops: ["lim:0=1", "a", "a", "a", "a"],
    picks: [0, 1, 2, 1],
    active: [1, 2, 1],
  },
  {
    title: "least-connections: every backend at its limit -> none, nothing counted",
    alg: LC,
    weights: [1, 1, 1],
    ops: ["lim:0=1", "lim:1=1", "lim:2=1", "a", "a", "a", "a", "a"],
    picks: [0, 1, 2, null, null],
    active: [1, 1, 1],
  },
  {
    title: "a limit below the count keeps the count and the backend out until it drops below",
    alg: LC,
    weights: [1, 1],
    ops: ["act:0=5", "act:1=9", "lim:0=3", "a", "r:0", "r:0", "a", "r:0", "a", "a"],
    picks: [1, 1, 0, 1],
    active: [3, 12],
  },
  {
    title: "weighted least-connections with weights 3/1 and a limit of 2 on the heavier",
    alg: WLC,
    weights: [3, 1],
    ops: ["lim:0=2", "a", "a", "a", "a"],
    picks: [0, 1, 0, 1],
    active: [2, 2],
  },
  {
    title: "round-robin skips the full backend and keeps its cursor",
    alg: RR,
    weights: [1, 1, 1],
    ops: ["lim:1=1", "a", "a", "a", "a", "a"],
    picks: [0, 1, 2, 0, 2],
    active: [2, 1, 2],
  },
  {
    title: "power-of-two-choices with two backends: the full one never wins",
    alg: P2C,
    weights: [1, 1],
    ops: ["lim:0=1", "a", "a", "a", "a"],
    picks: [0, 1, 1, 1],
    active: [1, 3],
  },
  {
    title: "limit 0: never picked",
    alg: RND,
    weights: [1, 1],
    ops: ["lim:1=0", "a", "a", "a"],
    picks: [0, 0, 0],
    active: [3, 0],
  },
  // ---- ejected ----
  {
    title: "an ejected backend takes no traffic until it is up again",
    alg: LC,
    weights: [1, 1, 1],
    ops: ["st:0=3", "a", "a", "st:0=0", "a"],
    picks: [1, 2, 0],
    active: [1, 1, 1],
  },
  {
    title: "all ejected -> none",
    alg: P2C,
    weights: [1, 1],
    ops: ["st:0=3", "st:1=3", "a", "st:1=0", "a"],
    picks: [null, 1],
    active: [0, 1],
  },
  // ---- slow start ----
  {
    title: "least-connections compares active/ramp: half ramp takes half as many",
    alg: LC,
    weights: [1, 1, 1],
    ops: ["ramp:0=512", ...times(7, "a")],
    picks: [0, 1, 2, 1, 2, 0, 1],
    active: [2, 3, 2],
  },
  {
    title: "least-connections: a ramp back to RAMP_ONE is plain least-connections again",
    alg: LC,
    weights: [1, 1],
    ops: ["ramp:0=256", "act:0=1", "act:1=3", "a", "ramp:0=1024", "a", "a"],
    picks: [1, 0, 0],
    active: [3, 4],
  },
  {
    title: "least-connections with rotation: a ramping backend tied at the minimum takes its turn",
    alg: LC,
    weights: [1, 1, 1],
    rotate: true,
    ops: ["ramp:1=512", "act:0=2", "act:1=1", "act:2=2", "ar", "ar", "ar", "ar"],
    picks: [0, 1, 2, 0],
    active: [2, 1, 2],
  },
  {
    title: "weighted least-connections uses weight * ramp",
    alg: WLC,
    weights: [2, 2],
    ops: ["ramp:0=256", ...times(6, "a")],
    picks: [0, 1, 1, 1, 1, 0],
    active: [2, 4],
  },
  {
    title: "power-of-two-choices compares active/ramp",
    alg: P2C,
    weights: [1, 1],
    ops: ["ramp:0=512", ...times(5, "a")],
    picks: [0, 1, 1, 0, 1],
    active: [2, 3],
  },
  {
    title: "smooth weighted round-robin: weights 4/2 with half ramp on the first weigh 2/2",
    alg: WRR,
    weights: [4, 2],
    ops: ["ramp:0=512", ...times(4, "a")],
    picks: [0, 1, 0, 1],
    active: [2, 2],
  },
  {
    title: "smooth weighted round-robin: the least ramp still weighs 1",
    alg: WRR,
    weights: [4, 2],
    ops: ["ramp:0=1", ...times(6, "a")],
    picks: [1, 0, 1, 1, 0, 1],
    active: [2, 4],
  },
  {
    title: "round-robin ignores slow start",
    alg: RR,
    weights: [1, 1, 1],
    ops: ["ramp:1=1", ...times(4, "a")],
    picks: [0, 1, 2, 0],
    active: [2, 1, 1],
  },
  // ---- peak-ewma (two backends: both are always sampled) ----
  {
    title: "peak-ewma: new backends cost 0, so each is tried; open requests without a cost are penalised",
    alg: EWMA,
    weights: [1, 1],
    ops: ["a", "a", "a", "a"],
    picks: [0, 1, 0, 1],
    active: [2, 2],
  },
  {
    title: "peak-ewma: cost times (active + 1); 10 ms against 50 ms",
    alg: EWMA,
    weights: [1, 1],
    ops: ["a", "a", "t:100", "r:0=10", "r:1=50", ...times(6, "a")],
    picks: [0, 1, 0, 0, 0, 0, 0, 1],
    active: [5, 1],
  },
  {
    title: "peak-ewma: a ramping backend's load is divided by ramp/RAMP_ONE",
    alg: EWMA,
    weights: [1, 1],
    ops: ["a", "a", "r:0=10", "r:1=10", "ramp:0=512", ...times(5, "a")],
    picks: [0, 1, 1, 0, 1, 1, 0],
    active: [2, 3],
  },
  {
    title: "peak-ewma: a down backend is not sampled",
    alg: EWMA,
    weights: [1, 1, 1],
    ops: ["st:1=1", "a", "a", "a"],
    picks: [0, 2, 0],
    active: [2, 0, 1],
  },
];

const PAD = 40;

function runCoreRow(row: CoreRow, pad: boolean): { picks: Array<number | null>; active: number[] } {
  const core = CoreTable.instantiate();
  const e = core.exports;
  const n = row.weights.length;
  expect(e.reset(pad ? PAD : n, row.seed ?? 0, row.rotate ? 1 : 0)).toBe(0);
  for (const w of row.weights) e.add(w);
  if (pad) {
    for (let i = n; i < PAD; i++) {
      e.add(1);
      expect(e.setState(i, STATE_DOWN)).toBe(0);
    }
  }
  core.refresh();
  let now = 0;
  const picks: Array<number | null> = [];
  for (const op of row.ops) {
    const [verb, arg = ""] = op.split(":") as [string, string?];
    const [i, value] = arg.split("=").map(Number) as [number, number?];
    switch (verb) {
      case "a":
      case "ar": {
        const pick = e.acquire(row.alg, now);
        picks.push(pick === NONE ? null : pick);
        if (verb === "ar" && pick >= 0) expect(e.release(pick, -1, now)).toBe(1);
        break;
      }
      case "r":
        expect(e.release(i, value === undefined ? -1 : value, now)).toBe(1);
        break;
      case "t":
        now = i;
        break;
      case "lim":
        expect(e.setLimit(i, value!)).toBe(0);
        break;
      case "ramp":
        expect(e.setRamp(i, value!)).toBe(0);
        break;
      case "st":
        expect(e.setState(i, value!)).toBe(0);
        break;
      case "act":
        expect(e.setActive(i, value!)).toBe(0);
        break;
      default:
        throw new Error(`bad op ${op}`);
    }
  }
  core.refresh();
  return { picks, active: Array.from({ length: n }, (_, k) => core.active(k)) };
}

describe("core known answers: limits, ejection, slow start, peak-ewma", () => {
  for (const [k, row] of CORE_ROWS.entries()) {
    for (const pad of [false, true]) {
      it(`#${k + 1} ${row.title} (${pad ? `${PAD} backends, trees` : "scan"})`, () => {
        expect(runCoreRow(row, pad)).toEqual({ picks: row.picks, active: row.active });
      });
    }
  }
});

function coreTable(weights: number[], seed = 0): CoreTable {
  const core = CoreTable.instantiate();
  const e = core.exports;
  expect(e.reset(weights.length, seed, 0)).toBe(0);
  for (const w of weights) e.add(w);
  core.refresh();
  return core;
}

describe("limits and the ejected state in every algorithm", () => {
  for (const n of [3, PAD]) {
    for (const alg of ALL_IDS) {
      it(`${algorithmName(alg)}, ${n} backends: a backend at its limit is never picked; all full or ejected -> none`, () => {
        const core = coreTable(Array<number>(n).fill(1), 5);
        const e = core.exports;
        expect(e.setLimit(0, 2)).toBe(0);
        expect(e.setState(1, STATE_EJECTED)).toBe(0);
        const picks: number[] = [];
        // Held, so counts grow and every backend that can be picked is.
        for (let k = 0; k < 40 * n; k++) picks.push(e.acquire(alg, k));
        expect(picks).not.toContain(NONE);
        expect(picks).not.toContain(1);
        expect(picks.filter((p) => p === 0).length).toBeLessThanOrEqual(2);
        expect(core.active(0)).toBeLessThanOrEqual(2);
        expect(new Set(picks).size).toBe(n - 1);
        // Now everything is full or ejected.
        for (let i = 2; i < n; i++) expect(e.setLimit(i, core.active(i))).toBe(0);
        expect(e.setLimit(0, core.active(0))).toBe(0);
        const totals = Array.from({ length: n }, (_, i) => core.total(i));
        expect(e.acquire(alg, 0)).toBe(NONE);
        expect(Array.from({ length: n }, (_, i) => core.total(i))).toEqual(totals);
        // One release frees one slot: that backend is the only pick.
        expect(e.release(n - 1, -1, 0)).toBe(1);
        expect(e.acquire(alg, 0)).toBe(n - 1);
        expect(e.acquire(alg, 0)).toBe(NONE);
      });
    }
  }

  it("setLimit, setRamp, setState and setDecay refuse what is out of range", () => {
    const e = coreTable([1, 1]).exports;
    expect(e.setLimit(2, 1)).toBe(ERR_RANGE);
    expect(e.setState(0, STATE_EJECTED + 1)).toBe(ERR_RANGE);
    expect(e.setRamp(0, 0)).toBe(ERR_RANGE);
    expect(e.setRamp(0, RAMP_ONE + 1)).toBe(ERR_RANGE);
    expect(e.setRamp(2, 1)).toBe(ERR_RANGE);
    for (const ms of [0, -1, Number.NaN]) expect(e.setDecay(ms)).toBe(ERR_RANGE);
    expect(e.setDecay(0.5)).toBe(0);
    expect(e.acquire(ALL_IDS.length, 0)).toBe(ERR_RANGE);
  });
});

describe("slow start across removals and growth", () => {
  it("the ramping list follows removeAt (indices shift) and growth (the list moves)", () => {
    // 40 backends: least-connections uses its tree and the ramping list.
    const core = coreTable(Array<number>(PAD).fill(1));
    const e = core.exports;
    for (const i of [5, 10, 20]) expect(e.setRamp(i, 1)).toBe(0);
    for (let i = 0; i < PAD; i++) expect(e.setActive(i, 1)).toBe(0);
    expect(e.setActive(20, 0)).toBe(0); // ramping, but idle: key 0 is the least
    expect(e.acquire(LC, 0)).toBe(20);
    expect(e.removeAt(10)).toBe(0); // 20 becomes 19
    for (let k = 0; k < 26; k++) expect(e.add(1)).toBe(PAD - 1 + k); // 65 backends: 64 -> 128 slots
    core.refresh();
    expect(e.capacity()).toBe(128);
    // The new backends are idle and full weight: they are picked in order.
    // Then the ramping 19 (1 active, ramp 1) is worse than any count below 1024.
    expect(e.acquire(LC, 0)).toBe(PAD - 1);
    expect(e.setRamp(19, RAMP_ONE)).toBe(0);
    for (let i = 0; i < e.size(); i++) expect(e.setActive(i, 3)).toBe(0);
    expect(e.setActive(19, 1)).toBe(0);
    expect(e.setActive(5, 0)).toBe(0);
    // 5 still ramps (key 0, the least); 19 no longer does (count 1).
    expect(e.acquire(LC, 0)).toBe(5);
    expect(e.acquire(LC, 0)).toBe(19);
    expect(e.setActive(5, 1)).toBe(0);
    // 5 at 2/1 of ramp 1 (key 2048/1024) loses to every plain count of 3.
    for (let k = 0; k < 3; k++) expect(e.acquire(LC, 0)).not.toBe(5);
  });
});

// Finagle's peak-EWMA, written from its description (not from the core).
class EwmaRef {
  cost: number[];
  stamp: number[];
  constructor(
    n: number,
    readonly decay = 10_000,
  ) {
    this.cost = Array<number>(n).fill(0);
    this.stamp = Array<number>(n).fill(0);
  }
  observe(i: number, rtt: number, now: number): void {
    const td = Math.max(now - this.stamp[i]!, 0);
    const w = Math.exp(-td / this.decay);
    this.cost[i] = rtt > this.cost[i]! ? rtt : this.cost[i]! * w + rtt * (1 - w);
    this.stamp[i] = now;
  }
  load(i: number, active: number, now: number): number {
    this.observe(i, 0, now);
    const c = this.cost[i]!;
    return c === 0 ? (active === 0 ? 0 : EWMA_PENALTY + active) : c * (active + 1);
  }
}

describe("peak-ewma", () => {
  it("exact picks for seed 9 over 4 backends on a fixed clock: the model's draws and loads", () => {
    const n = 4;
    const core = coreTable([1, 1, 1, 1], 9);
    const e = core.exports;
    const ref = new EwmaRef(n);
    const g = new Pcg32(9);
    const active = [0, 0, 0, 0];
    // Durations by backend (ms); backend 2 is slow. The clock stays at 0, so
    // costs never decay: each is the longest duration seen (the peak).
    const rtt = [4, 6, 30, 5];
    const picks: number[] = [];
    const open: number[] = [];
    for (let k = 0; k < 200; k++) {
      const r1 = g.below(n);
      let r2 = g.below(n - 1);
      if (r2 >= r1) r2++;
      const la = ref.load(r1, active[r1]!, 0);
      const lb = ref.load(r2, active[r2]!, 0);
      const want = la !== lb ? (la < lb ? r1 : r2) : Math.min(r1, r2);
      const pick = e.acquire(EWMA, 0);
      expect(pick, `pick ${k}`).toBe(want);
      expect([e.sample(SAMPLE_FIRST), e.sample(SAMPLE_SECOND)]).toEqual([r1, r2]);
      picks.push(pick);
      active[pick]!++;
      open.push(pick);
      // Keep three open: release the oldest with its backend's duration.
      if (open.length > 3) {
        const done = open.shift()!;
        expect(e.release(done, rtt[done]!, 0)).toBe(1);
        ref.observe(done, rtt[done]!, 0);
        active[done]!--;
      }
    }
    core.refresh();
    for (let i = 0; i < n; i++) expect(core.cost(i)).toBe(ref.cost[i]);
    // The first 12 picks, for the record (the loop above checked each against the reference).
    expect(picks.slice(0, 12)).toEqual([0, 1, 2, 3, 0, 0, 2, 3, 3, 1, 0, 3]);
    expect(picks.filter((p) => p === 2).length).toBeLessThan(10);
  });

  it("decays by the core's own exp, within one unit in the last place of Math.exp, and to 0 past e^-708", () => {
    const core = coreTable([1]);
    const e = core.exports;
    // A peak of 1 at t = 0, then a duration of 0 at td: the new cost is the weight exp(-td / decay) itself.
    const weight = (td: number, decay: number): number => {
      expect(e.setDecay(decay)).toBe(0);
      expect(e.setActive(0, 2)).toBe(0);
      expect(e.release(0, 1, 0)).toBe(1);
      expect(e.release(0, 0, td)).toBe(1);
      core.refresh();
      return core.cost(0);
    };
    const bits = new BigInt64Array(2);
    const f = new Float64Array(bits.buffer);
    let g = 0x2545f491;
    const next = (): number => {
      g ^= g << 13;
      g ^= g >>> 17;
      g ^= g << 5;
      return (g >>> 0) / 2 ** 32;
    };
    let exact = 0;
    for (let k = 0; k < 5_000; k++) {
      const decay = k % 2 === 0 ? 1 : 10_000;
      const td = (k < 2_500 ? next() * 5 : next() * 708) * decay;
      f[0] = weight(td, decay);
      f[1] = Math.exp(-td / decay);
      const ulps = Number(bits[0]! - bits[1]!);
      expect(Math.abs(ulps), `exp(${-td / decay})`).toBeLessThanOrEqual(1);
      if (ulps === 0) exact++;
    }
    expect(exact).toBeGreaterThan(4_500);
    expect(weight(708, 1)).toBeGreaterThan(0);
    expect(weight(708.5, 1)).toBe(0);
  });

  it("the cost jumps to a longer duration at once and decays towards shorter ones with decayMs", () => {
    const core = coreTable([1, 1]);
    const e = core.exports;
    expect(e.setActive(0, 3)).toBe(0);
    expect(e.setActive(1, 4)).toBe(0);
    expect(e.release(0, 100, 1000)).toBe(1);
    expect(core.cost(0)).toBe(100);
    expect(e.release(0, 10, 1000)).toBe(1); // no time passed: w = 1
    expect(core.cost(0)).toBe(100);
    expect(e.release(0, 10, 11_000)).toBe(1); // one time constant later
    expect(core.cost(0)).toBeCloseTo(100 / Math.E + 10 * (1 - 1 / Math.E), 12);
    // A shorter time constant decays faster.
    expect(e.setDecay(1000)).toBe(0);
    expect(e.release(1, 50, 0)).toBe(1);
    expect(e.release(1, 0, 2000)).toBe(1);
    expect(core.cost(1)).toBeCloseTo(50 * Math.exp(-2), 12);
    // Unknown durations (< 0, NaN) and releases at 0 observe nothing.
    const before = core.cost(1);
    expect(e.release(1, -1, 50_000)).toBe(1);
    expect(e.release(1, Number.NaN, 50_000)).toBe(1);
    expect(e.release(1, 5, 60_000)).toBe(0);
    expect(core.cost(1)).toBe(before);
  });

  // A closed loop: `clients` callers, each acquiring again as soon as its
  // request ends, durations from the backend's speed (one backend 5x slower)
  // with a small deterministic jitter, on a simulated clock in ms.
  function closedLoop(alg: AlgorithmId, picks: number): number {
    const n = 10;
    const clients = 20;
    const core = coreTable(Array<number>(n).fill(1), 3);
    const e = core.exports;
    let x = 12345;
    const jitter = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) % 1000) / 1000;
    const base = (i: number) => (i === 0 ? 50 : 10);
    // Pending completions: [time, backend, duration], kept sorted by time.
    const pending: Array<[number, number, number]> = [];
    let now = 0;
    let slow = 0;
    const start = () => {
      const pick = e.acquire(alg, now);
      expect(pick).toBeGreaterThanOrEqual(0);
      if (pick === 0) slow++;
      const d = base(pick) * (0.8 + 0.4 * jitter());
      const at = now + d;
      let k = pending.length;
      while (k > 0 && pending[k - 1]![0] > at) k--;
      pending.splice(k, 0, [at, pick, d]);
    };
    for (let c = 0; c < clients; c++) start();
    for (let k = clients; k < picks; k++) {
      const [at, i, d] = pending.shift()!;
      now = at;
      expect(e.release(i, d, now)).toBe(1);
      start();
    }
    return slow / picks;
  }

  it("a backend 5x slower gets under 2% of 10,000 picks (least-connections: several times more)", () => {
    const ewma = closedLoop(EWMA, 10_000);
    const lc = closedLoop(LC, 10_000);
    console.log(`slow backend's share: peak-ewma ${(ewma * 100).toFixed(2)}%, least-connections ${(lc * 100).toFixed(2)}%`);
    expect(ewma).toBeLessThan(0.02);
    expect(lc).toBeGreaterThan(2 * ewma);
  });
});
