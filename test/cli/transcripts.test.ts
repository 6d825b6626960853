// Golden transcripts: every test/transcripts/*/NAME.in.jsonl is a node's
// whole input, NAME.out.jsonl its whole stdout, byte for byte, and
// NAME.err.txt (when present) its stderr. They run through runSession()
// (the runtime-neutral function, manual clock) and through the built binary
// (`node dist/cli.js --clock manual`), which must agree with each other.
//
// Golden files change only on purpose: UPDATE_TRANSCRIPTS=1 rewrites the
// .out.jsonl (and existing .err.txt) files from runSession(); check each
// diff by hand before committing it.

import { execFileSync, spawnSync } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Session, runSession } from "../../cli/session.js";

const root = join(import.meta.dirname, "..", "..");
const dir = join(root, "test", "transcripts");
const cli = join(root, "dist", "cli.js");
const update = process.env.UPDATE_TRANSCRIPTS === "1";

const cases = readdirSync(dir, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) =>
    readdirSync(join(dir, d.name))
      .filter((f) => f.endsWith(".in.jsonl"))
      .sort()
      .map((f) => ({ name: `${d.name}/${f.slice(0, -9)}`, base: join(dir, d.name, f.slice(0, -9)) })),
  );

function diagnostics(input: Uint8Array): { out: string; err: string } {
  let err = "";
  const out = runSession(input, { onDiagnostic: (t) => (err += `leastconn: ${t}\n`) });
  return { out, err };
}

describe("golden transcripts", () => {
  it("exist: the seed's three cases and the project's own", () => {
    const names = cases.map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(["seed/route-to-fewest", "seed/tie-break", "seed/tracked-state"]));
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
      expect(out).toBe(readFileSync(outPath, "utf8"));
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

  it("on the seed's cases with the default real clock", () => {
    for (const c of cases.filter((x) => x.name.startsWith("seed/"))) {
      const out = execFileSync(process.execPath, [cli], { input: readFileSync(`${c.base}.in.jsonl`) });
      expect(out.toString(), c.name).toBe(readFileSync(`${c.base}.out.jsonl`, "utf8"));
    }
  });
});
