// Limits, outcomes, passive ejection and slow start, as exact timelines on
// the manual clock: when a backend is ejected, until when, how the cap keeps
// one in, what each ramp step is, and the "statechange" events they make.

import { describe, expect, it } from "vitest";
import { Balancer, type StateChangeEvent } from "../../bindings/index.js";

function manual(options: ConstructorParameters<typeof Balancer>[0]): { bal: Balancer; at: (t: number) => void; events: string[] } {
  let now = 0;
  const bal = new Balancer({ ...options, clock: () => now });
  const events: string[] = [];
  bal.addEventListener("statechange", (e: StateChangeEvent) => {
    events.push(`${e.backend} ${e.from}->${e.to} ${e.reason}${e.until === null ? "" : ` until ${e.until}`}`);
  });
  return { bal, at: (t) => void (now = t), events };
}

/** n failed requests on `name` (acquired and released with ok: false). */
function failOn(bal: Balancer, name: string, n: number): void {
  for (let k = 0; k < n; k++) {
    const lease = bal.acquire({ algorithm: "round-robin" });
    if (lease === null) throw new Error("nothing to acquire");
    if (lease.backend !== name) {
      lease.release();
      k--;
      continue;
    }
    lease.release({ ok: false });
  }
}

describe("connection limits", () => {
  it("a backend at its limit is never picked; acquire() is null when every backend is full", () => {
    const { bal } = manual({
      backends: [
        { name: "a", maxConnections: 2 },
        { name: "b", maxConnections: 1 },
      ],
    });
    const got = [bal.acquire(), bal.acquire(), bal.acquire()].map((l) => l?.backend);
    expect(got.sort()).toEqual(["a", "a", "b"]);
    expect(bal.acquire()).toBeNull();
    for (const alg of [
      "least-connections",
      "weighted-least-connections",
      "round-robin",
      "weighted-round-robin",
      "p2c",
      "random",
      "peak-ewma",
    ]) {
      expect(bal.acquire({ algorithm: alg })).toBeNull();
    }
    expect(bal.snapshot().map((s) => [s.name, s.active, s.maxConnections])).toEqual([
      ["a", 2, 2],
      ["b", 1, 1],
    ]);
  });

  it("add() and setMaxConnections() set and lift limits; a count above a lowered limit stays", () => {
    const { bal } = manual({ backends: ["a"] });
    bal.add("b", { maxConnections: 1 });
    expect(bal.get("b").maxConnections).toBe(1);
    expect(bal.get("a").maxConnections).toBeNull();
    bal.setActive("a", 5);
    bal.setMaxConnections("a", 3);
    expect(bal.get("a").active).toBe(5);
    expect(bal.acquire()!.backend).toBe("b");
    expect(bal.acquire()).toBeNull();
    bal.setMaxConnections("a", undefined);
    expect(bal.get("a").maxConnections).toBeNull();
    expect(bal.acquire()!.backend).toBe("a");
  });
});

