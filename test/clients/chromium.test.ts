// balancedFetch in headless Chromium: a page served by a local server (the
// runtime tests' server, so dist/ is what ships) calls three other local
// origins, cross-origin with CORS, through dist/fetch.js. The page runs the
// runtime-neutral storm and hands back per-origin counts: the two fast
// origins share alike, the slow one gets far fewer, every count ends at 0.
// Also runs examples/fetch-browser.html.

import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundle, CHROMIUM, launchChromium, skipRuntime, startServer, type TestServer } from "../runtimes/harness.js";
import { type Origin, startOrigins } from "./origins.js";
import type { StormReport } from "./storm.js";

const PAGE = `<!doctype html><meta charset="utf-8"><title>leastconn client tests</title><link rel="icon" href="data:,">
<script type="module">
  import { balancedFetch } from "/dist/fetch.js";
  import { storm, stormProblems } from "/test/clients/storm.js";
  window.clientTests = {
    async storm(origins, n) {
      const fetch = balancedFetch({ origins, bodyIdleTimeoutMs: 100, tieBreak: "rotate" });
      const report = await storm(fetch, { n, concurrency: 16, seed: 5, deadlineMs: 30000, settleMs: 2000 });
      return { report, problems: stormProblems(report, n, 2) };
    },
  };
</script>`;

const N = 1_000;

describe.skipIf(skipRuntime("Chromium", CHROMIUM))("balancedFetch in Chromium", () => {
  let server: TestServer | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let origins: Origin[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    origins = await startOrigins(3);
    server = await startServer({ "/": PAGE, "/test/clients/storm.js": await bundle("test/clients/storm.ts") });
    browser = await launchChromium();
    page = await browser.newPage();
    page.on("pageerror", (err) => pageErrors.push(err.stack ?? err.message));
    await page.goto(`${server.url}/`);
    await page.waitForFunction("window.clientTests !== undefined", null, { timeout: 30_000 });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await Promise.all(origins.map((o) => o.close()));
  });

  it(`spreads ${N} cross-origin requests by least connections and ends with every count at 0`, async () => {
    origins[2]!.slowMs = 60;
    const { report, problems } = (await page.evaluate(`window.clientTests.storm(${JSON.stringify(origins.map((o) => o.url))}, ${N})`)) as {
      report: StormReport;
      problems: string[];
    };
    console.log(`chromium storm: ${JSON.stringify(report)}`);
    expect(problems).toEqual([]);
    expect(report.actives).toEqual([0, 0, 0]);
    // What the origins saw agrees with what the page counted.
    const seen = origins.map((o) => o.seen);
    expect(seen.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(report.totals.reduce((a, b) => a + b, 0));
    expect(seen[2]!).toBeLessThan(Math.min(seen[0]!, seen[1]!) / 2);
    expect(pageErrors).toEqual([]);
  });

  it("runs examples/fetch-browser.html", async () => {
    origins[2]!.slowMs = 0;
    const example = await browser!.newPage();
    try {
      await example.goto(`${server!.url}/examples/fetch-browser.html?origins=${origins.map((o) => o.url).join(",")}`);
      await example.waitForFunction("document.getElementById('out').textContent.includes('in flight')", null, { timeout: 20_000 });
      expect(await example.evaluate("document.getElementById('out').textContent")).toBe(
        "o0/hello o1/hello o2/hello\nin flight after: 0 0 0\n",
      );
    } finally {
      await example.close();
    }
  });
});
