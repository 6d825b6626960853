// The threads build counts a request only from a count below the backend's
// limit (a compare-and-swap loop), so two threads racing for the last slot
// cannot both get it. Here, on one thread, the same build must honour limits,
// ramps and peak-ewma like the single-threaded one.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { AlgorithmId } from "../../bindings/algorithms.js";
import { CoreTable, NONE, STATE_EJECTED } from "../../bindings/core.js";

const threadsWasm = new WebAssembly.Module(readFileSync(new URL("../../build/core.threads.wasm", import.meta.url)));

function threadsTable(size: number): CoreTable {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 4096, shared: true });
  const core = CoreTable.instantiate(threadsWasm, { env: { memory } });
  expect(core.exports.reset(size, 1, 0)).toBe(0);
  for (let i = 0; i < size; i++) core.exports.add(1);
  core.refresh();
  return core;
}

describe("threads build", () => {
  for (const [name, alg] of Object.entries(AlgorithmId)) {
    it(`${name}: limits hold and full or ejected backends are not picked`, () => {
      const core = threadsTable(40);
      const e = core.exports;
      for (let i = 0; i < 40; i++) expect(e.setLimit(i, 2)).toBe(0);
      expect(e.setState(3, STATE_EJECTED)).toBe(0);
      const picks: number[] = [];
      for (let k = 0; k < 100; k++) picks.push(e.acquire(alg, k));
      expect(picks.filter((p) => p === NONE).length).toBe(100 - 78);
      expect(picks).not.toContain(3);
      for (let i = 0; i < 40; i++) expect(core.active(i)).toBe(i === 3 ? 0 : 2);
      expect(e.release(0, 12, 100)).toBe(1);
      expect(e.acquire(alg, 100)).toBe(0);
    });
  }

  it("least-connections compares active/ramp by scan", () => {
    const core = threadsTable(3);
    const e = core.exports;
    expect(e.setRamp(0, 512)).toBe(0);
    const picks = Array.from({ length: 7 }, () => e.acquire(AlgorithmId.LeastConnections, 0));
    expect(picks).toEqual([0, 1, 2, 1, 2, 0, 1]);
  });
});