describe("outcomes and passive ejection", () => {
  it("5 failures at t=0 eject until 30,000; back at 30,000; the 2nd ejection lasts 60,000, the 3rd 120,000", () => {
    const { bal, at, events } = manual({ backends: ["a", "b"], ejection: { maxPercent: 50 } });
    failOn(bal, "a", 4);
    expect(bal.get("a")).toMatchObject({ state: "up", failures: 4, ejectedUntil: null });
    failOn(bal, "a", 1);
    expect(bal.get("a")).toMatchObject({ state: "ejected", ejectedUntil: 30_000 });
    expect(events).toEqual(["a up->ejected ejected until 30000"]);
    at(29_999);
    expect(bal.acquire()!.backend).toBe("b");
    expect(bal.get("a").state).toBe("ejected");
    at(30_000);
    expect(bal.get("a")).toMatchObject({ state: "up", failures: 0, ejectedUntil: null });
    expect(events[1]).toBe("a ejected->up recovered");
    failOn(bal, "a", 5);
    expect(bal.get("a").ejectedUntil).toBe(90_000);
    at(90_000);
    bal.tick();
    failOn(bal, "a", 5);
    expect(bal.get("a").ejectedUntil).toBe(210_000);
    expect(events).toEqual([
      "a up->ejected ejected until 30000",
      "a ejected->up recovered",
      "a up->ejected ejected until 90000",
      "a ejected->up recovered",
      "a up->ejected ejected until 210000",
    ]);
  });

  it("ejections are capped at maxMs: base x 2^(k-1) stops growing at the cap", () => {
    const { bal, at } = manual({ backends: ["a", "b"], ejection: { consecutiveFailures: 1, baseMs: 100, maxMs: 350, maxPercent: 50 } });
    const lengths: number[] = [];
    let t = 0;
    for (let k = 0; k < 5; k++) {
      failOn(bal, "a", 1);
      const until = bal.get("a").ejectedUntil!;
      lengths.push(until - t);
      t = until;
      at(t);
    }
    expect(lengths).toEqual([100, 200, 350, 350, 350]);
  });

  it("a success resets the run: 4 failures, a success, 4 failures eject nothing", () => {
    const { bal } = manual({ backends: ["a", "b"], ejection: {} });
    failOn(bal, "a", 4);
    const lease = bal.acquire({ algorithm: "round-robin" })!;
    expect(lease.backend).toBe("b");
    lease.release();
    const ok = bal.acquire({ algorithm: "round-robin" })!;
    expect(ok.backend).toBe("a");
    ok.release({ ok: true });
    expect(bal.get("a").failures).toBe(0);
    failOn(bal, "a", 4);
    expect(bal.get("a")).toMatchObject({ state: "up", failures: 4 });
  });

  it("only the first release of a lease counts its outcome", () => {
    const { bal } = manual({ backends: ["a"], ejection: {} });
    const lease = bal.acquire()!;
    expect(lease.release({ ok: false })).toBe(true);
    expect(lease.release({ ok: false })).toBe(false);
    expect(lease.release()).toBe(false);
    expect(bal.get("a").failures).toBe(1);
  });

  it("release(name, { ok: false }) counts too; without ejection failures are counted but nothing is ejected", () => {
    const { bal } = manual({ backends: ["a", "b"] });
    for (let k = 0; k < 50; k++) {
      bal.setActive("a", 1);
      bal.release("a", { ok: false });
    }
    expect(bal.get("a")).toMatchObject({ state: "up", failures: 50 });
  });

  it("a cap of 50% with 2 backends keeps one in; the refused one keeps its run and is ejected once the other is back", () => {
    const { bal, at, events } = manual({ backends: ["a", "b"], ejection: { maxPercent: 50 } });
    failOn(bal, "a", 5);
    expect(bal.get("a").state).toBe("ejected");
    for (let k = 0; k < 7; k++) {
      bal.setActive("b", 1);
      bal.release("b", { ok: false });
    }
    expect(bal.get("b")).toMatchObject({ state: "up", failures: 7 });
    at(30_000);
    bal.tick();
    bal.setActive("b", 1);
    bal.release("b", { ok: false });
    expect(bal.get("b")).toMatchObject({ state: "ejected", ejectedUntil: 60_000 });
    expect(events).toEqual(["a up->ejected ejected until 30000", "a ejected->up recovered", "b up->ejected ejected until 60000"]);
  });

  it("maxPercent 100 still never ejects the last backend; the default 10% ejects at most 1 of 10 (and 2 of 20)", () => {
    const all = manual({ backends: ["a", "b", "c"], ejection: { consecutiveFailures: 1, maxPercent: 100 } });
    for (const n of ["a", "b", "c"]) {
      all.bal.setActive(n, 1);
      all.bal.release(n, { ok: false });
    }
    expect(all.bal.snapshot().map((s) => s.state)).toEqual(["ejected", "ejected", "up"]);
    for (const [size, out] of [
      [10, 1],
      [20, 2],
      [3, 1],
    ] as const) {
      const names = Array.from({ length: size }, (_, i) => `s${i}`);
      const { bal } = manual({ backends: names, ejection: { consecutiveFailures: 1 } });
      for (const n of names) {
        bal.setActive(n, 1);
        bal.release(n, { ok: false });
      }
      expect(bal.snapshot().filter((s) => s.state === "ejected").length).toBe(out);
    }
  });

  it("markUp ends an ejection at once, markDown forgets it, remove drains it; each says so", () => {
    const { bal, at, events } = manual({ backends: ["a", "b", "c", "d"], ejection: { consecutiveFailures: 1, maxPercent: 100 } });
    for (const n of ["a", "b", "c"]) {
      bal.setActive(n, 1);
      bal.release(n, { ok: false });
    }
    bal.markUp("a");
    bal.markDown("b");
    bal.remove("c");
    expect(bal.names).toEqual(["a", "b", "d"]);
    expect(bal.snapshot().map((s) => [s.state, s.ejectedUntil, s.failures])).toEqual([
      ["up", null, 0],
      ["down", null, 0],
      ["up", null, 0],
    ]);
    at(1_000_000);
    bal.tick();
    expect(events.slice(3)).toEqual(["a ejected->up markUp", "b ejected->down markDown", "c ejected->draining remove"]);
  });

  it("ejection is off without the option; bad option values are refused naming the field", () => {
    expect(() => new Balancer({ ejection: { consecutiveFailures: 0 } })).toThrow(
      expect.objectContaining({ field: "ejection.consecutiveFailures" }),
    );
    expect(() => new Balancer({ ejection: { baseMs: 1.5 } })).toThrow(expect.objectContaining({ field: "ejection.baseMs" }));
    expect(() => new Balancer({ ejection: { baseMs: 1000, maxMs: 999 } })).toThrow(expect.objectContaining({ field: "ejection.maxMs" }));
    expect(() => new Balancer({ ejection: { maxPercent: 101 } })).toThrow(expect.objectContaining({ field: "ejection.maxPercent" }));
    expect(() => new Balancer({ ejection: null as never })).toThrow(expect.objectContaining({ field: "ejection" }));
    // baseMs above the default maxMs raises the default maxMs with it
    const { bal } = manual({ backends: ["a", "b"], ejection: { consecutiveFailures: 1, baseMs: 400_000, maxPercent: 50 } });
    bal.setActive("a", 1);
    bal.release("a", { ok: false });
    expect(bal.get("a").ejectedUntil).toBe(400_000);
  });
});

