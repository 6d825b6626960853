// The shared modules must run unchanged in Deno and a browser: no Node
// module, no `process`, no `Buffer`. Only cli/main.ts may use them.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");

describe("runtime-neutral modules", () => {
  for (const file of ["framer", "json", "handler", "requests", "format", "session"]) {
    it(`cli/${file}.ts uses no Node API`, () => {
      // Comments may name them; code may not.
      const code = readFileSync(join(root, "cli", `${file}.ts`), "utf8")
        .replace(/\/\*[\s\S]*?\*\//g, "")
        .replace(/\/\/.*$/gm, "");
      expect(code).not.toMatch(/from\s+["']node:/);
      expect(code).not.toMatch(/\bprocess\b/);
      expect(code).not.toMatch(/\bBuffer\b/);
      expect(code).not.toMatch(/\brequire\(/);
    });
  }
});
