// The public surface of the Balancer (bindings/index.ts): what it exports,
// snapshot fields and their exact values under an injected clock, names and
// their order (any string is a name), leases and ChoiceLeases, drained(),
// the algorithm and tieBreak accessors, independence of instances, and
// tables that grow after construction (the core's memory grows under the
// bindings' views).

import { describe, expect, it } from "vitest";
import * as api from "../../bindings/index.js";
import { Balancer, ChoiceLease, Lease } from "../../bindings/index.js";
import { Model } from "./model.js";

async function settled(p: Promise<void>): Promise<boolean> {
  let done = false;
  void p.then(() => {
    done = true;
  });
  for (let k = 0; k < 5; k++) await Promise.resolve();
  return done;
}

describe("exports", () => {
  it("the limits, algorithm names and error classes", () => {
    expect(api.MAX_ACTIVE).toBe(2 ** 31 - 1);
    expect(api.MAX_WEIGHT).toBe(1_000_000);
    expect([...api.ALGORITHMS]).toEqual([
      "least-connections",
      "weighted-least-connections",
      "round-robin",
      "weighted-round-robin",
      "power-of-two-choices",
      "random",
      "peak-ewma",
    ]);
    const classes = [
      [api.UnknownBackendError, "LC_ERR_UNKNOWN_BACKEND"],
      [api.DuplicateBackendError, "LC_ERR_DUPLICATE_BACKEND"],
      [api.UnknownAlgorithmError, "LC_ERR_UNKNOWN_ALGORITHM"],
      [api.UnderflowError, "LC_ERR_UNDERFLOW"],
    ] as const;
    for (const [Class, code] of classes) {
      const e = new Class("x");
      expect(e).toBeInstanceOf(api.LeastconnError);
      expect(e).toBeInstanceOf(Error);
      expect(e.code).toBe(code);
      expect(e.name).toBe(Class.name);
    }
    const inv = new api.InvalidArgumentError("weight", "weight must be small");
    expect([inv.code, inv.field, inv.message]).toEqual(["LC_ERR_INVALID_ARGUMENT", "weight", "weight must be small"]);
    const unsupported = new api.UnsupportedError("add: a shared table has a fixed set of backends");
    expect([unsupported.code, unsupported.name, unsupported instanceof api.LeastconnError]).toEqual([
      "LC_ERR_UNSUPPORTED",
      "UnsupportedError",
      true,
    ]);
    expect(new api.CapacityError("full").code).toBe("LC_ERR_CAPACITY");
  });
});

// The resilience fields of a backend with no limit, no ramp, no failure and no ejection.
const PLAIN = (weight: number) => ({ maxConnections: null, effectiveWeight: weight, failures: 0, ejectedUntil: null });

describe("snapshot", () => {
  it("has exact fields: lastUsed from the injected clock, totals that never go down", () => {
    let now = 1_700_000_000_000;
    const bal = new Balancer({ backends: ["a", { name: "b", weight: 5, connections: 2 }], clock: () => now });
    expect(bal.snapshot()).toEqual([
      { name: "a", active: 0, total: 0, lastUsed: null, weight: 1, state: "up", ...PLAIN(1) },
      { name: "b", active: 2, total: 0, lastUsed: null, weight: 5, state: "up", ...PLAIN(5) },
    ]);
    const l1 = bal.acquire()!;
    now += 250;
    const l2 = bal.acquire()!;
    now += 1;
    l1.release();
    l2.release();
    bal.markDown("b");
    expect(bal.snapshot()).toEqual([
      { name: "a", active: 0, total: 2, lastUsed: 1_700_000_000_250, weight: 1, state: "up", ...PLAIN(1) },
      { name: "b", active: 2, total: 0, lastUsed: null, weight: 5, state: "down", ...PLAIN(5) },
    ]);
    expect(bal.get("a")).toEqual(bal.snapshot()[0]);
    expect(bal.active("b")).toBe(2);
  });

  it("a null pick does not touch lastUsed or totals", () => {
    let now = 5;
    const bal = new Balancer({ backends: ["a"], clock: () => now });
    bal.acquire();
    bal.markDown("a");
    now = 9;
    expect(bal.acquire()).toBeNull();
    expect(bal.get("a")).toMatchObject({ active: 1, total: 1, lastUsed: 5 });
  });

  it("the default clock gives wall-clock milliseconds", () => {
    const bal = new Balancer({ backends: ["a"] });
    const before = Date.now();
    bal.acquire();
    const t = bal.get("a").lastUsed!;
    expect(t).toBeGreaterThanOrEqual(before - 1);
    expect(t).toBeLessThanOrEqual(Date.now() + 1);
    expect(api.coarseClock()).toBeTypeOf("number");
  });
});

