// `npm run sim:page` (scripts/sim-page.mjs): serves the page and the built
// files it loads on 127.0.0.1, prints the URL, and nothing outside dist/ and
// examples/.

import { spawn } from "node:child_process";
import { join } from "node:path";
import { expect, it } from "vitest";
import { ROOT } from "../runtimes/harness.js";

it("serves the simulator page on 127.0.0.1 and prints its URL", async () => {
  const child = spawn(process.execPath, [join(ROOT, "scripts", "sim-page.mjs"), "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`no URL printed: ${out}`)), 10_000);
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        out += d;
        const m = /^simulator page: (http:\/\/127\.0\.0\.1:\d+\/examples\/simulator\/index\.html)$/m.exec(out);
        if (m !== null) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    });
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script type="module" src="../../dist/sim-page.js"></script>');
    const origin = new URL(url).origin;
    for (const file of ["/dist/sim-page.js", "/dist/sim-worker.js"]) {
      const res = await fetch(origin + file);
      expect([res.status, res.headers.get("content-type")]).toEqual([200, "text/javascript; charset=utf-8"]);
    }
    expect((await fetch(`${origin}/package.json`)).status).toBe(404);
    expect((await fetch(`${origin}/dist/../package.json`)).status).toBe(404);
  } finally {
    child.kill();
  }
});
