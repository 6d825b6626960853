// The kill run (kill.ts) in headless Chromium: Web Workers on a
// cross-origin-isolated page, terminated at random moments and reclaimed.

import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundle, CHROMIUM, launchChromium, skipRuntime, startServer, type TestServer } from "./harness.js";
import { KILLS, type KillOutcome } from "./kill.js";

const PAGE = `<!doctype html><meta charset="utf-8"><title>leastconn kill tests</title><link rel="icon" href="data:,">
<script type="module">
  import * as tests from "/test/runtimes/browser.js";
  window.leastconnTests = tests;
</script>`;

describe.skipIf(skipRuntime("Chromium", CHROMIUM))("a dying Chromium Web Worker", () => {
  let server: TestServer | undefined;
  let browser: Browser | undefined;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    server = await startServer({
      "/": PAGE,
      "/test/runtimes/browser.js": await bundle("test/runtimes/browser.ts"),
      "/test/runtimes/web-kill-worker.js": await bundle("test/runtimes/web-kill-worker.ts"),
    });
    browser = await launchChromium();
    page = await browser.newPage();
    page.on("pageerror", (err) => pageErrors.push(err.stack ?? err.message));
    await page.goto(`${server.url}/`);
    await page.waitForFunction("window.leastconnTests !== undefined", null, { timeout: 30_000 });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it(`${KILLS} kills at random moments: no wedged lock, no leaked count`, { timeout: 60_000 }, async () => {
    const outcome = (await page.evaluate("window.leastconnTests.kills()")) as KillOutcome;
    console.log(`chromium kills: ${outcome.ms} ms, leases reclaimed ${outcome.reclaimed.reduce((a, b) => a + b, 0)}`);
    expect(outcome.problems).toEqual([]);
    expect(outcome.kills).toBe(KILLS);
    expect(outcome.lockKills).toBe(3);
    expect(outcome.mainTimeouts).toEqual(["LC_ERR_LOCK_TIMEOUT"]);
    expect(outcome.finalActive).toEqual([0, 0, 0, 0]);
    expect(outcome.reclaimed.filter((n) => n > 0).length).toBeGreaterThan(KILLS / 2);
    expect(pageErrors).toEqual([]);
  });
});
