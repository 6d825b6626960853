// The simulator as the largest cross-runtime conformance test: one seeded
// simulation (200,000 requests for each of the core's algorithms, with a slow
// backend, a failure window, two balancers, connection limits, the Balancer's
// queue, ejection and slow start) must print the
// same table, digest included, from the CLI in Node (dist/cli.js simulate),
// from the TypeScript sources, in Deno (dist/sim.js) and in headless Chromium,
// where the test drives the real page (examples/simulator): it sets the
// controls, runs the model in the page's Web Worker, reads the table from the
// DOM, checks the permalink, and checks from a screenshot that the charts drew.

import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ALGORITHMS } from "../../bindings/algorithms.js";
import {
  configFromFlags,
  type FlagValues,
  flagsFromQuery,
  flagsToArgs,
  flagsToQuery,
  formatTable,
  normalize,
  simulate,
} from "../../bindings/sim/index.js";
import { CHROMIUM, DENO, launchChromium, ROOT, runDeno, skipRuntime, startServer, type TestServer } from "../runtimes/harness.js";

const FLAGS: FlagValues = {
  backends: "8",
  service: "lognormal:20ms:1.0",
  slow: ["1:5x"],
  fail: ["2:1000-60000"],
  utilization: "0.85",
  balancers: "2",
  "max-connections": "8",
  queue: "256:500ms",
  ejection: "3:5000ms:20000ms:50%",
  "slow-start": "5000ms:20%",
  algorithms: ALGORITHMS.join(","),
  requests: "200000",
  seed: "11",
};
const ARGS = flagsToArgs(FLAGS);

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, "dist", "cli.js"), "simulate", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

// Every runtime compares with the CLI's table; started once, shared.
let cli: ReturnType<typeof runCli> | undefined;
const cliTable = async (): Promise<string> => {
  const run = await (cli ??= runCli(ARGS));
  expect(run.code, run.stderr).toBe(0);
  return run.stdout;
};

describe("simulator conformance", () => {
  it("the CLI prints the table of the sources' model, sorted by p99, with every algorithm", async () => {
    const table = await cliTable();
    const model = normalize(configFromFlags(FLAGS));
    expect(formatTable(model, simulate(model))).toBe(table);
    const rows = table.split("\n").filter((l) => ALGORITHMS.some((a) => l.startsWith(`${a} `)));
    expect(rows.length).toBe(3 * ALGORITHMS.length); // the main table, shares and utilisation
    const p99 = rows.slice(0, ALGORITHMS.length).map((r) => Number(r.split(/\s+/)[3]));
    expect(p99).toEqual([...p99].sort((a, b) => a - b));
    expect(table).toMatch(/\ndigest [0-9a-f]{8}\n$/);
    console.log(table);
  });

  it("--json gives the same rows and digest as the table", async () => {
    const table = await cliTable();
    const run = await runCli([...ARGS, "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const doc = JSON.parse(run.stdout) as {
      results: Array<{ algorithm: string; p99_ms: number; p999_ms: number; mean_ms: number }>;
      digest: string;
    };
    expect(doc.results.map((r) => r.algorithm)).toEqual(
      table
        .split("\n")
        .slice(3, 3 + ALGORITHMS.length)
        .map((l) => l.split(" ")[0]),
    );
    expect(table).toContain(`digest ${doc.digest}\n`);
    for (const r of doc.results) expect(Object.keys(r).slice(0, 5)).toEqual(["algorithm", "requests", "completed", "mean_ms", "p50_ms"]);
  });

  it("the CLI rejects bad flags with exit code 2 and the field named", async () => {
    const run = await runCli(["--service", "exp:1", "--requests", "10"]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe(
      "leastconn simulate: service: expected a duration such as 20ms, 500us or 1.5s, got \"1\"\nTry 'leastconn simulate --help'.\n",
    );
  });

  it.skipIf(skipRuntime("Deno", DENO))("Deno prints the same table from dist/sim.js", async () => {
    const run = await runDeno(
      ["run", "--no-check", "--config", "deno.json", "--cached-only", "--allow-read", "test/sim/sim.deno.ts", flagsToQuery(FLAGS)],
      60_000,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(`${await cliTable()}\n`);
  });
});

describe.skipIf(skipRuntime("Chromium", CHROMIUM))("simulator page in Chromium", () => {
  let server: TestServer | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    server = await startServer({});
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it("runs the settings in the page's Worker and shows the CLI's table, a permalink and drawn charts", async () => {
    const page = await browser!.newPage({ viewport: { width: 1200, height: 1400 } });
    const errors: string[] = [];
    page.on("pageerror", (err) => errors.push(err.stack ?? err.message));
    page.on("console", (msg) => {
      if (msg.type() === "error") errors.push(msg.text());
    });
    try {
      await page.goto(`${server!.url}/examples/simulator/index.html`);
      await page.waitForSelector('input[name="algorithm"]');
      for (const [flag, value] of Object.entries(FLAGS)) {
        if (flag === "algorithms") continue;
        await page.fill(`[name="${flag}"]`, Array.isArray(value) ? value.join(",") : value!);
      }
      for (const name of ALGORITHMS) await page.check(`input[name="algorithm"][value="${name}"]`);
      const blank = await page.locator("#charts").screenshot();
      await page.click("#run");
      await page.waitForSelector('body[data-state="done"]', { timeout: 60_000 });

      expect(await page.textContent("#table")).toBe(await cliTable());
      expect(await page.locator("#queues > div").count()).toBe(8);
      // The permalink (the page's URL and its link) holds the same settings.
      const permalink = new URL(page.url());
      expect(normalize(configFromFlags(flagsFromQuery(permalink.search)))).toEqual(normalize(configFromFlags(FLAGS)));
      expect(await page.getAttribute("#permalink", "href")).toBe(`${permalink.pathname}${permalink.search}`);

      const drawn = await page.locator("#charts").screenshot();
      const file = join(tmpdir(), "leastconn-simulator.png");
      writeFileSync(file, drawn);
      console.log(`screenshot: ${file}`);
      // Decode both screenshots in the page and count coloured pixels (the
      // series are coloured; text, axes and background are grey or white).
      const coloured = (png: Buffer): Promise<number> =>
        page.evaluate(async (b64) => {
          const img = new Image();
          img.src = `data:image/png;base64,${b64}`;
          await img.decode();
          const canvas = new OffscreenCanvas(img.width, img.height);
          const ctx = canvas.getContext("2d")!;
          ctx.drawImage(img, 0, 0);
          const data = ctx.getImageData(0, 0, img.width, img.height).data;
          let n = 0;
          for (let i = 0; i < data.length; i += 4) {
            const hi = Math.max(data[i]!, data[i + 1]!, data[i + 2]!);
            const lo = Math.min(data[i]!, data[i + 1]!, data[i + 2]!);
            if (hi - lo > 60) n++;
          }
          return n;
        }, png.toString("base64"));
      expect(await coloured(blank)).toBe(0);
      expect(await coloured(drawn)).toBeGreaterThan(2000);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
