// Deno's shared-memory run: two Web Workers, each doing 1,000,000
// acquire+release pairs on one shared table, must lose nothing.

import assert from "node:assert/strict";
import { test } from "node:test";
import { checkShared, PAIRS_PER_WORKER, runShared, WORKERS, webWorkerPort } from "../hammer.js";

test(`shared memory in Deno: two Web Workers, ${PAIRS_PER_WORKER} pairs each, nothing lost`, async () => {
  const dist = new URL("../../../dist/", import.meta.url).href;
  const spawn = () => webWorkerPort(new Worker(new URL("../web-worker.ts", import.meta.url), { type: "module" }));
  const outcome = await runShared(dist, spawn);
  console.log(`@@shared-begin@@\n${JSON.stringify(outcome)}\n@@shared-end@@`);
  assert.deepEqual(checkShared(outcome), []);
  assert.deepEqual(
    outcome.snapshot.map((b) => b.active),
    [0, 0, 0, 0],
  );
  assert.equal(
    outcome.snapshot.reduce((n, b) => n + b.total, 0),
    WORKERS * PAIRS_PER_WORKER,
  );
});
