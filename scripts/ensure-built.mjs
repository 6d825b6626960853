// Rebuilds when any build output is missing or older than the newest source,
// so `npm test`, `npm start` and the benchmarks never run stale output.
// `staleOutputs()` is exported for the test that checks this rule.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Everything scripts/build.mjs writes that something runs or ships. A directory counts by its oldest file. */
export const OUTPUTS = [
  "build/core.wasm",
  "build/core.debug.wasm",
  "build/core.threads.wasm",
  "build/core-wasm.js",
  "build/core-threads-wasm.js",
  "build/core-wasm-deflated.js",
  "dist/index.js",
  "dist/shared.js",
  "dist/index.min.js",
  "dist/cli.js",
  "dist/proxy.js",
  "dist/proxy-cli.js",
  "dist/types",
  // the simulator
  "dist/simulate.js",
  "dist/sim.js",
  "dist/sim-worker.js",
  "dist/sim-page.js",
  // the balanced clients
  "dist/undici.js",
  "dist/fetch.js",
  "dist/fetch.min.js",
];

/** What the outputs are made from. A directory counts by its newest file. */
export const SOURCES = [
  "assembly",
  "bindings",
  "cli",
  "asconfig.json",
  "scripts/build.mjs",
  "tsconfig.json",
  "tsconfig.build.json",
  "package.json",
  "examples/simulator/page.ts",
];

/**
 * Modification times of the files under `path` (or of `path` itself).
 * @param {string} path
 * @returns {number[]}
 */
function mtimes(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return [st.mtimeMs];
  return readdirSync(path).flatMap((f) => mtimes(join(path, f)));
}

/**
 * The outputs (as listed in OUTPUTS) that are missing or older than the newest source under `root`.
 * @param {string} [root]
 * @returns {string[]}
 */
export function staleOutputs(root = ROOT) {
  const changed = Math.max(
    0,
    ...SOURCES.map((s) => join(root, s))
      .filter(existsSync)
      .flatMap(mtimes),
  );
  return OUTPUTS.filter((out) => {
    const path = join(root, out);
    if (!existsSync(path)) return true;
    const times = mtimes(path);
    return times.length === 0 || Math.min(...times) < changed;
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const stale = staleOutputs();
  if (stale.length > 0) {
    console.log(`ensure-built: rebuilding (${stale.join(", ")} missing or older than the sources)`);
    execFileSync(process.execPath, [join(ROOT, "scripts", "build.mjs")], { stdio: "inherit" });
  }
}
