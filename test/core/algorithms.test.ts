// Known-answer tables for the six algorithms: one row per case, each with
// the exact pick sequence (and power-of-two-choices sample pairs) and the
// final active counts. Rows run against the Balancer and, as a cross-check
// that the table and the reference model agree, against ./model.ts too.
// Also owns the generator's known answers (PCG32) and hand-derived draws.

import { describe, expect, it } from "vitest";
import { Balancer, ChoiceLease, type BalancerOptions, type Lease } from "../../bindings/index.js";
import { CoreTable } from "../../bindings/core.js";
import { AlgorithmId } from "../../bindings/algorithms.js";
import { Model, Pcg32, type ModelOptions } from "./model.js";

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
    options: { backends: [{ name: "api-1", connections: 5 }, { name: "api-2", connections: 2 }, { name: "api-3", connections: 8 }] },
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
    options: { backends: [{ name: "api-1", connections: 2 }, { name: "api-2", connections: 1 }, { name: "api-3", connections: 1 }] },
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
    options: { backends: [{ name: "a", weight: 1 }, { name: "b", weight: 2 }, { name: "c", weight: 3 }], algorithm: "weighted-least-connections" },
    ops: times(7, "a"),
    picks: ["a", "b", "c", "c", "b", "c", "a"],
    active: [2, 2, 3],
  },
  {
    title: "weighted-least-connections: equal ratios 1/3 and 2/6 tie to the lowest index",
    options: { backends: [{ name: "x", weight: 3, connections: 1 }, { name: "y", weight: 6, connections: 2 }], algorithm: "Weighted_Least_Connections" },
    ops: ["a", "a"],
    picks: ["x", "y"],
    active: [2, 3],
  },
  {
    title: "weighted-least-connections: 2/6 before 1/3 also ties to the lowest index",
    options: { backends: [{ name: "y", weight: 6, connections: 2 }, { name: "x", weight: 3, connections: 1 }], algorithm: "weighted-least-connections" },
    ops: ["a"],
    picks: ["y"],
    active: [3, 1],
  },
  {
    title: "weighted-least-connections at large counts: 2147483646/999999 < 2147483647/1000000 is false",
    options: {
      backends: [{ name: "p", weight: 1_000_000, connections: 2147483647 }, { name: "q", weight: 999_999, connections: 2147483646 }],
      algorithm: "weighted-least-connections",
    },
    // p: 2147.483647, q: 2147.48579... so p is smaller.
    ops: ["ar"],
    picks: ["p"],
    active: [2147483647, 2147483646],
  },
  {
    title: "weighted-least-connections: weight 0 is never picked",
    options: { backends: [{ name: "z", weight: 0 }, { name: "o", weight: 1, connections: 100 }], algorithm: "weighted-least-connections" },
    ops: times(2, "a"),
    picks: ["o", "o"],
    active: [0, 102],
  },
  {
    title: "weighted-least-connections with tieBreak rotate",
    options: { backends: [{ name: "a", weight: 2 }, { name: "b", weight: 1 }, { name: "c", weight: 2 }], algorithm: "weighted-least-connections", tieBreak: "rotate" },
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
    options: { backends: [{ name: "api-1", weight: 4 }, { name: "api-2", weight: 4 }, { name: "api-3", weight: 2 }], algorithm: "weighted-round-robin" },
    ops: times(15, "a"),
    picks: repeat(3, ["api-1", "api-2", "api-3", "api-1", "api-2"]),
    active: [6, 6, 3],
  },
  {
    title: "weighted-round-robin 5/1/1 (nginx's example): a a b a c a a",
    options: { backends: [{ name: "a", weight: 5 }, { name: "b", weight: 1 }, { name: "c", weight: 1 }], algorithm: "weighted_round_robin" },
    ops: times(14, "ar"),
    picks: repeat(2, ["a", "a", "b", "a", "c", "a", "a"]),
    active: [0, 0, 0],
  },
  {
    title: "weighted-round-robin: a down backend keeps its current weight",
    options: { backends: [{ name: "a", weight: 5 }, { name: "b", weight: 1 }, { name: "c", weight: 1 }], algorithm: "weighted-round-robin" },
    ops: ["a", "a", "down:b", "a", "a", "up:b", "a", "a"],
    picks: ["a", "a", "c", "a", "a", "b"],
    active: [4, 1, 1],
  },
  {
    title: "weighted-round-robin: setWeight resets that backend's current weight",
    options: { backends: [{ name: "a", weight: 2 }, { name: "b", weight: 1 }], algorithm: "weighted-round-robin" },
    ops: ["a", "w:a=2", "a"],
    picks: ["a", "a"],
    active: [2, 0],
  },
  {
    title: "weighted-round-robin: the same without setWeight",
    options: { backends: [{ name: "a", weight: 2 }, { name: "b", weight: 1 }], algorithm: "weighted-round-robin" },
    ops: ["a", "a"],
    picks: ["a", "b"],
    active: [1, 1],
  },
  {
    title: "weighted-round-robin: a new backend starts at current weight 0",
    options: { backends: [{ name: "a", weight: 1 }, { name: "b", weight: 1 }], algorithm: "weighted-round-robin" },
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
      [["api-1", "api-3"], [0, 0]],
      [["api-4", "api-3"], [0, 0]],
      [["api-3", "api-2"], [1, 0]],
      [["api-4", "api-3"], [0, 1]],
      [["api-2", "api-4"], [1, 1]],
      [["api-2", "api-4"], [2, 1]],
      [["api-1", "api-3"], [1, 1]],
      [["api-2", "api-1"], [2, 2]],
    ],
    active: [3, 2, 1, 2],
  },
  {
    title: "power-of-two-choices, seed 7, api-2 down (never sampled)",
    options: { backends: api(5), algorithm: "power-of-two-choices", seed: 7 },
    ops: ["down:api-2", ...times(8, "a")],
    picks: ["api-1", "api-3", "api-5", "api-4", "api-4", "api-1", "api-3", "api-1"],
    samples: [
      [["api-5", "api-1"], [0, 0]],
      [["api-4", "api-3"], [0, 0]],
      [["api-5", "api-1"], [0, 1]],
      [["api-3", "api-4"], [1, 0]],
      [["api-5", "api-4"], [1, 1]],
      [["api-4", "api-1"], [2, 1]],
      [["api-4", "api-3"], [2, 1]],
      [["api-4", "api-1"], [2, 2]],
    ],
    active: [3, 0, 2, 2, 1],
  },
  {
    title: "power-of-two-choices, seed 1234, leases released: the tie goes to the lower index",
    options: { backends: api(6), algorithm: "P2C", seed: 1234 },
    ops: times(8, "ar"),
    picks: ["api-2", "api-2", "api-2", "api-2", "api-3", "api-3", "api-1", "api-1"],
    samples: [
      [["api-2", "api-5"], [0, 0]],
      [["api-2", "api-5"], [0, 0]],
      [["api-3", "api-2"], [0, 0]],
      [["api-2", "api-5"], [0, 0]],
      [["api-3", "api-5"], [0, 0]],
      [["api-4", "api-3"], [0, 0]],
      [["api-1", "api-5"], [0, 0]],
      [["api-4", "api-1"], [0, 0]],
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
      [["api-1", "api-3"], [0, 0]],
      [["api-3", "api-2"], [0, 2]],
      [["api-2", "api-1"], [2, 1]],
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
      case "rel": bal.release(name); break;
      case "set": bal.setActive(name, n); break;
      case "down": bal.markDown(name); break;
      case "up": bal.markUp(name); break;
      case "rm": bal.remove(name); break;
      case "w": bal.setWeight(name, n); break;
      case "add": bal.add(name, value === undefined ? {} : { weight: n }); break;
      default: throw new Error(`bad op ${op}`);
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
      case "rel": m.release(name); break;
      case "set": m.setActive(name, n); break;
      case "down": m.markDown(name); break;
      case "up": m.markUp(name); break;
      case "rm": m.remove(name); break;
      case "w": m.setWeight(name, n); break;
      case "add": m.add(name, value === undefined ? {} : { weight: n }); break;
      default: throw new Error(`bad op ${op}`);
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

  const RAW: Array<[number, number[]]> = [
    [0, [174444157, 2543941438, 3225358906, 4049947941, 2241886354, 1518253903]],
  ];
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
      picks.forEach((pick, k) => expect(pick, `seed ${seed} draw ${k}`).toBe(g.next() >>> 16));
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