describe("names", () => {
  const odd = ["b", "10", "__proto__", "constructor", "2", "toString", "a", "1", "hasOwnProperty", "é", " "];

  it("any non-empty string is a name, kept in insertion order", () => {
    const bal = new Balancer({ backends: odd.slice(0, 6) });
    for (const n of odd.slice(6)) bal.add(n);
    expect(bal.names).toEqual(odd);
    expect(bal.snapshot().map((s) => s.name)).toEqual(odd);
    const visited: string[] = [];
    bal.forEachActive((n) => visited.push(n));
    expect(visited).toEqual(odd);
    expect(bal.size).toBe(odd.length);
    for (const n of odd) expect(bal.has(n)).toBe(true);
    expect(bal.has("valueOf")).toBe(false);
    expect(bal.has("")).toBe(false);
  });

  it("every odd name takes traffic like any other", () => {
    const bal = new Balancer({ backends: odd, algorithm: "round-robin" });
    expect(odd.map(() => bal.acquire()!.backend)).toEqual(odd);
    bal.release("__proto__");
    bal.setActive("constructor", 7);
    bal.setWeight("10", 3);
    bal.remove("toString");
    expect(bal.get("__proto__").active).toBe(0);
    expect(bal.get("constructor").active).toBe(7);
    expect(bal.get("10").weight).toBe(3);
    expect(bal.get("toString").state).toBe("draining");
    bal.release("toString");
    expect(bal.has("toString")).toBe(false);
  });
});

describe("leases", () => {
  it("ChoiceLease only for power-of-two-choices, default or per call", () => {
    const bal = new Balancer({ backends: ["a", "b", "c"], algorithm: "p2c" });
    const l = bal.acquire()!;
    expect(l).toBeInstanceOf(ChoiceLease);
    for (const alg of ["least-connections", "weighted-least-connections", "round-robin", "weighted-round-robin", "random"]) {
      const x = bal.acquire({ algorithm: alg })!;
      expect(x).toBeInstanceOf(Lease);
      expect(x).not.toBeInstanceOf(ChoiceLease);
    }
    expect(bal.acquire({ algorithm: "POWER_OF_TWO_CHOICES" })).toBeInstanceOf(ChoiceLease);
  });

  it("a ChoiceLease reports its two samples and their counts before the pick", () => {
    const bal = new Balancer({
      backends: [
        { name: "a", connections: 3 },
        { name: "b", connections: 8 },
      ],
      algorithm: "p2c",
    });
    const l = bal.acquire() as ChoiceLease;
    expect(l.backend).toBe("a");
    expect([...l.sampled].sort()).toEqual(["a", "b"]);
    expect(l.sampledActive).toEqual(l.sampled.map((n) => (n === "a" ? 3 : 8)));
    expect(bal.active("a")).toBe(4);
  });

  it("released is false until the first release", () => {
    const bal = new Balancer({ backends: ["a"] });
    const l = bal.acquire()!;
    expect(l.released).toBe(false);
    expect(l.backend).toBe("a");
    l.release();
    expect(l.released).toBe(true);
  });
});

