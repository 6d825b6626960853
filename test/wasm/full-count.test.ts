// A backend whose active count is at 2^32-1 cannot count one more request,
// so no algorithm may pick it, and random draws must move on to one that can
// rather than report that nothing can take traffic. The bindings cap
// snapshots at 2^31-1, so this edge is reached only through the raw core.

import { describe, expect, it } from "vitest";
import { ALGORITHMS, algorithmId } from "../../bindings/algorithms.js";
import { CoreTable, NONE, SAMPLE_FIRST, SAMPLE_SECOND } from "../../bindings/core.js";

const FULL = 0xffffffff;

function table(size: number): CoreTable {
  const core = CoreTable.instantiate();
  const e = core.exports;
  expect(e.reset(size, 3, 0)).toBe(0);
  for (let i = 0; i < size; i++) expect(e.add(1)).toBe(i);
  core.refresh();
  return core;
}

describe("a backend at 2^32-1 active", () => {
  for (const size of [3, 40]) {
    for (const name of ALGORITHMS) {
      const alg = algorithmId(name);
      it(`is never picked by ${name} (${size} backends), and the others still are`, () => {
        const core = table(size);
        const e = core.exports;
        e.setActive(0, FULL);
        // Held, not released at once, so the counts move and picks spread.
        const picks: number[] = [];
        for (let k = 0; k < 500; k++) {
          const pick = e.acquire(alg, 0);
          expect(pick).toBeGreaterThan(0);
          picks.push(pick);
          if (name === "power-of-two-choices") {
            expect(e.sample(SAMPLE_FIRST)).toBeGreaterThan(0);
            expect(e.sample(SAMPLE_SECOND)).toBeGreaterThan(0);
            expect(e.sample(SAMPLE_FIRST)).not.toBe(e.sample(SAMPLE_SECOND));
          }
        }
        expect(new Set(picks).size).toBe(size - 1);
        for (const pick of picks) expect(e.release(pick, -1, 0)).toBe(1);
        expect(core.active(0)).toBe(FULL);
        expect(core.total(0)).toBe(0);
      });
    }
  }

  it("when every backend is full, nothing is picked and nothing changes", () => {
    const core = table(3);
    for (let i = 0; i < 3; i++) core.exports.setActive(i, FULL);
    for (const name of ALGORITHMS) expect(core.exports.acquire(algorithmId(name), 0), name).toBe(NONE);
    expect([core.total(0), core.total(1), core.total(2)]).toEqual([0, 0, 0]);
  });
});
