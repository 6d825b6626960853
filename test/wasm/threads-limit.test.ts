// The threads build counts a request only from a count below the backend's
// limit (a compare-and-swap loop), so two threads racing for the last slot
// cannot both get it: two workers fill a shared table and together take
// exactly the limits. On one thread, the same build must honour limits,
// ejection and ramps like the single-threaded one.

import { readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { AlgorithmId } from "../../bindings/algorithms.js";
import { CoreTable, NONE, STATE_EJECTED } from "../../bindings/core.js";

const threadsWasm = new WebAssembly.Module(readFileSync(new URL("../../build/core.threads.wasm", import.meta.url)));
// The threads build throws through this import (bindings/shared.ts); no call here should.
const threadsFail = (code: number): never => {
  throw new Error(`core fail ${code}`);
};

function threadsTable(size: number): CoreTable {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 4096, shared: true });
  const core = CoreTable.instantiate(threadsWasm, { env: { memory, fail: threadsFail } });
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

  it("two threads racing for one slot never both hold it", { timeout: 30_000 }, async () => {
    // One backend with limit 1: each worker acquires, reads the count while
    // it holds the slot (it must be 1: the other thread cannot have counted
    // too), and releases, 2,000,000 times each. With a plain atomic increment
    // in place of the compare-and-swap, this saw 11,628 counts of 2.
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 4096, shared: true });
    const core = CoreTable.instantiate(threadsWasm, { env: { memory, fail: threadsFail } });
    const e = core.exports;
    expect(e.reset(1, 1, 0)).toBe(0);
    expect(e.add(1)).toBe(0);
    expect(e.setLimit(0, 1)).toBe(0);
    core.refresh();
    // Both workers start together: each checks in, then spins until both have.
    const gate = new Int32Array(new SharedArrayBuffer(4));
    const source = `
      const { parentPort, workerData } = require("node:worker_threads");
      const e = new WebAssembly.Instance(workerData.module, { env: { memory: workerData.memory, fail: () => { throw new Error("core fail"); } } }).exports;
      e.attach();
      const counts = new Uint32Array(workerData.memory.buffer);
      const gate = new Int32Array(workerData.gate);
      Atomics.add(gate, 0, 1);
      while (Atomics.load(gate, 0) < 2) {}
      let got = 0, over = 0;
      // At least 1,000 slots each: on a loaded machine the other thread can
      // be descheduled holding the slot for this whole loop's 2,000,000 tries.
      for (let k = 0; k < 2000000 || got < 1000; k++) {
        const i = e.acquire(${AlgorithmId.LeastConnections}, 0);
        if (i < 0) continue;
        got++;
        if (Atomics.load(counts, workerData.activeAt) > 1) over++;
        e.release(i, -1, 0);
      }
      parentPort.postMessage({ got, over });
    `;
    const run = () =>
      new Promise<{ got: number; over: number }>((resolve, reject) => {
        const w = new Worker(source, {
          eval: true,
          workerData: { module: threadsWasm, memory, gate: gate.buffer, activeAt: core.activeAt },
        });
        w.once("message", (result: { got: number; over: number }) => {
          resolve(result);
          void w.terminate();
        });
        w.once("error", reject);
      });
    const [a, b] = await Promise.all([run(), run()]);
    expect(a.got).toBeGreaterThanOrEqual(1000);
    expect(b.got).toBeGreaterThanOrEqual(1000);
    expect(a.over + b.over).toBe(0);
    core.refresh();
    expect(core.active(0)).toBe(0);
  });
});
