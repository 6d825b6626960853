// Deno's kill run (kill.ts): 4 Web Workers, 100 terminated at random moments
// (three inside a locked call) and reclaimed; prints the outcome for
// kill-deno.test.ts and asserts it here too.

import assert from "node:assert/strict";
import { test } from "node:test";
import { runKills, webKillPort } from "../kill.js";

test("kills in Deno: no wedged lock, no leaked count", async () => {
  const dist = new URL("../../../dist/", import.meta.url).href;
  const spawn = () => webKillPort(new Worker(new URL("../web-kill-worker.ts", import.meta.url), { type: "module" }));
  const outcome = await runKills(dist, spawn);
  console.log(`@@kill-begin@@\n${JSON.stringify(outcome)}\n@@kill-end@@`);
  assert.deepEqual(outcome.problems, []);
  assert.deepEqual(outcome.finalActive, [0, 0, 0, 0]);
});
