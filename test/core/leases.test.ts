// Leases across removals, and the weighted tree's shortcut. A lease holds
// its backend's core index and the membership epoch it was granted in
// (bindings/lease.ts); removals compact the core, so a lease granted before
// one replays the removals to find its backend. These cases pin what that
// must give: the right backend's count, name and `removed`, for plain
// leases and ChoiceLeases, after one or several removals, and the failure
// runs that let a release skip the backend's record. The last case checks
// the weighted-least-connections tree (which passes an index up without
// re-reading children when a node's ratio holds) against a plain scan, and
// algorithm names against the core's numbers (a name's index is its number).

import { describe, expect, it } from "vitest";
import {
  ALG_LEAST_CONN,
  ALG_P2C,
  ALG_PEAK_EWMA,
  ALG_RANDOM,
  ALG_ROUND_ROBIN,
  ALG_WEIGHTED_LEAST_CONN,
  ALG_WEIGHTED_ROUND_ROBIN,
} from "../../assembly/constants.js";
import { ALGORITHMS, type AlgorithmId, algorithmId, algorithmName } from "../../bindings/algorithms.js";
import { Balancer, type ChoiceLease, type Lease } from "../../bindings/index.js";

const counts = (bal: Balancer): Array<[string, number]> => bal.snapshot().map((b) => [b.name, b.active]);

describe("a lease across removals", () => {
  it("releases its own backend after earlier backends left the table", () => {
    const bal = new Balancer({ backends: ["a", "b", "c", "d"], algorithm: "round-robin" });
    const leases = [bal.acquire()!, bal.acquire()!, bal.acquire()!, bal.acquire()!];
    expect(leases.map((l) => l.backend)).toEqual(["a", "b", "c", "d"]);
    leases[0]!.release();
    leases[1]!.release();
    bal.remove("a"); // index 0 leaves: c and d move down one
    bal.remove("b"); // and again
    expect(bal.names).toEqual(["c", "d"]);
    expect([leases[2]!.backend, leases[2]!.removed, leases[3]!.backend, leases[3]!.removed]).toEqual(["c", false, "d", false]);
    expect(leases[3]!.release()).toBe(true);
    expect(counts(bal)).toEqual([
      ["c", 1],
      ["d", 0],
    ]);
    expect(leases[2]!.release()).toBe(true);
    expect(leases[2]!.release()).toBe(false);
    expect(counts(bal)).toEqual([
      ["c", 0],
      ["d", 0],
    ]);
  });

  it("a lease of a removed backend stays harmless after later removals; its name and `removed` hold", () => {
    const bal = new Balancer({ backends: ["a", "b", "c"], algorithm: "round-robin" });
    const la = bal.acquire()!;
    const lb = bal.acquire()!;
    const lc = bal.acquire()!;
    bal.remove("b"); // draining: b holds a lease
    expect(lb.release()).toBe(true); // the last lease: b leaves
    expect([lb.backend, lb.removed, bal.names]).toEqual(["b", true, ["a", "c"]]);
    la.release();
    bal.remove("a");
    expect([lb.backend, lb.removed, lb.release()]).toEqual(["b", true, false]);
    expect([lc.backend, lc.removed]).toEqual(["c", false]);
    bal.add("b"); // a new backend under the old name is not the old lease's
    expect([lb.removed, lb.release()]).toEqual([true, false]);
    expect(counts(bal)).toEqual([
      ["c", 1],
      ["b", 0],
    ]);
    expect(lc.release()).toBe(true);
    expect(counts(bal)).toEqual([
      ["c", 0],
      ["b", 0],
    ]);
  });

  it("a draining backend leaves on its last lease's release, whichever epoch the leases are from", () => {
    const bal = new Balancer({ backends: ["a", "b", "c"], algorithm: "round-robin" });
    const removed: string[] = [];
    bal.addEventListener("removed", (e) => removed.push((e as Event & { backend: string }).backend));
    const first = [bal.acquire()!, bal.acquire()!, bal.acquire()!]; // a, b, c
    first[0]!.release();
    const second = bal.acquire()!; // a again: round-robin wraps
    expect(second.backend).toBe("a");
    bal.remove("c");
    bal.remove("a");
    expect(second.release()).toBe(true); // a's last lease
    expect(removed).toEqual(["a"]);
    expect(first[2]!.release()).toBe(true); // c's, granted before a removal
    expect(removed).toEqual(["a", "c"]);
    expect(counts(bal)).toEqual([["b", 1]]);
    expect([first[1]!.backend, first[1]!.release(), bal.active("b")]).toEqual(["b", true, 0]);
  });

  it("a ChoiceLease names its samples after they or earlier backends were removed", () => {
    const names = ["a", "b", "c", "d", "e", "f"];
    const bal = new Balancer({ backends: names, algorithm: "power-of-two-choices", seed: 3 });
    const lease = bal.acquire() as ChoiceLease;
    const sampled = [...lease.sampled];
    const counted = [...lease.sampledActive];
    expect(sampled).toHaveLength(2);
    // Remove every backend that holds no lease, the unpicked sample included.
    for (const n of names) if (n !== lease.backend) bal.remove(n);
    expect(bal.names).toEqual([lease.backend]);
    expect([...lease.sampled]).toEqual(sampled);
    expect([...lease.sampledActive]).toEqual(counted);
    // A second lease, read only after removals.
    bal.add("x");
    bal.add("y");
    const later = bal.acquire() as ChoiceLease;
    const pick = later.backend;
    bal.remove(pick === "x" ? "y" : "x");
    expect(later.sampled.includes(pick)).toBe(true);
    expect(later.sampled.every((n) => [lease.backend, "x", "y"].includes(n))).toBe(true);
    expect([later.release(), lease.release()]).toEqual([true, true]);
    expect(bal.snapshot().every((b) => b.active === 0)).toBe(true);
  });
});

