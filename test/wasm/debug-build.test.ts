// The debug build of the core (assertions on, instantiated through
// @assemblyscript/loader for readable abort messages) must pick exactly as
// the release build over the same random workload. Catches code that only
// works because --noAssert removed a check.

import { readFileSync } from "node:fs";
import { instantiateSync } from "@assemblyscript/loader";
import { describe, expect, it } from "vitest";
import { Balancer } from "../../bindings/balancer.js";
import { ALGORITHMS } from "../../bindings/algorithms.js";
import { CoreTable, type CoreExports } from "../../bindings/core.js";

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
  for (const [label, size] of [["small table (scan)", 6], ["large table (trees)", 80]] as const) {
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

  it("refuses out-of-range indices by return code, with assertions on", () => {
    const { exports } = instantiateSync<Record<string, unknown>>(debugWasm, {});
    const core = exports as unknown as CoreExports;
    expect(core.reset(4, 0, 0)).toBe(0);
    expect(core.add(1)).toBe(0);
    for (const call of [() => core.removeAt(5), () => core.release(9, -1, 0), () => core.setActive(1, 3), () => core.setState(0, 7), () => core.acquire(7, 0)]) {
      expect(call()).toBe(-3);
    }
    expect(core.acquire(0, 0)).toBe(0);
    expect(core.release(0, -1, 0)).toBe(1);
    expect(core.release(0, -1, 0)).toBe(0);
  });
});
