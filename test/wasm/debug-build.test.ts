// The debug build of the core (assertions on, instantiated through
// @assemblyscript/loader for readable abort messages) must pick exactly as
// the release build over the same random workload. Catches code that only
// works because --noAssert removed a check.

import { readFileSync } from "node:fs";
import { instantiateSync } from "@assemblyscript/loader";
import { describe, expect, it } from "vitest";
import { ALGORITHMS } from "../../bindings/algorithms.js";
import { Balancer } from "../../bindings/balancer.js";
import { type CoreExports, CoreTable, NO_LIMIT, RAMP_ONE, STATE_EJECTED } from "../../bindings/core.js";

const debugWasm = readFileSync(new URL("../../build/core.debug.wasm", import.meta.url));

function debugBalancer(options: ConstructorParameters<typeof Balancer>[0]): Balancer {
  const { exports } = instantiateSync<Record<string, unknown>>(debugWasm, {});
  return new Balancer(options, { core: new CoreTable(exports as unknown as CoreExports), mode: "own" });
}

// A small deterministic generator for the workload (not the core's).
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0);
}

function run(lb: Balancer, seed: number, steps: number): string[] {
  const rand = lcg(seed);
  const leases: Array<ReturnType<Balancer["acquire"]>> = [];
  const log: string[] = [];
  for (let step = 0; step < steps; step++) {
    const r = rand() % 100;
    const names = lb.names;
    if (r < 50) {
      const lease = lb.acquire({ algorithm: ALGORITHMS[rand() % ALGORITHMS.length]! });
      log.push(lease ? lease.backend : "-");
      if (lease) leases.push(lease);
    } else if (r < 80 && leases.length > 0) {
      log.push(String(leases.splice(rand() % leases.length, 1)[0]!.release()));
    } else if (r < 85 && names.length > 0) {
      lb.setActive(names[rand() % names.length]!, rand() % 50);
    } else if (r < 90 && names.length > 0) {
      lb.setWeight(names[rand() % names.length]!, rand() % 5);
    } else if (r < 93 && names.length > 0) {
      const name = names[rand() % names.length]!;
      if (rand() % 2) lb.markDown(name);
      else lb.markUp(name);
    } else if (r < 96) {
      lb.add(`b${step}`, { weight: 1 + (rand() % 4) });
    } else if (names.length > 1) {
      lb.remove(names[rand() % names.length]!);
    }
  }
  log.push(JSON.stringify(lb.snapshot()));
  return log;
}

describe("debug build", () => {
  for (const [label, size] of [
    ["small table (scan)", 6],
    ["large table (trees)", 80],
  ] as const) {
    it(`picks like the release build on a ${label}`, () => {
      const options = (): ConstructorParameters<typeof Balancer>[0] => ({
        backends: Array.from({ length: size }, (_, i) => ({ name: `s${i}`, weight: 1 + (i % 3) })),
        seed: 7,
        clock: () => 1,
        tieBreak: size > 10 ? "rotate" : "first",
      });
      const expected = run(new Balancer(options()), 11, 20_000);
      expect(run(debugBalancer(options()), 11, 20_000)).toEqual(expected);
      expect(expected.filter((x) => x === "-").length).toBeLessThan(expected.length / 2);
    });
  }

  // The exports the Balancer does not drive yet (limits, the ejected state,
  // slow start, peak-ewma with durations): a raw workload whose every return
  // code, and the final counts and costs, must be the same in both builds.
  function rawRun(core: CoreTable, size: number, seed: number, steps: number): number[] {
    const e = core.exports;
    const rand = lcg(seed);
    const out: number[] = [];
    e.reset(size, 7, size > 10 ? 1 : 0);
    for (let i = 0; i < size; i++) e.add(1 + (i % 3));
    let now = 0;
    for (let step = 0; step < steps; step++) {
      const r = rand() % 100;
      const n = e.size();
      const i = rand() % n;
      now += rand() % 7;
      if (r < 45) out.push(e.acquire(rand() % 7, now));
      else if (r < 75) out.push(e.release(i, (rand() % 200) - 20, now));
      else if (r < 80) out.push(e.setLimit(i, rand() % 4 === 0 ? NO_LIMIT : rand() % 20));
      else if (r < 87) out.push(e.setRamp(i, rand() % 3 === 0 ? RAMP_ONE : 1 + (rand() % RAMP_ONE)));
      else if (r < 90) out.push(e.setState(i, rand() % (STATE_EJECTED + 1)));
      else if (r < 93) out.push(e.setActive(i, rand() % 30));
      else if (r < 95) out.push(e.setWeight(i, rand() % 4));
      else if (r < 96) out.push(e.setDecay(1 + (rand() % 20_000)));
      else if (r < 98) out.push(e.add(1 + (rand() % 3)));
      else if (n > 2) out.push(e.removeAt(i));
    }
    core.refresh();
    for (let i = 0; i < e.size(); i++) out.push(core.active(i), core.total(i), core.limit(i), core.ramp(i), core.cost(i));
    return out;
  }

  for (const size of [6, 80]) {
    it(`limits, ejection, slow start and peak-ewma agree with the release build (${size} backends)`, () => {
      const { exports } = instantiateSync<Record<string, unknown>>(debugWasm, {});
      const release = rawRun(CoreTable.instantiate(), size, 5, 30_000);
      expect(rawRun(new CoreTable(exports as unknown as CoreExports), size, 5, 30_000)).toEqual(release);
      // The workload reaches what it means to test: picks, refusals (NONE) and observed costs.
      expect(release.filter((x) => x === -1).length).toBeGreaterThan(100);
      expect(release.slice(-5 * size).some((x, k) => k % 5 === 4 && x > 0)).toBe(true);
    });
  }

  it("refuses out-of-range indices by return code, with assertions on", () => {
    const { exports } = instantiateSync<Record<string, unknown>>(debugWasm, {});
    const core = exports as unknown as CoreExports;
    expect(core.reset(4, 0, 0)).toBe(0);
    expect(core.add(1)).toBe(0);
    for (const call of [
      () => core.removeAt(5),
      () => core.release(9, -1, 0),
      () => core.setActive(1, 3),
      () => core.setState(0, 7),
      () => core.acquire(7, 0),
    ]) {
      expect(call()).toBe(-3);
    }
    expect(core.acquire(0, 0)).toBe(0);
    expect(core.release(0, -1, 0)).toBe(1);
    expect(core.release(0, -1, 0)).toBe(0);
  });
});
