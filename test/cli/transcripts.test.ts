// Golden transcripts: every test/transcripts/*/NAME.in.jsonl is a node's
// whole input, NAME.out.jsonl its whole stdout, byte for byte, and
// NAME.err.txt (when present) its stderr. Here they run through runSession()
// (the runtime-neutral function, manual clock); transcripts-binary.test.ts
// runs them through the built binary, and test/runtimes/ through Deno and
// Chromium.
//
// Golden files change only on purpose: UPDATE_GOLDENS=1 rewrites the
// .out.jsonl (and existing .err.txt) files from runSession(); check each
// diff by hand before committing it.

import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { runSession, Session } from "../../cli/session.js";
import { cases, diagnostics } from "./transcript-cases.js";

const update = process.env.UPDATE_GOLDENS === "1";

describe("golden transcripts", () => {
  it("exist: the three reference cases and the protocol's own", () => {
    const names = cases.map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(["reference/route-to-fewest", "reference/tie-break", "reference/tracked-state"]));
    expect(names.filter((n) => n.startsWith("protocol/")).length).toBeGreaterThanOrEqual(10);
  });

  for (const c of cases) {
    it(`${c.name}: runSession output is the golden output`, () => {
      const input = readFileSync(`${c.base}.in.jsonl`);
      const { out, err } = diagnostics(input);
      const outPath = `${c.base}.out.jsonl`;
      const errPath = `${c.base}.err.txt`;
      if (update) {
        writeFileSync(outPath, out);
        if (existsSync(errPath)) writeFileSync(errPath, err);
      }
      expect(out, "regenerate with UPDATE_GOLDENS=1 only if the change is intended").toBe(readFileSync(outPath, "utf8"));
      if (existsSync(errPath)) expect(err).toBe(readFileSync(errPath, "utf8"));
    });
  }

  it("the same output whatever the input's chunking", () => {
    for (const c of cases) {
      const input = readFileSync(`${c.base}.in.jsonl`);
      const whole = runSession(input);
      for (const size of [1, 2, 3, 7, 64]) {
        const s = new Session({ clock: "manual" });
        let out = "";
        const dec = new TextDecoder("latin1");
        for (let i = 0; i < input.length; i += size) out += dec.decode(s.push(input.subarray(i, i + size)));
        out += dec.decode(s.end());
        expect(out, `${c.name} in chunks of ${size}`).toBe(whole);
      }
    }
  });
});
