// Chromium's share of the cross-runtime suite: headless Chromium (playwright-
// core, the Debian binary) loads a cross-origin-isolated page from a local
// server; the page imports dist/ as shipped and esbuild bundles of the
// runtime-neutral test modules, and hands back plain data to compare with
// Node's run, the golden report and the golden transcripts.

import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkShared, PAIRS_PER_WORKER, type SharedOutcome, WORKERS } from "./hammer.js";
import { bundle, CHROMIUM, DIST_URL, launchChromium, ROOT, readGolden, skipRuntime, startServer, type TestServer } from "./harness.js";
import { loadLibrary } from "./library.js";
import { runScenario } from "./scenario.js";
import type { TranscriptRun } from "./session-entry.js";
import { listTranscripts, transcriptFailures } from "./transcripts.js";

const PAGE = `<!doctype html><meta charset="utf-8"><title>leastconn runtime tests</title><link rel="icon" href="data:,">
<script type="module">
  import * as tests from "/test/runtimes/browser.js";
  window.leastconnTests = tests;
</script>`;

describe.skipIf(skipRuntime("Chromium", CHROMIUM))("Chromium", () => {
  let server: TestServer | undefined;
  let browser: Browser | undefined;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    // A handler that does not bundle must fail the transcripts, not the page.
    const session = await bundle("test/runtimes/session-entry.ts").catch(
      (err: Error) => `throw new Error(${JSON.stringify(`session-entry.ts did not bundle: ${err.message}`)});`,
    );
    server = await startServer({
      "/": PAGE,
      "/test/runtimes/browser.js": await bundle("test/runtimes/browser.ts"),
      "/test/runtimes/web-worker.js": await bundle("test/runtimes/web-worker.ts"),
      "/test/runtimes/session-entry.js": session,
    });
    browser = await launchChromium();
    page = await browser.newPage();
    page.on("pageerror", (err) => pageErrors.push(err.stack ?? err.message));
    page.on("console", (msg) => {
      if (msg.type() === "error") pageErrors.push(msg.text());
    });
    await page.goto(`${server.url}/`);
    await page.waitForFunction("window.leastconnTests !== undefined", null, { timeout: 30_000 });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("serves a cross-origin-isolated page", async () => {
    expect(await page.evaluate("[crossOriginIsolated, typeof SharedArrayBuffer]")).toEqual([true, "function"]);
  });

  it("prints the same scenario report as Node, byte for byte", async () => {
    const text = (await page.evaluate("window.leastconnTests.scenario()")) as string;
    const node = runScenario(await loadLibrary(DIST_URL)).text;
    expect(text).toBe(node);
    expect(text).toBe(readGolden());
    expect(pageErrors).toEqual([]);
  });

  const transcripts = listTranscripts(ROOT);
  it("runs every transcript to its golden output and diagnostics", async () => {
    expect(transcripts.length).toBeGreaterThan(0);
    const runs = (await page.evaluate(
      `window.leastconnTests.transcripts(${JSON.stringify(transcripts.map((t) => t.input))})`,
    )) as TranscriptRun[];
    expect(runs.length).toBe(transcripts.length);
    expect(transcripts.flatMap((t, i) => transcriptFailures(ROOT, t, runs[i]!))).toEqual([]);
  });

  it(`loses no update with two Web Workers (${PAIRS_PER_WORKER} pairs each)`, async () => {
    const outcome = (await page.evaluate(`window.leastconnTests.shared(${PAIRS_PER_WORKER})`)) as SharedOutcome;
    console.log(`chromium shared: ${outcome.ms} ms, contended picks ${outcome.reports.map((r) => r.contended).join(" + ")}`);
    expect(checkShared(outcome)).toEqual([]);
    expect(outcome.snapshot.reduce((n, b) => n + b.total, 0)).toBe(WORKERS * PAIRS_PER_WORKER);
    expect(pageErrors).toEqual([]);
  });

  it("runs examples/browser.html", async () => {
    const example = await browser!.newPage();
    try {
      await example.goto(`${server!.url}/examples/browser.html`);
      await example.waitForFunction("document.getElementById('out').textContent.includes('worker')", null, { timeout: 20_000 });
      expect(await example.evaluate("document.getElementById('out').textContent")).toBe(
        "picked api-1 then api-2\nworker picked a,b,a,b totals a=2 b=2\n",
      );
    } finally {
      await example.close();
    }
  });
});