describe("failure runs and the release path", () => {
  it("a success on one backend leaves another's failure run alone; its own success resets it", () => {
    const bal = new Balancer({ backends: ["a", "b"], algorithm: "round-robin" });
    const take = (): Lease => bal.acquire()!;
    take().release({ ok: false }); // a
    take().release(); // b
    take().release({ ok: false }); // a
    take().release(); // b
    expect([bal.get("a").failures, bal.get("b").failures]).toEqual([2, 0]);
    take().release(); // a: the run ends
    expect(bal.get("a").failures).toBe(0);
    take().release({ ok: false }); // b
    take().release(); // a
    expect([bal.get("a").failures, bal.get("b").failures]).toEqual([0, 1]);
  });

  it("a removed backend's failure run stops counting, so later successes elsewhere take the short path and still count", () => {
    const bal = new Balancer({ backends: ["a", "b"], algorithm: "round-robin" });
    bal.acquire()!.release({ ok: false }); // a: a run of 1
    bal.remove("a");
    // White box: the count of Slots with a run going (bindings/lease.ts).
    expect((bal as unknown as { runs: { failing: number } }).runs.failing).toBe(0);
    for (let k = 0; k < 3; k++) bal.acquire()!.release();
    expect([bal.get("b").total, bal.get("b").active, bal.get("b").failures]).toEqual([3, 0, 0]);
  });
});

describe("the weighted-least-connections tree", () => {
  it("picks what a scan picks: 200 backends, weights 1..5, 30,000 random operations", () => {
    const n = 200;
    const weights = Array.from({ length: n }, (_, i) => 1 + ((i * 7) % 5));
    const bal = new Balancer({
      backends: weights.map((weight, i) => ({ name: `b${i}`, weight })),
      algorithm: "weighted-least-connections",
    });
    const active = new Array<number>(n).fill(0);
    const up = new Array<boolean>(n).fill(true);
    const open: Lease[] = [];
    let state = 12345;
    const rand = (k: number): number => {
      state = (state * 1103515245 + 12345) >>> 0;
      return (state >>> 8) % k;
    };
    // Least active/weight among backends up, the earliest on ties (exact: cross-multiplied).
    const scan = (): number => {
      let best = -1;
      for (let i = 0; i < n; i++) {
        if (up[i] && (best < 0 || active[i]! * weights[best]! < active[best]! * weights[i]!)) best = i;
      }
      return best;
    };
    let picks = 0;
    for (let step = 0; step < 30_000; step++) {
      const r = rand(100);
      if (r < 55 || open.length === 0) {
        const want = scan();
        const lease = bal.acquire()!;
        expect(Number(lease.backend.slice(1)), `step ${step}`).toBe(want);
        active[want]!++;
        open.push(lease);
        picks++;
      } else if (r < 97) {
        const lease = open.splice(rand(open.length), 1)[0]!;
        active[Number(lease.backend.slice(1))]!--;
        lease.release();
      } else {
        const i = rand(n);
        up[i] = !up[i];
        if (up[i]) bal.markUp(`b${i}`);
        else bal.markDown(`b${i}`);
      }
    }
    expect(picks).toBeGreaterThan(15_000);
  });
});

describe("algorithm names and the core's numbers", () => {
  it("a name's index in ALGORITHMS is its number in the core, both ways, and the aliases map to theirs", () => {
    const expected: Record<string, number> = {
      "least-connections": ALG_LEAST_CONN,
      "weighted-least-connections": ALG_WEIGHTED_LEAST_CONN,
      "round-robin": ALG_ROUND_ROBIN,
      "weighted-round-robin": ALG_WEIGHTED_ROUND_ROBIN,
      "power-of-two-choices": ALG_P2C,
      random: ALG_RANDOM,
      "peak-ewma": ALG_PEAK_EWMA,
    };
    expect([...ALGORITHMS]).toEqual(Object.keys(expected));
    for (const name of ALGORITHMS) {
      expect(algorithmId(name)).toBe(expected[name]);
      expect(algorithmId(name.toUpperCase().replaceAll("-", "_"))).toBe(expected[name]);
      expect(algorithmName(expected[name] as AlgorithmId)).toBe(name);
    }
    expect([algorithmId("leastconn"), algorithmId("Least_Conn"), algorithmId("P2C")]).toEqual([ALG_LEAST_CONN, ALG_LEAST_CONN, ALG_P2C]);
    for (const bad of ["constructor", "__proto__", "toString", "least connections", ""]) {
      expect(() => algorithmId(bad)).toThrow(expect.objectContaining({ code: "LC_ERR_UNKNOWN_ALGORITHM" }));
    }
  });
});
