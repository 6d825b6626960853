// Builds everything: the Wasm core (release and debug), the inlined-Wasm
// module the bindings import, and the esbuild bundles in dist/.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const asc = join(root, "node_modules", "assemblyscript", "bin", "asc.js");

function compile(target) {
  execFileSync(process.execPath, [asc, "--config", "asconfig.json", "--target", target], { cwd: root, stdio: "inherit" });
}

mkdirSync(join(root, "build"), { recursive: true });
compile("release");
compile("debug");

// The release Wasm as a base64 string module, so one ESM file carries it everywhere.
const wasm = readFileSync(join(root, "build", "core.wasm"));
writeFileSync(join(root, "build", "core-wasm.js"), `export default ${JSON.stringify(wasm.toString("base64"))};\n`);
writeFileSync(join(root, "build", "core-wasm.d.ts"), "declare const wasmBase64: string;\nexport default wasmBase64;\n");

const common = { bundle: true, format: "esm", target: "es2022", logLevel: "warning", absWorkingDir: root };
await esbuild.build({ ...common, entryPoints: ["bindings/index.ts"], outfile: "dist/index.js", platform: "neutral" });
await esbuild.build({ ...common, entryPoints: ["bindings/index.ts"], outfile: "dist/index.min.js", platform: "neutral", minify: true });
await esbuild.build({
  ...common,
  entryPoints: ["cli/main.ts"],
  outfile: "dist/cli.js",
  platform: "node",
  banner: { js: "#!/usr/bin/env node" },
});
console.log(`built: core.wasm ${wasm.length} bytes`);
