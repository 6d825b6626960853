// Drives the Deno half of the client tests: type-checks the Deno test file
// and examples/fetch-deno.ts, runs test/runtimes/deno/fetch.deno.ts with
// `deno test` (balancedFetch from dist/ against local Deno.serve origins),
// and runs the example against a local origin.

import { describe, expect, it } from "vitest";
import { DENO, type ProcessResult, runDeno, skipRuntime } from "../runtimes/harness.js";
import { startOrigins } from "./origins.js";

const COMMON = ["--config", "deno.json", "--cached-only"];
const FILE = "test/runtimes/deno/fetch.deno.ts";

function explain(run: ProcessResult): string {
  return `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}

describe.skipIf(skipRuntime("Deno", DENO))("balancedFetch in Deno", () => {
  it("type-checks the Deno test and examples/fetch-deno.ts", async () => {
    const check = await runDeno(["check", ...COMMON, FILE, "examples/fetch-deno.ts"], 60_000);
    expect(check.code, explain(check)).toBe(0);
  });

  it("passes the Deno storm of 10,000 requests", async () => {
    const run = await runDeno(["test", "--no-check", ...COMMON, "--allow-read", "--allow-net=127.0.0.1", FILE], 60_000);
    expect(run.code, explain(run)).toBe(0);
    expect(run.stdout, explain(run)).toMatch(/^ok \| 1 passed \| 0 failed/m);
  });

  it("runs examples/fetch-deno.ts, on its own origins and on given ones", async () => {
    const alone = await runDeno(
      ["run", "--no-check", ...COMMON, "--allow-read", "--allow-net=127.0.0.1", "examples/fetch-deno.ts"],
      30_000,
    );
    expect(alone.code, explain(alone)).toBe(0);
    expect(alone.stdout).toBe("o0/hello o1/hello o2/hello\nin flight after: 0 0 0\n");
    const origins = await startOrigins(3);
    try {
      const urls = origins.map((o) => o.url).join(",");
      const run = await runDeno(
        ["run", "--no-check", ...COMMON, "--allow-read", "--allow-net=127.0.0.1", "examples/fetch-deno.ts", urls],
        30_000,
      );
      expect(run.code, explain(run)).toBe(0);
      expect(run.stdout).toBe("o0/hello o1/hello o2/hello\nin flight after: 0 0 0\n");
    } finally {
      await Promise.all(origins.map((o) => o.close()));
    }
  });
});
