// Deno's share of the cross-runtime suite, driven from vitest: type-checks
// the Deno test files and the Web Worker in one `deno check` (checking each
// worker as it starts costs seconds per worker), then runs them with
// `deno test` and compares what they printed with Node's own run.
// Nothing is downloaded: --cached-only, and deno.json points Deno at the
// installed node_modules.

import { describe, expect, it } from "vitest";
import { checkShared, PAIRS_PER_WORKER, type SharedOutcome, WORKERS } from "./hammer.js";
import { between, DENO, DIST_URL, type ProcessResult, ROOT, readGolden, runDeno, skipRuntime } from "./harness.js";
import { loadLibrary } from "./library.js";
import { runScenario } from "./scenario.js";
import { listTranscripts } from "./transcripts.js";

const FILES = ["test/runtimes/deno/conformance.deno.ts", "test/runtimes/deno/shared.deno.ts", "test/runtimes/deno/transcripts.deno.ts"];
const COMMON = ["--config", "deno.json", "--cached-only"];

function explain(run: ProcessResult): string {
  return `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}

describe.skipIf(skipRuntime("Deno", DENO))("Deno", () => {
  // One `deno test` run serves the three checks below; whichever runs first
  // starts it, so each passes or fails on its own under a -t filter.
  let denoTests: Promise<ProcessResult> | undefined;
  const runDenoTests = (): Promise<ProcessResult> => (denoTests ??= runDeno(["test", "--no-check", ...COMMON, "--allow-read", ...FILES]));

  it("type-checks the Deno tests, the worker and examples/deno.ts", async () => {
    const check = await runDeno(["check", ...COMMON, ...FILES, "test/runtimes/web-worker.ts", "examples/deno.ts"]);
    expect(check.code, explain(check)).toBe(0);
  });

  it("passes every Deno test", async () => {
    const run = await runDenoTests();
    expect(run.code, explain(run)).toBe(0);
    // conformance, shared, "transcripts exist", and one per transcript.
    const expected = 3 + listTranscripts(ROOT).length;
    expect(run.stdout, explain(run)).toMatch(new RegExp(`^ok \\| ${expected} passed \\| 0 failed`, "m"));
  });

  it("prints the same scenario report as Node, byte for byte", async () => {
    const run = await runDenoTests();
    const node = runScenario(await loadLibrary(DIST_URL)).text;
    expect(between(run.stdout, "scenario"), explain(run)).toBe(node);
    expect(node).toBe(readGolden());
  });

  it(`loses no update with two Web Workers (${PAIRS_PER_WORKER} pairs each)`, async () => {
    const run = await runDenoTests();
    const outcome = JSON.parse(between(run.stdout, "shared")) as SharedOutcome;
    console.log(`deno shared: ${outcome.ms} ms, contended picks ${outcome.reports.map((r) => r.contended).join(" + ")}`);
    expect(checkShared(outcome)).toEqual([]);
    expect(outcome.snapshot.reduce((n, b) => n + b.total, 0)).toBe(WORKERS * PAIRS_PER_WORKER);
  });

  it("runs examples/deno.ts", async () => {
    const example = await runDeno(["run", "--no-check", ...COMMON, "--allow-read", "examples/deno.ts"]);
    expect(example.code, explain(example)).toBe(0);
    expect(example.stdout).toBe("picked api-1 then api-3\nworker picked a,b,a,b totals a=2 b=2\n");
  });
});
