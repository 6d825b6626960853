// A table of 100,000 backends through the Balancer: exact least-connections
// picks after scattered count changes, a drain and removal in the middle,
// and every algorithm against the model (./model.ts) over 400 picks; and
// weighted least-connections on 5,000 backends against a brute-force scan
// after every step. In the slow project: these take a few seconds.

import { describe, expect, it } from "vitest";
import { Balancer, ChoiceLease, type Lease } from "../../bindings/index.js";
import { Model } from "./model.js";

describe("100,000 backends", () => {
  const N = 100_000;
  const name = (i: number): string => `n${i}`;

  it("least-connections picks exactly after scattered setActive calls", () => {
    const bal = new Balancer({ backends: Array.from({ length: N }, (_, i) => name(i)) });
    expect(bal.size).toBe(N);
    for (let i = 0; i < N; i++) bal.setActive(name(i), 3);
    const ones = [99_999, 54_321, 7, 77_777];
    for (const i of ones) bal.setActive(name(i), 1);
    bal.setActive(name(12_345), 0);
    const picks = Array.from({ length: 12 }, () => bal.acquire()!.backend);
    expect(picks).toEqual([
      "n12345", // 0 -> 1
      "n7",
      "n12345",
      "n54321",
      "n77777",
      "n99999", // all at 1, in index order
      "n7",
      "n12345",
      "n54321",
      "n77777",
      "n99999", // all at 2
      "n0", // everything at 3: the lowest index
    ]);
    // a single scattered lower count wins at once, wherever it is
    bal.setActive(name(88_888), 2);
    expect(bal.acquire()!.backend).toBe("n88888");
    bal.markDown("n1");
    bal.setActive("n2", 0);
    bal.setActive("n1", 0);
    expect(bal.acquire()!.backend).toBe("n2");
    expect(bal.acquire({ algorithm: "round-robin" })!.backend).toBe("n0");
    expect(bal.acquire({ algorithm: "round-robin" })!.backend).toBe("n2");
    // removing a busy backend in the middle drains it; at 0 it leaves and the rest shift down
    bal.remove("n50000");
    expect(bal.get("n50000")).toMatchObject({ active: 3, state: "draining" });
    expect(bal.size).toBe(N);
    bal.setActive("n50000", 0);
    expect(bal.size).toBe(N - 1);
    expect(bal.has("n50000")).toBe(false);
    bal.setActive("n50001", 0);
    expect(bal.acquire()!.backend).toBe("n50001");
    expect(bal.names[50_000]).toBe("n50001");
  });

  it("every algorithm equals the model over 100,000 backends (rotate mode, 400 picks)", () => {
    const backends = Array.from({ length: N }, (_, i) => ({ name: name(i), weight: 1 + (i % 4), connections: (i * 7919) % 5 }));
    const options = { backends, seed: 99, tieBreak: "rotate" as const };
    const bal = new Balancer(options);
    const model = new Model(options);
    const algs = ["least-connections", "weighted-least-connections", "round-robin", "power-of-two-choices", "random"];
    const leases: Array<[Lease, ReturnType<Model["acquire"]>]> = [];
    for (let k = 0; k < 400; k++) {
      if (k % 20 === 0) {
        const i = (k * 7331) % N;
        const n = model.backends[i]!.name;
        bal.setActive(n, 0);
        model.setActive(n, 0);
        bal.markDown(model.backends[(i + 1) % model.backends.length]!.name);
        model.markDown(model.backends[(i + 1) % model.backends.length]!.name);
      }
      const alg = algs[k % algs.length]!;
      const lease = bal.acquire({ algorithm: alg })!;
      const pick = model.acquire(0, alg)!;
      expect(lease.backend, `pick ${k} (${alg})`).toBe(pick.name);
      if (lease instanceof ChoiceLease) expect(lease.sampled).toEqual(pick.sampled);
      leases.push([lease, pick]);
      if (k % 3 === 0) {
        const [l, p] = leases[(k * 13) % leases.length]!;
        expect(l.release()).toBe(model.releaseLease(p!.lease));
      }
    }
    expect(bal.snapshot().map((s) => [s.name, s.active, s.total, s.state])).toEqual(
      model.backends.map((b) => [b.name, b.active, b.total, b.state]),
    );
  });
});

describe("weighted least-connections over a deep tree", () => {
  // 5,000 backends make the weighted tree seven levels deep: every pick,
  // after random releases (which climb it with one comparison a level),
  // limits filling up, and backends going down and up, must be the least
  // active/weight among the backends that can take traffic, the earliest on ties.
  it("picks the least active/weight, checked by brute force after every step (3,000 steps)", () => {
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const N = 5000;
    const backends = Array.from({ length: N }, (_, i) => ({ name: `n${i}`, weight: 1 + rnd(7), maxConnections: 1 + rnd(4) }));
    const bal = new Balancer({ backends, algorithm: "weighted-least-connections" });
    const held: Lease[] = [];
    let picks = 0;
    let releases = 0;
    for (let k = 0; k < 3000; k++) {
      if (held.length > 0 && rnd(3) === 0) {
        expect(held.splice(rnd(held.length), 1)[0]!.release()).toBe(true);
        releases++;
        continue;
      }
      if (rnd(50) === 0) {
        const b = `n${rnd(N)}`;
        if (rnd(2) === 0) bal.markDown(b);
        else bal.markUp(b);
      }
      let best: { name: string; active: number; weight: number } | null = null;
      for (const s of bal.snapshot()) {
        if (s.state !== "up" || s.weight === 0 || (s.maxConnections !== null && s.active >= s.maxConnections)) continue;
        if (best === null || s.active * best.weight < best.active * s.weight) best = s;
      }
      const lease = bal.acquire();
      expect(lease?.backend ?? null, `step ${k}`).toBe(best?.name ?? null);
      if (lease !== null) held.push(lease);
      picks++;
    }
    for (const l of held) l.release();
    expect(bal.snapshot().every((s) => s.active === 0)).toBe(true);
    expect([picks > 1800, releases > 600]).toEqual([true, true]);
  });
});
