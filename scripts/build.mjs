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

// Each Wasm as a string module, so one ESM file carries it everywhere and
// every runtime compiles it synchronously. One char per byte: char 0 is an
// offset k, char i+1 is (byte i + k) mod 256, with the k whose UTF-8 literal
// is shortest (few bytes land on escapes or two-byte chars); 6,035 bytes of
// Wasm take ~6.7 KB this way against 8 KB as base64. Decoded by decodeWasm().
function inline(wasmFile, moduleName) {
  const bytes = readFileSync(join(root, "build", wasmFile));
  let best;
  for (let k = 0; k < 256; k++) {
    let text = String.fromCharCode(k);
    for (const b of bytes) text += String.fromCharCode((b + k) & 255);
    const literal = JSON.stringify(text);
    if (best === undefined || Buffer.byteLength(literal) < Buffer.byteLength(best)) best = literal;
  }
  writeFileSync(join(root, "build", `${moduleName}.js`), `export default ${best};\n`);
  writeFileSync(join(root, "build", `${moduleName}.d.ts`), "declare const wasmText: string;\nexport default wasmText;\n");
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
// Internal-only member names are shortened in this one self-contained file:
// none is read by users, by the Wasm (its exports keep their names) or by
// another bundle (this file shares no objects with them; the @internal
// TableSource.core is only passed by shared.ts, which is not in this file).
const INTERNAL = [
  ...["addSlot", "algorithmOf", "algorithmValue", "anyUp", "armWake", "byName", "checkMembershipOpen", "choiceLease"],
  ...["disarmWake", "emit", "endEjections", "finishRemoval", "leaveEjection", "nextDue", "nextEjectionEnd", "nextRampAt"],
  ...["onWake", "queueConfig", "rampStepMs", "ramping", "refreshRamps", "rotate", "serving", "slots"],
  ...["snapshotOf", "startRamp", "stopRamp", "timed", "waiting", "wakeTimer", "_releaseSlot", "_enqueue"],
  ...["gone", "removing", "waiters", "ejections", "rampStart", "owner", "slot"],
  ...["sampledNames", "sampledCounts", "firstActive", "secondActive", "index", "core", "drain", "advance"],
  ...["prev", "next", "head", "tail", "u16", "u32", "f64", "activeAt", "weightAt", "stateAt", "totalAt", "lastAt"],
  ...["limitAt", "rampAt", "costAt"],
  ...["epoch", "runs", "_release", "_slotOf", "off", "first", "second", "failing", "ended", "fails"],
];
// The Wasm's exports are read by name: none may be mangled.
for (const e of WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(join(root, "build", "core.wasm"))))) {
  if (INTERNAL.includes(e.name)) throw new Error(`build.mjs: INTERNAL lists the Wasm export ${e.name}`);
}
await esbuild.build({
  ...common,
  entryPoints: ["bindings/index.ts"],
  outfile: "dist/index.min.js",
  platform: "neutral",
  minify: true,
  charset: "utf8",
  mangleProps: new RegExp(`^(${INTERNAL.join("|")})$`),
});
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
await esbuild.build({
  ...common,
  entryPoints: ["bindings/fetch.ts"],
  outfile: "dist/fetch.min.js",
  platform: "neutral",
  minify: true,
  charset: "utf8",
});
// --- end of the balanced clients' block
// Type declarations for the package's entries.
execFileSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"], {
  cwd: root,
  stdio: "inherit",
});
console.log(`built: core.wasm ${size} bytes`);
