// The built binary (`node dist/cli.js`) agrees with runSession() on every
// golden transcript, read from a pipe and from a file. One process per
// transcript and input path, so this suite is in the slow project;
// transcripts.test.ts checks the golden bytes themselves.

import { execFileSync, spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cases, diagnostics, ROOT } from "./transcript-cases.js";

const cli = join(ROOT, "dist", "cli.js");

describe("the binary agrees with runSession", () => {
  it("on every transcript, with --clock manual (stdout and stderr)", () => {
    for (const c of cases) {
      const input = readFileSync(`${c.base}.in.jsonl`);
      const r = spawnSync(process.execPath, [cli, "--clock", "manual"], { input });
      const { out, err } = diagnostics(input);
      expect(r.status, c.name).toBe(0);
      expect(r.stdout.toString("latin1"), c.name).toBe(out);
      expect(r.stderr.toString(), c.name).toBe(err);
    }
  });

  it("on every transcript read from a file (the regular-file input path)", () => {
    for (const c of cases) {
      const fd = openSync(`${c.base}.in.jsonl`, "r");
      try {
        const r = spawnSync(process.execPath, [cli, "--clock", "manual"], { stdio: [fd, "pipe", "pipe"] });
        expect(r.status, c.name).toBe(0);
        expect(r.stdout.toString("latin1"), c.name).toBe(readFileSync(`${c.base}.out.jsonl`, "latin1"));
      } finally {
        closeSync(fd);
      }
    }
  });

  it("on the reference cases with the default real clock", () => {
    const reference = cases.filter((x) => x.name.startsWith("reference/"));
    expect(reference).toHaveLength(3);
    for (const c of reference) {
      const out = execFileSync(process.execPath, [cli], { input: readFileSync(`${c.base}.in.jsonl`) });
      expect(out.toString(), c.name).toBe(readFileSync(`${c.base}.out.jsonl`, "utf8"));
    }
  });
});
