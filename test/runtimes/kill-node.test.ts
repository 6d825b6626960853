// The kill run (kill.ts) with worker_threads: 100 workers terminated at
// random moments (three inside a locked call), each reclaimed from the
// main thread; counts must match the live workers' leases after every one.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundle, DIST_URL } from "./harness.js";
import { KILLS, type KillPort, runKills } from "./kill.js";

describe("a dying worker_threads worker", () => {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "leastconn-node-kill-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`${KILLS} kills at random moments: no wedged lock, no leaked count`, { timeout: 45_000 }, async () => {
    const workerFile = join(dir, "node-kill-worker.mjs");
    writeFileSync(workerFile, await bundle("test/runtimes/node-kill-worker.ts", "node"));
    const spawn = (): KillPort => {
      const worker = new Worker(workerFile);
      return {
        post: (order) => worker.postMessage(order),
        onMessage: (listener) => {
          worker.on("message", listener);
          worker.on("error", (err) => listener({ error: err.stack ?? String(err) }));
        },
        // Resolves on the worker's exit: only then is it reclaimed.
        terminate: async () => void (await worker.terminate()),
      };
    };
    const outcome = await runKills(DIST_URL, spawn);
    console.log(`node kills: ${outcome.ms} ms, leases reclaimed ${outcome.reclaimed.reduce((a, b) => a + b, 0)}`);
    expect(outcome.problems).toEqual([]);
    expect(outcome.kills).toBe(KILLS);
    expect(outcome.lockKills).toBe(3);
    expect(outcome.mainTimeouts).toEqual(["LC_ERR_LOCK_TIMEOUT"]);
    expect(outcome.finalActive).toEqual([0, 0, 0, 0]);
    // Workers hold up to 6 leases each: most kills take some with them.
    expect(outcome.reclaimed.filter((n) => n > 0).length).toBeGreaterThan(KILLS / 2);
  });
});