describe("slow start", () => {
  it("ramps linearly from minPercent on the clock, at a coarse step (windowMs / 64), after add()", () => {
    const { bal, at } = manual({ backends: [{ name: "a", weight: 100 }], slowStart: { windowMs: 6400, minPercent: 10 } });
    expect(bal.get("a").effectiveWeight).toBe(100); // constructor backends start at full weight
    at(1000);
    bal.add("b", { weight: 100 });
    // ramp = floor(1024 * 10 / 100) = 102; weight 100 * 102 / 1024 = 9
    expect(bal.get("b").effectiveWeight).toBe(9);
    at(1099); // the step is 100 ms: nothing moves before it
    expect(bal.get("b").effectiveWeight).toBe(9);
    at(1100);
    // ramp = floor(1024 * (10 * 6400 + 90 * 100) / 640000) = 116; weight 100 * 116 / 1024 = 11
    expect(bal.get("b").effectiveWeight).toBe(11);
    at(4200);
    // ramp = floor(1024 * (64000 + 90 * 3200) / 640000) = 563 → 54
    expect(bal.get("b").effectiveWeight).toBe(54);
    at(7399); // refreshed: ramp 1023
    expect(bal.get("b").effectiveWeight).toBe(99);
    at(7400); // the window is over, but the next refresh is due at 7499
    expect(bal.get("b").effectiveWeight).toBe(99);
    at(7499);
    expect(bal.get("b").effectiveWeight).toBe(100);
  });

  it("a ramping backend gets a share of least-connections picks in proportion to its ramp (active / effective weight)", () => {
    const { bal, at } = manual({ backends: ["a"], slowStart: { windowMs: 1000, minPercent: 25 } });
    bal.add("b");
    const count = (): Record<string, number> => {
      const held = Array.from({ length: 100 }, () => bal.acquire()!);
      const tally: Record<string, number> = {};
      for (const l of held) tally[l.backend] = (tally[l.backend] ?? 0) + 1;
      for (const l of held) l.release();
      return tally;
    };
    expect(count()).toEqual({ a: 80, b: 20 });
    at(1000);
    expect(count()).toEqual({ a: 50, b: 50 });
  });

  it("markUp from down and the end of an ejection ramp; markUp of a draining backend does not", () => {
    const { bal, at } = manual({
      backends: [
        { name: "a", weight: 10 },
        { name: "b", weight: 10 },
        { name: "c", weight: 10 },
      ],
      slowStart: { windowMs: 1000 },
      ejection: { consecutiveFailures: 1, baseMs: 500, maxPercent: 100 },
    });
    bal.markDown("a");
    bal.markUp("a");
    expect(bal.get("a").effectiveWeight).toBe(1);
    bal.setActive("b", 1);
    bal.release("b", { ok: false });
    at(500);
    expect(bal.get("b")).toMatchObject({ state: "up", effectiveWeight: 1 });
    bal.setActive("c", 1);
    bal.remove("c");
    bal.markUp("c");
    expect(bal.get("c").effectiveWeight).toBe(10);
    at(1500);
    expect(bal.snapshot().map((s) => s.effectiveWeight)).toEqual([10, 10, 10]);
  });

  it("bad slowStart values are refused naming the field", () => {
    expect(() => new Balancer({ slowStart: {} as never })).toThrow(expect.objectContaining({ field: "slowStart.windowMs" }));
    expect(() => new Balancer({ slowStart: { windowMs: 10, minPercent: 0 } })).toThrow(
      expect.objectContaining({ field: "slowStart.minPercent" }),
    );
    expect(() => new Balancer({ slowStart: { windowMs: -1 } })).toThrow(expect.objectContaining({ field: "slowStart.windowMs" }));
    expect(() => new Balancer({ decayMs: 0 })).toThrow(expect.objectContaining({ field: "decayMs" }));
    expect(() => new Balancer({ backends: [{ name: "a", maxConnections: 0 }] })).toThrow(
      expect.objectContaining({ field: "backends[0].maxConnections" }),
    );
    expect(() => new Balancer({ backends: ["a"] }).setMaxConnections("a", 1.5)).toThrow(
      expect.objectContaining({ field: "maxConnections" }),
    );
    const lease = new Balancer({ backends: ["a"] }).acquire()!;
    expect(() => lease.release({ ok: "no" as never })).toThrow(expect.objectContaining({ field: "ok" }));
    // The refused release did not count: the lease still releases once.
    expect(lease.released).toBe(false);
    expect(lease.release()).toBe(true);
  });
});

