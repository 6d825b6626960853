// Bundle budget of leastconn/fetch for browsers: dist/fetch.min.js (the
// whole Balancer, the inlined Wasm core, the health checks and the fetch
// wrapper, minified) stays within 20 KiB. Checked after a build.

import { statSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { ROOT } from "../runtimes/harness.js";

const BUDGET = 20 * 1024;

it(`dist/fetch.min.js is at most ${BUDGET} bytes`, () => {
  const size = statSync(join(ROOT, "dist/fetch.min.js")).size;
  console.log(`dist/fetch.min.js: ${size} bytes of ${BUDGET}`);
  expect(size).toBeGreaterThan(10_000);
  expect(size).toBeLessThanOrEqual(BUDGET);
});
