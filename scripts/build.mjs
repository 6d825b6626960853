// Builds everything: the Wasm core (release and debug), the inlined-Wasm
// module the bindings import, and the esbuild bundles in dist/.

import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const asc = join(root, "node_modules", "assemblyscript", "bin", "asc.js");

function compile(target) {
  // The threads target has a second entry: its thread-table exports (assembly/threads.ts).
  const extra = target === "threads" ? ["assembly/threads.ts"] : [];
  execFileSync(process.execPath, [asc, ...extra, "--config", "asconfig.json", "--target", target], { cwd: root, stdio: "inherit" });
}

mkdirSync(join(root, "build"), { recursive: true });
rmSync(join(root, "dist"), { recursive: true, force: true });
compile("release");
compile("debug");
compile("threads");

// Each Wasm as a base64 string module, so one ESM file carries it everywhere.
function inline(wasmFile, moduleName) {
  const bytes = readFileSync(join(root, "build", wasmFile));
  writeFileSync(join(root, "build", `${moduleName}.js`), `export default ${JSON.stringify(bytes.toString("base64"))};\n`);
  writeFileSync(join(root, "build", `${moduleName}.d.ts`), "declare const wasmBase64: string;\nexport default wasmBase64;\n");
  return bytes.length;
}
const size = inline("core.wasm", "core-wasm");
inline("core.threads.wasm", "core-threads-wasm");

const common = { bundle: true, format: "esm", target: "es2022", logLevel: "warning", absWorkingDir: root };
// The package's entries share chunks, so a shared table's, a client's or the
// simulator's Balancer, leases and errors are the very classes `leastconn`
// exports (instanceof holds across them). undici stays an import of
// leastconn/undici, the one Node-only entry here.
await esbuild.build({
  ...common,
  entryPoints: {
    index: "bindings/index.ts",
    shared: "bindings/shared.ts",
    sim: "bindings/sim/index.ts",
    fetch: "bindings/fetch.ts",
    undici: "bindings/undici.ts",
  },
  outdir: "dist",
  splitting: true,
  chunkNames: "chunk-[hash]",
  platform: "neutral",
  external: ["undici"],
});
// The browser entry in one file, within its size budget.
await esbuild.build({ ...common, entryPoints: ["bindings/index.ts"], outfile: "dist/index.min.js", platform: "neutral", minify: true });
await esbuild.build({
  ...common,
  entryPoints: ["cli/main.ts"],
  outfile: "dist/cli.js",
  platform: "node",
  banner: { js: "#!/usr/bin/env node" },
});
// --- proxy: `leastconn/proxy` (createProxy) and the `leastconn proxy`
// subcommand, Node only. Both import the bindings as dist/index.js, so a
// proxy's Balancer is the very class `leastconn` exports. cli/main.ts loads
// proxy-cli.js lazily; the protocol node never does.
const proxyExternal = {
  name: "proxy-external",
  setup(build) {
    build.onResolve({ filter: /bindings\/index\.js$/ }, () => ({ path: "./index.js", external: true }));
    build.onResolve({ filter: /bindings\/shared\.js$/ }, () => ({ path: "./shared.js", external: true }));
  },
};
await esbuild.build({
  ...common,
  entryPoints: { proxy: "cli/proxy/proxy.ts", "proxy-cli": "cli/proxy/main.ts" },
  outdir: "dist",
  platform: "node",
  packages: "external",
  plugins: [proxyExternal],
});
// --- end proxy
// --- Simulator: `leastconn simulate` as its own file, loaded by
// cli/main.ts only for that subcommand; the runtime-neutral model for Deno and
// browsers; the page's Web Worker and script, uPlot and its CSS bundled in.
await esbuild.build({ ...common, entryPoints: ["cli/simulate.ts"], outfile: "dist/simulate.js", platform: "node" });
await esbuild.build({
  ...common,
  entryPoints: { "sim-worker": "bindings/sim/worker.ts", "sim-page": "examples/simulator/page.ts" },
  outdir: "dist",
  platform: "browser",
  loader: { ".css": "text" },
  minify: true,
});
// --- end of the simulator block
// --- Balanced clients: leastconn/fetch minified in one file for browsers
// (leastconn/undici and leastconn/fetch themselves are in the shared-chunk
// build above).
await esbuild.build({ ...common, entryPoints: ["bindings/fetch.ts"], outfile: "dist/fetch.min.js", platform: "neutral", minify: true });
// --- end of the balanced clients' block
// Type declarations for the package's entries.
execFileSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"], {
  cwd: root,
  stdio: "inherit",
});
console.log(`built: core.wasm ${size} bytes`);