describe("peak-ewma through the Balancer: durations come from the clock", () => {
  it("a backend 5x slower gets under 2% of picks; least-connections gives it over 3%", () => {
    const share = (algorithm: string, perAcquire?: string): number => {
      let now = 0;
      const names = ["s0", "s1", "s2", "s3", "s4", "slow"];
      const bal = new Balancer({ backends: names, algorithm, seed: 7, clock: () => now });
      // A closed loop: 12 requests in flight, each lasting 10 ms (50 ms on "slow").
      const open: Array<{ end: number; release: () => void }> = [];
      let slow = 0;
      const total = 20_000;
      for (let k = 0; k < total; k++) {
        while (open.length >= 12) {
          open.sort((x, y) => x.end - y.end);
          const next = open.shift()!;
          now = next.end;
          next.release();
        }
        const lease = (perAcquire === undefined ? bal.acquire() : bal.acquire({ algorithm: perAcquire }))!;
        if (lease.backend === "slow") slow++;
        open.push({ end: now + (lease.backend === "slow" ? 50 : 10), release: () => lease.release() });
      }
      return slow / total;
    };
    const ewma = share("peak-ewma");
    const lc = share("least-connections");
    console.log(`5x slower backend's share: peak-ewma ${(ewma * 100).toFixed(2)}%, least-connections ${(lc * 100).toFixed(2)}%`);
    expect(ewma).toBeLessThan(0.02);
    expect(lc).toBeGreaterThan(0.03);
    expect(lc / ewma).toBeGreaterThan(3);
    // Chosen per acquire over a least-connections default: durations count from the first such pick.
    expect(share("least-connections", "peak-ewma")).toBe(ewma);
  });
});

