// The kill run (kill.ts) in Deno, driven from vitest: Web Workers
// terminated at random moments and reclaimed (test/runtimes/deno/kill.deno.ts).

import { describe, expect, it } from "vitest";
import { between, DENO, runDeno, skipRuntime } from "./harness.js";
import { KILLS, type KillOutcome } from "./kill.js";

describe.skipIf(skipRuntime("Deno", DENO))("a dying Deno Web Worker", () => {
  it(`${KILLS} kills at random moments: no wedged lock, no leaked count`, { timeout: 60_000 }, async () => {
    const run = await runDeno(
      ["test", "--no-check", "--config", "deno.json", "--cached-only", "--allow-read", "test/runtimes/deno/kill.deno.ts"],
      55_000,
    );
    const explain = `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
    expect(run.code, explain).toBe(0);
    const outcome = JSON.parse(between(run.stdout, "kill")) as KillOutcome;
    console.log(`deno kills: ${outcome.ms} ms, leases reclaimed ${outcome.reclaimed.reduce((a, b) => a + b, 0)}`);
    expect(outcome.problems).toEqual([]);
    expect(outcome.kills).toBe(KILLS);
    expect(outcome.lockKills).toBe(3);
    expect(outcome.mainTimeouts).toEqual(["LC_ERR_LOCK_TIMEOUT"]);
    expect(outcome.finalActive).toEqual([0, 0, 0, 0]);
    expect(outcome.reclaimed.filter((n) => n > 0).length).toBeGreaterThan(KILLS / 2);
  });
});
