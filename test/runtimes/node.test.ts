// Node's share of the cross-runtime suite: the conformance scenario against
// the golden report, the protocol transcripts through the node's session,
// and two worker_threads hammering one shared table. The scenario report
// produced here is also what deno.test.ts and chromium.test.ts compare with.

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkShared, PAIRS_PER_WORKER, runShared, WORKERS, type WorkerPort } from "./hammer.js";
import { bundle, DIST_URL, GOLDEN_SCENARIO, ROOT, readGolden } from "./harness.js";
import { loadLibrary } from "./library.js";
import { OPS_PER_PHASE, runScenario } from "./scenario.js";
import { runTranscript } from "./session-entry.js";
import { listTranscripts, readBytes, transcriptFailures } from "./transcripts.js";

const OP_KINDS = [
  "acquire",
  "acquireWith",
  "add",
  "cancel",
  "enqueue",
  "get",
  "leaseRelease",
  "markDown",
  "markUp",
  "release",
  "releaseFailed",
  "remove",
  "setActive",
  "setAlgorithm",
  "setMaxConnections",
  "setWeight",
  "snapshot",
  "tick",
];

describe("conformance scenario in Node", () => {
  it("covers every operation and algorithm and prints the golden report", async () => {
    const result = runScenario(await loadLibrary(DIST_URL));
    // Regenerated on purpose only, never by accident (README: Development).
    if (process.env.UPDATE_GOLDENS === "1") writeFileSync(GOLDEN_SCENARIO, result.text);
    expect(Object.keys(result.ops).sort()).toEqual(OP_KINDS);
    expect(Object.values(result.ops).reduce((a, b) => a + b, 0)).toBe(12 * OPS_PER_PHASE);
    expect(Object.keys(result.algorithms).sort()).toEqual([
      "least-connections",
      "peak-ewma",
      "power-of-two-choices",
      "random",
      "round-robin",
      "weighted-least-connections",
      "weighted-round-robin",
    ]);
    for (const n of Object.values(result.algorithms)) expect(n).toBeGreaterThan(1000);
    expect(result.text.endsWith(`digest ${result.digest}\n`)).toBe(true);
    expect(result.text, "regenerate with UPDATE_GOLDENS=1 only if the change is intended").toBe(readGolden());
  });

  it("is sensitive to its seed", async () => {
    const lib = await loadLibrary(DIST_URL);
    expect(runScenario(lib, 1).digest).not.toBe(runScenario(lib).digest);
  });
});

describe("protocol transcripts in Node", () => {
  const transcripts = listTranscripts(ROOT);
  it("finds transcripts", () => {
    expect(transcripts.length).toBeGreaterThan(0);
  });
  it.each(transcripts.map((t) => [t.input, t] as const))("%s", (_name, t) => {
    expect(transcriptFailures(ROOT, t, runTranscript(readBytes(ROOT, t.input)))).toEqual([]);
  });
});

describe("shared memory with worker_threads", () => {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "leastconn-node-worker-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`two workers, ${PAIRS_PER_WORKER} acquire+release pairs each: nothing lost`, async () => {
    const workerFile = join(dir, "node-worker.mjs");
    writeFileSync(workerFile, await bundle("test/runtimes/node-worker.ts", "node"));
    const spawn = (): WorkerPort => {
      const worker = new Worker(workerFile);
      return {
        post: (message) => worker.postMessage(message),
        onMessage: (listener) => {
          worker.on("message", listener);
          worker.on("error", (err) => listener({ error: err.stack ?? String(err) }));
        },
        terminate: () => void worker.terminate(),
      };
    };
    const outcome = await runShared(DIST_URL, spawn);
    console.log(`node shared: ${outcome.ms} ms, contended picks ${outcome.reports.map((r) => r.contended).join(" + ")}`);
    expect(checkShared(outcome)).toEqual([]);
    expect(outcome.snapshot.map((b) => b.active)).toEqual([0, 0, 0, 0]);
    expect(outcome.snapshot.reduce((n, b) => n + b.total, 0)).toBe(WORKERS * PAIRS_PER_WORKER);
  });
});

describe("examples/node.mjs", () => {
  it("prints its picks", () => {
    const out = execFileSync(process.execPath, ["examples/node.mjs"], { cwd: ROOT, encoding: "utf8" });
    expect(out).toBe("picked api-1 then api-2\nworker picked a,b,a,b totals a=2 b=2\n");
  });
});