describe("reading counts and lease state", () => {
  it("forEachActive visits every backend in order with its count, draining ones included", () => {
    const lb = new Balancer({ backends: ["b", "10", "__proto__"], clock: () => 0 });
    const held = lb.acquire()!;
    lb.setActive("10", 7);
    lb.remove("b");
    const seen: Array<[string, number]> = [];
    lb.forEachActive((name, active) => seen.push([name, active]));
    expect(seen).toEqual([
      ["b", 1],
      ["10", 7],
      ["__proto__", 0],
    ]);
    expect(seen).toEqual(lb.snapshot().map((s) => [s.name, s.active]));
    held.release();
    seen.length = 0;
    lb.forEachActive((name, active) => seen.push([name, active]));
    expect(seen).toEqual([
      ["10", 7],
      ["__proto__", 0],
    ]);
  });

  it("Lease.removed turns true only when the backend leaves the table", () => {
    const lb = new Balancer({ backends: ["a", "b"], clock: () => 0 });
    const first = lb.acquire()!;
    const second = lb.acquire({ algorithm: "round-robin" })!;
    expect([first.backend, second.backend]).toEqual(["a", "a"]);
    lb.remove("a");
    expect(first.removed).toBe(false);
    expect(first.release()).toBe(true);
    expect(second.removed).toBe(false);
    expect(second.release()).toBe(true);
    expect(first.removed).toBe(true);
    expect(second.removed).toBe(true);
    expect(lb.names).toEqual(["b"]);
  });
});

describe("drained()", () => {
  it("resolves at once for a name not in the table", async () => {
    const bal = new Balancer({ backends: ["a"] });
    expect(await settled(bal.drained("nope"))).toBe(true);
    bal.remove("a");
    expect(await settled(bal.drained("a"))).toBe(true);
  });

  it("resolves when the last lease of a draining backend is released, not before", async () => {
    const bal = new Balancer({ backends: ["a", "b"] });
    const l1 = bal.acquire()!;
    const l2 = bal.acquire({ algorithm: "least-connections" })!;
    const l3 = bal.acquire()!;
    expect([l1.backend, l2.backend, l3.backend]).toEqual(["a", "b", "a"]);
    bal.remove("a");
    const p = bal.drained("a");
    const q = bal.drained("a");
    expect(await settled(p)).toBe(false);
    l1.release();
    expect(await settled(p)).toBe(false);
    expect(bal.has("a")).toBe(true);
    l3.release();
    expect(await settled(p)).toBe(true);
    expect(await settled(q)).toBe(true);
    expect(bal.names).toEqual(["b"]);
  });

  it("resolves on setActive(name, 0) and on release(name)", async () => {
    const bal = new Balancer({
      backends: [
        { name: "a", connections: 4 },
        { name: "b", connections: 1 },
      ],
    });
    bal.remove("a");
    bal.remove("b");
    const pa = bal.drained("a");
    const pb = bal.drained("b");
    bal.setActive("a", 1);
    expect(await settled(pa)).toBe(false);
    bal.setActive("a", 0);
    bal.release("b");
    expect(await settled(pa)).toBe(true);
    expect(await settled(pb)).toBe(true);
    expect(bal.size).toBe(0);
  });

  it("markUp cancels the removal; the promise waits for a later one", async () => {
    const bal = new Balancer({ backends: [{ name: "a", connections: 1 }] });
    bal.remove("a");
    const p = bal.drained("a");
    bal.markUp("a");
    bal.release("a");
    expect(bal.get("a")).toMatchObject({ active: 0, state: "up" });
    expect(await settled(p)).toBe(false);
    bal.remove("a");
    expect(await settled(p)).toBe(true);
  });

  it("a lease's release finishes a pending removal, not a cancelled one (also when remove() came twice)", () => {
    const bal = new Balancer({ backends: ["a", "b"] });
    const la = bal.acquire()!;
    const lb = bal.acquire()!;
    expect([la.backend, lb.backend]).toEqual(["a", "b"]);
    bal.remove("a");
    bal.remove("a");
    bal.markUp("a"); // cancels a's removal
    bal.remove("b");
    expect(la.release()).toBe(true);
    expect(bal.names).toEqual(["a", "b"]);
    expect(lb.release()).toBe(true); // b's count reaches 0: it leaves
    expect(bal.names).toEqual(["a"]);
    expect(lb.removed).toBe(true);
    bal.remove("a");
    expect(bal.names).toEqual([]);
  });
});

