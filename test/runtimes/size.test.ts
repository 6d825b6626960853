// Size budget of what browsers download: the minified entry and the release
// Wasm itself, checked after a build (`npm test` builds first when sources
// changed). The minified files carry the Wasm deflated (scripts/build.mjs);
// the Node builds carry it inline. Both must be the very bytes of
// build/core.wasm once decoded, or a browser would run another core.

import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
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

describe("one Wasm in every build", () => {
  const wasm = readFileSync(join(ROOT, "build/core.wasm"));
  const decode = async (file: string): Promise<Buffer> => {
    const bytes = ((await import(pathToFileURL(join(ROOT, file)).href)) as { default: Uint8Array }).default;
    return Buffer.from(bytes);
  };

  it("the inline module (Node builds) and the deflated one (minified files) decode to build/core.wasm", async () => {
    expect(wasm.length).toBeGreaterThan(1000);
    expect((await decode("build/core-wasm.js")).equals(wasm)).toBe(true);
    expect((await decode("build/core-wasm-deflated.js")).equals(wasm)).toBe(true);
  });

  it("the minified files carry the deflated module", () => {
    const deflated = readFileSync(join(ROOT, "build/core-wasm-deflated.js"), "utf8");
    const packed = /const text = "([^"]+)";/.exec(deflated)?.[1];
    expect(packed?.length).toBeGreaterThan(3000);
    for (const file of ["dist/index.min.js", "dist/fetch.min.js"]) {
      const text = readFileSync(join(ROOT, file), "utf8");
      expect(text.includes(packed!.slice(0, 200)), file).toBe(true);
      expect(text).toContain('DecompressionStream("deflate-raw")');
    }
  });
});
