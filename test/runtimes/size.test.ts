// Size budget of what browsers download: the minified entry (the Wasm
// inlined as base64) and the release Wasm itself. Checked after a build
// (`npm test` builds first when sources changed).

import { statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./harness.js";

const BUDGETS: Array<[file: string, bytes: number]> = [
  ["dist/index.min.js", 20 * 1024],
  ["build/core.wasm", 6144],
];

describe("size budget", () => {
  it.each(BUDGETS)("%s is at most %i bytes", (file, budget) => {
    const size = statSync(join(ROOT, file)).size;
    console.log(`${file}: ${size} bytes of ${budget}`);
    expect(size).toBeGreaterThan(0);
    expect(size).toBeLessThanOrEqual(budget);
  });
});