describe("a retry's pick (_acquireExcept, used by the proxy)", () => {
  const states = (bal: Balancer): string[] => bal.snapshot().map((b) => b.state);

  it("leaves out the backends tried, whatever their load, and puts every state back", () => {
    const { bal } = manual({ backends: ["a", "b", "c"], ejection: { maxPercent: 50 } });
    const busy = [bal.acquire()!, bal.acquire()!, bal.acquire()!, bal.acquire()!]; // a, b, c, a
    busy.splice(1, 1)[0]!.release(); // b: 0 in flight, c: 1, a: 2
    expect(bal._acquireExcept(["b"])!.backend).toBe("c");
    expect(bal._acquireExcept(["b", "c", "b"])!.backend).toBe("a");
    expect(bal._acquireExcept(["a", "b", "c"])).toBeNull();
    expect(bal._acquireExcept(["gone"])!.backend).toBe("b");
    expect(states(bal)).toEqual(["up", "up", "up"]);
    bal.markDown("c");
    expect(bal._acquireExcept(["a", "c"])!.backend).toBe("b");
    expect(states(bal)).toEqual(["up", "up", "down"]);
  });

  it("a listener of the pick's clock step that marks a tried backend down is not undone", () => {
    const { bal, at } = manual({ backends: ["a", "b", "c"], ejection: { maxPercent: 50 } });
    failOn(bal, "c", 5);
    bal.addEventListener("statechange", (e: StateChangeEvent) => {
      if (e.reason === "recovered") bal.markDown("a");
    });
    at(30_000); // c's ejection ends at the retry's pick
    expect(bal._acquireExcept(["a"])!.backend).not.toBe("a");
    expect(states(bal)).toEqual(["down", "up", "up"]);
  });

  it("an ejection that ends during the pick stays ended", () => {
    const { bal, at } = manual({ backends: ["a", "b"], ejection: { maxPercent: 50 } });
    failOn(bal, "a", 5);
    expect(states(bal)).toEqual(["ejected", "up"]);
    at(30_000); // a's ejection ends at the pick's own clock step: up, and not flipped back to ejected
    bal._acquireExcept(["a"])!.release();
    expect(states(bal)).toEqual(["up", "up"]);
    expect(bal.acquire()!.backend).toBe("a");
  });
});

describe("release({ ok: null }): no outcome", () => {
  it("neither ends a failure run nor counts as a failure; ok must still be a boolean or null", () => {
    const { bal } = manual({ backends: ["a", "b"], ejection: { maxPercent: 50, consecutiveFailures: 2 } });
    failOn(bal, "a", 1);
    expect(bal.get("a").failures).toBe(1);
    const lease = bal.acquire()!; // least-connections, a tie: the first
    expect(lease.backend).toBe("a");
    expect(lease.release({ ok: null })).toBe(true);
    expect(bal.get("a")).toMatchObject({ active: 0, failures: 1, state: "up" });
    const held = bal.acquire()!;
    expect(held.backend).toBe("a");
    bal.release("a", { ok: null });
    expect([held.released, bal.get("a").failures]).toEqual([false, 1]);
    failOn(bal, "a", 1);
    expect(bal.get("a").state).toBe("ejected");
    expect(() => bal.acquire()!.release({ ok: "yes" as unknown as boolean })).toThrow(/^ok must be a boolean, got "yes"$/);
  });
});