describe("accessors", () => {
  it("algorithm reads back canonical names; tieBreak is fixed at construction", () => {
    const bal = new Balancer();
    expect(bal.algorithm).toBe("least-connections");
    expect(bal.tieBreak).toBe("first");
    const spellings: Array<[string, string]> = [
      ["P2C", "power-of-two-choices"],
      ["leastconn", "least-connections"],
      ["least-conn", "least-connections"],
      ["Weighted_Round_Robin", "weighted-round-robin"],
      ["WEIGHTED-LEAST-CONNECTIONS", "weighted-least-connections"],
      ["round_robin", "round-robin"],
      ["RaNdOm", "random"],
    ];
    for (const [spelling, canonical] of spellings) {
      bal.algorithm = spelling;
      expect(bal.algorithm).toBe(canonical);
    }
    expect(new Balancer({ tieBreak: "rotate" }).tieBreak).toBe("rotate");
    expect(new Balancer({ algorithm: "least_conn" }).algorithm).toBe("least-connections");
  });

  it("the default seed is 0; other seeds give other sequences", () => {
    const seq = (seed?: number): string[] => {
      const bal = new Balancer({ backends: ["a", "b", "c", "d"], algorithm: "random", ...(seed === undefined ? {} : { seed }) });
      return Array.from({ length: 32 }, () => bal.acquire()!.backend);
    };
    expect(seq()).toEqual(seq(0));
    expect(seq(1)).not.toEqual(seq(0));
  });
});

describe("instances and growth", () => {
  it("two balancers share nothing: interleaved picks equal separate runs", () => {
    const make = (seed: number) => new Balancer({ backends: ["a", "b", "c", { name: "d", weight: 3 }], seed, tieBreak: "rotate" });
    const algs = ["random", "p2c", "round-robin", "weighted-round-robin", "least-connections"];
    const alone = (seed: number): string[] => {
      const bal = make(seed);
      return Array.from({ length: 40 }, (_, k) => bal.acquire({ algorithm: algs[k % 5]! })!.backend);
    };
    const x = make(1);
    const y = make(2);
    const xs: string[] = [];
    const ys: string[] = [];
    for (let k = 0; k < 40; k++) {
      xs.push(x.acquire({ algorithm: algs[k % 5]! })!.backend);
      ys.push(y.acquire({ algorithm: algs[k % 5]! })!.backend);
    }
    expect(xs).toEqual(alone(1));
    expect(ys).toEqual(alone(2));
  });

  it("a table grown far past its initial size keeps every field (memory grows under the views)", () => {
    let now = 0;
    const bal = new Balancer({ backends: ["s0", "s1"], clock: () => now });
    const model = new Model({ backends: ["s0", "s1"] });
    for (let i = 0; i < 5000; i++) {
      now = i;
      const opts = { weight: i % 7, connections: (i * 31) % 11 };
      bal.add(`g${i}`, opts);
      model.add(`g${i}`, opts);
      if (i % 97 === 0) {
        const alg = ["least-connections", "weighted-least-connections", "round-robin", "random", "p2c"][i % 5]!;
        expect(bal.acquire({ algorithm: alg })!.backend).toBe(model.acquire(now, alg)!.name);
      }
    }
    expect(
      bal.snapshot().map(({ name, active, total, lastUsed, weight, state }) => ({ name, active, total, lastUsed, weight, state })),
    ).toEqual(model.snapshot());
  });
});
