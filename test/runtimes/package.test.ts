// The package as a user gets it: `npm pack` (scripts off: the build is
// already current), installed into an empty project (from the npm cache
// where it can, the registry for what the cache lacks), imported by
// its name from plain Node, and type-checked there by tsc against the
// shipped declarations.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "./harness.js";

const NPM = process.platform === "win32" ? "npm.cmd" : "npm";
const QUIET = ["--no-audit", "--no-fund", "--loglevel=error"];

const PROBE_JS = `
import { Balancer } from "leastconn";
import { attachShared, createShared } from "leastconn/shared";

const b = new Balancer({ backends: [{ name: "a", connections: 2 }, "b", { name: "c", connections: 1 }] });
const picks = [b.acquire().backend, b.acquire().backend, b.acquire().backend];
const { balancer, handle } = createShared({ backends: ["x", "y"] });
const other = attachShared(structuredClone(handle));
const shared = [other.acquire().backend, balancer.acquire().backend];
console.log(JSON.stringify({
  picks,
  active: b.snapshot().map((s) => [s.name, s.active]),
  shared,
  sharedActive: balancer.snapshot().map((s) => [s.name, s.active]),
  resolved: [import.meta.resolve("leastconn"), import.meta.resolve("leastconn/shared")].map((u) => u.slice(u.indexOf("node_modules"))),
}));
`;

const PROBE_TS = `
import { Balancer, type BackendSnapshot } from "leastconn";
import { createShared, type SharedHandle } from "leastconn/shared";

const b = new Balancer({ backends: ["a", "b"], algorithm: "p2c" });
const lease = b.acquire();
const name: string | undefined = lease?.backend;
const snap: BackendSnapshot[] = b.snapshot();
const handle: SharedHandle = createShared({ backends: ["x"] }).handle;
// @ts-expect-error: the declarations are real, so a wrong call is an error
b.acquire(42);
export { name, snap, handle };
`;

describe("npm package", () => {
  let dir = "";
  let app = "";
  let packedFiles: string[] = [];

  // Both tests use the installed project, so packing and installing is
  // set-up, not the first test's side effect.
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "leastconn-pack-"));
    app = join(dir, "app");
    const packed = JSON.parse(
      execFileSync(NPM, ["pack", "--json", "--ignore-scripts", "--pack-destination", dir, ...QUIET], { cwd: ROOT, encoding: "utf8" }),
    ) as Array<{ filename: string; files: Array<{ path: string }> }>;
    packedFiles = packed[0]!.files.map((f) => f.path);
    mkdirSync(app);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "leastconn-probe", private: true, type: "module" }));
    execFileSync(NPM, ["install", "--prefer-offline", "--ignore-scripts", ...QUIET, join(dir, packed[0]!.filename)], {
      cwd: app,
      stdio: "pipe",
    });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("packs, installs into an empty project, imports and acquires", () => {
    for (const f of [
      "dist/index.js",
      "dist/index.min.js",
      "dist/shared.js",
      "dist/types/bindings/index.d.ts",
      "dist/types/bindings/shared.d.ts",
      "package.json",
    ]) {
      expect(packedFiles).toContain(f);
    }
    writeFileSync(join(app, "probe.mjs"), PROBE_JS);
    const out = execFileSync(process.execPath, ["probe.mjs"], { cwd: app, encoding: "utf8" });
    expect(JSON.parse(out)).toEqual({
      picks: ["b", "b", "c"],
      active: [
        ["a", 2],
        ["b", 2],
        ["c", 2],
      ],
      shared: ["x", "y"],
      sharedActive: [
        ["x", 1],
        ["y", 1],
      ],
      resolved: ["node_modules/leastconn/dist/index.js", "node_modules/leastconn/dist/shared.js"],
    });
  });

  it("ships declarations that resolve and type-check in the installed project", () => {
    const manifest = JSON.parse(readFileSync(join(app, "node_modules", "leastconn", "package.json"), "utf8"));
    for (const entry of [".", "./shared"]) {
      expect(existsSync(join(app, "node_modules", "leastconn", manifest.exports[entry].types)), entry).toBe(true);
    }
    writeFileSync(join(app, "probe.ts"), PROBE_TS);
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          lib: ["ES2022", "DOM"],
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: [],
        },
        files: ["probe.ts"],
      }),
    );
    const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
    let output = "";
    try {
      execFileSync(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: app, encoding: "utf8" });
    } catch (err) {
      output = String((err as { stdout?: string }).stdout ?? err);
    }
    expect(output).toBe("");
  });
});
