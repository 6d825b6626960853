// scripts/ensure-built.mjs rebuilds when any output is missing or older than
// the newest source. These tests build a fake tree in a temporary directory,
// set file times by hand, and ask staleOutputs() which outputs it would rebuild.

import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { OUTPUTS, SOURCES, staleOutputs } from "../../scripts/ensure-built.mjs";

const T0 = 1_700_000_000; // seconds: every source is written at T0 ...
const T1 = T0 + 60; //       ... and every output a minute later

let root = "";

function touch(rel: string, seconds: number): void {
  const path = join(root, rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, "x");
  utimesSync(path, seconds, seconds);
}

/** A file inside a directory entry, or the entry itself when it is a file. */
function fileOf(entry: string): string {
  if (entry === "dist/types") return "dist/types/bindings/index.d.ts";
  return ["assembly", "bindings", "cli"].includes(entry) ? `${entry}/index.ts` : entry;
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "leastconn-ensure-built-"));
  for (const s of SOURCES) touch(fileOf(s), T0);
  for (const o of OUTPUTS) touch(fileOf(o), T1);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe("staleOutputs", () => {
  it("lists the threads Wasm, dist/shared.js, dist/index.min.js and the types among the outputs", () => {
    expect(OUTPUTS).toEqual(
      expect.arrayContaining([
        "build/core.threads.wasm",
        "build/core-threads-wasm.js",
        "dist/shared.js",
        "dist/index.min.js",
        "dist/types",
      ]),
    );
  });

  it("is empty when every output is newer than every source", () => {
    expect(staleOutputs(root)).toEqual([]);
  });

  it.each(OUTPUTS.map((o) => [o]))("names %s when it is missing", (out) => {
    rmSync(join(root, out), { recursive: true });
    expect(staleOutputs(root)).toEqual([out]);
  });

  it.each(OUTPUTS.map((o) => [o]))("names %s when it is older than a source", (out) => {
    utimesSync(join(root, fileOf(out)), T0 - 1, T0 - 1);
    expect(staleOutputs(root)).toEqual([out]);
  });

  it("names dist/types when it holds no file", () => {
    rmSync(join(root, "dist/types"), { recursive: true });
    mkdirSync(join(root, "dist/types/bindings"), { recursive: true });
    expect(staleOutputs(root)).toEqual(["dist/types"]);
  });

  it("names every output when a file deep in a source folder changes", () => {
    touch("bindings/deep/er/new.ts", T1 + 1);
    expect(staleOutputs(root)).toEqual(OUTPUTS);
  });

  it.each(SOURCES.map((s) => [s]))("names every output when %s is newer than the build", (src) => {
    utimesSync(join(root, fileOf(src)), T1 + 1, T1 + 1);
    expect(staleOutputs(root)).toEqual(OUTPUTS);
  });

  it("names only the output that one directory's oldest file makes stale", () => {
    touch("dist/types/bindings/shared.d.ts", T0 - 5);
    expect(staleOutputs(root)).toEqual(["dist/types"]);
  });
});
